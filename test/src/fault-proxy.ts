/**
 * A fault-injection TCP proxy on loopback, between an initiator and a target, for recovery tests: the two things
 * RFC 7143 §7.1.1 designs recovery around — a TCP connection that fails at any moment, and a PDU that fails its digest
 * check — plus a dead link (§11.18: NOP-Out pings detect it), latency, a target that is down, and one that moved.
 *
 * ```ts
 * await using proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
 * const cut = proxy.cut({ mode: 'rst', afterBytes: 48, direction: 'to-target' }); // mid-login
 * // … point the initiator at proxy.portal …
 * await cut;
 * ```
 *
 * Each accepted initiator connection gets its own connection to the target (a pair); bytes are forwarded with pipe
 * semantics (a destination that does not drain pauses its source, and the delay queue pauses its source past
 * QUEUE_HIGH_WATER), so a slow side never makes the proxy buffer without bound. Half-closes (FIN) are forwarded in
 * order after the data; a reset or error on one side resets the other.
 *
 * Byte counts are proxy-wide: `afterBytes` for `cut` and `flipByte` counts bytes forwarded from the moment of the
 * call, over every pair (including pairs accepted later), in the given direction. A cut that comes due cuts every live
 * pair; the pair that carried the last counted byte is cut right after it, so its receiver gets exactly `afterBytes`
 * (for 'rst': provided the receiver keeps reading, since a reset discards what still sits in a send buffer).
 *
 * While blackholed nothing crosses, not even a FIN or a reset from one end: those are held and delivered when the
 * blackhole lifts, as TCP would deliver them once a dead link came back. Data arriving while blackholed is dropped.
 *
 * Bounded: every timer is tracked and cleared by `close()`, which also destroys every socket, stops the listener, and
 * rejects pending `cut`/`cutRandomly` promises with a TransportError (ISCSI_CONNECTION_CLOSED).
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { ArgumentError, TransportError } from '@iscsi-initiator/core';

export type Direction = 'to-target' | 'to-initiator';

export interface FaultProxyOptions {
  target: { host: string; port: number };
  /** The loopback address to listen on (127.0.0.0/8 or ::1); default 127.0.0.1. */
  host?: string;
  /**
   * The clock of the fault schedule: the delay queue and cutRandomly's moments. Default the real one; a test passes a
   * manual clock to move time itself instead of waiting for it. Bounds on real I/O (flushing before a reset, the FIN
   * linger) always use real time.
   */
  clock?: ProxyClock;
}

/** A clock with timers: `now` in ms (any origin), `setTimeout`'s handle opaque to the proxy. */
export interface ProxyClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: ProxyClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FaultProxyStats {
  /** Connections accepted by the listener, refused ones included. */
  accepted: number;
  /** Pairs ended by `cut`/`cutRandomly`. */
  cuts: number;
  /** Bytes changed by `flipByte`. */
  flips: number;
  /** Bytes forwarded (not dropped) toward the target / the initiator. */
  bytesToTarget: number;
  bytesToInitiator: number;
  /** Pairs whose sockets are not both closed yet. */
  live: number;
  /** Bytes dropped by `blackhole` (read from one end, never forwarded). */
  dropped: number;
}

/** What the proxy holds at this moment: the state a test waits on, since the proxy emits no events. */
export interface FaultProxyHolding {
  /** Its own pending timers (delay queue, cut schedule, linger and flush bounds); 0 once closed. */
  timers: number;
  /** Its own open sockets (both ends of every pair). */
  sockets: number;
  /** Whether the listener still accepts connections. */
  listening: boolean;
  /** Bytes waiting in the delay queues. */
  delayedBytes: number;
  /** Connection ends the proxy has paused (their reader is full, or the delay queue is over its high-water mark). */
  pausedSources: number;
  /** FINs and resets held back by a blackhole. */
  heldEvents: number;
}

type CutMode = 'rst' | 'fin';

// Past this many delayed bytes in one direction the source is paused; it resumes below the low mark.
const QUEUE_HIGH_WATER = 1024 * 1024;
const QUEUE_LOW_WATER = 256 * 1024;
// Bound on waiting for the bytes before an 'rst' cut to leave our socket (a reset discards a send buffer).
const FLUSH_BEFORE_RESET_MS = 1000;
// Bound on waiting for the peers' FIN after a 'fin' cut before the sockets are destroyed anyway.
const FIN_LINGER_MS = 1000;
// setTimeout's limit.
const MAX_TIMER_MS = 2_147_483_647;
const DEFAULT_SEED = 0x15c5_1d1e;

