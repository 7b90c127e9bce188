// ERL 0 recovery (RFC 7143 §6.3.5, §7.1) driven by a scripted target, where every fault comes exactly on cue.
import { afterEach, describe, expect, it } from 'vitest';
import {
  IscsiError,
  Opcode,
  ReconnectBackoff,
  IscsiSession,
  Stage,
  isFatalLoginError,
  LoginError,
  TransportError,
  type LoginRequest,
  type SessionEvent,
  type SessionOptions,
  type ScsiCommand,
} from '../../core/src/index.js';
import { acceptingLogin, loginResponse, ScriptedTarget, type FullFeaturePdu, type TargetConnection } from '../src/scripted-target.js';
import { until } from '../src/session-wait.js';

const targets: ScriptedTarget[] = [];
const sessions: IscsiSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.logout().catch(() => {})));
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

const BOUND = { timeout: 15_000 };

interface Scene {
  target: ScriptedTarget;
  logins: LoginRequest[];
  session: IscsiSession;
  events: SessionEvent[];
}

/**
 * A target whose logins are recorded (and can be refused with a status on cue) and whose commands are answered by
 * `onPdu`, plus a recovering session to it with quick reconnects (DefaultTime2Wait 0).
 */
async function scene(
  onPdu: (pdu: FullFeaturePdu, c: TargetConnection) => void,
  options: Partial<SessionOptions> = {},
  refuse: () => { statusClass: number; statusDetail: number } | undefined = () => undefined,
): Promise<Scene> {
  const logins: LoginRequest[] = [];
  const target = await ScriptedTarget.start({
    onPdu(pdu, c) {
      if (pdu.opcode === Opcode.LogoutRequest) c.logoutResponse(pdu); // §11.15: every scene logs out cleanly
      else onPdu(pdu, c);
    },
    login(request, send) {
      if (request.csg === Stage.Security) logins.push(request);
      const refusal = refuse();
      if (refusal) {
        send(loginResponse(request, { ...refusal, transit: false, nsg: Stage.Security }));
        return;
      }
      acceptingLogin(request, send);
    },
  });
  targets.push(target);
  const session = await IscsiSession.open({
    portal: target.portal,
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:recovery',
    targetName: 'iqn.2026-11.test:recovery',
    proposal: { defaultTime2Wait: 0 },
    reconnectMinDelayMs: 10,
    reconnectMaxDelayMs: 200,
    noopOutIntervalMs: 0,
    loginTimeoutMs: 2_000,
    ...options,
  });
  sessions.push(session);
  const events: SessionEvent[] = [];
  session.on((e) => events.push(e));
  return { target, logins, session, events };
}

const read10 = (lba: number) => Buffer.from([0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 1, 0]);
const lbaOf = (c: ScsiCommand) => c.cdb.readUInt32BE(2);
const isCommand = (pdu: FullFeaturePdu): pdu is ScsiCommand => pdu.opcode === Opcode.ScsiCommand;

/** Answers every read with one block whose first byte says which connection (1-based) served it. */
function answerWithConnectionNumber(target: () => ScriptedTarget) {
  return (pdu: FullFeaturePdu, c: TargetConnection) => {
    if (!isCommand(pdu)) return;
    const n = target().connections.indexOf(c) + 1;
    c.dataIn(pdu, Buffer.alloc(512, n), { status: 0 });
  };
}


/** Resolves once `count` more SCSI Commands have reached the target's current connection. */
async function commandsArrive(target: ScriptedTarget, count = 1): Promise<void> {
  const c = target.connection;
  for (let i = 0; i < count; i++) await c.next(Opcode.ScsiCommand);
}

