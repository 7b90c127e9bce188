// Issue 10, "Bounded RPC": a peer in the socket's group (here nobody, in the socket's group nogroup) must not be able
// to crash iscsid, grow its memory, or lock root out, and a session logged in before the abuse must be untouched.
// Each case was reproduced against the daemon before the fix: a real iscsid process and a real tgtd session.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeDatabase } from '../../core/src/daemon/node-db.js';
import { DEFAULT_RPC_LIMITS } from '../../core/src/defaults.js';
import { RpcClient } from '../../core/src/rpc/index.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const TARGET = 'iqn.2026-12.test.limits:disk';
/** The case: about 40 nodes stored, so one nodes.list answer is some 50 kB. */
const STORED_NODES = 40;
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rpc-abuse.cjs');

let tgt: TgtdInstance;
let dir: string;
let daemon: IscsidInstance;
let root: RpcClient;
let sid: number;

/** The daemon's resident memory in bytes (/proc/<pid>/status VmRSS). */
function rss(): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** The fixture as nobody/nogroup (a member of the socket's group, not root); its one JSON line. */
function asNobody(args: string[], timeout = 30_000): Record<string, unknown> {
  const out = execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, fixture, daemon.socket, ...args], { encoding: 'utf8', timeout });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** The session logged in before the abuse is still logged in, and an I/O-free call about it still answers. */
async function sessionUntouched(): Promise<void> {
  expect(daemon.child.exitCode).toBeNull();
  const c = await RpcClient.connect(daemon.socket);
  try {
    const s = await c.call('sessions.get', { sid });
    expect(s.state).toBe('logged-in');
    expect(s.luns.length).toBeGreaterThan(0);
  } finally {
    c.close();
  }
  expect(await tgt.connections(TARGET)).toBe(1);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsid-limits-'));
  chmodSync(dir, 0o711);
  tgt = await startTgtd({ targets: [{ iqn: TARGET }] });
  // 39 recorded nodes nobody logs in to, as a discovery would have left them, plus the real one below.
  const stateDir = path.join(dir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  const db = new NodeDatabase({ stateDir });
  db.upsertDiscovered('192.0.2.1:3260', Array.from({ length: STORED_NODES - 1 }, (_, i) => ({ targetName: `iqn.2026-12.test.limits:stored-${i}`, portals: [{ host: '192.0.2.1', port: 3260, portalGroupTag: 1 }] })));
  daemon = await startIscsid({ dir, args: ['--group', '65534'] });
  root = await RpcClient.connect(daemon.socket);
  await root.call('discovery.sendTargets', { portal: tgt.portal });
  expect(await root.call('nodes.list')).toHaveLength(STORED_NODES);
  sid = (await root.call('sessions.login', { targetName: TARGET })).sid;
}, 60_000);

