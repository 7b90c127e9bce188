/**
 * Which I/O comes next, I/O-free: sequential or uniform random offsets in a region, read/write mix, and the set of
 * slots in flight so that no two in-flight I/Os overlap (what makes `--verify`'s expectations unambiguous).
 *
 * Every I/O is `bs` bytes at a bs-aligned offset from the region's start, so the region is a row of equal "slots" and
 * two I/Os overlap exactly when they share a slot: the busy set holds slot numbers.
 */
import { ArgumentError } from '@iscsi-initiator/core';
import { MAX_TRACKED_BLOCKS } from './generations.js';
import { formatSize } from './size.js';

export const RW_MODES = ['read', 'write', 'randread', 'randwrite', 'randrw'] as const;
export type RwMode = (typeof RW_MODES)[number];

/** Largest I/O the bench issues (each worker owns one buffer of this size). */
export const MAX_BS = 64 * 1024 * 1024;
/** Default region with --verify: small enough to prefill and re-read quickly, big enough to spread writes. */
export const VERIFY_DEFAULT_SIZE = 64 * 1024 * 1024;

export function readsIn(rw: RwMode): boolean {
  return rw === 'read' || rw === 'randread' || rw === 'randrw';
}

export function writesIn(rw: RwMode): boolean {
  return rw === 'write' || rw === 'randwrite' || rw === 'randrw';
}

export interface RegionRequest {
  readonly rw: RwMode;
  /** Bytes per I/O. */
  readonly bs: number;
  readonly qd: number;
  /** The LUN's logical block length and block count (READ CAPACITY 16). */
  readonly blockLength: number;
  readonly lunBlocks: number;
  /** Region start and length in bytes; size defaults to the rest of the LUN (64 MiB at most with verify). */
  readonly offset?: number | undefined;
  readonly size?: number | undefined;
  readonly verify: boolean;
}

export interface Region {
  readonly firstLba: number;
  /** Blocks in the region: a whole number of I/Os (a size that is not is cut down to one). */
  readonly blocks: number;
  readonly blocksPerIo: number;
  readonly slots: number;
}

function bad(message: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', message);
}

/** Checks the flags against the LUN and works out the region; every refusal is an ArgumentError (exit 7). */
export function planRegion(r: RegionRequest): Region {
  const { bs, blockLength } = r;
  if (!Number.isSafeInteger(bs) || bs <= 0 || bs % blockLength !== 0) {
    throw bad(`--bs ${bs} is not a multiple of the LUN's ${blockLength}-byte blocks`);
  }
  if (bs > MAX_BS) throw bad(`--bs ${formatSize(bs)} is over the ${formatSize(MAX_BS)} limit`);
  const offset = r.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % blockLength !== 0) {
    throw bad(`--offset ${offset} is not a multiple of the LUN's ${blockLength}-byte blocks`);
  }
  const firstLba = offset / blockLength;
  if (firstLba >= r.lunBlocks) throw bad(`--offset ${formatSize(offset)} is at or past the end of the LUN (${formatSize(r.lunBlocks * blockLength)})`);
  const available = (r.lunBlocks - firstLba) * blockLength;
  let size = r.size ?? (r.verify ? Math.min(available, VERIFY_DEFAULT_SIZE) : available);
  if (!Number.isSafeInteger(size) || size <= 0) throw bad(`--size ${size} must be a positive number of bytes`);
  if (size > available) throw bad(`--size ${formatSize(size)} runs past the end of the LUN: ${formatSize(available)} from offset ${formatSize(offset)}`);
  size -= size % bs;
  const blocksPerIo = bs / blockLength;
  const slots = size / bs;
  if (slots < r.qd) {
    throw bad(`the region holds ${slots} I/Os of ${formatSize(bs)}, fewer than --qd ${r.qd} (in-flight I/Os never overlap): use a larger --size or a smaller --bs/--qd`);
  }
  const blocks = slots * blocksPerIo;
  if (r.verify && blocks > MAX_TRACKED_BLOCKS) {
    throw bad(`--verify tracks at most ${MAX_TRACKED_BLOCKS} blocks and the region has ${blocks}: use a smaller --size`);
  }
  return { firstLba, blocks, blocksPerIo, slots };
}

/** One I/O, filled in by `Workload.pick` (each worker reuses its own, so picking allocates nothing). */
export interface Io {
  write: boolean;
  slot: number;
  lba: number;
  blocks: number;
}

export function newIo(): Io {
  return { write: false, slot: -1, lba: 0, blocks: 0 };
}

/** Random tries before a linear search for a free slot (only matters when the region has few more slots than qd). */
const RANDOM_TRIES = 8;

export class Workload {
  private cursor = 0;
  private readonly busy = new Set<number>();
  private readonly sequential: boolean;

  constructor(
    readonly rw: RwMode,
    readonly region: Region,
    /** Percentage of randrw I/Os that are reads. */
    readonly rwmixRead = 50,
    private readonly random: () => number = Math.random,
  ) {
    this.sequential = rw === 'read' || rw === 'write';
  }

  get inFlight(): number {
    return this.busy.size;
  }

  /** Chooses the next I/O into `io` and marks its slot busy until `release(io)`. */
  pick(io: Io): void {
    const { slots } = this.region;
    if (this.busy.size >= slots) throw bad(`no free slot: ${this.busy.size} I/Os in flight in a region of ${slots}`);
    let slot: number;
    if (this.sequential) {
      // One sequential stream shared by all workers (fio's iodepth); skip a slot still busy after wrapping.
      slot = this.cursor;
      while (this.busy.has(slot)) slot = slot + 1 === slots ? 0 : slot + 1;
      this.cursor = slot + 1 === slots ? 0 : slot + 1;
    } else {
      slot = this.randomSlot();
      for (let i = 1; i < RANDOM_TRIES && this.busy.has(slot); i++) slot = this.randomSlot();
      while (this.busy.has(slot)) slot = slot + 1 === slots ? 0 : slot + 1;
    }
    this.busy.add(slot);
    io.slot = slot;
    io.blocks = this.region.blocksPerIo;
    io.lba = this.region.firstLba + slot * this.region.blocksPerIo;
    io.write = this.rw === 'randrw' ? this.random() * 100 >= this.rwmixRead : writesIn(this.rw);
  }

  release(io: Io): void {
    this.busy.delete(io.slot);
  }

  private randomSlot(): number {
    return Math.min(this.region.slots - 1, Math.floor(this.random() * this.region.slots));
  }
}
