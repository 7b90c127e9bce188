import { IscsiError, ProtocolError, ScsiError, TransportError } from '../errors.js';
import { deriveIsid } from '../login/isid.js';
import type { LoginAuth, LoginResult } from '../login/login-state-machine.js';
import { Opcode, RESERVED_TAG, type AsyncMessage, type NopIn, type Pdu, type Reject, type TargetPdu, type TextResponse } from '../pdu/types.js';
import { formatPortal, type Portal } from '../portal.js';
import { CommandWindow } from '../session/command-window.js';
import { describeSense, SenseKey, type Sense } from '../scsi/sense.js';
import { ScsiTask, type ScsiRequest, type ScsiResult } from '../session/scsi-task.js';
import { serialAdd, serialLt } from '../session/serial.js';
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
  /** Logout Response wait (open-iscsi's logout_timeout defaults to 15 s). */
  readonly logoutTimeoutMs?: number | undefined;
}

/** Each pending UNIT ATTENTION condition is reported once; a few in a row (power on, then parameters changed) are normal. */
const MAX_UNIT_ATTENTION_RETRIES = 4;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: IscsiError): void;
}

interface CommandEntry extends Pending<ScsiResult> {
  readonly task: ScsiTask;
}

export type SessionEvent =
  | { readonly type: 'async'; readonly message: AsyncMessage }
  | { readonly type: 'unit-attention'; readonly lun: number; readonly sense: Sense }
  | { readonly type: 'closed'; readonly error: IscsiError | undefined };

/**
 * A logged-in iSCSI session over one connection (MaxConnections=1): numbering (CmdSN/StatSN), SCSI commands with
 * their data, text requests, NOP-In answers and logout. The per-command logic lives in the I/O-free ScsiTask and
 * CommandWindow; this class wires them to the socket.
 */
export class IscsiSession {
  private readonly window: CommandWindow;
  private expStatSN: number;
  private nextItt = 1;
  private readonly commands = new Map<number, CommandEntry>();
  private readonly waitingForWindow: Array<() => void> = [];
  private text: (Pending<TextPair[]> & { itt: number; assembler: TextAssembler }) | undefined;
  private logoutWaiter: (Pending<void> & { itt: number }) | undefined;
  private closeError: IscsiError | undefined;
  private closed = false;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  /** Running counts for session views and tests; the daemon turns them into stats. */
  readonly counters = { commands: 0, bytesRead: 0, bytesWritten: 0, nopInAnswered: 0, unitAttentions: 0 };

  private constructor(
    private readonly connection: IscsiConnection,
    readonly login: LoginResult,
    readonly portal: Portal,
    readonly options: SessionOptions,
  ) {
    this.window = new CommandWindow(login.cmdSN, login.expCmdSN, login.maxCmdSN);
    this.expStatSN = login.expStatSN;
    const p = login.parameters;
    connection.onPdu = (pdu) => this.dispatch(pdu);
    connection.onClose = (error) => this.shutdown(error ?? new TransportError('ISCSI_CONNECTION_CLOSED', 'connection closed'));
    // Digests and our receive limit apply from the full feature phase on (RFC 7143 §13.1, §13.12).
    connection.configure({ headerDigest: p.headerDigest, dataDigest: p.dataDigest, maxRecvDataSegmentLength: p.maxRecvDataSegmentLength });
  }

  static async open(options: SessionOptions): Promise<IscsiSession> {
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

  get inFlight(): number {
    return this.commands.size;
  }

  on(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs one SCSI command to completion. Resolves with any SCSI status; rejects only on transport/protocol failure. */
  async execute(request: ScsiRequest): Promise<ScsiResult> {
    this.assertOpen();
    while (!this.window.open) {
      await new Promise<void>((resolve) => this.waitingForWindow.push(resolve));
      this.assertOpen();
    }
    const p = this.login.parameters;
    const task = new ScsiTask(this.allocateItt(), request, {
      maxXmitDataSegmentLength: p.maxXmitDataSegmentLength,
      firstBurstLength: p.firstBurstLength,
      maxBurstLength: p.maxBurstLength,
      immediateData: p.immediateData,
      initialR2T: p.initialR2T,
    });
    return new Promise<ScsiResult>((resolve, reject) => {
      this.commands.set(task.itt, { task, resolve, reject });
      const { command, dataOut } = task.start(this.window.take(), this.expStatSN);
      this.connection.sendAll([command, ...dataOut]);
    });
  }

  /**
   * Like execute, but a status other than GOOD becomes a ScsiError with the decoded sense. A UNIT ATTENTION (SAM-5
   * §5.14: reported once per I_T nexus after login, reset or a change) is surfaced as an event and the command retried.
   */
  async command(request: ScsiRequest): Promise<ScsiResult> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.execute(request);
      if (result.status === 0) return result;
      if (attempt < MAX_UNIT_ATTENTION_RETRIES && result.status === 0x02 && result.sense?.senseKey === SenseKey.UnitAttention) {
        this.counters.unitAttentions++;
        this.emit({ type: 'unit-attention', lun: request.lun, sense: result.sense });
        continue;
      }
      throw scsiStatusError(result);
    }
  }

