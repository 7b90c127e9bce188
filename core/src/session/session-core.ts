import { DEFAULT_MAX_RELOGINS_WITHOUT_PROGRESS, DEFAULT_QUEUE_DEPTH, DEFAULT_TIMEOUTS } from '../defaults.js';
import { ArgumentError, IscsiError, ProtocolError, ScsiError, TransportError } from '../errors.js';
import type { LoginResult } from '../login/login-state-machine.js';
import {
  Opcode,
  RESERVED_TAG,
  type AsyncMessage,
  type InitiatorPdu,
  type NopIn,
  type Pdu,
  type Reject,
  type TargetPdu,
  type TaskMgmtResponse,
  type TextResponse,
} from '../pdu/types.js';
import { decodeLun, encodeLun } from '../scsi/lun.js';
import { senseFromResponseData, type Sense } from '../scsi/sense.js';
import { checkDuplicates, encodeText, TextAssembler, type TextPair } from '../text/text-codec.js';
import { CommandQueue } from './command-queue.js';
import { CommandWindow } from './command-window.js';
import { rejectReasonName } from './reject-reason.js';
import { KeepAlive } from './keep-alive.js';
import { RecoveryProgress } from './recovery-progress.js';
import { sendCoalescingFor, type SendCoalescing } from './send-coalescing.js';
import { abortedError, hex2, neverSentError, noProgressError, replacementError, unexpectedPdu } from './session-errors.js';
import { ScsiTask, type ScsiRequest, type ScsiResult, type TransferLimits } from './scsi-task.js';
import { newSessionCounters, type SessionCounters } from './session-counters.js';
import type { SessionEvent, SessionState } from './session-events.js';
import { serialAdd, serialLt } from './serial.js';
import { tmfFunctionName, TmfFunction, TmfResponse, tmfResponseName, tmfScope } from './task-management.js';

/**
 * What the core needs of a connection: somewhere to put PDUs, and a way to end it. `IscsiConnection` is one as it
 * is; a test records what arrives. After `close`, whoever owns the connection calls `connectionLost`.
 */
export interface ConnectionPort {
  send(pdu: InitiatorPdu): void;
  sendAll(pdus: readonly InitiatorPdu[]): void;
  close(error?: IscsiError): void;
}

export interface SessionCoreOptions {
  /** Commands in flight at most; more wait in order. */
  readonly queueDepth?: number | undefined;
  /** A command not answered in this time is aborted (ABORT TASK) and fails; 0 = never. */
  readonly commandTimeoutMs?: number | undefined;
  readonly taskManagementTimeoutMs?: number | undefined;
  readonly logoutTimeoutMs?: number | undefined;
  /** NOP-Out ping after this long without a PDU from the target; 0 = never. */
  readonly noopOutIntervalMs?: number | undefined;
  readonly noopOutTimeoutMs?: number | undefined;
  /** How long commands wait for a lost connection to come back: 0 = fail at once; negative = forever. */
  readonly replacementTimeoutMs?: number | undefined;
  /** Re-logins in a row without a completed command before the waiting commands fail; negative = no bound. */
  readonly maxReloginsWithoutProgress?: number | undefined;
  readonly reconnectMinDelayMs?: number | undefined;
  readonly reconnectMaxDelayMs?: number | undefined;
  /** false: the first lost connection ends the session (discovery; tests of one connection). Default true. */
  readonly reconnect?: boolean | undefined;
  /** Send coalescing at deep queues (send-coalescing.ts). Default false: every command is sent at once. */
  readonly coalesce?: boolean | undefined;
  /**
   * The period of the caller's `tick` timer: deadlines are taken from the last tick's time (no clock read per
   * command) plus this much, so a timeout never fires early. 0 with a fake clock.
   */
  readonly tickIntervalMs?: number | undefined;
  /** Uniform [0, 1) for reconnect jitter. */
  readonly random?: (() => number) | undefined;
}

/** Where a task is, as a caller holding its external tag sees it; 'done' = not outstanding (or never submitted). */
export type TaskState = 'queued' | 'in-flight' | 'aborting' | 'done';

interface Settle<T> {
  resolve(value: T): void;
  reject(error: IscsiError): void;
}

interface CommandEntry extends Settle<ScsiResult> {
  readonly request: ScsiRequest;
  /** Submission order: re-issue after a lost connection keeps it. */
  readonly seq: number;
  readonly tag: number | undefined;
  /** Set while the command is on the wire of the current connection. */
  task: ScsiTask | undefined;
  cmdSN: number;
  deadline: number;
  /** An ABORT TASK for it is outstanding. */
  aborting: boolean;
  /** It ran past its deadline (then the abort's outcome is a timeout, not an abort the caller asked for). */
  timedOut: boolean;
  /** When the command first lost its connection (or was submitted while there was none); never reset. */
  lostAt: number;
}

interface TmfEntry extends Settle<number> {
  readonly fn: number;
  readonly lun: number;
  readonly referencedTaskTag: number;
  readonly deadline: number;
  /** Commands sent before the TMF, which a successful LUN/target-wide function terminates. */
  readonly covers: ReadonlySet<number>;
}

interface Connected {
  readonly port: ConnectionPort;
  readonly window: CommandWindow;
  readonly limits: TransferLimits;
  readonly login: LoginResult;
  expStatSN: number;
  /** New commands (and their unsolicited data) held back by send coalescing, in order; any other PDU sends them first. */
  held: InitiatorPdu[];
  heldCommands: number;
}

/**
 * The iSCSI session without I/O (RFC 7143, ERL 0, MaxConnections=1): one command queue, ITT allocation, the command
 * window, R2T/Data-Out scheduling (through ScsiTask), task management with zombie tags, NOP-Out pings, text
 * exchanges, async events, Reject routing, the logout handshake, every timeout and one set of counters. PDUs come in
 * through `receive`, time through `tick(now)`; PDUs go out through the attached ConnectionPort.
 *
 * The queue and the counters outlive connections: `connectionLost` puts unfinished commands back in submission order,
 * `attach` re-issues them with fresh ITTs and CmdSNs on the new connection. A command completes only with a response
 * from a live connection; it fails after replacement_timeout from its first loss, or once re-logins stop making
 * progress; a session told not to reconnect ends with its connection.
 */
