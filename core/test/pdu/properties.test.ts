import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { BHS_LENGTH, decodePdu, encodePduToBuffer } from '../../src/pdu/codec.js';
import { PduFramer, type FramerOptions } from '../../src/pdu/framer.js';
import { Opcode, type Pdu } from '../../src/pdu/types.js';
import { BY_OPCODE, anyPdu, chunked, cuts, digests } from './arbitraries.js';

const MRDSL = 0xffffff;

/** Pushes every chunk, then empty pushes to step past a login pause (see framer.ts), collecting all PDUs. */
function run(framer: PduFramer, chunks: readonly Buffer[]): Pdu[] {
  const out = chunks.flatMap((c) => framer.push(c));
  for (let more = framer.push(Buffer.alloc(0)); more.length > 0; more = framer.push(Buffer.alloc(0))) out.push(...more);
  return out;
}

/** Feeds bytes; anything thrown must be a ProtocolError. Returns what came out, for extra checks. */
function feedExpectingOnlyProtocolErrors(options: Partial<FramerOptions>, chunks: readonly Buffer[]): { pdus: Pdu[]; error?: ProtocolError } {
  const framer = new PduFramer(options);
  const pdus: Pdu[] = [];
  try {
    pdus.push(...run(framer, chunks));
  } catch (e) {
    if (!(e instanceof ProtocolError)) {
      // Keep the reproducer: paste this hex into core/test/fixtures/pdu/crashers/.
      throw new Error(`non-ProtocolError ${String(e)} for options ${JSON.stringify(options)} input ${Buffer.concat(chunks).toString('hex')}`, { cause: e });
    }
    // A failed framer stays failed.
    expect(() => framer.push(Buffer.alloc(1))).toThrow(e);
    return { pdus, error: e };
  }
  return { pdus };
}

const framerOptions: fc.Arbitrary<Partial<FramerOptions>> = fc.record({
  headerDigest: fc.boolean(),
  dataDigest: fc.boolean(),
  accept: fc.constantFrom<FramerOptions['accept']>('target', 'initiator', 'any'),
  maxRecvDataSegmentLength: fc.constantFrom(512, 8192, MRDSL),
});

