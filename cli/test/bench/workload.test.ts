// Workload generation for `lun bench`: the region, offsets (in the region, bs-aligned), the read/write mix, and the
// rule that no two in-flight I/Os overlap (what makes --verify's expectations unambiguous).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generations, MAX_TRACKED_BLOCKS } from '../../src/bench/generations.js';
import { parseSize, formatSize } from '../../src/bench/size.js';
import { newIo, planRegion, RW_MODES, VERIFY_DEFAULT_SIZE, Workload, type Io, type Region, type RwMode } from '../../src/bench/workload.js';

/** A seeded PRNG (mulberry32) so a property's workload is reproducible from fast-check's values. */
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

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('SIZE arguments (512, 4k, 128k, 1m, 4MiB)', () => {
  it('binary units, case-insensitive, with optional i/B suffixes', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('4k')).toBe(4096);
    expect(parseSize('128K')).toBe(128 * 1024);
    expect(parseSize('1m')).toBe(1 << 20);
    expect(parseSize('4MiB')).toBe(4 << 20);
    expect(parseSize('2g')).toBe(2 ** 31);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('64kb')).toBe(65536);
  });

  it('refuses anything else with ISCSI_BAD_ARGUMENT (exit 7)', () => {
    for (const bad of ['', 'k', '4x', '-1', '1.3', '4 k b', '1e3', '99999p']) expect(codeOf(() => parseSize(bad))).toBe('ISCSI_BAD_ARGUMENT');
  });

  it('formatSize is exact and parses back', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 44 }), (n) => {
        expect(parseSize(formatSize(n))).toBe(n);
      }),
    );
  });
});

