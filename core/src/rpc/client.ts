import net from 'node:net';
import { DEFAULT_TIMEOUTS } from '../defaults.js';
import { IscsiError, TransportError, type IscsiErrorCode } from '../errors.js';
import { MAX_MESSAGE_BYTES, RPC_ERROR_CODES, RPC_PROTOCOL_VERSION, type RpcMethod, type RpcNotification, type RpcParams, type RpcResult } from './contract.js';

export type NotificationListener = (notification: RpcNotification) => void;

/** A method that takes no required param may be called without params. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{}` here asks "are all params optional?", not "any object"
export type ParamsArg<M extends RpcMethod> = {} extends RpcParams<M> ? [params?: RpcParams<M>] : [params: RpcParams<M>];

/** An error the daemon answered with: its JSON-RPC code (`rpcCode`) and our string code (`code`, from data.code). */
export class RpcError extends IscsiError {
  readonly rpcCode: number;
  readonly data: unknown;
  constructor(rpcCode: number, message: string, data: unknown) {
    const fields = typeof data === 'object' && data !== null ? (data as { code?: unknown; hint?: unknown }) : {};
    // A code this client does not know (a newer daemon) still fails typed, as a generic connection failure.
    const code = typeof fields.code === 'string' && (RPC_ERROR_CODES as readonly string[]).includes(fields.code) ? (fields.code as IscsiErrorCode) : 'ISCSI_CONNECTION_FAILED';
    super(code, message, typeof fields.hint === 'string' ? { hint: fields.hint } : {});
    this.rpcCode = rpcCode;
    this.data = data;
  }

  /** The daemon's facts (data.mountPoint of ISCSI_VOLUME_BUSY, data.statusClass of a login, …) ride along. */
  override toJSON(): Record<string, unknown> {
    return { ...(typeof this.data === 'object' && this.data !== null ? (this.data as Record<string, unknown>) : {}), ...super.toJSON() };
  }
}

