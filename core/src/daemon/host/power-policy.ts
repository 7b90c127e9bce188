import { DEFAULT_HOST_EVENTS } from '../../defaults.js';
import type { PowerEvent } from './host-events.js';

/** What the power policy needs of a session (IscsiSession has it all). */
export interface PowerSession {
  readonly isClosed: boolean;
  /** Pings stop; in-flight commands may finish within `timeoutMs`. */
  quiesce(timeoutMs: number): Promise<void>;
  /** Pings again, the first at once: a connection that died asleep fails within noop_out_timeout. */
  resumeKeepAlive(): void;
  /** Recovery at once: the session logs in again on a new connection, its commands re-issued. */
  dropConnection(reason?: string): void;
}

export interface PowerClock {
  now(): number;
  /** Resolves after `ms` (a timer in iscsid, a fake in tests). */
  delay(ms: number): Promise<void>;
}

/** iscsid's clock: the quiesce bound's timer never keeps the process alive on its own. */
export const SYSTEM_POWER_CLOCK: PowerClock = {
  now: () => Date.now(),
  delay: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
};

export interface PowerPolicyOptions {
  readonly sessions: () => Iterable<PowerSession>;
  readonly clock: PowerClock;
  readonly quiesceMs?: number;
  readonly staleAfterMs?: number;
}

/**
 * Sleep and wake (issue 12, macOS adapters: "before sleep, quiesce: finish in-flight I/O and stop NOP-Out timers.
 * After wake, check every connection and recover at once"). Sleep is always allowed, at the latest after the
 * quiesce bound: the system must not be held awake by a target that does not answer.
 */
export class PowerPolicy {
  private readonly quiesceMs: number;
  private readonly staleAfterMs: number;
  private sleptAt: number | undefined;
  private quiesced: PowerSession[] = [];

  constructor(private readonly options: PowerPolicyOptions) {
    this.quiesceMs = options.quiesceMs ?? DEFAULT_HOST_EVENTS.sleepQuiesceMs;
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_HOST_EVENTS.wakeStaleAfterMs;
  }

  /** Whether the host is between will-sleep and powered-on. */
  get asleep(): boolean {
    return this.sleptAt !== undefined;
  }

  async handle(event: PowerEvent): Promise<void> {
    switch (event.type) {
      case 'can-sleep':
        event.allow();
        return;
      case 'will-sleep':
        return this.willSleep(event.allow);
      case 'powered-on':
        return this.poweredOn();
    }
  }

  private async willSleep(allow: () => void): Promise<void> {
    const sessions = [...this.options.sessions()].filter((s) => !s.isClosed);
    this.quiesced = sessions;
    const drained = Promise.allSettled(sessions.map((s) => s.quiesce(this.quiesceMs)));
    // The sessions bound their own drain by their tick; this bound holds even if a tick never comes.
    await Promise.race([drained, this.options.clock.delay(this.quiesceMs)]);
    this.sleptAt = this.options.clock.now();
    allow();
  }

  private poweredOn(): void {
    const asleepMs = this.sleptAt === undefined ? 0 : this.options.clock.now() - this.sleptAt;
    this.sleptAt = undefined;
    const quiesced = this.quiesced;
    this.quiesced = [];
    // Every session, including one opened during the sleep-notification window, resumes; none stays unpinged.
    const sessions = new Set([...quiesced, ...this.options.sessions()]);
    for (const session of sessions) {
      if (session.isClosed) continue;
      session.resumeKeepAlive();
      // Asleep this long, the target has dropped us (its own pings went unanswered): recover now, not a timeout later.
      if (asleepMs >= this.staleAfterMs) session.dropConnection(`the host slept ${Math.round(asleepMs / 1000)} s`);
    }
  }
}
