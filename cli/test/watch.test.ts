// `iscsiadm session watch` (issue 6): the I/O-free model, the ink view against a real iscsid + tgtd, and the plain
// fallback spawned as a user would. The daemon's contract quoted below is docs/api.md.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_QUEUE_DEPTH } from '@iscsi-initiator/core';
import { RpcClient } from '@iscsi-initiator/core/rpc';
import { startIscsid, type IscsidInstance } from '../../test/src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';
import type { WatchClient } from '../src/watch/feed.js';
import {
  formatPlainLine,
  HISTORY_MS,
  initialWatchState,
  reduceWatch,
  shortenTarget,
  snapshotOf,
  sparkline,
  type WatchEvent,
  type WatchSessionInfo,
  type WatchState,
  type WatchStats,
} from '../src/watch/model.js';
import { WatchView } from '../src/watch/view.js';

const T0 = Date.parse('2026-11-02T09:20:00.000Z');
const DISK = 'iqn.2004-04.com.example:disk1';

function info(sid: number, state: WatchSessionInfo['state'] = 'logged-in', targetName = DISK): WatchSessionInfo {
  return { sid, targetName, portal: '10.0.0.5:3260', state, reason: 'login' };
}

function stats(sid: number, seconds: number, commands: number, bytesRead: number, bytesWritten = 0): WatchEvent {
  const s: WatchStats = { sid, commands, bytesRead, bytesWritten, at: new Date(T0 + seconds * 1000).toISOString() };
  return { type: 'stats', stats: s };
}

function run(events: readonly WatchEvent[], from: WatchState = initialWatchState): WatchState {
  return events.reduce(reduceWatch, from);
}

describe('watch model: rates from the deltas of cumulative session.stats ("cumulative since login; at is when it was taken")', () => {
  it('gives no rate from one sample, then bytes and commands per second from the next', () => {
    const one = run([{ type: 'loaded', sessions: [info(1)], at: T0 }, stats(1, 0, 100, 1_000_000)]);
    expect(one.rows[0]!.rates).toBeNull();
    const two = run([stats(1, 2, 300, 5_000_000, 2_000_000)], one);
    expect(two.rows[0]!.rates).toEqual({ readBytesPerSec: 2_000_000, writeBytesPerSec: 1_000_000, iops: 100 });
    expect(formatPlainLine(two.rows[0]!)).toBe(`sid 1 ${DISK} 10.0.0.5:3260 logged-in read 2.0 MB/s write 1.0 MB/s 100 IOPS`);
  });

  it('keeps a minute of throughput for the sparkline, dropping older samples', () => {
    let s = run([{ type: 'loaded', sessions: [info(1)], at: T0 }, stats(1, 0, 0, 0)]);
    for (let i = 1; i <= 40; i++) s = reduceWatch(s, stats(1, i * 2, i, i * 1_000_000));
    const history = s.rows[0]!.history;
    expect(history).toHaveLength(30); // a sample every 2 s, strictly newer than a minute before the last
    expect(history.at(-1)!.at - history[0]!.at).toBeLessThan(HISTORY_MS);
    expect(history.every((h) => h.bytesPerSec === 500_000)).toBe(true);
  });

  it('starts again from a sample whose counters went backwards or whose time did not advance, never a negative rate', () => {
    const s = run([{ type: 'loaded', sessions: [info(1)], at: T0 }, stats(1, 0, 50, 5000), stats(1, 2, 10, 100), stats(1, 2, 20, 200)]);
    expect(s.rows[0]!.rates).toBeNull();
    expect(s.rows[0]!.last!.commands).toBe(20);
    expect(run([stats(1, 4, 30, 400)], s).rows[0]!.rates!.iops).toBe(5);
  });

  it('ignores stats for a session it does not show', () => {
    const s = run([{ type: 'loaded', sessions: [info(1)], at: T0 }]);
    expect(run([stats(9, 0, 1, 1)], s)).toBe(s);
  });
});

