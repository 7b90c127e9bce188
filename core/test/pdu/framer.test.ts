import { describe, expect, test } from 'vitest';
import { ArgumentError, ProtocolError, type IscsiErrorCode } from '../../src/errors.js';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { crc32c, writeDigest, type DigestOptions } from '../../src/pdu/digest.js';
import { PduFramer } from '../../src/pdu/framer.js';
import { Opcode, type LoginResponse, type NopIn, type Pdu } from '../../src/pdu/types.js';
import { GOLDEN, readHex } from './fixtures.js';

const OFF: DigestOptions = { headerDigest: false, dataDigest: false };
const ON: DigestOptions = { headerDigest: true, dataDigest: true };

function framerFor(digests: DigestOptions, extra: Partial<ConstructorParameters<typeof PduFramer>[0]> = {}): PduFramer {
  return new PduFramer({ ...digests, accept: 'any', maxRecvDataSegmentLength: 65536, ...extra });
}

function feed(framer: PduFramer, chunks: Buffer[]): Pdu[] {
  return chunks.flatMap((c) => framer.push(c));
}

/** A chunk in its own (non-pooled) ArrayBuffer, at a non-zero offset, so aliasing checks mean something. */
function ownChunk(bytes: Buffer): Buffer {
  const chunk = Buffer.alloc(bytes.length + 16).subarray(8, 8 + bytes.length);
  bytes.copy(chunk);
  return chunk;
}

function expectProtocolError(f: () => unknown, code: IscsiErrorCode, message?: RegExp): ProtocolError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code);
  if (message) expect((caught as ProtocolError).message).toMatch(message);
  return caught as ProtocolError;
}

const nopIn = (data: Buffer = Buffer.alloc(0)): NopIn => ({
  opcode: Opcode.NopIn,
  lun: 0n,
  itt: 0xffffffff,
  ttt: 9,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 2,
  data,
});

describe('framing every golden fixture (§11.2: BHS, AHS, header digest, padded data, data digest)', () => {
  for (const g of GOLDEN) {
    const wire = readHex(g.file);

    test(`${g.file}: whole, in one chunk`, () => {
      const framer = framerFor(g.digests);
      expect(framer.push(wire)).toStrictEqual([g.pdu]);
      expect(framer.bufferedBytes).toBe(0);
    });

    test(`${g.file}: split into two chunks at every offset`, () => {
      for (let at = 1; at < wire.length; at++) {
        const framer = framerFor(g.digests);
        expect(framer.push(wire.subarray(0, at))).toEqual([]);
        expect(framer.bufferedBytes).toBe(at);
        expect(framer.push(wire.subarray(at))).toStrictEqual([g.pdu]);
        expect(framer.bufferedBytes).toBe(0);
      }
    });

    test(`${g.file}: byte by byte`, () => {
      const framer = framerFor(g.digests);
      for (let i = 0; i < wire.length - 1; i++) expect(framer.push(wire.subarray(i, i + 1))).toEqual([]);
      expect(framer.push(wire.subarray(wire.length - 1))).toStrictEqual([g.pdu]);
    });

    test(`${g.file}: two PDUs in one chunk, and that pair split at every offset`, () => {
      const two = Buffer.concat([wire, wire]);
      expect(framerFor(g.digests).push(two)).toStrictEqual([g.pdu, g.pdu]);
      for (let at = 1; at < two.length; at++) {
        expect(feed(framerFor(g.digests), [two.subarray(0, at), two.subarray(at)])).toStrictEqual([g.pdu, g.pdu]);
      }
    });
  }

  test('all fixtures with the same digest setting, back to back in one chunk', () => {
    for (const digests of [OFF, ON]) {
      const set = GOLDEN.filter((g) => g.digests.headerDigest === digests.headerDigest);
      const stream = Buffer.concat(set.map((g) => readHex(g.file)));
      expect(framerFor(digests).push(stream)).toStrictEqual(set.map((g) => g.pdu));
    }
  });
});