describe('reconnect policy', () => {
  it('backs off exponentially from DefaultTime2Wait to the cap, with bounded jitter', () => {
    const b = new ReconnectBackoff({ initialMs: 2000, maxMs: 30_000, jitter: 0.2, random: () => 0.5 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([2000, 4000, 8000, 16000, 30000, 30000]);
    const low = new ReconnectBackoff({ initialMs: 1000, maxMs: 8000, jitter: 0.2, random: () => 0 });
    const high = new ReconnectBackoff({ initialMs: 1000, maxMs: 8000, jitter: 0.2, random: () => 0.999999 });
    expect(low.next()).toBe(800);
    expect(high.next()).toBe(1200);
  });

  it('a refused login is final only when retrying cannot help (RFC 7143 §11.13.5 class 2 vs class 3)', () => {
    expect(isFatalLoginError(new LoginError('ISCSI_LOGIN_AUTH_FAILED', 'x'))).toBe(true);
    expect(isFatalLoginError(new LoginError('ISCSI_LOGIN_TARGET_NOT_FOUND', 'x'))).toBe(true);
    expect(isFatalLoginError(new LoginError('ISCSI_LOGIN_SERVICE_UNAVAILABLE', 'x'))).toBe(false);
    expect(isFatalLoginError(new TransportError('ISCSI_CONNECTION_REFUSED', 'x'))).toBe(false);
  });
});

describe('ERL 0 recovery (RFC 7143 §6.3.5 session reinstatement, §7.1)', BOUND, () => {
  it('a dropped connection: same ISID with TSIH 0, every unfinished command re-issued in order, answered by the new connection', async () => {
    let hold = true;
    const s: Scene = await scene((pdu, c) => {
      if (!isCommand(pdu) || hold) return;
      answerWithConnectionNumber(() => s.target)(pdu, c);
    });
    const reads = Array.from({ length: 10 }, (_, i) => s.session.execute({ lun: 0, cdb: read10(i), readLength: 512 }));
    await commandsArrive(s.target, 10);
    hold = false;
    s.target.connection.destroy();
    const results = await Promise.all(reads);
    // A read never returns data from the failed connection: every block comes from connection 2.
    expect(results.every((r) => r.status === 0 && r.data[0] === 2)).toBe(true);
    expect(s.logins).toHaveLength(2);
    expect(s.logins[1]!.isid).toBe(s.logins[0]!.isid);
    expect(s.logins[1]!.tsih).toBe(0);
    const second = s.target.connections[1]!.received.filter(isCommand);
    expect(second.map(lbaOf)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(s.session.counters).toMatchObject({ reconnects: 1, retriedCommands: 10 });
    expect(s.events.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state)).toEqual(['recovering', 'logging-in', 'logged-in']);
  });

  it('commands completed before the failure are not re-issued; only the unfinished one is', async () => {
    let answered = 0;
    const s: Scene = await scene((pdu, c) => {
      if (!isCommand(pdu)) return;
      if (s.target.connections.indexOf(c) === 0 && answered++ >= 3) return; // the 4th stays unanswered
      c.dataIn(pdu, Buffer.alloc(512, 1), { status: 0 });
    });
    for (let i = 0; i < 3; i++) await s.session.execute({ lun: 0, cdb: read10(i), readLength: 512 });
    const last = s.session.execute({ lun: 0, cdb: read10(3), readLength: 512 });
    await commandsArrive(s.target);
    s.target.connection.destroy();
    await last;
    expect(s.target.connections[1]!.received.filter(isCommand).map(lbaOf)).toEqual([3]);
  });

  it('replacement_timeout 0: unfinished commands fail at once with a clear error; the session still recovers', async () => {
    const s: Scene = await scene((pdu, c) => {
      if (isCommand(pdu) && s.target.connections.indexOf(c) > 0) c.dataIn(pdu, Buffer.alloc(512), { status: 0 });
    }, { replacementTimeoutMs: 0 });
    const read = s.session.execute({ lun: 0, cdb: read10(1), readLength: 512 });
    await commandsArrive(s.target);
    s.target.connection.destroy();
    await expect(read).rejects.toMatchObject({ code: 'ISCSI_REPLACEMENT_TIMEOUT', message: expect.stringMatching(/replacement_timeout is 0/) });
    await until(s.session, () => s.session.state === 'logged-in');
    await expect(s.session.execute({ lun: 0, cdb: read10(2), readLength: 512 })).resolves.toMatchObject({ status: 0 });
  });

  it('target down past replacement_timeout: pending commands fail, new ones fail fast, and all is well once it is back', async () => {
    let down = false;
    const s: Scene = await scene(
      (pdu, c) => {
        if (isCommand(pdu) && !down) c.dataIn(pdu, Buffer.alloc(512), { status: 0 });
      },
      { replacementTimeoutMs: 300 },
      // §11.13.5 0x0301 "service unavailable": a target error worth retrying.
      () => (down ? { statusClass: 3, statusDetail: 1 } : undefined),
    );
    down = true;
    const read = s.session.execute({ lun: 0, cdb: read10(1), readLength: 512 });
    await commandsArrive(s.target);
    const lostAt = Date.now();
    s.target.connection.destroy();
    await expect(read).rejects.toMatchObject({ code: 'ISCSI_REPLACEMENT_TIMEOUT', message: expect.stringMatching(/replacement_timeout/) });
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(250);
    await expect(s.session.execute({ lun: 0, cdb: read10(2), readLength: 512 })).rejects.toMatchObject({ code: 'ISCSI_REPLACEMENT_TIMEOUT' });
    expect(['recovering', 'logging-in']).toContain(s.session.state);
    down = false;
    await until(s.session, () => s.session.state === 'logged-in');
    await expect(s.session.execute({ lun: 0, cdb: read10(3), readLength: 512 })).resolves.toMatchObject({ status: 0 });
    expect(s.logins.length).toBeGreaterThan(2); // several refused attempts, then success
  });

  it('a login refused for good (0x0201 after a secret changed) stops retrying and says why', async () => {
    let refuse = false;
    const s: Scene = await scene(() => {}, {}, () => (refuse ? { statusClass: 2, statusDetail: 1 } : undefined));
    const read = s.session.execute({ lun: 0, cdb: read10(1), readLength: 512 });
    await commandsArrive(s.target);
    refuse = true;
    s.target.connection.destroy();
    await expect(read).rejects.toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
    expect(s.session.state).toBe('failed');
    expect(s.session.stateReason).toMatch(/Authentication failure/);
    // Failed is final: the session is closed, its reconnect loop and timer end with it (SessionCore unit tests).
    expect(s.session.isClosed).toBe(true);
    await expect(s.session.execute({ lun: 0, cdb: read10(2), readLength: 512 })).rejects.toBeInstanceOf(IscsiError);
  });

  it('an async logout request (event 1): in-flight commands finish, the session logs out, then logs in again', async () => {
    const s: Scene = await scene((pdu, c) => {
      if (isCommand(pdu)) setTimeout(() => c.dataIn(pdu, Buffer.alloc(512), { status: 0 }), 50);
    });
    const read = s.session.execute({ lun: 0, cdb: read10(1), readLength: 512 });
    await commandsArrive(s.target);
    s.target.connection.asyncMessage(1, { parameter3: 2 });
    await expect(read).resolves.toMatchObject({ status: 0 });
    await until(s.session, () => s.target.connections.length === 2 && s.session.state === 'logged-in');
    expect(s.target.connections[0]!.received.some((p) => p.opcode === Opcode.LogoutRequest)).toBe(true);
    expect(s.events.some((e) => e.type === 'logout-requested')).toBe(true);
    await expect(s.session.execute({ lun: 0, cdb: read10(2), readLength: 512 })).resolves.toMatchObject({ status: 0 });
  });

  it('an unanswered NOP-Out ping fails the connection within noop_out_interval + noop_out_timeout, then it recovers', async () => {
    const s: Scene = await scene(
      (pdu, c) => {
        // Connection 1 ignores pings; later ones answer them (§11.18: NOP-In with the ping's ITT).
        if (pdu.opcode === Opcode.NopOut && s.target.connections.indexOf(c) > 0) c.nopIn({ itt: pdu.itt, data: pdu.data });
      },
      { noopOutIntervalMs: 200, noopOutTimeoutMs: 200 },
    );
    const start = Date.now();
    await until(s.session, () => s.session.state === 'recovering');
    // Not before interval + timeout (minus a tick); the exact timing is checked on the fake clock in
    // core/test/session/session-core.test.ts, so no wall-clock upper bound here.
    expect(Date.now() - start).toBeGreaterThanOrEqual(350);
    expect(s.events.find((e) => e.type === 'state' && e.state === 'recovering')).toMatchObject({ error: { code: 'ISCSI_NOP_TIMEOUT' } });
    expect(s.target.connections[0]!.received.some((p) => p.opcode === Opcode.NopOut)).toBe(true);
    await until(s.session, () => s.session.state === 'logged-in');
    // Three pings on the new connection, each answered: no further failure.
    for (let i = 0; i < 3; i++) await s.target.connection.next(Opcode.NopOut);
    expect(s.session.counters.connectionFailures).toBe(1);
  });

  it('logout during recovery stops it; pending commands fail with ISCSI_SESSION_CLOSED', async () => {
    let logins = 0;
    const s: Scene = await scene(() => {}, {}, () => (++logins > 2 ? { statusClass: 3, statusDetail: 1 } : undefined));
    const read = s.session.execute({ lun: 0, cdb: read10(1), readLength: 512 });
    await commandsArrive(s.target);
    s.target.connection.destroy();
    await until(s.session, () => s.session.state !== 'logged-in');
    await s.session.logout();
    await expect(read).rejects.toMatchObject({ code: 'ISCSI_SESSION_CLOSED' });
    expect(s.session.state).toBe('logged-out');
  });
});