describe('watch model: the disk through the HBA (issue 12: "session.stats, and so session watch, now count the real I/O through the HBA")', () => {
  const hba = (sid: number, seconds: number, failures: number, aborts: number, inFlight = 0): WatchEvent => {
    const s: WatchStats = { sid, commands: seconds, bytesRead: 0, bytesWritten: 0, hba: { inFlight, failures, aborts }, at: new Date(T0 + seconds * 1000).toISOString() };
    return { type: 'stats', stats: s };
  };

  it('logs new I/O errors and aborts of the disk once, from the deltas of successive stats', () => {
    const s = run([{ type: 'loaded', sessions: [info(1)], at: T0 }, hba(1, 0, 0, 0), hba(1, 2, 0, 0), hba(1, 4, 2, 1), hba(1, 6, 2, 1), hba(1, 8, 3, 1)]);
    expect(s.log.map((e) => e.text)).toEqual(['session 1 disk: 2 I/O errors, 1 abort', 'session 1 disk: 1 I/O error']);
  });

  it('the first sample is only the baseline: errors from before the watch started are not logged as new', () => {
    // "since the last sample": with none yet, the counters since the disk was attached are not news (as for rates).
    const s = run([{ type: 'loaded', sessions: [info(1)], at: T0 }, hba(1, 0, 7, 2), hba(1, 2, 7, 2), hba(1, 4, 8, 2)]);
    expect(s.log.map((e) => e.text)).toEqual(['session 1 disk: 1 I/O error']);
  });

  it('the plain line and the snapshot carry the disk\'s in-flight tasks, errors and aborts; a session without a disk has none', () => {
    const s = run([{ type: 'loaded', sessions: [info(1), info(2)], at: T0 }, hba(1, 0, 0, 0), hba(1, 2, 1, 0, 5), stats(2, 0, 1, 1), stats(2, 2, 2, 2)]);
    expect(formatPlainLine(s.rows[0]!)).toBe(`sid 1 ${DISK} 10.0.0.5:3260 logged-in read 0.0 MB/s write 0.0 MB/s 1 IOPS disk in-flight 5 errors 1 aborts 0`);
    expect(snapshotOf(s.rows[0]!).hba).toEqual({ inFlight: 5, failures: 1, aborts: 0 });
    expect(formatPlainLine(s.rows[1]!)).toMatch(/IOPS$/);
    expect(snapshotOf(s.rows[1]!).hba).toBeNull();
  });
});

describe('watch model: session.stateChanged ("every state transition", with its reason) goes to the log', () => {
  it('updates the row and logs the change with its reason', () => {
    const s = run([
      { type: 'loaded', sessions: [info(1)], at: T0 },
      { type: 'stateChanged', sid: 1, state: 'recovering', reason: 'connection lost', at: T0 + 1 },
      { type: 'stateChanged', sid: 1, state: 'logged-in', reason: 'reconnected', at: T0 + 2 },
    ]);
    expect(s.rows[0]!.state).toBe('logged-in');
    expect(s.log.map((e) => e.text)).toEqual(['session 1 recovering: connection lost', 'session 1 logged-in: reconnected']);
  });

  it('keeps a session the daemon no longer lists as logged out (so `l` can log its node in again) until the node has a new session', () => {
    const gone = run([{ type: 'loaded', sessions: [info(1), info(2, 'logged-in', 'iqn.x:y')], at: T0 }, { type: 'loaded', sessions: [info(2, 'logged-in', 'iqn.x:y')], at: T0 }]);
    expect(gone.rows.map((r) => [r.sid, r.state])).toEqual([[1, 'logged-out'], [2, 'logged-in']]);
    const back = run([{ type: 'loaded', sessions: [info(2, 'logged-in', 'iqn.x:y'), info(3)], at: T0 }], gone);
    expect(back.rows.map((r) => r.sid)).toEqual([2, 3]);
  });

  it('logs LUN scans and clamps the selection to the rows', () => {
    const s = run([
      { type: 'loaded', sessions: [info(1), info(2)], at: T0 },
      { type: 'select', delta: 5 },
      { type: 'lunsChanged', sid: 2, luns: 1, at: T0 },
    ]);
    expect(s.selected).toBe(1);
    expect(run([{ type: 'select', delta: -9 }], s).selected).toBe(0);
    expect(s.log.at(-1)!.text).toBe('session 2: 1 LUN');
  });
});

