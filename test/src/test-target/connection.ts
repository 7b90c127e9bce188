/**
 * One TCP connection of the test target: frames what the initiator sends, runs the target login, then serves the
 * full feature phase (RFC 7143 §4, §11): SCSI commands in CmdSN order, Data-In and R2T/Data-Out, NOP, Text
 * (SendTargets), Task Management, Logout — and misbehaves when a test armed it to. Nothing throws out of a socket
 * handler: malformed input is recorded as a violation and ends the connection.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import {
  decodeLun,
  encodePdu,
  encodeText,
  formatPortal,
  IscsiError,
  NO_DIGESTS,
  Opcode,
  PduFramer,
  RESERVED_TAG,
  ScsiStatus,
  splitText,
  TextAssembler,
  TmfFunction,
  TmfResponse,
  type AsyncMessage,
  type DataIn,
  type DataOut,
  type DigestOptions,
  type InitiatorPdu,
  type LoginRequest,
  type LogoutRequest,
  type NopIn,
  type NopOut,
  type R2T,
  type ScsiCommand,
  type ScsiResponse,
  type TargetPdu,
  type TaskMgmtRequest,
  type TextPair,
  type TextRequest,
} from '@iscsi-initiator/core';
import { planDataIn, residual } from './data-in.js';
import { TargetLogin, type LoginContext } from './login.js';
import { checkCondition, prepareAbsent, type ScsiOutcome } from './logical-unit.js';
import type { Armed, MisbehaviourBook, MisbehaviourKind } from './misbehaviour.js';
import { respondInFullFeature, type ConnectionParams } from './negotiation.js';
import type { Recorder, ViolationKind } from './recorder.js';
import type { Task, TargetSession } from './session.js';
import type { TargetEntry } from './target-entry.js';
import { WriteTransfer, type R2TRequest } from './write-transfer.js';

/** What a connection needs of the target it belongs to. */
export interface TargetHost {
  readonly recorder: Recorder;
  readonly book: MisbehaviourBook;
  readonly entries: readonly TargetEntry[];
  /** host:port as SendTargets advertises it (§13.8), and the portal group tag. */
  readonly advertised: { readonly host: string; readonly port: number; readonly portalGroupTag: number };
  loginContext(connection: TargetConnection): LoginContext;
  initialStatSN(): number;
  onFullFeature(connection: TargetConnection): void;
  onClosed(connection: TargetConnection): void;
  connectionById(id: number): TargetConnection | undefined;
  /** Ends a session: its connections close, its tasks end without responses. */
  endSession(session: TargetSession, keepNexus: boolean): void;
  /** Tasks end without a response (aborted by task management). */
  abortTasks(session: TargetSession, tasks: readonly Task[]): void;
  /** §11.5.1 LOGICAL UNIT RESET / TARGET WARM or COLD RESET. */
  resetUnit(entry: TargetEntry, lun: number): void;
  resetTarget(entry: TargetEntry, cold: boolean): void;
}

const EMPTY = Buffer.alloc(0);
/** ITTs remembered after their task ended, so a late Data-Out for them is dropped quietly. */
const RETIRED_LIMIT = 4096;
/** §11.17.1 Reject reasons. */
const RejectReason = { SnackReject: 0x03, ProtocolError: 0x04, CommandNotSupported: 0x05, TaskInProgress: 0x07, InvalidPduField: 0x09 } as const;
/** An opcode nobody defines (§11.2.1.2 vendor-specific range): garbage starting with it never frames as a PDU. */
const GARBAGE_OPCODE = 0x3d;

type SequencedPdu = NopOut | ScsiCommand | TaskMgmtRequest | TextRequest | LogoutRequest;

