import { DEFAULT_TIMEOUTS } from '../defaults.js';
import { IscsiError, TransportError } from '../errors.js';
import type { LoginResult } from '../login/login-state-machine.js';
import type { Portal } from '../portal.js';
import { executeWithRetries, type RetryHooks, type ScsiCommandPath } from '../session/command-retry.js';
import { isFatalLoginError, ReconnectBackoff } from '../session/reconnect-policy.js';
import type { ScsiRequest, ScsiResult } from '../session/scsi-task.js';
import type { OperationalParameters } from '../text/negotiation.js';
import { IscsiSession, type SessionEvent, type SessionOptions } from './session.js';

export interface RecoveryOptions {
  /**
   * How long commands wait for a lost connection to come back before they fail (open-iscsi's
   * node.session.timeo.replacement_timeout): default 120 s; 0 = fail at once; negative = wait forever.
   */
  readonly replacementTimeoutMs?: number | undefined;
  /** Cap of the reconnect backoff. Default 30 s. */
  readonly reconnectMaxDelayMs?: number | undefined;
  /** Floor of the first reconnect wait when DefaultTime2Wait is 0. Default 100 ms. */
  readonly reconnectMinDelayMs?: number | undefined;
}

export type RecoveringSessionOptions = SessionOptions & RecoveryOptions;

export type SessionState = 'logging-in' | 'logged-in' | 'recovering' | 'failed' | 'logged-out';

export type RecoveringSessionEvent =
  | { readonly type: 'state'; readonly state: SessionState; readonly reason: string; readonly error?: IscsiError | undefined }
  | Exclude<SessionEvent, { type: 'closed' }>;

interface PendingCommand {
  readonly request: ScsiRequest;
  resolve(result: ScsiResult): void;
  reject(error: IscsiError): void;
  /** The connection incarnation it is on the wire with, if any. */
  on: IscsiSession | undefined;
  done: boolean;
}

/**
 * A session that survives its connection (RFC 7143 §6.3.5, §7.1, error recovery level 0): when the connection fails
 * it logs in again — same ISID, TSIH 0, i.e. session reinstatement, so the target ends the old session — with
 * backoff and jitter starting at DefaultTime2Wait, and re-issues, in their original order and with fresh ITTs and
 * CmdSNs, every command not yet completed. A command completes only with a response from a live connection, so a
 * write reported done is never lost and a read never returns data from a failed connection. Commands fail only after
 * replacement_timeout; a login refused for good (wrong secret, target gone) stops the retrying and says why.
 */
export class RecoveringSession implements ScsiCommandPath {
  private inner: IscsiSession;
  private currentState: SessionState = 'logged-in';
  private reason = 'logged in';
  private readonly pending = new Set<PendingCommand>();
  private readonly listeners = new Set<(event: RecoveringSessionEvent) => void>();
  private readonly backoff: ReconnectBackoff;
  private replacementTimer: NodeJS.Timeout | undefined;
  /** Past replacement_timeout while still down: new commands fail at once until the connection is back. */
  private failFast = false;
  private stopping = false;
  private reconnecting: Promise<void> | undefined;
  private wakeReconnect: (() => void) | undefined;
  private nextWaitHintMs: number | undefined;
  private terminalError: IscsiError | undefined;
  /** Across every connection incarnation. */
  readonly counters = { reconnects: 0, retriedCommands: 0, digestErrors: 0, timeouts: 0, connectionFailures: 0 };
  private readonly retryHooks: RetryHooks;
  private readonly drainWaiters = new Set<() => void>();

  private constructor(
    first: IscsiSession,
    readonly options: RecoveringSessionOptions,
  ) {
    this.inner = first;
    const time2WaitMs = first.parameters.defaultTime2Wait * 1000;
    this.backoff = new ReconnectBackoff({
      initialMs: Math.max(options.reconnectMinDelayMs ?? DEFAULT_TIMEOUTS.reconnectMinDelayMs, time2WaitMs),
      maxMs: Math.max(options.reconnectMaxDelayMs ?? DEFAULT_TIMEOUTS.reconnectMaxDelayMs, options.reconnectMinDelayMs ?? DEFAULT_TIMEOUTS.reconnectMinDelayMs),
    });
    this.retryHooks = {
      busyRetries: options.busyRetries ?? 10,
      onUnitAttention: (lun, sense) => this.emit({ type: 'unit-attention', lun, sense }),
      onBusyRetry: () => {},
    };
    this.attach(first);
  }