export class SessionCore {
  private conn: Connected | undefined;
  /** The last connection's numbers stay visible while the session recovers. */
  private lastConn: Connected | undefined;
  private nextItt = 1;
  private nextSeq = 0;
  /** Commands on the wire, by ITT. */
  private readonly commands = new Map<number, CommandEntry>();
  private readonly queue = new CommandQueue<CommandEntry>();
  /** Commands the caller named with its own tag (the HBA bridge's driver tags); only those, so no churn otherwise. */
  private readonly tagged = new Map<number, CommandEntry>();
  private readonly tmfs = new Map<number, TmfEntry>();
  /** Tags of tasks we gave up on whose abort the target refused: never reused, their late PDUs dropped. */
  private readonly zombies = new Set<number>();
  private text: (Settle<TextPair[]> & { itt: number; assembler: TextAssembler }) | undefined;
  private logoutWaiter: (Settle<void> & { itt: number; deadline: number; done: Promise<void> }) | undefined;
  /** Draining before a logout: no new command starts; the logout goes out when none is in flight or at the deadline. */
  private drain: { deadline: number; requested: boolean; waiters: Settle<void>[] } | undefined;
  private currentState: SessionState = 'logging-in';
  private reason = 'logging in';
  private terminal: IscsiError | undefined;
  /** Past replacement_timeout while down: new commands fail at once until a connection is back. */
  private failFast = false;
  private downSince: number | undefined;
  private everConnected = false;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly progress: RecoveryProgress;
  /** The time of the last tick or event that carried one: deadlines are set from it (no clock read per command). */
  private now = 0;
  private readonly keepAlive: KeepAlive;
  readonly counters: SessionCounters = newSessionCounters();
  readonly queueDepth: number;
  private readonly commandTimeoutMs: number;
  private readonly tmfTimeoutMs: number;
  private readonly logoutTimeoutMs: number;
  readonly replacementTimeoutMs: number;
  private readonly reconnect: boolean;
  private readonly slackMs: number;
  private readonly coalescing: SendCoalescing | undefined;

  constructor(options: SessionCoreOptions = {}, now = 0) {
    this.queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_TIMEOUTS.commandMs;
    this.tmfTimeoutMs = options.taskManagementTimeoutMs ?? DEFAULT_TIMEOUTS.taskManagementMs;
    this.logoutTimeoutMs = options.logoutTimeoutMs ?? DEFAULT_TIMEOUTS.logoutMs;
    this.keepAlive = new KeepAlive(options.noopOutIntervalMs ?? DEFAULT_TIMEOUTS.noopOutIntervalMs, options.noopOutTimeoutMs ?? DEFAULT_TIMEOUTS.noopOutTimeoutMs);
    this.replacementTimeoutMs = options.replacementTimeoutMs ?? DEFAULT_TIMEOUTS.replacementMs;
    this.reconnect = options.reconnect ?? true;
    this.slackMs = options.tickIntervalMs ?? 0;
    this.coalescing = options.coalesce === true ? sendCoalescingFor(this.queueDepth) : undefined;
    this.progress = new RecoveryProgress({
      maxReloginsWithoutProgress: options.maxReloginsWithoutProgress ?? DEFAULT_MAX_RELOGINS_WITHOUT_PROGRESS,
      reconnectMinDelayMs: options.reconnectMinDelayMs ?? DEFAULT_TIMEOUTS.reconnectMinDelayMs,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_TIMEOUTS.reconnectMaxDelayMs,
      random: options.random,
    });
    this.now = now;
  }

  /** The period a driver should call `tick` with: fine enough for the shortest timeout, at most once a second. */
  static tickIntervalFor(options: SessionCoreOptions): number {
    const noopInterval = options.noopOutIntervalMs ?? DEFAULT_TIMEOUTS.noopOutIntervalMs;
    const noopTimeout = options.noopOutTimeoutMs ?? DEFAULT_TIMEOUTS.noopOutTimeoutMs;
    const noopTick = noopInterval > 0 ? Math.min(noopInterval, noopTimeout) / 10 : Infinity;
    const commandMs = options.commandTimeoutMs ?? DEFAULT_TIMEOUTS.commandMs;
    const tmfMs = options.taskManagementTimeoutMs ?? DEFAULT_TIMEOUTS.taskManagementMs;
    const replacement = options.replacementTimeoutMs ?? DEFAULT_TIMEOUTS.replacementMs;
    const replacementTick = replacement > 0 ? replacement / 10 : Infinity;
    return Math.max(20, Math.min(1000, Math.min(commandMs || 1000, tmfMs) / 4, noopTick, replacementTick));
  }

  // ---- state ----------------------------------------------------------------------------------------------------

  get state(): SessionState {
    return this.currentState;
  }

  get stateReason(): string {
    return this.reason;
  }

  /** The error the session ended with, once it has ended for good. */
  get endedWith(): IscsiError | undefined {
    return this.terminal;
  }

  get isClosed(): boolean {
    return this.terminal !== undefined;
  }

  get isConnected(): boolean {
    return this.conn !== undefined;
  }

  /** Commands on the wire now. */
  get inFlight(): number {
    return this.commands.size;
  }

  /** Commands waiting: for a slot (queue depth), the target's window, or a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /** Commands accepted and not yet completed. */
  get outstanding(): number {
    return this.commands.size + this.queue.length;
  }

  get reloginsWithoutProgress(): number {
    return this.progress.reloginsWithoutProgress;
  }

