// The pure helpers the views share (src/lib/status.ts, problem.ts, throughput.ts): the menu-bar verdict of issue 13
// ("all up, some down, or recovering"), sizes and rates, one readable line per error, and bytes/s from session.stats.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IscsiError, TransportError } from '@iscsi-initiator/core/rpc';
import { describe, expect, it } from 'vitest';
import { DaemonUnavailableError } from '../../src/lib/daemon';
import type { NodeRecord, NodeRow, PortalGroup, SessionInfo, SessionState, SessionStats } from '../../src/lib/model';
import { problemFrom } from '../../src/lib/problem';
import { describeError, formatBytes, formatRate, menuBarStatus } from '../../src/lib/status';
import { ThroughputMeter } from '../../src/lib/throughput';

function row(targetName: string, automatic: boolean, state: SessionState | null): NodeRow {
  const node: NodeRecord = {
    targetName,
    portal: '10.0.0.5:3260',
    portalGroupTag: 1,
    settings: {},
    discoveredAt: '2026-12-06T00:00:00.000Z',
  };
  const session: SessionInfo | null =
    state === null
      ? null
      : {
          sid: 1,
          targetName,
          portal: node.portal,
          portalGroupTag: 1,
          state,
          reason: '',
          tsih: 1,
          isid: '800000000001',
        };
  return { node, automatic, chapConfigured: false, session };
}
const groups = (...nodes: NodeRow[]): PortalGroup[] => [{ portal: '10.0.0.5:3260', nodes }];

describe('menuBarStatus (issue 13: "whether every automatic node is logged in: all up, some down, or recovering")', () => {
  it('idle without automatic nodes, whatever the manual ones do', () => {
    expect(menuBarStatus([])).toBe('idle');
    expect(menuBarStatus(groups(row('iqn.2026-12.t:a', false, null), row('iqn.2026-12.t:b', false, 'logged-in')))).toBe(
      'idle',
    );
  });
  it('all up when every automatic node is logged in', () => {
    expect(menuBarStatus(groups(row('iqn.2026-12.t:a', true, 'logged-in'), row('iqn.2026-12.t:b', false, null)))).toBe(
      'all-up',
    );
  });
  it('recovering when one is reconnecting (or logging in again) and none is down', () => {
    expect(
      menuBarStatus(groups(row('iqn.2026-12.t:a', true, 'logged-in'), row('iqn.2026-12.t:b', true, 'recovering'))),
    ).toBe('recovering');
    expect(menuBarStatus(groups(row('iqn.2026-12.t:a', true, 'logging-in')))).toBe('recovering');
  });
  it('some down when one has no session, a failed one or a logged-out one; down wins over recovering', () => {
    for (const state of [null, 'failed', 'logged-out'] as const) {
      expect(
        menuBarStatus(groups(row('iqn.2026-12.t:a', true, 'recovering'), row('iqn.2026-12.t:b', true, state))),
      ).toBe('some-down');
    }
  });
});

describe('formatBytes / formatRate', () => {
  it('sizes in binary units, exact for decimal strings past 2^53 (LunInfo.sizeBytes)', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536 * 1024 * 1024)).toBe('1.5 GiB');
    expect(formatBytes(String(64 << 20))).toBe('64 MiB');
    expect(formatBytes('18446744073709551615')).toBe('16 EiB');
    expect(formatBytes('not a number')).toBe('not a number');
  });
  it('rates in decimal units; a dash before two samples', () => {
    expect(formatRate(null)).toBe('—');
    expect(formatRate(0)).toBe('0 B/s');
    expect(formatRate(999)).toBe('999 B/s');
    expect(formatRate(12_345_678)).toBe('12.3 MB/s');
    expect(formatRate(1_500_000_000)).toBe('1.5 GB/s');
  });
});