export class TargetConnection {
  session: TargetSession | undefined;
  cid = 0;
  fullFeature = false;
  closed = false;
  params: ConnectionParams = { headerDigest: false, dataDigest: false, initiatorMaxRecvDataSegmentLength: 8192, targetMaxRecvDataSegmentLength: 8192 };
  private statSN = 0;
  private digests: DigestOptions = { ...NO_DIGESTS };
  private readonly framer = new PduFramer({ accept: 'initiator' });
  private readonly login: TargetLogin;
  private loginStarted = false;
  private outbox: Buffer[] = [];
  private flushScheduled = false;
  private nextTag = 1;
  private readonly retired = new Set<number>();
  /** Rest of a Text Response too long for one PDU, by the TTT we gave it (§11.11). */
  private readonly textParts = new Map<number, { itt: number; parts: Buffer[] }>();
  private textIn: { itt: number; assembler: TextAssembler } | undefined;
  /** NOP-In pings in flight, by TTT → the ping series they belong to. */
  private readonly pings = new Map<number, { outstanding: number | undefined; misses: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly host: TargetHost,
    readonly socket: net.Socket,
    readonly id: number,
  ) {
    this.login = new TargetLogin(host.loginContext(this), host.initialStatSN());
    socket.setNoDelay(true);
    socket.on('error', () => {}); // 'close' follows and does the cleanup
    socket.on('close', () => this.onSocketClosed());
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  get targetName(): string | undefined {
    return this.session?.target?.name;
  }

  /** Called by the login context when the session admits this connection. */
  attach(session: TargetSession, cid: number): void {
    this.session = session;
    this.cid = cid;
    session.connectionIds.add(this.id);
  }

  // ---- misbehaviour applied from outside --------------------------------------------------------------------

  /** Applies an immediate misbehaviour to this connection (see misbehaviour.ts). */
  apply(armed: Armed): void {
    const spec = armed.spec;
    switch (spec.kind) {
      case 'garbage':
        this.sendGarbage(spec.bytes);
        break;
      case 'drop':
        this.note(spec.kind, spec.rst ? 'closed with RST' : 'closed');
        this.drop(spec.rst ?? false);
        return;
      case 'nop-ping':
        this.startPings(armed as Armed<'nop-ping'>);
        return;
      case 'async-logout':
        this.asyncMessage(1, { parameter3: spec.seconds ?? 2 });
        this.note(spec.kind, `AsyncEvent 1, Parameter3 ${spec.seconds ?? 2}`);
        return;
      case 'async-drop': {
        this.asyncMessage(2, { parameter1: this.cid, parameter2: spec.time2Wait ?? 0, parameter3: spec.time2Retain ?? 0 });
        this.note(spec.kind, 'AsyncEvent 2');
        if (spec.drop !== false) this.later(spec.dropAfterMs ?? 0, () => this.end());
        return;
      }
      default:
        return;
    }
  }

  /** Closes the TCP connection: gracefully after what is queued, or at once (RST with `rst`). */
  drop(rst: boolean): void {
    if (this.closed) return;
    if (rst) this.socket.resetAndDestroy();
    else this.end();
  }

  /** Sends what is queued, then FIN. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A task ended elsewhere (task management): forget it, drop its late Data-Out quietly. */
  forget(task: Task): void {
    for (const timer of task.timers) clearTimeout(timer);
    task.timers.clear();
    this.retire(task.itt);
  }

  // ---- input --------------------------------------------------------------------------------------------------

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let pdus: InitiatorPdu[];
    try {
      pdus = this.framer.push(chunk) as InitiatorPdu[];
    } catch (e) {
      this.violation('malformed-pdu', e instanceof Error ? e.message : String(e));
      this.destroy();
      return;
    }
    for (const pdu of pdus) {
      if (this.closed) return;
      try {
        this.onPdu(pdu);
      } catch (e) {
        // Our own bug or a PDU we could not encode an answer to: record it, end the connection, never throw.
        this.violation('malformed-pdu', e instanceof IscsiError ? `${e.code}: ${e.message}` : String(e));
        this.destroy();
        return;
      }
    }
  }

