// The bench engine over an in-memory LUN with a deterministic clock: exactly qd in flight, never overlapping, and
// --verify catching every kind of bad data while counting (never hiding) failed commands.
import { describe, expect, it } from 'vitest';
import { Bench, type BenchOptions } from '../../src/bench/engine.js';
import { verdict } from '../../src/bench/verdict.js';
import { planRegion, RW_MODES, type RwMode } from '../../src/bench/workload.js';
import { MemoryLun, type Fault } from './memory-lun.js';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const LUN_BLOCKS = 2048; // 1 MiB of 512-byte blocks

function setup(o: { rw: RwMode; verify?: boolean; qd?: number; bs?: number; size?: number; fault?: Fault; seconds?: number; signal?: AbortSignal }) {
  const lun = new MemoryLun(LUN_BLOCKS, 512, o.fault);
  const bs = o.bs ?? 4096;
  const qd = o.qd ?? 8;
  const verify = o.verify ?? true;
  const region = planRegion({ rw: o.rw, bs, qd, blockLength: 512, lunBlocks: LUN_BLOCKS, offset: 64 * 512, size: o.size ?? 256 * 1024, verify });
  const options: BenchOptions = {
    lun: 1,
    rw: o.rw,
    bs,
    qd,
    // 0.01 ms per completed command on the fake clock: 0.005 s is about 500 commands.
    seconds: o.seconds ?? 0.005,
    blockLength: 512,
    region,
    rwmixRead: 50,
    verify,
    random: seeded(42),
    now: lun.now,
    signal: o.signal,
  };
  return { lun, region, bench: new Bench(lun, options) };
}