describe('planRegion: the flags against the LUN', () => {
  const base = { rw: 'randread' as RwMode, bs: 4096, qd: 8, blockLength: 512, lunBlocks: 65536, verify: false };

  it('defaults to the whole LUN, and to at most 64 MiB with --verify', () => {
    expect(planRegion(base)).toEqual({ firstLba: 0, blocks: 65536, blocksPerIo: 8, slots: 8192 });
    const big = { ...base, lunBlocks: 1 << 24 }; // 8 GiB
    expect(planRegion({ ...big, verify: true }).blocks * 512).toBe(VERIFY_DEFAULT_SIZE);
    expect(planRegion({ ...big, verify: true, offset: (1 << 24) * 512 - 1024 * 1024, qd: 1 }).blocks).toBe(2048);
  });

  it('an offset and size select [offset, offset + size), cut down to whole I/Os', () => {
    expect(planRegion({ ...base, offset: 1 << 20, size: 100_000 })).toEqual({ firstLba: 2048, blocks: 192, blocksPerIo: 8, slots: 24 });
  });

  it('refuses, each with ISCSI_BAD_ARGUMENT: bs not a multiple of the block size, a misaligned or out-of-range region, fewer slots than qd', () => {
    expect(codeOf(() => planRegion({ ...base, bs: 3000 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, blockLength: 4096, bs: 512 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, bs: 128 << 20 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, offset: 1000 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, offset: 65536 * 512 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, size: 65537 * 512 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, size: 0 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, size: 7 * 4096 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => planRegion({ ...base, lunBlocks: 2 ** 40, blockLength: 512, size: 2 ** 40, verify: true, qd: 1 }))).toBe('ISCSI_BAD_ARGUMENT');
  });
});

const regionArb = fc
  .record({ firstLba: fc.nat({ max: 2 ** 40 }), blocksPerIo: fc.integer({ min: 1, max: 256 }), slots: fc.integer({ min: 1, max: 5000 }) })
  .map((r): Region => ({ ...r, blocks: r.slots * r.blocksPerIo }));

describe('Workload: which I/O comes next', () => {
  it('every offset lies in the region and is bs-aligned from its start, in every mode', () => {
    fc.assert(
      fc.property(regionArb, fc.constantFrom(...RW_MODES), fc.integer(), fc.integer({ min: 1, max: 300 }), (region, rw, seed, n) => {
        const w = new Workload(rw, region, 50, seeded(seed));
        const io = newIo();
        for (let i = 0; i < n; i++) {
          w.pick(io);
          expect(io.blocks).toBe(region.blocksPerIo);
          expect(io.lba).toBeGreaterThanOrEqual(region.firstLba);
          expect(io.lba + io.blocks).toBeLessThanOrEqual(region.firstLba + region.blocks);
          expect((io.lba - region.firstLba) % region.blocksPerIo).toBe(0);
          w.release(io);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('no two in-flight I/Os overlap, with up to `slots` in flight and completions in any order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RW_MODES),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 400 }),
        (rw, slots, seed, script) => {
          const region: Region = { firstLba: 100, blocksPerIo: 2, slots, blocks: 2 * slots };
          const w = new Workload(rw, region, 50, seeded(seed));
          const inFlight: Io[] = [];
          for (const step of script) {
            // Pick while there is room, else complete a pseudo-randomly chosen in-flight I/O.
            if (inFlight.length < slots && step % 3 !== 0) {
              const io = newIo();
              w.pick(io);
              for (const other of inFlight) expect(io.lba + io.blocks <= other.lba || other.lba + other.blocks <= io.lba).toBe(true);
              inFlight.push(io);
            } else if (inFlight.length > 0) {
              const [done] = inFlight.splice(step % inFlight.length, 1);
              w.release(done!);
            }
            expect(w.inFlight).toBe(inFlight.length);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('picking with every slot busy is refused (the engine never has more workers than slots)', () => {
    const w = new Workload('randread', { firstLba: 0, blocks: 2, blocksPerIo: 1, slots: 2 });
    w.pick(newIo());
    w.pick(newIo());
    expect(codeOf(() => w.pick(newIo()))).toBe('ISCSI_BAD_ARGUMENT');
  });

  it('sequential modes walk the region in order and wrap at its end (skipping a slot still in flight)', () => {
    const region: Region = { firstLba: 10, blocks: 12, blocksPerIo: 4, slots: 3 };
    const w = new Workload('write', region);
    const io = newIo();
    const lbas: number[] = [];
    for (let i = 0; i < 7; i++) {
      w.pick(io);
      expect(io.write).toBe(true);
      lbas.push(io.lba);
      w.release(io);
    }
    expect(lbas).toEqual([10, 14, 18, 10, 14, 18, 10]);
    const held = newIo();
    w.pick(held); // LBA 14, kept in flight
    w.pick(io); // 18
    w.release(io);
    w.pick(io); // 10
    w.release(io);
    w.pick(io); // 14 is busy: 18
    expect([held.lba, io.lba]).toEqual([14, 18]);
  });

  it('random modes pick slot ⌊r·slots⌋ when it is free: uniform over the region for a uniform r', () => {
    fc.assert(
      fc.property(regionArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (region, r) => {
        const w = new Workload('randread', region, 50, () => r);
        const io = newIo();
        w.pick(io);
        expect(io.slot).toBe(Math.floor(r * region.slots));
        expect(io.write).toBe(false);
      }),
    );
  });

  it('randrw reads --rwmix-read percent of the time; read/randread never write, write/randwrite always do', () => {
    const region: Region = { firstLba: 0, blocks: 1000, blocksPerIo: 1, slots: 1000 };
    for (const [mix, low, high] of [[0, 0, 0], [100, 1, 1], [70, 0.66, 0.74]] as const) {
      const w = new Workload('randrw', region, mix, seeded(mix + 1));
      const io = newIo();
      let reads = 0;
      for (let i = 0; i < 4000; i++) {
        w.pick(io);
        if (!io.write) reads++;
        w.release(io);
      }
      expect(reads / 4000).toBeGreaterThanOrEqual(low);
      expect(reads / 4000).toBeLessThanOrEqual(high);
    }
    for (const rw of ['read', 'randread', 'write', 'randwrite'] as const) {
      const w = new Workload(rw, region);
      const io = newIo();
      w.pick(io);
      expect(io.write).toBe(rw.includes('write'));
    }
  });
});

describe('Generations: the expected content of each LBA under --verify', () => {
  it('never written: not checked; a successful write: exactly its generation; generations count up per LBA', () => {
    const g = new Generations(1000, 4);
    expect(g.expected(1001)).toBeUndefined();
    expect(g.nextGeneration(1001)).toBe(1);
    g.writeDone(1001, 2, true);
    expect(g.expected(1001)).toEqual({ min: 1, max: 1 });
    expect(g.expected(1002)).toEqual({ min: 1, max: 1 });
    expect(g.expected(1003)).toBeUndefined();
    expect(g.nextGeneration(1001)).toBe(2);
  });

  it('a failed write leaves "old or new" until the next successful write of that LBA', () => {
    const g = new Generations(0, 1);
    g.writeDone(0, 1, true); // 1
    g.writeDone(0, 1, false); // 2 may or may not be on disk
    expect(g.expected(0)).toEqual({ min: 1, max: 2 });
    g.writeDone(0, 1, false); // 3 neither
    expect(g.expected(0)).toEqual({ min: 1, max: 3 });
    expect(g.nextGeneration(0)).toBe(4);
    g.writeDone(0, 1, true);
    expect(g.expected(0)).toEqual({ min: 4, max: 4 });
  });

  it('a failed first write leaves the block unchecked (it may still be unwritten)', () => {
    const g = new Generations(0, 1);
    g.writeDone(0, 1, false);
    expect(g.expected(0)).toBeUndefined();
  });

  it('refuses LBAs outside the region and regions too large to track, with typed errors', () => {
    const g = new Generations(10, 2);
    expect(codeOf(() => g.expected(9))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => g.writeDone(11, 2, true))).toBe('ISCSI_BAD_ARGUMENT');
    expect(codeOf(() => new Generations(0, MAX_TRACKED_BLOCKS + 1))).toBe('ISCSI_BAD_ARGUMENT');
  });
});