  private onPdu(pdu: InitiatorPdu): void {
    this.host.recorder.emit({ type: 'pdu', connection: this.id, opcode: pdu.opcode });
    if (pdu.opcode === Opcode.LoginRequest) return this.onLogin(pdu);
    if (!this.fullFeature) {
      this.violation('out-of-phase', `${pdu.opcode === Opcode.DataOut ? 'Data-Out' : `opcode 0x${pdu.opcode.toString(16)}`} before login completed (RFC 7143 §11.12)`);
      this.destroy();
      return;
    }
    const book = this.host.book;
    if (pdu.opcode === Opcode.DataOut) return this.onDataOut(pdu);
    const silent = pdu.opcode !== Opcode.SnackRequest ? book.take('stall', this.targetName, (s) => s.all === true) : undefined;
    if (silent && pdu.opcode !== Opcode.SnackRequest) {
      // Received (its CmdSN is used up, so the window still moves once the stall is cancelled) but never answered.
      this.sequenced(pdu, () => this.note('stall', `left opcode 0x${pdu.opcode.toString(16)} unanswered`));
      return;
    }
    if (pdu.opcode === Opcode.SnackRequest) {
      this.violation('snack', 'SNACK at ErrorRecoveryLevel 0 (RFC 7143 §11.16)');
      this.reject(RejectReason.SnackReject, pdu);
      return;
    }
    if (pdu.opcode === Opcode.NopOut && pdu.itt === RESERVED_TAG) return this.onPingAnswer(pdu);
    const rejection = book.take('reject', this.targetName, (s) => (s.opcode ?? Opcode.ScsiCommand) === pdu.opcode);
    if (rejection) {
      this.sequenced(pdu, () => {
        this.note('reject', `rejected opcode 0x${pdu.opcode.toString(16)} with reason 0x${(rejection.spec.reason ?? RejectReason.InvalidPduField).toString(16)}`);
        this.reject(rejection.spec.reason ?? RejectReason.InvalidPduField, pdu);
      });
      return;
    }
    switch (pdu.opcode) {
      case Opcode.NopOut:
        return this.sequenced(pdu, () => this.onNopOut(pdu));
      case Opcode.ScsiCommand:
        return this.sequenced(pdu, () => this.onCommand(pdu));
      case Opcode.TaskMgmtRequest:
        return this.sequenced(pdu, () => this.onTaskManagement(pdu));
      case Opcode.TextRequest:
        return this.sequenced(pdu, () => this.onText(pdu));
      case Opcode.LogoutRequest:
        return this.sequenced(pdu, () => this.onLogout(pdu));
      default:
        return;
    }
  }

  /** §4.2.2.1: immediate PDUs run now; the rest in CmdSN order, inside the window, or not at all. */
  private sequenced(pdu: SequencedPdu, run: () => void): void {
    const session = this.session!;
    if (pdu.immediate) {
      run();
      return;
    }
    const admission = session.admit(pdu.cmdSN, run);
    if (admission === 'overrun') {
      this.violation('cmdsn-overrun', `CmdSN ${pdu.cmdSN} beyond MaxCmdSN ${session.maxCmdSN} (RFC 7143 §4.2.2.1), ignored`);
    } else if (admission === 'duplicate') {
      this.violation('cmdsn-duplicate', `CmdSN ${pdu.cmdSN} below ExpCmdSN ${session.expCmdSN} (RFC 7143 §4.2.2.1), ignored`);
    }
  }

  // ---- login ----------------------------------------------------------------------------------------------------

  private onLogin(request: LoginRequest): void {
    if (this.fullFeature) {
      this.violation('out-of-phase', 'Login Request in the full feature phase (RFC 7143 §11.12)');
      this.reject(RejectReason.ProtocolError, request);
      this.end();
      return;
    }
    if (!this.loginStarted) {
      this.loginStarted = true;
      this.host.recorder.loginAttempt();
    }
    const step = this.login.receive(request);
    this.send(step.response); // login PDUs never carry digests (§13.1: they start with the full feature phase)
    if (step.kind === 'end') {
      const status = (step.failure.statusClass << 8) | step.failure.statusDetail;
      if (step.failure.statusClass === 1) this.note('redirect', step.failure.reason);
      else this.host.recorder.emit({ type: 'login-failed', connection: this.id, status, reason: step.failure.reason });
      this.end(); // §11.13.5: after a failed login the target closes the connection
      return;
    }
    if (step.kind !== 'complete') return;
    this.statSN = this.login.nextStatSN;
    this.params = step.outcome.connection;
    this.digests = { headerDigest: this.params.headerDigest, dataDigest: this.params.dataDigest };
    this.framer.configure({ ...this.digests, maxRecvDataSegmentLength: this.params.targetMaxRecvDataSegmentLength });
    this.fullFeature = true;
    const o = step.outcome;
    this.host.recorder.emit({ type: 'login', connection: this.id, tsih: o.tsih, sessionType: o.sessionType, target: o.target?.name, authenticated: o.authenticated });
    this.host.onFullFeature(this);
  }

  // ---- SCSI commands ------------------------------------------------------------------------------------------

