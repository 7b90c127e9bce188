// The --verify block pattern: what one block read back can prove on its own (magic, LBA, generation, CRC32C, payload).
import fc from 'fast-check';
import { crc32c, isIscsiError } from '@iscsi-initiator/core';
import { describe, expect, it } from 'vitest';
import { checkBlock, checkPatternBlockSize, describeMismatch, encodeBlock, headerLba, PATTERN_HEADER_LENGTH } from '../../src/bench/pattern.js';

const blockSizes = fc.constantFrom(512, 520, 1024, 4096);
const lbas = fc.oneof(fc.nat({ max: 1 << 20 }), fc.constantFrom(0, 0xffff_ffff, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER));
const generations = fc.integer({ min: 1, max: 0xffff_ffff });

/** An encoded block at `at`; `shift` moves the whole buffer off 4-byte alignment (the byte-wise path). */
function block(bs: number, lba: number, gen: number, at = 0, shift = 0): Buffer {
  const buf = Buffer.alloc(shift + at + bs).subarray(shift);
  encodeBlock(buf, at, bs, lba, gen);
  return buf;
}

/** Recomputes the checksum after a deliberate edit, so only the deeper check can catch the forgery. */
function reseal(buf: Buffer, at: number, bs: number): void {
  buf.writeUInt32BE(crc32c(buf.subarray(at, at + 20), buf.subarray(at + PATTERN_HEADER_LENGTH, at + bs)), at + 20);
}

describe('verify pattern', () => {
  it('round trip: an encoded block checks clean at any offset in a buffer, aligned or not, for any LBA and generation', () => {
    fc.assert(
      fc.property(blockSizes, lbas, generations, fc.nat({ max: 3 }), fc.nat({ max: 3 }), (bs, lba, gen, k, shift) => {
        const buf = block(bs, lba, gen, k * bs, shift);
        expect(checkBlock(buf, k * bs, bs, lba, gen, gen)).toBeUndefined();
        expect(headerLba(buf, k * bs)).toBe(lba);
        // The same bytes whatever the alignment: a block written through one path reads back through the other.
        const other = Buffer.alloc(bs + 1).subarray(shift === 0 ? 1 : 0, (shift === 0 ? 1 : 0) + bs);
        buf.copy(other, 0, k * bs, k * bs + bs);
        expect(checkBlock(other, 0, bs, lba, gen, gen)).toBeUndefined();
        expect(other.equals(block(bs, lba, gen, 0, shift === 0 ? 1 : 0))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the payload depends on LBA and generation (two writes of one LBA differ beyond the header)', () => {
    const a = block(512, 10, 1).subarray(PATTERN_HEADER_LENGTH);
    const b = block(512, 10, 2).subarray(PATTERN_HEADER_LENGTH);
    const c = block(512, 11, 1).subarray(PATTERN_HEADER_LENGTH);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(c)).toBe(false);
  });

  it('any single flipped bit anywhere in the block is detected', () => {
    fc.assert(
      fc.property(blockSizes, lbas, generations, fc.nat(), fc.integer({ min: 0, max: 7 }), (bs, lba, gen, byte, bit) => {
        const buf = block(bs, lba, gen);
        const at = byte % bs;
        buf[at] = buf[at]! ^ (1 << bit);
        const m = checkBlock(buf, 0, bs, lba, gen, gen);
        expect(m).toBeDefined();
        expect(m!.kind).toBe(at < 8 ? 'magic' : 'checksum');
      }),
      { numRuns: 1000 },
    );
  });

  it('kind "magic": a block never written by the bench (zeros, or random data)', () => {
    expect(checkBlock(Buffer.alloc(512), 0, 512, 5, 1, 1)).toMatchObject({ kind: 'magic', lba: 5, offset: 0 });
    expect(checkBlock(Buffer.alloc(512, 0xa5), 0, 512, 5, 1, 1)?.kind).toBe('magic');
  });

  it('kind "lba": an intact block of another LBA (a misdirected write or read)', () => {
    fc.assert(
      fc.property(lbas, lbas, generations, (written, expected, gen) => {
        fc.pre(written !== expected);
        const m = checkBlock(block(512, written, gen), 0, 512, expected, gen, gen);
        expect(m).toMatchObject({ kind: 'lba', expected: String(expected), found: String(written) });
      }),
    );
  });

  it('kind "generation": an intact but stale (or future) block; the accepted range is inclusive', () => {
    fc.assert(
      fc.property(generations, generations, generations, (g, lo, hi) => {
        const [min, max] = lo <= hi ? [lo, hi] : [hi, lo];
        const m = checkBlock(block(512, 77, g), 0, 512, 77, min, max);
        if (g >= min && g <= max) expect(m).toBeUndefined();
        else expect(m).toMatchObject({ kind: 'generation', found: String(g), expected: min === max ? String(min) : `${min}..${max}` });
      }),
      { numRuns: 500 },
    );
  });

  it('kind "payload": header and checksum forged consistently over data that is not what that write carried', () => {
    fc.assert(
      fc.property(blockSizes, lbas, generations, fc.nat(), (bs, lba, gen, word) => {
        const buf = block(bs, lba, gen);
        const at = PATTERN_HEADER_LENGTH + 4 * (word % ((bs - PATTERN_HEADER_LENGTH) / 4));
        buf.writeUInt32LE((buf.readUInt32LE(at) ^ 0x0100_0001) >>> 0, at);
        reseal(buf, 0, bs);
        expect(checkBlock(buf, 0, bs, lba, gen, gen)).toMatchObject({ kind: 'payload', offset: at });
      }),
    );
    // The whole payload of another generation under this block's header: the same detection.
    const buf = block(512, 3, 2);
    block(512, 3, 1).copy(buf, PATTERN_HEADER_LENGTH, PATTERN_HEADER_LENGTH);
    reseal(buf, 0, 512);
    expect(checkBlock(buf, 0, 512, 3, 2, 2)?.kind).toBe('payload');
  });

  it('kind "checksum": a torn block (the first half of one write, the second half of another)', () => {
    const torn = block(4096, 9, 1);
    block(4096, 9, 2).copy(torn, 2048, 2048);
    expect(checkBlock(torn, 0, 4096, 9, 1, 2)?.kind).toBe('checksum');
  });

  it('describes a mismatch in one line that names the LBA and both values', () => {
    const m = checkBlock(block(512, 1, 1), 0, 512, 2, 1, 1)!;
    const line = describeMismatch(m);
    expect(line).not.toContain('\n');
    expect(line).toMatch(/^LBA 2: .*expected 2, found 1/);
  });

  it('refuses block sizes the pattern cannot fill with a typed error', () => {
    for (const bs of [0, 32, 514, 1.5]) {
      let thrown: unknown;
      try {
        checkPatternBlockSize(bs);
      } catch (e) {
        thrown = e;
      }
      expect(isIscsiError(thrown) && thrown.code).toBe('ISCSI_BAD_ARGUMENT');
    }
    expect(() => checkPatternBlockSize(512)).not.toThrow();
  });
});
