// iscsid's JSON-RPC transport over a real Unix socket: JSON-RPC 2.0 errors for every kind of bad input, a capped
// message size, single-instance and stale-socket handling, notifications, and a server that stays up throughout.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArgumentError, TransportError } from '../../src/errors.js';
import { RpcClient } from '../../src/rpc/client.js';
import { answerLine } from '../../src/daemon/rpc-answer.js';
import { isObjectParams, MAX_MESSAGE_BYTES, RPC_ISCSI_ERROR, RPC_NOT_PERMITTED, RpcServer, type PeerCredentials, type RpcServerOptions } from '../../src/daemon/rpc-server.js';

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

/** A server of its own with some limits lowered, for the limit tests (docs/security.md, Limits). */
async function limitedServer(
  limits: NonNullable<RpcServerOptions['limits']>,
  peer: () => PeerCredentials | undefined = () => ({ uid: 0, gid: 0 }),
): Promise<{ server: RpcServer; path: string; logs: Array<{ message: string; fields?: Record<string, unknown> }> }> {
  const logs: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const limited = new RpcServer({ peerCredentials: peer, limits, log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }) });
  const other = path.join(dir, `limited-${extraServers.length}.sock`);
  await limited.listen(other);
  extraServers.push(limited);
  return { server: limited, path: other, logs };
}
const extraServers: RpcServer[] = [];
afterEach(async () => {
  for (const s of extraServers.splice(0)) await s.close();
});

/** A raw connection: what it reads, as lines, and a way to wait for the n-th line or the close. */
function rawPeer(socketPath: string): Promise<{ socket: net.Socket; lines: unknown[]; closed: Promise<void>; nth(n: number): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const lines: unknown[] = [];
    const waiters: Array<{ n: number; resolve: (v: unknown) => void }> = [];
    let text = '';
    socket.on('data', (d) => {
      text += d;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        lines.push(JSON.parse(text.slice(0, nl)));
        text = text.slice(nl + 1);
      }
      for (const w of waiters.splice(0)) if (lines.length >= w.n) w.resolve(lines[w.n - 1]);
      else waiters.push(w);
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({
        socket,
        lines,
        closed,
        nth: (n) => (lines.length >= n ? Promise.resolve(lines[n - 1]) : new Promise((r) => waiters.push({ n, resolve: r }))),
      }),
    );
    socket.once('error', reject);
  });
}

