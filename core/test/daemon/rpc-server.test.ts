// iscsid's JSON-RPC transport over a real Unix socket: JSON-RPC 2.0 errors for every kind of bad input, a capped
// message size, single-instance and stale-socket handling, notifications, and a server that stays up throughout.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError, TransportError } from '../../src/errors.js';
import { RpcClient } from '../../src/rpc/client.js';
import { isObjectParams, MAX_MESSAGE_BYTES, RPC_ISCSI_ERROR, RPC_NOT_PERMITTED, RpcServer } from '../../src/daemon/rpc-server.js';

let dir: string;
let socketPath: string;
let server: RpcServer;
const clients: RpcClient[] = [];
/** The 'slow' method's call in progress: `started` once it runs, `finish()` lets it answer. */
let slow: { started: Promise<void>; finish: () => void };

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rpc-'));
  socketPath = path.join(dir, 'iscsid.sock');
  server = new RpcServer({ peerCredentials: () => ({ uid: 0, gid: 0 }) });
  server.addMethod('version', () => ({ name: 'iscsid', protocol: 1 }));
  server.addMethod('echo', (params) => {
    if (!isObjectParams(params) || typeof params.text !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'echo needs params.text, a string');
    return params.text;
  });
  server.addMethod('fail', () => {
    throw new TransportError('ISCSI_CONNECTION_REFUSED', 'connection refused by 10.0.0.1:3260', { hint: 'is a target listening?' });
  });
  server.addMethod('crash', () => {
    throw new TypeError('a bug with a secret-looking detail: hunter2');
  });
  let started!: () => void;
  let finish!: () => void;
  const startedPromise = new Promise<void>((r) => (started = r));
  const finished = new Promise<void>((r) => (finish = r));
  slow = { started: startedPromise, finish: () => finish() };
  server.addMethod('slow', async () => {
    started();
    await finished;
    return 'done';
  });
  server.addMethod('subscribe', (_p, context) => {
    context.subscribe();
    return true;
  });
  await server.listen(socketPath);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<RpcClient> {
  const c = await RpcClient.connect(socketPath);
  clients.push(c);
  return c;
}

/** Sends raw bytes and collects the lines the server answers until it goes quiet or closes. */
function raw(bytes: string | Buffer, quietMs = 150): Promise<{ lines: unknown[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout;
    const finish = () => {
      s.destroy();
      resolve({ lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l)), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    s.on('data', (d) => {
      text += d;
      arm();
    });
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      finish();
    });
    s.on('error', () => {});
    s.on('connect', () => {
      s.write(bytes);
      arm();
    });
  });
}