describe('describeError: one line, by code first, never a stack', () => {
  it('the problem of an unreachable daemon is its message', () => {
    const e = new DaemonUnavailableError({
      kind: 'not-running',
      socketPath: '/x.sock',
      message: 'iscsid is not running.',
      hint: 'start it',
    });
    expect(describeError(e)).toBe('iscsid is not running.');
  });
  it('a known code gets words for a Raycast user; others keep the daemon message and its hint', () => {
    expect(describeError(new IscsiError('ISCSI_VOLUME_BUSY', 'volume /Volumes/x is busy'))).toMatch(/in use/);
    expect(
      describeError(
        new IscsiError('ISCSI_SESSION_EXISTS', 'already logged in to x (session 1)', { hint: 'log out first' }),
      ),
    ).toBe('already logged in to x (session 1) (log out first)');
    const withStack = new Error('first line\n    at somewhere (file.ts:1:1)');
    expect(describeError(withStack)).toBe('first line');
    expect(describeError(undefined)).toBe('Something went wrong');
  });
});

describe('problemFrom: connect failures → the problem screen (docs/api.md, "A client that cannot reach the daemon")', () => {
  it('no socket file → not-running; a socket file nobody answers → refused; EACCES → permission; timeout → refused', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-problem-'));
    try {
      const missing = path.join(dir, 'none.sock');
      const notRunning = new TransportError('ISCSI_DAEMON_NOT_RUNNING', 'iscsid is not running');
      expect(problemFrom(notRunning, missing)).toMatchObject({ kind: 'not-running', socketPath: missing });
      const stale = path.join(dir, 'stale.sock');
      writeFileSync(stale, '');
      expect(problemFrom(notRunning, stale)).toMatchObject({ kind: 'refused' });
      expect(problemFrom(new TransportError('ISCSI_NOT_PERMITTED', 'no'), missing)).toMatchObject({
        kind: 'permission',
      });
      expect(problemFrom(new TransportError('ISCSI_TIMEOUT', 'slow'), missing)).toMatchObject({ kind: 'refused' });
      expect(problemFrom(new TransportError('ISCSI_CONNECTION_REFUSED', 'full'), missing)).toMatchObject({
        kind: 'refused',
      });
      // Not a reachability problem: the daemon answered and said no.
      expect(problemFrom(new IscsiError('ISCSI_LOGIN_AUTH_FAILED', 'auth'), missing)).toBeUndefined();
      for (const p of [problemFrom(notRunning, missing)!, problemFrom(notRunning, stale)!])
        expect(p.hint).toMatch(/iscsid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ThroughputMeter: bytes/s between two session.stats samples', () => {
  const stats = (sid: number, at: string, bytesRead: number, bytesWritten: number): SessionStats => ({
    sid,
    commands: 0,
    bytesRead,
    bytesWritten,
    reconnects: 0,
    retriedCommands: 0,
    digestErrors: 0,
    timeouts: 0,
    at,
  });
  it('null until two samples, then the difference over the time between them; per session; forgotten on logout', () => {
    const m = new ThroughputMeter();
    expect(m.rates(1)).toEqual({ readBps: null, writeBps: null });
    m.add(stats(1, '2026-12-06T10:00:00.000Z', 1_000, 0));
    expect(m.rates(1)).toEqual({ readBps: null, writeBps: null });
    m.add(stats(1, '2026-12-06T10:00:02.000Z', 5_001_000, 2_000));
    expect(m.rates(1)).toEqual({ readBps: 2_500_000, writeBps: 1_000 });
    m.add(stats(2, '2026-12-06T10:00:02.000Z', 0, 0));
    expect(m.rates(2)).toEqual({ readBps: null, writeBps: null });
    m.forget(1);
    expect(m.rates(1)).toEqual({ readBps: null, writeBps: null });
  });
  it('no rate from samples with the same time, or counters that went backwards', () => {
    const m = new ThroughputMeter();
    m.add(stats(1, '2026-12-06T10:00:00.000Z', 100, 100));
    m.add(stats(1, '2026-12-06T10:00:00.000Z', 200, 200));
    expect(m.rates(1)).toEqual({ readBps: null, writeBps: null });
    m.add(stats(1, '2026-12-06T10:00:02.000Z', 100, 400));
    expect(m.rates(1)).toEqual({ readBps: null, writeBps: 100 });
  });
});
