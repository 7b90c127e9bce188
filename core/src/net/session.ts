import { DEFAULT_BUSY_RETRIES, DEFAULT_QUEUE_DEPTH, DEFAULT_TIMEOUTS, MAX_QUEUE_DEPTH } from '../defaults.js';
import { ArgumentError, IscsiError, TransportError } from '../errors.js';
import { deriveIsid } from '../login/isid.js';
import type { LoginAuth, LoginResult } from '../login/login-state-machine.js';
import { RESERVED_TAG } from '../pdu/types.js';
import { formatPortal, type Portal } from '../portal.js';
import { executeWithRetries, type RetryHooks, type ScsiCommandPath } from '../session/command-retry.js';
import { isFatalLoginError } from '../session/reconnect-policy.js';
import type { ScsiRequest, ScsiResult } from '../session/scsi-task.js';
import { SessionCore, type TaskState } from '../session/session-core.js';
import type { SessionCounters } from '../session/session-counters.js';
import type { SessionEvent, SessionState } from '../session/session-events.js';
import { TmfFunction } from '../session/task-management.js';
import type { TextPair } from '../text/text-codec.js';
import type { OperationalParameters, OperationalProposal } from '../text/negotiation.js';
import type { IscsiConnection } from './connection.js';
import { connectAndLogin, type LoggedIn, type LoginOptions } from './login.js';

export interface SessionOptions extends LoginOptions {
  readonly portal: Portal;
  readonly initiatorName: string;
  readonly initiatorAlias?: string | undefined;
  readonly sessionType?: 'Normal' | 'Discovery';
  readonly targetName?: string | undefined;
  readonly auth?: LoginAuth | undefined;
  readonly proposal?: OperationalProposal | undefined;
  /** First CmdSN of the session (tests start it near 2^32 to exercise wraparound). */
  readonly initialCmdSN?: number | undefined;
  /** Commands in flight at most (open-iscsi's node.session.queue_depth); more wait in order. */
  readonly queueDepth?: number | undefined;
  /** A command not answered in this time is aborted (ABORT TASK) and fails (the SCSI layer's 30 s); 0 = never. */
  readonly commandTimeoutMs?: number | undefined;
  /** How long a task management request may take before the connection is given up. */
  readonly taskManagementTimeoutMs?: number | undefined;
  /** BUSY / TASK SET FULL retries of `command()` (with exponential backoff from 5 ms to 1 s). */
  readonly busyRetries?: number | undefined;
  /** Logout Response wait (open-iscsi's logout_timeout). */
  readonly logoutTimeoutMs?: number | undefined;
  /** Send a NOP-Out ping after this long without any PDU from the target (open-iscsi's noop_out_interval); 0 = never. */
  readonly noopOutIntervalMs?: number | undefined;
  /** A ping unanswered this long fails the connection (noop_out_timeout). */
  readonly noopOutTimeoutMs?: number | undefined;
  /**
   * How long commands wait for a lost connection to come back before they fail (open-iscsi's
   * node.session.timeo.replacement_timeout), measured from each command's first loss; 0 = fail at once; negative =
   * wait forever.
   */
  readonly replacementTimeoutMs?: number | undefined;
  /** Re-logins in a row in which no command completed before the waiting commands fail (ISCSI_RECOVERY_NO_PROGRESS). */
  readonly maxReloginsWithoutProgress?: number | undefined;
  /** Cap of the reconnect backoff. */
  readonly reconnectMaxDelayMs?: number | undefined;
  /** Floor of the first reconnect wait when DefaultTime2Wait is 0. */
  readonly reconnectMinDelayMs?: number | undefined;
  /** false: the first lost connection ends the session (discovery sessions; tests of a single connection). Default true. */
  readonly reconnect?: boolean | undefined;
  /** Send coalescing at deep queues (session/send-coalescing.ts): less CPU per I/O, at some IOPS. Default false. */
  readonly coalesce?: boolean | undefined;
}


