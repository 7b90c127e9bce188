// The mechanics behind iscsid's bounded shutdown and one-login-per-node rule (issue 10), in process against a
// scripted target where every silence comes on cue: IscsiSession.stopRecovery, and SessionManager's reservation,
// bounded logout and shutdown over a real node database and secret store in temp dirs.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IscsiSession, Opcode, Stage, type SessionEvent } from '../../core/src/index.js';
import { NodeDatabase } from '../../core/src/daemon/node-db.js';
import { openSecretStore } from '../../core/src/daemon/secrets.js';
import { SessionManager, type LogoutOutcome } from '../../core/src/daemon/session-manager.js';
import { until } from '../src/session-wait.js';
import { acceptingLogin, fixedSense, loginResponse, ScriptedTarget, type FullFeaturePdu, type TargetConnection } from '../src/scripted-target.js';

const TARGET = 'iqn.2026-11.test:lifecycle';
const INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:lifecycle';
const targets: ScriptedTarget[] = [];
const sessions: IscsiSession[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(targets.splice(0).map((t) => t.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** ILLEGAL REQUEST to every SCSI command (the LUN scan fails fast; a session without LUNs is still a session). */
function refuseCommands(pdu: FullFeaturePdu, c: TargetConnection): void {
  if (pdu.opcode === Opcode.ScsiCommand) c.scsiResponse(pdu, { status: 0x02, sense: fixedSense(0x05, 0x20, 0x00) });
}

async function target(options: { answerLogout: boolean; refuseRelogin?: boolean }): Promise<{ target: ScriptedTarget; logins: () => number }> {
  let logins = 0;
  const t = await ScriptedTarget.start({
    onPdu(pdu, c) {
      if (pdu.opcode === Opcode.LogoutRequest) {
        if (options.answerLogout) c.logoutResponse(pdu);
      } else refuseCommands(pdu, c);
    },
    login(request, send) {
      if (request.csg === Stage.Security) logins++;
      // Class 3 (target error): worth retrying, so a refused re-login keeps the session recovering (RFC 7143 §11.13.5).
      if (options.refuseRelogin && logins > 1) send(loginResponse(request, { statusClass: 3, statusDetail: 0, transit: false, nsg: Stage.Security }));
      else acceptingLogin(request, send);
    },
  });
  targets.push(t);
  return { target: t, logins: () => logins };
}

async function open(t: ScriptedTarget): Promise<{ session: IscsiSession; events: SessionEvent[] }> {
  const session = await IscsiSession.open({
    portal: t.portal,
    initiatorName: INITIATOR,
    targetName: TARGET,
    proposal: { defaultTime2Wait: 0 },
    reconnectMinDelayMs: 10,
    reconnectMaxDelayMs: 50,
    noopOutIntervalMs: 0,
    loginTimeoutMs: 2_000,
  });
  sessions.push(session);
  const events: SessionEvent[] = [];
  session.on((e) => events.push(e));
  return { session, events };
}

describe('IscsiSession.stopRecovery (issue 10: a stopping daemon was still reconnecting)', () => {
  it('while connected: a connection lost afterwards ends the session instead of logging in again', { timeout: 10_000 }, async () => {
    const { target: t, logins } = await target({ answerLogout: true });
    const { session, events } = await open(t);
    session.stopRecovery();
    expect(session.state).toBe('logged-in'); // nothing changes while the connection lives
    t.connection.destroy();
    await until(session, () => session.isClosed);
    expect(session.state).toBe('failed');
    expect(logins()).toBe(1);
    expect(events.some((e) => e.type === 'state' && (e.state === 'recovering' || e.state === 'logging-in'))).toBe(false);
  });

  it('while recovering: the session ends at once, and a logout afterwards returns at once', { timeout: 10_000 }, async () => {
    const { target: t, logins } = await target({ answerLogout: true, refuseRelogin: true });
    const { session } = await open(t);
    t.connection.destroy();
    await until(session, () => logins() >= 2 && session.state === 'recovering'); // a refused re-login: still recovering
    session.stopRecovery();
    expect(session.isClosed).toBe(true);
    expect(session.state).toBe('failed');
    await session.logout(); // nothing to log out from
  });
});

describe('SessionManager (issue 10: one login per node at a time; a bounded shutdown)', () => {
  async function manager(portal: { host: string; port: number }, settings: Record<string, string> = {}) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'session-lifecycle-'));
    dirs.push(dir);
    const db = new NodeDatabase({ stateDir: path.join(dir, 'state') });
    const where = `${portal.host}:${portal.port}`;
    db.upsertDiscovered(where, [{ targetName: TARGET, portals: [{ ...portal, portalGroupTag: 1 }] }]);
    db.update(TARGET, where, 'node.conn[0].timeo.noop_out_interval', '0');
    for (const [key, value] of Object.entries(settings)) db.update(TARGET, where, key, value);
    const secrets = await openSecretStore({ stateDir: path.join(dir, 'secrets') });
    const ended: LogoutOutcome[] = [];
    const m = new SessionManager(db, secrets, { stateChanged: () => {}, lunsChanged: () => {}, ended: (o) => ended.push(o) });
    return { m, ended, where };
  }

  it('two logins to one node at once: one session, the other ISCSI_SESSION_EXISTS before it opens a connection', { timeout: 15_000 }, async () => {
    const { target: t, logins } = await target({ answerLogout: true });
    const { m } = await manager(t.portal);
    const [a, b] = await Promise.allSettled([m.login(TARGET), m.login(TARGET)]);
    expect(a.status).toBe('fulfilled');
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'ISCSI_SESSION_EXISTS', message: expect.stringMatching(/already under way/) } });
    expect(logins()).toBe(1);
    expect(m.list()).toHaveLength(1);
    // Once the first is in, a later login is refused by the live session, and after its logout one may log in again.
    await expect(m.login(TARGET)).rejects.toMatchObject({ code: 'ISCSI_SESSION_EXISTS', message: expect.stringMatching(/already logged in/) });
    expect((await m.logoutAll()).map((o) => o.clean)).toEqual([true]);
    await m.login(TARGET);
    expect(await m.shutdown()).toEqual([expect.objectContaining({ clean: true, reason: 'logged out' })]);
  });

  it('shutdown with a target that never answers the Logout: done within logout_timeout, the session dropped and named', { timeout: 15_000 }, async () => {
    const { target: t } = await target({ answerLogout: false });
    const { m, ended, where } = await manager(t.portal, { 'node.conn[0].timeo.logout_timeout': '1' });
    await m.login(TARGET);
    const t0 = performance.now();
    const outcomes = await m.shutdown();
    const tookMs = performance.now() - t0;
    expect(tookMs).toBeLessThan(1_000 + 2_000); // the bound plus a margin for a loaded machine
    expect(outcomes).toEqual([expect.objectContaining({ targetName: TARGET, portal: where, clean: false })]);
    expect(ended).toEqual(outcomes);
    expect(m.list()).toEqual([]);
    // Stopping: no new login starts.
    await expect(m.login(TARGET)).rejects.toMatchObject({ code: 'ISCSI_SESSION_CLOSED' });
  });
});
