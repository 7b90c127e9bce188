/**
 * A scripted iSCSI target on loopback, for the faults a real target (tgtd) cannot produce on cue: a command left
 * unanswered, a Reject, an Async Message, a closed command window, a wrong DataSN.
 *
 * ```ts
 * const target = await ScriptedTarget.start({
 *   onPdu(pdu, c) {
 *     if (pdu.opcode === Opcode.ScsiCommand) c.scsiResponse(pdu, { status: 0x08 }); // BUSY
 *   },
 * });
 * const session = await IscsiSession.open({ portal: target.portal, … });
 * await target.close();
 * ```
 *
 * What it does by itself: listens on 127.0.0.1:0; completes a login (AuthMethod=None, then every operational key the
 * initiator offers is accepted with the first value of its list, unless `keys` overrides it; declares its own
 * MaxRecvDataSegmentLength, RFC 7143 §13.12; assigns a TSIH, §11.13); switches to the negotiated digests for the full
 * feature phase (§13.1); keeps StatSN (§4.2.2.2) and ExpCmdSN/MaxCmdSN with a window the test can change (§4.2.2.1).
 * Everything else is the script's: each full-feature PDU goes to `onPdu`, and the connection's helpers build the
 * answers with the numbering filled in. `login` replaces the built-in login with a per-request script.
 *
 * Bounded: `close()` destroys every socket and the server; `next()` waits with a timeout. A script that throws, or an
 * initiator PDU that cannot be framed (e.g. a data segment over our MaxRecvDataSegmentLength), is recorded in `errors`
 * and its connection destroyed (nothing escapes a socket handler).
 */
import net from 'node:net';
import {
  decodeText,
  encodeLun,
  encodePdu,
  encodePduToBuffer,
  encodeText,
  NO_DIGESTS,
  Opcode,
  PduFramer,
  RESERVED_TAG,
  Stage,
  type AsyncMessage,
  type DataIn,
  type DigestOptions,
  type InitiatorPdu,
  type LoginRequest,
  type LoginResponse,
  type LogoutRequest,
  type LogoutResponse,
  type NopIn,
  type PduOf,
  type R2T,
  type Reject,
  type ScsiCommand,
  type ScsiResponse,
  type TargetPdu,
  type TaskMgmtRequest,
  type TaskMgmtResponse,
  type TextPair,
  type TextRequest,
  type TextResponse,
  encodeFixedSense,
} from '@iscsi-initiator/core';

/** What reaches a script after login. */
export type FullFeaturePdu = Exclude<InitiatorPdu, LoginRequest>;

/** Called for every Login Request when `login` replaces the built-in login. `send` encodes a PDU or writes raw bytes. */
export type LoginScript = (request: LoginRequest, send: (pdu: Buffer | TargetPdu) => void, socket: net.Socket, loginCount: number) => void;

export interface ScriptedTargetOptions {
  /** Reacts to each full-feature PDU. Default: none (the target stays silent). */
  readonly onPdu?: ((pdu: FullFeaturePdu, connection: TargetConnection) => void) | undefined;
  /** Replaces the built-in login. */
  readonly login?: LoginScript | undefined;
  /** With `login`: the digests used once a Login Request asks for the full feature phase. */
  readonly digests?: DigestOptions | undefined;
  /** What the target declares it can receive (§13.12). Default 8192. */
  readonly maxRecvDataSegmentLength?: number | undefined;
  /** Commands granted beyond ExpCmdSN: MaxCmdSN = ExpCmdSN + window - 1 (§4.2.2.1); 0 = closed. Default 16. */
  readonly window?: number | undefined;
  /** Answers for offered operational keys instead of the first offered value, e.g. `{ InitialR2T: 'Yes' }`. */
  readonly keys?: Readonly<Record<string, string>> | undefined;
  /** TSIH of the new session. Default 0x101. */
  readonly tsih?: number | undefined;
  /** The first StatSN. Default 1. */
  readonly statSN?: number | undefined;
}

