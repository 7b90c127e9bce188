// Throughput and latency numbers of `lun bench` (perf_hooks histogram, 3 significant digits) and its progress line.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLEAR_LINE, formatProgress, ProgressLine, type ProgressSample } from '../../src/bench/progress.js';
import { IoStats } from '../../src/bench/stats.js';

/** HDR histogram with 3 significant digits: a recorded value comes back within 0.1 % (plus the ns→µs rounding). */
function close(actualUs: number, expectedUs: number): void {
  expect(Math.abs(actualUs - expectedUs)).toBeLessThanOrEqual(expectedUs * 0.001 + 0.05);
}

describe('IoStats', () => {
  it('p50, p99, max and mean of a known distribution: 1..1000 µs once each', () => {
    const s = new IoStats();
    for (let us = 1; us <= 1000; us++) s.record(4096, us / 1000);
    const r = s.summary(2);
    close(r.latencyUs.p50, 500);
    close(r.latencyUs.p99, 990);
    close(r.latencyUs.max, 1000);
    close(r.latencyUs.mean, 500.5);
    expect(r).toMatchObject({ ios: 1000, bytes: 4096 * 1000, seconds: 2, iops: 500 });
    expect(r.mibps).toBeCloseTo((4096 * 1000) / 2 ** 20 / 2, 2);
  });

  it('for any samples: p50 ≤ p99 ≤ max, max is the largest sample and mean the average (within histogram precision)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5_000_000 }), { minLength: 1, maxLength: 300 }), (ns) => {
        const s = new IoStats();
        for (const v of ns) s.record(512, v / 1e6);
        const { latencyUs: l, ios } = s.summary(1);
        expect(ios).toBe(ns.length);
        expect(l.p50).toBeLessThanOrEqual(l.p99);
        expect(l.p99).toBeLessThanOrEqual(l.max);
        close(l.max, Math.max(...ns) / 1000);
        const mean = ns.reduce((a, b) => a + b, 0) / ns.length / 1000;
        expect(Math.abs(l.mean - mean)).toBeLessThanOrEqual(mean * 0.002 + 0.05);
        const sorted = [...ns].sort((a, b) => a - b);
        // The 50th percentile is a recorded value at or above half the samples.
        close(l.p50, sorted[Math.ceil(ns.length / 2) - 1]! / 1000);
      }),
      { numRuns: 300 },
    );
  });

  it('sub-microsecond latencies are still recorded (nanosecond resolution, never 0)', () => {
    const s = new IoStats();
    s.record(512, 0.0004);
    s.record(512, 0);
    expect(s.summary(1).latencyUs.max).toBeCloseTo(0.4, 1);
  });

  it('no I/O: zeros, not NaN', () => {
    expect(new IoStats().summary(0)).toEqual({ seconds: 0, ios: 0, bytes: 0, iops: 0, mibps: 0, latencyUs: { p50: 0, p99: 0, max: 0, mean: 0 } });
  });
});

describe('progress line (a terminal\'s stderr only)', () => {
  const sample = (s: Partial<ProgressSample>): ProgressSample => ({ phase: 'randread', elapsed: 1, ios: 0, bytes: 0, inFlight: 8, total: 10, ...s });

  it('shows elapsed, IOPS and MiB/s over the last interval, and what is in flight', () => {
    const line = formatProgress(sample({ elapsed: 2, ios: 3000, bytes: 3000 * 4096 }), sample({ elapsed: 1.5, ios: 1000, bytes: 1000 * 4096 }));
    expect(line).toBe('randread 2.0/10s  4000 IOPS  15.6 MiB/s  8 in flight');
    expect(formatProgress(sample({ phase: 'prefill', total: undefined, elapsed: 0.5, ios: 10, bytes: 10 << 20 }), undefined)).toBe(
      'prefill 0.5s  20 IOPS  20.0 MiB/s  8 in flight',
    );
  });

  it('redraws in place and erases itself at the end; a line never drawn leaves no trace', () => {
    const writes: string[] = [];
    let n = 0;
    const p = new ProgressLine({ write: (t: string) => writes.push(t) }, () => sample({ elapsed: ++n, ios: n * 100 }));
    p.draw();
    p.draw();
    p.stop();
    expect(writes).toHaveLength(3);
    expect(writes.slice(0, 2).every((w) => w.startsWith(CLEAR_LINE) && !w.includes('\n'))).toBe(true);
    expect(writes[1]).toContain('100 IOPS');
    expect(writes[2]).toBe(CLEAR_LINE);
    const quiet: string[] = [];
    const q = new ProgressLine({ write: (t: string) => quiet.push(t) }, () => sample({}));
    q.start();
    q.stop();
    expect(quiet).toEqual([]);
  });
});