describe('views, not copies', () => {
  const g = GOLDEN.find((x) => x.file === 'data-in.hex')!;
  const wire = readHex(g.file);

  test('a PDU inside one chunk: data is a subarray of that chunk', () => {
    const chunk = ownChunk(wire);
    const [pdu] = framerFor(ON).push(chunk) as [Pdu & { data: Buffer }];
    expect(pdu.data.buffer).toBe(chunk.buffer);
    expect(pdu.data.byteOffset).toBe(chunk.byteOffset + 52);
    chunk[52] = 0x77; // proves it is the same memory
    expect(pdu.data[0]).toBe(0x77);
  });

  test('a PDU spanning chunks: copied once, and the copy is not reused for later PDUs', () => {
    const a = ownChunk(wire.subarray(0, 60));
    const b = ownChunk(Buffer.concat([wire.subarray(60), wire.subarray(0, 30)]));
    const c = ownChunk(wire.subarray(30));
    const framer = framerFor(ON);
    expect(framer.push(a)).toEqual([]);
    const [first] = framer.push(b) as [Pdu & { data: Buffer }];
    expect(first.data.buffer).not.toBe(a.buffer);
    expect(first.data.buffer).not.toBe(b.buffer);
    const snapshot = Buffer.from(first.data);
    const [second] = framer.push(c) as [Pdu & { data: Buffer }];
    a.fill(0xee);
    b.fill(0xee);
    c.fill(0xee);
    expect(first.data).toEqual(snapshot);
    expect(second).toStrictEqual(g.pdu);
  });

  test('PDUs after a spanning one in the same chunk are views of that chunk again', () => {
    const a = ownChunk(wire.subarray(0, 10));
    const b = ownChunk(Buffer.concat([wire.subarray(10), wire]));
    const framer = framerFor(ON);
    framer.push(a);
    const [, second] = framer.push(b) as [Pdu, Pdu & { data: Buffer }];
    expect(second.data.buffer).toBe(b.buffer);
  });
});

describe('limits and digests are checked before the payload is buffered', () => {
  test('§13.12: DataSegmentLength > MaxRecvDataSegmentLength → ISCSI_PDU_SEGMENT_TOO_LONG with only the BHS received', () => {
    const wire = encodePduToBuffer(nopIn(Buffer.alloc(1000)), OFF);
    const framer = new PduFramer({ maxRecvDataSegmentLength: 999 });
    expectProtocolError(() => framer.push(wire.subarray(0, 48)), 'ISCSI_PDU_SEGMENT_TOO_LONG', /NOP-In \(0x20\): DataSegmentLength 1000 exceeds MaxRecvDataSegmentLength 999/);
    expect(new PduFramer({ maxRecvDataSegmentLength: 1000 }).push(wire)).toHaveLength(1);
  });

  test('the default MaxRecvDataSegmentLength is 8192 (§13.12, used during login)', () => {
    expect(new PduFramer().push(encodePduToBuffer(nopIn(Buffer.alloc(8192)), OFF))).toHaveLength(1);
    expectProtocolError(() => new PduFramer().push(encodePduToBuffer(nopIn(Buffer.alloc(8193)), OFF).subarray(0, 48)), 'ISCSI_PDU_SEGMENT_TOO_LONG');
  });

  test('§11.2.3: with HeaderDigest, a corrupt length reads as a header digest error, raised before any data arrives', () => {
    const wire = Buffer.from(encodePduToBuffer(nopIn(Buffer.alloc(100)), ON));
    wire[5] = 0x7f; // DataSegmentLength now ~8 MB
    expectProtocolError(() => framerFor(ON).push(wire.subarray(0, 52)), 'ISCSI_PDU_HEADER_DIGEST', /header digest mismatch/);
  });

  test('with HeaderDigest and a valid digest, the length check runs once BHS + digest are in', () => {
    const wire = encodePduToBuffer(nopIn(Buffer.alloc(2000)), ON);
    const framer = new PduFramer({ ...ON, maxRecvDataSegmentLength: 1024 });
    expect(framer.push(wire.subarray(0, 51))).toEqual([]);
    expectProtocolError(() => framer.push(wire.subarray(51, 52)), 'ISCSI_PDU_SEGMENT_TOO_LONG');
  });

  test('a data segment on a PDU that has none (R2T) is refused at the header', () => {
    const wire = Buffer.from(readHex('r2t.hex'));
    wire[7] = 8;
    expectProtocolError(() => framerFor(OFF).push(wire), 'ISCSI_PDU_BAD_FIELD', /R2T/);
  });
});