  /** Numbers for a session view: the command window and status numbering (the last connection's while recovering). */
  get numbering(): { cmdSN: number; expCmdSN: number; maxCmdSN: number; expStatSN: number } {
    const c = this.conn ?? this.lastConn;
    if (!c) return { cmdSN: 0, expCmdSN: 0, maxCmdSN: 0, expStatSN: 0 };
    return { cmdSN: c.window.cmdSN, expCmdSN: c.window.expCmdSN, maxCmdSN: c.window.maxCmdSN, expStatSN: c.expStatSN };
  }

  on(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  // ---- connections ----------------------------------------------------------------------------------------------

  /**
   * A connection reached the full feature phase: the window and limits come from its login; every waiting command —
   * those a lost connection left unfinished first, in submission order — goes out with a fresh ITT and CmdSN.
   */
  attach(port: ConnectionPort, login: LoginResult, now: number): void {
    if (this.terminal) throw new TransportError('ISCSI_SESSION_CLOSED', 'the session has ended');
    this.now = now;
    const p = login.parameters;
    this.conn = {
      port,
      window: new CommandWindow(login.cmdSN, login.expCmdSN, login.maxCmdSN),
      limits: {
        maxXmitDataSegmentLength: p.maxXmitDataSegmentLength,
        firstBurstLength: p.firstBurstLength,
        maxBurstLength: p.maxBurstLength,
        immediateData: p.immediateData,
        initialR2T: p.initialR2T,
      },
      login,
      expStatSN: login.expStatSN,
      held: [],
      heldCommands: 0,
    };
    this.lastConn = this.conn;
    this.keepAlive.reset(now);
    this.failFast = false;
    const recovered = this.everConnected;
    this.progress.connected(this.counters.commands, p.defaultTime2Wait, recovered);
    this.everConnected = true;
    if (recovered) {
      this.counters.reconnects++;
      if (this.downSince !== undefined) this.counters.recoveryMs += Math.max(0, now - this.downSince);
      this.counters.retriedCommands += this.queue.length;
    }
    this.downSince = undefined;
    const deadline = this.commandDeadline();
    for (const entry of this.queue) entry.deadline = deadline;
    this.setState('logged-in', recovered ? 'recovered: logged in again' : 'logged in');
    this.pump();
  }

  /** The connection's login parameters, while there is one. */
  get login(): LoginResult | undefined {
    return this.conn?.login;
  }

  /**
   * The connection is gone (closed by us, the target or the network). Unfinished commands go back to the queue in
   * submission order; what belonged to the connection (TMFs, text, ping, zombie tags) fails or is forgotten.
   * Returns what the driver should do: log in again, or nothing (the session has ended).
   */
  connectionLost(error: IscsiError | undefined, now: number): 'reconnect' | 'ended' {
    this.now = now;
    const conn = this.conn;
    if (!conn) return this.terminal ? 'ended' : 'reconnect';
    this.conn = undefined;
    const failure = error ?? new TransportError('ISCSI_SESSION_CLOSED', 'the target ended the session (logout requested)');
    this.keepAlive.reset(now);
    this.zombies.clear(); // §6.3.5: session reinstatement ends every task of the old connection at the target
    this.failConnectionWaiters(failure);
    const draining = this.drain;
    this.drain = undefined;
    for (const waiter of draining?.waiters ?? []) waiter.resolve();
    // replacement_timeout runs from a command's first loss; only a connection on which commands completed (progress)
    // gives the commands still waiting a fresh one.
    const outcome = this.progress.lost(this.counters.commands, this.commands.size + this.queue.length);
    const fresh = outcome === 'progress';
    const returning: CommandEntry[] = [];
    for (const entry of this.commands.values()) {
      entry.task = undefined;
      entry.aborting = false;
      entry.timedOut = false;
      entry.lostAt = fresh ? now : Math.min(entry.lostAt, now);
      returning.push(entry);
    }
    this.commands.clear();
    for (const entry of this.queue) entry.lostAt = fresh ? now : Math.min(entry.lostAt, now);
    if (!this.reconnect || this.terminal) {
      this.queue.merge(returning);
      this.end(error === undefined ? 'logged-out' : 'failed', error, failure);
      return 'ended';
    }
    this.counters.connectionFailures++;
    if (failure.code === 'ISCSI_PDU_HEADER_DIGEST' || failure.code === 'ISCSI_PDU_DATA_DIGEST') this.counters.digestErrors++;
    this.queue.merge(returning);
    this.downSince = now;
    this.setState('recovering', `connection lost: ${failure.message}`, failure);
    if (outcome === 'give-up') {
      const noProgress = noProgressError(this.progress.reloginsWithoutProgress);
      this.progress.gaveUp();
      this.counters.noProgressFailures++;
      this.failWaiting(noProgress);
    }
    if (this.replacementTimeoutMs === 0) {
      this.failFast = true;
      this.failWaiting(replacementError(this.replacementTimeoutMs));
    }
    return 'reconnect';
  }

  /** How long the driver waits before the next login attempt (backoff from DefaultTime2Wait, with jitter). */
  reconnectDelay(): number {
    return this.progress.nextDelay();
  }

  /** A reconnect attempt (a login) is under way. */
  loggingIn(): void {
    if (!this.terminal) this.setState('logging-in', `reconnect attempt ${this.progress.attempts}`);
  }

  /** A reconnect attempt failed and will be retried. */
  loginFailed(error: IscsiError): void {
    if (!this.terminal) this.setState('recovering', `reconnect attempt ${this.progress.attempts} failed: ${error.message}`, error);
  }

  /** Ends the session for good: every command, TMF and exchange fails with `error`. */
  end(state: 'failed' | 'logged-out', reason: IscsiError | undefined, failure: IscsiError = reason ?? new TransportError('ISCSI_SESSION_CLOSED', 'session logged out')): void {
    if (this.terminal) return;
    this.terminal = failure;
    if (this.downSince !== undefined) this.counters.recoveryMs += Math.max(0, this.now - this.downSince);
    this.downSince = undefined;
    const conn = this.conn;
    this.conn = undefined;
    for (const entry of this.commands.values()) entry.reject(failure);
    this.commands.clear();
    for (const entry of this.queue.drain()) entry.reject(failure);
    this.tagged.clear();
    this.failConnectionWaiters(failure);
    for (const waiter of this.drain?.waiters ?? []) waiter.resolve();
    this.drain = undefined;
    conn?.port.close(reason);
    this.setState(state, state === 'logged-out' ? 'logged out' : reason ? reason.message : 'session closed', reason);
    this.emit({ type: 'closed', error: reason });
  }

  // ---- commands -------------------------------------------------------------------------------------------------

  /**
   * Runs one SCSI command to completion and resolves with whatever SCSI status it ended with. `tag` is the caller's
   * own name for it (unique among its outstanding commands), for `abort` and `taskState`.
   */
  execute(request: ScsiRequest, tag?: number): Promise<ScsiResult> {
    if (this.terminal) return Promise.reject(this.terminal);
    if (this.failFast && !this.conn) return Promise.reject(replacementError(this.replacementTimeoutMs));
    if (tag !== undefined && this.tagged.has(tag)) {
      return Promise.reject(new ArgumentError('ISCSI_BAD_ARGUMENT', `task tag ${tag} is already outstanding`));
    }
    return new Promise<ScsiResult>((resolve, reject) => {
      const entry: CommandEntry = {
        request,
        seq: this.nextSeq++,
        tag,
        task: undefined,
        cmdSN: 0,
        deadline: this.conn ? this.commandDeadline() : Infinity,
        aborting: false,
        timedOut: false,
        lostAt: this.conn ? Infinity : (this.downSince ?? this.now),
        resolve,
        reject,
      };
      if (tag !== undefined) this.tagged.set(tag, entry);
      if (this.queue.length === 0 && this.canSend()) this.start(entry);
      else this.queue.push(entry);
    });
  }

  /** Where a caller's task is now. */
  taskState(tag: number): TaskState {
    const entry = this.tagged.get(tag);
    if (!entry) return 'done';
    if (entry.aborting) return 'aborting';
    return entry.task ? 'in-flight' : 'queued';
  }

  /**
   * Aborts one task by the caller's tag: a command not yet sent is taken out of the queue (no TMF needed); one on the
   * wire gets ABORT TASK (§11.5.1). Resolves with the TMF response (0 = function complete); the command itself fails
   * with ISCSI_TASK_ABORTED, or completes if its response won the race.
   */
  abort(tag: number): Promise<number> {
    const entry = this.tagged.get(tag);
    if (!entry) return Promise.reject(new ArgumentError('ISCSI_BAD_ARGUMENT', `no outstanding task with tag ${tag}`));
    if (!entry.task) {
      this.queue.remove(entry);
      this.settled(entry);
      entry.reject(new ScsiError('ISCSI_TASK_ABORTED', `SCSI command 0x${hex2(entry.request.cdb[0] ?? 0)} was aborted before it was sent`));
      return Promise.resolve(TmfResponse.FunctionComplete);
    }
    return this.taskManagement(TmfFunction.AbortTask, entry.request.lun, entry.task.itt, entry.cmdSN);
  }

  /** ABORT TASK (§11.5.1) for one command on the wire, by its ITT. */
  abortTask(itt: number): Promise<number> {
    const entry = this.commands.get(itt);
    if (!entry) return Promise.reject(new ArgumentError('ISCSI_BAD_ARGUMENT', `no command with ITT 0x${itt.toString(16)} in flight`));
    return this.taskManagement(TmfFunction.AbortTask, entry.request.lun, itt, entry.cmdSN);
  }

  /**
   * Sends a Task Management Function Request as an immediate command (§11.5) and resolves with its response code.
   * When a LUN- or target-wide function completes, the commands it covered are failed here: the target sends no
   * responses for the tasks it aborted.
   */
  taskManagement(fn: number, lun: number, referencedTaskTag = RESERVED_TAG, refCmdSN?: number): Promise<number> {
    if (this.terminal) return Promise.reject(this.terminal);
    const conn = this.conn;
    if (!conn) return Promise.reject(new TransportError('ISCSI_CONNECTION_CLOSED', `${tmfFunctionName(fn)} needs a connection; the session is recovering`));
    const itt = this.allocateItt();
    const scope = tmfScope(fn);
    const covers = new Set<number>();
    for (const [commandItt, entry] of this.commands) {
      if (scope === 'target' || (scope === 'lun' && entry.request.lun === lun)) covers.add(commandItt);
    }
    if (fn === TmfFunction.AbortTask) {
      const entry = this.commands.get(referencedTaskTag);
      if (entry) entry.aborting = true;
    }
    this.counters.taskManagement++;
    const done = new Promise<number>((resolve, reject) => {
      this.tmfs.set(itt, { fn, lun, referencedTaskTag, deadline: this.now + this.tmfTimeoutMs + this.slackMs, covers, resolve, reject });
    });
    this.send(conn, {
      opcode: Opcode.TaskMgmtRequest,
      immediate: true,
      function: fn,
      lun: encodeLun(lun),
      itt,
      referencedTaskTag,
      cmdSN: conn.window.cmdSN,
      expStatSN: conn.expStatSN,
      refCmdSN: refCmdSN ?? conn.window.cmdSN,
      expDataSN: 0,
    });
    return done;
  }

  /**
   * A Text Request/Response exchange (RFC 7143 §11.10, §11.11), following continuations: a response with C=1 or F=0
   * is answered by an empty request carrying the target's TTT until the final response.
   */
  textRequest(pairs: readonly TextPair[]): Promise<TextPair[]> {
    if (this.terminal) return Promise.reject(this.terminal);
    if (!this.conn) return Promise.reject(new TransportError('ISCSI_CONNECTION_CLOSED', 'a text exchange needs a connection; the session is recovering'));
    if (this.text) return Promise.reject(new ProtocolError('ISCSI_PDU_UNEXPECTED', 'a text exchange is already in progress'));
    const itt = this.allocateItt();
    const result = new Promise<TextPair[]>((resolve, reject) => {
      this.text = { itt, assembler: new TextAssembler(), resolve, reject };
    });
    this.sendText(itt, RESERVED_TAG, encodeText(pairs));
    return result;
  }

  /** Before the host sleeps (issue 12): no NOP-Out goes out and none times out until `resumeKeepAlive`. */
  pauseKeepAlive(): void {
    this.keepAlive.pause();
  }

  /** After wake: pings resume, the first at the next tick (it checks the connection at once). */
  resumeKeepAlive(now: number): void {
    this.now = now;
    this.keepAlive.resume(now);
  }

  get keepAlivePaused(): boolean {
    return this.keepAlive.isPaused;
  }

  /**
   * Waits (at most `timeoutMs`, measured by `tick`) until no command is outstanding; new commands are not started
   * meanwhile. Resolves at once without a connection.
   */
  drained(timeoutMs: number): Promise<void> {
    if (!this.conn || this.outstanding === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (!this.drain) this.drain = { deadline: this.now + timeoutMs + this.slackMs, requested: false, waiters: [] };
      this.drain.waiters.push({ resolve, reject });
      // Draining: nothing may wait in the coalescing hold for completions that are all that is left.
      if (this.conn!.heldCommands > 0) this.release(this.conn!);
    });
  }

