import { connect as tcpConnect, type Socket } from 'node:net';
import { DEFAULT_TIMEOUTS } from '../defaults.js';
import { IscsiError, ProtocolError, TransportError } from '../errors.js';
import { encodePdu } from '../pdu/codec.js';
import { PduFramer } from '../pdu/framer.js';
import type { InitiatorPdu, Pdu, TargetPdu } from '../pdu/types.js';
import { formatPortal, type Portal } from '../portal.js';

export interface ConnectOptions {
  /** Give up connecting after this long (default 10 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Bytes per socket read into the scratch buffer: many small responses per syscall, while a large payload's first
 * bytes (copied from here) stay a small part of it — the rest is read straight into place.
 */
const READ_BUFFER_BYTES = 64 * 1024;
/** A payload remainder smaller than this is not worth a read of its own. */
const DIRECT_READ_MIN = 16 * 1024;

export type PduHandler = (pdu: TargetPdu) => void;
export type CloseHandler = (error: IscsiError | undefined) => void;

/**
 * One TCP connection speaking iSCSI PDUs: frames what arrives, encodes and sends what we write. It knows nothing of
 * login or sessions. Every failure — a malformed PDU, a digest error, a reset — ends up in exactly one `onClose`
 * call with a typed error; nothing throws out of a socket handler.
 */
export class IscsiConnection {
  private readonly framer = new PduFramer({ accept: 'target' });
  private digests = { headerDigest: false, dataDigest: false };
  private closedWith: IscsiError | undefined;
  private closed = false;
  private outbox: Buffer[] = [];
  private directSlot: Buffer | undefined;
  private flushScheduled = false;
  onPdu: PduHandler = () => {};
  onClose: CloseHandler = () => {};

  private constructor(
    private readonly socket: Socket,
    readonly portal: Portal,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(transportError(e, portal)));
    socket.on('close', () => this.fail(new TransportError('ISCSI_CONNECTION_CLOSED', `connection to ${formatPortal(portal)} closed by the target`)));
  }