describe('bench engine', () => {
  it('--json shape: exactly the names the benchmark script parses', async () => {
    const { bench } = setup({ rw: 'randrw' });
    const { result } = await bench.run();
    expect(Object.keys(result)).toEqual(['rw', 'bs', 'qd', 'seconds', 'ios', 'bytes', 'iops', 'mibps', 'latencyUs', 'errors', 'verify']);
    expect(Object.keys(result.latencyUs)).toEqual(['p50', 'p99', 'max', 'mean']);
    expect(Object.keys(result.verify!)).toEqual(['checked', 'mismatches', 'firstMismatch']);
    expect(result).toMatchObject({ rw: 'randrw', bs: 4096, qd: 8, errors: 0, verify: { mismatches: 0, firstMismatch: null } });
    expect(result.bytes).toBe(result.ios * 4096);
    // seconds is rounded to the millisecond in the JSON; iops comes from the exact time.
    expect(Math.abs(result.iops - result.ios / result.seconds)).toBeLessThanOrEqual(0.02 * result.iops);
  });

  for (const rw of RW_MODES) {
    it(`${rw} --verify: I/O happens, every block read back matches, no two in-flight I/Os overlap, exactly qd in flight`, async () => {
      const { bench, lun } = setup({ rw, qd: 6 });
      const { result, firstError, sessionLost } = await bench.run();
      expect(firstError).toBeUndefined();
      expect(sessionLost).toBe(false);
      expect(result.ios).toBeGreaterThan(100);
      expect(result.verify!.mismatches).toBe(0);
      expect(result.verify!.checked).toBeGreaterThan(0);
      expect(lun.overlaps).toBe(0);
      expect(lun.maxInFlight).toBe(6);
    });
  }

  it('keeps exactly --qd commands in flight (1, 3, 32)', async () => {
    for (const qd of [1, 3, 32]) {
      const { bench, lun } = setup({ rw: 'randread', qd, verify: false });
      await bench.run();
      expect(lun.maxInFlight).toBe(qd);
    }
  });

  it('read modes prefill the whole region (generation 1) before the timed phase; write modes and runs without --verify do not', async () => {
    const read = setup({ rw: 'randread' });
    await read.bench.run();
    const prefill = read.lun.log.filter((c) => c.write);
    expect(prefill.reduce((n, c) => n + c.blocks, 0)).toBe(read.region.blocks);
    expect(read.lun.log.findIndex((c) => !c.write)).toBe(prefill.length);
    const write = setup({ rw: 'randwrite' });
    await write.bench.run();
    expect(write.lun.log.every((c) => !c.write || c.blocks === 8)).toBe(true);
    const plain = setup({ rw: 'randread', verify: false });
    const { result } = await plain.bench.run();
    expect(result.verify).toBeNull();
    expect(plain.lun.log.every((c) => !c.write && c.blocks === 8)).toBe(true);
  });

  it('--verify re-reads the whole region at the end, so a write-only run is checked too', async () => {
    const { bench, lun, region } = setup({ rw: 'write', size: 64 * 1024 });
    const { result } = await bench.run();
    const tail = lun.log.slice(-1);
    expect(tail[0]).toMatchObject({ write: false, lba: region.firstLba, blocks: region.blocks });
    expect(result.verify!.checked).toBe(region.blocks); // the sequential writes covered the small region
  });

  it('detects a block corrupted on the medium: kind "checksum" at its LBA, counted, first one described', async () => {
    const target = 64 + 100;
    const holder: { lun?: MemoryLun } = {};
    const fault: Fault = (op) => {
      const disk = holder.lun!.disk;
      if (!op.write && op.blocks > 8) disk[target * 512 + 300] = disk[target * 512 + 300]! ^ 0x10; // just before the final read-back
      return 'ok';
    };
    const s = setup({ rw: 'randrw', fault });
    holder.lun = s.lun;
    const { result } = await s.bench.run();
    expect(result.verify!.mismatches).toBe(1);
    expect(result.verify!.firstMismatch).toMatchObject({ lba: target, kind: 'checksum', offset: 20 });
    expect(result.verify!.firstMismatch!.message).toMatch(/^LBA 164: checksum mismatch/);
    expect(result.errors).toBe(0);
  });

  it('detects lost writes (GOOD status, nothing stored): kind "generation"', async () => {
    const { bench } = setup({ rw: 'randwrite', fault: (op) => (op.write && op.blocks === 8 && op.n % 7 === 3 ? 'drop' : 'ok') });
    const { result } = await bench.run();
    expect(result.verify!.mismatches).toBeGreaterThan(0);
    expect(result.verify!.firstMismatch!.kind).toBe('generation');
  });

  it('detects misdirected writes (stored one block further on)', async () => {
    const { bench } = setup({ rw: 'randrw', fault: (op) => (op.write && op.blocks === 8 && op.n === 200 ? 'misdirect' : 'ok') });
    const { result } = await bench.run();
    expect(result.verify!.mismatches).toBeGreaterThan(0);
    expect(['lba', 'generation']).toContain(result.verify!.firstMismatch!.kind);
  });

  it('failed writes are counted, and their blocks accept the old or the new generation: no false mismatch', async () => {
    let faults = 0;
    const fault: Fault = (op) => {
      if (!op.write || op.n % 5 !== 0) return 'ok';
      faults++;
      return op.n % 2 === 0 ? 'fail-after' : 'fail-before'; // stored-then-failed and failed-before-storing
    };
    const { bench } = setup({ rw: 'randrw', fault });
    const { result, firstError } = await bench.run();
    expect(faults).toBeGreaterThan(10);
    expect(result.errors).toBe(faults);
    expect(firstError?.code).toBe('ISCSI_SCSI_CHECK_CONDITION');
    expect(result.verify!.mismatches).toBe(0);
    expect(result.verify!.checked).toBeGreaterThan(0);
  });

  it('a short read is an error, not data', async () => {
    const { bench } = setup({ rw: 'randread', verify: false, fault: (op) => (op.n === 10 ? 'short' : 'ok') });
    const { result, firstError } = await bench.run();
    expect(result.errors).toBe(1);
    expect(firstError?.code).toBe('ISCSI_SCSI_BAD_DATA');
  });

  it('a lost session ends the run early: in-flight commands are counted as errors, the check phase is skipped', async () => {
    const { bench } = setup({ rw: 'randrw', qd: 4, seconds: 10, fault: (op) => (op.n === 300 ? 'close' : 'ok') });
    const { result, sessionLost, sessionError } = await bench.run();
    expect(sessionLost).toBe(true);
    expect(sessionError?.code).toBe('ISCSI_CONNECTION_CLOSED');
    expect(result.errors).toBe(4); // the closing command and the 3 others in flight
    expect(result.verify!.mismatches).toBe(0);
  });

  it('stops when the signal fires (Ctrl-C) and reports what completed', async () => {
    const abort = new AbortController();
    const { bench } = setup({ rw: 'randread', seconds: 10, fault: (op) => (op.n === 400 ? (abort.abort(), 'ok') : 'ok'), signal: abort.signal });
    const outcome = await bench.run();
    expect(outcome.aborted).toBe(true);
    expect(outcome.result.ios).toBeGreaterThan(0);
    expect(outcome.result.seconds).toBeLessThan(1);
  });

  it('an untyped error is a bug, not a failed command: the run rejects with it', async () => {
    const { bench } = setup({ rw: 'randread', verify: false, fault: (op) => (op.n === 5 ? 'throw' : 'ok') });
    await expect(bench.run()).rejects.toThrow('not a typed error');
  });

  describe('exit status of a run (the result is printed either way)', () => {
    it('clean, or merely interrupted: 0', async () => {
      expect(verdict(await setup({ rw: 'randrw' }).bench.run())).toBeUndefined();
      const abort = new AbortController();
      abort.abort();
      expect(verdict(await setup({ rw: 'randrw', signal: abort.signal }).bench.run())).toBeUndefined();
    });

    it('any mismatch: exit 1 and one line describing the first', async () => {
      const v = verdict(await setup({ rw: 'randwrite', fault: (op) => (op.write && op.blocks === 8 && op.n % 7 === 3 ? 'drop' : 'ok') }).bench.run());
      expect(v?.status).toBe(1);
      expect(v?.message).toMatch(/^verify failed: \d+ of \d+ blocks checked did not match; first: LBA \d+: stale or unexpected generation/);
      expect(v?.message).not.toContain('\n');
    });

    it('failed commands without bad data: exit 1 naming the first failure', async () => {
      const v = verdict(await setup({ rw: 'randrw', fault: (op) => (op.write && op.n % 9 === 0 ? 'fail-before' : 'ok') }).bench.run());
      expect(v).toEqual({ status: 1, message: expect.stringMatching(/^\d+ commands failed; first: MEDIUM ERROR$/) });
    });

    it('a lost session: exit 4 (connection error) with why; a mismatch found before it still makes it exit 1', async () => {
      const lost = verdict(await setup({ rw: 'randread', seconds: 10, fault: (op) => (op.n === 50 ? 'close' : 'ok') }).bench.run());
      expect(lost).toEqual({ status: 4, message: 'the session was lost during the run: connection closed' });
      const holder: { lun?: MemoryLun } = {};
      const s = setup({
        rw: 'randread',
        seconds: 10,
        fault: (op) => {
          // Corrupt a block, let the timed phase read it, then lose the session.
          if (op.n === 1) holder.lun!.disk.fill(0, 64 * 512, (64 + 512) * 512);
          return op.n === 400 ? 'close' : 'ok';
        },
      });
      holder.lun = s.lun;
      const both = verdict(await s.bench.run());
      expect(both?.status).toBe(1);
      expect(both?.message).toMatch(/^verify failed: .*; the session was lost during the run: connection closed$/);
    });
  });
});
