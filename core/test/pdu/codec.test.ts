import { describe, expect, test } from 'vitest';
import { ArgumentError, ProtocolError, type IscsiErrorCode } from '../../src/errors.js';
import { BHS_LENGTH, decodePdu, encodePdu, encodePduToBuffer, opcodeName } from '../../src/pdu/codec.js';
import { crc32c, readDigest, type DigestOptions } from '../../src/pdu/digest.js';
import { Opcode, type LoginRequest, type NopIn, type Pdu, type ScsiCommand } from '../../src/pdu/types.js';
import { GOLDEN, parseHex, readHex } from './fixtures.js';

const OFF: DigestOptions = { headerDigest: false, dataDigest: false };

/** Cuts a whole wire PDU into the parts decodePdu takes (no digest checking). */
function parts(wire: Buffer, digests: DigestOptions): [Buffer, Buffer, Buffer] {
  const ahsEnd = BHS_LENGTH + wire[4]! * 4;
  const dataStart = ahsEnd + (digests.headerDigest ? 4 : 0);
  const dsl = wire.readUIntBE(5, 3);
  return [wire.subarray(0, BHS_LENGTH), wire.subarray(BHS_LENGTH, ahsEnd), wire.subarray(dataStart, dataStart + dsl)];
}

function decodeWire(wire: Buffer, digests: DigestOptions = OFF): Pdu {
  return decodePdu(...parts(wire, digests));
}

function protocolError(f: () => unknown, code: IscsiErrorCode, message?: RegExp): ProtocolError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  const err = caught as ProtocolError;
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

function argumentError(f: () => unknown, field: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ArgumentError);
  expect((caught as ArgumentError).code).toBe('ISCSI_BAD_ARGUMENT');
  expect((caught as ArgumentError).message).toMatch(field);
}

/** A copy of the golden wire bytes with some bytes changed. */
function patched(file: string, edits: Record<number, number>): Buffer {
  const b = Buffer.from(readHex(file));
  for (const [at, v] of Object.entries(edits)) b[Number(at)] = v;
  return b;
}

describe('golden fixtures, one per opcode (RFC 7143 §11.3-§11.19)', () => {
  test('every one of the 18 opcodes has a fixture', () => {
    const covered = new Set(GOLDEN.map((g) => g.pdu.opcode));
    expect([...covered].sort((a, b) => a - b)).toEqual(Object.values(Opcode).sort((a, b) => a - b));
  });

  for (const g of GOLDEN) {
    test(`${g.file}: encode(object) equals the hand-built bytes`, () => {
      expect(encodePduToBuffer(g.pdu, g.digests).toString('hex')).toBe(readHex(g.file).toString('hex'));
    });

    test(`${g.file}: decode(bytes) deep-equals the object`, () => {
      expect(decodeWire(readHex(g.file), g.digests)).toStrictEqual(g.pdu);
    });
  }
});