  /**
   * Logout with reason "close the session" (§11.14). Resolves on the Logout Response; the driver then closes the
   * connection. Rejects with ISCSI_LOGOUT_TIMEOUT (the connection is ended) when none comes in time.
   */
  logout(): Promise<void> {
    const conn = this.conn;
    if (this.terminal || !conn) return Promise.resolve();
    // One logout at a time: a second caller (or ours while the target asked for one) waits for the same answer.
    if (this.logoutWaiter) return this.logoutWaiter.done;
    const itt = this.allocateItt();
    let settle: Settle<void> | undefined;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.logoutWaiter = { itt, deadline: this.now + this.logoutTimeoutMs + this.slackMs, done, ...settle! };
    this.send(conn, {
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reasonCode: 0,
      itt,
      cid: conn.login.cid,
      cmdSN: conn.window.cmdSN,
      expStatSN: conn.expStatSN,
    });
    return done;
  }

  /** Ends the connection with `error` (the driver reports it back through `connectionLost`). */
  dropConnection(error: IscsiError): void {
    this.conn?.port.close(error);
  }

  /** Where a Data-In payload for `itt` belongs, for direct placement by the framer. */
  placement(itt: number, offset: number, length: number): Buffer | undefined {
    return this.commands.get(itt)?.task?.placement(offset, length);
  }

