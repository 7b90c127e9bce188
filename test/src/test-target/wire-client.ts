/**
 * A bare initiator for tests of a target's wire behaviour: it logs in with core's LoginStateMachine and then only
 * sends the PDUs a test builds and collects every PDU the target sends, unjudged — no session logic in between.
 * Framing errors (a digest mismatch, a segment over our MaxRecvDataSegmentLength, an unknown opcode) end the
 * connection and are kept in `error`.
 */
import net from 'node:net';
import {
  encodePduToBuffer,
  IscsiError,
  LoginStateMachine,
  Opcode,
  PduFramer,
  ProtocolError,
  RESERVED_TAG,
  TaskAttribute,
  TransportError,
  type InitiatorPdu,
  type LoginAuth,
  type LoginResult,
  type OperationalProposal,
  type PduOf,
  type Portal,
  type ScsiCommand,
  type TargetPdu,
} from '@iscsi-initiator/core';

export interface WireClientOptions {
  readonly initiatorName?: string | undefined;
  readonly targetName?: string | undefined;
  readonly sessionType?: 'Normal' | 'Discovery' | undefined;
  readonly auth?: LoginAuth | undefined;
  readonly proposal?: OperationalProposal | undefined;
  readonly isid?: bigint | undefined;
  readonly tsih?: number | undefined;
  readonly cid?: number | undefined;
  readonly cmdSN?: number | undefined;
  /** Bound on connect + login. Default 5 s. */
  readonly timeoutMs?: number | undefined;
}