describe('encodePdu segments (writev-ready, no payload copy)', () => {
  test('header only when there is no data segment', () => {
    const g = GOLDEN.find((x) => x.file === 'r2t.hex')!;
    const segs = encodePdu(g.pdu, OFF);
    expect(segs).toHaveLength(1);
    expect(segs[0]!.length).toBe(BHS_LENGTH);
  });

  test('[header, pdu.data itself, padding + data digest]: the data buffer is passed through, not copied', () => {
    const g = GOLDEN.find((x) => x.file === 'data-out.hex')!;
    const segs = encodePdu(g.pdu, g.digests);
    expect(segs).toHaveLength(3);
    expect(segs[1]).toBe((g.pdu as { data: Buffer }).data);
    // §11.2.4: 10 data bytes + 2 zero pad bytes; §13.1: the digest covers the padding.
    expect(segs[0]!.length).toBe(BHS_LENGTH + 4);
    expect(segs[2]!.subarray(0, 2)).toEqual(Buffer.alloc(2));
    expect(readDigest(segs[2]!, 2)).toBe(crc32c(segs[1]!, Buffer.alloc(2)));
    expect(readDigest(segs[0]!, BHS_LENGTH)).toBe(crc32c(segs[0]!.subarray(0, BHS_LENGTH)));
  });

  test('no trailer when the data is already 4-byte aligned and DataDigest is off', () => {
    const pdu: NopIn = { opcode: Opcode.NopIn, lun: 0n, itt: 1, ttt: 0xffffffff, statSN: 1, expCmdSN: 1, maxCmdSN: 1, data: Buffer.from('abcd') };
    const segs = encodePdu(pdu, OFF);
    expect(segs).toHaveLength(2);
    expect(segs[1]).toBe(pdu.data);
  });

  test('§11.2.4: DataSegmentLength excludes the padding; padding bytes are zero', () => {
    for (let n = 1; n <= 9; n++) {
      const pdu: NopIn = { opcode: Opcode.NopIn, lun: 0n, itt: 1, ttt: 0xffffffff, statSN: 1, expCmdSN: 1, maxCmdSN: 1, data: Buffer.alloc(n, 0xab) };
      const wire = encodePduToBuffer(pdu, OFF);
      expect(wire.readUIntBE(5, 3)).toBe(n);
      expect(wire.length % 4).toBe(0);
      expect(wire.length).toBe(BHS_LENGTH + Math.ceil(n / 4) * 4);
      expect(wire.subarray(BHS_LENGTH + n).every((b) => b === 0)).toBe(true);
    }
  });

  test('§11.2.3: no data digest when the data segment is empty', () => {
    const g = GOLDEN.find((x) => x.file === 'nop-in.hex')!;
    expect(encodePduToBuffer(g.pdu, { headerDigest: true, dataDigest: true }).length).toBe(BHS_LENGTH + 4);
  });
});