  /**
   * A Text Request/Response exchange (RFC 7143 §11.10, §11.11), following continuations: a response with C=1 or F=0
   * is answered by an empty request carrying the target's TTT until the final response.
   */
  async textRequest(pairs: readonly TextPair[]): Promise<TextPair[]> {
    this.assertOpen();
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
    const itt = this.allocateItt();
    const timeoutMs = this.options.logoutTimeoutMs ?? 15_000;
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

  private dispatch(pdu: TargetPdu): void {
    this.acknowledge(pdu);
    switch (pdu.opcode) {
      case Opcode.DataIn: {
        const entry = this.entry(pdu.itt, pdu);
        const result = entry.task.onDataIn(pdu);
        if (result) this.finishCommand(pdu.itt, result);
        return;
      }
      case Opcode.ScsiResponse: {
        const entry = this.entry(pdu.itt, pdu);
        let result: ScsiResult;
        try {
          result = entry.task.onResponse(pdu);
        } catch (e) {
          this.commands.delete(pdu.itt);
          entry.reject(e as IscsiError);
          return;
        }
        this.finishCommand(pdu.itt, result);
        return;
      }
      case Opcode.R2T: {
        const entry = this.entry(pdu.itt, pdu);
        this.connection.sendAll(entry.task.onR2T(pdu, this.expStatSN));
        return;
      }
      case Opcode.NopIn:
        return this.onNopIn(pdu);
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
        this.emit({ type: 'async', message: pdu });
        return;
      case Opcode.Reject:
        return this.onReject(pdu);
      default:
        throw unexpected(pdu);
    }
  }

  /** §4.2.2: StatSN acknowledgement and the command window from every PDU that carries them. */
  private acknowledge(pdu: TargetPdu): void {
    if (!('statSN' in pdu) || !('maxCmdSN' in pdu)) return;
    if (this.window.update(pdu.expCmdSN, pdu.maxCmdSN)) this.wakeWindow();
    // NOP-In with a reserved ITT and R2T carry StatSN without advancing it (§11.19.3, §11.8.3); Data-In only with S.
    const advances =
      pdu.opcode === Opcode.NopIn ? pdu.itt !== RESERVED_TAG : pdu.opcode === Opcode.R2T ? false : pdu.opcode === Opcode.DataIn ? pdu.statusPresent : true;
    if (advances && !serialLt(pdu.statSN, this.expStatSN)) this.expStatSN = serialAdd(pdu.statSN, 1);
  }

  private onNopIn(pdu: NopIn): void {
    if (pdu.ttt !== RESERVED_TAG) {
      // §11.19: a target ping; answer with a NOP-Out echoing its TTT, LUN and ping data, ITT reserved, immediate.
      this.connection.send({
        opcode: Opcode.NopOut,
        immediate: true,
        lun: pdu.lun,
        itt: RESERVED_TAG,
        ttt: pdu.ttt,
        cmdSN: this.window.cmdSN,
        expStatSN: this.expStatSN,
        data: Buffer.from(pdu.data),
      });
      this.counters.nopInAnswered++;
    }
    // A NOP-In with ttt reserved answers a NOP-Out of ours; we send none yet (keepalive pings arrive with recovery).
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

  private onReject(pdu: Reject): void {
    // §11.17: the data segment holds the rejected PDU's header; its ITT names the command that failed.
    const itt = pdu.data.length >= 20 ? pdu.data.readUInt32BE(16) : RESERVED_TAG;
    const error = new TransportError('ISCSI_REJECT', `target rejected a PDU (reason 0x${pdu.reason.toString(16)})`);
    const entry = this.commands.get(itt);
    if (entry) {
      this.commands.delete(itt);
      entry.reject(error);
      return;
    }
    if (this.text && this.text.itt === itt) {
      const text = this.text;
      this.text = undefined;
      text.reject(error);
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

  private entry(itt: number, pdu: Pdu): CommandEntry {
    const entry = this.commands.get(itt);
    if (!entry) throw unexpected(pdu);
    return entry;
  }

  private finishCommand(itt: number, result: ScsiResult): void {
    const entry = this.commands.get(itt)!;
    this.commands.delete(itt);
    this.counters.commands++;
    this.counters.bytesRead += result.data.length;
    this.counters.bytesWritten += entry.task.writeLength;
    entry.resolve(result);
  }

  private allocateItt(): number {
    // ITT 0xffffffff is reserved (§11.2.1.8); skip it, and skip tags still in use after wraparound.
    for (;;) {
      const itt = this.nextItt;
      this.nextItt = this.nextItt >= 0xfffffffe ? 1 : this.nextItt + 1;
      if (!this.commands.has(itt)) return itt;
    }
  }

  private wakeWindow(): void {
    while (this.window.open && this.waitingForWindow.length > 0) this.waitingForWindow.shift()!();
  }

  private assertOpen(): void {
    if (this.closed) throw this.closeError ?? new TransportError('ISCSI_SESSION_CLOSED', 'session is closed');
  }

  private shutdown(error: IscsiError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error ?? new TransportError('ISCSI_SESSION_CLOSED', 'session logged out');
    this.connection.close(error);
    const failure = this.closeError;
    for (const entry of this.commands.values()) entry.reject(failure);
    this.commands.clear();
    this.text?.reject(failure);
    this.text = undefined;
    this.logoutWaiter?.reject(failure);
    for (const wake of this.waitingForWindow.splice(0)) wake();
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

export function scsiStatusError(result: ScsiResult): ScsiError {
  const sense = result.sense;
  if (result.status === 0x02 && sense) {
    return new ScsiError('ISCSI_SCSI_CHECK_CONDITION', `CHECK CONDITION: ${describeSense(sense)}`, {
      status: result.status,
      senseKey: sense.senseKey,
      asc: sense.asc,
      ascq: sense.ascq,
    });
  }
  return new ScsiError('ISCSI_SCSI_STATUS', `SCSI status 0x${result.status.toString(16).padStart(2, '0')}`, { status: result.status });
}