  /** Where ITT allocation continues (tests: reach the 2^32 wrap, or a tag still in use, without 2^32 allocations). */
  seekItt(itt: number): void {
    this.nextItt = Math.min(Math.max(1, itt >>> 0), 0xfffffffe);
  }

  // ---- time -----------------------------------------------------------------------------------------------------

  /**
   * Housekeeping, from one timer: NOP-Out pings on an idle connection and their timeout (open-iscsi's
   * noop_out_interval and noop_out_timeout), command and task management timeouts, the logout wait, and while there
   * is no connection, replacement_timeout.
   */
  tick(now: number): void {
    this.now = now;
    if (this.terminal) return;
    const conn = this.conn;
    if (!conn) {
      this.tickRecovering(now);
      return;
    }
    // Nothing waits in the coalescing hold longer than a tick, whatever the target does.
    if (conn.heldCommands > 0) this.release(conn);
    const keepAlive = this.keepAlive.due(now);
    if (keepAlive === 'timeout') {
      this.counters.timeouts++;
      this.dropConnection(new TransportError('ISCSI_NOP_TIMEOUT', `the target did not answer a NOP-Out ping within ${this.keepAlive.timeoutMs} ms (noop_out_timeout)`));
      return;
    }
    if (this.logoutWaiter && now >= this.logoutWaiter.deadline) {
      const waiter = this.logoutWaiter;
      this.logoutWaiter = undefined;
      this.counters.timeouts++;
      const error = new TransportError('ISCSI_LOGOUT_TIMEOUT', `no Logout Response within ${this.logoutTimeoutMs} ms`);
      waiter.reject(error);
      this.dropConnection(error);
      return;
    }
    if (this.drain && now >= this.drain.deadline) this.drainDone();
    if (keepAlive === 'ping') this.sendPing(now);
    for (const [itt, entry] of this.commands) {
      if (entry.aborting || now < entry.deadline) continue;
      entry.timedOut = true;
      this.counters.timeouts++;
      this.emit({ type: 'command-timeout', itt, lun: entry.request.lun, opcode: entry.request.cdb[0] ?? 0 });
      this.taskManagement(TmfFunction.AbortTask, entry.request.lun, itt, entry.cmdSN).catch(() => {});
    }
    if (this.queue.length > 0 && this.commandTimeoutMs > 0) {
      for (const entry of this.queue.removeWhere((e) => now >= e.deadline)) {
        this.counters.timeouts++;
        this.settled(entry);
        entry.reject(
          neverSentError(entry.request.cdb[0] ?? 0, this.commandTimeoutMs),
        );
      }
    }
    for (const [itt, tmf] of this.tmfs) {
      if (now < tmf.deadline) continue;
      this.tmfs.delete(itt);
      this.counters.timeouts++;
      const error = new TransportError('ISCSI_TMF_TIMEOUT', `${tmfFunctionName(tmf.fn)} got no answer within ${this.tmfTimeoutMs} ms`);
      tmf.reject(error);
      // A target that does not answer task management cannot be trusted with this connection any more.
      this.dropConnection(error);
      return;
    }
  }