describe('digest errors (§11.2.3, §13.1)', () => {
  const withDigests = GOLDEN.filter((g) => g.digests.headerDigest);

  test('a flipped bit anywhere in BHS + AHS + header digest → ISCSI_PDU_HEADER_DIGEST, without waiting for the data', () => {
    for (const g of withDigests) {
      const wire = readHex(g.file);
      const headerLength = 48 + wire[4]! * 4 + 4;
      for (let i = 0; i < headerLength; i++) {
        for (const bit of [0x01, 0x80]) {
          const bad = Buffer.from(wire.subarray(0, headerLength));
          bad[i] = bad[i]! ^ bit;
          const framer = framerFor(ON);
          if (i === 4 && bad[4]! > wire[4]!) {
            // A larger TotalAHSLength moves the digest further out: the framer must wait for it (at most 1020
            // more bytes), then the digest fails.
            expect(framer.push(bad)).toEqual([]);
            expectProtocolError(() => framer.push(Buffer.alloc(48 + 1020 + 4 - headerLength)), 'ISCSI_PDU_HEADER_DIGEST');
          } else {
            expectProtocolError(() => framer.push(bad), 'ISCSI_PDU_HEADER_DIGEST');
          }
        }
      }
    }
  });

  test('a flipped bit in data, padding or data digest → ISCSI_PDU_DATA_DIGEST', () => {
    for (const g of withDigests) {
      const wire = readHex(g.file);
      const dataStart = 48 + wire[4]! * 4 + 4;
      for (let i = dataStart; i < wire.length; i++) {
        const bad = Buffer.from(wire);
        bad[i] = bad[i]! ^ 0x10;
        expectProtocolError(() => framerFor(ON).push(bad), 'ISCSI_PDU_DATA_DIGEST', /data digest mismatch/);
      }
    }
  });

  test('padding is covered by the data digest: non-zero padding with the right digest is accepted', () => {
    const g = GOLDEN.find((x) => x.file === 'data-out.hex')!;
    // Padding bytes SHOULD be 0 (§13.1) but the receiver checks only the digest over them.
    const wire = Buffer.from(readHex(g.file));
    // data-out.hex: data at 52..61, padding 62..63, data digest 64..67.
    wire[62] = 0xaa;
    wire[63] = 0x55;
    writeDigest(crc32c(wire.subarray(52, 64)), wire, 64);
    expect(framerFor(ON).push(wire)).toStrictEqual([g.pdu]);
  });
});

describe('opcodes and sides (§11.2.1.2: initiators MUST NOT use target opcodes and vice versa)', () => {
  test("an initiator opcode arriving at the initiator (accept 'target', the default) → ISCSI_PDU_UNEXPECTED", () => {
    expectProtocolError(() => new PduFramer().push(readHex('nop-out.hex').subarray(0, 48)), 'ISCSI_PDU_UNEXPECTED', /NOP-Out \(0x00\) is an initiator opcode/);
  });

  test("a target opcode at accept 'initiator' → ISCSI_PDU_UNEXPECTED", () => {
    expectProtocolError(() => new PduFramer({ accept: 'initiator' }).push(readHex('nop-in.hex')), 'ISCSI_PDU_UNEXPECTED', /NOP-In/);
  });

  test('reserved and vendor-specific opcodes → ISCSI_PDU_UNKNOWN_OPCODE, at the BHS', () => {
    for (const op of [0x07, 0x0f, 0x1c, 0x27, 0x30, 0x3e]) {
      const bhs = Buffer.from(readHex('nop-in.hex'));
      bhs[0] = op;
      bhs[7] = 100; // would need data; the opcode is refused first
      expectProtocolError(() => framerFor(OFF).push(bhs), 'ISCSI_PDU_UNKNOWN_OPCODE', /is not an opcode we know/);
    }
  });

  test('the initiator accepts every target opcode', () => {
    const targets = GOLDEN.filter((g) => g.pdu.opcode >= 0x20 && !g.digests.headerDigest);
    const stream = Buffer.concat(targets.map((g) => readHex(g.file)));
    expect(new PduFramer().push(stream)).toStrictEqual(targets.map((g) => g.pdu));
  });
});

