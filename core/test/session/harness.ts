// A scripted target for SessionCore: records what the core sends on each connection, answers with PDUs built here,
// and drives time with a fake clock. No sockets, no timers: every step is a call.
import type { IscsiError } from '../../src/errors.js';
import type { LoginResult } from '../../src/login/login-state-machine.js';
import {
  Opcode,
  RESERVED_TAG,
  type InitiatorPdu,
  type NopOut,
  type ScsiCommand,
  type TargetPdu,
  type TaskMgmtRequest,
  type TextRequest,
} from '../../src/pdu/types.js';
import { SessionCore, type ConnectionPort, type SessionCoreOptions } from '../../src/session/session-core.js';
import type { SessionEvent } from '../../src/session/session-events.js';
import type { OperationalParameters } from '../../src/text/negotiation.js';

export const PARAMETERS: OperationalParameters = {
  headerDigest: false,
  dataDigest: false,
  maxRecvDataSegmentLength: 262144,
  maxXmitDataSegmentLength: 8192,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  initialR2T: true,
  immediateData: true,
  maxOutstandingR2T: 1,
  maxConnections: 1,
  defaultTime2Wait: 0,
  defaultTime2Retain: 0,
  errorRecoveryLevel: 0,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
};

/** One connection as the target sees it: what arrived, and the numbers it answers with. */
export class FakeConnection implements ConnectionPort {
  readonly sent: InitiatorPdu[] = [];
  closed: { error: IscsiError | undefined } | undefined;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;

  constructor(
    private readonly scene: Scene,
    readonly login: LoginResult,
  ) {
    this.statSN = login.expStatSN;
    this.expCmdSN = login.expCmdSN;
    this.maxCmdSN = login.maxCmdSN;
  }

  send(pdu: InitiatorPdu): void {
    this.sent.push(pdu);
  }

  sendAll(pdus: readonly InitiatorPdu[]): void {
    this.sent.push(...pdus);
  }

  /** The core asked to end the connection: as the driver does, report the loss back at once. */
  close(error?: IscsiError): void {
    if (this.closed) return;
    this.closed = { error };
    if (this.scene.current === this) this.scene.lose(error);
  }

  commands(): ScsiCommand[] {
    return this.sent.filter((p): p is ScsiCommand => p.opcode === Opcode.ScsiCommand);
  }

  tmfs(): TaskMgmtRequest[] {
    return this.sent.filter((p): p is TaskMgmtRequest => p.opcode === Opcode.TaskMgmtRequest);
  }

  nopOuts(): NopOut[] {
    return this.sent.filter((p): p is NopOut => p.opcode === Opcode.NopOut);
  }

  texts(): TextRequest[] {
    return this.sent.filter((p): p is TextRequest => p.opcode === Opcode.TextRequest);
  }

  last(): InitiatorPdu {
    return this.sent.at(-1)!;
  }

  /** Numbers for a response that consumes a StatSN; a command it answers moves ExpCmdSN on. */
  private numbers(answersCommand = false): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    if (answersCommand) {
      this.expCmdSN = (this.expCmdSN + 1) >>> 0;
      this.maxCmdSN = (this.maxCmdSN + 1) >>> 0;
    }
    const n = { statSN: this.statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
    this.statSN = (this.statSN + 1) >>> 0;
    return n;
  }

  /** §11.4: SCSI Response for `command` with `status`. */
  respond(command: ScsiCommand, status = 0, data = Buffer.alloc(0)): void {
    this.deliver({
      opcode: Opcode.ScsiResponse,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: false,
      response: 0,
      status,
      itt: command.itt,
      snackTag: 0,
      ...this.numbers(true),
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      data,
    });
  }

  /** §11.7: one Data-In with status (phase collapse) carrying `data`. */
  dataInWithStatus(command: ScsiCommand, data: Buffer): void {
    this.deliver({
      opcode: Opcode.DataIn,
      final: true,
      acknowledge: false,
      overflow: false,
      underflow: false,
      statusPresent: true,
      status: 0,
      lun: command.lun,
      itt: command.itt,
      ttt: RESERVED_TAG,
      ...this.numbers(true),
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data,
    });
  }

  r2t(command: ScsiCommand, offset: number, length: number, r2tSN = 0, ttt = 0x100): void {
    this.deliver({
      opcode: Opcode.R2T,
      lun: command.lun,
      itt: command.itt,
      ttt,
      statSN: this.statSN,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      r2tSN,
      bufferOffset: offset,
      desiredDataTransferLength: length,
    });
  }

  tmfResponse(request: TaskMgmtRequest, response: number): void {
    this.deliver({ opcode: Opcode.TaskMgmtResponse, response, itt: request.itt, ...this.numbers() });
  }

  /** NOP-In: the answer to a ping (ITT echoed, TTT reserved), or the target's own ping (`ttt` set). */
  nopIn(itt: number, ttt = RESERVED_TAG, data = Buffer.alloc(0)): void {
    const n = itt === RESERVED_TAG ? { statSN: this.statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN } : this.numbers();
    this.deliver({ opcode: Opcode.NopIn, lun: 0n, itt, ttt, ...n, data });
  }