describe('JSON-RPC 2.0 over the socket', () => {
  it('answers calls; the socket is 0660 (docs/security.md)', async () => {
    const c = await client();
    expect(await c.callUnchecked('version')).toEqual({ name: 'iscsid', protocol: 1 });
    expect(await c.callUnchecked('echo', { text: 'hi' })).toBe('hi');
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
  });

  it('§5.1 errors: parse error -32700, invalid request -32600, method not found -32601, invalid params -32602', async () => {
    const { lines } = await raw('{not json\n{"jsonrpc":"2.0","id":1}\n{"jsonrpc":"2.0","id":2,"method":"nope"}\n{"jsonrpc":"2.0","id":3,"method":"echo","params":{"text":5}}\n');
    const codes = (lines as Array<{ error: { code: number } }>).map((l) => l.error.code).sort();
    expect(codes).toEqual([-32700, -32602, -32601, -32600].sort());
  });

  it('our typed errors carry their string code and hint; anything else is "internal error" with no detail', async () => {
    const c = await client();
    await expect(c.callUnchecked('fail')).rejects.toMatchObject({ rpcCode: RPC_ISCSI_ERROR, code: 'ISCSI_CONNECTION_REFUSED', hint: 'is a target listening?' });
    const error = await c.callUnchecked('crash').catch((e: unknown) => e);
    expect(error).toMatchObject({ rpcCode: -32603, message: 'internal error' });
    expect(JSON.stringify(error)).not.toContain('hunter2');
  });

  it('a message over the cap is refused and the connection closed; the server keeps serving others', async () => {
    const { lines, closed } = await raw('x'.repeat(MAX_MESSAGE_BYTES + 10));
    expect(closed).toBe(true);
    expect((lines[0] as { error: { code: number } }).error.code).toBe(-32600);
    expect(await (await client()).call('version')).toMatchObject({ protocol: 1 });
  });

  it('a client that vanishes mid-call leaves the server up', async () => {
    const s = net.connect(socketPath);
    await new Promise((r) => s.once('connect', r));
    s.write('{"jsonrpc":"2.0","id":9,"method":"slow"}\n');
    await slow.started; // the call is in progress…
    s.destroy(); // …when its client goes away
    expect(await (await client()).call('version')).toMatchObject({ protocol: 1 });
    slow.finish(); // the answer now has nowhere to go
    expect(await (await client()).call('version')).toMatchObject({ protocol: 1 });
  });

  it('batches and notifications-without-id follow JSON-RPC 2.0 §6 and §4.1', async () => {
    const { lines } = await raw('[{"jsonrpc":"2.0","id":1,"method":"version"},{"jsonrpc":"2.0","method":"version"}]\n{"jsonrpc":"2.0","method":"version"}\n');
    expect(lines).toHaveLength(1); // one batch answer with one element; the lone notification gets none
    expect((lines[0] as unknown[]).length).toBe(1);
    // §6: an empty array is an invalid request, answered with a single error object, not an array.
    const empty = await raw('[]\n');
    expect(empty.lines[0]).toMatchObject({ error: { code: -32600 } });
  });

  it('notifications reach subscribed clients only', async () => {
    const a = await client();
    const b = await client();
    await a.callUnchecked('subscribe');
    const got: string[] = [];
    a.onNotification((n) => got.push(`a:${n.method}`));
    b.onNotification((n) => got.push(`b:${n.method}`));
    const reachedA = new Promise<void>((resolve) => a.onNotification(() => resolve()));
    server.notify('session.stateChanged', { sid: 1, state: 'logged-in', reason: 'logged in' });
    await reachedA;
    // b's answer to a call made after notify() comes after anything notify() wrote to b: none came.
    await b.callUnchecked('version');
    expect(got).toEqual(['a:session.stateChanged']);
  });

  it('fuzz: arbitrary lines never take the server down (each answered or the connection closed)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo', params: v }))), { maxLength: 5 }), async (lines) => {
        await raw(`${lines.map((l) => l.replace(/\n/g, ' ')).join('\n')}\n`, 30);
      }),
      { numRuns: 60 },
    );
    expect(await (await client()).call('version')).toMatchObject({ protocol: 1 });
  });
});

describe('access control (docs/security.md)', () => {
  it('a mutating method from a peer that is not authorized gets JSON-RPC error -32001; read-only methods stay open', async () => {
    const guarded = new RpcServer({ peerCredentials: () => ({ uid: 65534, gid: 65534 }) });
    guarded.addMethod('version', () => 1);
    guarded.addMethod('sessions.login', () => 'should not run', { mutating: true });
    const other = path.join(dir, 'guarded.sock');
    await guarded.listen(other);
    try {
      const c = await RpcClient.connect(other);
      clients.push(c);
      expect(await c.callUnchecked('version')).toBe(1);
      await expect(c.callUnchecked('sessions.login')).rejects.toMatchObject({ rpcCode: RPC_NOT_PERMITTED, code: 'ISCSI_NOT_PERMITTED' });
    } finally {
      await guarded.close();
    }
  });
});

describe('one daemon per socket', () => {
  it('a second server on a live socket refuses with a clear message', async () => {
    const second = new RpcServer();
    await expect(second.listen(socketPath)).rejects.toMatchObject({ message: expect.stringMatching(/another iscsid is already running/) });
  });

  it('a stale socket file (no one listening) is replaced; a non-socket file is never removed', async () => {
    await server.close(); // leaves the socket file behind, like a crashed daemon
    const again = new RpcServer();
    again.addMethod('version', () => 2);
    await again.listen(socketPath);
    try {
      const c = await RpcClient.connect(socketPath);
      clients.push(c);
      expect(await c.callUnchecked('version')).toBe(2);
    } finally {
      await again.close();
    }
    const plain = path.join(dir, 'not-a-socket');
    writeFileSync(plain, 'data');
    await expect(new RpcServer().listen(plain)).rejects.toBeInstanceOf(ArgumentError);
  });

  it('a client with no daemon gets ISCSI_DAEMON_NOT_RUNNING with how to start it', async () => {
    await expect(RpcClient.connect(path.join(dir, 'nobody.sock'))).rejects.toMatchObject({ code: 'ISCSI_DAEMON_NOT_RUNNING', hint: expect.stringMatching(/iscsid/) });
  });
});