describe('SCSI Command CDB and AHS (§11.3.5, §11.2.2.3, §11.2.2.4)', () => {
  const base = GOLDEN.find((x) => x.file === 'scsi-command.hex')!.pdu as ScsiCommand;

  test('a 10-byte CDB is zero-padded to 16 bytes in the BHS', () => {
    const ten = { ...base, cdb: Buffer.from('28000000123400000800', 'hex') };
    expect(encodePduToBuffer(ten, OFF)).toEqual(readHex('scsi-command.hex'));
  });

  test('a 17-byte CDB needs an Extended CDB AHS with AHSLength 2 (CDB length - 15), padded to 8 bytes', () => {
    const cdb = Buffer.from(Array.from({ length: 17 }, (_, i) => i + 1));
    const wire = encodePduToBuffer({ ...base, cdb }, OFF);
    expect(wire[4]).toBe(2); // TotalAHSLength in words
    expect(wire.subarray(48, 56)).toEqual(Buffer.from([0x00, 0x02, 0x01, 0x00, 17, 0, 0, 0]));
    expect((decodeWire(wire) as ScsiCommand).cdb).toEqual(cdb);
  });

  test('exactly 16 bytes needs no AHS', () => {
    const wire = encodePduToBuffer({ ...base, cdb: Buffer.alloc(16, 1) }, OFF);
    expect(wire[4]).toBe(0);
    expect(wire.length).toBe(BHS_LENGTH);
  });

  test('a CDB too long for TotalAHSLength (1020 bytes of AHS) is refused on encode', () => {
    argumentError(() => encodePdu({ ...base, cdb: Buffer.alloc(16 + 1017) }, OFF), /AHS total/);
    expect(() => encodePdu({ ...base, cdb: Buffer.alloc(16 + 1016) }, OFF)).not.toThrow();
  });

  test('decoded CDB is a copy: changing the received bytes later does not change it', () => {
    const wire = Buffer.from(readHex('scsi-command.hex'));
    const pdu = decodeWire(wire) as ScsiCommand;
    wire[32] = 0xff;
    expect(pdu.cdb[0]).toBe(0x28);
  });

  test('unknown AHS types are ignored; the AHSType reserved bits 0-1 are ignored (§11.2.2.1)', () => {
    const wire = Buffer.from(readHex('scsi-command.hex'));
    // One unknown AHS (type 0x3b, AHSLength 3) and a bidi AHS whose type byte has the reserved bits set.
    const ahs = Buffer.from('0003 3b 00 aabb0000 0005 c2 00 00000200'.replace(/ /g, ''), 'hex');
    const withAhs = Buffer.concat([wire, ahs]);
    withAhs[4] = ahs.length / 4;
    const pdu = decodeWire(withAhs) as ScsiCommand;
    expect(pdu.bidiReadLength).toBe(0x200);
    expect(pdu.cdb).toEqual(base.cdb);
  });

  const withAhs = (ahsHex: string, opcodeFile = 'scsi-command.hex') => {
    const ahs = Buffer.from(ahsHex.replace(/\s+/g, ''), 'hex');
    const b = Buffer.concat([readHex(opcodeFile), ahs]);
    b[4] = ahs.length / 4;
    return b;
  };

  test('Extended CDB AHS with AHSLength 1 (no CDB bytes) → ISCSI_PDU_BAD_FIELD', () => {
    protocolError(() => decodeWire(withAhs('0001 01 00')), 'ISCSI_PDU_BAD_FIELD', /Extended CDB AHS/);
  });

  test('two Extended CDB AHS → ISCSI_PDU_BAD_FIELD', () => {
    protocolError(() => decodeWire(withAhs('0002 01 00 aa000000 0002 01 00 bb000000')), 'ISCSI_PDU_BAD_FIELD', /more than one Extended CDB/);
  });

  test('Bidirectional Read AHS with AHSLength other than 5 → ISCSI_PDU_BAD_FIELD', () => {
    protocolError(() => decodeWire(withAhs('0004 02 00 00000100')), 'ISCSI_PDU_BAD_FIELD', /AHSLength 4, not 5/);
  });

  test('two Bidirectional Read AHS → ISCSI_PDU_BAD_FIELD', () => {
    protocolError(
      () => decodeWire(withAhs('0005 02 00 00000100 0005 02 00 00000100')),
      'ISCSI_PDU_BAD_FIELD',
      /more than one Bidirectional/,
    );
  });

  test('an AHS running past TotalAHSLength → ISCSI_PDU_BAD_FIELD (§11.2.2.2)', () => {
    protocolError(() => decodeWire(withAhs('0009 01 00 00000000')), 'ISCSI_PDU_BAD_FIELD', /runs past TotalAHSLength/);
  });

  test('AHSLength 0 (no room for the AHS-specific byte) → ISCSI_PDU_BAD_FIELD', () => {
    protocolError(() => decodeWire(withAhs('0000 01 00')), 'ISCSI_PDU_BAD_FIELD', /AHSLength 0/);
  });

  test('AHS on other opcodes: content ignored, but a malformed list is still ISCSI_PDU_BAD_FIELD', () => {
    const nopIn = GOLDEN.find((x) => x.file === 'nop-in.hex')!.pdu;
    expect(decodeWire(withAhs('0005 01 00 01020304', 'nop-in.hex'))).toStrictEqual(nopIn);
    protocolError(() => decodeWire(withAhs('0008 3f 00 01020304', 'nop-in.hex')), 'ISCSI_PDU_BAD_FIELD', /NOP-In \(0x20\)/);
  });
});

