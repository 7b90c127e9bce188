import { ArgumentError, AuthError, IscsiError, TransportError, VolumeBusyError } from '../errors.js';
import { loginAuthFrom } from '../login/auth.js';
import { formatIsid } from '../login/isid.js';
import { IscsiSession } from '../net/session.js';
import { parsePortal } from '../portal.js';
import { flushLun } from '../scsi/flush.js';
import { scanLuns } from '../scsi/lun-scan.js';
import { isReportedLunsChanged } from '../scsi/sense-codes.js';
import type { SessionState } from '../session/session-events.js';
import { describeParameters } from '../text/negotiation.js';
import { hbaTargetKey } from '../hba/target-key.js';
import type { DaemonHba } from './hba-attachment.js';
import type { NodeDatabase, NodeRecord } from './node-db.js';
import type { NodeSessionSettings } from './node-settings.js';
import { findSecret, type SecretStore } from './secrets.js';
import type { DiskVolumes } from './volumes/disk-volumes.js';
import type { LunInfo, SessionDetails, SessionInfo, SessionStats } from '../rpc/types.js';

export type { LunInfo, SessionDetails, SessionInfo, SessionStats };

interface Managed {
  readonly sid: number;
  readonly node: NodeRecord;
  readonly session: IscsiSession;
  /** The node's logout_timeout: the bound on this session's whole logout. */
  readonly logoutTimeoutMs: number;
  luns: LunInfo[];
  /** Its HBA target, while attached (iscsid --hba). */
  targetId?: number;
  /** The logout under way: a second caller waits for the same one. */
  ending?: Promise<LogoutOutcome>;
}

/** A login under way: it holds its node (one login per node at a time) until it has a session or has failed. */
interface Reservation {
  readonly node: NodeRecord;
  readonly logoutTimeoutMs: number;
  /** Settles when the login does; with the outcome of its logout when the daemon began stopping meanwhile. */
  readonly settled: Promise<LogoutOutcome | undefined>;
}

/** How a session ended: logged out (SYNCHRONIZE CACHE, then Logout answered), or dropped, and why. */
export interface LogoutOutcome {
  /** Undefined for a login still under way when the daemon stopped. */
  readonly sid: number | undefined;
  readonly targetName: string;
  readonly portal: string;
  readonly clean: boolean;
  readonly reason: string;
}

export interface SessionManagerEvents {
  stateChanged(event: { sid: number; state: SessionState; reason: string }): void;
  lunsChanged(event: { sid: number; luns: LunInfo[] }): void;
  /** The HBA could not attach or detach a session's target (the session itself goes on). */
  hbaError?(event: { sid: number; error: string }): void;
  /** A session left the table: logged out, or dropped (the daemon logs it, naming the node). */
  ended?(outcome: LogoutOutcome): void;
  /** A session's volumes were let go before its target was destroyed: what was done, one line per step. */
  volumesReleased?(event: { sid: number; steps: string[] }): void;
  /** A forced logout or a stopping iscsid found volumes that would not let go: the target is destroyed under them anyway. */
  volumesLeftInUse?(event: { sid: number; error: string }): void;
}

/** How a session is logged out: asked to (by a client, forced or not), or because iscsid is stopping. */
export interface LogoutOptions {
  /** Unmount volumes even in use, and pass over processes using the disk (docs/api.md, sessions.logout). */
  readonly force?: boolean;
}

/**
 * Every session iscsid owns: logged in from node records (settings from the node database, secrets from the secret
 * store), recovering by themselves (ERL 0), numbered like open-iscsi's session ids, and logged out cleanly — SYNCHRONIZE
 * CACHE first — on request or when the daemon stops. The seam for the macOS driver bridge: `session(sid)` gives the
 * SCSI command path of a session, `lunsChanged` says when to attach or detach disks.
 */
export class SessionManager {
  private readonly sessions = new Map<number, Managed>();
  /** Logins under way, by node (nodeKey). */
  private readonly logins = new Map<string, Reservation>();
  private nextSid = 1;
  /** Set by `shutdown`: no new login starts, and one that finishes now is logged out again. */
  private closing = false;

