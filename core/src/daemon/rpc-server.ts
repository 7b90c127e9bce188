import net from 'node:net';
import { JSONRPCErrorCode, JSONRPCErrorException, JSONRPCServer, type JSONRPCID, type JSONRPCParams, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { DEFAULT_RPC_LIMITS, type RpcLimits } from '../defaults.js';
import { ArgumentError, IscsiError } from '../errors.js';
import { JSONRPC_ERRORS, MAX_MESSAGE_BYTES, type RpcNotifications } from '../rpc/contract.js';
import { answerLine } from './rpc-answer.js';
import { listenOnSocketFile, type SocketFileOptions } from './socket-file.js';

export { DEFAULT_RPC_LIMITS, MAX_MESSAGE_BYTES, type RpcLimits };

/** JSON-RPC error code for our typed errors ("server error" range, JSON-RPC 2.0 §5.1); data.code says which. */
export const RPC_ISCSI_ERROR = JSONRPC_ERRORS.iscsiError;
/** A mutating call from a peer that may only read. */
export const RPC_NOT_PERMITTED = JSONRPC_ERRORS.notPermitted;

export interface PeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid?: number | undefined;
}

export interface RpcContext {
  readonly connectionId: number;
  /** The connecting process's credentials, when the platform tells them (see docs/security.md). */
  readonly peer: PeerCredentials | undefined;
  /** Receive notifications from now on. */
  subscribe(): void;
}

export interface MethodOptions {
  /** Changes state (log in, update a node, …): only privileged peers may call it. */
  readonly mutating?: boolean;
  /** What a refused peer is told the method needs (default: it changes state and needs an administrator). */
  readonly refusal?: string;
}

export type MethodHandler = (params: JSONRPCParams | undefined, context: RpcContext) => unknown;

export interface RpcServerOptions {
  /** Who may call mutating methods; default: root only. */
  readonly authorize?: (peer: PeerCredentials | undefined) => boolean;
  /** How to learn a connection's peer credentials; default: not known (every mutating call refused). */
  readonly peerCredentials?: (socket: net.Socket) => PeerCredentials | undefined;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** What one peer may make the daemon hold (docs/security.md, Limits); each defaults to DEFAULT_RPC_LIMITS. */
  readonly limits?: Partial<RpcLimits>;
}

/** The next line of a connection, parsed once and waiting for room to run. */
interface NextLine {
  readonly request: unknown;
  readonly calls: number;
}

interface Connection {
  readonly socket: net.Socket;
  readonly context: RpcContext;
  /** Counted in connectionsOf under this key; undefined for root (exempt from the per-uid limit). */
  readonly bucket: string | undefined;
  subscribed: boolean;
  /** Bytes read and not yet split into lines: the rest of one chunk at most, since reading pauses while any wait. */
  unread: Buffer | undefined;
  /** The start of a line whose newline has not come yet (at most MAX_MESSAGE_BYTES). */
  partial: Buffer[];
  partialSize: number;
  /** A line taken from `unread` that waits for calls in flight to finish. */
  next: NextLine | undefined;
  /** Calls (batch elements) started and not answered yet. */
  inFlight: number;
}

/**
 * JSON-RPC 2.0 over a Unix domain socket, one message per line (newline-delimited JSON). Every failure is a JSON-RPC
 * error or a closed connection: invalid JSON, unknown methods, wrong parameters, oversized messages, clients that
 * vanish mid-call — the server and what it owns stay up. What one peer can make it hold is bounded (RpcLimits): calls
 * per batch and in flight, bytes per answer and unsent, connections per uid and in all.
 */
export class RpcServer {
  // The library's default error listener prints every handler error to the console; ours decides what is logged.
  private readonly rpc = new JSONRPCServer<RpcContext>({ errorListener: () => {} });
  private readonly connections = new Set<Connection>();
  /** Open connections per non-root uid ("unknown" for a peer whose credentials could not be read). */
  private readonly connectionsOf = new Map<string, number>();
  /** Refused connections told why and not closed yet (see refuse). */
  private readonly refusing = new Set<net.Socket>();
  private server: net.Server | undefined;
  private nextId = 1;
  private readonly authorize: (peer: PeerCredentials | undefined) => boolean;
  readonly limits: Readonly<RpcLimits>;

  constructor(private readonly options: RpcServerOptions = {}) {
    this.authorize = options.authorize ?? ((peer) => peer?.uid === 0);
    this.limits = Object.freeze({ ...DEFAULT_RPC_LIMITS, ...options.limits });
    // A handler's error becomes a JSON-RPC error with our code in data; never a stack trace, never a secret.
    this.rpc.mapErrorToJSONRPCErrorResponse = (id, error: unknown) => ({
      jsonrpc: '2.0',
      id,
      error: toRpcError(error, options.log),
    });
  }