describe('sparkline and names', () => {
  it('scales to the largest value with ▁..█ and shows the newest `width` values', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([0, 0, 0])).toBe('▁▁▁');
    expect(sparkline([9, 0, 7], 2)).toBe('▁█');
  });

  it('property: one block per value (at most width), the peak is █ when anything moved', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1e9), { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (values, width) => {
        const line = sparkline(values, width);
        const shown = values.slice(-width);
        expect([...line]).toHaveLength(shown.length);
        expect([...line].every((c) => '▁▂▃▄▅▆▇█'.includes(c))).toBe(true);
        if (shown.some((v) => v > 0)) expect(line).toContain('█');
      }),
      { numRuns: 500 },
    );
  });

  it('shortens a long target name from the left, keeping the part that names the disk', () => {
    expect(shortenTarget('iqn.2004-04.com.example.storage:array1.disk17', 20)).toBe('…orage:array1.disk17');
    expect(shortenTarget(DISK, 40)).toBe(DISK);
  });
});

// ─── Against a real daemon ──────────────────────────────────────────────────────────────────────────────────────────

const TARGET = 'iqn.2026-11.test.cli:watch';
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/run.js');
let tgt: TgtdInstance;
let iscsid: IscsidInstance;
let admin: RpcClient;
let sid: number;

beforeAll(async () => {
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: 8 << 20 }] }] });
  iscsid = await startIscsid();
  admin = await RpcClient.connect(iscsid.socket);
  await admin.call('discovery.sendTargets', { portal: tgt.portal });
  sid = (await admin.call('sessions.login', { targetName: TARGET })).sid;
});

afterAll(async () => {
  admin?.close();
  await iscsid?.stop();
  await tgt?.stop();
});

