// The fault-injection proxy, observed from both ends: a client standing in for the initiator and small loopback
// servers standing in for the target (plus one smoke test through a real tgtd with libiscsi's iscsi-inq).
// RFC 7143 §7.1.1 names the two failures recovery is built for: "an iSCSI PDU may fail the digest check and be
// dropped" (flipByte) and "a TCP connection may fail at any time during the data transfer" (cut, blackhole, refuse).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ArgumentError, TransportError } from '@iscsi-initiator/core';
import { FaultProxy, randomCutSchedule, type ProxyClock } from '../src/fault-proxy.js';
import { freePort } from '../src/tgtd.js';

const WAIT_MS = 5_000;

/** Rejects after `ms`: every wait in these tests is bounded. */
function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** One end of a TCP connection, recording what it received and how it ended. */
class Peer {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #waiters: Array<() => void> = [];
  #closed = false;
  /** 'end' (an orderly FIN), an error code ('ECONNRESET'), or 'closed' (closed by us without either). */
  readonly outcome: Promise<string>;

  constructor(readonly socket: net.Socket) {
    let error: string | undefined;
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#wake();
    });
    socket.on('end', () => (ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    this.outcome = new Promise((resolve) =>
      socket.once('close', () => {
        this.#closed = true;
        this.#wake();
        resolve(error ?? (ended ? 'end' : 'closed'));
      }),
    );
  }

  get data(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Resolves with everything received once at least `n` bytes have arrived (rejects if it closes first). */
  received(n: number, ms = WAIT_MS): Promise<Buffer> {
    const check = (resolve: (b: Buffer) => void, reject: (e: Error) => void): boolean => {
      if (this.#length >= n) resolve(this.data);
      else if (this.#closed) reject(new Error(`closed after ${this.#length} of ${n} bytes`));
      else return false;
      return true;
    };
    return within(
      new Promise<Buffer>((resolve, reject) => {
        if (check(resolve, reject)) return;
        const waiter = (): void => {
          if (check(resolve, reject)) this.#waiters = this.#waiters.filter((w) => w !== waiter);
        };
        this.#waiters.push(waiter);
      }),
      `${n} bytes`,
      ms,
    );
  }

  ended(ms = WAIT_MS): Promise<string> {
    return within(this.outcome, 'the connection to close', ms);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** A loopback server standing in for the target; `onPeer` decides what it does with each connection. */
class TestServer {
  readonly peers: Peer[] = [];
  #next: Array<(p: Peer) => void> = [];

  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(onPeer: (peer: Peer) => void = () => {}, options: net.ServerOpts = {}): Promise<TestServer> {
    const server = net.createServer(options);
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const address = server.address();
    const ts = new TestServer(server, typeof address === 'object' && address !== null ? address.port : 0);
    server.on('connection', (socket) => {
      const peer = new Peer(socket);
      ts.peers.push(peer);
      onPeer(peer);
      for (const resolve of ts.#next.splice(0)) resolve(peer);
    });
    return ts;
  }

  /** The `index`th connection (0-based), waiting for it if it has not arrived yet. */
  peer(index: number): Promise<Peer> {
    return within(
      new Promise<Peer>((resolve) => {
        const have = (): boolean => {
          const p = this.peers[index];
          if (p) resolve(p);
          return p !== undefined;
        };
        if (have()) return;
        const waiter = (): void => {
          if (!have()) this.#next.push(waiter);
        };
        this.#next.push(waiter);
      }),
      `connection #${index + 1} at the server`,
    );
  }

  connections(): Promise<number> {
    return new Promise((resolve, reject) => this.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const echo = (peer: Peer): void => void peer.socket.pipe(peer.socket);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await within(Promise.resolve(c()), 'clean-up', 10_000);
});

async function server(onPeer?: (peer: Peer) => void, options?: net.ServerOpts): Promise<TestServer> {
  const s = await TestServer.start(onPeer, options);
  cleanups.push(() => s.close());
  return s;
}

async function proxyTo(target: TestServer | { port: number }, clock?: ProxyClock): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: target.port }, ...(clock ? { clock } : {}) });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function connect(proxy: FaultProxy): Promise<Peer> {
  const socket = net.connect({ host: proxy.host, port: proxy.port });
  const peer = new Peer(socket);
  cleanups.push(() => void socket.destroy());
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    'the connection to the proxy',
  );
  return peer;
}

/** Writes `data` in `pieces` separate writes (so the proxy sees it in several chunks). */
function writeInPieces(socket: net.Socket, data: Buffer, pieces: number): void {
  const size = Math.ceil(data.length / pieces);
  for (let i = 0; i < data.length; i += size) socket.write(data.subarray(i, i + size));
}

function diffs(a: Buffer, b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

/** Polls proxy state (it has no events) until it holds, bounded. */
async function eventually(what: string, check: () => boolean, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A clock the test moves by hand (FaultProxyOptions.clock): the proxy's schedule advances only in advance(). */
class ManualClock implements ProxyClock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, running every timer that comes due, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
    }
    this.#now = end;
  }
}

describe('FaultProxy: forwarding', () => {
  it('passes bytes unchanged both ways (RFC 7143 §7.1.1: faults are injected on an otherwise transparent path)', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    expect(proxy.portal).toBe(`127.0.0.1:${proxy.port}`);
    const client = await connect(proxy);
    const payload = randomBytes(1024 * 1024);
    writeInPieces(client.socket, payload, 64);
    expect((await client.received(payload.length)).equals(payload)).toBe(true);
    expect((await target.peer(0)).data.equals(payload)).toBe(true);
    expect(proxy.stats).toEqual({ accepted: 1, cuts: 0, flips: 0, bytesToTarget: payload.length, bytesToInitiator: payload.length, live: 1, dropped: 0 });

    client.socket.end();
    expect(await client.ended()).toBe('end');
    expect(await (await target.peer(0)).ended()).toBe('end');
    await eventually('the pair to be gone', () => proxy.stats.live === 0);
  });

  it('forwards a half-close in order: data sent after the initiator FIN still arrives (RFC 9293 §3.6 half-close)', async () => {
    // A target that answers the initiator's FIN with a last message and then its own FIN.
    const target = await server(
      (peer) => peer.socket.on('end', () => peer.socket.end(`bye after ${peer.data.toString()}`)),
      { allowHalfOpen: true },
    );
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    client.socket.end('hello');
    expect(await client.ended()).toBe('end');
    expect(client.data.toString()).toBe('bye after hello');
  });

  it('respects backpressure: a target that does not read stalls the initiator, the proxy does not buffer it all', async () => {
    const target = await server(() => {}, { pauseOnConnect: true });
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    const payload = randomBytes(32 * 1024 * 1024);
    writeInPieces(client.socket, payload, 512);
    const sink = await target.peer(0);
    // The target's socket fills; the proxy pauses the initiator instead of reading on.
    await eventually('the proxy to pause the initiator', () => proxy.holding.pausedSources === 1, 15_000);
    // Kernel buffers on loopback hold a few MiB; without pause/resume the proxy would have taken all 32 MiB.
    expect(proxy.stats.bytesToTarget).toBeLessThan(16 * 1024 * 1024);
    expect(client.socket.writableLength).toBeGreaterThan(0);
    sink.socket.resume();
    expect((await sink.received(payload.length, 15_000)).equals(payload)).toBe(true);
    expect(proxy.stats.bytesToTarget).toBe(payload.length);
  });

  it('bounds the delay queue too: a long delay stalls the initiator instead of queueing everything', async () => {
    const clock = new ManualClock();
    const target = await server();
    const proxy = await proxyTo(target, clock);
    const client = await connect(proxy);
    proxy.delay(2_000);
    const payload = randomBytes(32 * 1024 * 1024);
    writeInPieces(client.socket, payload, 512);
    // Past the high-water mark (1 MiB) the proxy pauses the initiator; the clock stands still, so nothing leaves.
    await eventually('the delay queue to pause the initiator', () => proxy.holding.pausedSources === 1, 15_000);
    expect(proxy.holding.delayedBytes).toBeLessThan(2 * 1024 * 1024);
    expect(proxy.stats.bytesToTarget).toBe(0);
    // Without the queue's high-water mark the proxy would have read all 32 MiB within the delay.
    expect(client.socket.writableLength).toBeGreaterThan(16 * 1024 * 1024);
    proxy.delay(0);
    clock.advance(2_000);
    expect((await (await target.peer(0)).received(payload.length, 15_000)).equals(payload)).toBe(true);
  });

  it('listens on ::1 with a bracketed portal (IPv6 loopback)', async (ctx) => {
    if (!(await freePort('::1').then(() => true, () => false))) ctx.skip();
    const target = await server(echo);
    const proxy = await FaultProxy.start({ host: '::1', target: { host: '127.0.0.1', port: target.port } });
    cleanups.push(() => proxy.close());
    expect(proxy.portal).toBe(`[::1]:${proxy.port}`);
    const client = await connect(proxy);
    client.socket.write('v6');
    expect((await client.received(2)).toString()).toBe('v6');
  });
});

describe('FaultProxy: cut (RFC 7143 §7.1.1: "a TCP connection may fail at any time during the data transfer")', () => {
  it("'rst' after N bytes to the target: the target gets exactly N bytes, then both ends a reset", async () => {
    const target = await server();
    const proxy = await proxyTo(target);
    // Armed before the connection exists: counting covers pairs accepted later.
    const cut = proxy.cut({ mode: 'rst', afterBytes: 1234, direction: 'to-target' });
    const client = await connect(proxy);
    const payload = randomBytes(10_000);
    writeInPieces(client.socket, payload, 3);
    await within(cut, 'the cut');
    const sink = await target.peer(0);
    expect(await sink.ended()).toBe('ECONNRESET');
    expect(sink.data.equals(payload.subarray(0, 1234))).toBe(true);
    expect(await client.ended()).toBe('ECONNRESET');
    expect(proxy.stats).toMatchObject({ cuts: 1, bytesToTarget: 1234, live: 0 });
  });

  it("'rst' deep into a fast stream still delivers exactly N bytes first (the reset waits for the written bytes)", async () => {
    const target = await server();
    const proxy = await proxyTo(target);
    const N = 5_000_003;
    const cut = proxy.cut({ mode: 'rst', afterBytes: N, direction: 'to-target' });
    const client = await connect(proxy);
    const payload = randomBytes(8 * 1024 * 1024);
    writeInPieces(client.socket, payload, 128);
    await within(cut, 'the cut', 15_000);
    const sink = await target.peer(0);
    expect(await sink.ended()).toBe('ECONNRESET');
    expect(sink.data.length).toBe(N);
    expect(sink.data.equals(payload.subarray(0, N))).toBe(true);
  });

  it("'fin' after N bytes to the initiator: the initiator gets exactly N bytes, then an orderly end", async () => {
    const payload = randomBytes(64 * 1024);
    const target = await server((peer) => peer.socket.write(payload));
    const proxy = await proxyTo(target);
    const cut = proxy.cut({ mode: 'fin', afterBytes: 40_000, direction: 'to-initiator' });
    const client = await connect(proxy);
    await within(cut, 'the cut');
    expect(await client.ended()).toBe('end');
    expect(client.data.equals(payload.subarray(0, 40_000))).toBe(true);
    expect(await (await target.peer(0)).ended()).toBe('end');
    expect(proxy.stats).toMatchObject({ cuts: 1, bytesToInitiator: 40_000, live: 0 });
  });

  it('without a direction counts bytes both ways: 60 out and 40 of the 60 echoed make 100', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    const cut = proxy.cut({ mode: 'fin', afterBytes: 100 });
    const payload = randomBytes(60);
    client.socket.write(payload);
    await within(cut, 'the cut');
    expect(await client.ended()).toBe('end');
    expect(client.data.equals(payload.subarray(0, 40))).toBe(true);
    expect((await target.peer(0)).data.equals(payload)).toBe(true);
    expect(proxy.stats).toMatchObject({ bytesToTarget: 60, bytesToInitiator: 40 });
  });

  it('now: resets every live pair and resolves when they are closed; with none live it resolves at once', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    await within(proxy.cut(), 'a cut with nothing live');
    expect(proxy.stats.cuts).toBe(0);

    const a = await connect(proxy);
    const b = await connect(proxy);
    await target.peer(1);
    expect(proxy.stats.live).toBe(2);
    await within(proxy.cut(), 'the cut');
    expect(proxy.stats).toMatchObject({ cuts: 2, live: 0 });
    expect(await a.ended()).toBe('ECONNRESET');
    expect(await b.ended()).toBe('ECONNRESET');
    expect(await (await target.peer(0)).ended()).toBe('ECONNRESET');
    expect(await (await target.peer(1)).ended()).toBe('ECONNRESET');

    // The proxy still accepts and forwards afterwards (the initiator's reconnect).
    const c = await connect(proxy);
    c.socket.write('again');
    expect((await c.received(5)).toString()).toBe('again');
  });

  it('rejects bad options with ArgumentError ISCSI_BAD_ARGUMENT', async () => {
    const proxy = await proxyTo({ port: 9 });
    for (const bad of [{ afterBytes: -1 }, { afterBytes: 1.5 }, { mode: 'kill' }, { direction: 'up' }]) {
      await expect(proxy.cut(bad as never)).rejects.toMatchObject({ name: 'ArgumentError', code: 'ISCSI_BAD_ARGUMENT' });
    }
  });
});

