// (f) Each misbehaviour of the test target, and what our initiator makes of it: a typed error, then recovery or a
// clean failure of that one command — never a hang, never wrong data. Every case is bounded in time.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_RELOGINS_WITHOUT_PROGRESS,
  readCdb,
  IscsiSession,
  writeCdb,
  type SessionEvent,
  type SessionOptions,
} from '../../core/src/index.js';
import { runCli } from '../../cli/test/run-cli.js';
import { TestTarget, type Misbehaviour } from '../src/test-target/index.js';
import { until } from '../src/session-wait.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function scene(extra: Partial<SessionOptions> = {}) {
  const target = await TestTarget.start({ targets: [{ luns: [{ size: 4 << 20 }] }] });
  open.push(target);
  const session = await IscsiSession.open({
    portal: target.portal,
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:misbehaviour',
    targetName: target.targetName,
    reconnectMinDelayMs: 10,
    reconnectMaxDelayMs: 200,
    noopOutIntervalMs: 0,
    loginTimeoutMs: 2_000,
    ...extra,
  });
  open.push({ close: () => session.logout().catch(() => {}) });
  const events: SessionEvent[] = [];
  session.on((e) => events.push(e));
  // A known pattern on the first 64 KiB, so every read below can be checked.
  const pattern = randomBytes(65536);
  await session.command({ lun: 0, cdb: writeCdb({ lba: 0, blocks: 128 }), writeData: pattern });
  const read = () => session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 128 }), readLength: 65536 });
  return { target, session, events, pattern, read };
}

const BOUND = { timeout: 10_000 };


describe('connection-level faults: a typed error ends the connection, the session recovers, data stays right', BOUND, () => {
  const cases: Array<[string, Misbehaviour]> = [
    ['garbage bytes instead of an answer (ISCSI_PDU_UNKNOWN_OPCODE)', { kind: 'garbage', on: 'command' }],
    ['a Data-In with DataSN 1 first (§11.7: ISCSI_PDU_BAD_FIELD)', { kind: 'wrong-datasn' }],
    ['a Data-In over our MaxRecvDataSegmentLength (§13.12: ISCSI_PDU_SEGMENT_TOO_LONG)', { kind: 'oversized-segment' }],
    ['the connection reset instead of an answer', { kind: 'drop', rst: true, on: 'command' }],
  ];
  for (const [name, misbehaviour] of cases) {
    it(name, async () => {
      const s = await scene();
      s.target.misbehave(misbehaviour);
      const back = await s.read();
      expect(back.data.equals(s.pattern)).toBe(true);
      expect(s.session.counters.connectionFailures).toBe(1);
      expect(s.session.counters.reconnects).toBe(1);
      expect(s.session.state).toBe('logged-in');
      const lost = s.events.find((e) => e.type === 'state' && e.state === 'recovering') as { error?: { code: string } } | undefined;
      expect(lost?.error?.code).toMatch(/^ISCSI_/);
    });
  }
});

describe('an async "dropping this connection" message (§11.9.1 event 2)', BOUND, () => {
  it('the session reconnects after Time2Wait and I/O goes on', async () => {
    const s = await scene();
    s.target.misbehave({ kind: 'async-drop', time2Wait: 0 });
    await until(s.session, () => s.session.counters.reconnects === 1 && s.session.state === 'logged-in');
    expect(s.events.some((e) => e.type === 'connection-drop')).toBe(true);
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
  });
});

describe('command-level faults: that command fails cleanly or is retried; the session carries on', BOUND, () => {
  it('a Reject of the command (§11.17): ISCSI_REJECT for it alone', async () => {
    const s = await scene();
    s.target.misbehave({ kind: 'reject', reason: 0x09 });
    await expect(s.read()).rejects.toMatchObject({ code: 'ISCSI_REJECT' });
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
    expect(s.session.counters.connectionFailures).toBe(0);
  });

  it('a stalled command: aborted after the command timeout, ISCSI_COMMAND_TIMEOUT, the next command fine', async () => {
    const s = await scene({ commandTimeoutMs: 300 });
    s.target.misbehave({ kind: 'stall' });
    await expect(s.read()).rejects.toMatchObject({ code: 'ISCSI_COMMAND_TIMEOUT', message: expect.stringMatching(/aborted/) });
    expect(s.target.stats.taskManagement[1]).toBeGreaterThanOrEqual(1); // function 1: ABORT TASK (§11.5.1)
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
  });

  it('BUSY twice: retried with backoff, then GOOD (SAM-5 §5.3.1)', async () => {
    const s = await scene();
    s.target.misbehave({ kind: 'busy', count: 2 });
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
  });

  it('a UNIT ATTENTION: surfaced as an event and the command retried', async () => {
    const s = await scene();
    s.target.misbehave({ kind: 'unit-attention', asc: 0x2a, ascq: 0x09 });
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
    expect(s.events.some((e) => e.type === 'unit-attention' && e.sense.asc === 0x2a && e.sense.ascq === 0x09)).toBe(true);
  });

  it('slow R2Ts: a write that needs them still completes, and reads back', async () => {
    const s = await scene({ proposal: { initialR2T: true, immediateData: false } });
    s.target.misbehave({ kind: 'slow-r2t', delayMs: 200 });
    const data = randomBytes(65536);
    await s.session.command({ lun: 0, cdb: writeCdb({ lba: 256, blocks: 128 }), writeData: data });
    const back = await s.session.command({ lun: 0, cdb: readCdb({ lba: 256, blocks: 128 }), readLength: 65536 });
    expect(back.data.equals(data)).toBe(true);
  });
});