  private tickRecovering(now: number): void {
    if (this.replacementTimeoutMs < 0 || this.downSince === undefined) return;
    if (!this.failFast && now >= this.downSince + this.replacementTimeoutMs) this.failFast = true;
    // Each command's own deadline runs from when it first lost its connection: a login that made no progress does
    // not give it another replacement_timeout.
    const expired = this.queue.removeWhere((e) => now >= e.lostAt + this.replacementTimeoutMs);
    if (expired.length === 0) return;
    this.counters.timeouts++;
    const error = replacementError(this.replacementTimeoutMs);
    for (const entry of expired) {
      this.settled(entry);
      entry.reject(error);
    }
  }

  // ---- sending --------------------------------------------------------------------------------------------------

  private commandDeadline(): number {
    return this.commandTimeoutMs > 0 ? this.now + this.commandTimeoutMs + this.slackMs : Infinity;
  }

  private canSend(): boolean {
    const conn = this.conn;
    // A drain the target asked for (logout requested) starts nothing new; our own logout's drain lets the queue empty.
    return conn !== undefined && (this.drain === undefined || !this.drain.requested) && this.commands.size < this.queueDepth && conn.window.open;
  }

  private start(entry: CommandEntry): void {
    const conn = this.conn!;
    let task: ScsiTask;
    try {
      task = new ScsiTask(this.allocateItt(), entry.request, conn.limits);
    } catch (e) {
      this.settled(entry);
      entry.reject(e as IscsiError);
      return;
    }
    entry.task = task;
    entry.cmdSN = conn.window.take();
    this.commands.set(task.itt, entry);
    const { command, dataOut } = task.start(entry.cmdSN, conn.expStatSN);
    if (this.holding(conn)) {
      conn.held.push(command);
      for (const pdu of dataOut) conn.held.push(pdu);
      conn.heldCommands++;
    } else {
      this.send(conn, command);
      if (dataOut.length > 0) conn.port.sendAll(dataOut);
    }
  }

  /** What belongs to one connection and cannot move to the next: task management, a text exchange, the logout. */
  private failConnectionWaiters(failure: IscsiError): void {
    for (const tmf of this.tmfs.values()) tmf.reject(failure);
    this.tmfs.clear();
    this.text?.reject(failure);
    this.text = undefined;
    this.logoutWaiter?.reject(failure);
    this.logoutWaiter = undefined;
  }

  /** Whether a command starting now waits in the coalescing hold: the target has plenty to work on meanwhile. */
  private holding(conn: Connected): boolean {
    const c = this.coalescing;
    // this.commands already counts the command being started.
    return c !== undefined && this.drain === undefined && conn.heldCommands < c.batch && this.commands.size - 1 - conn.heldCommands >= c.lowWater;
  }

  /** Sends the held commands, in the order they were started (their CmdSNs are in that order). */
  private release(conn: Connected): void {
    const held = conn.held;
    conn.held = [];
    conn.heldCommands = 0;
    conn.port.sendAll(held);
  }

  /** Every PDU goes out after the held commands, so the wire order is the order of the calls. */
  private send(conn: Connected, pdu: InitiatorPdu): void {
    if (conn.heldCommands > 0) this.release(conn);
    conn.port.send(pdu);
  }

  private sendAll(conn: Connected, pdus: readonly InitiatorPdu[]): void {
    if (conn.heldCommands > 0) this.release(conn);
    conn.port.sendAll(pdus);
  }

  /** Sends queued commands while a slot and the window allow. */
  private pump(): void {
    while (this.queue.length > 0 && this.canSend()) this.start(this.queue.shift()!);
  }

  private sendPing(now: number): void {
    const conn = this.conn!;
    // §11.18: a NOP-Out with a valid ITT asks the target for a NOP-In; sent immediate so the window does not hold it.
    const itt = this.allocateItt();
    this.keepAlive.pinged(itt, now);
    this.send(conn, {
      opcode: Opcode.NopOut,
      immediate: true,
      lun: 0n,
      itt,
      ttt: RESERVED_TAG,
      cmdSN: conn.window.cmdSN,
      expStatSN: conn.expStatSN,
      data: Buffer.alloc(0),
    });
  }

  private sendText(itt: number, ttt: number, data: Buffer): void {
    const conn = this.conn!;
    this.send(conn, {
      opcode: Opcode.TextRequest,
      immediate: true,
      final: true,
      continue: false,
      lun: 0n,
      itt,
      ttt,
      cmdSN: conn.window.cmdSN,
      expStatSN: conn.expStatSN,
      data,
    });
  }

  // ---- receiving ------------------------------------------------------------------------------------------------

  /**
   * One PDU from the target. Throws a ProtocolError for a PDU that breaks the protocol; the connection that carried
   * it is then ended (IscsiConnection does that for whatever its handler throws).
   */
  receive(pdu: TargetPdu): void {
    const conn = this.conn;
    if (!conn) return;
    this.keepAlive.heard();
    this.acknowledge(conn, pdu);
    switch (pdu.opcode) {
      case Opcode.DataIn: {
        const entry = this.entry(pdu.itt, pdu);
        if (!entry) return;
        const result = entry.task!.onDataIn(pdu);
        if (result) this.finishCommand(pdu.itt, entry, result);
        return;
      }
      case Opcode.ScsiResponse: {
        const entry = this.entry(pdu.itt, pdu);
        if (!entry) return;
        let result: ScsiResult;
        try {
          result = entry.task!.onResponse(pdu);
        } catch (e) {
          this.failCommand(pdu.itt, entry, e as IscsiError);
          return;
        }
        this.finishCommand(pdu.itt, entry, result);
        return;
      }
      case Opcode.R2T: {
        const entry = this.entry(pdu.itt, pdu);
        if (!entry) return;
        this.sendAll(conn, entry.task!.onR2T(pdu, conn.expStatSN));
        return;
      }
      case Opcode.NopIn:
        return this.onNopIn(conn, pdu);
      case Opcode.TaskMgmtResponse:
        return this.onTaskMgmtResponse(pdu);
      case Opcode.TextResponse:
        return this.onTextResponse(pdu);
      case Opcode.LogoutResponse: {
        const waiter = this.logoutWaiter;
        if (!waiter || pdu.itt !== waiter.itt) throw unexpectedPdu(pdu);
        this.logoutWaiter = undefined;
        // §11.15.1: response 0 = closed successfully; others mean the target could not close it cleanly.
        if (pdu.response === 0) waiter.resolve();
        else waiter.reject(new TransportError('ISCSI_LOGOUT_FAILED', `logout refused with response ${pdu.response}`));
        return;
      }
      case Opcode.AsyncMessage:
        return this.onAsyncMessage(pdu);
      case Opcode.Reject:
        return this.onReject(pdu);
      default:
        throw unexpectedPdu(pdu);
    }
  }

