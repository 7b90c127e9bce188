import { ArgumentError, AuthError } from '../errors.js';
import { loginAuthFrom } from '../login/auth.js';
import { formatIsid } from '../login/isid.js';
import { IscsiSession } from '../net/session.js';
import { parsePortal } from '../portal.js';
import { flushLun } from '../scsi/flush.js';
import { scanLuns } from '../scsi/lun-scan.js';
import { isReportedLunsChanged } from '../scsi/sense-codes.js';
import type { SessionState } from '../session/session-events.js';
import { describeParameters } from '../text/negotiation.js';
import type { NodeDatabase, NodeRecord } from './node-db.js';
import { findSecret, type SecretStore } from './secrets.js';
import type { LunInfo, SessionDetails, SessionInfo, SessionStats } from '../rpc/types.js';

export type { LunInfo, SessionDetails, SessionInfo, SessionStats };

interface Managed {
  readonly sid: number;
  readonly node: NodeRecord;
  readonly session: IscsiSession;
  luns: LunInfo[];
}

export interface SessionManagerEvents {
  stateChanged(event: { sid: number; state: SessionState; reason: string }): void;
  lunsChanged(event: { sid: number; luns: LunInfo[] }): void;
}

/**
 * Every session iscsid owns: logged in from node records (settings from the node database, secrets from the secret
 * store), recovering by themselves (ERL 0), numbered like open-iscsi's session ids, and logged out cleanly — SYNCHRONIZE
 * CACHE first — on request or when the daemon stops. The seam for the macOS driver bridge: `session(sid)` gives the
 * SCSI command path of a session, `lunsChanged` says when to attach or detach disks.
 */
export class SessionManager {
  private readonly sessions = new Map<number, Managed>();
  private nextSid = 1;

  constructor(
    private readonly db: NodeDatabase,
    private readonly secrets: SecretStore,
    private readonly events: SessionManagerEvents,
  ) {}

  async login(targetName: string, portal?: string): Promise<SessionInfo> {
    const node = this.db.get(targetName, portal);
    if (!node) throw new ArgumentError('ISCSI_NODE_NOT_FOUND', `no node ${targetName}${portal ? ` at ${portal}` : ''}`, { hint: 'run discovery first' });
    for (const m of this.sessions.values()) {
      if (m.node.targetName === node.targetName && m.node.portal === node.portal && !m.session.isClosed) {
        throw new ArgumentError('ISCSI_SESSION_EXISTS', `already logged in to ${node.targetName} at ${node.portal} (session ${m.sid})`);
      }
    }
    const settings = this.db.sessionSettings(node);
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
    });
    const sid = this.nextSid++;
    const managed: Managed = { sid, node, session, luns: [] };
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
    await this.rescan(sid).catch(() => {}); // a target with no LUN yet is still a session
    return this.info(managed);
  }

  /** Logs one session out, SYNCHRONIZE CACHE on each LUN first so the target has written what it acknowledged. */
  async logout(sid: number): Promise<void> {
    const m = this.managed(sid);
    if (m.session.state === 'logged-in') {
      for (const lun of m.luns) await flushLun(m.session, lun.lun).catch(() => {});
    }
    await m.session.logout().catch(() => {});
    this.sessions.delete(sid);
    this.events.stateChanged({ sid, state: 'logged-out', reason: 'logged out' });
  }

  async logoutAll(): Promise<number> {
    const sids = [...this.sessions.keys()];
    await Promise.all(sids.map((sid) => this.logout(sid).catch(() => {})));
    return sids.length;
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((m) => this.info(m));
  }

  get(sid: number): SessionDetails {
    const m = this.managed(sid);
    return { ...this.info(m), parameters: describeParameters(m.session.parameters), counters: this.stats(sid), luns: m.luns };
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
      at: new Date().toISOString(),
    };
  }

  /** REPORT LUNS, then INQUIRY (+ serial) and READ CAPACITY 16 for each LUN (SPC-4, SBC-3). */
  async rescan(sid: number): Promise<LunInfo[]> {
    const m = this.managed(sid);
    const luns: LunInfo[] = (await scanLuns(m.session)).map((l) => ({ ...l, sizeBytes: l.sizeBytes.toString() }));
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