describe('FaultProxy: cutRandomly', () => {
  it('the schedule is a pure function of the seed: same seed, same moments; another seed, others', () => {
    const a = randomCutSchedule({ count: 20, withinMs: 10_000, seed: 42 });
    expect(randomCutSchedule({ count: 20, withinMs: 10_000, seed: 42 })).toEqual(a);
    expect(randomCutSchedule({ count: 20, withinMs: 10_000, seed: 43 })).not.toEqual(a);
    expect(a).toHaveLength(20);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(a.every((t) => Number.isInteger(t) && t >= 0 && t < 10_000)).toBe(true);
    // No seed: a fixed default, so a run without one is reproducible too.
    expect(randomCutSchedule({ count: 5, withinMs: 1000 })).toEqual(randomCutSchedule({ count: 5, withinMs: 1000 }));
    expect(() => randomCutSchedule({ count: -1, withinMs: 10 })).toThrow(ArgumentError);
    expect(() => randomCutSchedule({ count: 1, withinMs: 10, seed: 0.5 })).toThrow(ArgumentError);
  });

  it('cuts `count` times, never before the scheduled moments (RFC 7143 §7.1.1: failures at any time)', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    const options = { count: 3, withinMs: 300, seed: 7 };
    const schedule = randomCutSchedule(options);
    // An initiator that reconnects after every cut, recording when each connection ended.
    const ends: number[] = [];
    let stop = false;
    const keepConnected = async (): Promise<void> => {
      while (!stop && ends.length < options.count) {
        // Not `connect()`: under load the reset can beat the client's own connect event, and that is a cut too.
        const socket = net.connect({ host: proxy.host, port: proxy.port });
        cleanups.push(() => void socket.destroy());
        await new Peer(socket).ended(2_000);
        ends.push(performance.now() - start);
      }
    };
    const start = performance.now();
    const cutting = proxy.cutRandomly(options);
    const looping = keepConnected();
    await within(cutting, 'the random cuts');
    stop = true;
    await within(looping, 'the reconnect loop');
    expect(proxy.stats.cuts).toBe(3);
    expect(ends).toHaveLength(3);
    for (const [i, at] of schedule.entries()) expect(ends[i]).toBeGreaterThanOrEqual(at);
  });

  it('a moment with no live connection waits for the next one', async () => {
    const clock = new ManualClock();
    const target = await server(echo);
    const proxy = await proxyTo(target, clock);
    const cutting = proxy.cutRandomly({ count: 1, withinMs: 1000, seed: 7, mode: 'fin' });
    // The scheduled moment passes on the manual clock while nothing is connected: its timer fires, no cut happens.
    const [at] = randomCutSchedule({ count: 1, withinMs: 1000, seed: 7 });
    expect(proxy.holding.timers).toBe(1);
    clock.advance(at!);
    expect(proxy.holding.timers).toBe(0);
    expect(proxy.stats.cuts).toBe(0);
    const client = await connect(proxy);
    await within(cutting, 'the cut');
    expect(await client.ended()).toBe('end');
    expect(proxy.stats.cuts).toBe(1);
  });
});