  private onCommand(command: ScsiCommand): void {
    const session = this.session!;
    const entry = session.target;
    const book = this.host.book;
    const name = this.targetName;
    this.host.recorder.emit({ type: 'scsi-command', connection: this.id, opcode: command.cdb[0] ?? 0, itt: command.itt });
    if (!entry) {
      this.violation('discovery-session', 'SCSI Command in a discovery session (RFC 7143 §4.1)');
      this.reject(RejectReason.CommandNotSupported, command);
      return;
    }
    const drop = book.take('drop', name, (s) => s.on === 'command')?.spec;
    if (drop) {
      this.note('drop', drop.rst ? 'closed with RST instead of answering a command' : 'closed instead of answering a command');
      this.drop(drop.rst ?? false);
      return;
    }
    const garbage = book.take('garbage', name, (s) => s.on === 'command');
    if (garbage) {
      this.sendGarbage(garbage.spec.bytes);
      return;
    }
    if (session.tasks.has(command.itt)) {
      this.violation('itt-in-use', `ITT 0x${command.itt.toString(16)} names a task still in progress (RFC 7143 §11.3)`);
      this.reject(RejectReason.TaskInProgress, command);
      return;
    }
    const lun = lunNumber(command.lun);
    const unit = lun === undefined ? undefined : entry.units.get(lun);
    const task: Task = { itt: command.itt, cmdSN: command.cmdSN, lun: unit ? lun : undefined, command, connectionId: this.id, stalled: false, timers: new Set() };
    if (book.take('stall', name)) {
      task.stalled = true;
      session.tasks.set(task.itt, task);
      this.note('stall', `left ITT 0x${command.itt.toString(16)} unanswered`);
      return;
    }
    const busy = book.take('busy', name);
    if (busy) {
      this.note('busy', `answered ITT 0x${command.itt.toString(16)} with BUSY`);
      this.respond(task, { status: ScsiStatus.Busy }, residual(command.expectedDataTransferLength, 0), 0);
      return;
    }
    const prepared = unit ? unit.prepare(session.nexus, command.cdb, entry.luns) : prepareAbsent(command.cdb, entry.luns);
    const writing = command.write || command.data.length > 0 || !command.final;
    if (!writing && prepared.kind === 'complete') {
      this.sendReadResult(task, prepared.outcome);
      return;
    }
    // Data-Out to collect (or to swallow: a command that failed at once still gets its unsolicited data, §11.17.1).
    const wanted = prepared.kind === 'data-out' ? Math.min(command.expectedDataTransferLength, prepared.length) : 0;
    const p = session.params;
    const transfer = new WriteTransfer(
      { firstBurstLength: p.firstBurstLength, maxBurstLength: p.maxBurstLength, maxOutstandingR2T: p.maxOutstandingR2T, initialR2T: p.initialR2T, immediateData: p.immediateData },
      command.expectedDataTransferLength,
      wanted,
      () => this.allocateTag(),
    );
    task.transfer = transfer;
    task.prepared = prepared;
    session.tasks.set(task.itt, task);
    transfer.start(command);
    if (transfer.failure) this.violation(transfer.failure.kind, transfer.failure.reason);
    this.advanceWrite(task);
  }

  private onDataOut(pdu: DataOut): void {
    const session = this.session!;
    const task = session.tasks.get(pdu.itt);
    if (!task?.transfer || task.connectionId !== this.id) {
      if (this.retired.has(pdu.itt)) return; // data still in flight for a task that already ended
      this.violation('unknown-task', `Data-Out for ITT 0x${pdu.itt.toString(16)}, which has no write in progress here`);
      this.reject(RejectReason.InvalidPduField, pdu);
      return;
    }
    const transfer = task.transfer;
    const failedBefore = transfer.failure !== undefined;
    transfer.onDataOut(pdu);
    if (!failedBefore && transfer.failure) this.violation(transfer.failure.kind, transfer.failure.reason);
    this.advanceWrite(task);
  }

  /** After each step of a write: respond when done (or failed and quiet), otherwise send the R2Ts now due. */
  private advanceWrite(task: Task): void {
    const transfer = task.transfer!;
    const prepared = task.prepared!;
    const edtl = task.command.expectedDataTransferLength;
    const spdtl = prepared.kind === 'data-out' ? prepared.length : 0;
    if (transfer.failure) {
      if (transfer.quiescent) this.respond(task, checkCondition(transfer.failure.condition), residual(edtl, spdtl), transfer.r2tCount);
      return;
    }
    if (transfer.complete) {
      const outcome = prepared.kind === 'data-out' ? prepared.finish(transfer.data.subarray(0, transfer.received)) : prepared.outcome;
      this.respond(task, outcome, residual(edtl, spdtl), transfer.r2tCount);
      return;
    }
    const due = transfer.nextR2Ts();
    if (due.length === 0) return;
    if (task.r2tDelayMs === undefined) {
      const slow = this.host.book.take('slow-r2t', this.targetName);
      task.r2tDelayMs = slow ? Math.max(0, slow.spec.delayMs) : 0;
      if (slow) this.note('slow-r2t', `R2Ts of ITT 0x${task.itt.toString(16)} delayed ${task.r2tDelayMs} ms`);
    }
    for (const r2t of due) {
      if (task.r2tDelayMs > 0) this.later(task.r2tDelayMs, () => this.sendR2T(task, r2t), task.timers);
      else this.sendR2T(task, r2t);
    }
  }