  addMethod(name: string, handler: MethodHandler, options: MethodOptions = {}): void {
    this.rpc.addMethod(name, async (params, context) => {
      if (options.mutating && !this.authorize(context.peer)) {
        throw new JSONRPCErrorException(`${name} ${options.refusal ?? 'changes state and needs an administrator'}`, RPC_NOT_PERMITTED, {
          code: 'ISCSI_NOT_PERMITTED',
          hint: 'run it as root (sudo); see docs/security.md',
        });
      }
      return handler(params, context);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Sends a notification to every subscribed client (JSON-RPC 2.0 §4.1: no id, no answer). A subscriber that has
   * let more than maxBacklogBytes pile up unread is dropped, not waited for: the sessions never wait on a reader.
   */
  notify<N extends keyof RpcNotifications>(method: N, params: RpcNotifications[N]): void {
    const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
    for (const c of this.connections) {
      if (!c.subscribed || c.socket.destroyed) continue;
      c.socket.write(line);
      this.checkBacklog(c);
    }
  }

  /**
   * Listens on `path` (socket-file.ts: a safe folder, no symlink followed, created with `mode` under a umask, `gid` by
   * lchown). A live or busy daemon already there makes this fail with ISCSI_DAEMON_ALREADY_RUNNING; a stale socket
   * file (nobody listening) is replaced. The single-instance lock on the state folder is the caller's (main.ts).
   */
  async listen(path: string, options: SocketFileOptions = {}): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await listenOnSocketFile(server, path, options);
    server.on('error', (e) => this.options.log?.('error', 'socket server error', { error: String(e) }));
    this.server = server;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    for (const s of this.refusing) s.destroy();
    this.connections.clear();
    this.connectionsOf.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {}); // a client that vanishes is no error of ours
    let peer: PeerCredentials | undefined;
    try {
      peer = this.options.peerCredentials?.(socket);
    } catch {
      peer = undefined; // unknown: trusted with nothing, counted in the "unknown" bucket
    }
    const refusal = this.admit(peer);
    if (refusal !== undefined) {
      this.options.log?.('warn', 'connection refused', { uid: peer?.uid ?? 'unknown', reason: refusal });
      this.refuse(socket, refusal);
      return;
    }
    const bucket = peer?.uid === 0 ? undefined : peer === undefined ? 'unknown' : String(peer.uid);
    if (bucket !== undefined) this.connectionsOf.set(bucket, (this.connectionsOf.get(bucket) ?? 0) + 1);
    const connection: Connection = {
      socket,
      bucket,
      subscribed: false,
      unread: undefined,
      partial: [],
      partialSize: 0,
      next: undefined,
      inFlight: 0,
      context: {
        connectionId: this.nextId++,
        peer,
        subscribe: () => {
          connection.subscribed = true;
        },
      },
    };
    this.connections.add(connection);
    socket.on('close', () => this.forget(connection));
    socket.on('drain', () => this.pump(connection));
    socket.on('data', (chunk: Buffer) => {
      // Reading is paused while bytes wait; a chunk already on its way is appended (at most one more).
      connection.unread = connection.unread === undefined ? chunk : Buffer.concat([connection.unread, chunk]);
      this.pump(connection);
    });
  }

  /**
   * One JSON-RPC error line saying why, then the end of our side. The peer's own writes are read and dropped until it
   * closes (a peer that wrote first would otherwise meet EPIPE before reading the line), for REFUSAL_LINGER_MS at most
   * and only while few refusals linger: a peer that connects in a loop must not hold descriptors through them.
   */
  private refuse(socket: net.Socket, reason: string): void {
    const error = { code: RPC_ISCSI_ERROR, message: `iscsid refused the connection: ${reason}`, data: { code: 'ISCSI_CONNECTION_REFUSED', hint: 'close other connections to iscsid (docs/security.md, Limits)' } };
    const line = `${JSON.stringify({ jsonrpc: '2.0', id: null, error })}\n`;
    if (this.refusing.size >= MAX_LINGERING_REFUSALS) {
      socket.end(line, () => socket.destroy());
      return;
    }
    this.refusing.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      this.refusing.delete(socket);
    });
    socket.on('data', () => {}); // read and dropped
    socket.end(line);
  }

  /** Why a peer may not connect now, or undefined. Root is exempt from the per-uid limit and has reserved slots. */
  private admit(peer: PeerCredentials | undefined): string | undefined {
    const { maxConnections, maxConnectionsPerUid, connectionsReservedForRoot } = this.limits;
    if (this.connections.size >= maxConnections) return `${maxConnections} connections are open, the most iscsid keeps`;
    if (peer?.uid === 0) return undefined;
    if (this.connections.size >= maxConnections - connectionsReservedForRoot) return `the last ${connectionsReservedForRoot} connections are kept for root`;
    const bucket = peer === undefined ? 'unknown' : String(peer.uid);
    if ((this.connectionsOf.get(bucket) ?? 0) >= maxConnectionsPerUid) return `uid ${bucket} has ${maxConnectionsPerUid} connections open, the most one user may`;
    return undefined;
  }

  private forget(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    connection.unread = undefined;
    connection.partial = [];
    connection.next = undefined;
    if (connection.bucket === undefined) return;
    const n = (this.connectionsOf.get(connection.bucket) ?? 1) - 1;
    if (n > 0) this.connectionsOf.set(connection.bucket, n);
    else this.connectionsOf.delete(connection.bucket);
  }

  /**
   * Starts the lines waiting on a connection while its limits allow, and reads on only when none wait and its unsent
   * output is under maxUnsentBytes. Called on every chunk read, every call answered and every 'drain'.
   */
  private pump(c: Connection): void {
    const { maxCallsInFlight } = this.limits;
    while (!c.socket.destroyed && !this.backedUp(c)) {
      const line = (c.next ??= this.nextLine(c));
      if (line === undefined) break;
      // A line whose calls do not fit waits for answers; one alone may always run (a batch is at most maxBatchCalls).
      if (c.inFlight > 0 && c.inFlight + line.calls > maxCallsInFlight) break;
      c.next = undefined;
      c.inFlight += line.calls;
      this.handle(c, line.request)
        .catch((e: unknown) => this.options.log?.('error', 'RPC answer failed', { error: e instanceof Error ? e.message : String(e) }))
        .finally(() => {
          c.inFlight -= line.calls;
          this.pump(c);
        });
    }
    if (c.socket.destroyed) return;
    if (c.next !== undefined || c.unread !== undefined || this.backedUp(c)) c.socket.pause();
    else if (c.socket.isPaused()) c.socket.resume();
  }

  /** More than maxUnsentBytes unsent, and a 'drain' to come (one always does once a write has filled the buffer). */
  private backedUp(c: Connection): boolean {
    return c.socket.writableNeedDrain && c.socket.writableLength > this.limits.maxUnsentBytes;
  }

  /** Splits the next non-blank line off what was read, or keeps an incomplete one aside; undefined when none is whole. */
  private nextLine(c: Connection): NextLine | undefined {
    while (c.unread !== undefined) {
      const nl = c.unread.indexOf(0x0a);
      if (nl < 0) {
        if (c.partialSize + c.unread.length > MAX_MESSAGE_BYTES) return void this.tooLarge(c.socket);
        c.partial.push(Buffer.from(c.unread)); // a copy: the chunk it came from may be large
        c.partialSize += c.unread.length;
        c.unread = undefined;
        return undefined;
      }
      if (c.partialSize + nl > MAX_MESSAGE_BYTES) return void this.tooLarge(c.socket);
      const piece = c.unread.subarray(0, nl);
      const text = c.partialSize === 0 ? piece.toString('utf8') : Buffer.concat([...c.partial, piece]).toString('utf8');
      c.unread = nl + 1 < c.unread.length ? c.unread.subarray(nl + 1) : undefined;
      c.partial = [];
      c.partialSize = 0;
      if (text.trim() !== '') return this.parse(c, text);
    }
    return undefined;
  }

  /** The line as JSON and how many calls it holds (a line answered with one error counts as one). */
  private parse(c: Connection, text: string): NextLine {
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch {
      return { request: PARSE_ERROR, calls: 1 };
    }
    if (!Array.isArray(request)) return { request, calls: 1 };
    // JSON-RPC 2.0 §6: an empty batch is one Invalid Request; ours also refuses a batch over the cap, whole, unrun.
    if (request.length === 0) return { request: invalidRequest(null, 'an empty batch'), calls: 1 };
    if (request.length > this.limits.maxBatchCalls) {
      this.options.log?.('warn', 'batch refused', { connection: c.context.connectionId, calls: request.length, limit: this.limits.maxBatchCalls });
      return { request: invalidRequest(null, `a batch of ${request.length} calls; at most ${this.limits.maxBatchCalls} are taken`), calls: 1 };
    }
    return { request, calls: request.length };
  }

  private async handle(c: Connection, request: unknown): Promise<void> {
    let response: JSONRPCResponse | JSONRPCResponse[] | null;
    if (request === PARSE_ERROR) {
      response = { jsonrpc: '2.0', id: null, error: { code: JSONRPCErrorCode.ParseError, message: 'Parse error' } };
    } else if (request instanceof Refusal) {
      response = request.response;
    } else if (Array.isArray(request)) {
      // JSON-RPC 2.0 §6: a batch is answered with an array, even of one; notifications leave no trace in it.
      const answers = (await Promise.all(request.map((r: unknown) => this.receiveOne(c, r)))).filter((r) => r !== null);
      response = answers.length > 0 ? answers : null;
    } else {
      response = await this.receiveOne(c, request);
    }
    if (response === null || c.socket.destroyed || !c.socket.writable) return;
    c.socket.write(answerLine(response, this.limits.maxAnswerBytes));
    this.checkBacklog(c);
  }

  /** One call: checked as a request here (§4), run by the library, never throwing. */
  private async receiveOne(c: Connection, request: unknown): Promise<JSONRPCResponse | null> {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return invalidRequest(null, 'not a request object').response;
    const id: unknown = (request as { id?: unknown }).id;
    // §4: an id is a String, a Number or Null. 1e400 parses to Infinity, which JSON can only write as null: such an
    // id could never be echoed faithfully, so the call is refused unrun rather than answered under another id.
    if (id !== undefined && !(typeof id === 'string' || id === null || (typeof id === 'number' && Number.isFinite(id)))) {
      return invalidRequest(null, 'id must be a string, a finite number or null (JSON-RPC 2.0 §4)').response;
    }
    try {
      return await this.rpc.receive(request as JSONRPCRequest, c.context);
    } catch (e) {
      this.options.log?.('error', 'RPC dispatch failed', { error: e instanceof Error ? e.message : String(e) });
      return id === undefined ? null : { jsonrpc: '2.0', id: id as JSONRPCID, error: { code: JSONRPCErrorCode.InternalError, message: 'internal error' } };
    }
  }

  /** Closes a connection whose unsent output passed maxBacklogBytes: a reader this slow would hold the daemon's memory. */
  private checkBacklog(c: Connection): void {
    const unsent = c.socket.writableLength;
    if (unsent <= this.limits.maxBacklogBytes || c.socket.destroyed) return;
    this.options.log?.('warn', 'connection dropped: it does not read what iscsid sends', {
      connection: c.context.connectionId,
      uid: c.context.peer?.uid ?? 'unknown',
      subscribed: c.subscribed,
      unsentBytes: unsent,
      limit: this.limits.maxBacklogBytes,
    });
    c.socket.destroy();
  }

  private tooLarge(socket: net.Socket): void {
    const error = { code: JSONRPCErrorCode.InvalidRequest, message: `message larger than ${MAX_MESSAGE_BYTES} bytes`, data: { code: 'ISCSI_BAD_ARGUMENT' } };
    socket.end(`${JSON.stringify({ jsonrpc: '2.0', id: null, error })}\n`);
    socket.destroy();
  }
}