describe('FaultProxy: blackhole (a dead link, RFC 7143 §11.18: what NOP-Out pings detect)', () => {
  it('drops bytes both ways without closing anything; holds FINs; resuming continues', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    client.socket.write('a');
    expect((await client.received(1)).toString()).toBe('a');
    const echoPeer = await target.peer(0);

    proxy.blackhole(true);
    client.socket.write('lost');
    // A connection made during the blackhole hangs too; its FIN is held like everything else.
    const late = await connect(proxy);
    late.socket.end('x');
    const latePeer = await target.peer(1);
    // The proxy read 'lost' and 'x' and dropped them, and holds the late FIN: none of it can cross later.
    await eventually('the proxy to drop both writes and hold the FIN', () => proxy.stats.dropped === 5 && proxy.holding.heldEvents === 1);
    expect(echoPeer.data.toString()).toBe('a');
    expect(client.data.toString()).toBe('a');
    expect(latePeer.data.length).toBe(0);
    expect(proxy.stats).toMatchObject({ bytesToTarget: 1, bytesToInitiator: 1, live: 2, dropped: 5 });
    expect(client.socket.destroyed || echoPeer.socket.destroyed || latePeer.socket.destroyed).toBe(false);

    proxy.blackhole(false);
    client.socket.write('after');
    expect((await client.received(6)).toString()).toBe('aafter');
    expect(echoPeer.data.toString()).toBe('aafter');
    // The held FIN crosses once the link is back; the data before it was lost.
    expect(await latePeer.ended()).toBe('end');
    expect(latePeer.data.length).toBe(0);
  });
});