  /** The first login is not retried: a caller learns at once that the target is wrong or unreachable. */
  static async open(options: RecoveringSessionOptions): Promise<RecoveringSession> {
    return new RecoveringSession(await IscsiSession.open(options), options);
  }

  get state(): SessionState {
    return this.currentState;
  }

  get stateReason(): string {
    return this.reason;
  }

  /** The connection incarnation in use (or the last one, while recovering). */
  get session(): IscsiSession {
    return this.inner;
  }

  get parameters(): OperationalParameters {
    return this.inner.parameters;
  }

  get login(): LoginResult {
    return this.inner.login;
  }

  get portal(): Portal {
    return this.inner.portal;
  }

  get tsih(): number {
    return this.inner.tsih;
  }

  /** True once the session has ended for good: logged out, or failed without hope of recovery. */
  get isClosed(): boolean {
    return this.terminalError !== undefined;
  }

  /** Commands accepted and not yet completed, on the wire or waiting for a connection. */
  get outstanding(): number {
    return this.pending.size;
  }

  on(listener: (event: RecoveringSessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  execute(request: ScsiRequest): Promise<ScsiResult> {
    if (this.terminalError) return Promise.reject(this.terminalError);
    if (this.currentState !== 'logged-in' && this.failFast) return Promise.reject(this.replacementError());
    return new Promise<ScsiResult>((resolve, reject) => {
      const command: PendingCommand = { request, resolve, reject, on: undefined, done: false };
      this.pending.add(command);
      if (this.currentState === 'logged-in') this.dispatch(command);
    });
  }

  /** execute() plus the UNIT ATTENTION and BUSY handling of IscsiSession.command(). */
  command(request: ScsiRequest): Promise<ScsiResult> {
    return executeWithRetries((r) => this.execute(r), request, this.retryHooks);
  }

  /** Logs out (or, while recovering, stops trying); pending commands fail with ISCSI_SESSION_CLOSED. */
  async logout(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wakeReconnect?.();
    const error = new TransportError('ISCSI_SESSION_CLOSED', 'session logged out');
    // Let what is on the wire finish first (bounded), so a logout does not cut a write short.
    if (this.currentState === 'logged-in') await this.drained(this.options.logoutTimeoutMs ?? DEFAULT_TIMEOUTS.logoutMs);
    if (!this.inner.isClosed) await this.inner.logout().catch(() => this.inner.destroy());
    await this.reconnecting?.catch(() => {});
    this.finish('logged-out', 'logged out', error);
  }

  /** Drops the connection as a failure would (tests, and the daemon when the host sleeps). */
  dropConnection(reason = 'connection dropped'): void {
    this.inner.destroy(new TransportError('ISCSI_CONNECTION_FAILED', reason));
  }

  private dispatch(command: PendingCommand): void {
    const session = this.inner;
    command.on = session;
    session.execute(command.request).then(
      (result) => this.complete(command, result),
      (error: IscsiError) => {
        // A command that died with its connection waits for the next one (the 'closed' event, emitted before this
        // rejection is handled, has started recovery); any other failure is the command's own.
        if (session.isClosed && !this.stopping && !this.terminalError) {
          command.on = undefined;
          return;
        }
        this.fail(command, error);
      },
    );
  }

  /** Resolves when no command is outstanding, or after `timeoutMs`. */
  private drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.drainWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.drainWaiters.add(done);
    });
  }

  private complete(command: PendingCommand, result: ScsiResult): void {
    if (command.done) return;
    command.done = true;
    this.pending.delete(command);
    command.resolve(result);
    this.notifyDrain();
  }

  private fail(command: PendingCommand, error: IscsiError): void {
    if (command.done) return;
    command.done = true;
    this.pending.delete(command);
    command.reject(error);
    this.notifyDrain();
  }

  private notifyDrain(): void {
    if (this.pending.size === 0) for (const done of [...this.drainWaiters]) done();
  }

  private attach(session: IscsiSession): void {
    session.on((event) => {
      if (event.type !== 'closed') {
        if (event.type === 'connection-drop') this.nextWaitHintMs = event.time2Wait * 1000;
        this.emit(event);
        return;
      }
      if (session !== this.inner || this.stopping) return;
      const error = event.error ?? new TransportError('ISCSI_SESSION_CLOSED', 'the target ended the session (logout requested)');
      this.connectionLost(error);
    });
  }

  private connectionLost(error: IscsiError): void {
    this.counters.connectionFailures++;
    if (error.code === 'ISCSI_PDU_HEADER_DIGEST' || error.code === 'ISCSI_PDU_DATA_DIGEST') this.counters.digestErrors++;
    if (error.code === 'ISCSI_TIMEOUT') this.counters.timeouts++;
    for (const command of this.pending) command.on = undefined;
    this.setState('recovering', `connection lost: ${error.message}`, error);
    const replacementMs = this.options.replacementTimeoutMs ?? DEFAULT_TIMEOUTS.replacementMs;
    if (replacementMs === 0) {
      this.failFast = true;
      this.failAll(this.replacementError());
    } else if (replacementMs > 0) {
      this.replacementTimer = setTimeout(() => {
        this.failFast = true;
        this.failAll(this.replacementError());
      }, replacementMs);
      this.replacementTimer.unref();
    }
    this.reconnecting = this.reconnect();
  }

  private async reconnect(): Promise<void> {
    this.backoff.reset();
    while (!this.stopping) {
      const wait = Math.max(this.backoff.next(), this.nextWaitHintMs ?? 0);
      this.nextWaitHintMs = undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wakeReconnect = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeReconnect = undefined;
      if (this.stopping) return;
      this.setState('logging-in', `reconnect attempt ${this.backoff.attempts}`);
      try {
        const session = await IscsiSession.open(this.options);
        if (this.stopping) {
          await session.logout().catch(() => session.destroy());
          return;
        }
        this.recovered(session);
        return;
      } catch (e) {
        const error = e instanceof IscsiError ? e : new TransportError('ISCSI_CONNECTION_FAILED', String(e));
        if (isFatalLoginError(error)) {
          this.finish('failed', `login refused for good: ${error.message}`, error);
          return;
        }
        this.setState('recovering', `reconnect attempt ${this.backoff.attempts} failed: ${error.message}`, error);
      }
    }
  }

  private recovered(session: IscsiSession): void {
    clearTimeout(this.replacementTimer);
    this.failFast = false;
    this.inner = session;
    this.counters.reconnects++;
    this.attach(session);
    this.setState('logged-in', 'recovered: logged in again');
    // Re-issue, in the order they were first submitted (a Set iterates in insertion order), what is not done.
    for (const command of this.pending) {
      if (command.on === undefined) {
        this.counters.retriedCommands++;
        this.dispatch(command);
      }
    }
  }

  private failAll(error: IscsiError): void {
    for (const command of [...this.pending]) if (command.on === undefined) this.fail(command, error);
  }

  private finish(state: 'failed' | 'logged-out', reason: string, error: IscsiError): void {
    clearTimeout(this.replacementTimer);
    this.terminalError = error;
    for (const command of [...this.pending]) this.fail(command, error);
    this.setState(state, reason, error);
  }

  private replacementError(): IscsiError {
    const ms = this.options.replacementTimeoutMs ?? DEFAULT_TIMEOUTS.replacementMs;
    return new TransportError(
      'ISCSI_TIMEOUT',
      ms === 0 ? 'connection to the target lost (replacement_timeout is 0: commands fail at once)' : `target unreachable for ${ms / 1000} s (replacement_timeout)`,
      { hint: 'the session keeps trying to reconnect; check the network and the target' },
    );
  }

  private setState(state: SessionState, reason: string, error?: IscsiError): void {
    this.currentState = state;
    this.reason = reason;
    this.emit({ type: 'state', state, reason, error });
  }

  private emit(event: RecoveringSessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
