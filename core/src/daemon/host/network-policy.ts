import { DEFAULT_HOST_EVENTS } from '../../defaults.js';
import type { NetworkPathEvent } from './host-events.js';

/** What the network policy needs of a session (IscsiSession has it). */
export interface NetworkSession {
  readonly isClosed: boolean;
  /** Whether the session has a connection now (false while it recovers). */
  readonly isConnected: boolean;
  dropConnection(reason?: string): void;
  /** A reconnect waiting out its backoff tries at once. */
  retryNow(): void;
}

export interface NetworkTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** iscsid's timers: a pending debounce never keeps the process alive on its own. */
export const SYSTEM_NETWORK_TIMERS: NetworkTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface NetworkPolicyOptions {
  readonly sessions: () => Iterable<NetworkSession>;
  readonly timers: NetworkTimers;
  readonly debounceMs?: number;
}

/**
 * Network changes (issue 12, macOS adapters: "reconnect at once instead of waiting for a NOP-Out timeout"). A burst
 * of path updates is one change, acted on `debounceMs` after the last. When the usable path (status and interfaces
 * with their addresses) differs from the one the sessions connected over, every connected session reconnects (its
 * socket may be bound to an address that is gone), and every recovering one retries at once. Which portal's route
 * moved is not worked out: a re-login is cheap next to a NOP-Out timeout.
 */
export class NetworkPolicy {
  private readonly debounceMs: number;
  private current: string | undefined;
  private pending: { event: NetworkPathEvent; timer: unknown } | undefined;

  constructor(private readonly options: NetworkPolicyOptions) {
    this.debounceMs = options.debounceMs ?? DEFAULT_HOST_EVENTS.networkDebounceMs;
  }

  handle(event: NetworkPathEvent): void {
    if (this.pending) this.options.timers.clearTimeout(this.pending.timer);
    const timer = this.options.timers.setTimeout(() => this.settle(), this.debounceMs);
    this.pending = { event, timer };
  }

  /** Stops a pending decision (iscsid shutting down). */
  close(): void {
    if (this.pending) this.options.timers.clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private settle(): void {
    const event = this.pending?.event;
    this.pending = undefined;
    if (!event) return;
    const signature = `${event.status}|${[...event.interfaces].sort().join(',')}`;
    const first = this.current === undefined;
    const changed = signature !== this.current;
    this.current = signature;
    // The first path is where we start from; an unusable path is waited out (a reconnect now would only fail).
    if (first || !changed || event.status !== 'satisfied') return;
    for (const session of this.options.sessions()) {
      if (session.isClosed) continue;
      if (session.isConnected) session.dropConnection('the network path changed');
      else session.retryNow();
    }
  }
}
