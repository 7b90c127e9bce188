/**
 * The self-describing block `lun bench --verify` writes, so any block read back can be checked on its own:
 *
 *   [0..8)    magic, ASCII "iSCSIvfy"
 *   [8..16)   the block's own LBA, u64 big-endian (catches misdirected writes and reads)
 *   [16..20)  generation, u32 big-endian: how many times the bench has written this LBA (catches lost/stale writes)
 *   [20..24)  CRC32C (core's crc32c) of bytes [0..20) and [24..end), u32 big-endian (catches torn or flipped bytes)
 *   [24..end) payload: an xorshift32 stream seeded from (LBA, generation), u32 little-endian words (catches a block
 *             whose header and checksum were forged consistently but whose data is not what that write carried)
 *
 * Everything here works in place on a caller's buffer: nothing is allocated per block except a report on mismatch.
 */
import { endianness } from 'node:os';
import { ArgumentError, crc32c } from '@iscsi-initiator/core';

export const PATTERN_MAGIC = Buffer.from('iSCSIvfy', 'latin1');
export const PATTERN_HEADER_LENGTH = 24;
const MAGIC_HI = PATTERN_MAGIC.readUInt32BE(0);
const MAGIC_LO = PATTERN_MAGIC.readUInt32BE(4);
const TWO_32 = 2 ** 32;

export type MismatchKind = 'magic' | 'checksum' | 'lba' | 'generation' | 'payload';

/** What was wrong with one block; `offset` is the byte within the block where the difference starts. */
export interface Mismatch {
  readonly lba: number;
  readonly kind: MismatchKind;
  readonly expected: string;
  readonly found: string;
  readonly offset: number;
}

/** Block sizes the pattern fits: a header plus whole 32-bit payload words (every SCSI block size qualifies). */
export function checkPatternBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 64 || blockSize % 4 !== 0) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `--verify needs a block size that is a multiple of 4 and at least 64 bytes, not ${blockSize}`);
  }
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The payload stream's seed for (LBA, generation); never 0, the one state xorshift cannot leave. */
function seedFor(lba: number, generation: number): number {
  const lo = lba >>> 0;
  const hi = Math.floor(lba / TWO_32) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ fmix32((generation + 0x9e3779b9) >>> 0))) || 0x6d2b79f5;
}

/**
 * A Uint32Array over the buffer's memory when payload words can be accessed natively: a little-endian machine and a
 * 4-byte aligned block. Several times faster than readUInt32LE/writeUInt32LE; cached per ArrayBuffer, as the bench
 * reuses its buffers.
 */
const LITTLE_ENDIAN = endianness() === 'LE';
const wordViews = new WeakMap<ArrayBufferLike, Uint32Array>();

function wordsOf(buf: Buffer, at: number): Uint32Array | undefined {
  if (!LITTLE_ENDIAN || ((buf.byteOffset + at) & 3) !== 0) return undefined;
  let view = wordViews.get(buf.buffer);
  if (view === undefined) {
    view = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
    wordViews.set(buf.buffer, view);
  }
  return view;
}

function checksum(buf: Buffer, at: number, blockSize: number): number {
  return crc32c(buf.subarray(at, at + 20), buf.subarray(at + PATTERN_HEADER_LENGTH, at + blockSize));
}

/** Writes the pattern block for (lba, generation) into buf[at, at + blockSize). */
export function encodeBlock(buf: Buffer, at: number, blockSize: number, lba: number, generation: number): void {
  buf.writeUInt32BE(MAGIC_HI, at);
  buf.writeUInt32BE(MAGIC_LO, at + 4);
  buf.writeUInt32BE(Math.floor(lba / TWO_32) >>> 0, at + 8);
  buf.writeUInt32BE(lba >>> 0, at + 12);
  buf.writeUInt32BE(generation >>> 0, at + 16);
  let x = seedFor(lba, generation);
  const words = wordsOf(buf, at);
  if (words) {
    for (let w = (buf.byteOffset + at + PATTERN_HEADER_LENGTH) >>> 2, end = (buf.byteOffset + at + blockSize) >>> 2; w < end; w++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[w] = x;
    }
  } else {
    for (let i = at + PATTERN_HEADER_LENGTH, end = at + blockSize; i < end; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf.writeUInt32LE(x >>> 0, i);
    }
  }
  buf.writeUInt32BE(checksum(buf, at, blockSize), at + 20);
}

/** The LBA a pattern header names (undefined if the magic is absent), for reports about misplaced blocks. */
export function headerLba(buf: Buffer, at: number): number | undefined {
  if (buf.readUInt32BE(at) !== MAGIC_HI || buf.readUInt32BE(at + 4) !== MAGIC_LO) return undefined;
  return buf.readUInt32BE(at + 8) * TWO_32 + buf.readUInt32BE(at + 12);
}

/**
 * Checks buf[at, at + blockSize) is the pattern block of `lba` with a generation in [minGeneration, maxGeneration]
 * (a range because a write whose command failed may or may not have reached the medium). Checks run from the most
 * basic fact to the most specific, and the first failure is reported.
 */
export function checkBlock(
  buf: Buffer,
  at: number,
  blockSize: number,
  lba: number,
  minGeneration: number,
  maxGeneration: number,
): Mismatch | undefined {
  if (buf.readUInt32BE(at) !== MAGIC_HI || buf.readUInt32BE(at + 4) !== MAGIC_LO) {
    return { lba, kind: 'magic', expected: PATTERN_MAGIC.toString('hex'), found: buf.toString('hex', at, at + 8), offset: 0 };
  }
  const stored = buf.readUInt32BE(at + 20);
  const computed = checksum(buf, at, blockSize);
  if (stored !== computed) {
    return { lba, kind: 'checksum', expected: hex32(computed), found: hex32(stored), offset: 20 };
  }
  const foundLba = buf.readUInt32BE(at + 8) * TWO_32 + buf.readUInt32BE(at + 12);
  if (foundLba !== lba) return { lba, kind: 'lba', expected: String(lba), found: String(foundLba), offset: 8 };
  const generation = buf.readUInt32BE(at + 16);
  if (generation < minGeneration || generation > maxGeneration) {
    const expected = minGeneration === maxGeneration ? String(minGeneration) : `${minGeneration}..${maxGeneration}`;
    return { lba, kind: 'generation', expected, found: String(generation), offset: 16 };
  }
  let x = seedFor(lba, generation);
  const words = wordsOf(buf, at);
  for (let i = at + PATTERN_HEADER_LENGTH, end = at + blockSize; i < end; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const word = words ? words[(buf.byteOffset + i) >>> 2]! : buf.readUInt32LE(i);
    if (word !== x >>> 0) return { lba, kind: 'payload', expected: hex32(x >>> 0), found: hex32(word), offset: i - at };
  }
  return undefined;
}

/** One line for a person: what was expected at which LBA and what was there. */
export function describeMismatch(m: Mismatch): string {
  const what: Record<MismatchKind, string> = {
    magic: 'no verify header (never written by the bench, or overwritten)',
    checksum: 'checksum mismatch (torn or corrupted block)',
    lba: 'block belongs to another LBA (misdirected write or read)',
    generation: 'stale or unexpected generation (lost or misordered write)',
    payload: 'payload differs from its header',
  };
  return `LBA ${m.lba}: ${what[m.kind]}: expected ${m.expected}, found ${m.found} at byte ${m.offset}`;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
