// IscsiSession's hooks for the host's events (issue 12 item 4: "before sleep, quiesce: finish in-flight I/O and stop
// NOP-Out timers. After wake, check every connection and recover at once"; network changes: "reconnect at once
// instead of waiting"), against the scripted target over real sockets. The timing rules are on the fake clock in
// core/test/session/session-core.test.ts; here every step waits for an event.
import { afterEach, describe, expect, it } from 'vitest';
import { IscsiSession, Opcode, type ScsiCommand } from '../../core/src/index.js';
import { acceptingLogin, ScriptedTarget, type FullFeaturePdu, type TargetConnection } from '../src/scripted-target.js';
import { until } from '../src/session-wait.js';

const targets: ScriptedTarget[] = [];
const sessions: IscsiSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.logout().catch(() => {})));
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

const BOUND = { timeout: 15_000 };
const read10 = Buffer.from([0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0]);

/** A target that holds SCSI commands until told, answers pings, and logs out cleanly. */
async function scene(options: { reconnectMinDelayMs?: number; reconnectMaxDelayMs?: number } = {}) {
  const held: { pdu: ScsiCommand; c: TargetConnection }[] = [];
  const target = await ScriptedTarget.start({
    onPdu(pdu: FullFeaturePdu, c) {
      if (pdu.opcode === Opcode.LogoutRequest) c.logoutResponse(pdu);
      else if (pdu.opcode === Opcode.NopOut) c.nopIn({ itt: pdu.itt, data: pdu.data });
      else if (pdu.opcode === Opcode.ScsiCommand) held.push({ pdu, c });
    },
    login: acceptingLogin,
  });
  targets.push(target);
  const session = await IscsiSession.open({
    portal: target.portal,
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:host-hooks',
    targetName: 'iqn.2026-11.test:host-hooks',
    proposal: { defaultTime2Wait: 0 },
    noopOutIntervalMs: 600_000, // no ping of its own during the test: every ping seen is the wake's
    noopOutTimeoutMs: 5_000,
    loginTimeoutMs: 2_000,
    reconnectMinDelayMs: options.reconnectMinDelayMs ?? 10,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 200,
  });
  sessions.push(session);
  return { target, session, held };
}

describe('IscsiSession host hooks', () => {
  it('quiesce pauses the pings and resolves only once the in-flight command has completed; resumeKeepAlive pings at once', BOUND, async () => {
    const { target, session, held } = await scene();
    const read = session.execute({ lun: 0, cdb: read10, readLength: 512 });
    await target.connection.next(Opcode.ScsiCommand);
    let quiesced = false;
    const quiesce = session.quiesce(10_000).then(() => (quiesced = true));
    expect(session.keepAlivePaused).toBe(true);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(quiesced).toBe(false); // the read is still in flight
    const { pdu, c } = held.shift()!;
    c.dataIn(pdu, Buffer.alloc(512, 7), { status: 0 });
    await quiesce;
    expect((await read).data?.[0]).toBe(7);
    session.resumeKeepAlive();
    expect(session.keepAlivePaused).toBe(false);
    // With a 10-minute noop_out_interval, only the wake's "check every connection" sends this ping.
    await target.connection.next(Opcode.NopOut);
    expect(session.state).toBe('logged-in');
  });

  it('retryNow: a session waiting out a 60 s reconnect backoff logs in again at once (the network came back)', BOUND, async () => {
    const { target, session } = await scene({ reconnectMinDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
    expect(session.isConnected).toBe(true);
    target.connection.destroy();
    await until(session, () => session.state === 'recovering');
    expect(session.isConnected).toBe(false);
    session.retryNow();
    await until(session, () => session.state === 'logged-in');
    expect(target.connections).toHaveLength(2);
    expect(session.isConnected).toBe(true);
  });
});