describe('failure is final', () => {
  test('after a throw every later push rethrows the same error, even for valid bytes', () => {
    const framer = new PduFramer();
    const first = expectProtocolError(() => framer.push(readHex('nop-out.hex')), 'ISCSI_PDU_UNEXPECTED');
    expect(() => framer.push(readHex('nop-in.hex'))).toThrow(first);
    expect(() => framer.push(Buffer.alloc(0))).toThrow(first);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('PDUs decoded before the bad one in the same chunk are not returned: the connection ends (§11)', () => {
    const framer = new PduFramer();
    expectProtocolError(() => framer.push(Buffer.concat([readHex('nop-in.hex'), readHex('nop-out.hex')])), 'ISCSI_PDU_UNEXPECTED');
  });
});

describe('configure() and the login boundary (§13.1: digests apply from the full feature phase on)', () => {
  const finalLogin: LoginResponse = {
    opcode: Opcode.LoginResponse,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionActive: 0,
    isid: 0x800000000001n,
    tsih: 5,
    itt: 1,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 1,
    statusClass: 0,
    statusDetail: 0,
    data: Buffer.from('HeaderDigest=CRC32C\0DataDigest=CRC32C\0'),
  };

  test('bytes after the final Login Response wait for configure(); push(empty) then parses them with digests', () => {
    const ffp = encodePduToBuffer(nopIn(Buffer.from('ping!')), ON);
    const chunk = Buffer.concat([encodePduToBuffer(finalLogin, OFF), ffp, ffp.subarray(0, 10)]);
    const framer = new PduFramer();
    expect(framer.push(chunk)).toStrictEqual([finalLogin]);
    expect(framer.bufferedBytes).toBe(ffp.length + 10);
    framer.configure(ON);
    expect(framer.push(Buffer.alloc(0))).toStrictEqual([nopIn(Buffer.from('ping!'))]);
    expect(framer.push(ffp.subarray(10))).toStrictEqual([nopIn(Buffer.from('ping!'))]);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('the same when the final Login Response itself spanned chunks', () => {
    const login = encodePduToBuffer(finalLogin, OFF);
    const ffp = encodePduToBuffer(nopIn(), ON);
    const framer = new PduFramer();
    expect(framer.push(login.subarray(0, 20))).toEqual([]);
    expect(framer.push(Buffer.concat([login.subarray(20), ffp]))).toStrictEqual([finalLogin]);
    framer.configure(ON);
    expect(framer.push(Buffer.alloc(0))).toStrictEqual([nopIn()]);
  });

  test('a transitional (non-final) or failed Login Response does not pause', () => {
    const next = encodePduToBuffer(nopIn(), OFF);
    for (const login of [{ ...finalLogin, nsg: 1 as const }, { ...finalLogin, statusClass: 2 }, { ...finalLogin, transit: false }]) {
      expect(new PduFramer().push(Buffer.concat([encodePduToBuffer(login, OFF), next]))).toHaveLength(2);
    }
  });

  test('MaxRecvDataSegmentLength raised by configure() applies to the next PDU', () => {
    const big = encodePduToBuffer(nopIn(Buffer.alloc(20000)), OFF);
    const framer = new PduFramer();
    framer.configure({ maxRecvDataSegmentLength: 262144 });
    expect(framer.push(big)).toHaveLength(1);
  });

  test('invalid options are ArgumentError', () => {
    expect(() => new PduFramer({ maxRecvDataSegmentLength: 511 })).toThrow(ArgumentError);
    expect(() => new PduFramer({ maxRecvDataSegmentLength: 2 ** 24 })).toThrow(ArgumentError);
    expect(() => new PduFramer({ accept: 'both' as never })).toThrow(ArgumentError);
    expect(() => new PduFramer().configure({ headerDigest: 'yes' as never })).toThrow(ArgumentError);
  });
});