afterAll(async () => {
  root?.close();
  if (daemon) await daemon.stop({ keepDir: true });
  await tgt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('iscsid under a hostile peer in its socket group (issue 10, "Bounded RPC"; docs/security.md, Limits)', () => {
  it('one 1 MiB line of ~20,000 nodes.list calls with 40 nodes stored: one Invalid Request, not a crash', { timeout: 60_000 }, async () => {
    // Before: RangeError: Invalid string length in JSON.stringify(response), outside any try: the daemon died and
    // every session dropped with no logout.
    const calls = 20_000;
    const seen = asNobody(['batch', String(calls)]);
    expect(seen.answer).toMatchObject({ id: null, error: { code: -32600, data: { code: 'ISCSI_BAD_ARGUMENT' } } });
    // At the cap, the batch runs; its answer line stays within maxAnswerBytes, the calls past it answered by errors.
    const atCap = asNobody(['batch', String(DEFAULT_RPC_LIMITS.maxBatchCalls)]);
    expect(atCap.answer).toEqual({ elements: DEFAULT_RPC_LIMITS.maxBatchCalls });
    expect(atCap.bytes).toBeLessThanOrEqual(DEFAULT_RPC_LIMITS.maxAnswerBytes + DEFAULT_RPC_LIMITS.maxBatchCalls * 300);
    await sessionUntouched();
  });

  it('pipelined batches never read: the daemon pauses reading, its RSS stays flat, the session is untouched', { timeout: 60_000 }, async () => {
    // Before: with 2 nodes, such batches pipelined without reading grew RSS past 2 GB, then the heap aborted.
    const before = rss();
    const seen = asNobody(['flood', '60', String(DEFAULT_RPC_LIMITS.maxBatchCalls)]);
    const grown = rss() - before;
    // 60 batches of 100 calls ask for ~300 MB of answers; what the daemon holds is one connection's bounded share.
    expect(grown).toBeLessThan(96 << 20);
    // The daemon stopped reading: most of what the peer wrote is still in the peer's own buffer, or it was dropped.
    expect(seen.closed === true || (seen.unsent as number) > 0).toBe(true);
    expect((await root.call('sessions.list')).map((s) => s.sid)).toEqual([sid]);
    await sessionUntouched();
  });

  it('a subscriber that never reads: same bound; root keeps its calls while it hangs on', { timeout: 60_000 }, async () => {
    const before = rss();
    const holder = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, fixture, daemon.socket, 'flood-subscribed', '60', String(DEFAULT_RPC_LIMITS.maxBatchCalls)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    holder.stdout.on('data', (d) => (out += d));
    // While it floods (its first lines are being answered), root is served and the session lives.
    expect((await root.call('sessions.list')).map((s) => s.sid)).toEqual([sid]);
    await sessionUntouched();
    await new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    expect(JSON.parse(out)).toMatchObject({ queued: expect.any(Number) });
    expect(rss() - before).toBeLessThan(96 << 20);
    await sessionUntouched();
  });

  it('300 idle connections from nobody with launchd\'s 256 open files: refused past 16; root still served', { timeout: 60_000 }, async () => {
    // Before: a peer holding connections reached the fd limit and root's `iscsiadm session` failed. launchd gives a
    // daemon 256 open files by default on macOS; this daemon gets the same.
    execFileSync('prlimit', ['--pid', String(daemon.child.pid), '--nofile=256:256']);
    const holder = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, fixture, daemon.socket, 'hold', '300'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const seen = await new Promise<{ answered: number; refused: Record<string, number>; failed: number }>((resolve, reject) => {
        let out = '';
        holder.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
        holder.once('exit', () => reject(new Error(`the holder exited: ${out}`)));
      });
      // Every connection past the per-uid limit is refused: told why in one JSON-RPC error line and closed, or, past the
      // 64 refusals that may wait at once for their peer to read that line, closed at once.
      expect(seen.answered).toBe(DEFAULT_RPC_LIMITS.maxConnectionsPerUid);
      expect(seen.refused.ISCSI_CONNECTION_REFUSED).toBeGreaterThanOrEqual(64);
      expect(seen.refused.ISCSI_CONNECTION_REFUSED! + seen.failed).toBe(300 - DEFAULT_RPC_LIMITS.maxConnectionsPerUid);
      expect(Object.keys(seen.refused)).toEqual(['ISCSI_CONNECTION_REFUSED']);
      // While nobody holds its connections, root connects and lists the sessions.
      const c = await RpcClient.connect(daemon.socket);
      try {
        expect((await c.call('sessions.list')).map((s) => s.sid)).toEqual([sid]);
      } finally {
        c.close();
      }
      await sessionUntouched();
      expect(daemon.output()).toMatch(/connection refused/);
    } finally {
      holder.stdin!.end();
      await new Promise<void>((resolve) => (holder.exitCode !== null ? resolve() : holder.once('exit', () => resolve())));
    }
  });

  it('JSON-RPC 2.0 §4: an id of 1e400 is refused with Invalid Request and nothing runs, not answered as id null', async () => {
    const answer = await new Promise<unknown>((resolve, reject) => {
      const s = net.connect(daemon.socket);
      let text = '';
      s.on('error', reject);
      s.on('connect', () => s.write('{"jsonrpc":"2.0","id":1e400,"method":"sessions.logout","params":{"all":true}}\n'));
      s.on('data', (d) => {
        text += d;
        if (text.includes('\n')) {
          s.destroy();
          resolve(JSON.parse(text));
        }
      });
    });
    expect(answer).toMatchObject({ id: null, error: { code: -32600, data: { code: 'ISCSI_BAD_ARGUMENT' } } });
    await sessionUntouched(); // the logout it asked for, as root, did not run
  });
});
