import { DEFAULT_QUEUE_DEPTH, DEFAULT_TIMEOUTS, MAX_QUEUE_DEPTH } from '../defaults.js';
import { ArgumentError, IscsiError, ProtocolError, ScsiError, TransportError } from '../errors.js';
import { deriveIsid } from '../login/isid.js';
import type { LoginAuth, LoginResult } from '../login/login-state-machine.js';
import {
  Opcode,
  RESERVED_TAG,
  type AsyncMessage,
  type NopIn,
  type Pdu,
  type Reject,
  type TargetPdu,
  type TaskMgmtResponse,
  type TextResponse,
} from '../pdu/types.js';
import { formatPortal, type Portal } from '../portal.js';
import { decodeLun, encodeLun } from '../scsi/lun.js';
import { senseFromResponseData, type Sense } from '../scsi/sense.js';
import { executeWithRetries, type RetryHooks, type ScsiCommandPath } from '../session/command-retry.js';
import { CommandWindow } from '../session/command-window.js';
import { ScsiTask, type ScsiRequest, type ScsiResult, type TransferLimits } from '../session/scsi-task.js';
import { serialAdd, serialLt } from '../session/serial.js';
import { tmfFunctionName, TmfFunction, TmfResponse, tmfResponseName, tmfScope } from '../session/task-management.js';
import { checkDuplicates, encodeText, TextAssembler, type TextPair } from '../text/text-codec.js';
import type { OperationalParameters, OperationalProposal } from '../text/negotiation.js';
import type { IscsiConnection } from './connection.js';
import { connectAndLogin, type LoginOptions } from './login.js';

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
  /** Commands in flight at most (open-iscsi's node.session.queue_depth); more wait in order. Default 32. */
  readonly queueDepth?: number | undefined;
  /** A command not answered in this time is aborted (ABORT TASK) and fails. Default 30 s (the SCSI layer's); 0 = never. */
  readonly commandTimeoutMs?: number | undefined;
  /** How long a task management request may take before the connection is given up. Default 10 s. */
  readonly taskManagementTimeoutMs?: number | undefined;
  /** BUSY / TASK SET FULL retries of `command()` (with exponential backoff from 5 ms to 1 s). Default 10. */
  readonly busyRetries?: number | undefined;
  /** Logout Response wait (open-iscsi's logout_timeout defaults to 15 s). */
  readonly logoutTimeoutMs?: number | undefined;
  /** Send a NOP-Out ping after this long without any PDU from the target (open-iscsi's noop_out_interval, 5 s); 0 = never. */
  readonly noopOutIntervalMs?: number | undefined;
  /** A ping unanswered this long fails the connection (noop_out_timeout, 5 s). */
  readonly noopOutTimeoutMs?: number | undefined;
}

export { DEFAULT_QUEUE_DEPTH, MAX_QUEUE_DEPTH } from '../defaults.js';

interface Pending<T> {
  resolve(value: T): void;
  reject(error: IscsiError): void;
}

interface CommandEntry extends Pending<ScsiResult> {
  readonly request: ScsiRequest;
  /** Set once the command is on the wire. */
  task: ScsiTask | undefined;
  cmdSN: number;
  readonly deadline: number;
  aborting: boolean;
}

interface TmfEntry extends Pending<number> {
  readonly fn: number;
  readonly lun: number;
  readonly referencedTaskTag: number;
  readonly deadline: number;
  /** Commands sent before the TMF, which a successful LUN/target-wide function terminates. */
  readonly covers: ReadonlySet<number>;
}

export type SessionEvent =
  | { readonly type: 'async'; readonly message: AsyncMessage }
  | { readonly type: 'scsi-event'; readonly lun: number; readonly sense: Sense | undefined }
  | { readonly type: 'logout-requested'; readonly withinSeconds: number }
  | { readonly type: 'connection-drop'; readonly scope: 'connection' | 'session'; readonly time2Wait: number; readonly time2Retain: number }
  | { readonly type: 'renegotiate' }
  | { readonly type: 'unit-attention'; readonly lun: number; readonly sense: Sense }
  | { readonly type: 'command-timeout'; readonly itt: number; readonly lun: number; readonly opcode: number }
  | { readonly type: 'closed'; readonly error: IscsiError | undefined };

