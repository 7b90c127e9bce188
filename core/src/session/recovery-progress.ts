import { ReconnectBackoff } from './reconnect-policy.js';

export interface RecoveryProgressOptions {
  /** Re-logins in a row without a completed command before the waiting commands fail; negative = no bound. */
  readonly maxReloginsWithoutProgress: number;
  readonly reconnectMinDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly random?: (() => number) | undefined;
}

/**
 * Does recovery get anywhere? Counts the connections that were lost with commands outstanding and none completed,
 * and paces reconnects. A login alone is not progress: a target that accepts every login and then resets on the
 * first command must neither restart the backoff nor the count (issue 9: 78 logins in 10 minutes).
 */
export class RecoveryProgress {
  private withoutProgress = 0;
  private backoff: ReconnectBackoff;
  private time2WaitMs = 0;
  private hintMs: number | undefined;
  /** Completed commands when the current connection came up. */
  private completedAtLogin = 0;
  /** The current connection is a re-login (the first login is not counted: it did not follow a loss). */
  private relogin = false;

  constructor(private readonly options: RecoveryProgressOptions) {
    this.backoff = this.newBackoff();
  }

  /** Re-logins in a row in which no command completed. */
  get reloginsWithoutProgress(): number {
    return this.withoutProgress;
  }

  get attempts(): number {
    return this.backoff.attempts;
  }

  /** A connection is in the full feature phase; `completed` is the session's completed-command count. */
  connected(completed: number, time2WaitSeconds: number, relogin: boolean): void {
    this.completedAtLogin = completed;
    this.relogin = relogin;
    const time2WaitMs = time2WaitSeconds * 1000;
    if (time2WaitMs !== this.time2WaitMs) {
      this.time2WaitMs = time2WaitMs;
      this.backoff = this.newBackoff();
    }
  }

  /** The target announced when to come back (AsyncEvent 2/3 Time2Wait, §11.9.1). */
  hint(ms: number): void {
    this.hintMs = ms;
  }

  /**
   * The connection is gone. 'progress': a command completed on it. 'none': nothing did, but the connection was the
   * first, or idle. 'no-progress': a re-login with commands outstanding in which none completed. 'give-up': that has
   * now happened more often in a row than the bound allows.
   */
  lost(completed: number, outstanding: number): 'progress' | 'none' | 'no-progress' | 'give-up' {
    const progressed = completed !== this.completedAtLogin;
    if (progressed || !this.relogin || outstanding === 0) {
      this.withoutProgress = 0;
      this.backoff.reset();
      return progressed ? 'progress' : 'none';
    }
    this.withoutProgress++;
    const max = this.options.maxReloginsWithoutProgress;
    return max >= 0 && this.withoutProgress > max ? 'give-up' : 'no-progress';
  }

  /** The waiting commands were failed for want of progress: the next ones get a fresh count. */
  gaveUp(): void {
    this.withoutProgress = 0;
  }

  /** How long to wait before the next login attempt. */
  nextDelay(): number {
    const wait = Math.max(this.backoff.next(), this.hintMs ?? 0);
    this.hintMs = undefined;
    return wait;
  }

  private newBackoff(): ReconnectBackoff {
    const min = this.options.reconnectMinDelayMs;
    return new ReconnectBackoff({
      initialMs: Math.max(min, this.time2WaitMs),
      maxMs: Math.max(this.options.reconnectMaxDelayMs, min),
      random: this.options.random,
    });
  }
}
