import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ScsiError } from '../../src/errors.js';
import {
  decodeBlockLimits,
  decodeDeviceIdentification,
  decodeLogicalBlockProvisioning,
  decodeLun,
  decodeReadCapacity10,
  decodeReadCapacity16,
  decodeReportLuns,
  decodeSense,
  decodeStandardInquiry,
  decodeSupportedVpdPages,
  decodeUnitSerialNumber,
  describeSense,
  senseFromResponseData,
  vpdPageLength,
} from '../../src/scsi/index.js';

/** Decoders must return or throw ScsiError ISCSI_SCSI_BAD_DATA — never a RangeError or TypeError. */
function returnsOrBadData(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScsiError);
    expect((e as ScsiError).code).toBe('ISCSI_SCSI_BAD_DATA');
  }
}

const bytes = fc.uint8Array({ maxLength: 160 }).map((a) => Buffer.from(a));

/** Half the time, a VPD header that names `page` and a PAGE LENGTH that may or may not match. */
function vpdLike(page: number): fc.Arbitrary<Buffer> {
  return fc.oneof(
    bytes,
    fc.tuple(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -3, max: 3 })).map(([body, skew]) => {
      const b = Buffer.alloc(4 + body.length);
      b[1] = page;
      b.writeUInt16BE(Math.max(0, body.length + skew), 2);
      b.set(body, 4);
      return b;
    }),
  );
}

/** Sense-shaped input: a real response code first, so the walk goes deep. */
const senseLike = fc.oneof(
  bytes,
  fc.tuple(fc.constantFrom(0x70, 0x71, 0x72, 0x73, 0xf0, 0xf2), fc.uint8Array({ maxLength: 80 })).map(([rc, rest]) =>
    Buffer.concat([Buffer.of(rc), Buffer.from(rest)]),
  ),
);

const RUNS = { numRuns: 1000 };

describe('property: every SCSI decoder over arbitrary bytes returns or throws ScsiError only', () => {
  it('decodeSense / describeSense (SPC-4 §4.5)', () => {
    fc.assert(
      fc.property(senseLike, (b) =>
        returnsOrBadData(() => {
          const s = decodeSense(b);
          expect(typeof describeSense(s)).toBe('string');
        }),
      ),
      RUNS,
    );
  });

  it('senseFromResponseData (RFC 7143 §11.4.7.2)', () => {
    fc.assert(
      fc.property(
        fc.oneof(bytes, fc.tuple(fc.integer({ min: 0, max: 100 }), senseLike).map(([n, s]) => Buffer.concat([Buffer.of(n >> 8, n & 0xff), s]))),
        (b) => returnsOrBadData(() => senseFromResponseData(b)),
      ),
      RUNS,
    );
  });

  it('decodeStandardInquiry (SPC-4 §6.6.2)', () => {
    fc.assert(fc.property(bytes, (b) => returnsOrBadData(() => decodeStandardInquiry(b))), RUNS);
  });

  it('VPD pages 00h, 80h, 83h, B0h, B2h (SPC-4 §7.8, SBC-3 §6.5)', () => {
    const cases: Array<[number, (b: Buffer) => unknown]> = [
      [0x00, decodeSupportedVpdPages],
      [0x80, decodeUnitSerialNumber],
      [0x83, decodeDeviceIdentification],
      [0xb0, decodeBlockLimits],
      [0xb2, decodeLogicalBlockProvisioning],
    ];
    for (const [page, decode] of cases) {
      fc.assert(
        fc.property(vpdLike(page), (b) =>
          returnsOrBadData(() => {
            vpdPageLength(b);
            decode(b);
          }),
        ),
        RUNS,
      );
    }
  });

  it('READ CAPACITY (10)/(16) (SBC-3 §5.15.2, §5.16.2)', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        returnsOrBadData(() => decodeReadCapacity10(b));
        returnsOrBadData(() => decodeReadCapacity16(b));
      }),
      RUNS,
    );
  });

  it('REPORT LUNS (SPC-4 §6.33.2) and decodeLun (SAM-5 §4.7)', () => {
    const lunList = fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 6 }).map((luns) => {
      const b = Buffer.alloc(8 + 8 * luns.length);
      b.writeUInt32BE(8 * luns.length, 0);
      luns.forEach((l, i) => b.writeBigUInt64BE(l, 8 + 8 * i));
      return b;
    });
    fc.assert(fc.property(fc.oneof(bytes, lunList), (b) => returnsOrBadData(() => decodeReportLuns(b))), RUNS);
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (f) => returnsOrBadData(() => decodeLun(f))), RUNS);
  });
});
