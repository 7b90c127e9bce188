import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, ScsiError } from '../../src/errors.js';
import {
  decodeLun,
  decodeReadCapacity10,
  decodeReadCapacity16,
  decodeReportLuns,
  decodeReportLunsRaw,
  encodeLun,
  reportLunsLength,
} from '../../src/scsi/index.js';

const hb = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function badData(fn: () => unknown): void {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(ScsiError);
  expect((e as ScsiError).code).toBe('ISCSI_SCSI_BAD_DATA');
}

describe('LUN field — SAM-5 §4.7 single level (RFC 7143 §11.3.4)', () => {
  it('peripheral device addressing (00b) below 256', () => {
    expect(encodeLun(0)).toBe(0n);
    expect(encodeLun(5)).toBe(0x0005_0000_0000_0000n);
    expect(encodeLun(255)).toBe(0x00ff_0000_0000_0000n);
  });

  it('flat space addressing (01b) from 256 to 16383', () => {
    expect(encodeLun(256)).toBe(0x4100_0000_0000_0000n);
    expect(encodeLun(0x1234)).toBe(0x5234_0000_0000_0000n);
    expect(encodeLun(16383)).toBe(0x7fff_0000_0000_0000n);
  });

  it('encodeLun refuses anything outside 0..16383 with ArgumentError', () => {
    for (const n of [-1, 16384, 1.5, Number.NaN]) expect(thrown(() => encodeLun(n))).toBeInstanceOf(ArgumentError);
  });

  it('decodeLun reads both methods, including a small LUN sent in flat form', () => {
    expect(decodeLun(0x0007_0000_0000_0000n)).toBe(7);
    expect(decodeLun(0x4005_0000_0000_0000n)).toBe(5);
    expect(decodeLun(0x7fff_0000_0000_0000n)).toBe(16383);
  });

  it('decodeLun refuses other address methods, bus identifiers and multi-level LUNs (ScsiError), non-u64 (ArgumentError)', () => {
    badData(() => decodeLun(0xc101_0000_0000_0000n)); // REPORT LUNS well known LUN (extended addressing)
    badData(() => decodeLun(0x8001_0000_0000_0000n)); // logical unit addressing
    badData(() => decodeLun(0x0105_0000_0000_0000n)); // peripheral, bus identifier 1
    badData(() => decodeLun(0x0001_0002_0000_0000n)); // second level present
    expect(thrown(() => decodeLun(-1n))).toBeInstanceOf(ArgumentError);
    expect(thrown(() => decodeLun(1n << 64n))).toBeInstanceOf(ArgumentError);
  });

  it('property: decodeLun(encodeLun(n)) === n for every single-level LUN', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 16383 }), (n) => {
      expect(decodeLun(encodeLun(n))).toBe(n);
    }), { numRuns: 1000 });
  });
});

describe('REPORT LUNS data — SPC-4 §6.33.2', () => {
  const data = hb(`00000018 00000000
                   0000000000000000
                   0001000000000000
                   4101000000000000`);

  it('decodes LUN LIST LENGTH then 8-byte LUNs', () => {
    expect(decodeReportLuns(data)).toEqual([0, 1, 257]);
    expect(decodeReportLunsRaw(data)).toEqual([0n, 0x0001_0000_0000_0000n, 0x4101_0000_0000_0000n]);
    expect(reportLunsLength(data)).toBe(32);
  });

  it('an empty list decodes to []', () => {
    expect(decodeReportLuns(hb('00000000 00000000'))).toEqual([]);
  });

  it('a list longer than the data received is truncated (re-issue with reportLunsLength bytes)', () => {
    const short = data.subarray(0, 24);
    badData(() => decodeReportLuns(short));
    expect(reportLunsLength(short)).toBe(32);
  });

  it('a list length that is not a multiple of 8, or data shorter than the header, is bad data', () => {
    badData(() => decodeReportLuns(hb('00000007 00000000 00000000000000')));
    badData(() => decodeReportLuns(hb('000000')));
  });

  it('a well known LUN in the list is bad data for decodeReportLuns but kept by decodeReportLunsRaw', () => {
    const wlun = hb('00000008 00000000 c101000000000000');
    badData(() => decodeReportLuns(wlun));
    expect(decodeReportLunsRaw(wlun)).toEqual([0xc101_0000_0000_0000n]);
  });
});

describe('READ CAPACITY data — SBC-3 §5.15.2, §5.16.2', () => {
  it('(10): RETURNED LOGICAL BLOCK ADDRESS and LOGICAL BLOCK LENGTH IN BYTES', () => {
    const c = decodeReadCapacity10(hb('001fffff 00000200'));
    expect(c).toEqual({
      lastLba: 0x1fffffn,
      blockLength: 512,
      blocks: 0x200000n,
      sizeBytes: 1n << 30n,
      needsReadCapacity16: false,
    });
  });

  it('(10): FFFFFFFFh means "use READ CAPACITY(16)"', () => {
    expect(decodeReadCapacity10(hb('ffffffff 00000200')).needsReadCapacity16).toBe(true);
  });

  it('(16): LBA, block length, P_TYPE/PROT_EN, P_I_EXPONENT/LBPPBE, LBPME/LBPRZ and LOWEST ALIGNED LBA', () => {
    const c = decodeReadCapacity16(
      hb(`00000001ffffffff 00001000 05 13 c007 ${'00'.repeat(16)}`),
    );
    expect(c).toEqual({
      lastLba: 0x1_ffff_ffffn,
      blockLength: 4096,
      blocks: 0x2_0000_0000n,
      sizeBytes: 1n << 45n,
      protection: { enabled: true, type: 3, piExponent: 1 },
      logicalBlocksPerPhysicalBlockExponent: 3,
      physicalBlockLength: 32768,
      lbpme: true,
      lbprz: true,
      lowestAlignedLba: 7,
    });
  });

  it('(16): protection disabled reports type 0 whatever P_TYPE says', () => {
    const c = decodeReadCapacity16(hb(`0000000000000fff 00000200 04 00 0000 ${'00'.repeat(16)}`));
    expect(c.protection).toEqual({ enabled: false, type: 0, piExponent: 0 });
    expect(c.lbpme).toBe(false);
    expect(c.sizeBytes).toBe(4096n * 512n);
  });

  it('truncated data is ISCSI_SCSI_BAD_DATA, never a RangeError', () => {
    badData(() => decodeReadCapacity10(hb('001fffff 000002')));
    badData(() => decodeReadCapacity16(hb('00000001ffffffff 00001000 05 13 c0')));
  });
});