const closedError = (): TransportError => new TransportError('ISCSI_CONNECTION_CLOSED', 'the fault proxy is closed');

/**
 * Marks `p` as handled and returns it: a cut left pending when the test ends is rejected by close(), and that must
 * not surface as an unhandled rejection in a test that never awaited it. Awaiting `p` still sees the rejection.
 */
function handled(p: Promise<void>): Promise<void> {
  p.catch(() => {});
  return p;
}

function isLoopback(host: string): boolean {
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

function checkEndpoint(what: string, host: unknown, port?: unknown): void {
  if (typeof host !== 'string' || !isLoopback(host)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} host ${String(host)} is not a loopback address (127.0.0.0/8 or ::1)`);
  }
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} port ${String(port)} is not a whole number from 1 to 65535`);
  }
}

function checkCount(what: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} ${String(value)} is not a whole number from 0 to ${max}`);
  }
  return value;
}

function checkDirection(value: unknown, optional: boolean): Direction | undefined {
  if (value === undefined && optional) return undefined;
  if (value !== 'to-target' && value !== 'to-initiator') {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `direction ${String(value)} is neither 'to-target' nor 'to-initiator'`);
  }
  return value;
}

function checkMode(value: unknown): CutMode {
  if (value === undefined) return 'rst';
  if (value !== 'rst' && value !== 'fin') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `cut mode ${String(value)} is neither 'rst' nor 'fin'`);
  return value;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1); the same seed gives the same sequence on every platform. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The moments (ms after the call, ascending, whole ms in [0, withinMs)) at which `cutRandomly` with the same options
 * cuts; the same seed always gives the same schedule. Default seed: a fixed constant, so runs are reproducible.
 */
export function randomCutSchedule(options: { count: number; withinMs: number; seed?: number }): number[] {
  const count = checkCount('count', options.count, 1_000_000);
  const withinMs = checkCount('withinMs', options.withinMs, MAX_TIMER_MS);
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `seed ${String(seed)} is not a whole number`);
  const random = prng(seed);
  return Array.from({ length: count }, () => Math.floor(random() * withinMs)).sort((x, y) => x - y);
}

interface ArmedCut {
  /** Bytes still to be forwarded (in `direction`, or either when undefined) before the cut. */
  remaining: number;
  readonly direction: Direction | undefined;
  readonly mode: CutMode;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

interface PendingFlip {
  remaining: number;
  readonly direction: Direction;
  readonly mask: number;
}

/** What a pump needs from the proxy: the faults in force and the tracked timers. */
interface PumpHost {
  blackholed(): boolean;
  delayMs(): number;
  forward(pair: Pair, direction: Direction, chunk: Buffer): void;
  /** A blackhole dropped `n` bytes. */
  dropped(n: number): void;
  /** The schedule clock's time and timers (tracked: close() clears them). */
  now(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(timer: unknown): void;
}

/** One direction of a pair: src's bytes, through the delay queue, to dst (the proxy's `forward` writes them). */
class Pump {
  readonly #queue: Array<{ at: number; chunk: Buffer | undefined }> = []; // chunk undefined: src's FIN
  #queued = 0;
  #lastAt = 0;
  #timer: unknown;
  #waitingForDrain = false;
  #queueFull = false;

  constructor(
    readonly pair: Pair,
    readonly direction: Direction,
    readonly src: net.Socket,
    readonly dst: net.Socket,
    readonly host: PumpHost,
  ) {}

  /** Bytes in this pump's delay queue. */
  get queued(): number {
    return this.#queued;
  }

  /** True while src is paused by this pump (dst full, or the delay queue over its high-water mark). */
  get pausing(): boolean {
    return this.#waitingForDrain || this.#queueFull;
  }

  onData(chunk: Buffer): void {
    if (!this.pair.open) return; // cut: dropped
    if (this.host.blackholed()) {
      this.host.dropped(chunk.length); // a dead link
      return;
    }
    const delayMs = this.host.delayMs();
    if (delayMs === 0 && this.#queue.length === 0) {
      this.host.forward(this.pair, this.direction, chunk);
      return;
    }
    this.#enqueue(chunk, delayMs);
    this.#queued += chunk.length;
    if (this.#queued > QUEUE_HIGH_WATER && !this.#queueFull) {
      this.#queueFull = true;
      this.src.pause();
    }
  }

  /** src sent its FIN: pass it on after the data before it. */
  onEnd(): void {
    if (!this.pair.open) return;
    const delayMs = this.host.delayMs();
    if (delayMs === 0 && this.#queue.length === 0) this.dst.end();
    else this.#enqueue(undefined, delayMs);
  }

  /** Writes forwarded bytes to dst; a full dst pauses src until it drains (pipe semantics). */
  write(segment: Buffer, onFlushed?: () => void): void {
    const ok = this.dst.write(segment, onFlushed === undefined ? undefined : () => onFlushed());
    if (!ok && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.src.pause();
      this.dst.once('drain', () => {
        this.#waitingForDrain = false;
        this.#maybeResume();
      });
    }
  }

  /** The pair is being cut or closed: drop what is queued; keep reading src so its FIN or reset is seen. */
  stop(): void {
    this.host.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#waitingForDrain = false;
    this.#queueFull = false;
    if (!this.src.destroyed) this.src.resume();
  }

  #enqueue(chunk: Buffer | undefined, delayMs: number): void {
    // Never earlier than the chunk before it: order is preserved when the delay shrinks.
    this.#lastAt = Math.max(this.host.now() + delayMs, this.#lastAt);
    this.#queue.push({ at: this.#lastAt, chunk });
    this.#schedule();
  }

  #schedule(): void {
    const head = this.#queue[0];
    if (this.#timer !== undefined || head === undefined) return;
    const wait = Math.max(0, Math.ceil(head.at - this.host.now()));
    this.#timer = this.host.setTimer(wait, () => {
      this.#timer = undefined;
      this.#release();
    });
  }

  #release(): void {
    for (let head = this.#queue[0]; head !== undefined && head.at <= this.host.now(); head = this.#queue[0]) {
      this.#queue.shift();
      if (!this.pair.open) break;
      if (head.chunk === undefined) {
        // A FIN that comes due during a blackhole waits for the link like one that arrives then.
        if (this.host.blackholed()) this.pair.held.push(() => this.dst.end());
        else this.dst.end();
        continue;
      }
      this.#queued -= head.chunk.length;
      // Bytes that arrived before a blackhole and come due during it are lost with the link.
      if (!this.host.blackholed()) this.host.forward(this.pair, this.direction, head.chunk);
      else this.host.dropped(head.chunk.length);
    }
    if (this.#queueFull && this.#queued < QUEUE_LOW_WATER) {
      this.#queueFull = false;
      this.#maybeResume();
    }
    // A timer may fire a little before `at` (libuv's cached loop time): then it is simply set again.
    this.#schedule();
  }

  #maybeResume(): void {
    if (!this.#waitingForDrain && !this.#queueFull && !this.src.destroyed) this.src.resume();
  }
}

/** An accepted initiator connection and the proxy's connection to the target on its behalf. */
class Pair {
  readonly toTarget: Pump;
  readonly toInitiator: Pump;
  /** False once cut or torn down: nothing more is forwarded. */
  open = true;
  /** Events held while blackholed (a FIN or reset from one end), run in order when the blackhole lifts. */
  readonly held: Array<() => void> = [];
  /** Settles when both sockets have closed. */
  readonly closed: Promise<void>;

  constructor(
    readonly initiator: net.Socket,
    readonly target: net.Socket,
    host: PumpHost,
  ) {
    this.toTarget = new Pump(this, 'to-target', initiator, target, host);
    this.toInitiator = new Pump(this, 'to-initiator', target, initiator, host);
    const closedOnce = (s: net.Socket): Promise<void> =>
      new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
    this.closed = Promise.all([closedOnce(initiator), closedOnce(target)]).then(() => undefined);
  }

  pump(direction: Direction): Pump {
    return direction === 'to-target' ? this.toTarget : this.toInitiator;
  }

  /** Stops forwarding and drops what is queued. */
  stop(): void {
    this.open = false;
    this.held.length = 0;
    this.toTarget.stop();
    this.toInitiator.stop();
  }

  /** One end reset or failed: reset the other (a reset crosses the proxy like any segment). */
  resetBoth(): void {
    this.stop();
    for (const s of [this.initiator, this.target]) resetSocket(s);
  }
}

/** tx_queue of the connection localPort→remotePort in a /proc/net/tcp{,6} table (hex fields, proc(5)). */
function sendQueueBytes(table: string, localPort: number, remotePort: number): number | undefined {
  const port = (address: string): number => Number.parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
  for (const line of table.split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    if (local === undefined || remote === undefined || queues === undefined) continue;
    if (port(local) === localPort && port(remote) === remotePort) return Number.parseInt(queues.split(':')[0] ?? '', 16);
  }
  return undefined;
}

function resetSocket(s: net.Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    // No handle to reset (never connected): destroying is all that is left.
    s.destroy();
  }
}

export class FaultProxy {
  readonly host: string;
  readonly port: number;
  /** host:port, IPv6 in brackets: '127.0.0.1:41234' or '[::1]:41234'. */
  readonly portal: string;

  readonly #server: net.Server;
  #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  readonly #sockets = new Set<net.Socket>();
  /** Every pending timer with the clock it runs on (the schedule's, or the real one for I/O bounds). */
  readonly #timers = new Map<unknown, ProxyClock>();
  readonly #clock: ProxyClock;
  /** Rejecters of everything a caller may be awaiting: rejected by close(). */
  readonly #waiters = new Set<(e: Error) => void>();
  /** Resolvers waiting for the next live pair (cutRandomly). */
  readonly #liveWaiters = new Set<() => void>();
  #armedCuts: ArmedCut[] = [];
  #flips: PendingFlip[] = [];
  #blackholed = false;
  #delayMs = 0;
  #refusing = false;
  #closing: Promise<void> | undefined;
  /** The faults in force and the tracked timers, as the pumps see them. */
  readonly #host: PumpHost;
  readonly #stats = { accepted: 0, cuts: 0, flips: 0, bytesToTarget: 0, bytesToInitiator: 0, dropped: 0 };

  private constructor(server: net.Server, host: string, port: number, target: { host: string; port: number }, clock: ProxyClock) {
    this.#server = server;
    this.#clock = clock;
    this.host = host;
    this.port = port;
    this.portal = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    this.#target = target;
    this.#host = {
      blackholed: () => this.#blackholed,
      delayMs: () => this.#delayMs,
      forward: (pair, direction, chunk) => this.#forward(pair, direction, chunk),
      dropped: (n) => void (this.#stats.dropped += n),
      now: () => this.#clock.now(),
      setTimer: (ms, fn) => this.#setTimer(ms, fn),
      clearTimer: (timer) => this.#clearTimer(timer),
    };
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Listens on `host` (default 127.0.0.1), port chosen by the kernel, forwarding to `target`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const host = options.host ?? '127.0.0.1';
    checkEndpoint('proxy', host);
    checkEndpoint('target', options.target?.host, options.target?.port);
    const target = { host: options.target.host, port: options.target.port };
    // allowHalfOpen: a FIN from the initiator is forwarded, not answered by ours.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new TransportError('ISCSI_CONNECTION_FAILED', `fault proxy cannot listen on ${host}: ${err.message}`, { cause: err })),
      );
      server.listen({ host, port: 0, exclusive: true }, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    // After listening, an accept error (e.g. EMFILE) only loses that connection: nothing to report.
    server.on('error', () => {});
    return new FaultProxy(server, host, port, target, options.clock ?? REAL_CLOCK);
  }

  get stats(): FaultProxyStats {
    return { ...this.#stats, live: this.#pairs.size };
  }

  get holding(): FaultProxyHolding {
    const pumps = [...this.#pairs].flatMap((p) => [p.toTarget, p.toInitiator]);
    return {
      timers: this.#timers.size,
      sockets: this.#sockets.size,
      listening: this.#server.listening,
      delayedBytes: pumps.reduce((n, p) => n + p.queued, 0),
      pausedSources: pumps.filter((p) => p.pausing).length,
      heldEvents: [...this.#pairs].reduce((n, p) => n + p.held.length, 0),
    };
  }

  /**
   * Cuts every live pair now, or — with afterBytes — once that many more bytes have been forwarded in `direction`
   * (default: either). 'rst' resets both ends (socket.resetAndDestroy); 'fin' ends both in order. Resolves when the
   * cut sockets have closed (for 'fin', when the peers answered our FIN, at most FIN_LINGER_MS later). With no live
   * pair and no afterBytes there is nothing to cut and it resolves at once.
   */
  cut(options: { mode?: 'rst' | 'fin'; afterBytes?: number; direction?: Direction } = {}): Promise<void> {
    return handled(this.#cut(options));
  }

  async #cut(options: { mode?: 'rst' | 'fin'; afterBytes?: number; direction?: Direction }): Promise<void> {
    if (this.#closing !== undefined) throw closedError();
    const mode = checkMode(options.mode);
    const direction = checkDirection(options.direction, true);
    const afterBytes = checkCount('afterBytes', options.afterBytes ?? 0);
    if (afterBytes === 0) {
      await this.#cutAll(mode);
      return;
    }
    const armed = new Promise<void>((resolve, reject) => {
      const cut: ArmedCut = { remaining: afterBytes, direction, mode, resolve: () => settle(resolve), reject: (e) => settle(() => reject(e)) };
      const settle = (f: () => void): void => {
        this.#waiters.delete(cut.reject);
        f();
      };
      this.#armedCuts.push(cut);
      this.#waiters.add(cut.reject);
    });
    await armed;
  }

  /**
   * Cuts `count` times, at the moments `randomCutSchedule({ count, withinMs, seed })` gives (ms after this call); a
   * moment with no live pair waits for the next one. Resolves after the last cut.
   */
  cutRandomly(options: { count: number; withinMs: number; seed?: number; mode?: 'rst' | 'fin' }): Promise<void> {
    return handled(this.#cutRandomly(options));
  }

  async #cutRandomly(options: { count: number; withinMs: number; seed?: number; mode?: 'rst' | 'fin' }): Promise<void> {
    if (this.#closing !== undefined) throw closedError();
    const mode = checkMode(options.mode);
    const schedule = randomCutSchedule(options);
    const start = this.#clock.now();
    for (const at of schedule) {
      await this.#sleepUntil(start + at);
      await this.#whenLive();
      await this.#cutAll(mode);
    }
  }

  /** Stops forwarding both ways without closing anything (bytes are dropped); false resumes. */
  blackhole(on: boolean): void {
    this.#blackholed = on;
    if (on) return;
    for (const pair of this.#pairs) {
      for (const event of pair.held.splice(0)) event();
    }
  }

  /** Adds `ms` of latency to every chunk forwarded from now on (order preserved); 0 removes it. */
  delay(ms: number): void {
    this.#delayMs = checkCount('delay', ms, MAX_TIMER_MS);
  }

  /** XORs with `mask` (default 0x01) the byte `afterBytes` bytes from now in `direction` (0: the next byte). One-shot. */
  flipByte(options: { direction: Direction; afterBytes: number; mask?: number }): void {
    const direction = checkDirection(options.direction, false) as Direction;
    const remaining = checkCount('afterBytes', options.afterBytes);
    const mask = options.mask ?? 0x01;
    if (!Number.isInteger(mask) || mask < 1 || mask > 0xff) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `mask ${String(mask)} is not a whole number from 1 to 255`);
    }
    this.#flips.push({ direction, remaining, mask });
  }

  /** While true, new connections are accepted and reset at once (a target that is down). */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  /** New connections go to `target` from now on; pairs already made keep theirs. */
  retarget(target: { host: string; port: number }): void {
    checkEndpoint('target', target?.host, target?.port);
    this.#target = { host: target.host, port: target.port };
  }

  /** Idempotent: stops listening, destroys every socket, clears every timer, rejects pending cuts. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A tracked timer on the schedule clock, or on `clock` (REAL_CLOCK for bounds on real I/O). */
  #setTimer(ms: number, fn: () => void, clock: ProxyClock = this.#clock): unknown {
    const timer = clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.set(timer, clock);
    return timer;
  }

  #clearTimer(timer: unknown): void {
    if (timer === undefined) return;
    this.#timers.get(timer)?.clearTimeout(timer);
    this.#timers.delete(timer);
  }

  #clearAllTimers(): void {
    for (const [timer, clock] of this.#timers) clock.clearTimeout(timer);
    this.#timers.clear();
  }

  /**
   * Forwards `chunk` on `pair`, applying pending flips and counting bytes toward armed cuts; a cut that comes due
   * inside the chunk gets exactly the bytes before it, and the rest is dropped (every pair is being cut).
   */
  #forward(pair: Pair, direction: Direction, chunk: Buffer): void {
    if (!pair.open) return;
    const pump = pair.pump(direction);
    const due = this.#bytesToNextCut(direction);
    const n = Math.min(chunk.length, due);
    const segment = this.#applyFlips(direction, n === chunk.length ? chunk : chunk.subarray(0, n));
    this.#count(direction, n);
    if (due > chunk.length) {
      pump.write(segment);
      return;
    }
    // The cut is due right after this segment (n > 0: a cut fires as soon as its count reaches 0), and the segment
    // must reach the receiver before the reset does.
    const deadline = Date.now() + FLUSH_BEFORE_RESET_MS;
    const flushed = new Promise<void>((resolve) => pump.write(segment, resolve)).then(() => this.#sendQueueEmpty(pump.dst, deadline));
    this.#fireDueCuts(pair, flushed);
  }

  #bytesToNextCut(direction: Direction): number {
    let min = Number.POSITIVE_INFINITY;
    for (const c of this.#armedCuts) {
      if (c.direction === undefined || c.direction === direction) min = Math.min(min, c.remaining);
    }
    return min;
  }

  #count(direction: Direction, n: number): void {
    if (direction === 'to-target') this.#stats.bytesToTarget += n;
    else this.#stats.bytesToInitiator += n;
    for (const c of this.#armedCuts) {
      if (c.direction === undefined || c.direction === direction) c.remaining -= n;
    }
  }

  /** Returns `segment`, or a copy with the due flips applied (the socket's chunk is never written to). */
  #applyFlips(direction: Direction, segment: Buffer): Buffer {
    let out = segment;
    const pending: PendingFlip[] = [];
    for (const flip of this.#flips) {
      if (flip.direction !== direction) {
        pending.push(flip);
      } else if (flip.remaining < segment.length) {
        if (out === segment) out = Buffer.from(segment);
        out[flip.remaining] = (out[flip.remaining] ?? 0) ^ flip.mask;
        this.#stats.flips++;
      } else {
        flip.remaining -= segment.length;
        pending.push(flip);
      }
    }
    this.#flips = pending;
    return out;
  }

  #fireDueCuts(pair: Pair, flushed: Promise<void>): void {
    const due = this.#armedCuts.filter((c) => c.remaining <= 0);
    this.#armedCuts = this.#armedCuts.filter((c) => c.remaining > 0);
    const first = due[0];
    if (first === undefined) return;
    this.#cutAll(first.mode, { pair, flushed }).then(
      () => due.forEach((c) => c.resolve()),
      (e: unknown) => due.forEach((c) => c.reject(e instanceof Error ? e : closedError())),
    );
  }

  /** Cuts every open pair; `last` is cut only once its last forwarded bytes have been written (bounded). */
  async #cutAll(mode: CutMode, last?: { pair: Pair; flushed: Promise<void> }): Promise<void> {
    const cuts: Array<Promise<void>> = [];
    for (const pair of this.#pairs) {
      if (!pair.open) continue;
      this.#stats.cuts++;
      pair.stop();
      cuts.push(this.#cutPair(pair, mode, pair === last?.pair ? last.flushed : undefined));
    }
    await Promise.all(cuts);
  }

  async #cutPair(pair: Pair, mode: CutMode, flushed: Promise<void> | undefined): Promise<void> {
    if (mode === 'fin') {
      // The FIN follows whatever was written before it; the sockets close when the peers answer, or after the linger.
      pair.initiator.end();
      pair.target.end();
      const linger = this.#setTimer(
        FIN_LINGER_MS,
        () => {
          pair.initiator.destroy();
          pair.target.destroy();
        },
        REAL_CLOCK,
      );
      await pair.closed;
      this.#clearTimer(linger);
      return;
    }
    if (flushed !== undefined) await this.#within(flushed, FLUSH_BEFORE_RESET_MS);
    resetSocket(pair.initiator);
    resetSocket(pair.target);
    await pair.closed;
  }

  /**
   * Linux: resolves once `socket`'s kernel send queue is empty (tx_queue in /proc/net/tcp), i.e. the receiver's kernel
   * has every byte: a reset discards what is still queued, and those bytes were already counted as forwarded. Polled,
   * since nothing signals it; gives up at `deadline` (a receiver that stopped reading), on close, or off Linux.
   */
  async #sendQueueEmpty(socket: net.Socket, deadline: number): Promise<void> {
    const { localPort, remotePort } = socket;
    if (localPort === undefined || remotePort === undefined) return;
    const table = net.isIPv6(socket.localAddress ?? '') ? '/proc/net/tcp6' : '/proc/net/tcp';
    while (Date.now() < deadline && this.#closing === undefined && !socket.destroyed) {
      let text: string;
      try {
        text = await readFile(table, 'utf8');
      } catch {
        return;
      }
      const queued = sendQueueBytes(text, localPort, remotePort);
      if (queued === undefined || queued === 0) return;
      await new Promise<void>((resolve) => this.#setTimer(1, resolve, REAL_CLOCK));
    }
  }

  /** Settles when `p` does, after `ms` (tracked timer), or on close(), whichever is first. */
  async #within(p: Promise<void>, ms: number): Promise<void> {
    let timer: unknown;
    let stop: (() => void) | undefined;
    await Promise.race([
      p,
      new Promise<void>((resolve) => {
        timer = this.#setTimer(ms, resolve, REAL_CLOCK);
        stop = () => resolve();
        this.#waiters.add(stop);
      }),
    ]);
    this.#clearTimer(timer);
    if (stop !== undefined) this.#waiters.delete(stop);
  }

  /** A tracked sleep on the schedule clock until its now() ≥ `until`, which close() rejects. */
  async #sleepUntil(until: number): Promise<void> {
    // A timer may fire up to a millisecond early (libuv's cached loop time): check the clock and go again.
    for (let left = until - this.#clock.now(); left > 0; left = until - this.#clock.now()) {
      await this.#sleep(Math.ceil(left));
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      const fail = (e: Error): void => {
        this.#clearTimer(timer);
        reject(e);
      };
      const timer = this.#setTimer(ms, () => {
        this.#waiters.delete(fail);
        resolve();
      });
      this.#waiters.add(fail);
    });
  }

  /** Resolves when an open pair exists; close() rejects it. */
  #whenLive(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    if ([...this.#pairs].some((p) => p.open)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const ready = (): void => {
        this.#waiters.delete(fail);
        this.#liveWaiters.delete(ready);
        resolve();
      };
      const fail = (e: Error): void => {
        this.#liveWaiters.delete(ready);
        reject(e);
      };
      this.#liveWaiters.add(ready);
      this.#waiters.add(fail);
    });
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #accept(initiator: net.Socket): void {
    this.#track(initiator);
    // Errors are handled through the pair (or not at all for a refused socket); never an unhandled 'error' event.
    initiator.on('error', () => {});
    if (this.#closing !== undefined) {
      initiator.destroy();
      return;
    }
    this.#stats.accepted++;
    if (this.#refusing) {
      resetSocket(initiator);
      return;
    }
    const target = net.connect({ host: this.#target.host, port: this.#target.port, allowHalfOpen: true, noDelay: true });
    this.#track(target);
    target.on('error', () => {});
    const pair = new Pair(initiator, target, this.#host);
    this.#pairs.add(pair);
    void pair.closed.then(() => this.#pairs.delete(pair));

    for (const [socket, pump] of [
      [initiator, pair.toTarget],
      [target, pair.toInitiator],
    ] as const) {
      socket.on('data', (chunk: Buffer) => pump.onData(chunk));
      socket.on('end', () => this.#whenLinkUp(pair, () => pump.onEnd()));
      // A reset, a refused target connection or a write error on one end: the other end is reset.
      socket.on('error', () => this.#whenLinkUp(pair, () => pair.resetBoth()));
    }
    for (const wake of [...this.#liveWaiters]) wake();
  }

  /** Runs a FIN or reset from one end now, or holds it while blackholed: nothing crosses a dead link. */
  #whenLinkUp(pair: Pair, event: () => void): void {
    if (!pair.open) return;
    if (this.#blackholed) pair.held.push(event);
    else event();
  }

  async #close(): Promise<void> {
    for (const reject of [...this.#waiters]) reject(closedError());
    this.#waiters.clear();
    this.#liveWaiters.clear();
    this.#armedCuts = [];
    this.#flips = [];
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const pair of this.#pairs) pair.stop();
    const closes = [...this.#sockets].map(
      (s) => new Promise<void>((resolve) => (s.closed ? resolve() : (s.once('close', () => resolve()), s.destroy()))),
    );
    this.#clearAllTimers();
    await Promise.all([serverClosed, ...closes]);
    // A cut in progress may have set a timer after the clear above; none can be left.
    this.#clearAllTimers();
  }
}