  private sendR2T(task: Task, r: R2TRequest): void {
    if (this.session?.tasks.get(task.itt) !== task) return; // aborted meanwhile
    const pdu: R2T = {
      opcode: Opcode.R2T,
      lun: task.command.lun,
      itt: task.itt,
      ttt: r.ttt,
      ...this.numbers(false), // §11.8: an R2T carries StatSN without consuming it
      r2tSN: r.r2tSN,
      bufferOffset: r.bufferOffset,
      desiredDataTransferLength: r.length,
    };
    this.send(pdu);
  }

  /** Data-In for a command's result, with the status phase-collapsed into the last PDU when it is GOOD (§11.7). */
  private sendReadResult(task: Task, outcome: ScsiOutcome): void {
    const edtl = task.command.expectedDataTransferLength;
    const data = outcome.data ?? EMPTY;
    const length = Math.min(data.length, edtl);
    const counts = residual(edtl, data.length);
    if (length === 0) {
      this.respond(task, outcome, counts, 0);
      return;
    }
    const book = this.host.book;
    const maxSegment = this.params.initiatorMaxRecvDataSegmentLength;
    const maxBurst = this.session!.params.maxBurstLength;
    let segments = planDataIn(length, maxSegment, maxBurst);
    let payload = data.subarray(0, length);
    const oversized = book.take('oversized-segment', this.targetName);
    if (oversized) {
      // The first PDU runs past the initiator's MaxRecvDataSegmentLength (zero padded if the read is shorter).
      const first = maxSegment + Math.max(1, oversized.spec.extra ?? 512);
      if (payload.length < first) payload = Buffer.concat([payload, Buffer.alloc(first - payload.length)]);
      const rest = planDataIn(payload.length - first, maxSegment, maxBurst).map((s) => ({ ...s, offset: s.offset + first }));
      segments = [{ offset: 0, length: first, final: rest.length === 0 }, ...rest];
      this.note('oversized-segment', `Data-In of ${first} bytes against MaxRecvDataSegmentLength ${maxSegment}`);
    }
    const wrongDataSN = book.take('wrong-datasn', this.targetName);
    if (wrongDataSN) this.note('wrong-datasn', `Data-In of ITT 0x${task.itt.toString(16)} numbered from DataSN 1`);
    const collapse = outcome.status === ScsiStatus.Good && outcome.sense === undefined;
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      const withStatus = collapse && last;
      const pdu: DataIn = {
        opcode: Opcode.DataIn,
        final: segment.final || last,
        acknowledge: false,
        overflow: withStatus && counts.overflow,
        underflow: withStatus && counts.underflow,
        statusPresent: withStatus,
        status: withStatus ? outcome.status : 0,
        lun: task.command.lun,
        itt: task.itt,
        ttt: RESERVED_TAG,
        ...this.numbers(withStatus), // §11.7: StatSN is consumed only with the status
        dataSN: i + (wrongDataSN ? 1 : 0),
        bufferOffset: segment.offset,
        residualCount: withStatus ? counts.residualCount : 0,
        data: payload.subarray(segment.offset, segment.offset + segment.length),
      };
      this.send(pdu);
    });
    if (collapse) this.finishTask(task);
    else this.respond(task, outcome, counts, segments.length);
  }

  /** §11.4: the SCSI Response that ends a task; `expDataSN` counts its Data-In or R2T PDUs (§11.4.8). */
  private respond(task: Task, outcome: ScsiOutcome, counts: { underflow: boolean; overflow: boolean; residualCount: number }, expDataSN: number): void {
    const sense = outcome.sense;
    let data = EMPTY;
    if (sense) {
      // §11.4.7.2: SenseLength, then the sense data.
      data = Buffer.alloc(2 + sense.length);
      data.writeUInt16BE(sense.length, 0);
      sense.copy(data, 2);
    }
    const pdu: ScsiResponse = {
      opcode: Opcode.ScsiResponse,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: counts.overflow,
      underflow: counts.underflow,
      response: 0,
      status: outcome.status,
      itt: task.itt,
      snackTag: 0,
      ...this.numbers(true),
      expDataSN,
      bidiReadResidualCount: 0,
      residualCount: counts.residualCount,
      data,
    };
    this.finishTask(task);
    this.send(pdu);
  }

  private finishTask(task: Task): void {
    if (this.session?.tasks.get(task.itt) === task) this.session.tasks.delete(task.itt);
    this.forget(task);
  }

  // ---- NOP ------------------------------------------------------------------------------------------------------

  /** §11.18-§11.19: a NOP-Out with an ITT is a ping; the NOP-In answer echoes its ITT, LUN and ping data. */
  private onNopOut(pdu: NopOut): void {
    const data = pdu.data.subarray(0, this.params.initiatorMaxRecvDataSegmentLength);
    const answer: NopIn = { opcode: Opcode.NopIn, lun: pdu.lun, itt: pdu.itt, ttt: RESERVED_TAG, ...this.numbers(true), data: Buffer.from(data) };
    this.send(answer);
  }

  /** A NOP-Out with ITT 0xffffffff answers our ping (its TTT) — or is a one-way ping needing no answer. */
  private onPingAnswer(pdu: NopOut): void {
    if (pdu.ttt === RESERVED_TAG) return;
    const series = this.pings.get(pdu.ttt);
    if (!series) return;
    this.pings.delete(pdu.ttt);
    series.misses = 0;
    if (series.outstanding === pdu.ttt) series.outstanding = undefined;
    this.host.recorder.emit({ type: 'nop-ping', connection: this.id, answered: true });
  }

  private startPings(armed: Armed<'nop-ping'>): void {
    const spec = armed.spec;
    const interval = Math.max(1, spec.intervalMs);
    const missLimit = Math.max(1, spec.missLimit ?? 3);
    const series = { outstanding: undefined as number | undefined, misses: 0 };
    this.note('nop-ping', `NOP-In every ${interval} ms, drop after ${missLimit} unanswered`);
    const tick = () => {
      if (this.closed) return;
      if (series.outstanding !== undefined && ++series.misses >= missLimit) {
        this.note('nop-ping', `${missLimit} NOP-In pings unanswered: connection dropped`);
        this.destroy();
        return;
      }
      const ttt = this.allocateTag();
      series.outstanding = ttt;
      this.pings.set(ttt, series);
      // §11.19: TTT set, ITT 0xffffffff — the initiator must answer; StatSN is not consumed.
      const ping: NopIn = { opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt, ...this.numbers(false), data: spec.data ?? EMPTY };
      this.send(ping);
      this.host.recorder.emit({ type: 'nop-ping', connection: this.id, answered: false });
    };
    tick();
    const timer = setInterval(tick, interval);
    timer.unref();
    this.timers.add(timer);
    const stop = () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
    const undo = armed.onCancelDo(stop);
    this.socket.once('close', undo);
  }

  // ---- Text ---------------------------------------------------------------------------------------------------

  /** §11.10-§11.11: SendTargets (§13.3) and the keys a full-feature Text Request may carry. */
  private onText(pdu: TextRequest): void {
    if (pdu.ttt !== RESERVED_TAG) {
      // The initiator asks for the next part of a long response (§11.11).
      const pending = this.textParts.get(pdu.ttt);
      if (!pending || pending.itt !== pdu.itt) {
        this.violation('text', `Text Request with TTT 0x${pdu.ttt.toString(16)}, which names no response in progress`);
        this.reject(RejectReason.InvalidPduField, pdu);
        return;
      }
      this.textParts.delete(pdu.ttt);
      this.sendTextParts(pdu.itt, pending.parts);
      return;
    }
    if (!this.textIn || this.textIn.itt !== pdu.itt) this.textIn = { itt: pdu.itt, assembler: new TextAssembler() };
    let pairs: TextPair[] | undefined;
    try {
      pairs = this.textIn.assembler.push(pdu.data, pdu.continue);
    } catch (e) {
      this.textIn = undefined;
      this.violation('text', e instanceof Error ? e.message : String(e));
      this.reject(RejectReason.InvalidPduField, pdu);
      return;
    }
    if (pairs === undefined) {
      // §11.10: more text follows; an empty response with a TTT asks for it.
      this.sendTextResponse(pdu.itt, EMPTY, { final: false, continue: false, ttt: this.allocateTag() });
      return;
    }
    this.textIn = undefined;
    const sendTargets = pairs.find(([k]) => k === 'SendTargets');
    let replies: TextPair[];
    if (sendTargets) {
      replies = this.sendTargets(sendTargets[1]);
    } else {
      const answered = respondInFullFeature(pairs);
      replies = answered.replies;
      if (answered.initiatorMaxRecv !== undefined) this.params = { ...this.params, initiatorMaxRecvDataSegmentLength: answered.initiatorMaxRecv };
    }
    this.sendTextParts(pdu.itt, splitText(encodeText(replies), this.params.initiatorMaxRecvDataSegmentLength));
  }

  /** §13.3: TargetName plus TargetAddress (host:port,tpgt) for each target the request covers. */
  private sendTargets(value: string): TextPair[] {
    const session = this.session!;
    const { host, port, portalGroupTag } = this.host.advertised;
    let entries: readonly TargetEntry[];
    if (session.sessionType === 'Discovery') entries = value === 'All' || value === '' ? this.host.entries : this.host.entries.filter((e) => e.name === value);
    else entries = value === '' || value === 'All' || value === session.target?.name ? [session.target!] : this.host.entries.filter((e) => e.name === value);
    const address = `${formatPortal({ host, port })},${portalGroupTag}`;
    return entries.flatMap((e): TextPair[] => [
      ['TargetName', e.name],
      ['TargetAddress', address],
    ]);
  }

  private sendTextParts(itt: number, parts: Buffer[]): void {
    const [first, ...rest] = parts;
    if (rest.length === 0) {
      this.sendTextResponse(itt, first ?? EMPTY, { final: true, continue: false, ttt: RESERVED_TAG });
      return;
    }
    const ttt = this.allocateTag();
    this.textParts.set(ttt, { itt, parts: rest });
    this.sendTextResponse(itt, first!, { final: false, continue: true, ttt });
  }

  private sendTextResponse(itt: number, data: Buffer, o: { final: boolean; continue: boolean; ttt: number }): void {
    this.send({ opcode: Opcode.TextResponse, final: o.final, continue: o.continue, lun: 0n, itt, ttt: o.ttt, ...this.numbers(true), data });
  }

  // ---- Task management ----------------------------------------------------------------------------------------

  /** §11.5-§11.6: every function completes here (or is refused with the RFC's response code). */
  private onTaskManagement(pdu: TaskMgmtRequest): void {
    const session = this.session!;
    const entry = session.target;
    const lun = lunNumber(pdu.lun);
    const unitExists = entry !== undefined && lun !== undefined && entry.units.has(lun);
    let response: number = TmfResponse.FunctionComplete;
    let afterResponse: (() => void) | undefined;
    if (!entry) {
      this.violation('discovery-session', 'Task Management in a discovery session (RFC 7143 §4.1)');
      response = TmfResponse.Rejected;
    } else {
      switch (pdu.function) {
        case TmfFunction.AbortTask: {
          const task = session.tasks.get(pdu.referencedTaskTag);
          if (task) this.host.abortTasks(session, [task]);
          else if (session.inWindow(pdu.refCmdSN) && ((pdu.refCmdSN - pdu.cmdSN) | 0) < 0) session.skip(pdu.refCmdSN); // §11.5.1 b
          else response = TmfResponse.TaskDoesNotExist; // §11.5.1 c
          break;
        }
        case TmfFunction.AbortTaskSet:
        case TmfFunction.ClearTaskSet:
          if (!unitExists) response = TmfResponse.LunDoesNotExist;
          else this.host.abortTasks(session, session.tasksOn(lun));
          break;
        case TmfFunction.ClearAca:
          break; // no ACA is ever established here
        case TmfFunction.LogicalUnitReset:
          if (!unitExists) response = TmfResponse.LunDoesNotExist;
          else this.host.resetUnit(entry, lun);
          break;
        case TmfFunction.TargetWarmReset:
          this.host.resetTarget(entry, false);
          break;
        case TmfFunction.TargetColdReset:
          // §11.5.1: a cold reset also closes every connection — after this response.
          afterResponse = () => this.host.resetTarget(entry, true);
          break;
        case TmfFunction.TaskReassign:
          response = TmfResponse.ReassignmentNotSupported; // §11.5.1: ErrorRecoveryLevel 0
          break;
        default:
          response = TmfResponse.NotSupported;
      }
    }
    this.send({ opcode: Opcode.TaskMgmtResponse, response, itt: pdu.itt, ...this.numbers(true) });
    this.host.recorder.emit({ type: 'task-management', connection: this.id, function: pdu.function, response });
    if (afterResponse) {
      this.flush();
      afterResponse();
    }
  }

  // ---- Logout -------------------------------------------------------------------------------------------------

  /** §11.14-§11.15: close the session (0), a connection (1); recovery (2) is not supported at ERL 0. */
  private onLogout(pdu: LogoutRequest): void {
    const session = this.session!;
    this.host.recorder.emit({ type: 'logout', connection: this.id, reasonCode: pdu.reasonCode });
    const respond = (response: number) =>
      this.send({ opcode: Opcode.LogoutResponse, response, itt: pdu.itt, ...this.numbers(true), time2Wait: 0, time2Retain: 0 });
    if (pdu.reasonCode === 0) {
      respond(0);
      this.end();
      this.host.endSession(session, false);
      return;
    }
    if (pdu.reasonCode === 1) {
      const other = [...session.connectionIds].map((id) => this.host.connectionById(id)).find((c) => c?.cid === pdu.cid);
      if (!other) {
        respond(1); // CID not found
        return;
      }
      respond(0);
      if (other === this) this.end();
      else other.destroy();
      return;
    }
    respond(2); // connection recovery is not supported
  }

  // ---- output -------------------------------------------------------------------------------------------------

  /** StatSN/ExpCmdSN/MaxCmdSN for a PDU; `consume` when it takes a StatSN (§4.2.2.2). */
  private numbers(consume: boolean): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = this.statSN;
    if (consume) this.statSN = (this.statSN + 1) >>> 0;
    const session = this.session!;
    return { statSN, expCmdSN: session.expCmdSN, maxCmdSN: session.maxCmdSN };
  }

  /** §11.9: an Async Message; it consumes a StatSN. */
  private asyncMessage(asyncEvent: number, p: { parameter1?: number; parameter2?: number; parameter3?: number }): void {
    const pdu: AsyncMessage = {
      opcode: Opcode.AsyncMessage,
      lun: 0n,
      ...this.numbers(true),
      asyncEvent,
      asyncVCode: 0,
      parameter1: p.parameter1 ?? 0,
      parameter2: p.parameter2 ?? 0,
      parameter3: p.parameter3 ?? 0,
      data: EMPTY,
    };
    this.send(pdu);
  }

  /** §11.17: a Reject carrying the rejected PDU's header. */
  private reject(reason: number, rejected: InitiatorPdu): void {
    let header: Buffer;
    try {
      header = Buffer.from(encodePdu(rejected, NO_DIGESTS)[0]!.subarray(0, 48));
    } catch {
      header = Buffer.alloc(48);
    }
    this.send({ opcode: Opcode.Reject, reason, ...this.numbers(true), dataSN: 0, data: header });
  }

  private sendGarbage(bytes: number | undefined): void {
    const garbage = randomBytes(Math.max(1, bytes ?? 64));
    garbage[0] = GARBAGE_OPCODE;
    this.note('garbage', `${garbage.length} random bytes`);
    this.outbox.push(garbage);
    this.scheduleFlush();
  }

  send(pdu: TargetPdu): void {
    if (this.closed) return;
    for (const segment of encodePdu(pdu, this.digests)) this.outbox.push(segment);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Everything queued in one turn goes out as one corked write (a single writev). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0 || this.socket.destroyed) return;
    const segments = this.outbox;
    this.outbox = [];
    this.socket.cork();
    for (const segment of segments) this.socket.write(segment);
    this.socket.uncork();
  }

  private allocateTag(): number {
    const tag = this.nextTag;
    this.nextTag = this.nextTag >= 0x7fffffff ? 1 : this.nextTag + 1;
    return tag;
  }

  private retire(itt: number): void {
    this.retired.add(itt);
    if (this.retired.size > RETIRED_LIMIT) this.retired.delete(this.retired.values().next().value!);
  }

  private later(ms: number, fn: () => void, group?: Set<NodeJS.Timeout>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      group?.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
    group?.add(timer);
  }

  private violation(kind: ViolationKind, detail: string): void {
    this.host.recorder.emit({ type: 'violation', violation: { kind, detail, connection: this.id } });
  }

  private note(kind: MisbehaviourKind, detail: string): void {
    this.host.recorder.emit({ type: 'misbehaviour', connection: this.id, kind, detail });
  }

  private onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.timers.clear();
    this.outbox = [];
    this.host.onClosed(this);
  }
}

/** The LUN number of a single-level LUN field, undefined for any other form (no such unit here). */
function lunNumber(field: bigint): number | undefined {
  try {
    return decodeLun(field);
  } catch {
    return undefined;
  }
}