/**
 * A logged-in iSCSI session over one connection (MaxConnections=1): the command window and queue depth, SCSI
 * commands with their data, task management, text requests, NOP-In answers, async events and logout. Per-command
 * logic lives in the I/O-free ScsiTask, numbering in CommandWindow; this class wires them to the socket.
 */
export class IscsiSession implements ScsiCommandPath {
  private readonly window: CommandWindow;
  private expStatSN: number;
  private nextItt = 1;
  /** Commands on the wire, by ITT. */
  private readonly commands = new Map<number, CommandEntry>();
  /** Commands waiting for a free slot or an open window, oldest first (head index instead of shift()). */
  private queue: CommandEntry[] = [];
  private queueHead = 0;
  private readonly tmfs = new Map<number, TmfEntry>();
  /** Tags of tasks we gave up on whose abort the target refused: never reused, their late PDUs dropped. */
  private readonly zombies = new Set<number>();
  private text: (Pending<TextPair[]> & { itt: number; assembler: TextAssembler }) | undefined;
  private logoutWaiter: (Pending<void> & { itt: number }) | undefined;
  private draining = false;
  private closeError: IscsiError | undefined;
  private closed = false;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly limits: TransferLimits;
  private readonly queueDepth: number;
  private readonly commandTimeoutMs: number;
  private readonly tmfTimeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly noopIntervalMs: number;
  private readonly noopTimeoutMs: number;
  /** PDUs received so far, and when the housekeeping tick last saw that number change (no clock on the hot path). */
  private received = 0;
  private seenReceived = 0;
  private lastActivity = Date.now();
  private ping: { itt: number; deadline: number } | undefined;
  /** Running counts for session views and tests; the daemon turns them into stats. */
  readonly counters = {
    commands: 0,
    bytesRead: 0,
    bytesWritten: 0,
    nopInAnswered: 0,
    unitAttentions: 0,
    busyRetries: 0,
    timeouts: 0,
    taskManagement: 0,
    asyncEvents: 0,
    rejects: 0,
  };

  private constructor(
    private readonly connection: IscsiConnection,
    readonly login: LoginResult,
    readonly portal: Portal,
    readonly options: SessionOptions,
  ) {
    this.window = new CommandWindow(login.cmdSN, login.expCmdSN, login.maxCmdSN);
    this.expStatSN = login.expStatSN;
    const p = login.parameters;
    this.limits = {
      maxXmitDataSegmentLength: p.maxXmitDataSegmentLength,
      firstBurstLength: p.firstBurstLength,
      maxBurstLength: p.maxBurstLength,
      immediateData: p.immediateData,
      initialR2T: p.initialR2T,
    };
    this.queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    this.retryHooks = {
      busyRetries: options.busyRetries ?? 10,
      onUnitAttention: (lun, sense) => {
        this.counters.unitAttentions++;
        this.emit({ type: 'unit-attention', lun, sense });
      },
      onBusyRetry: () => {
        this.counters.busyRetries++;
      },
    };
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_TIMEOUTS.commandMs;
    this.tmfTimeoutMs = options.taskManagementTimeoutMs ?? DEFAULT_TIMEOUTS.taskManagementMs;
    this.noopIntervalMs = options.noopOutIntervalMs ?? DEFAULT_TIMEOUTS.noopOutIntervalMs;
    this.noopTimeoutMs = options.noopOutTimeoutMs ?? DEFAULT_TIMEOUTS.noopOutTimeoutMs;
    const noopTick = this.noopIntervalMs > 0 ? Math.min(this.noopIntervalMs, this.noopTimeoutMs) / 10 : Infinity;
    const timeoutTick = Math.min(this.commandTimeoutMs || 1000, this.tmfTimeoutMs) / 4;
    const tick = Math.max(20, Math.min(1000, timeoutTick, noopTick));
    this.sweeper = setInterval(() => this.sweep(), tick);
    this.sweeper.unref();
    connection.onPdu = (pdu) => this.dispatch(pdu);
    connection.onClose = (error) => this.shutdown(error ?? new TransportError('ISCSI_CONNECTION_CLOSED', 'connection closed'));
    // Digests and our receive limit apply from the full feature phase on (RFC 7143 §13.1, §13.12).
    connection.configure({
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      maxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
      placeData: (itt, offset, length) => this.commands.get(itt)?.task?.placement(offset, length),
    });
  }