describe('FaultProxy: delay', () => {
  it('adds the delay to every chunk, each way; keeps order when the delay changes; 0 removes it', async () => {
    const clock = new ManualClock();
    const target = await server(echo);
    const proxy = await proxyTo(target, clock);
    const client = await connect(proxy);
    proxy.delay(100);
    client.socket.write('ping');
    await eventually('ping in the delay queue', () => proxy.holding.delayedBytes === 4);
    clock.advance(99);
    expect(proxy.stats.bytesToTarget).toBe(0); // not a millisecond early
    clock.advance(1);
    expect(proxy.stats.bytesToTarget).toBe(4);
    // The echo is delayed on its way back too.
    await eventually('the echo in the delay queue', () => proxy.holding.delayedBytes === 4);
    clock.advance(99);
    expect(proxy.stats.bytesToInitiator).toBe(0);
    clock.advance(1);
    expect((await client.received(4)).toString()).toBe('ping');

    proxy.delay(150);
    client.socket.write('first.');
    await eventually('first. in the delay queue', () => proxy.holding.delayedBytes === 6);
    proxy.delay(0);
    client.socket.write('second');
    // Delay 0 now, but it waits behind first.: order is kept when the delay shrinks.
    await eventually('second queued behind first.', () => proxy.holding.delayedBytes === 12);
    expect(proxy.stats.bytesToTarget).toBe(4);
    clock.advance(150);
    expect((await client.received(16)).toString()).toBe('pingfirst.second');

    // Delay 0 and an empty queue: forwarded with the clock standing still, no timer set.
    client.socket.write('pong');
    expect((await client.received(20)).toString()).toBe('pingfirst.secondpong');
    expect(proxy.holding.timers).toBe(0);
  });

  it('rejects a negative or fractional delay with ArgumentError', async () => {
    const proxy = await proxyTo({ port: 9 });
    expect(() => proxy.delay(-1)).toThrow(ArgumentError);
    expect(() => proxy.delay(0.5)).toThrow(ArgumentError);
  });
});