  constructor(
    private readonly db: NodeDatabase,
    private readonly secrets: SecretStore,
    private readonly events: SessionManagerEvents,
    /** The HBA (iscsid --hba dext|simulator): each logged-in session becomes a target there. */
    private readonly hba?: DaemonHba,
    /** The volumes on the HBA's disks (DiskArbitration on macOS, the NBD exports' users under the simulator). */
    private readonly volumes?: DiskVolumes,
  ) {}

  /**
   * Logs in to a node. One login per node at a time: from its first step to its session (or failure) the login holds
   * the node, and a second one — the same batch, a double click, `-L all` racing the automatic logins — fails with
   * ISCSI_SESSION_EXISTS instead of opening a second session with the same ISID, which a target would take as
   * reinstatement and drop the first (RFC 7143 §6.3.5). Checked and taken with no await in between.
   */
  async login(targetName: string, portal?: string): Promise<SessionInfo> {
    if (this.closing) throw new TransportError('ISCSI_SESSION_CLOSED', 'iscsid is stopping: no new logins');
    const node = this.db.get(targetName, portal);
    if (!node) throw new ArgumentError('ISCSI_NODE_NOT_FOUND', `no node ${targetName}${portal ? ` at ${portal}` : ''}`, { hint: 'run discovery first' });
    const key = nodeKey(node);
    if (this.logins.has(key)) throw new ArgumentError('ISCSI_SESSION_EXISTS', `a login to ${node.targetName} at ${node.portal} is already under way`);
    for (const m of this.sessions.values()) {
      if (nodeKey(m.node) === key && !m.session.isClosed) {
        throw new ArgumentError('ISCSI_SESSION_EXISTS', `already logged in to ${node.targetName} at ${node.portal} (session ${m.sid})`);
      }
    }
    const settings = this.db.sessionSettings(node);
    let settle: (outcome: LogoutOutcome | undefined) => void = () => {};
    const settled = new Promise<LogoutOutcome | undefined>((resolve) => (settle = resolve));
    this.logins.set(key, { node, logoutTimeoutMs: settings.logoutTimeoutMs, settled });
    try {
      const managed = await this.open(node, settings);
      if (this.closing) {
        // The daemon began stopping while this login ran: the session it opened is logged out again at once.
        settle(await this.logout(managed.sid));
        throw new TransportError('ISCSI_SESSION_CLOSED', 'iscsid is stopping: the new session was logged out again');
      }
      await this.rescan(managed.sid).catch(() => {}); // a target with no LUN yet is still a session
      if (this.hba) await this.attachDisks(managed, this.hba);
      return this.info(managed);
    } finally {
      settle(undefined);
      this.logins.delete(key);
    }
  }

  private async open(node: NodeRecord, settings: NodeSessionSettings): Promise<Managed> {
    const ref = { targetName: node.targetName, portal: node.portal };
    const secret = await findSecret(this.secrets, { ...ref, kind: 'password' });
    const secretIn = await findSecret(this.secrets, { ...ref, kind: 'password_in' });
    if (settings.authMethod === 'CHAP' && (secret === undefined || settings.username === undefined)) {
      throw new AuthError('ISCSI_CHAP_MISSING_CREDENTIALS', `node ${node.targetName} uses CHAP but has no ${settings.username === undefined ? 'user name' : 'secret stored'}`, {
        hint: 'set node.session.auth.username, and store the secret: iscsiadm node -T IQN -o update -n node.session.auth.password (prompted)',
      });
    }
    const auth =
      settings.authMethod === 'CHAP'
        ? loginAuthFrom({
            user: settings.username,
            secret,
            targetUser: settings.usernameIn,
            targetSecret: settings.usernameIn === undefined ? undefined : secretIn,
            chapAlgorithms: settings.chapAlgorithms,
          })
        : { method: 'None' as const };
    const session = await IscsiSession.open({
      portal: parsePortal(node.portal),
      initiatorName: this.db.initiator().name,
      initiatorAlias: this.db.initiator().alias,
      targetName: node.targetName,
      auth,
      proposal: settings.proposal,
      queueDepth: settings.queueDepth,
      replacementTimeoutMs: settings.replacementTimeoutMs,
      noopOutIntervalMs: settings.noopOutIntervalMs,
      noopOutTimeoutMs: settings.noopOutTimeoutMs,
      loginTimeoutMs: settings.loginTimeoutMs,
      connectTimeoutMs: settings.loginTimeoutMs,
      logoutTimeoutMs: settings.logoutTimeoutMs,
    });
    const sid = this.nextSid++;
    const managed: Managed = { sid, node, session, logoutTimeoutMs: settings.logoutTimeoutMs, luns: [] };
    this.sessions.set(sid, managed);
    session.on((event) => {
      if (event.type === 'state') {
        // The end of the session is announced by logout() itself, once it is out of the table.
        if (event.state !== 'logged-out') this.events.stateChanged({ sid, state: event.state, reason: event.reason });
      } else if (event.type === 'scsi-event' && isReportedLunsChanged(event.sense)) {
        void this.rescan(sid).catch(() => {});
      }
    });
    this.events.stateChanged({ sid, state: 'logged-in', reason: 'logged in' });
    return managed;
  }

