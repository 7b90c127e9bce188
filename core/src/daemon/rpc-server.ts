import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { JSONRPCErrorCode, JSONRPCErrorException, JSONRPCServer, type JSONRPCParams, type JSONRPCResponse } from 'json-rpc-2.0';
import { ArgumentError, IscsiError, TransportError } from '../errors.js';
import { JSONRPC_ERRORS, MAX_MESSAGE_BYTES, type RpcNotifications } from '../rpc/contract.js';

export { MAX_MESSAGE_BYTES };

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
}

interface Connection {
  readonly socket: net.Socket;
  readonly context: RpcContext;
  subscribed: boolean;
}

/**
 * JSON-RPC 2.0 over a Unix domain socket, one message per line (newline-delimited JSON). Every failure is a JSON-RPC
 * error or a closed connection: invalid JSON, unknown methods, wrong parameters, oversized messages, clients that
 * vanish mid-call — the server and what it owns stay up.
 */
export class RpcServer {
  // The library's default error listener prints every handler error to the console; ours decides what is logged.
  private readonly rpc = new JSONRPCServer<RpcContext>({ errorListener: () => {} });
  private readonly connections = new Set<Connection>();
  private server: net.Server | undefined;
  private nextId = 1;
  private readonly authorize: (peer: PeerCredentials | undefined) => boolean;

  constructor(private readonly options: RpcServerOptions = {}) {
    this.authorize = options.authorize ?? ((peer) => peer?.uid === 0);
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

  /** Sends a notification to every subscribed client (JSON-RPC 2.0 §4.1: no id, no answer). */
  notify<N extends keyof RpcNotifications>(method: N, params: RpcNotifications[N]): void {
    const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
    for (const c of this.connections) if (c.subscribed && !c.socket.destroyed) c.socket.write(line);
  }

  /**
   * Listens on `path`. A live daemon already there makes this fail with a clear message; a stale socket file (no one
   * answering) is replaced. The socket gets `mode` (default 0660) and, when given, `gid`.
   */
  async listen(path: string, options: { mode?: number; gid?: number } = {}): Promise<void> {
    if (await socketAnswers(path)) {
      throw new TransportError('ISCSI_CONNECTION_FAILED', `another iscsid is already running on ${path}`, {
        hint: 'stop it first, or give this one another --socket',
      });
    }
    await removeStaleSocket(path);
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.options.log?.('error', 'socket server error', { error: String(e) }));
    this.server = server;
    await chmod(path, options.mode ?? 0o660);
    if (options.gid !== undefined) await chown(path, -1, options.gid);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const connection: Connection = {
      socket,
      subscribed: false,
      context: {
        connectionId: this.nextId++,
        peer: this.options.peerCredentials?.(socket),
        subscribe: () => {
          connection.subscribed = true;
        },
      },
    };
    this.connections.add(connection);
    let buffered: Buffer[] = [];
    let size = 0;
    socket.on('error', () => {}); // a client that vanishes is no error of ours
    socket.on('close', () => this.connections.delete(connection));
    socket.on('data', (chunk: Buffer) => {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl);
        start = nl + 1;
        if (size + piece.length > MAX_MESSAGE_BYTES) return this.tooLarge(socket);
        const line = size === 0 ? piece.toString('utf8') : Buffer.concat([...buffered, piece]).toString('utf8');
        buffered = [];
        size = 0;
        if (line.trim() !== '') void this.handle(connection, line);
      }
      const rest = chunk.subarray(start);
      size += rest.length;
      if (size > MAX_MESSAGE_BYTES) return this.tooLarge(socket);
      if (rest.length > 0) buffered.push(Buffer.from(rest));
    });
  }

  private async handle(connection: Connection, line: string): Promise<void> {
    let response: JSONRPCResponse | JSONRPCResponse[] | null;
    try {
      response = await this.rpc.receiveJSON(line, connection.context);
    } catch (e) {
      this.options.log?.('error', 'RPC dispatch failed', { error: String(e) });
      response = { jsonrpc: '2.0', id: null, error: { code: JSONRPCErrorCode.InternalError, message: 'internal error' } };
    }
    if (response === null || (Array.isArray(response) && response.length === 0)) return;
    // JSON-RPC 2.0 §6: a batch is answered with an array, even of one (the library unwraps a single answer); an
    // empty or unparsable "batch" gets a single error object.
    if (!Array.isArray(response) && line.trimStart().startsWith('[') && isNonEmptyArray(line)) response = [response];
    if (!connection.socket.destroyed && connection.socket.writable) connection.socket.write(`${JSON.stringify(response)}\n`);
  }

  private tooLarge(socket: net.Socket): void {
    const error = { code: JSONRPCErrorCode.InvalidRequest, message: `message larger than ${MAX_MESSAGE_BYTES} bytes`, data: { code: 'ISCSI_BAD_ARGUMENT' } };
    socket.end(`${JSON.stringify({ jsonrpc: '2.0', id: null, error })}\n`);
    socket.destroy();
  }
}

function toRpcError(error: unknown, log: RpcServerOptions['log']): { code: number; message: string; data?: unknown } {
  if (error instanceof JSONRPCErrorException) return { code: error.code, message: error.message, data: error.data };
  if (error instanceof ArgumentError) return { code: JSONRPCErrorCode.InvalidParams, message: error.message, data: error.toJSON() };
  if (error instanceof IscsiError) return { code: RPC_ISCSI_ERROR, message: error.message, data: error.toJSON() };
  log?.('error', 'unexpected error in an RPC method', { error: error instanceof Error ? error.message : String(error) });
  return { code: JSONRPCErrorCode.InternalError, message: 'internal error' };
}

/** True when something accepts connections on `path` (a running daemon). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    const done = (answer: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), 1000);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/** Removes a socket file nobody answers on; refuses to remove anything that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch {
    return;
  }
  if (!info.isSocket()) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${path} exists and is not a socket; not replacing it`);
  await unlink(path);
}

function isNonEmptyArray(line: string): boolean {
  try {
    const parsed: unknown = JSON.parse(line);
    return Array.isArray(parsed) && parsed.length > 0;
  } catch {
    return false;
  }
}

export function isObjectParams(params: JSONRPCParams | undefined): params is Record<string, unknown> {
  return typeof params === 'object' && params !== null && !Array.isArray(params);
}