export class ScriptedTargetError extends Error {
  override readonly name = 'ScriptedTargetError';
}

/** SPC-4 §4.5.3 fixed-format sense data (core's encoder): what SCSI Response and Async Message carry. */
export const fixedSense = encodeFixedSense;

/** §11.4.7.2: the data segment of a SCSI Response (and §11.9.4 of an Async Message) is SenseLength + sense data. */
function senseSegment(sense: Buffer | undefined): Buffer {
  if (!sense) return Buffer.alloc(0);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(sense.length);
  return Buffer.concat([length, sense]);
}

/** One initiator connection: its numbering, what it sent, and the helpers a script answers with. */
export class TargetConnection {
  /** Operational keys as answered during login (the initiator's MaxRecvDataSegmentLength is kept apart). */
  readonly negotiated = new Map<string, string>();
  /** What the initiator declared it can receive (§13.12): data segments we send must not exceed it. */
  initiatorMaxRecvDataSegmentLength = 8192;
  digests: DigestOptions = { ...NO_DIGESTS };
  fullFeature = false;
  tsih = 0;
  statSN: number;
  expCmdSN = 0;
  /** MaxCmdSN = ExpCmdSN + window - 1; change it and the next PDU sent carries the new window. */
  window: number;
  /** Every full-feature PDU received, in order. */
  readonly received: FullFeaturePdu[] = [];
  /** SCSI commands received and not yet ended by a status, by ITT. */
  readonly outstanding = new Map<number, ScsiCommand>();
  /** The most commands outstanding at once. */
  maxOutstanding = 0;
  /** The MaxCmdSN last sent to the initiator. */
  grantedMaxCmdSN = 0;
  /** CmdSNs of non-immediate commands that arrived beyond the MaxCmdSN granted so far (§4.2.2.1 forbids them). */
  readonly overruns: number[] = [];
  private readonly nextDataSN = new Map<number, number>();
  private readonly nextOffset = new Map<number, number>();
  private readonly nextR2TSN = new Map<number, number>();
  private readonly inbox: FullFeaturePdu[] = [];
  private readonly waiters: Array<{ opcode: number; resolve: (pdu: FullFeaturePdu) => void; fail: (e: Error) => void }> = [];

  constructor(
    readonly socket: net.Socket,
    options: ScriptedTargetOptions,
  ) {
    this.statSN = options.statSN ?? 1;
    this.window = options.window ?? 16;
  }

  get maxCmdSN(): number {
    return (this.expCmdSN + this.window - 1) >>> 0;
  }