  /**
   * Logs one session out, SYNCHRONIZE CACHE on each LUN first so the target has written what it acknowledged, within
   * the node's logout_timeout (open-iscsi's, 15 s by default). Recovery stops first: a connection lost now ends the
   * session instead of being replaced. A session that cannot log out in time (a frozen target) is dropped: its
   * connection is closed without a Logout, and the outcome says so. Before all that, with an HBA, its LUNs' volumes are
   * let go (releaseVolumes): a busy one refuses the logout with VolumeBusyError unless `force`.
   */
  logout(sid: number, options: LogoutOptions = {}): Promise<LogoutOutcome> {
    return this.logoutAs(this.managed(sid), { force: options.force === true, stopping: false });
  }

  /**
   * Every session at once, each within its own bound. A session whose volumes refuse stays logged in while the others
   * log out; the call then fails with the first refusal (ISCSI_VOLUME_BUSY).
   */
  async logoutAll(options: LogoutOptions = {}): Promise<LogoutOutcome[]> {
    const settled = await Promise.allSettled([...this.sessions.keys()].map((sid) => this.logout(sid, options)));
    const refused = settled.find((r) => r.status === 'rejected');
    if (refused) throw refused.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<LogoutOutcome>).value);
  }

  /**
   * One logout per session: a second caller waits for the one under way. One refused (a busy volume) is forgotten, so
   * the next caller — iscsid stopping, or the same client with force — starts its own.
   */
  private logoutAs(m: Managed, how: { force: boolean; stopping: boolean }): Promise<LogoutOutcome> {
    if (m.ending) return how.stopping ? m.ending.catch(() => this.logoutAs(m, how)) : m.ending;
    const ending = this.end(m, how);
    m.ending = ending;
    ending.catch(() => {
      if (m.ending === ending) m.ending = undefined;
    });
    return ending;
  }

  /** The live sessions, for the host's sleep and network policies. */
  liveSessions(): IscsiSession[] {
    return [...this.sessions.values()].map((m) => m.session).filter((s) => !s.isClosed);
  }

  /**
   * The daemon is stopping: no new login starts, every session's recovery stops, and every session logs out in
   * parallel within its logout_timeout (dropped after it). A login still under way is waited for as long as its
   * node's logout_timeout, then logged out again; one that is not done by then is abandoned (sid undefined).
   */
  async shutdown(): Promise<LogoutOutcome[]> {
    this.closing = true;
    for (const m of this.sessions.values()) m.session.stopRecovery();
    const pending = [...this.logins.values()].map(async (r): Promise<LogoutOutcome | undefined> => {
      const late = await withinBound(r.settled, r.logoutTimeoutMs);
      if (late !== TIMED_OUT) return late;
      const outcome = { sid: undefined, targetName: r.node.targetName, portal: r.node.portal, clean: false, reason: `login still under way after ${r.logoutTimeoutMs} ms: abandoned` };
      this.events.ended?.(outcome);
      return outcome;
    });
    const all = [...this.sessions.values()].map((m) => this.logoutAs(m, { force: true, stopping: true }));
    const outcomes = await Promise.all([Promise.all(all), Promise.all(pending)]);
    return [...outcomes[0], ...outcomes[1].filter((o) => o !== undefined)];
  }

  private async end(m: Managed, how: { force: boolean; stopping: boolean }): Promise<LogoutOutcome> {
    // Volumes first, while the session still serves their I/O: an unmount writes what the file system holds.
    await this.releaseVolumes(m, how);
    m.session.stopRecovery();
    const result = await withinBound(this.flushAndLogout(m), m.logoutTimeoutMs);
    let reason: string;
    if (result === TIMED_OUT) {
      reason = `no logout within ${m.logoutTimeoutMs} ms (logout_timeout): dropped`;
      m.session.destroy(new TransportError('ISCSI_LOGOUT_TIMEOUT', reason));
    } else {
      reason = result;
    }
    const clean = result !== TIMED_OUT && m.session.state === 'logged-out';
    this.sessions.delete(m.sid);
    this.events.stateChanged({ sid: m.sid, state: 'logged-out', reason: clean ? 'logged out' : reason });
    const outcome: LogoutOutcome = { sid: m.sid, targetName: m.node.targetName, portal: m.node.portal, clean, reason: clean ? 'logged out' : reason };
    this.events.ended?.(outcome);
    return outcome;
  }

  /**
   * The session's target in the HBA (issue 12: "each logged-in session gets a target in the HBA"), keyed by target name
   * and portal group tag so a reconnect or a restarted daemon gets the same disk; then, bounded, its LUNs' disks.
   * A failure leaves the session logged in without disks, and says so.
   */
  private async attachDisks(m: Managed, hba: DaemonHba): Promise<void> {
    try {
      m.targetId = await hba.attachSession(hbaTargetKey(m.node.targetName, m.node.portalGroupTag), m.session);
      await hba.waitForDisks(m.targetId, m.luns.map((l) => l.lun));
      m.luns = this.withDisks(m, m.luns);
    } catch (e) {
      this.events.hbaError?.({ sid: m.sid, error: e instanceof IscsiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e) });
    }
  }

  private withDisks(m: Managed, luns: readonly LunInfo[]): LunInfo[] {
    const targetId = m.targetId;
    const hba = this.hba;
    if (targetId === undefined || !hba) return luns.map((l) => ({ ...l, disk: null, mountPoints: [] }));
    return luns.map((l) => {
      let view: { disk?: string; mountPoints: readonly string[] } = { mountPoints: [] };
      try {
        view = this.volumes?.view(targetId, l.lun) ?? view;
      } catch {
        // what the platform could not tell is shown as nothing mounted; a logout asks again
      }
      return { ...l, disk: view.disk ?? hba.disk(targetId, l.lun), mountPoints: [...view.mountPoints] };
    });
  }

  /**
   * Issue 12: "Logout and iscsid shutdown unmount the LUNs' volumes first … A busy volume refuses the logout with a
   * clear error naming it, unless forced." Bounded by the node's logout_timeout: an unmount whose writes wait for a
   * recovering session does not hold the logout forever. A client's logout that is refused (or not done in time,
   * unforced) throws VolumeBusyError before anything that would end the session. A stopping iscsid forces the
   * unmount, and when even that fails it destroys the target anyway — as the disk of a stopped dext would vanish —
   * and says so loudly.
   */
  private async releaseVolumes(m: Managed, how: { force: boolean; stopping: boolean }): Promise<void> {
    const targetId = m.targetId;
    if (!this.volumes || targetId === undefined) return;
    const release = this.volumes.release(targetId, m.luns.map((l) => l.lun), { force: how.force }).then(
      (steps) => ({ steps }),
      (error: unknown) => ({ error }),
    );
    const result = await withinBound(release, m.logoutTimeoutMs);
    let error: unknown;
    if (result === TIMED_OUT) {
      const late = `the unmount did not finish within ${m.logoutTimeoutMs} ms (logout_timeout)`;
      if (!how.force) throw new VolumeBusyError({ disk: `HBA target ${targetId}`, holder: late });
      error = new Error(`${late}: the target goes anyway`);
    } else if ('error' in result) {
      error = result.error;
    } else {
      if (result.steps.length > 0) this.events.volumesReleased?.({ sid: m.sid, steps: result.steps });
      return;
    }
    if (!how.stopping && error instanceof VolumeBusyError) throw error;
    if (!how.stopping && !how.force) throw error;
    this.events.volumesLeftInUse?.({ sid: m.sid, error: error instanceof IscsiError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error) });
  }

  /** The HBA target goes first (its tasks aborted, the disk gone), then SYNCHRONIZE CACHE on every LUN, then Logout. */
  private async flushAndLogout(m: Managed): Promise<string> {
    if (this.hba && m.targetId !== undefined) {
      const targetId = m.targetId;
      m.targetId = undefined;
      await this.hba.detachSession(targetId).catch((e: unknown) => this.events.hbaError?.({ sid: m.sid, error: e instanceof Error ? e.message : String(e) }));
    }
    if (m.session.state === 'logged-in') {
      for (const lun of m.luns) await flushLun(m.session, lun.lun).catch(() => {});
    }
    const before = m.session.isClosed ? m.session.stateReason : undefined;
    try {
      await m.session.logout();
    } catch (e) {
      return `logout failed: ${e instanceof IscsiError ? `${e.code} ${e.message}` : String(e)}`;
    }
    return before === undefined ? (m.session.state === 'logged-out' ? 'logged out' : `not logged out: ${m.session.stateReason}`) : `not logged out: ${before}`;
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((m) => this.info(m));
  }

  get(sid: number): SessionDetails {
    const m = this.managed(sid);
    return { ...this.info(m), parameters: describeParameters(m.session.parameters), counters: this.stats(sid), luns: this.withDisks(m, m.luns) };
  }

  stats(sid: number): SessionStats {
    const m = this.managed(sid);
    const c = m.session.counters;
    return {
      sid,
      commands: c.commands,
      bytesRead: c.bytesRead,
      bytesWritten: c.bytesWritten,
      reconnects: c.reconnects,
      retriedCommands: c.retriedCommands,
      digestErrors: c.digestErrors,
      timeouts: c.timeouts,
      hba: (m.targetId === undefined ? undefined : this.hba?.stats(m.targetId)) ?? null,
      at: new Date().toISOString(),
    };
  }

  /** REPORT LUNS, then INQUIRY (+ serial) and READ CAPACITY 16 for each LUN (SPC-4, SBC-3). */
  async rescan(sid: number): Promise<LunInfo[]> {
    const m = this.managed(sid);
    const luns: LunInfo[] = this.withDisks(m, (await scanLuns(m.session)).map((l) => ({ ...l, sizeBytes: l.sizeBytes.toString(), disk: null, mountPoints: [] })));
    const changed = JSON.stringify(luns) !== JSON.stringify(m.luns);
    m.luns = luns;
    if (changed) this.events.lunsChanged({ sid, luns });
    return luns;
  }

  /** The SCSI command path of a session: the seam where the macOS driver bridge attaches its task rings. */
  session(sid: number): IscsiSession {
    return this.managed(sid).session;
  }

  private managed(sid: number): Managed {
    const m = this.sessions.get(sid);
    if (!m) throw new ArgumentError('ISCSI_SESSION_NOT_FOUND', `no session ${sid}`, { hint: 'list sessions with `iscsiadm session`' });
    return m;
  }

  private info(m: Managed): SessionInfo {
    return {
      sid: m.sid,
      targetName: m.node.targetName,
      portal: m.node.portal,
      portalGroupTag: m.node.portalGroupTag,
      state: m.session.state,
      reason: m.session.stateReason,
      tsih: m.session.tsih,
      isid: formatIsid(m.session.login.isid),
    };
  }
}

/** One node: a target at one portal. */
function nodeKey(node: { targetName: string; portal: string }): string {
  return `${node.targetName}\u0000${node.portal}`;
}

const TIMED_OUT = Symbol('timed out');

/** `work`'s result, or TIMED_OUT once `ms` have passed (the work itself goes on; the caller ends it). */
async function withinBound<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)));
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}