  static async open(options: SessionOptions): Promise<IscsiSession> {
    const queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    if (!Number.isInteger(queueDepth) || queueDepth < 1 || queueDepth > MAX_QUEUE_DEPTH) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `queue depth ${queueDepth} is not a whole number from 1 to ${MAX_QUEUE_DEPTH}`);
    }
    const sessionType = options.sessionType ?? 'Normal';
    const targetName = sessionType === 'Normal' ? options.targetName : undefined;
    const loggedIn = await connectAndLogin(
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
    return new IscsiSession(loggedIn.connection, loggedIn.result, loggedIn.portal, options);
  }

  get parameters(): OperationalParameters {
    return this.login.parameters;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get tsih(): number {
    return this.login.tsih;
  }

  /** Numbers for a session view: the command window and status numbering. */
  get numbering(): { cmdSN: number; expCmdSN: number; maxCmdSN: number; expStatSN: number } {
    return { cmdSN: this.window.cmdSN, expCmdSN: this.window.expCmdSN, maxCmdSN: this.window.maxCmdSN, expStatSN: this.expStatSN };
  }

  /** Commands on the wire now. */
  get inFlight(): number {
    return this.commands.size;
  }

  /** Commands waiting for a slot (queue depth) or for the target's window to open. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  on(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs one SCSI command to completion and resolves with whatever SCSI status it ended with. Rejects on transport
   * or protocol failure, on timeout (after aborting the task), or when a task management function ended it.
   */
  execute(request: ScsiRequest): Promise<ScsiResult> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<ScsiResult>((resolve, reject) => {
      const entry: CommandEntry = {
        request,
        task: undefined,
        cmdSN: 0,
        deadline: this.commandTimeoutMs > 0 ? Date.now() + this.commandTimeoutMs : Infinity,
        aborting: false,
        resolve,
        reject,
      };
      if (this.queueHead === this.queue.length && this.canSend()) this.start(entry);
      else this.queue.push(entry);
    });
  }

  /**
   * Like execute, but a status other than GOOD becomes a ScsiError with the decoded sense, a UNIT ATTENTION is
   * surfaced and retried, and BUSY / TASK SET FULL are retried with backoff (see executeWithRetries).
   */
  command(request: ScsiRequest): Promise<ScsiResult> {
    return executeWithRetries((r) => this.execute(r), request, this.retryHooks);
  }

  private readonly retryHooks: RetryHooks;


  /** ABORT TASK (§11.5.1) for one command of ours; resolves with the TMF response (0 = function complete). */
  abortTask(itt: number): Promise<number> {
    const entry = this.commands.get(itt);
    if (!entry) return Promise.reject(new ArgumentError('ISCSI_BAD_ARGUMENT', `no command with ITT 0x${itt.toString(16)} in flight`));
    return this.taskManagement(TmfFunction.AbortTask, entry.request.lun, itt, entry.cmdSN);
  }

  abortTaskSet(lun: number): Promise<number> {
    return this.taskManagement(TmfFunction.AbortTaskSet, lun);
  }

  lunReset(lun: number): Promise<number> {
    return this.taskManagement(TmfFunction.LogicalUnitReset, lun);
  }

  targetWarmReset(): Promise<number> {
    return this.taskManagement(TmfFunction.TargetWarmReset, 0);
  }

  /**
   * Sends a Task Management Function Request as an immediate command (§11.5) and resolves with its response code.
   * When a LUN- or target-wide function completes, the commands it covered are failed here: the target sends no
   * responses for the tasks it aborted.
   */
  taskManagement(fn: number, lun: number, referencedTaskTag = RESERVED_TAG, refCmdSN?: number): Promise<number> {
    if (this.closed) return Promise.reject(this.closedError());
    const itt = this.allocateItt();
    const scope = tmfScope(fn);
    const covers = new Set<number>();
    for (const [commandItt, entry] of this.commands) {
      if (scope === 'target' || (scope === 'lun' && entry.request.lun === lun)) covers.add(commandItt);
    }
    this.counters.taskManagement++;
    const done = new Promise<number>((resolve, reject) => {
      this.tmfs.set(itt, { fn, lun, referencedTaskTag, deadline: Date.now() + this.tmfTimeoutMs, covers, resolve, reject });
    });
    this.connection.send({
      opcode: Opcode.TaskMgmtRequest,
      immediate: true,
      function: fn,
      lun: encodeLun(lun),
      itt,
      referencedTaskTag,
      cmdSN: this.window.cmdSN,
      expStatSN: this.expStatSN,
      refCmdSN: refCmdSN ?? this.window.cmdSN,
      expDataSN: 0,
    });
    return done;
  }

  /**
   * A Text Request/Response exchange (RFC 7143 §11.10, §11.11), following continuations: a response with C=1 or F=0
   * is answered by an empty request carrying the target's TTT until the final response.
   */
  async textRequest(pairs: readonly TextPair[]): Promise<TextPair[]> {
    if (this.closed) throw this.closedError();
    if (this.text) throw new ProtocolError('ISCSI_PDU_UNEXPECTED', 'a text exchange is already in progress');
    const itt = this.allocateItt();
    const result = new Promise<TextPair[]>((resolve, reject) => {
      this.text = { itt, assembler: new TextAssembler(), resolve, reject };
    });
    this.sendText(itt, RESERVED_TAG, encodeText(pairs));
    return result;
  }

  /** Logout with reason "close the session" (§11.14) and close the connection after the response. */
  async logout(): Promise<void> {
    if (this.closed) return;
    if (this.logoutWaiter) {
      await new Promise<void>((resolve) => this.on((e) => e.type === 'closed' && resolve()));
      return;
    }
    const itt = this.allocateItt();
    const timeoutMs = this.options.logoutTimeoutMs ?? DEFAULT_TIMEOUTS.logoutMs;
    const done = new Promise<void>((resolve, reject) => {
      this.logoutWaiter = { itt, resolve, reject };
    });
    this.connection.send({
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reasonCode: 0,
      itt,
      cid: this.login.cid,
      cmdSN: this.window.cmdSN,
      expStatSN: this.expStatSN,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError('ISCSI_TIMEOUT', `no Logout Response within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
      this.logoutWaiter = undefined;
      this.shutdown(undefined);
    }
  }

  /** Drops the connection without logging out (tests, and the daemon's recovery path). */
  destroy(error?: IscsiError): void {
    this.shutdown(error ?? new TransportError('ISCSI_SESSION_CLOSED', 'session closed'));
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  private canSend(): boolean {
    return !this.draining && this.commands.size < this.queueDepth && this.window.open;
  }

  private start(entry: CommandEntry): void {
    let task: ScsiTask;
    try {
      task = new ScsiTask(this.allocateItt(), entry.request, this.limits);
    } catch (e) {
      entry.reject(e as IscsiError);
      return;
    }
    entry.task = task;
    entry.cmdSN = this.window.take();
    this.commands.set(task.itt, entry);
    const { command, dataOut } = task.start(entry.cmdSN, this.expStatSN);
    this.connection.send(command);
    if (dataOut.length > 0) this.connection.sendAll(dataOut);
  }

  /** Sends queued commands while a slot and the window allow. */
  private pump(): void {
    while (this.queueHead < this.queue.length && this.canSend()) {
      const entry = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as CommandEntry;
      this.start(entry);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  private dispatch(pdu: TargetPdu): void {
    this.received++;
    this.acknowledge(pdu);
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
        this.connection.sendAll(entry.task!.onR2T(pdu, this.expStatSN));
        return;
      }
      case Opcode.NopIn:
        return this.onNopIn(pdu);
      case Opcode.TaskMgmtResponse:
        return this.onTaskMgmtResponse(pdu);
      case Opcode.TextResponse:
        return this.onTextResponse(pdu);
      case Opcode.LogoutResponse: {
        if (!this.logoutWaiter || pdu.itt !== this.logoutWaiter.itt) throw unexpected(pdu);
        // §11.15.1: response 0 = closed successfully; others mean the target could not close it cleanly.
        if (pdu.response === 0) this.logoutWaiter.resolve();
        else this.logoutWaiter.reject(new TransportError('ISCSI_LOGOUT_FAILED', `logout refused with response ${pdu.response}`));
        return;
      }
      case Opcode.AsyncMessage:
        return this.onAsyncMessage(pdu);
      case Opcode.Reject:
        return this.onReject(pdu);
      default:
        throw unexpected(pdu);
    }
  }

  /** §4.2.2: StatSN acknowledgement and the command window from every PDU that carries them. */
  private acknowledge(pdu: TargetPdu): void {
    if (!('maxCmdSN' in pdu)) return;
    if (this.window.update(pdu.expCmdSN, pdu.maxCmdSN)) this.pump();
    // NOP-In with a reserved ITT and R2T carry StatSN without advancing it (§11.19.3, §11.8.3); Data-In only with S.
    const advances =
      pdu.opcode === Opcode.NopIn ? pdu.itt !== RESERVED_TAG : pdu.opcode === Opcode.R2T ? false : pdu.opcode === Opcode.DataIn ? pdu.statusPresent : true;
    if (advances && !serialLt(pdu.statSN, this.expStatSN)) this.expStatSN = serialAdd(pdu.statSN, 1);
  }

  private onNopIn(pdu: NopIn): void {
    if (pdu.ttt === RESERVED_TAG) {
      // §11.19: the answer to our ping carries its ITT.
      if (this.ping && pdu.itt === this.ping.itt) this.ping = undefined;
      return;
    }
    // §11.19: a target ping; answer with a NOP-Out echoing its TTT, LUN and ping data, ITT reserved, immediate.
    this.connection.send({
      opcode: Opcode.NopOut,
      immediate: true,
      lun: pdu.lun,
      itt: RESERVED_TAG,
      ttt: pdu.ttt,
      cmdSN: this.window.cmdSN,
      expStatSN: this.expStatSN,
      // Echo the ping data, but never more than the target declared it can receive (§13.12).
      data: Buffer.from(pdu.data.subarray(0, this.limits.maxXmitDataSegmentLength)),
    });
    this.counters.nopInAnswered++;
  }

  private onTaskMgmtResponse(pdu: TaskMgmtResponse): void {
    const tmf = this.tmfs.get(pdu.itt);
    if (!tmf) throw unexpected(pdu);
    this.tmfs.delete(pdu.itt);
    const complete = pdu.response === TmfResponse.FunctionComplete;
    if (tmf.fn === TmfFunction.AbortTask) {
      // The command either answered before the abort took effect (then it completed normally) or ends now.
      const entry = this.commands.get(tmf.referencedTaskTag);
      if (entry) {
        const gone = complete || pdu.response === TmfResponse.TaskDoesNotExist;
        this.failCommand(tmf.referencedTaskTag, entry, abortedError(entry, gone ? 'ABORT TASK' : `ABORT TASK refused: ${tmfResponseName(pdu.response)}`, this.commandTimeoutMs));
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
    if (!text || pdu.itt !== text.itt) throw unexpected(pdu);
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
        let lun = 0;
        try {
          lun = decodeLun(pdu.lun);
        } catch {
          lun = 0; // a LUN format we cannot name still gets its event, reported against LUN 0
        }
        this.emit({ type: 'scsi-event', lun, sense });
        return;
      }
      case 1: {
        // The target requests a logout within Parameter3 seconds: let in-flight commands finish, then log out.
        const seconds = pdu.parameter3;
        this.emit({ type: 'logout-requested', withinSeconds: seconds });
        void this.drainThenLogout(seconds);
        return;
      }
      case 2:
      case 3:
        // The target will drop this connection (2) or all of the session's (3) after Time2Wait (Parameter2).
        this.emit({ type: 'connection-drop', scope: pdu.asyncEvent === 2 ? 'connection' : 'session', time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 });
        return;
      case 4:
        // The target asks for parameter negotiation: re-declare what we can receive, the key that may change (§13.12).
        this.emit({ type: 'renegotiate' });
        if (!this.text) {
          this.textRequest([['MaxRecvDataSegmentLength', String(this.parameters.maxRecvDataSegmentLength)]]).catch(() => {});
        }
        return;
      default:
        return; // 248-255 vendor-specific, surfaced through the 'async' event only
    }
  }

  private async drainThenLogout(seconds: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + Math.max(0, seconds * 1000 - 500);
    while (this.commands.size > 0 && Date.now() < deadline && !this.closed) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.logout().catch(() => {});
  }

  private onReject(pdu: Reject): void {
    this.counters.rejects++;
    // §11.17: the data segment holds the rejected PDU's header; its ITT names the task, its opcode what was refused.
    const itt = pdu.data.length >= 20 ? pdu.data.readUInt32BE(16) : RESERVED_TAG;
    const rejectedOpcode = pdu.data.length >= 1 ? pdu.data[0]! & 0x3f : -1;
    const error = new TransportError('ISCSI_REJECT', `target rejected a PDU: ${rejectReason(pdu.reason)} (reason 0x${pdu.reason.toString(16)})`);
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
        this.failCommand(tmf.referencedTaskTag, aborted, abortedError(aborted, 'ABORT TASK rejected', this.commandTimeoutMs));
        this.zombies.add(tmf.referencedTaskTag);
      }
    }
  }

  private sendText(itt: number, ttt: number, data: Buffer): void {
    this.connection.send({
      opcode: Opcode.TextRequest,
      immediate: true,
      final: true,
      continue: false,
      lun: 0n,
      itt,
      ttt,
      cmdSN: this.window.cmdSN,
      expStatSN: this.expStatSN,
      data,
    });
  }

  private entry(itt: number, pdu: Pdu): CommandEntry | undefined {
    const entry = this.commands.get(itt);
    if (entry) return entry;
    if (this.zombies.has(itt)) {
      // A late PDU for a task we gave up on; its final response retires the tag.
      if (pdu.opcode === Opcode.ScsiResponse || (pdu.opcode === Opcode.DataIn && pdu.statusPresent)) this.zombies.delete(itt);
      return undefined;
    }
    throw unexpected(pdu);
  }

  private finishCommand(itt: number, entry: CommandEntry, result: ScsiResult): void {
    this.commands.delete(itt);
    this.counters.commands++;
    this.counters.bytesRead += result.data.length;
    this.counters.bytesWritten += entry.task!.writeLength;
    entry.resolve(result);
    this.pump();
  }

  private failCommand(itt: number, entry: CommandEntry, error: IscsiError): void {
    this.commands.delete(itt);
    entry.reject(error);
    this.pump();
  }

  /**
   * Housekeeping on a timer: NOP-Out pings on an idle connection and their timeout (open-iscsi's noop_out_interval and
   * noop_out_timeout), then command and task management timeouts.
   */
  private sweep(): void {
    const now = Date.now();
    if (this.received !== this.seenReceived) {
      this.seenReceived = this.received;
      this.lastActivity = now;
    }
    if (this.ping && now >= this.ping.deadline) {
      this.counters.timeouts++;
      this.shutdown(new TransportError('ISCSI_TIMEOUT', `the target did not answer a NOP-Out ping within ${this.noopTimeoutMs} ms (noop_out_timeout)`));
      return;
    }
    if (this.noopIntervalMs > 0 && !this.ping && !this.closed && now - this.lastActivity >= this.noopIntervalMs) this.sendPing(now);
    this.sweepTimeouts(now);
  }

  /** §11.18: a NOP-Out with a valid ITT asks the target for a NOP-In; sent immediate so the window does not hold it. */
  private sendPing(now: number): void {
    const itt = this.allocateItt();
    this.ping = { itt, deadline: now + this.noopTimeoutMs };
    this.lastActivity = now;
    this.connection.send({
      opcode: Opcode.NopOut,
      immediate: true,
      lun: 0n,
      itt,
      ttt: RESERVED_TAG,
      cmdSN: this.window.cmdSN,
      expStatSN: this.expStatSN,
      data: Buffer.alloc(0),
    });
  }

  private sweepTimeouts(now: number): void {
    for (const [itt, entry] of this.commands) {
      if (entry.aborting || now < entry.deadline) continue;
      entry.aborting = true;
      this.counters.timeouts++;
      this.emit({ type: 'command-timeout', itt, lun: entry.request.lun, opcode: entry.request.cdb[0] ?? 0 });
      this.taskManagement(TmfFunction.AbortTask, entry.request.lun, itt, entry.cmdSN).catch(() => {});
    }
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const entry = this.queue[i]!;
      if (now < entry.deadline) continue;
      this.queue.splice(i--, 1);
      this.counters.timeouts++;
      entry.reject(new TransportError('ISCSI_TIMEOUT', `SCSI command 0x${hex2(entry.request.cdb[0] ?? 0)} waited ${this.commandTimeoutMs} ms for the target's command window and was never sent`));
    }
    for (const [itt, tmf] of this.tmfs) {
      if (now < tmf.deadline) continue;
      this.tmfs.delete(itt);
      const error = new TransportError('ISCSI_TIMEOUT', `${tmfFunctionName(tmf.fn)} got no answer within ${this.tmfTimeoutMs} ms`);
      tmf.reject(error);
      // A target that does not answer task management cannot be trusted with this connection any more.
      this.shutdown(error);
      return;
    }
  }

  private allocateItt(): number {
    // ITT 0xffffffff is reserved (§11.2.1.8); skip it, and skip tags still in use after wraparound.
    for (;;) {
      const itt = this.nextItt;
      this.nextItt = this.nextItt >= 0xfffffffe ? 1 : this.nextItt + 1;
      if (!this.commands.has(itt) && !this.tmfs.has(itt) && !this.zombies.has(itt) && this.ping?.itt !== itt) return itt;
    }
  }

  private closedError(): IscsiError {
    return this.closeError ?? new TransportError('ISCSI_SESSION_CLOSED', 'session is closed');
  }

  private shutdown(error: IscsiError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.closeError = error ?? new TransportError('ISCSI_SESSION_CLOSED', 'session logged out');
    this.connection.close(error);
    const failure = this.closeError;
    for (const entry of this.commands.values()) entry.reject(failure);
    this.commands.clear();
    for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i]!.reject(failure);
    this.queue = [];
    this.queueHead = 0;
    for (const tmf of this.tmfs.values()) tmf.reject(failure);
    this.tmfs.clear();
    this.text?.reject(failure);
    this.text = undefined;
    this.logoutWaiter?.reject(failure);
    this.emit({ type: 'closed', error });
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** SendTargets answers repeat TargetAddress under each TargetName (§13.3, Appendix C); everything else is unique. */
function checkDuplicatesExceptMulti(pairs: readonly TextPair[]): void {
  checkDuplicates(pairs.filter(([k]) => k !== 'TargetName' && k !== 'TargetAddress'));
}

function unexpected(pdu: Pdu): ProtocolError {
  const itt = 'itt' in pdu ? ` for ITT 0x${pdu.itt.toString(16)}` : '';
  return new ProtocolError('ISCSI_PDU_UNEXPECTED', `unexpected PDU opcode 0x${pdu.opcode.toString(16)}${itt}`);
}

function abortedError(entry: CommandEntry, how: string, timeoutMs: number): IscsiError {
  const op = hex2(entry.request.cdb[0] ?? 0);
  if (entry.aborting) return new TransportError('ISCSI_TIMEOUT', `SCSI command 0x${op} timed out after ${timeoutMs} ms and was aborted (${how})`);
  return new ScsiError('ISCSI_TASK_ABORTED', `SCSI command 0x${op} was aborted (${how})`);
}

function rejectReason(reason: number): string {
  const names: Record<number, string> = {
    0x02: 'data (payload) digest error',
    0x03: 'SNACK reject',
    0x04: 'protocol error',
    0x05: 'command not supported',
    0x06: 'immediate command reject',
    0x07: 'task in progress',
    0x08: 'invalid data ack',
    0x09: 'invalid PDU field',
    0x0a: 'long operation reject',
    0x0b: 'negotiation reset',
    0x0c: 'waiting for logout',
  };
  return names[reason] ?? 'reserved reason';
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}