describe('FaultProxy: flipByte (RFC 7143 §7.1.1: "an iSCSI PDU may fail the digest check")', () => {
  it('XORs exactly the byte afterBytes from now, in one direction only, once', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    const payload = randomBytes(4096);
    proxy.flipByte({ direction: 'to-target', afterBytes: 1000, mask: 0x80 });
    writeInPieces(client.socket, payload, 7);
    const echoed = await client.received(payload.length);
    expect(diffs(echoed, payload)).toEqual([1000]);
    expect((echoed[1000] ?? 0) ^ (payload[1000] ?? 0)).toBe(0x80);
    expect(proxy.stats.flips).toBe(1);

    // One-shot: the next 4096 bytes pass unchanged.
    writeInPieces(client.socket, payload, 7);
    expect((await client.received(2 * payload.length)).subarray(payload.length).equals(payload)).toBe(true);

    // The other direction, default mask 0x01, the very next byte: the target sees the original.
    proxy.flipByte({ direction: 'to-initiator', afterBytes: 0 });
    client.socket.write(payload);
    const back = (await client.received(3 * payload.length)).subarray(2 * payload.length);
    expect(diffs(back, payload)).toEqual([0]);
    expect((back[0] ?? 0) ^ (payload[0] ?? 0)).toBe(0x01);
    expect((await target.peer(0)).data.subarray(2 * payload.length).equals(payload)).toBe(true);
    expect(proxy.stats.flips).toBe(2);
  });

  it('property: whatever the chunking, offset, mask and direction, exactly that one byte changes', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    const client = await connect(proxy);
    let total = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 1, max: 8 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('to-target' as const, 'to-initiator' as const),
        async (bytes, pieces, at, mask, direction) => {
          const payload = Buffer.from(bytes);
          const afterBytes = at % payload.length;
          proxy.flipByte({ direction, afterBytes, mask });
          writeInPieces(client.socket, payload, pieces);
          total += payload.length;
          const echoed = (await client.received(total)).subarray(total - payload.length);
          expect(diffs(echoed, payload)).toEqual([afterBytes]);
          expect((echoed[afterBytes] ?? 0) ^ (payload[afterBytes] ?? 0)).toBe(mask);
        },
      ),
      { numRuns: 150 },
    );
    expect(proxy.stats.flips).toBe(150);
  });

  it('rejects a mask outside 1..255 or a bad offset with ArgumentError', async () => {
    const proxy = await proxyTo({ port: 9 });
    expect(() => proxy.flipByte({ direction: 'to-target', afterBytes: 0, mask: 0 })).toThrow(ArgumentError);
    expect(() => proxy.flipByte({ direction: 'to-target', afterBytes: 0, mask: 256 })).toThrow(ArgumentError);
    expect(() => proxy.flipByte({ direction: 'to-target', afterBytes: -3 })).toThrow(ArgumentError);
    expect(() => proxy.flipByte({ direction: 'sideways' as never, afterBytes: 0 })).toThrow(ArgumentError);
  });
});