describe('decodePdu validation: only ProtocolError, naming the opcode and field', () => {
  test('reserved opcode → ISCSI_PDU_UNKNOWN_OPCODE (§11.2.1.2)', () => {
    for (const op of [0x07, 0x1c, 0x27, 0x3c]) {
      protocolError(() => decodeWire(patched('nop-in.hex', { 0: op })), 'ISCSI_PDU_UNKNOWN_OPCODE', new RegExp(`\\(0x${op.toString(16).padStart(2, '0')}\\)`));
    }
  });

  test('a BHS that is not 48 bytes → ProtocolError', () => {
    protocolError(() => decodePdu(Buffer.alloc(47), Buffer.alloc(0), Buffer.alloc(0)), 'ISCSI_PDU_TRUNCATED');
    protocolError(() => decodePdu(Buffer.alloc(49), Buffer.alloc(0), Buffer.alloc(0)), 'ISCSI_PDU_BAD_FIELD');
  });

  test('AHS or data arguments disagreeing with TotalAHSLength / DataSegmentLength → ProtocolError', () => {
    const [bhs, ahs, data] = parts(readHex('nop-out.hex'), OFF);
    protocolError(() => decodePdu(bhs, ahs, data.subarray(1)), 'ISCSI_PDU_TRUNCATED', /DataSegmentLength/);
    protocolError(() => decodePdu(bhs, ahs, Buffer.concat([data, Buffer.alloc(1)])), 'ISCSI_PDU_BAD_FIELD', /DataSegmentLength/);
    protocolError(() => decodePdu(bhs, Buffer.alloc(4), data), 'ISCSI_PDU_BAD_FIELD', /TotalAHSLength/);
  });

  test('a data segment on a PDU that has none (R2T) → ISCSI_PDU_BAD_FIELD', () => {
    const wire = Buffer.concat([readHex('r2t.hex'), Buffer.alloc(4)]);
    wire[7] = 4;
    protocolError(() => decodeWire(wire), 'ISCSI_PDU_BAD_FIELD', /Ready To Transfer \(R2T\) \(0x31\): DataSegmentLength is 4/);
  });

  test('Login: CSG 2 is reserved (§11.12.3)', () => {
    protocolError(() => decodeWire(patched('login-request.hex', { 1: 0x89 })), 'ISCSI_PDU_BAD_FIELD', /Login Request \(0x03\): CSG is 2/);
  });

  test('Login: NSG 2 is reserved (§11.12.3)', () => {
    protocolError(() => decodeWire(patched('login-response.hex', { 1: 0x82 })), 'ISCSI_PDU_BAD_FIELD', /Login Response \(0x23\): NSG is 2/);
  });

  test('Login: C=1 requires T=0 (§11.12.2)', () => {
    protocolError(() => decodeWire(patched('login-request.hex', { 1: 0xc1 })), 'ISCSI_PDU_BAD_FIELD', /T and C/);
    expect((decodeWire(patched('login-request.hex', { 1: 0x41 })) as LoginRequest).continue).toBe(true);
  });

  test('Login Request: Version-min above Version-max (§11.12.4)', () => {
    protocolError(() => decodeWire(patched('login-request.hex', { 3: 1 })), 'ISCSI_PDU_BAD_FIELD', /Version-min 1 is above Version-max 0/);
  });

  test('Login Response: Version-active above Version-max (§11.13.2)', () => {
    protocolError(() => decodeWire(patched('login-response.hex', { 3: 1 })), 'ISCSI_PDU_BAD_FIELD', /Version-active/);
  });

  test('Text: C=1 requires F=0 (§11.10.2, §11.11.2)', () => {
    protocolError(() => decodeWire(patched('text-response.hex', { 1: 0xc0 })), 'ISCSI_PDU_BAD_FIELD', /Text Response \(0x24\): both the F and C/);
    protocolError(() => decodeWire(patched('text-request.hex', { 1: 0xc0 }), { headerDigest: true, dataDigest: true }), 'ISCSI_PDU_BAD_FIELD', /Text Request/);
  });

  test('reserved bits are ignored on receipt (types.ts convention)', () => {
    // Byte 1 bits 1-2 of SCSI Response, bytes 8-15 of Logout Response: reserved.
    const rsp = decodeWire(patched('scsi-response.hex', { 1: 0x82 | 0x60, 9: 0xff }));
    expect(rsp).toStrictEqual(GOLDEN.find((x) => x.file === 'scsi-response.hex')!.pdu);
    expect(decodeWire(patched('logout-response.hex', { 8: 0xff, 45: 0xff }))).toStrictEqual(GOLDEN.find((x) => x.file === 'logout-response.hex')!.pdu);
  });
});