describe('target-driven events', BOUND, () => {
  it('NOP-In pings expecting answers (§11.19): answered, so the target never drops us', async () => {
    const s = await scene();
    const pings = s.target.misbehave({ kind: 'nop-ping', intervalMs: 100, missLimit: 2, persistent: true });
    await s.target.waitUntil((stats) => stats.nopPings.answered >= 5);
    pings.cancel();
    expect(s.session.counters.connectionFailures).toBe(0);
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
  });

  it('an async logout request (§11.9.1 event 1): logged out within the time, logged in again, I/O goes on', async () => {
    const s = await scene();
    s.target.misbehave({ kind: 'async-logout', seconds: 2 });
    await s.target.waitUntil((stats) => stats.logouts >= 1);
    await until(s.session, () => s.session.state === 'logged-in' && s.session.counters.reconnects === 1);
    expect((await s.read()).data.equals(s.pattern)).toBe(true);
    expect(s.session.counters.reconnects).toBe(1);
  });

  it('a redirect on re-login (§11.13.5 0x0101): followed to the other portal, same target name', async () => {
    const s = await scene();
    const other = await TestTarget.start({ targets: [{ luns: [{ size: 4 << 20 }] }] });
    open.push(other);
    s.target.misbehave({ kind: 'redirect', to: other.portal });
    s.target.misbehave({ kind: 'drop', rst: true, on: 'now' });
    await until(s.session, () => s.session.state === 'logged-in' && s.session.counters.reconnects === 1);
    expect(s.session.portal).toEqual({ host: other.host, port: other.port });
    // The other target has its own (blank) disk: the read works, with its data.
    expect((await s.read()).data.length).toBe(65536);
  });

  it('a secret changed on the target: the re-login fails with 0x0201 and the session stops (no endless relogin loop)', async () => {
    const target = await TestTarget.start({ targets: [{ luns: [{ size: 4 << 20 }], chap: { incoming: { user: 'u', secret: 'first-secret-1' } } }] });
    open.push(target);
    const session = await IscsiSession.open({
      portal: target.portal,
      initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:misbehaviour-chap',
      targetName: target.targetName,
      auth: { method: 'CHAP', chap: { credentials: { username: 'u', secret: Buffer.from('first-secret-1') } } },
      reconnectMinDelayMs: 10,
      reconnectMaxDelayMs: 100,
      noopOutIntervalMs: 0,
    });
    open.push({ close: () => session.logout().catch(() => {}) });
    target.misbehave({ kind: 'auth-change', secret: 'second-secret-2' });
    target.misbehave({ kind: 'drop', rst: true, on: 'now' });
    await until(session, () => session.state === 'failed');
    expect(session.stateReason).toMatch(/Authentication failure/);
    // Failed is final: the session is closed (its reconnect loop and timer end with it) and says why to new commands.
    expect(session.isClosed).toBe(true);
    await expect(session.execute({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: 512 })).rejects.toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
  });
});

describe('recovery without progress ends (issue 9: "a target that accepts every login, then resets the connection on the first command, every time")', BOUND, () => {
  const RESET_EVERY_COMMAND: Misbehaviour = { kind: 'drop', rst: true, on: 'command', persistent: true };

  it('the command fails with ISCSI_RECOVERY_NO_PROGRESS after maxReloginsWithoutProgress + 1 re-logins, long before replacement_timeout', async () => {
    const s = await scene({ maxReloginsWithoutProgress: 3, replacementTimeoutMs: 600_000 });
    s.target.misbehave(RESET_EVERY_COMMAND);
    const logins = s.target.stats.logins;
    await expect(s.read()).rejects.toMatchObject({ code: 'ISCSI_RECOVERY_NO_PROGRESS', hint: expect.any(String) });
    // The first loss followed a completed write (progress); then 4 logins, each reset before any command completed.
    expect(s.target.stats.logins - logins).toBe(4);
    expect(s.session.counters.noProgressFailures).toBe(1);
    expect(s.session.isClosed).toBe(false); // the session keeps trying; only the commands gave up
  });

  it('`lun capacity --replacement-timeout 10` against it exits 8 (timed out) with the reason, after a handful of logins', async () => {
    const target = await TestTarget.start({ targets: [{ luns: [{ size: 4 << 20 }] }] });
    open.push(target);
    target.misbehave(RESET_EVERY_COMMAND);
    const run = await runCli(['lun', 'capacity', `iscsi://${target.host}:${target.port}/${target.targetName}/0`, '--replacement-timeout', '10', '--noop-interval', '0']);
    expect(run.code).toBe(8);
    expect(run.stderr).toMatch(/dropped the connection each time before any command completed/);
    // The default bound (core/src/defaults.ts): 5 re-logins without progress are allowed, the 6th gives up.
    expect(target.stats.logins).toBe(1 + DEFAULT_MAX_RELOGINS_WITHOUT_PROGRESS + 1);
  }, 25_000);
});