describe('FaultProxy: refuse and retarget (RFC 7143 §7.1.1: the initiator must reconnect to a target that went away)', () => {
  it('refuse resets new connections without reaching the target; refuse(false) accepts again', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target);
    proxy.refuse(true);
    const socket = net.connect({ host: proxy.host, port: proxy.port });
    const refused = new Peer(socket);
    cleanups.push(() => void socket.destroy());
    expect(await refused.ended()).toBe('ECONNRESET');
    expect(target.peers).toHaveLength(0);
    expect(proxy.stats).toMatchObject({ accepted: 1, live: 0 });

    proxy.refuse(false);
    const client = await connect(proxy);
    client.socket.write('up');
    expect((await client.received(2)).toString()).toBe('up');
    expect(proxy.stats.accepted).toBe(2);
  });

  it('retarget sends new connections to the new target; existing pairs keep theirs', async () => {
    const tagged = (tag: string) => (peer: Peer) => {
      peer.socket.write(tag);
      echo(peer);
    };
    const a = await server(tagged('A'));
    const b = await server(tagged('B'));
    const proxy = await proxyTo(a);
    const first = await connect(proxy);
    expect((await first.received(1)).toString()).toBe('A');
    proxy.retarget({ host: '127.0.0.1', port: b.port });
    const second = await connect(proxy);
    expect((await second.received(1)).toString()).toBe('B');
    first.socket.write('1');
    expect((await first.received(2)).toString()).toBe('A1');
    expect(a.peers).toHaveLength(1);
    expect(b.peers).toHaveLength(1);
  });

  it('a target that refuses the connection makes the proxy reset the initiator', async () => {
    const proxy = await proxyTo({ port: await freePort() });
    const socket = net.connect({ host: proxy.host, port: proxy.port });
    const client = new Peer(socket);
    cleanups.push(() => void socket.destroy());
    expect(await client.ended()).toBe('ECONNRESET');
    await eventually('the pair to be gone', () => proxy.stats.live === 0);
  });

  it('accepts only loopback addresses (ArgumentError ISCSI_BAD_ARGUMENT)', async () => {
    const bad = { name: 'ArgumentError', code: 'ISCSI_BAD_ARGUMENT' };
    await expect(FaultProxy.start({ host: '0.0.0.0', target: { host: '127.0.0.1', port: 9 } })).rejects.toMatchObject(bad);
    await expect(FaultProxy.start({ target: { host: '192.0.2.1', port: 3260 } })).rejects.toMatchObject(bad);
    await expect(FaultProxy.start({ target: { host: 'localhost', port: 3260 } })).rejects.toMatchObject(bad);
    await expect(FaultProxy.start({ target: { host: '127.0.0.1', port: 0 } })).rejects.toMatchObject(bad);
    await expect(FaultProxy.start({ target: { host: '127.0.0.1', port: 65536 } })).rejects.toMatchObject(bad);
    const proxy = await proxyTo({ port: 9 });
    expect(() => proxy.retarget({ host: '10.0.0.1', port: 3260 })).toThrow(ArgumentError);
  });
});