export class WireClient {
  /** Every PDU received after login, in order. */
  readonly received: TargetPdu[] = [];
  /** Why the connection ended, when it did (a framing error, or the target closing it). */
  error: IscsiError | undefined;
  closed = false;
  login!: LoginResult;
  cmdSN = 1;
  expStatSN = 0;
  private nextItt = 0x100;
  private readonly framer: PduFramer;
  private digests = { headerDigest: false, dataDigest: false };
  private readonly waiters = new Set<() => void>();
  private onLoginPdu: ((pdu: TargetPdu) => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly maxRecv: number,
  ) {
    this.framer = new PduFramer({ accept: 'target' });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => this.end(new TransportError('ISCSI_CONNECTION_FAILED', `socket error ${e.code ?? e.message}`)));
    socket.on('close', () => this.end(new TransportError('ISCSI_CONNECTION_CLOSED', 'the target closed the connection')));
  }

  /** Connects and logs in (a LoginError rejects, as from IscsiSession.open). */
  static async connect(portal: Portal, options: WireClientOptions = {}): Promise<WireClient> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const socket = net.connect({ host: portal.host, port: portal.port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TransportError('ISCSI_TIMEOUT', 'connect timed out')), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new TransportError('ISCSI_CONNECTION_REFUSED', e.message));
      });
    });
    const client = new WireClient(socket, options.proposal?.maxRecvDataSegmentLength ?? 262144);
    try {
      await client.doLogin(options, timeoutMs);
    } catch (e) {
      socket.destroy();
      throw e;
    }
    return client;
  }

  private doLogin(options: WireClientOptions, timeoutMs: number): Promise<void> {
    const sessionType = options.sessionType ?? 'Normal';
    const machine = new LoginStateMachine({
      initiatorName: options.initiatorName ?? 'iqn.2026-11.io.github.iscsi-initiator:wire-client',
      sessionType,
      targetName: sessionType === 'Normal' ? options.targetName : undefined,
      isid: options.isid ?? 0x80_1234_5678n,
      tsih: options.tsih ?? 0,
      cid: options.cid ?? 0,
      itt: 0,
      cmdSN: options.cmdSN ?? 1,
      auth: options.auth ?? { method: 'None' },
      proposal: { maxRecvDataSegmentLength: this.maxRecv, ...options.proposal },
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new TransportError('ISCSI_TIMEOUT', 'login timed out')), timeoutMs);
      const fail = (e: unknown) => {
        clearTimeout(timer);
        this.onLoginPdu = undefined;
        this.waiters.delete(onEnd);
        reject(e instanceof IscsiError ? e : new TransportError('ISCSI_CONNECTION_FAILED', String(e)));
      };
      const onEnd = () => {
        if (this.closed) fail(this.error);
      };
      this.waiters.add(onEnd);
      this.onLoginPdu = (pdu) => {
        if (pdu.opcode !== Opcode.LoginResponse) return fail(new ProtocolError('ISCSI_PDU_UNEXPECTED', `opcode 0x${pdu.opcode.toString(16)} during login`));
        let action;
        try {
          action = machine.receive(pdu);
        } catch (e) {
          return fail(e);
        }
        if (action.kind === 'send') return this.send(action.pdu);
        if (action.kind === 'redirect') return fail(new TransportError('ISCSI_CONNECTION_FAILED', 'redirected'));
        clearTimeout(timer);
        this.waiters.delete(onEnd);
        this.onLoginPdu = undefined;
        this.login = action.result;
        this.cmdSN = action.result.cmdSN;
        this.expStatSN = action.result.expStatSN;
        const p = action.result.parameters;
        this.digests = { headerDigest: p.headerDigest, dataDigest: p.dataDigest };
        this.framer.configure({ ...this.digests, maxRecvDataSegmentLength: p.maxRecvDataSegmentLength });
        resolve();
        this.receive(Buffer.alloc(0)); // bytes that followed the final Login Response
      };
      const first = machine.start();
      if (first.kind === 'send') this.send(first.pdu);
      else fail(new ProtocolError('ISCSI_PDU_UNEXPECTED', 'login did not start with a request'));
    });
  }

  /** Encodes and sends a PDU with the negotiated digests. */
  send(pdu: InitiatorPdu): void {
    if (!this.closed) this.socket.write(encodePduToBuffer(pdu, this.digests));
  }

  /** Raw bytes, for malformed input. */
  sendRaw(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** A SCSI Command with a fresh ITT and the next CmdSN (advanced unless immediate). */
  command(cdb: Buffer, o: { lun?: bigint; read?: number; write?: Buffer; edtl?: number; immediateData?: Buffer; final?: boolean; immediate?: boolean; itt?: number; cmdSN?: number } = {}): ScsiCommand {
    const itt = o.itt ?? this.nextItt++;
    const cmdSN = o.cmdSN ?? this.cmdSN;
    if (o.cmdSN === undefined && !o.immediate) this.cmdSN = (this.cmdSN + 1) >>> 0;
    const pdu: ScsiCommand = {
      opcode: Opcode.ScsiCommand,
      immediate: o.immediate ?? false,
      final: o.final ?? true,
      read: (o.read ?? 0) > 0,
      write: o.write !== undefined,
      attribute: TaskAttribute.Simple,
      lun: o.lun ?? 0n,
      itt,
      expectedDataTransferLength: o.edtl ?? o.read ?? o.write?.length ?? 0,
      cmdSN,
      expStatSN: this.expStatSN,
      cdb,
      data: o.immediateData ?? Buffer.alloc(0),
    };
    this.send(pdu);
    return pdu;
  }

  /** The first received PDU (from `from` on) that `match` accepts, waiting up to `timeoutMs`. */
  async next<O extends TargetPdu['opcode']>(opcode: O, timeoutMs = 3_000, match: (pdu: PduOf<O>) => boolean = () => true, from = 0): Promise<PduOf<O>> {
    const find = () => this.received.slice(from).find((p): p is PduOf<O> => p.opcode === opcode && match(p as PduOf<O>));
    const found = find();
    if (found) return found;
    return new Promise<PduOf<O>>((resolve, reject) => {
      const check = () => {
        const pdu = find();
        if (pdu) {
          done();
          resolve(pdu);
        } else if (this.closed) {
          done();
          reject(this.error ?? new TransportError('ISCSI_CONNECTION_CLOSED', 'closed'));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new TransportError('ISCSI_TIMEOUT', `no PDU with opcode 0x${opcode.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Resolves when the connection has ended (with why). */
  ended(timeoutMs = 3_000): Promise<IscsiError | undefined> {
    if (this.closed) return Promise.resolve(this.error);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.closed) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(this.error);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new TransportError('ISCSI_TIMEOUT', `the connection did not end within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let pdus: TargetPdu[];
    try {
      pdus = this.framer.push(chunk) as TargetPdu[];
    } catch (e) {
      this.end(e instanceof IscsiError ? e : new ProtocolError('ISCSI_PDU_BAD_FIELD', String(e)));
      this.socket.destroy();
      return;
    }
    for (const pdu of pdus) {
      if (this.onLoginPdu) {
        this.onLoginPdu(pdu);
        continue;
      }
      // Copy: the framer's views alias the socket chunk.
      const kept = 'data' in pdu ? ({ ...pdu, data: Buffer.from(pdu.data) } as TargetPdu) : pdu;
      if ('statSN' in kept && kept.opcode !== Opcode.R2T && !(kept.opcode === Opcode.NopIn && kept.itt === RESERVED_TAG) && !(kept.opcode === Opcode.DataIn && !kept.statusPresent)) {
        this.expStatSN = (kept.statSN + 1) >>> 0;
      }
      this.received.push(kept);
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  private end(error: IscsiError): void {
    if (this.closed) return;
    this.closed = true;
    this.error ??= error;
    for (const waiter of [...this.waiters]) waiter();
  }
}