  /** Resolves with the oldest received PDU of `opcode` not yet returned by `next`, waiting up to `timeoutMs`. */
  next<O extends FullFeaturePdu['opcode']>(opcode: O, timeoutMs = 5_000): Promise<PduOf<O>> {
    const at = this.inbox.findIndex((p) => p.opcode === opcode);
    if (at >= 0) return Promise.resolve(this.inbox.splice(at, 1)[0] as PduOf<O>);
    return new Promise<PduOf<O>>((resolve, reject) => {
      const waiter = {
        opcode,
        resolve: (pdu: FullFeaturePdu) => {
          clearTimeout(timer);
          resolve(pdu as PduOf<O>);
        },
        fail: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new ScriptedTargetError(`no PDU with opcode 0x${opcode.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Encodes and sends any target PDU with the digests in force (none during login). */
  send(pdu: TargetPdu): void {
    if (!this.socket.destroyed) this.socket.write(encodePduToBuffer(pdu, this.digests));
  }

  /** §11.4: ends `command` with a status (default GOOD); `sense` is the bare sense data (SenseLength is added). */
  scsiResponse(
    command: ScsiCommand,
    fields: { status?: number; response?: number; sense?: Buffer; residualCount?: number; underflow?: boolean; overflow?: boolean } = {},
  ): ScsiResponse {
    const pdu: ScsiResponse = {
      opcode: Opcode.ScsiResponse,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: fields.overflow ?? false,
      underflow: fields.underflow ?? false,
      response: fields.response ?? 0,
      status: fields.status ?? 0,
      itt: command.itt,
      snackTag: 0,
      ...this.numbers(true),
      expDataSN: this.nextDataSN.get(command.itt) ?? 0, // §11.4.8: Data-In (and R2T) PDUs sent for this command
      bidiReadResidualCount: 0,
      residualCount: fields.residualCount ?? 0,
      data: senseSegment(fields.sense),
    };
    this.end(command.itt);
    this.send(pdu);
    return pdu;
  }

  /**
   * §11.7: read data for `command`. DataSN and BufferOffset continue from the previous Data-In unless given; a
   * `status` makes it the last one, with the S and F bits (phase collapse, §11.7.3).
   */
  dataIn(
    command: ScsiCommand,
    data: Buffer,
    fields: { dataSN?: number; bufferOffset?: number; final?: boolean; status?: number; residualCount?: number; underflow?: boolean; overflow?: boolean } = {},
  ): DataIn {
    const dataSN = fields.dataSN ?? this.nextDataSN.get(command.itt) ?? 0;
    const bufferOffset = fields.bufferOffset ?? this.nextOffset.get(command.itt) ?? 0;
    const statusPresent = fields.status !== undefined;
    const pdu: DataIn = {
      opcode: Opcode.DataIn,
      final: statusPresent || (fields.final ?? false),
      acknowledge: false,
      overflow: fields.overflow ?? false,
      underflow: fields.underflow ?? false,
      statusPresent,
      status: fields.status ?? 0,
      lun: command.lun,
      itt: command.itt,
      ttt: RESERVED_TAG,
      ...this.numbers(statusPresent), // §11.7.4: StatSN only advances with status
      dataSN,
      bufferOffset,
      residualCount: fields.residualCount ?? 0,
      data,
    };
    this.nextDataSN.set(command.itt, (dataSN + 1) >>> 0);
    this.nextOffset.set(command.itt, bufferOffset + data.length);
    if (statusPresent) this.end(command.itt);
    this.send(pdu);
    return pdu;
  }

  /** §11.8: asks for [bufferOffset, bufferOffset + desiredDataTransferLength) of `command`'s write data. */
  r2t(command: ScsiCommand, fields: { bufferOffset: number; desiredDataTransferLength: number; ttt?: number; r2tSN?: number }): R2T {
    const r2tSN = fields.r2tSN ?? this.nextR2TSN.get(command.itt) ?? 0;
    this.nextR2TSN.set(command.itt, (r2tSN + 1) >>> 0);
    const pdu: R2T = {
      opcode: Opcode.R2T,
      lun: command.lun,
      itt: command.itt,
      ttt: fields.ttt ?? 0x10000 + r2tSN,
      ...this.numbers(false), // §11.8.3: an R2T carries the next StatSN without advancing it
      r2tSN,
      bufferOffset: fields.bufferOffset,
      desiredDataTransferLength: fields.desiredDataTransferLength,
    };
    this.send(pdu);
    return pdu;
  }

  /** §11.6: response 0 = function complete, 1 = task does not exist, 5 = not supported, … */
  tmfResponse(request: TaskMgmtRequest, response = 0): TaskMgmtResponse {
    const pdu: TaskMgmtResponse = { opcode: Opcode.TaskMgmtResponse, response, itt: request.itt, ...this.numbers(true) };
    this.send(pdu);
    return pdu;
  }

  /** §11.11: a final Text Response with these pairs. */
  textResponse(request: TextRequest, pairs: readonly TextPair[] = [], fields: { final?: boolean; continue?: boolean; ttt?: number } = {}): TextResponse {
    const pdu: TextResponse = {
      opcode: Opcode.TextResponse,
      final: fields.final ?? true,
      continue: fields.continue ?? false,
      lun: 0n,
      itt: request.itt,
      ttt: fields.ttt ?? RESERVED_TAG,
      ...this.numbers(true),
      data: encodeText(pairs),
    };
    this.send(pdu);
    return pdu;
  }

  /** §11.15: response 0 = connection or session closed successfully. */
  logoutResponse(request: LogoutRequest, response = 0): LogoutResponse {
    const pdu: LogoutResponse = { opcode: Opcode.LogoutResponse, response, itt: request.itt, ...this.numbers(true), time2Wait: 0, time2Retain: 0 };
    this.send(pdu);
    return pdu;
  }

  /**
   * §11.9: AsyncEvent 0 SCSI event (with sense), 1 logout requested (Parameter3 = seconds), 2 connection drop,
   * 3 session drop (Parameter1 CID, Parameter2 Time2Wait, Parameter3 Time2Retain), 4 renegotiation.
   */
  asyncMessage(
    asyncEvent: number,
    fields: { lun?: number; sense?: Buffer; asyncVCode?: number; parameter1?: number; parameter2?: number; parameter3?: number } = {},
  ): AsyncMessage {
    const pdu: AsyncMessage = {
      opcode: Opcode.AsyncMessage,
      lun: encodeLun(fields.lun ?? 0),
      ...this.numbers(true),
      asyncEvent,
      asyncVCode: fields.asyncVCode ?? 0,
      parameter1: fields.parameter1 ?? 0,
      parameter2: fields.parameter2 ?? 0,
      parameter3: fields.parameter3 ?? 0,
      data: senseSegment(fields.sense),
    };
    this.send(pdu);
    return pdu;
  }

  /** §11.17: rejects `rejected`, carrying its complete header (the 48-byte BHS as it went on the wire). */
  reject(reason: number, rejected: FullFeaturePdu): Reject {
    const header = encodePdu(rejected, NO_DIGESTS)[0]!.subarray(0, 48);
    if (rejected.opcode === Opcode.ScsiCommand) this.end(rejected.itt);
    const pdu: Reject = { opcode: Opcode.Reject, reason, ...this.numbers(true), dataSN: 0, data: Buffer.from(header) };
    this.send(pdu);
    return pdu;
  }

  /**
   * §11.19: with the defaults (ITT and TTT 0xffffffff) an unsolicited NOP-In that only carries the numbers; a TTT
   * other than 0xffffffff asks the initiator for a NOP-Out; an ITT answers a NOP-Out of the initiator.
   */
  nopIn(fields: { itt?: number; ttt?: number; lun?: bigint; data?: Buffer } = {}): NopIn {
    const itt = fields.itt ?? RESERVED_TAG;
    const pdu: NopIn = {
      opcode: Opcode.NopIn,
      lun: fields.lun ?? 0n,
      itt,
      ttt: fields.ttt ?? RESERVED_TAG,
      ...this.numbers(itt !== RESERVED_TAG), // §11.19.2: StatSN advances only for an answer to a NOP-Out
      data: fields.data ?? Buffer.alloc(0),
    };
    this.send(pdu);
    return pdu;
  }

  /** Drops the TCP connection without a word. */
  destroy(): void {
    this.socket.destroy();
  }

  /** @internal The server feeds every full-feature PDU here before the script sees it. */
  accept(pdu: FullFeaturePdu): void {
    if ('cmdSN' in pdu && !pdu.immediate) {
      // §4.2.2.1: CmdSN must lie within the window granted (serial arithmetic); it advances ExpCmdSN when expected.
      if (((pdu.cmdSN - this.grantedMaxCmdSN) | 0) > 0) this.overruns.push(pdu.cmdSN);
      if (pdu.cmdSN === this.expCmdSN) this.expCmdSN = (this.expCmdSN + 1) >>> 0;
    }
    if (pdu.opcode === Opcode.ScsiCommand) {
      this.outstanding.set(pdu.itt, pdu);
      this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding.size);
    }
    this.received.push(pdu);
    const at = this.waiters.findIndex((w) => w.opcode === pdu.opcode);
    if (at >= 0) this.waiters.splice(at, 1)[0]!.resolve(pdu);
    else this.inbox.push(pdu);
  }

  /** @internal */
  closed(): void {
    for (const waiter of this.waiters.splice(0)) waiter.fail(new ScriptedTargetError(`connection closed while waiting for opcode 0x${waiter.opcode.toString(16)}`));
  }

  /** @internal StatSN/ExpCmdSN/MaxCmdSN for a PDU; `advance` when the PDU consumes a StatSN (§4.2.2.2). */
  numbers(advance: boolean): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = this.statSN;
    if (advance) this.statSN = (this.statSN + 1) >>> 0;
    this.grantedMaxCmdSN = this.maxCmdSN;
    return { statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.grantedMaxCmdSN };
  }

  private end(itt: number): void {
    this.outstanding.delete(itt);
    this.nextDataSN.delete(itt);
    this.nextOffset.delete(itt);
    this.nextR2TSN.delete(itt);
  }
}

export class ScriptedTarget {
  readonly host = '127.0.0.1';
  /** Every connection accepted, in order. */
  readonly connections: TargetConnection[] = [];
  /** Whatever a script threw (its connection was destroyed); a test should expect this to stay empty. */
  readonly errors: unknown[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(options: ScriptedTargetOptions = {}): Promise<ScriptedTarget> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    const target = new ScriptedTarget(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => target.serve(socket, options));
    return target;
  }

  get portal(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  /** The latest connection that reached the full feature phase. */
  get connection(): TargetConnection {
    const c = this.connections.findLast((x) => x.fullFeature);
    if (!c) throw new ScriptedTargetError('no connection has logged in');
    return c;
  }

  /** Destroys every connection and closes the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const c of this.connections) c.socket.destroy();
      this.server.close(() => resolve());
    });
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private serve(socket: net.Socket, options: ScriptedTargetOptions): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const c = new TargetConnection(socket, options);
    this.connections.push(c);
    const maxRecv = options.maxRecvDataSegmentLength ?? 8192;
    const framer = new PduFramer({ accept: 'initiator' });
    let logins = 0;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => c.closed());
    socket.on('data', (chunk: Buffer) => {
      let pdus;
      try {
        pdus = framer.push(chunk) as InitiatorPdu[];
      } catch (e) {
        // Bytes we cannot frame: nothing sensible to answer. From our own initiator that is a finding, so keep it
        // (a scripted login provokes such failures on purpose).
        if (!options.login) this.errors.push(e);
        socket.destroy();
        return;
      }
      for (const pdu of pdus) {
        if (socket.destroyed) return;
        try {
          if (pdu.opcode !== Opcode.LoginRequest) {
            if (!c.fullFeature) {
              // A scripted login decides for itself what comes before full feature; the built-in one flags it.
              if (options.login) continue;
              throw new ScriptedTargetError(`opcode 0x${pdu.opcode.toString(16)} before the full feature phase`);
            }
            c.accept(pdu);
            options.onPdu?.(pdu, c);
          } else if (options.login) {
            logins++;
            c.expCmdSN = pdu.cmdSN;
            const send = (p: Buffer | TargetPdu) => socket.write(Buffer.isBuffer(p) ? p : encodePduToBuffer(p, c.digests));
            options.login(pdu, send, socket, logins);
            if (pdu.transit && pdu.nsg === Stage.FullFeature) this.enterFullFeature(c, framer, options.digests ?? NO_DIGESTS, 262144);
          } else {
            this.login(c, pdu, options, framer, maxRecv);
          }
        } catch (e) {
          this.errors.push(e);
          socket.destroy();
          return;
        }
      }
    });
  }

  /** The built-in login: AuthMethod=None, then every offered operational key accepted (§6, §11.12, §11.13). */
  private login(c: TargetConnection, request: LoginRequest, options: ScriptedTargetOptions, framer: PduFramer, maxRecv: number): void {
    if (c.fullFeature) throw new ScriptedTargetError('Login Request in the full feature phase');
    c.expCmdSN = request.cmdSN; // §11.12.8: login requests are immediate and carry the first CmdSN
    const answers: TextPair[] = [];
    if (request.csg === Stage.Security) {
      answers.push(['AuthMethod', 'None'], ['TargetPortalGroupTag', '1']);
    } else {
      for (const [key, value] of decodeText(request.data)) {
        if (key === 'MaxRecvDataSegmentLength') {
          c.initiatorMaxRecvDataSegmentLength = Number(value); // declarative (§13.12): not answered
          continue;
        }
        const answer = options.keys?.[key] ?? value.split(',')[0]!;
        c.negotiated.set(key, answer);
        answers.push([key, answer]);
      }
      answers.push(['MaxRecvDataSegmentLength', String(maxRecv)]);
    }
    const final = request.transit && request.nsg === Stage.FullFeature;
    if (final) c.tsih = options.tsih ?? 0x101;
    c.send(loginResponse(request, { ...c.numbers(true), tsih: c.tsih, keys: answers }));
    if (final) {
      const digests = { headerDigest: c.negotiated.get('HeaderDigest') === 'CRC32C', dataDigest: c.negotiated.get('DataDigest') === 'CRC32C' };
      this.enterFullFeature(c, framer, digests, maxRecv);
    }
  }

  /** §13.1, §13.12: digests and our receive limit apply from the full feature phase on. */
  private enterFullFeature(c: TargetConnection, framer: PduFramer, digests: DigestOptions, maxRecv: number): void {
    c.digests = { ...digests };
    c.fullFeature = true;
    framer.configure({ ...digests, maxRecvDataSegmentLength: maxRecv });
  }
}

/** A Login Response answering `request` in its stage: transit as asked, status success, `keys` as its text. */
export function loginResponse(request: LoginRequest, over: Partial<LoginResponse> & { keys?: readonly TextPair[] } = {}): LoginResponse {
  const { keys, ...rest } = over;
  return {
    opcode: Opcode.LoginResponse,
    transit: request.transit,
    continue: false,
    csg: request.csg,
    nsg: request.transit ? request.nsg : Stage.Security,
    versionMax: 0,
    versionActive: 0,
    isid: request.isid,
    tsih: request.transit && request.nsg === Stage.FullFeature ? 9 : 0,
    itt: request.itt,
    statSN: 1,
    expCmdSN: request.cmdSN,
    maxCmdSN: request.cmdSN + 16,
    statusClass: 0,
    statusDetail: 0,
    data: encodeText(keys ?? []),
    ...rest,
  };
}

/** A well-behaved login for a `LoginScript`: AuthMethod=None, then every operational key accepted as offered. */
export function acceptingLogin(request: LoginRequest, send: (pdu: TargetPdu) => void): void {
  if (request.csg === Stage.Security) {
    send(loginResponse(request, { keys: [['AuthMethod', 'None'], ['TargetPortalGroupTag', '1']] }));
    return;
  }
  const offered = decodeText(request.data)
    .filter(([key]) => key !== 'MaxRecvDataSegmentLength')
    .map(([key, value]) => [key, value.split(',')[0]!] as const);
  send(loginResponse(request, { keys: [...offered, ['MaxRecvDataSegmentLength', '8192']] }));
}

const started = new Set<ScriptedTarget>();

/**
 * A target whose login is scripted per Login Request; resolves with its port. Close every such target with
 * `closeScriptedTargets()` (an afterEach).
 */
export async function scriptedTarget(script: LoginScript, digests: DigestOptions = NO_DIGESTS): Promise<number> {
  const target = await ScriptedTarget.start({ login: script, digests });
  started.add(target);
  return target.port;
}

export async function closeScriptedTargets(): Promise<void> {
  const targets = [...started];
  started.clear();
  await Promise.all(targets.map((t) => t.close()));
}
