/**
 * NOP-Out pings on a quiet connection (RFC 7143 §11.18, open-iscsi's noop_out_interval / noop_out_timeout), I/O-free.
 * Traffic is counted per PDU (a field increment, no clock); `due(now)` compares the count on the housekeeping tick,
 * so the clock is read once per tick, never per PDU.
 */
export class KeepAlive {
  private received = 0;
  private seen = 0;
  private lastActivity = 0;
  private ping: { readonly itt: number; readonly deadline: number } | undefined;
  /** The host is going to sleep (issue 12): no ping goes out and none times out until `resume`. */
  private paused = false;

  constructor(
    readonly intervalMs: number,
    readonly timeoutMs: number,
  ) {}

  /** A new connection: no ping outstanding, quiet from `now`. */
  reset(now: number): void {
    this.ping = undefined;
    this.lastActivity = now;
    this.seen = this.received;
  }

  /** A PDU arrived. */
  heard(): void {
    this.received++;
  }

  /** §11.19: the NOP-In answering our ping carries its ITT. */
  answered(itt: number): void {
    if (this.ping && this.ping.itt === itt) this.ping = undefined;
  }

  /** The ITT of the ping awaiting its answer: not to be handed out to anything else. */
  get pingItt(): number | undefined {
    return this.ping?.itt;
  }

  /** Stops pinging, and forgets a ping in flight: its answer may never come before the host sleeps. */
  pause(): void {
    this.paused = true;
    this.ping = undefined;
  }

  /** Pings again, the first at the next tick: after a sleep the connection is checked at once, not an interval later. */
  resume(now: number): void {
    this.paused = false;
    this.reset(now);
    this.lastActivity = now - this.intervalMs;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** What the tick at `now` must do: fail the connection (the ping went unanswered), send a ping, or nothing. */
  due(now: number): 'timeout' | 'ping' | undefined {
    if (this.received !== this.seen) {
      this.seen = this.received;
      this.lastActivity = now;
    }
    if (this.paused) return undefined;
    if (this.ping) return now >= this.ping.deadline ? 'timeout' : undefined;
    return this.intervalMs > 0 && now - this.lastActivity >= this.intervalMs ? 'ping' : undefined;
  }

  /** A ping with `itt` went out at `now`. */
  pinged(itt: number, now: number): void {
    this.ping = { itt, deadline: now + this.timeoutMs };
    this.lastActivity = now;
  }
}
