/**
 * Byte-level mutations of PDU streams, aware of where each PDU's header fields are (RFC 7143 §11.2.1): bit flips,
 * byte and word sets, TotalAHSLength and DataSegmentLength edits, opcode changes, truncation, duplication, deletion,
 * insertion, splicing two streams, swapping and repeating PDUs — and a digest fix-up that recomputes CRC32C after a
 * mutation, so mutated headers get past the digest check and reach the length and field checks behind it.
 */

import type { Core } from './engine.js';
import type { Rng } from './prng.js';

const BHS = 48;
const DIGEST = 4;

export interface Layout {
  readonly start: number;
  /** End of BHS + AHS. */
  readonly ahsEnd: number;
  /** End of the header digest, or ahsEnd. */
  readonly headerEnd: number;
  readonly dsl: number;
  /** Whole PDU, padding and digests included. */
  readonly total: number;
}

/** Walks PDUs the way the framer sizes them (§11.2: BHS, AHS, header digest, padded data, data digest). */
export function walk(bytes: Buffer, headerDigest: boolean, dataDigest: boolean, limit = 64): Layout[] {
  const out: Layout[] = [];
  let at = 0;
  while (at + BHS <= bytes.length && out.length < limit) {
    const ahsEnd = at + BHS + bytes[at + 4]! * 4;
    const headerEnd = ahsEnd + (headerDigest ? DIGEST : 0);
    const dsl = bytes.readUIntBE(at + 5, 3);
    const total = headerEnd - at + ((dsl + 3) & ~3) + (dataDigest && dsl > 0 ? DIGEST : 0);
    out.push({ start: at, ahsEnd, headerEnd, dsl, total });
    at += total;
  }
  return out;
}

/** Recomputes header and data digests wherever the (possibly mutated) stream has room for them. */
export function fixDigests(core: Core, bytes: Buffer, headerDigest: boolean, dataDigest: boolean): Buffer {
  if (!headerDigest && !dataDigest) return bytes;
  const b = Buffer.from(bytes);
  for (const p of walk(b, headerDigest, dataDigest)) {
    if (headerDigest && p.headerEnd <= b.length) core.writeDigest(core.crc32c(b.subarray(p.start, p.ahsEnd)), b, p.ahsEnd);
    const padded = (p.dsl + 3) & ~3;
    const digestAt = p.headerEnd + padded;
    if (dataDigest && p.dsl > 0 && digestAt + DIGEST <= b.length) core.writeDigest(core.crc32c(b.subarray(p.headerEnd, digestAt)), b, digestAt);
  }
  return b;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xfe, 0xff];

function pickPdu(r: Rng, layout: readonly Layout[]): Layout | undefined {
  return layout.length === 0 ? undefined : r.pick(layout);
}

/** A DataSegmentLength worth trying for a PDU whose real length is `dsl`, under receive limit `mrdsl`. */
function interestingLength(r: Rng, dsl: number, mrdsl: number): number {
  const v = r.pick([
    0, 1, 3, 4, 5, dsl + 1, dsl - 1, dsl + 3, dsl + 4, dsl - 4, dsl * 2, mrdsl, mrdsl + 1, mrdsl - 1, 0xffffff, 0x800000, r.int(0x1000000), r.int(2048),
  ]);
  return Math.min(0xffffff, Math.max(0, v));
}

export type MutationName =
  | 'flip'
  | 'flip-header'
  | 'byte'
  | 'word'
  | 'ahs-length'
  | 'data-length'
  | 'opcode'
  | 'flags'
  | 'truncate'
  | 'duplicate'
  | 'delete'
  | 'insert'
  | 'splice'
  | 'swap'
  | 'repeat';

/**
 * Applies one mutation to a stream (never in place). `other` is a second stream for splicing; `mrdsl` steers length
 * edits to the receiver's limit and just past it.
 */