describe('encodePdu validation: out-of-range fields are ArgumentError, never silently truncated', () => {
  const nopOut = GOLDEN.find((x) => x.file === 'nop-out.hex')!.pdu;
  const login = GOLDEN.find((x) => x.file === 'login-request.hex')!.pdu as LoginRequest;

  test('32-bit fields', () => {
    argumentError(() => encodePdu({ ...nopOut, cmdSN: 2 ** 32 } as Pdu, OFF), /CmdSN/);
    argumentError(() => encodePdu({ ...nopOut, itt: -1 } as Pdu, OFF), /Initiator Task Tag/);
    argumentError(() => encodePdu({ ...nopOut, ttt: 1.5 } as Pdu, OFF), /Target Transfer Tag/);
  });

  test('LUN and ISID widths', () => {
    argumentError(() => encodePdu({ ...nopOut, lun: 2n ** 64n } as Pdu, OFF), /LUN/);
    argumentError(() => encodePdu({ ...login, isid: 2n ** 48n }, OFF), /ISID/);
  });

  test('small fields: stage, TSIH, ATTR, function', () => {
    argumentError(() => encodePdu({ ...login, csg: 2 as never }, OFF), /CSG/);
    argumentError(() => encodePdu({ ...login, tsih: 0x10000 }, OFF), /TSIH/);
    const cmd = GOLDEN.find((x) => x.file === 'scsi-command.hex')!.pdu as ScsiCommand;
    argumentError(() => encodePdu({ ...cmd, attribute: 8 }, OFF), /ATTR/);
    argumentError(() => encodePdu({ ...cmd, bidiReadLength: -1 }, OFF), /Bidi/);
    const tmf = GOLDEN.find((x) => x.file === 'task-mgmt-request.hex')!.pdu;
    argumentError(() => encodePdu({ ...tmf, function: 0x80 } as Pdu, OFF), /Function/);
  });

  test('a data segment beyond the 24-bit DataSegmentLength', () => {
    argumentError(() => encodePdu({ ...nopOut, data: Buffer.alloc(2 ** 24) } as Pdu, OFF), /24-bit DataSegmentLength/);
  });

  test('unknown opcode', () => {
    argumentError(() => encodePdu({ ...nopOut, opcode: 0x07 } as unknown as Pdu, OFF), /opcode 7/);
  });

  test('§11.12: the I bit of a Login Request is always 1', () => {
    expect(encodePduToBuffer({ ...login, immediate: false }, OFF)[0]).toBe(0x43);
  });
});

describe('opcodeName', () => {
  test('RFC names for known opcodes, a label for the rest', () => {
    expect(opcodeName(Opcode.LoginResponse)).toBe('Login Response');
    expect(opcodeName(Opcode.R2T)).toBe('Ready To Transfer (R2T)');
    expect(opcodeName(0x1d)).toBe('Vendor-specific opcode');
    expect(opcodeName(0x07)).toBe('Reserved opcode');
    expect(opcodeName(-1)).toBe('Reserved opcode');
  });

  test('every opcode in types.ts has a distinct name', () => {
    const names = Object.values(Opcode).map(opcodeName);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain('Reserved opcode');
  });
});

test('parseHex accepts comments and rejects junk', () => {
  expect(parseHex('01 02 # three\n ff')).toEqual(Buffer.from([1, 2, 0xff]));
  expect(() => parseHex('0g')).toThrow();
});