  /** §4.2.2: StatSN acknowledgement and the command window from every PDU that carries them. */
  private acknowledge(conn: Connected, pdu: TargetPdu): void {
    if (!('maxCmdSN' in pdu)) return;
    if (conn.window.update(pdu.expCmdSN, pdu.maxCmdSN)) this.pump();
    // NOP-In with a reserved ITT and R2T carry StatSN without advancing it (§11.19.3, §11.8.3); Data-In only with S.
    const advances =
      pdu.opcode === Opcode.NopIn ? pdu.itt !== RESERVED_TAG : pdu.opcode === Opcode.R2T ? false : pdu.opcode === Opcode.DataIn ? pdu.statusPresent : true;
    if (advances && !serialLt(pdu.statSN, conn.expStatSN)) conn.expStatSN = serialAdd(pdu.statSN, 1);
  }

  private onNopIn(conn: Connected, pdu: NopIn): void {
    if (pdu.ttt === RESERVED_TAG) {
      // §11.19: the answer to our ping carries its ITT.
      this.keepAlive.answered(pdu.itt);
      return;
    }
    // §11.19: a target ping; answer with a NOP-Out echoing its TTT, LUN and ping data, ITT reserved, immediate.
    this.send(conn, {
      opcode: Opcode.NopOut,
      immediate: true,
      lun: pdu.lun,
      itt: RESERVED_TAG,
      ttt: pdu.ttt,
      cmdSN: conn.window.cmdSN,
      expStatSN: conn.expStatSN,
      // Echo the ping data, but never more than the target declared it can receive (§13.12).
      data: Buffer.from(pdu.data.subarray(0, conn.limits.maxXmitDataSegmentLength)),
    });
    this.counters.nopInAnswered++;
  }

  private onTaskMgmtResponse(pdu: TaskMgmtResponse): void {
    const tmf = this.tmfs.get(pdu.itt);
    if (!tmf) throw unexpectedPdu(pdu);
    this.tmfs.delete(pdu.itt);
    const complete = pdu.response === TmfResponse.FunctionComplete;
    if (tmf.fn === TmfFunction.AbortTask) {
      // The command either answered before the abort took effect (then it completed normally) or ends now.
      const entry = this.commands.get(tmf.referencedTaskTag);
      if (entry) {
        const gone = complete || pdu.response === TmfResponse.TaskDoesNotExist;
        this.failCommand(tmf.referencedTaskTag, entry, abortedError(entry.request.cdb[0] ?? 0, entry.timedOut, this.commandTimeoutMs, gone ? 'ABORT TASK' : `ABORT TASK refused: ${tmfResponseName(pdu.response)}`));
        // A refused abort leaves the task alive at the target: its tag must not name a new command, and whatever
        // the target still sends for it is dropped.
        if (!gone) this.zombies.add(tmf.referencedTaskTag);
      }
    } else if (complete) {
      for (const itt of tmf.covers) {
        const entry = this.commands.get(itt);
        if (entry) this.failCommand(itt, entry, new ScsiError('ISCSI_TASK_ABORTED', `command aborted by ${tmfFunctionName(tmf.fn)}`));
      }
    }
    tmf.resolve(pdu.response);
  }

  private onTextResponse(pdu: TextResponse): void {
    const text = this.text;
    if (!text || pdu.itt !== text.itt) throw unexpectedPdu(pdu);
    const pairs = text.assembler.push(pdu.data, pdu.continue || !pdu.final);
    if (pairs === undefined) {
      this.sendText(text.itt, pdu.ttt, Buffer.alloc(0));
      return;
    }
    checkDuplicatesExceptMulti(pairs);
    this.text = undefined;
    text.resolve(pairs);
  }

  /** §11.9.1 AsyncEvent codes. */
  private onAsyncMessage(pdu: AsyncMessage): void {
    this.counters.asyncEvents++;
    // Listeners may keep the message; its data is a view into the connection's reused read buffer, so copy it.
    this.emit({ type: 'async', message: { ...pdu, data: Buffer.from(pdu.data) } });
    switch (pdu.asyncEvent) {
      case 0: {
        // SCSI asynchronous event: sense data says what happened (e.g. REPORTED LUNS DATA HAS CHANGED, 3Fh/0Eh).
        let sense: Sense | undefined;
        try {
          sense = pdu.data.length > 0 ? senseFromResponseData(pdu.data) : undefined;
        } catch {
          sense = undefined;
        }
        let lun: number;
        try {
          lun = decodeLun(pdu.lun);
        } catch {
          lun = 0; // a LUN format we cannot name still gets its event, reported against LUN 0
        }
        this.emit({ type: 'scsi-event', lun, sense });
        return;
      }
      case 1: {
        // The target requests a logout within Parameter3 seconds: let in-flight commands finish, then log out; the
        // connection then ends without an error, and a reconnecting session logs in again.
        const seconds = pdu.parameter3;
        this.emit({ type: 'logout-requested', withinSeconds: seconds });
        if (!this.drain) this.drain = { deadline: this.now + Math.max(0, seconds * 1000 - 500), requested: true, waiters: [] };
        else this.drain.requested = true;
        if (this.conn !== undefined && this.conn.heldCommands > 0) this.release(this.conn);
        if (this.commands.size === 0) this.drainDone();
        return;
      }
      case 2:
      case 3:
        // The target will drop this connection (2) or all of the session's (3) after Time2Wait (Parameter2).
        this.progress.hint(pdu.parameter2 * 1000);
        this.emit({ type: 'connection-drop', scope: pdu.asyncEvent === 2 ? 'connection' : 'session', time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 });
        return;
      case 4:
        // The target asks for parameter negotiation: re-declare what we can receive, the key that may change (§13.12).
        this.emit({ type: 'renegotiate' });
        if (!this.text && this.conn) {
          this.textRequest([['MaxRecvDataSegmentLength', String(this.conn.login.parameters.maxRecvDataSegmentLength)]]).catch(() => {});
        }
        return;
      default:
        return; // 248-255 vendor-specific, surfaced through the 'async' event only
    }
  }