/**
 * An iSCSI session (RFC 7143, MaxConnections=1) that survives its connections (§6.3.5, §7.1, error recovery level
 * 0): the I/O-free SessionCore holds the queue, the tasks and the counters; this class gives it a connection, a
 * clock (one timer calling `tick`) and a reconnect loop. When the connection fails it logs in again — same ISID, TSIH
 * 0, i.e. session reinstatement — with backoff and jitter starting at DefaultTime2Wait, and the core re-issues, in
 * their original order and with fresh ITTs and CmdSNs, every command not yet completed. A command completes only with
 * a response from a live connection; commands fail after replacement_timeout, or once re-logins stop making progress;
 * a login refused for good (wrong secret, target gone) stops the retrying and says why.
 */
export class IscsiSession implements ScsiCommandPath {
  private readonly core: SessionCore;
  private connection: IscsiConnection | undefined;
  private lastLogin: LoggedIn;
  private readonly sweeper: NodeJS.Timeout;
  private stopping = false;
  /** False once `stopRecovery` was called: a lost connection then ends the session instead of being replaced. */
  private recovery = true;
  private reconnecting: Promise<void> | undefined;
  private wakeReconnect: (() => void) | undefined;
  private readonly retryHooks: RetryHooks;

  private constructor(
    first: LoggedIn,
    readonly options: SessionOptions,
  ) {
    const tickMs = SessionCore.tickIntervalFor(options);
    this.core = new SessionCore({ ...options, tickIntervalMs: tickMs }, Date.now());
    this.lastLogin = first;
    this.retryHooks = {
      busyRetries: options.busyRetries ?? DEFAULT_BUSY_RETRIES,
      onUnitAttention: (lun, sense) => {
        this.core.counters.unitAttentions++;
        this.core.emit({ type: 'unit-attention', lun, sense });
      },
      onBusyRetry: () => {
        this.core.counters.busyRetries++;
      },
    };
    this.sweeper = setInterval(() => this.core.tick(Date.now()), tickMs);
    this.sweeper.unref();
    this.core.on((event) => {
      if (event.type === 'closed') clearInterval(this.sweeper);
    });
    this.attach(first);
  }