describe('the ink view, fed by a real iscsid\'s notifications', () => {
  it('shows the logged-in session, then a rate from session.stats ("every 2 s") after `r` rescans, and quits on `q`', async () => {
    const rpc = await RpcClient.connect(iscsid.socket);
    let unsubscribed = false;
    const client: WatchClient = {
      call: rpc.call.bind(rpc),
      onNotification: (listener) => {
        const off = rpc.onNotification(listener);
        return () => {
          unsubscribed = true;
          off();
        };
      },
    };
    const view = render(createElement(WatchView, { client }));
    try {
      const row = (): string => view.lastFrame()!.split('\n').find((l) => l.includes(':watch') && l.includes(tgt.portal)) ?? '';
      await vi.waitFor(
        () => {
          expect(row()).toMatch(new RegExp(`^\\s*${sid}\\s.*logged-in`));
          expect(row()).toMatch(new RegExp(`\\s${DEFAULT_QUEUE_DEPTH}(\\s|$)`)); // queue depth: node.session.queue_depth's default
        },
        { timeout: 10_000, interval: 50 },
      );
      view.stdin.write('r'); // REPORT LUNS, INQUIRY, READ CAPACITY: commands and bytes the next stats will count
      // session.lunsChanged comes only when the LUNs differ from the login's scan, so the log shows the action's outcome.
      await vi.waitFor(() => expect(view.lastFrame()).toContain(`rescan session ${sid}: done`), { timeout: 10_000, interval: 50 });
      await vi.waitFor(
        () => {
          const iops = Number(/logged-in\s+\S+\s+\S+\s+(\d+)\s/.exec(row())?.[1]);
          expect(iops).toBeGreaterThan(0);
          expect(row()).toContain('█');
        },
        { timeout: 10_000, interval: 50 },
      );
      view.stdin.write('q');
      await vi.waitFor(() => expect(unsubscribed).toBe(true), { timeout: 5_000, interval: 20 });
    } finally {
      view.cleanup();
      rpc.close();
    }
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function iscsiadm(args: string[], options: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void; closeStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (options.closeStdout) child.stdout.destroy(); // like `| head -c 0`: the reader is gone before the first line
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      options.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('iscsiadm session watch when stdout is not a TTY', () => {
  it('--once prints one line per session and exits 0', async () => {
    const r = await iscsiadm(['session', 'watch', '--once', '--socket', iscsid.socket]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^sid ${sid} ${TARGET.replace(/\./g, '\\.')} ${tgt.portal} logged-in commands \\d+`));
  });

  it('--once --json prints only JSON: the snapshot of each session', async () => {
    const r = await iscsiadm(['session', 'watch', '--once', '--json', '--socket', iscsid.socket]);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { sessions: Array<Record<string, unknown>> };
    expect(parsed.sessions).toHaveLength(1);
    expect(parsed.sessions[0]).toMatchObject({ sid, targetName: TARGET, portal: tgt.portal, state: 'logged-in', queueDepth: DEFAULT_QUEUE_DEPTH });
    expect(typeof parsed.sessions[0]!.commands).toBe('number');
  });

  it('without --once prints a line per session at each stats notification until SIGINT, then exits 0', async () => {
    let signalled = false;
    const r = await iscsiadm(['session', 'watch', '--socket', iscsid.socket], {
      onStdout: (text, child) => {
        // The baseline line, then one from a session.stats notification (it carries a rate).
        if (!signalled && /IOPS/.test(text)) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^sid ${sid} .* logged-in read \\d+\\.\\d MB/s write \\d+\\.\\d MB/s \\d+ IOPS$`, 'm'));
  });

  it('ends by itself, quietly and with exit 0, when the reader of its output goes away (issue 9: `| head`)', async () => {
    const r = await iscsiadm(['session', 'watch', '--socket', iscsid.socket], { closeStdout: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('shows a logout once (issue 9: "session watch shows each logout event twice")', async () => {
    let child: ReturnType<typeof spawn> | undefined;
    let started = (): void => {};
    let relogged = (): void => {};
    const ready = new Promise<void>((resolve) => (started = resolve));
    const again = new Promise<void>((resolve) => (relogged = resolve));
    let next = 0;
    const run = iscsiadm(['session', 'watch', '--socket', iscsid.socket], {
      onStdout: (text, c) => {
        child = c;
        if (text.includes(`sid ${sid} `)) started(); // the baseline line: the feed is subscribed and loaded
        if (next > 0 && text.includes(`session ${next} logged-in`)) relogged();
      },
    });
    await ready;
    const gone = sid;
    await admin.call('sessions.logout', { sid: gone });
    // Whatever the daemon sends about the logout comes before what it sends about the next login.
    next = (await admin.call('sessions.login', { targetName: TARGET })).sid;
    await again;
    child!.kill('SIGINT');
    const r = await run;
    sid = next;
    expect(r.code).toBe(0);
    const logouts = r.stdout.split('\n').filter((line) => line.endsWith(`session ${gone} logged-out: logged out`));
    expect(logouts).toHaveLength(1);
  });

  it('--json without --once is refused in one line (exit 7), and no daemon is exit 20', async () => {
    const bad = await iscsiadm(['session', 'watch', '--json', '--socket', iscsid.socket]);
    expect(bad.code).toBe(7);
    expect(JSON.parse(bad.stdout).error.code).toBe('ISCSI_BAD_ARGUMENT');
    const none = await iscsiadm(['session', 'watch', '--once', '--socket', path.join(iscsid.dir, 'nobody.sock')]);
    expect(none.code).toBe(20);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
  });
});