/** How long a refused connection may take to read why before it is closed, and how many may do so at once. */
const REFUSAL_LINGER_MS = 500;
const MAX_LINGERING_REFUSALS = 64;

/** A line that is not JSON (JSON-RPC 2.0 §5.1, -32700). */
const PARSE_ERROR = Symbol('parse error');

/** A line answered without running anything: an Invalid Request (-32600). */
class Refusal {
  constructor(readonly response: JSONRPCResponse) {}
}

function invalidRequest(id: JSONRPCID, why: string): Refusal {
  return new Refusal({ jsonrpc: '2.0', id, error: { code: JSONRPCErrorCode.InvalidRequest, message: `Invalid Request: ${why}`, data: { code: 'ISCSI_BAD_ARGUMENT' } } });
}

function toRpcError(error: unknown, log: RpcServerOptions['log']): { code: number; message: string; data?: unknown } {
  if (error instanceof JSONRPCErrorException) return { code: error.code, message: error.message, data: error.data };
  if (error instanceof ArgumentError) return { code: JSONRPCErrorCode.InvalidParams, message: error.message, data: error.toJSON() };
  if (error instanceof IscsiError) return { code: RPC_ISCSI_ERROR, message: error.message, data: error.toJSON() };
  log?.('error', 'unexpected error in an RPC method', { error: error instanceof Error ? error.message : String(error) });
  return { code: JSONRPCErrorCode.InternalError, message: 'internal error' };
}

export function isObjectParams(params: JSONRPCParams | undefined): params is Record<string, unknown> {
  return typeof params === 'object' && params !== null && !Array.isArray(params);
}