  /** The first login is not retried: a caller learns at once that the target is wrong or unreachable. */
  static async open(options: SessionOptions): Promise<IscsiSession> {
    const queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    if (!Number.isInteger(queueDepth) || queueDepth < 1 || queueDepth > MAX_QUEUE_DEPTH) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `queue depth ${queueDepth} is not a whole number from 1 to ${MAX_QUEUE_DEPTH}`);
    }
    return new IscsiSession(await login(options), options);
  }

  get state(): SessionState {
    return this.core.state;
  }

  get stateReason(): string {
    return this.core.stateReason;
  }

  /** The parameters of the current (or last) connection's login. */
  get parameters(): OperationalParameters {
    return this.lastLogin.result.parameters;
  }

  get login(): LoginResult {
    return this.lastLogin.result;
  }

  /** Where the session is logged in, after redirections. */
  get portal(): Portal {
    return this.lastLogin.portal;
  }

  get tsih(): number {
    return this.lastLogin.result.tsih;
  }

  /** True once the session has ended for good: logged out, or failed without hope of recovery. */
  get isClosed(): boolean {
    return this.core.isClosed;
  }

  /** Across every connection of the session. */
  get counters(): Readonly<SessionCounters> {
    return this.core.counters;
  }

  /** Numbers for a session view: the command window and status numbering. */
  get numbering(): { cmdSN: number; expCmdSN: number; maxCmdSN: number; expStatSN: number } {
    return this.core.numbering;
  }

  /** Commands on the wire now. */
  get inFlight(): number {
    return this.core.inFlight;
  }

  /** Commands waiting for a slot (queue depth), the target's window, or a connection. */
  get queued(): number {
    return this.core.queued;
  }

  /** Commands accepted and not yet completed, on the wire or waiting. */
  get outstanding(): number {
    return this.core.outstanding;
  }

  get queueDepth(): number {
    return this.core.queueDepth;
  }

  on(listener: (event: SessionEvent) => void): () => void {
    return this.core.on(listener);
  }

  /**
   * Runs one SCSI command to completion and resolves with whatever SCSI status it ended with. Rejects on timeout
   * (after aborting the task), when a task management function ended it, or when recovery gave up. `tag` is the
   * caller's own name for the task (see `abort` and `taskState`).
   */
  execute(request: ScsiRequest, tag?: number): Promise<ScsiResult> {
    return this.core.execute(request, tag);
  }

  /**
   * Like execute, but a status other than GOOD becomes a ScsiError with the decoded sense, a UNIT ATTENTION is
   * surfaced and retried, and BUSY / TASK SET FULL are retried with backoff (see executeWithRetries).
   */
  command(request: ScsiRequest): Promise<ScsiResult> {
    return executeWithRetries(this.executeOnce, request, this.retryHooks);
  }

  /** One closure for every command() (none per call on the hot path). */
  private readonly executeOnce = (request: ScsiRequest): Promise<ScsiResult> => this.core.execute(request);

  /** Where the task the caller tagged `tag` is: queued, in flight, aborting, or done. */
  taskState(tag: number): TaskState {
    return this.core.taskState(tag);
  }

  /** Aborts the one task the caller tagged `tag` (ABORT TASK, §11.5.1, if it is on the wire). */
  abort(tag: number): Promise<number> {
    return this.core.abort(tag);
  }

  /** ABORT TASK (§11.5.1) for one command on the wire, by its ITT; resolves with the TMF response. */
  abortTask(itt: number): Promise<number> {
    return this.core.abortTask(itt);
  }

  abortTaskSet(lun: number): Promise<number> {
    return this.core.taskManagement(TmfFunction.AbortTaskSet, lun);
  }

  lunReset(lun: number): Promise<number> {
    return this.core.taskManagement(TmfFunction.LogicalUnitReset, lun);
  }

  targetWarmReset(): Promise<number> {
    return this.core.taskManagement(TmfFunction.TargetWarmReset, 0);
  }

  taskManagement(fn: number, lun: number, referencedTaskTag = RESERVED_TAG, refCmdSN?: number): Promise<number> {
    return this.core.taskManagement(fn, lun, referencedTaskTag, refCmdSN);
  }

  /** A Text Request/Response exchange (§11.10, §11.11), following continuations. */
  textRequest(pairs: readonly TextPair[]): Promise<TextPair[]> {
    return this.core.textRequest(pairs);
  }

  /**
   * Logs out (or, while recovering, stops trying): what is outstanding may finish first (bounded by the logout
   * timeout; not with reconnect: false), then Logout with reason "close the session" (§11.14); commands still
   * pending fail with ISCSI_SESSION_CLOSED.
   */
  async logout(): Promise<void> {
    if (this.core.isClosed) return;
    if (this.stopping) {
      await new Promise<void>((resolve) => this.core.on((e) => e.type === 'closed' && resolve()));
      return;
    }
    this.stopping = true;
    this.wakeReconnect?.();
    let error: IscsiError | undefined;
    if (this.core.isConnected) {
      // Let what is outstanding finish first (bounded), so a logout does not cut a write short — unless the session
      // is one connection's (reconnect: false), which logs out at once as a plain connection would.
      if (this.options.reconnect !== false) await this.core.drained(this.options.logoutTimeoutMs ?? DEFAULT_TIMEOUTS.logoutMs);
      await this.core.logout().catch((e: IscsiError) => (error = e));
    }
    await this.reconnecting?.catch(() => {});
    this.core.end('logged-out', undefined);
    // The session is over either way; a refused or unanswered logout is still worth knowing.
    if (error && (error.code === 'ISCSI_LOGOUT_FAILED' || error.code === 'ISCSI_LOGOUT_TIMEOUT')) throw error;
  }

  /** Ends the session at once, without a logout (tests; a daemon shutting down hard). */
  destroy(error?: IscsiError): void {
    this.stopping = true;
    this.wakeReconnect?.();
    this.core.end(error ? 'failed' : 'logged-out', error ?? new TransportError('ISCSI_SESSION_CLOSED', 'session closed'));
  }

  /**
   * From now on a lost connection ends the session instead of being replaced (a daemon shutting down must not keep
   * reconnecting): a reconnect under way is abandoned, and a session that has no connection now ends at once.
   */
  stopRecovery(): void {
    this.recovery = false;
    this.wakeReconnect?.();
    if (!this.core.isClosed && !this.core.isConnected) this.core.end('failed', new TransportError('ISCSI_SESSION_CLOSED', 'recovery stopped while the connection was down'));
  }

  /**
   * Before the host sleeps (issue 12): NOP-Out pings stop (a ping unanswered across the sleep must not fail the
   * connection), and resolves once nothing is outstanding or after `timeoutMs` (measured by the session's tick).
   * Commands are not held back meanwhile: the sleeping system stops issuing them itself.
   */
  async quiesce(timeoutMs: number): Promise<void> {
    this.core.pauseKeepAlive();
    await this.core.drained(timeoutMs);
  }

  /** After wake: pings start again, the first at the next tick, so a stale connection fails within noop_out_timeout. */
  resumeKeepAlive(): void {
    this.core.resumeKeepAlive(Date.now());
  }

  /** Whether a connection is up now (false while recovering). */
  get isConnected(): boolean {
    return this.core.isConnected;
  }

  get keepAlivePaused(): boolean {
    return this.core.keepAlivePaused;
  }

  /** A reconnect waiting out its backoff tries at once (the network came back); otherwise nothing. */
  retryNow(): void {
    this.wakeReconnect?.();
  }

  /** Drops the connection as a failure would; the session recovers (tests, and the daemon when the host sleeps). */
  dropConnection(reason = 'connection dropped'): void {
    this.connection?.close(new TransportError('ISCSI_CONNECTION_FAILED', reason));
  }

  private attach(loggedIn: LoggedIn): void {
    const connection = loggedIn.connection;
    this.connection = connection;
    this.lastLogin = loggedIn;
    const core = this.core;
    connection.onPdu = (pdu) => core.receive(pdu);
    connection.onClose = (error) => this.lost(connection, error);
    // Digests and our receive limit apply from the full feature phase on (RFC 7143 §13.1, §13.12).
    const p = loggedIn.result.parameters;
    connection.configure({
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      maxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
      placeData: (itt, offset, length) => core.placement(itt, offset, length),
    });
    // Digests first (what the core re-issues is encoded with them), then the core, then what the target sent already.
    core.attach(connection, loggedIn.result, Date.now());
    connection.resume();
  }

  private lost(connection: IscsiConnection, error: IscsiError | undefined): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    // Recovery stopped (and no logout under way to finish the session): the session ends with its connection.
    if (!this.recovery && !this.stopping) return this.core.end(error === undefined ? 'logged-out' : 'failed', error);
    if (this.core.connectionLost(error, Date.now()) === 'reconnect' && !this.stopping) this.reconnecting = this.reconnect();
  }

  private async reconnect(): Promise<void> {
    while (!this.stopping && this.recovery && !this.core.isClosed) {
      const wait = this.core.reconnectDelay();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wakeReconnect = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeReconnect = undefined;
      if (this.stopping || !this.recovery || this.core.isClosed) return;
      this.core.loggingIn();
      try {
        const loggedIn = await login(this.options);
        if (this.stopping || !this.recovery || this.core.isClosed) {
          loggedIn.connection.close();
          return;
        }
        this.attach(loggedIn);
        return;
      } catch (e) {
        const error = e instanceof IscsiError ? e : new TransportError('ISCSI_CONNECTION_FAILED', String(e));
        if (isFatalLoginError(error)) {
          this.stopping = true;
          this.core.end('failed', error);
          return;
        }
        this.core.loginFailed(error);
      }
    }
  }
}

/** Connects and logs in as `options` say: the ISID is derived, so every login of a session reinstates the same one. */
function login(options: SessionOptions): Promise<LoggedIn> {
  const sessionType = options.sessionType ?? 'Normal';
  const targetName = sessionType === 'Normal' ? options.targetName : undefined;
  return connectAndLogin(
    options.portal,
    () => ({
      initiatorName: options.initiatorName,
      initiatorAlias: options.initiatorAlias,
      sessionType,
      targetName,
      isid: deriveIsid(options.initiatorName, targetName ?? 'discovery', formatPortal(options.portal)),
      cmdSN: options.initialCmdSN ?? 1,
      auth: options.auth ?? { method: 'None' },
      proposal: options.proposal,
      itt: 0,
      cid: 0,
      tsih: 0,
    }),
    options,
  );
}