describe('limits (issue 10, "Bounded RPC"; docs/security.md, Limits)', () => {
  it('a batch over maxBatchCalls is answered with one Invalid Request and none of its calls runs', async () => {
    const { server: s, path: p } = await limitedServer({ maxBatchCalls: 3 });
    let ran = 0;
    s.addMethod('count', () => ++ran);
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'count' });
    const peer = await rawPeer(p);
    peer.socket.write(`${JSON.stringify([call(1), call(2), call(3), call(4)])}\n`);
    expect(await peer.nth(1)).toMatchObject({ id: null, error: { code: -32600, data: { code: 'ISCSI_BAD_ARGUMENT' } } });
    peer.socket.write(`${JSON.stringify([call(5), call(6), call(7)])}\n`); // at the cap: taken
    expect(((await peer.nth(2)) as Array<{ id: number }>).map((r) => r.id).sort()).toEqual([5, 6, 7]);
    expect(ran).toBe(3);
    peer.socket.destroy();
  });

  it('an answer over maxAnswerBytes becomes an error for that call; in a batch, the calls past the byte budget', async () => {
    const { server: s, path: p } = await limitedServer({ maxAnswerBytes: 2_000 });
    s.addMethod('blob', () => 'b'.repeat(600));
    s.addMethod('huge', () => 'h'.repeat(5_000));
    const c = await RpcClient.connect(p);
    clients.push(c);
    await expect(c.callUnchecked('huge')).rejects.toMatchObject({ rpcCode: -32600, code: 'ISCSI_BAD_ARGUMENT' });
    expect(await c.callUnchecked('blob')).toHaveLength(600);
    const peer = await rawPeer(p);
    const batch = Array.from({ length: 6 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'blob' }));
    peer.socket.write(`${JSON.stringify(batch)}\n`);
    const answers = (await peer.nth(1)) as Array<{ id: number; result?: string; error?: { code: number } }>;
    // JSON-RPC 2.0 §6: every call of the batch is answered, each by its id; those over the budget with an error.
    expect(answers.map((a) => a.id).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(answers.filter((a) => a.result !== undefined).length).toBe(3); // 3 × ~640 bytes fit in 2,000
    expect(answers.filter((a) => a.error?.code === -32600).length).toBe(3);
    expect(Buffer.byteLength(JSON.stringify(answers))).toBeLessThanOrEqual(2_000 + 3 * 250);
    peer.socket.destroy();
  });

  it('answerLine keeps results within its budget: of 20,000 answers of 1 KiB, those past 64 KiB become errors', () => {
    const responses = Array.from({ length: 20_000 }, (_, i) => ({ jsonrpc: '2.0' as const, id: i, result: 'r'.repeat(1024) }));
    const line = answerLine(responses, 64 << 10);
    const parsed = JSON.parse(line) as Array<{ id: number; error?: unknown }>;
    expect(new Set(parsed.map((r) => r.id)).size).toBe(20_000); // every call answered (JSON-RPC 2.0 §6)…
    const results = parsed.filter((r) => r.error === undefined);
    expect(results.length).toBeGreaterThan(55); // …those that fit with their result (about 1,050 bytes each)…
    expect(Buffer.byteLength(JSON.stringify(results))).toBeLessThanOrEqual(64 << 10); // …within the budget
    expect(parsed.filter((r) => r.error !== undefined)).toHaveLength(20_000 - results.length);
  });

  it('at most maxCallsInFlight calls run per connection; the next line waits until one answers', async () => {
    const { server: s, path: p } = await limitedServer({ maxCallsInFlight: 2 });
    const gates: Array<() => void> = [];
    let started = 0;
    let startedOne: () => void = () => {};
    s.addMethod('gate', async () => {
      started++;
      startedOne();
      await new Promise<void>((r) => gates.push(r));
      return started;
    });
    const waitStarted = (n: number) => new Promise<void>((r) => ((startedOne = () => started >= n && r()), startedOne()));
    const peer = await rawPeer(p);
    peer.socket.write(Array.from({ length: 5 }, (_, i) => `{"jsonrpc":"2.0","id":${i + 1},"method":"gate"}\n`).join(''));
    await waitStarted(2);
    // Two run; the third is held until one answers, however long we look (it is started only from an answer).
    peer.socket.write('{"jsonrpc":"2.0","method":"gate"}\n'); // a sixth call, a notification: it waits too
    expect(started).toBe(2);
    gates.shift()!();
    await peer.nth(1);
    await waitStarted(3);
    expect(started).toBe(3);
    while (started < 6 || gates.length > 0) {
      if (gates.length > 0) gates.shift()!();
      else await waitStarted(started + 1);
    }
    await peer.nth(5);
    peer.socket.destroy();
  });

  it('reading pauses while a connection\'s unsent output passes maxUnsentBytes, and resumes on drain', async () => {
    const { server: s, path: p, logs } = await limitedServer({ maxCallsInFlight: 1, maxUnsentBytes: 16 << 10, maxBacklogBytes: 1 << 20 });
    let ran = 0;
    s.addMethod('blob', () => {
      ran++;
      return 'b'.repeat(64 << 10);
    });
    const peer = await rawPeer(p);
    peer.socket.pause(); // a reader that reads nothing…
    peer.socket.write(Array.from({ length: 60 }, (_, i) => `{"jsonrpc":"2.0","id":${i + 1},"method":"blob"}\n`).join(''));
    await new Promise((r) => setTimeout(r, 300)); // …for 300 ms: the slow reader is the case under test, not a wait
    // 60 answers are 3.9 MB: without the pause every call would have run and the 1 MiB backlog limit dropped it.
    // With it, only what the kernel's socket buffer took (about 200 KiB on Linux) plus one answer ran.
    expect(ran).toBeLessThan(15);
    peer.socket.resume();
    expect(await peer.nth(60)).toMatchObject({ id: 60 });
    expect(ran).toBe(60);
    expect(logs.filter((l) => l.message.startsWith('connection dropped'))).toEqual([]);
    peer.socket.destroy();
  });

  it('a subscriber whose backlog passes maxBacklogBytes is dropped with a logged reason; a reading one is not', async () => {
    const { server: s, path: p, logs } = await limitedServer({ maxBacklogBytes: 64 << 10 });
    s.addMethod('subscribe', (_p, context) => {
      context.subscribe();
      return true;
    });
    const slowPeer = await rawPeer(p);
    const reader = await rawPeer(p);
    for (const peer of [slowPeer, reader]) {
      peer.socket.write('{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n');
      await peer.nth(1);
    }
    slowPeer.socket.pause();
    const reason = 'r'.repeat(10_000);
    let sent = 0;
    // Bounded: the kernel buffer (~200 KiB) plus 64 KiB is passed within 100 notifications of 10 KB.
    while (s.connectionCount === 2 && sent < 100) {
      s.notify('session.stateChanged', { sid: 1, state: 'recovering', reason });
      sent++;
      await reader.nth(sent + 1); // the reading subscriber reads each one
    }
    expect(s.connectionCount).toBe(1);
    expect(logs).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/^connection dropped/), fields: expect.objectContaining({ subscribed: true, limit: 64 << 10 }) }));
    s.notify('session.stateChanged', { sid: 1, state: 'logged-in', reason: 'still here' });
    expect(await reader.nth(sent + 2)).toMatchObject({ params: { reason: 'still here' } });
    reader.socket.destroy();
    slowPeer.socket.destroy();
  });

  it('per-uid connection limit (root exempt, unknown peers one bucket) and a global cap with room kept for root', async () => {
    let peerNow: PeerCredentials | undefined = { uid: 1000, gid: 1000 };
    const { server: s, path: p } = await limitedServer({ maxConnectionsPerUid: 2, maxConnections: 6, connectionsReservedForRoot: 2 }, () => peerNow);
    s.addMethod('version', () => 1);
    const open: Array<Awaited<ReturnType<typeof rawPeer>>> = [];
    /** Connects as `who`; 'ok' once a call is answered, else the refusal's data.code (one line, then closed). */
    const connectAs = async (who: PeerCredentials | undefined): Promise<string> => {
      peerNow = who;
      const peer = await rawPeer(p);
      open.push(peer);
      peer.socket.write('{"jsonrpc":"2.0","id":1,"method":"version"}\n');
      const first = (await peer.nth(1)) as { result?: unknown; error?: { code: number; data: { code: string } } };
      if (first.result !== undefined) return 'ok';
      await peer.closed;
      expect(first.error?.code).toBe(RPC_ISCSI_ERROR);
      return first.error!.data.code;
    };
    const alice = { uid: 1000, gid: 1000 };
    const bob = { uid: 1001, gid: 1001 };
    const root = { uid: 0, gid: 0 };
    expect(await connectAs(alice)).toBe('ok');
    expect(await connectAs(alice)).toBe('ok');
    expect(await connectAs(alice)).toBe('ISCSI_CONNECTION_REFUSED'); // alice's third
    expect(await connectAs(undefined)).toBe('ok'); // unknown peers share one bucket…
    expect(await connectAs(undefined)).toBe('ok');
    expect(await connectAs(undefined)).toBe('ISCSI_CONNECTION_REFUSED'); // …of two
    expect(s.connectionCount).toBe(4); // the global cap (6) less the 2 kept for root
    expect(await connectAs(bob)).toBe('ISCSI_CONNECTION_REFUSED');
    expect(await connectAs(root)).toBe('ok');
    expect(await connectAs(root)).toBe('ok');
    expect(await connectAs(root)).toBe('ISCSI_CONNECTION_REFUSED'); // even root: the descriptors are finite
    open[0]!.socket.destroy();
    await open[0]!.closed;
    await vi.waitFor(() => expect(s.connectionCount).toBe(5));
    expect(await connectAs(root)).toBe('ok'); // a slot freed is a slot again
    for (const peer of open) peer.socket.destroy();
  });

  it('JSON-RPC 2.0 §4: an id of 1e400 (Infinity) is refused unrun with Invalid Request; other ids are echoed as sent', async () => {
    let ran = 0;
    server.addMethod('count', () => ++ran);
    const peer = await rawPeer(socketPath);
    peer.socket.write('{"jsonrpc":"2.0","id":1e400,"method":"count"}\n');
    expect(await peer.nth(1)).toMatchObject({ id: null, error: { code: -32600, data: { code: 'ISCSI_BAD_ARGUMENT' } } });
    expect(ran).toBe(0);
    peer.socket.write('{"jsonrpc":"2.0","id":{"a":1},"method":"count"}\n');
    expect(await peer.nth(2)).toMatchObject({ id: null, error: { code: -32600 } });
    peer.socket.write('{"jsonrpc":"2.0","id":1e300,"method":"count"}\n{"jsonrpc":"2.0","id":"x","method":"count"}\n');
    const echoed = [await peer.nth(3), await peer.nth(4)].map((a) => (a as { id: unknown }).id);
    expect(echoed.sort()).toEqual([1e300, 'x'].sort());
    expect(ran).toBe(2);
    peer.socket.destroy();
  });

  it('nothing a peer sends throws outside a handler: odd batch elements, throwing handlers, notifications that fail', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      server.addMethod('throwsString', () => {
        throw 'not an Error'; // what a buggy handler may do
      });
      server.addMethod('rejects', () => Promise.reject(new Error('late')));
      const peer = await rawPeer(socketPath);
      peer.socket.write('[null,1,[],[{"jsonrpc":"2.0","id":1,"method":"version"}],{"jsonrpc":"2.0","id":2,"method":"throwsString"}]\n');
      const batch = (await peer.nth(1)) as Array<{ id: unknown; error: { code: number } }>;
      expect(batch.map((r) => r.error.code).sort()).toEqual([-32603, -32600, -32600, -32600, -32600].sort());
      peer.socket.write('null\n{"jsonrpc":"2.0","method":"rejects"}\n{"jsonrpc":"2.0","id":3,"method":"rejects"}\n');
      expect(await peer.nth(2)).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await peer.nth(3)).toMatchObject({ id: 3, error: { code: -32603 } });
      peer.socket.destroy();
      expect(await (await client()).call('version')).toMatchObject({ protocol: 1 });
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