describe('property 1: decode(encode(p)) == p for every opcode (RFC 7143 §11 layouts are bijective on valid fields)', () => {
  for (const [name, arb] of BY_OPCODE) {
    test(name, () => {
      fc.assert(
        fc.property(arb, digests, (pdu, d) => {
          const wire = encodePduToBuffer(pdu, d);
          // Through the framer (digests verified) ...
          expect(new PduFramer({ ...d, accept: 'any', maxRecvDataSegmentLength: MRDSL }).push(wire)).toStrictEqual([pdu]);
          // ... and through decodePdu on the parts.
          const ahsEnd = BHS_LENGTH + wire[4]! * 4;
          const dataStart = ahsEnd + (d.headerDigest ? 4 : 0);
          const dsl = wire.readUIntBE(5, 3);
          expect(decodePdu(wire.subarray(0, BHS_LENGTH), wire.subarray(BHS_LENGTH, ahsEnd), wire.subarray(dataStart, dataStart + dsl))).toStrictEqual(pdu);
          // §11.2.4: whole PDUs are a multiple of 4 bytes.
          expect(wire.length % 4).toBe(0);
        }),
        { numRuns: 300 },
      );
    });
  }

  test('a stream of PDUs cut at arbitrary points comes out whole and in order', () => {
    fc.assert(
      fc.property(
        digests,
        fc.array(anyPdu, { minLength: 1, maxLength: 6 }).chain((pdus) => {
          const total = pdus.reduce((n, p) => n + encodePduToBuffer(p, { headerDigest: true, dataDigest: true }).length, 0);
          return fc.tuple(fc.constant(pdus), cuts(total));
        }),
        (d, [pdus, at]) => {
          const stream = Buffer.concat(pdus.map((p) => encodePduToBuffer(p, d)));
          const framer = new PduFramer({ ...d, accept: 'any', maxRecvDataSegmentLength: MRDSL });
          expect(run(framer, chunked(stream, at.filter((c) => c < stream.length)))).toStrictEqual(pdus);
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** 48 bytes that look like a BHS (known opcode, small AHS and data lengths) so soup gets past the first checks. */
const plausibleBhs = fc
  .tuple(
    fc.constantFrom(...Object.values(Opcode)),
    fc.boolean(),
    fc.uint8Array({ minLength: 48, maxLength: 48 }),
    fc.integer({ min: 0, max: 4 }),
    fc.integer({ min: 0, max: 300 }),
  )
  .map(([opcode, immediate, body, ahsWords, dsl]) => {
    const b = Buffer.from(body);
    b[0] = opcode | (immediate ? 0x40 : 0);
    b[4] = ahsWords;
    b.writeUIntBE(dsl, 5, 3);
    return b;
  });

const soup = fc
  .array(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), plausibleBhs), { maxLength: 8 })
  .map((parts) => Buffer.concat(parts));

describe('property 2: arbitrary byte soup, chunked arbitrarily, yields PDUs or a ProtocolError — nothing else', () => {
  test('random bytes and plausible headers', () => {
    fc.assert(
      fc.property(
        framerOptions,
        soup.chain((s) => fc.tuple(fc.constant(s), cuts(s.length))),
        (options, [bytes, at]) => {
          feedExpectingOnlyProtocolErrors(options, chunked(bytes, at));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('decodePdu on arbitrary parts throws only ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.oneof(plausibleBhs, fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a))),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        (bhs, ahs, data, consistent) => {
          // Half the time make the AHS and data lengths agree with the header, to reach the per-opcode decoders.
          const a = consistent && bhs.length >= 48 ? Buffer.alloc(bhs[4]! * 4, Buffer.from(ahs.length ? ahs : [0])) : Buffer.from(ahs);
          const d = consistent && bhs.length >= 48 ? Buffer.alloc(bhs.readUIntBE(5, 3)) : Buffer.from(data);
          try {
            decodePdu(bhs, a, d);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('ahs-length' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('data-length' as const), value: fc.integer({ min: 0, max: 0xffffff }) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(wire: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(wire);
  for (const m of mutations) {
    if (b.length === 0) break;
    switch (m.kind) {
      case 'flip':
        b[m.at % b.length] = b[m.at % b.length]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, m.at % b.length);
        break;
      case 'ahs-length':
        if (b.length > 4) b[4] = m.value;
        break;
      case 'data-length':
        if (b.length >= 8) b.writeUIntBE(m.value, 5, 3);
        break;
      case 'byte':
        b[m.at % b.length] = m.value;
        break;
    }
  }
  return b;
}

describe('property 3: mutated valid PDUs (bit flips, truncation, length bytes) → PDUs or ProtocolError only', () => {
  test('mutations of one PDU, with the same or different framer settings', () => {
    fc.assert(
      fc.property(
        anyPdu,
        digests,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        framerOptions,
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 5 }),
        (pdu, d, mutations, options, sameSettings, at) => {
          const wire = mutate(encodePduToBuffer(pdu, d), mutations);
          const opts = sameSettings ? { ...options, ...d, accept: 'any' as const, maxRecvDataSegmentLength: MRDSL } : options;
          const sorted = [...new Set(at)].filter((c) => c < wire.length).sort((x, y) => x - y);
          feedExpectingOnlyProtocolErrors(opts, chunked(wire, sorted));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('with digests on, any single bit flip is caught: a digest error or another ProtocolError, never a wrong PDU', () => {
    fc.assert(
      fc.property(anyPdu, fc.nat(), fc.integer({ min: 0, max: 7 }), (pdu, at, bit) => {
        const d = { headerDigest: true, dataDigest: true };
        const wire = Buffer.from(encodePduToBuffer(pdu, d));
        const i = at % wire.length;
        wire[i] = wire[i]! ^ (1 << bit);
        // Trailing zeros let a header whose TotalAHSLength was bumped up still complete (AHS ≤ 1020 bytes).
        const { pdus, error } = feedExpectingOnlyProtocolErrors({ ...d, accept: 'any', maxRecvDataSegmentLength: 65536 }, [wire, Buffer.alloc(2048)]);
        expect(pdus).not.toContainEqual(pdu);
        if (pdus.length > 0) expect.unreachable(`a corrupted PDU was accepted: ${wire.toString('hex')}`);
        // CRC32C detects every single-bit error, and every byte is under a digest (BHS, AHS, data, padding, digests).
        expect(error?.code).toMatch(/^ISCSI_PDU_(HEADER|DATA)_DIGEST$/);
      }),
      { numRuns: 1000 },
    );
  });
});
