// Live read/write rates from the daemon's session.stats notifications (every 2 s per live session, docs/api.md):
// the counters are cumulative, so a rate is the difference of two samples over the time between them.
import type { SessionStats } from './model';

interface Samples {
  previous?: SessionStats;
  last: SessionStats;
}

export interface Rates {
  readonly readBps: number | null;
  readonly writeBps: number | null;
}

const UNKNOWN: Rates = { readBps: null, writeBps: null };

export class ThroughputMeter {
  private readonly samples = new Map<number, Samples>();

  /** Takes one session.stats notification. */
  add(stats: SessionStats): void {
    const known = this.samples.get(stats.sid);
    this.samples.set(stats.sid, known === undefined ? { last: stats } : { previous: known.last, last: stats });
  }

  /** Forgets a session (logged out): its sid is never reused while the daemon runs. */
  forget(sid: number): void {
    this.samples.delete(sid);
  }

  /** Bytes/s over the last interval; null until two samples (or when the clock or the counters went backwards). */
  rates(sid: number): Rates {
    const s = this.samples.get(sid);
    if (s?.previous === undefined) return UNKNOWN;
    const seconds = (Date.parse(s.last.at) - Date.parse(s.previous.at)) / 1000;
    if (!(seconds > 0)) return UNKNOWN;
    const rate = (now: number, before: number) => (now >= before ? (now - before) / seconds : null);
    return {
      readBps: rate(s.last.bytesRead, s.previous.bytesRead),
      writeBps: rate(s.last.bytesWritten, s.previous.bytesWritten),
    };
  }
}