  /** The drain ended (nothing in flight, or its deadline): wake the waiters, and log out if the target asked. */
  private drainDone(): void {
    const drain = this.drain;
    if (!drain) return;
    this.drain = undefined;
    for (const waiter of drain.waiters) waiter.resolve();
    if (drain.requested && this.conn && !this.logoutWaiter) {
      const port = this.conn.port;
      this.logout().then(
        () => port.close(),
        () => {},
      );
    } else {
      this.pump();
    }
  }

  private onReject(pdu: Reject): void {
    this.counters.rejects++;
    // §11.17: the data segment holds the rejected PDU's header; its ITT names the task, its opcode what was refused.
    const itt = pdu.data.length >= 20 ? pdu.data.readUInt32BE(16) : RESERVED_TAG;
    const rejectedOpcode = pdu.data.length >= 1 ? pdu.data[0]! & 0x3f : -1;
    const error = new TransportError('ISCSI_REJECT', `target rejected a PDU: ${rejectReasonName(pdu.reason)} (reason 0x${pdu.reason.toString(16)})`);
    // §11.17.1: a rejected Data-Out (or SNACK, NOP-Out) does not end its task — the target still answers the
    // command, with a status that says what went wrong; only a rejected command ends it here.
    if (rejectedOpcode === Opcode.DataOut || rejectedOpcode === Opcode.SnackRequest || rejectedOpcode === Opcode.NopOut) return;
    const entry = this.commands.get(itt);
    if (entry) {
      this.failCommand(itt, entry, error);
      return;
    }
    if (this.text && this.text.itt === itt) {
      const text = this.text;
      this.text = undefined;
      text.reject(error);
      return;
    }
    const tmf = this.tmfs.get(itt);
    if (tmf) {
      this.tmfs.delete(itt);
      tmf.reject(error);
      const aborted = tmf.fn === TmfFunction.AbortTask ? this.commands.get(tmf.referencedTaskTag) : undefined;
      if (aborted) {
        this.failCommand(tmf.referencedTaskTag, aborted, abortedError(aborted.request.cdb[0] ?? 0, aborted.timedOut, this.commandTimeoutMs, 'ABORT TASK rejected'));
        this.zombies.add(tmf.referencedTaskTag);
      }
    }
  }

  private entry(itt: number, pdu: Pdu): CommandEntry | undefined {
    const entry = this.commands.get(itt);
    if (entry) return entry;
    if (this.zombies.has(itt)) {
      // A late PDU for a task we gave up on; its final response retires the tag.
      if (pdu.opcode === Opcode.ScsiResponse || (pdu.opcode === Opcode.DataIn && pdu.statusPresent)) this.zombies.delete(itt);
      return undefined;
    }
    throw unexpectedPdu(pdu);
  }

  private finishCommand(itt: number, entry: CommandEntry, result: ScsiResult): void {
    this.commands.delete(itt);
    if (entry.tag !== undefined) this.tagged.delete(entry.tag);
    const counters = this.counters;
    counters.commands++;
    counters.bytesRead += result.data.length;
    counters.bytesWritten += entry.task!.writeLength;
    entry.resolve(result);
    this.afterCompletion();
  }

  private failCommand(itt: number, entry: CommandEntry, error: IscsiError): void {
    this.commands.delete(itt);
    this.settled(entry);
    entry.reject(error);
    this.afterCompletion();
  }

  private afterCompletion(): void {
    this.pump();
    // The target is running low on our commands: what is held goes now.
    const conn = this.conn;
    if (conn !== undefined && conn.heldCommands > 0 && this.commands.size - conn.heldCommands < this.coalescing!.lowWater) this.release(conn);
    const drain = this.drain;
    if (drain !== undefined && (drain.requested ? this.commands.size === 0 : this.outstanding === 0)) this.drainDone();
  }

  /** The entry left the session (failed or aborted): forget its tag. */
  private settled(entry: CommandEntry): void {
    if (entry.tag !== undefined && this.tagged.get(entry.tag) === entry) this.tagged.delete(entry.tag);
  }

  private failWaiting(error: IscsiError): void {
    for (const entry of this.queue.drain()) {
      this.settled(entry);
      entry.reject(error);
    }
  }

  private allocateItt(): number {
    // ITT 0xffffffff is reserved (§11.2.1.8); skip it, and skip tags still in use after wraparound.
    for (;;) {
      const itt = this.nextItt;
      this.nextItt = this.nextItt >= 0xfffffffe ? 1 : this.nextItt + 1;
      if (!this.commands.has(itt) && !this.tmfs.has(itt) && !this.zombies.has(itt) && this.keepAlive.pingItt !== itt) return itt;
    }
  }

  private setState(state: SessionState, reason: string, error?: IscsiError): void {
    this.currentState = state;
    this.reason = reason;
    this.emit({ type: 'state', state, reason, error });
  }
}

/** SendTargets answers repeat TargetAddress under each TargetName (§13.3, Appendix C); everything else is unique. */
function checkDuplicatesExceptMulti(pairs: readonly TextPair[]): void {
  checkDuplicates(pairs.filter(([k]) => k !== 'TargetName' && k !== 'TargetAddress'));
}
