/** The live line `lun bench` keeps on a terminal's stderr: redrawn in place about 4 times a second, erased at the end. */

export interface ProgressSample {
  /** Seconds since the phase began, and its totals so far. */
  readonly elapsed: number;
  readonly ios: number;
  readonly bytes: number;
  readonly inFlight: number;
  /** What the run is doing ("prefill", "randrw", "check", …). */
  readonly phase: string;
  /** The phase's planned length in seconds, when it has one. */
  readonly total?: number | undefined;
}

const MIB = 1024 * 1024;
/** Carriage return, then erase the whole line (ECMA-48 EL 2). */
export const CLEAR_LINE = '\r\x1b[2K';

/** Rates over the interval since `previous` (so the line shows now, not the average). */
export function formatProgress(now: ProgressSample, previous: ProgressSample | undefined): string {
  const dt = previous ? now.elapsed - previous.elapsed : now.elapsed;
  const ios = now.ios - (previous?.ios ?? 0);
  const bytes = now.bytes - (previous?.bytes ?? 0);
  const iops = dt > 0 ? ios / dt : 0;
  const mibps = dt > 0 ? bytes / MIB / dt : 0;
  const clock = now.total === undefined ? `${now.elapsed.toFixed(1)}s` : `${now.elapsed.toFixed(1)}/${now.total}s`;
  return `${now.phase} ${clock}  ${Math.round(iops)} IOPS  ${mibps.toFixed(1)} MiB/s  ${now.inFlight} in flight`;
}

interface Output {
  write(text: string): unknown;
}

export class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private previous: ProgressSample | undefined;
  private drawn = false;

  constructor(
    private readonly out: Output,
    private readonly sample: () => ProgressSample,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.draw(), this.intervalMs);
    this.timer.unref(); // never what keeps the process alive
  }

  draw(): void {
    const now = this.sample();
    // A new phase restarts its clock; its rates must not be computed against the last one's totals.
    const previous = this.previous?.phase === now.phase ? this.previous : undefined;
    this.out.write(CLEAR_LINE + formatProgress(now, previous));
    this.previous = now;
    this.drawn = true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.out.write(CLEAR_LINE);
    this.drawn = false;
  }
}
