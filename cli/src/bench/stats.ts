/**
 * Throughput and latency of the timed phase. Latencies go into node's HDR histogram (perf_hooks.createHistogram: 3
 * significant digits, constant memory, no per-sample allocation) in nanoseconds and come out in microseconds.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface ThroughputSummary {
  readonly seconds: number;
  readonly ios: number;
  readonly bytes: number;
  readonly iops: number;
  readonly mibps: number;
  readonly latencyUs: LatencySummary;
}

const MIB = 1024 * 1024;

export class IoStats {
  ios = 0;
  bytes = 0;
  private readonly histogram: RecordableHistogram = createHistogram();

  /** One completed I/O of `bytes` that took `ms` milliseconds (performance.now() differences). */
  record(bytes: number, ms: number): void {
    this.ios++;
    this.bytes += bytes;
    // The histogram takes integers ≥ 1; nanoseconds keep sub-microsecond latencies apart.
    this.histogram.record(Math.max(1, Math.round(ms * 1e6)));
  }

  summary(seconds: number): ThroughputSummary {
    const h = this.histogram;
    const us = (ns: number) => round(ns / 1000, 1);
    const latencyUs = h.count === 0 ? { p50: 0, p99: 0, max: 0, mean: 0 } : { p50: us(h.percentile(50)), p99: us(h.percentile(99)), max: us(h.max), mean: us(h.mean) };
    return {
      seconds: round(seconds, 3),
      ios: this.ios,
      bytes: this.bytes,
      iops: seconds > 0 ? round(this.ios / seconds, 1) : 0,
      mibps: seconds > 0 ? round(this.bytes / MIB / seconds, 2) : 0,
      latencyUs,
    };
  }
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