  static connect(portal: Portal, options: ConnectOptions = {}): Promise<IscsiConnection> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUTS.connectMs;
    return new Promise((resolve, reject) => {
      // Reads land in one reused buffer (no allocation per read, no Readable-stream machinery): the framer copies
      // what it keeps, and every consumer of a PDU's data copies what it keeps before the callback returns. While a
      // large Data-In payload is arriving, reads go straight into the command's own buffer instead (no copy at all).
      let connection: IscsiConnection | undefined;
      const scratch = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      const socket = tcpConnect({
        host: portal.host,
        port: portal.port,
        onread: {
          buffer: () => connection?.nextReadBuffer(scratch) ?? scratch,
          callback: (bytes: number, buffer: Uint8Array) => {
            if (buffer.buffer === scratch.buffer) connection?.receive(scratch.subarray(0, bytes));
            else connection?.receivedDirect(bytes);
            return true;
          },
        },
      });
      const done = (error?: IscsiError) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        if (error) {
          socket.destroy();
          reject(error);
        } else {
          connection = new IscsiConnection(socket, portal);
          resolve(connection);
        }
      };
      const onError = (e: NodeJS.ErrnoException) => done(transportError(e, portal));
      const onConnect = () => done();
      const onAbort = () => done(new TransportError('ISCSI_TIMEOUT', `connecting to ${formatPortal(portal)} was cancelled`));
      const timer = setTimeout(
        () => done(new TransportError('ISCSI_TIMEOUT', `timed out after ${timeoutMs} ms connecting to ${formatPortal(portal)}`, { hint: 'check the address and that the target is reachable' })),
        timeoutMs,
      );
      socket.once('error', onError);
      socket.once('connect', onConnect);
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get closeReason(): IscsiError | undefined {
    return this.closedWith;
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  /** Digests start after login (RFC 7143 §13.1: they apply from the full feature phase on). */
  configure(options: {
    headerDigest?: boolean;
    dataDigest?: boolean;
    maxRecvDataSegmentLength?: number;
    placeData?: (itt: number, bufferOffset: number, dataLength: number) => Buffer | undefined;
  }): void {
    if (options.headerDigest !== undefined) this.digests.headerDigest = options.headerDigest;
    if (options.dataDigest !== undefined) this.digests.dataDigest = options.dataDigest;
    this.framer.configure(options);
  }

  /**
   * The framer holds back whatever followed the final Login Response until the new settings apply: frame it now,
   * once `configure` has run and the PDU handler is ready for it.
   */
  resume(): void {
    this.receive(Buffer.alloc(0));
  }

  /**
   * Queues a PDU. Everything queued in one turn of the event loop goes out in a single corked write (one writev):
   * header, data and digests of every PDU, the payloads as the caller's own buffers, never concatenated.
   */
  send(pdu: InitiatorPdu): void {
    if (this.closed) return;
    for (const segment of encodePdu(pdu, this.digests)) this.outbox.push(segment);
    this.scheduleFlush();
  }

  sendAll(pdus: readonly InitiatorPdu[]): void {
    if (this.closed) return;
    for (const pdu of pdus) for (const segment of encodePdu(pdu, this.digests)) this.outbox.push(segment);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A microtask runs once the current work is done: the commands that completions released (their continuations
    // are queued ahead of this) leave in the same write, and a lone command leaves without waiting for the event loop.
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const segments = this.outbox;
    this.outbox = [];
    if (segments.length === 1) {
      this.socket.write(segments[0]!);
      return;
    }
    this.socket.cork();
    for (const segment of segments) this.socket.write(segment);
    this.socket.uncork();
  };

  /** Ends the connection; `error` is what `onClose` reports (none for an orderly close after logout). */
  close(error?: IscsiError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = error;
    this.socket.destroy();
    this.onClose(error);
  }

  /** Where the next socket read should land: the rest of a payload being placed, when it is large enough. */
  private nextReadBuffer(scratch: Buffer): Buffer {
    if (this.closed) return scratch;
    this.directSlot = this.framer.directSlot(DIRECT_READ_MIN);
    if (this.directSlot !== undefined) return this.directSlot;
    const header = this.framer.headerReadLength();
    return header === undefined ? scratch : scratch.subarray(0, header);
  }

  /** A read landed in the slot nextReadBuffer handed out. */
  private receivedDirect(bytes: number): void {
    if (this.closed) return;
    this.directSlot = undefined;
    this.deliver(() => this.framer.advanceDirect(bytes));
  }

  /** Frames bytes from the socket. `chunk` is only valid during this call (it is the reused read buffer). */
  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.deliver(() => this.framer.push(chunk));
  }

  private deliver(frame: () => Pdu[]): void {
    let pdus: TargetPdu[];
    try {
      pdus = frame() as TargetPdu[];
    } catch (e) {
      this.fail(e instanceof IscsiError ? e : new ProtocolError('ISCSI_PDU_BAD_FIELD', `undecodable data: ${String(e)}`, { cause: e }));
      return;
    }
    for (const pdu of pdus) {
      if (this.closed) return;
      try {
        this.onPdu(pdu);
      } catch (e) {
        // A handler that rejects a PDU ends the connection with the typed error it raised.
        this.fail(e instanceof IscsiError ? e : new ProtocolError('ISCSI_PDU_UNEXPECTED', `failed handling a PDU: ${String(e)}`, { cause: e }));
        return;
      }
    }
  }

  private fail(error: IscsiError): void {
    this.close(error);
  }
}

function transportError(e: NodeJS.ErrnoException, portal: Portal): TransportError {
  const where = formatPortal(portal);
  switch (e.code) {
    case 'ECONNREFUSED':
      return new TransportError('ISCSI_CONNECTION_REFUSED', `connection refused by ${where}`, { cause: e, hint: 'is an iSCSI target listening on that address and port?' });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TransportError('ISCSI_HOST_NOT_FOUND', `host not found: ${portal.host}`, { cause: e, hint: 'check the host name' });
    case 'ETIMEDOUT':
      return new TransportError('ISCSI_TIMEOUT', `connection to ${where} timed out`, { cause: e });
    default:
      return new TransportError('ISCSI_CONNECTION_FAILED', `connection to ${where} failed: ${e.code ?? e.message}`, { cause: e });
  }
}