export function mutateStream(
  r: Rng,
  input: Buffer,
  ctx: { headerDigest: boolean; dataDigest: boolean; mrdsl: number; other?: Buffer | undefined },
  forced?: MutationName,
): { bytes: Buffer; name: MutationName } {
  const b = Buffer.from(input);
  const layout = walk(b, ctx.headerDigest, ctx.dataDigest);
  const name: MutationName =
    forced ??
    r.weighted<MutationName>([
      [6, 'flip'],
      [8, 'flip-header'],
      [4, 'byte'],
      [5, 'word'],
      [4, 'ahs-length'],
      [7, 'data-length'],
      [3, 'opcode'],
      [3, 'flags'],
      [4, 'truncate'],
      [3, 'duplicate'],
      [2, 'delete'],
      [2, 'insert'],
      [3, 'splice'],
      [2, 'swap'],
      [1, 'repeat'],
    ]);
  if (b.length === 0) return { bytes: r.bytes(r.int(64)), name: 'insert' };
  const p = pickPdu(r, layout);
  switch (name) {
    case 'flip': {
      const i = r.int(b.length);
      b[i] = b[i]! ^ (1 << r.int(8));
      return { bytes: b, name };
    }
    case 'flip-header': {
      const start = p?.start ?? 0;
      const i = Math.min(b.length - 1, start + r.int(BHS));
      b[i] = b[i]! ^ (1 << r.int(8));
      return { bytes: b, name };
    }
    case 'byte': {
      const i = p !== undefined && r.bool(0.7) ? Math.min(b.length - 1, p.start + r.int(BHS)) : r.int(b.length);
      b[i] = r.bool(0.7) ? r.pick(INTERESTING_BYTES) : r.int(256);
      return { bytes: b, name };
    }
    case 'word': {
      // A 32-bit field of the BHS: tags, sequence numbers, offsets, lengths (§11.2.1 and per opcode).
      const start = p?.start ?? 0;
      const at = start + 4 * r.range(2, 11);
      if (at + 4 <= b.length) b.writeUInt32BE(r.interestingU32(), at);
      return { bytes: b, name };
    }
    case 'ahs-length': {
      const start = p?.start ?? 0;
      if (start + 4 < b.length) b[start + 4] = r.pick([0, 1, 2, 4, 5, 8, 0x7f, 0xfe, 0xff, (b[start + 4]! + 1) & 0xff, r.int(256)]);
      return { bytes: b, name };
    }
    case 'data-length': {
      const start = p?.start ?? 0;
      if (start + 8 <= b.length) b.writeUIntBE(interestingLength(r, p?.dsl ?? 0, ctx.mrdsl), start + 5, 3);
      return { bytes: b, name };
    }
    case 'opcode': {
      const start = p?.start ?? 0;
      const op = r.bool(0.7) ? r.pick([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f]) : r.int(64);
      b[start] = op | (r.bool(0.2) ? 0x40 : 0) | (r.bool(0.05) ? 0x80 : 0);
      return { bytes: b, name };
    }
    case 'flags': {
      const start = p?.start ?? 0;
      if (start + 1 < b.length) b[start + 1] = r.bool(0.5) ? b[start + 1]! ^ (1 << r.int(8)) : r.int(256);
      return { bytes: b, name };
    }
    case 'truncate': {
      const end = p !== undefined && r.bool(0.5) ? Math.max(0, Math.min(b.length, p.start + p.total - r.range(1, 8))) : r.int(b.length);
      return { bytes: b.subarray(0, end), name };
    }
    case 'duplicate': {
      const from = p !== undefined && r.bool(0.6) ? p.start : r.int(b.length);
      const to = p !== undefined && from === p.start ? Math.min(b.length, p.start + p.total) : Math.min(b.length, from + r.range(1, 128));
      const at = r.int(b.length + 1);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(from, to), b.subarray(at)]), name };
    }
    case 'delete': {
      const from = r.int(b.length);
      const to = Math.min(b.length, from + r.range(1, 64));
      return { bytes: Buffer.concat([b.subarray(0, from), b.subarray(to)]), name };
    }
    case 'insert': {
      const at = r.int(b.length + 1);
      return { bytes: Buffer.concat([b.subarray(0, at), r.bytes(r.range(1, 64)), b.subarray(at)]), name };
    }
    case 'splice': {
      const other = ctx.other ?? r.bytes(r.range(1, 200));
      const at = r.bool(0.5) && p !== undefined ? p.start : r.int(b.length + 1);
      const from = r.int(other.length + 1);
      return { bytes: Buffer.concat([b.subarray(0, at), other.subarray(from)]), name };
    }
    case 'swap': {
      if (layout.length < 2) return mutateStream(r, input, ctx, 'flip-header');
      const i = r.int(layout.length - 1);
      const a = layout[i]!;
      const c = layout[i + 1]!;
      const end = Math.min(b.length, c.start + c.total);
      return { bytes: Buffer.concat([b.subarray(0, a.start), b.subarray(c.start, end), b.subarray(a.start, c.start), b.subarray(end)]), name };
    }
    case 'repeat': {
      if (p === undefined) return mutateStream(r, input, ctx, 'insert');
      const one = b.subarray(p.start, Math.min(b.length, p.start + p.total));
      const copies = Array.from({ length: r.range(2, 40) }, () => one);
      return { bytes: Buffer.concat([b.subarray(0, p.start), ...copies, b.subarray(p.start)]), name };
    }
  }
}

/**
 * Cut points for delivering `length` bytes in chunks: none (one chunk), a few random ones, cuts at and around PDU
 * boundaries and inside the 48-byte BHS, or (for short input) every byte.
 */
export function randomCuts(r: Rng, length: number, layout: readonly Layout[]): number[] {
  if (length < 2) return [];
  const kind = r.weighted<'one' | 'random' | 'boundaries' | 'bytes'>([
    [2, 'one'],
    [5, 'random'],
    [3, 'boundaries'],
    [length <= 600 ? 1 : 0, 'bytes'],
  ]);
  const cuts = new Set<number>();
  switch (kind) {
    case 'one':
      break;
    case 'random':
      for (let n = r.range(1, 12); n > 0; n--) cuts.add(r.range(1, length - 1));
      break;
    case 'boundaries':
      for (const p of layout) {
        for (const d of [0, 1, 4, BHS - 1, BHS, BHS + 1, p.headerEnd - p.start, p.total - 1, p.total - 4]) {
          if (r.bool(0.4)) cuts.add(p.start + d);
        }
      }
      break;
    case 'bytes':
      for (let i = 1; i < length; i++) cuts.add(i);
      break;
  }
  return [...cuts].filter((c) => c > 0 && c < length).sort((a, b) => a - b);
}

export function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}