describe('FaultProxy: close', () => {
  it('destroys every socket and the listener, clears every timer, and rejects what was pending', async () => {
    const target = await server(echo);
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: target.port } });
    const a = await connect(proxy);
    const b = await connect(proxy);
    await target.peer(1);
    // Things in flight: delayed bytes, an armed cut, a random cut waiting for its moment.
    proxy.delay(60_000);
    a.socket.write('stuck in the delay queue');
    const armed = proxy.cut({ afterBytes: 1_000_000 });
    // Seed 2: the first moment is ~19.5 min away, so nothing fires before close().
    const random = proxy.cutRandomly({ count: 2, withinMs: 3_600_000, seed: 2 });
    // Both timers exist (the delay queue's and the random cut's) before close() is asked to clear them. The proxy's
    // own count: the process's Timeout handles include every other timer in it (vitest's among them).
    await eventually('the proxy to hold the delayed chunk', () => proxy.holding.timers === 2 && proxy.holding.delayedBytes > 0);
    expect(proxy.holding).toMatchObject({ sockets: 4, listening: true });

    const closing = proxy.close();
    expect(proxy.close()).toBe(closing);
    await within(closing, 'close()');
    await expect(armed).rejects.toBeInstanceOf(TransportError);
    await expect(random).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_CLOSED' });
    await expect(proxy.cut()).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_CLOSED' });
    expect(proxy.stats.live).toBe(0);

    // Both ends see the close, the target keeps no connection, and the port no longer accepts.
    await a.ended();
    await b.ended();
    await (await target.peer(0)).ended();
    await (await target.peer(1)).ended();
    expect(await target.connections()).toBe(0);
    const late = new Peer(net.connect({ host: proxy.host, port: proxy.port }));
    expect(await late.ended()).toBe('ECONNREFUSED');
    // No socket, listener or timer of the proxy is left behind, by its own count.
    expect(proxy.holding).toEqual({ timers: 0, sockets: 0, listening: false, delayedBytes: 0, pausedSources: 0, heldEvents: 0 });
  });
});
