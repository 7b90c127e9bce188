// The one module that talks to iscsid (shared/STYLE.md, "Raycast: one module owning the RPC client"): a typed
// RpcClient from @iscsi-initiator/core/rpc on the daemon's socket (docs/api.md), turned into the rows the views show.
// No iSCSI here: every action is one or a few daemon methods.
import {
  DEFAULT_TIMEOUTS,
  RPC_PROTOCOL_VERSION,
  RpcClient,
  type RpcMethod,
  type RpcParams,
  type RpcResult,
  type ParamsArg,
} from '@iscsi-initiator/core/rpc';
import { sessionMarkdown } from './details';
import type {
  BulkOutcome,
  DaemonProblem,
  DiscoveredTarget,
  LunInfo,
  LunRow,
  NodeRow,
  PortalGroup,
  SessionInfo,
  SessionRow,
} from './model';
import { incompatible, problemFrom } from './problem';
import { describeError } from './status';
import { ThroughputMeter } from './throughput';

/** The daemon is not there, refuses us, or speaks another protocol: the view shows `problem`, never a stack. */
export class DaemonUnavailableError extends Error {
  readonly problem: DaemonProblem;
  constructor(problem: DaemonProblem) {
    super(problem.message);
    this.name = 'DaemonUnavailableError';
    this.problem = problem;
  }
}

export interface Daemon {
  sessionRows(): Promise<SessionRow[]>;
  nodeGroups(): Promise<PortalGroup[]>;
  discover(portal: string, chap?: { username: string; secret: string }): Promise<DiscoveredTarget[]>;
  login(targetName: string, portal: string): Promise<SessionInfo>;
  /** Refused with IscsiError-like { code: 'ISCSI_VOLUME_BUSY' } when a volume is mounted, unless force. */
  logout(sid: number, options?: { force?: boolean }): Promise<void>;
  rescan(sid: number): Promise<LunInfo[]>;
  /** What `iscsiadm session -P 3` shows for this session, as markdown for a Detail view. */
  detailsMarkdown(sid: number): Promise<string>;
  setAutomatic(targetName: string, portal: string, on: boolean): Promise<void>;
  /** The secret goes to the daemon's secret store (secrets.set); never logged, never kept. */
  setChap(targetName: string, portal: string, credentials: { username: string; secret: string }): Promise<void>;
  deleteNode(targetName: string, portal: string): Promise<void>;
  loginAllAutomatic(): Promise<BulkOutcome>;
  logoutAll(): Promise<BulkOutcome>;
  /** Called on any session state / LUN / stats notification (events.subscribe); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  close(): void;
}

/** Connects (bounded); throws DaemonUnavailableError when iscsid is not there / refuses / wrong version. */
export async function openDaemon(socketPath: string): Promise<Daemon> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socketPath, { timeoutMs: DEFAULT_TIMEOUTS.rpcConnectMs });
  } catch (e) {
    throw unavailable(e, socketPath);
  }
  try {
    // docs/api.md, Versioning: call `version` first and refuse to go on with a protocol this client does not know.
    const version = await client.call('version');
    if (version?.name !== 'iscsid') throw new DaemonUnavailableError(incompatible(socketPath, 'is not iscsid'));
    if (version.protocol !== RPC_PROTOCOL_VERSION) {
      throw new DaemonUnavailableError(
        incompatible(socketPath, `speaks protocol ${version.protocol}; this extension speaks ${RPC_PROTOCOL_VERSION}`),
      );
    }
  } catch (e) {
    client.close();
    throw unavailable(e, socketPath);
  }
  return new DaemonConnection(client, socketPath);
}

/** The DaemonUnavailableError an error means, or the error itself when the daemon is there and said no. */
function unavailable(error: unknown, socketPath: string): unknown {
  if (error instanceof DaemonUnavailableError) return error;
  const problem = problemFrom(error, socketPath);
  return problem === undefined ? error : new DaemonUnavailableError(problem);
}

/** A node's identity in the daemon: target name and portal. */
const nodeKey = (targetName: string, portal: string) => `${targetName}\u0000${portal}`;

/** A session still holding (or regaining) its node; 'failed' and 'logged-out' ones are history. */
const isLive = (s: SessionInfo) => s.state === 'logged-in' || s.state === 'recovering' || s.state === 'logging-in';