  /** A NOP-In that only moves the window (§4.2.2.1: MaxCmdSN may arrive on any PDU). */
  window(expCmdSN: number, maxCmdSN: number): void {
    this.expCmdSN = expCmdSN >>> 0;
    this.maxCmdSN = maxCmdSN >>> 0;
    this.nopIn(RESERVED_TAG, RESERVED_TAG);
  }

  textResponse(request: TextRequest, text: string, more: boolean, ttt = more ? 0x77 : RESERVED_TAG): void {
    this.deliver({
      opcode: Opcode.TextResponse,
      final: !more,
      continue: more,
      lun: 0n,
      itt: request.itt,
      ttt,
      ...this.numbers(),
      data: Buffer.from(text),
    });
  }

  /** §11.17: a Reject carrying the header of the rejected PDU (opcode and ITT are what the core reads). */
  reject(rejected: { opcode: number; itt: number }, reason = 0x09): void {
    const header = Buffer.alloc(48);
    header[0] = rejected.opcode;
    header.writeUInt32BE(rejected.itt, 16);
    this.deliver({ opcode: Opcode.Reject, reason, ...this.numbers(), dataSN: 0, data: header });
  }

  asyncEvent(asyncEvent: number, parameter2 = 0, parameter3 = 0): void {
    this.deliver({
      opcode: Opcode.AsyncMessage,
      lun: 0n,
      statSN: this.statSN,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      asyncEvent,
      asyncVCode: 0,
      parameter1: 0,
      parameter2,
      parameter3,
      data: Buffer.alloc(0),
    } as TargetPdu);
    this.statSN = (this.statSN + 1) >>> 0;
  }

  logoutResponse(itt: number, response = 0): void {
    this.deliver({ opcode: Opcode.LogoutResponse, response, itt, ...this.numbers(), time2Wait: 0, time2Retain: 0 });
  }

  /** A PDU from the target, as the connection's frame handler would hand it over. */
  deliver(pdu: TargetPdu): void {
    if (this.closed) throw new Error('delivering on a closed connection');
    try {
      this.scene.core.receive(pdu);
    } catch (e) {
      // IscsiConnection ends the connection with whatever the handler throws.
      this.close(e as IscsiError);
    }
  }
}

/** A SessionCore, a fake clock and the connections it has had. */
export class Scene {
  readonly core: SessionCore;
  readonly events: SessionEvent[] = [];
  readonly connections: FakeConnection[] = [];
  current: FakeConnection | undefined;
  now = 0;

  constructor(options: SessionCoreOptions = {}) {
    this.core = new SessionCore({ noopOutIntervalMs: 0, reconnectMinDelayMs: 100, random: () => 0.5, ...options }, this.now);
    this.core.on((e) => this.events.push(e));
  }

  /** Logs in a new connection with the window [cmdSN, cmdSN + window - 1]. */
  connect(options: { cmdSN?: number; window?: number; parameters?: Partial<OperationalParameters> } = {}): FakeConnection {
    const cmdSN = options.cmdSN ?? 1;
    const login: LoginResult = {
      tsih: this.connections.length + 1,
      isid: 0x400001n,
      cid: 0,
      expStatSN: 100,
      cmdSN,
      expCmdSN: cmdSN,
      maxCmdSN: (cmdSN + (options.window ?? 64) - 1) >>> 0,
      parameters: { ...PARAMETERS, ...options.parameters },
      authenticated: 'None',
    };
    const c = new FakeConnection(this, login);
    this.connections.push(c);
    this.current = c;
    this.core.attach(c, login, this.now);
    return c;
  }

  /** The connection is gone (a reset, a close by the target). */
  lose(error?: IscsiError): 'reconnect' | 'ended' {
    const c = this.current;
    this.current = undefined;
    if (c && !c.closed) c.closed = { error };
    return this.core.connectionLost(error, this.now);
  }

  /** Moves the fake clock on and runs the core's housekeeping, as the driver's one timer does. */
  advance(ms: number): void {
    this.now += ms;
    this.core.tick(this.now);
  }
}

/** A promise's outcome without awaiting a timer: settles within the microtask queue or stays 'pending'. */
export async function outcome<T>(promise: Promise<T>): Promise<{ state: 'resolved'; value: T } | { state: 'rejected'; error: IscsiError } | { state: 'pending' }> {
  let result: { state: 'resolved'; value: T } | { state: 'rejected'; error: IscsiError } | { state: 'pending' } = { state: 'pending' };
  promise.then(
    (value) => (result = { state: 'resolved', value }),
    (error: IscsiError) => (result = { state: 'rejected', error }),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return result;
}

export const TUR = Buffer.alloc(6);

/** READ(10) of one block at `lba`: the LBA tells commands apart. */
export function read10(lba: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(lba, 2);
  cdb[8] = 1;
  return cdb;
}

export const lbaOf = (command: ScsiCommand): number => command.cdb.readUInt32BE(2);