export interface RpcConnectOptions {
  /** How long connecting may take; default DEFAULT_TIMEOUTS.rpcConnectMs. */
  readonly timeoutMs?: number;
  /**
   * Decides whether the process serving the socket may be talked to, before a byte is sent: throw (or reject) to
   * refuse, e.g. with ISCSI_DAEMON_NOT_TRUSTED. This module stays free of native code (it is bundled for Raycast), so
   * the check that reads the server's credentials (iscsiadm's: cli/src/daemon.ts) is passed in by the caller.
   */
  readonly verifyPeer?: (socket: net.Socket) => void | Promise<void>;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/**
 * The client side of iscsid's socket (docs/api.md): newline-delimited JSON-RPC 2.0, answers matched to requests by
 * id, notifications delivered to listeners. `call` is typed by the contract. One per CLI invocation or Raycast command.
 */
export class RpcClient {
  private readonly listeners = new Set<NotificationListener>();
  private readonly closeListeners = new Set<(reason: string) => void>();
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private nextId = 1;
  private closedBecause: string | undefined;
  /** An error the daemon sent with id null just before closing (a refused connection, an unreadable line): the reason. */
  private farewell: RpcError | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.receive(text));
    socket.on('error', () => {});
    socket.on('close', () => this.failAll('iscsid closed the connection'));
  }

  /**
   * Connects to the daemon's socket; ISCSI_DAEMON_NOT_RUNNING when no daemon runs there. With `verifyPeer`, the
   * connected socket is shown to it before anything is sent: if it throws (or rejects), the socket is closed having
   * carried nothing, and connect rejects with its error (docs/security.md, "Clients"). The second argument may be a
   * timeout in ms, as before.
   */
  static connect(path: string, options: number | RpcConnectOptions = {}): Promise<RpcClient> {
    const { timeoutMs = DEFAULT_TIMEOUTS.rpcConnectMs, verifyPeer } = typeof options === 'number' ? { timeoutMs: options } : options;
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError('ISCSI_TIMEOUT', `iscsid did not answer on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        if (verifyPeer === undefined) {
          clearTimeout(timer);
          return resolve(new RpcClient(socket));
        }
        // Nothing is written before the verdict: RpcClient's constructor and every call come after it. The connect
        // timeout covers the verdict too.
        Promise.resolve()
          .then(() => verifyPeer(socket))
          .then(
            () => {
              clearTimeout(timer);
              if (socket.destroyed) reject(new TransportError('ISCSI_CONNECTION_CLOSED', `iscsid closed the connection on ${path}`));
              else resolve(new RpcClient(socket));
            },
            (e: unknown) => {
              clearTimeout(timer);
              socket.destroy();
              reject(e instanceof Error ? e : new TransportError('ISCSI_DAEMON_NOT_TRUSTED', `the server on ${path} was not accepted`));
            },
          );
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(connectError(path, e));
      });
    });
  }

  /** Connects (as `connect`, `verifyPeer` included) and checks with `version` that the daemon speaks RPC_PROTOCOL_VERSION (docs/api.md, Versioning). */
  static async open(path: string, options?: number | RpcConnectOptions): Promise<RpcClient> {
    const client = await RpcClient.connect(path, options);
    try {
      const { protocol } = await client.call('version');
      if (protocol !== RPC_PROTOCOL_VERSION) {
        throw new TransportError('ISCSI_CONNECTION_FAILED', `iscsid speaks protocol ${protocol}; this client speaks ${RPC_PROTOCOL_VERSION}`, {
          hint: 'use the client that came with the running iscsid',
        });
      }
      return client;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  onNotification(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called once when the connection closes (the daemon stopped, or refused this connection, or `close()`): a client
   * that only listens — a Raycast view waiting for notifications — learns that no more will come.
   */
  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Calls a method of the contract; resolves with its result or rejects with an RpcError carrying the daemon's code. */
  call<M extends RpcMethod>(method: M, ...params: ParamsArg<M>): Promise<RpcResult<M>> {
    return this.callUnchecked(method, params[0]) as Promise<RpcResult<M>>;
  }

  /** Any method with any params, untyped: for tests of the server's handling of what the contract does not allow. */
  callUnchecked(method: string, params?: unknown): Promise<unknown> {
    if (this.closedBecause !== undefined) return Promise.reject(this.farewell ?? new TransportError('ISCSI_CONNECTION_CLOSED', this.closedBecause));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })}\n`);
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private failAll(reason: string): void {
    const first = this.closedBecause === undefined;
    this.closedBecause ??= reason;
    for (const p of this.pending.values()) p.reject(this.farewell ?? new TransportError('ISCSI_CONNECTION_CLOSED', reason));
    this.pending.clear();
    if (first) for (const listener of this.closeListeners) listener(this.farewell?.message ?? reason);
  }

  private receive(text: string): void {
    this.buffered += text;
    if (this.buffered.length > MAX_MESSAGE_BYTES * 4) {
      this.failAll('iscsid sent a line longer than 4 MiB');
      this.socket.destroy();
      return;
    }
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        continue; // a garbled line from the daemon: nothing to match it to
      }
      for (const m of Array.isArray(message) ? message : [message]) this.dispatch(m);
    }
  }

  private dispatch(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const m = message as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
    if (typeof m.method === 'string' && m.id === undefined) {
      const params = typeof m.params === 'object' && m.params !== null ? m.params : {};
      const notification = { method: m.method, params } as RpcNotification;
      for (const listener of this.listeners) listener(notification);
      return;
    }
    if (m.id === null && m.error !== undefined) {
      // The daemon refused the connection or could not read a line, and closes: pending calls fail with its reason.
      this.farewell = rpcError(m.error);
      return;
    }
    if (typeof m.id !== 'number') return;
    const waiting = this.pending.get(m.id);
    if (!waiting) return;
    this.pending.delete(m.id);
    if (m.error !== undefined) {
      waiting.reject(rpcError(m.error));
    } else {
      waiting.resolve(m.result);
    }
  }
}

function rpcError(error: { code?: unknown; message?: unknown; data?: unknown } | null): RpcError {
  const code = typeof error?.code === 'number' ? error.code : -32603;
  return new RpcError(code, typeof error?.message === 'string' ? error.message : 'error', error?.data);
}

function connectError(path: string, e: NodeJS.ErrnoException): IscsiError {
  if (e.code === 'EACCES') {
    return new TransportError('ISCSI_NOT_PERMITTED', `not allowed to use iscsid's socket ${path}`, { hint: "run with sudo, or as a member of the socket's group (iscsid --group)" });
  }
  const missing = e.code === 'ENOENT' || e.code === 'ECONNREFUSED';
  return new TransportError(missing ? 'ISCSI_DAEMON_NOT_RUNNING' : 'ISCSI_CONNECTION_FAILED', missing ? `iscsid is not running (no daemon on ${path})` : `cannot reach iscsid on ${path}: ${e.code ?? e.message}`, {
    hint: 'start it with `sudo npx iscsid` (or load its launchd job), or give --socket',
  });
}
