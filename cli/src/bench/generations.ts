import { ArgumentError } from '@iscsi-initiator/core';

/** Bound on the blocks one verify region tracks: two u32 per block, so at most 128 MiB of expectations. */
export const MAX_TRACKED_BLOCKS = 16 * 1024 * 1024;

/**
 * What `--verify` expects each block of the region to hold: a generation range [lo, hi] per LBA.
 *
 * - lo = hi = 0: never written by this run — content unknown, not checked.
 * - lo = hi = g: the last write to this LBA (generation g) succeeded; exactly g must come back.
 * - lo < hi: some write ended in an error (a failed command, a dropped connection). It may or may not have reached
 *   the medium, so any generation from the last known-good one (lo) to the newest attempted (hi) is accepted. If
 *   lo is 0 the block may still be unwritten and is not checked until a write succeeds.
 *
 * Generations grow by one per write to an LBA (the next write uses hi + 1), so a stale block is always detected.
 * The workload never has two I/Os on one LBA in flight, which is what makes "the last write" well defined.
 */
export class Generations {
  private readonly lo: Uint32Array;
  private readonly hi: Uint32Array;

  constructor(
    /** First LBA of the region. */
    readonly firstLba: number,
    /** Blocks in the region. */
    readonly blocks: number,
  ) {
    if (!Number.isSafeInteger(blocks) || blocks < 1 || blocks > MAX_TRACKED_BLOCKS) {
      throw new ArgumentError(
        'ISCSI_BAD_ARGUMENT',
        `--verify tracks at most ${MAX_TRACKED_BLOCKS} blocks; the region has ${blocks} (use a smaller --size or a larger block size)`,
      );
    }
    this.lo = new Uint32Array(blocks);
    this.hi = new Uint32Array(blocks);
  }

  private index(lba: number, count = 1): number {
    const i = lba - this.firstLba;
    if (!(i >= 0 && i + count <= this.blocks)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `LBAs ${lba}..${lba + count - 1} are outside the verify region`);
    return i;
  }

  /** The generation the next write of `lba` carries. */
  nextGeneration(lba: number): number {
    const g = this.hi[this.index(lba)]! + 1;
    // 2^32 - 1 writes to one LBA would wrap; restart at 1 so 0 keeps meaning "never written".
    return g > 0xffff_ffff ? 1 : g;
  }

  /** Records the end of a write that carried `nextGeneration(lba)` for each of `count` blocks from `lba`. */
  writeDone(lba: number, count: number, ok: boolean): void {
    for (let i = this.index(lba, count), end = i + count; i < end; i++) {
      const g = this.hi[i]! + 1 > 0xffff_ffff ? 1 : this.hi[i]! + 1;
      this.hi[i] = g;
      if (ok) this.lo[i] = g;
    }
  }

  /** The accepted generation range of `lba`, or undefined when the block may never have been written. */
  expected(lba: number): { readonly min: number; readonly max: number } | undefined {
    const i = this.index(lba);
    const lo = this.lo[i]!;
    return lo === 0 ? undefined : { min: lo, max: this.hi[i]! };
  }

  /** Same as `expected` without allocating: lo in the result's first slot, hi in the second; lo 0 means unchecked. */
  expectedInto(lba: number, out: Uint32Array): void {
    const i = this.index(lba);
    out[0] = this.lo[i]!;
    out[1] = this.hi[i]!;
  }
}
