import { describe, expect, test } from 'vitest';
import { crc32c, readDigest, writeDigest } from '../../src/pdu/digest.js';
import { parseHex } from './fixtures.js';

const bytes = (n: number, f: (i: number) => number) => Buffer.from(Array.from({ length: n }, (_, i) => f(i)));

// RFC 3720 appendix B.4 (carried into RFC 7143 by reference from §13.1): CRC32C examples.
const VECTORS: ReadonlyArray<{ name: string; input: Buffer; crc: number; wire: string }> = [
  { name: '32 bytes of zeroes', input: Buffer.alloc(32), crc: 0x8a9136aa, wire: 'aa 36 91 8a' },
  { name: '32 bytes of ones', input: Buffer.alloc(32, 0xff), crc: 0x62a8ab43, wire: '43 ab a8 62' },
  { name: '32 bytes of incrementing 00..1f', input: bytes(32, (i) => i), crc: 0x46dd794e, wire: '4e 79 dd 46' },
  { name: '32 bytes of decrementing 1f..00', input: bytes(32, (i) => 31 - i), crc: 0x113fdb5c, wire: '5c db 3f 11' },
  {
    name: 'an iSCSI - SCSI Read (10) Command PDU',
    input: parseHex(`
      01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
      14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
      28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`),
    crc: 0xd9963a56,
    wire: '56 3a 96 d9',
  },
];

describe('CRC32C (RFC 3720 B.4 examples)', () => {
  for (const v of VECTORS) {
    test(`${v.name} → 0x${v.crc.toString(16)}`, () => {
      expect(crc32c(v.input)).toBe(v.crc);
    });

    test(`${v.name}: the digest goes on the wire as the bytes "${v.wire}" (B.4 lists CRC results as bytes)`, () => {
      const out = Buffer.alloc(6, 0xee);
      writeDigest(crc32c(v.input), out, 1);
      expect(out.subarray(1, 5)).toEqual(parseHex(v.wire));
      expect(out[0]).toBe(0xee);
      expect(out[5]).toBe(0xee);
      expect(readDigest(out, 1)).toBe(v.crc);
    });
  }

  test('chained over several buffers equals the CRC of their concatenation (data + padding, §13.1)', () => {
    const whole = bytes(100, (i) => (i * 7) & 0xff);
    expect(crc32c(whole.subarray(0, 13), whole.subarray(13, 14), Buffer.alloc(0), whole.subarray(14))).toBe(crc32c(whole));
    expect(crc32c()).toBe(0);
  });

  test('the CRC is returned as an unsigned 32-bit number', () => {
    const v = crc32c(Buffer.alloc(32)); // 0x8a9136aa has the top bit set
    expect(v).toBeGreaterThan(0x7fffffff);
    expect(Number.isInteger(v)).toBe(true);
  });
});
