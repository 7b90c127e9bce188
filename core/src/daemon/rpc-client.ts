import net from 'node:net';
import { JSONRPCClient, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { DEFAULT_TIMEOUTS } from '../defaults.js';
import { IscsiError, TransportError, type IscsiErrorCode } from '../errors.js';
import { MAX_MESSAGE_BYTES } from './rpc-server.js';

export type NotificationListener = (method: string, params: Record<string, unknown>) => void;

/** An error the daemon answered with: its JSON-RPC code, and our string code when it sent one. */
export class RpcError extends IscsiError {
  readonly rpcCode: number;
  readonly data: unknown;
  constructor(rpcCode: number, message: string, data: unknown) {
    const code = typeof data === 'object' && data !== null && typeof (data as { code?: unknown }).code === 'string' ? ((data as { code: string }).code as IscsiErrorCode) : 'ISCSI_CONNECTION_FAILED';
    const hint = typeof data === 'object' && data !== null ? (data as { hint?: string }).hint : undefined;
    super(code, message, hint === undefined ? {} : { hint });
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/**
 * The client side of iscsid's socket: newline-delimited JSON-RPC 2.0, requests matched to answers by id, and
 * notifications delivered to listeners. One per CLI invocation or Raycast command.
 */
export class RpcClient {
  private readonly client: JSONRPCClient;
  private readonly listeners = new Set<NotificationListener>();
  private buffered = '';
  private nextId = 1;

  private constructor(private readonly socket: net.Socket) {
    this.client = new JSONRPCClient((request: JSONRPCRequest) => {
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.receive(text));
    socket.on('error', () => {});
    socket.on('close', () => this.client.rejectAllPendingRequests('iscsid closed the connection'));
  }

  /** Connects to the daemon's socket; ISCSI_CONNECTION_REFUSED when no daemon runs there. */
  static connect(path: string, timeoutMs = DEFAULT_TIMEOUTS.rpcConnectMs): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError('ISCSI_TIMEOUT', `iscsid did not answer on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RpcClient(socket));
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'EACCES') {
          reject(new TransportError('ISCSI_NOT_PERMITTED', `not allowed to use iscsid's socket ${path}`, { hint: "run with sudo, or as a member of the socket's group (iscsid --group)" }));
          return;
        }
        const missing = e.code === 'ENOENT' || e.code === 'ECONNREFUSED';
        reject(
          new TransportError(missing ? 'ISCSI_DAEMON_NOT_RUNNING' : 'ISCSI_CONNECTION_FAILED', missing ? `iscsid is not running (no daemon on ${path})` : `cannot reach iscsid on ${path}: ${e.code ?? e.message}`, {
            hint: 'start it with `sudo iscsid` (or load its launchd job), or give --socket',
          }),
        );
      });
    });
  }

  onNotification(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls a method; resolves with its result or rejects with an RpcError carrying the daemon's code. */
  async call<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T> {
    const response = await this.client.requestAdvanced({ jsonrpc: '2.0', id: this.nextId++, method, ...(params === undefined ? {} : { params }) });
    if (response.error) throw new RpcError(response.error.code, response.error.message, response.error.data);
    return response.result as T;
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private receive(text: string): void {
    this.buffered += text;
    if (this.buffered.length > MAX_MESSAGE_BYTES * 4) {
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
    const m = message as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof m.method === 'string' && m.id === undefined) {
      const params = typeof m.params === 'object' && m.params !== null ? (m.params as Record<string, unknown>) : {};
      for (const listener of this.listeners) listener(m.method, params);
      return;
    }
    this.client.receive(message as JSONRPCResponse);
  }
}