/** LunInfo.mountPoints (docs/api.md): the mounted volumes of the LUN's disk, from iscsid's volume probe. */
function mountPointsOf(lun: LunInfo): readonly string[] {
  return lun.mountPoints ?? [];
}

function lunRow(lun: LunInfo): LunRow {
  return { lun, disk: lun.disk, mountPoints: mountPointsOf(lun) };
}

class DaemonConnection implements Daemon {
  private readonly meter = new ThroughputMeter();
  private readonly listeners = new Set<() => void>();
  private subscribed: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly client: RpcClient,
    private readonly socketPath: string,
  ) {
    client.onNotification((n) => {
      if (n.method === 'session.stats') this.meter.add(n.params);
      else if (n.method === 'session.stateChanged' && n.params.state === 'logged-out') this.meter.forget(n.params.sid);
      this.emit();
    });
    // The daemon went away while a view was open: tell it, so it re-reads and shows the problem screen.
    client.onClose(() => {
      if (!this.closed) this.emit();
    });
  }

  private emit(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // A view's listener failing must not stop the others, nor reach the socket's event handler.
      }
    }
  }

  /** One call of the contract; a connection that is gone becomes DaemonUnavailableError (the problem screen). */
  private async call<M extends RpcMethod>(method: M, ...params: ParamsArg<M>): Promise<RpcResult<M>> {
    try {
      return await this.client.call(method, ...params);
    } catch (e) {
      throw unavailable(e, this.socketPath);
    }
  }

  /** events.subscribe once, on the first view that needs live data (throughput, state changes). */
  private subscribe(): Promise<void> {
    this.subscribed ??= this.call('events.subscribe').then(
      () => undefined,
      (e: unknown) => {
        this.subscribed = undefined;
        throw e;
      },
    );
    return this.subscribed;
  }

  async sessionRows(): Promise<SessionRow[]> {
    await this.subscribe();
    const sessions = await this.call('sessions.list');
    const rows = await Promise.all(
      sessions.map(async (session): Promise<SessionRow | undefined> => {
        let luns: LunInfo[];
        try {
          luns = (await this.call('sessions.get', { sid: session.sid })).luns;
        } catch (e) {
          // Gone between the list and now (logged out meanwhile): not a row any more.
          if ((e as { code?: unknown }).code === 'ISCSI_SESSION_NOT_FOUND') return undefined;
          throw e;
        }
        const { readBps, writeBps } =
          session.state === 'logged-in' || session.state === 'recovering'
            ? this.meter.rates(session.sid)
            : { readBps: null, writeBps: null };
        return { session, luns: luns.map(lunRow), readBps, writeBps };
      }),
    );
    return rows.filter((r): r is SessionRow => r !== undefined).sort((a, b) => a.session.sid - b.session.sid);
  }

  async nodeGroups(): Promise<PortalGroup[]> {
    await this.subscribe();
    // One call (docs/api.md nodes.status): each node with its session and whether CHAP is ready.
    const rows = (await this.call('nodes.status')).map((s): NodeRow => ({
      node: s.node,
      automatic: s.node.settings['node.startup'] === 'automatic',
      chapConfigured: s.chapConfigured,
      session: s.session,
    }));
    const groups = new Map<string, NodeRow[]>();
    for (const row of rows) groups.set(row.node.portal, [...(groups.get(row.node.portal) ?? []), row]);
    return [...groups.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([portal, nodes]) => ({
        portal,
        nodes: nodes.sort((a, b) => a.node.targetName.localeCompare(b.node.targetName)),
      }));
  }

  async discover(portal: string, chap?: { username: string; secret: string }): Promise<DiscoveredTarget[]> {
    if (chap !== undefined) {
      // The discovery secret of this portal (docs/api.md, secrets.set with targetName ""); the username picks CHAP.
      await this.call('secrets.set', { targetName: '', portal, kind: 'password', secret: chap.secret });
    }
    const result = await this.call(
      'discovery.sendTargets',
      chap === undefined ? { portal } : { portal, username: chap.username },
    );
    return result.targets;
  }

  login(targetName: string, portal: string): Promise<SessionInfo> {
    return this.call('sessions.login', { targetName, portal });
  }

  async logout(sid: number, options: { force?: boolean } = {}): Promise<void> {
    // `force` (unmount forcibly; docs/api.md sessions.logout) is sent only when asked for.
    const params: RpcParams<'sessions.logout'> = options.force === true ? { sid, force: true } : { sid };
    await this.call('sessions.logout', params);
  }

  async rescan(sid: number): Promise<LunInfo[]> {
    return (await this.call('sessions.rescan', { sid })).luns;
  }

  async detailsMarkdown(sid: number): Promise<string> {
    const [details, initiator] = await Promise.all([this.call('sessions.get', { sid }), this.call('initiator.get')]);
    // The node may have been deleted since the login: then there are no timeouts to show, and that is all.
    const node = await this.call('nodes.get', { targetName: details.targetName, portal: details.portal }).catch(
      () => undefined,
    );
    return sessionMarkdown({
      details,
      settings: node?.settings,
      initiatorName: initiator.name,
      mountPoints: new Map(details.luns.map((l) => [l.lun, mountPointsOf(l)])),
    });
  }

  async setAutomatic(targetName: string, portal: string, on: boolean): Promise<void> {
    await this.call('nodes.update', { targetName, portal, key: 'node.startup', value: on ? 'automatic' : 'manual' });
  }

  async setChap(targetName: string, portal: string, credentials: { username: string; secret: string }): Promise<void> {
    // The secret first: if the store refuses it, the node keeps logging in as before.
    await this.call('secrets.set', { targetName, portal, kind: 'password', secret: credentials.secret });
    await this.call('nodes.update', {
      targetName,
      portal,
      key: 'node.session.auth.username',
      value: credentials.username,
    });
    await this.call('nodes.update', { targetName, portal, key: 'node.session.auth.authmethod', value: 'CHAP' });
  }

  async deleteNode(targetName: string, portal: string): Promise<void> {
    await this.call('nodes.delete', { targetName, portal });
  }

  async loginAllAutomatic(): Promise<BulkOutcome> {
    const [nodes, sessions] = await Promise.all([this.call('nodes.list'), this.call('sessions.list')]);
    const live = new Set(sessions.filter(isLive).map((s) => nodeKey(s.targetName, s.portal)));
    const todo = nodes.filter(
      (n) => n.settings['node.startup'] === 'automatic' && !live.has(nodeKey(n.targetName, n.portal)),
    );
    return bulk(
      todo.map((n) => ({ name: `${n.targetName} at ${n.portal}`, run: () => this.login(n.targetName, n.portal) })),
      // Logged in by someone else meanwhile (the daemon's own automatic logins at start): the goal is met.
      (e) => (e as { code?: unknown }).code === 'ISCSI_SESSION_EXISTS',
    );
  }

  async logoutAll(): Promise<BulkOutcome> {
    const sessions = (await this.call('sessions.list')).filter(isLive);
    // One logout per session rather than `all: true`: each failure (a busy volume) is reported by name.
    return bulk(
      sessions.map((s) => ({ name: s.targetName, run: () => this.logout(s.sid) })),
      (e) => (e as { code?: unknown }).code === 'ISCSI_SESSION_NOT_FOUND',
    );
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    // Live updates need the subscription; a failure shows up on the view's next read, not here.
    this.subscribe().catch(() => {});
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.client.close();
  }
}

/**
 * Runs actions in parallel and counts them. An error for which `done` says the goal is met anyway is a success; the
 * daemon going away fails the whole bulk action (the problem screen, not a list of N identical failures).
 */
async function bulk(
  actions: ReadonlyArray<{ name: string; run: () => Promise<unknown> }>,
  done: (e: unknown) => boolean,
): Promise<BulkOutcome> {
  const results = await Promise.allSettled(actions.map((a) => a.run()));
  const gone = results.find((r) => r.status === 'rejected' && r.reason instanceof DaemonUnavailableError);
  if (gone?.status === 'rejected') throw gone.reason;
  let succeeded = 0;
  const failed: Array<{ name: string; error: string }> = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled' || done(r.reason)) succeeded++;
    else failed.push({ name: actions[i]!.name, error: describeError(r.reason) });
  });
  return { succeeded, failed };
}
