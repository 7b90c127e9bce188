// Direct data placement: a Data-In payload that spans socket reads is written once, straight into the reader's
// buffer (issue 3: "Data-In payload written once into the caller's buffer"), with every framing rule unchanged.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { PduFramer } from '../../src/pdu/framer.js';
import { Opcode, type DataIn, type NopIn } from '../../src/pdu/types.js';

function dataIn(itt: number, bufferOffset: number, data: Buffer, dataSN = 0): DataIn {
  return {
    opcode: Opcode.DataIn, final: false, acknowledge: false, overflow: false, underflow: false, statusPresent: false, status: 0,
    lun: 0n, itt, ttt: 0xffffffff, statSN: 0, expCmdSN: 1, maxCmdSN: 9, dataSN, bufferOffset, residualCount: 0, data,
  };
}

const nop: NopIn = { opcode: Opcode.NopIn, lun: 0n, itt: 0xffffffff, ttt: 3, statSN: 1, expCmdSN: 1, maxCmdSN: 2, data: Buffer.from('ping') };

/** A reader with one 64 KiB buffer per ITT, handing out the slice each Data-In names. */
function reader() {
  const buffers = new Map<number, Buffer>();
  const asked: Array<[number, number, number]> = [];
  const placeData = (itt: number, offset: number, length: number) => {
    asked.push([itt, offset, length]);
    let b = buffers.get(itt);
    if (!b) buffers.set(itt, (b = Buffer.alloc(65536)));
    return offset + length <= b.length ? b.subarray(offset, offset + length) : undefined;
  };
  return { buffers, asked, placeData };
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) chunks.push(Buffer.from(bytes.subarray(prev, c)));
    prev = c;
  }
  return chunks;
}

describe('direct placement of Data-In payload', () => {
  for (const digests of [
    { headerDigest: false, dataDigest: false },
    { headerDigest: true, dataDigest: true },
  ]) {
    it(`split at every offset (digests ${digests.dataDigest ? 'on' : 'off'}): same PDUs, spanning payload placed in the reader's buffer`, () => {
      // 1001 bytes: needs 3 bytes of padding, which the data digest covers (§13.1).
      const payload = randomBytes(1001);
      const wire = Buffer.concat([encodePduToBuffer(nop, digests), encodePduToBuffer(dataIn(7, 100, payload), digests), encodePduToBuffer(nop, digests)]);
      for (let cut = 1; cut < wire.length; cut++) {
        const r = reader();
        const framer = new PduFramer({ ...digests, accept: 'target', maxRecvDataSegmentLength: 8192, placeData: r.placeData });
        const pdus = [...framer.push(Buffer.from(wire.subarray(0, cut))), ...framer.push(Buffer.from(wire.subarray(cut)))];
        expect(pdus.map((p) => p.opcode)).toEqual([Opcode.NopIn, Opcode.DataIn, Opcode.NopIn]);
        const d = pdus[1] as DataIn;
        expect(d.data.equals(payload)).toBe(true);
        expect(d.bufferOffset).toBe(100);
        // The payload starts after the NOP-In, the Data-In BHS and its header digest; with padding and data digest
        // the PDU ends 1004 (+4) bytes later. A cut inside that range leaves the header whole and the payload not.
        const dataStart = encodePduToBuffer(nop, digests).length + 48 + (digests.headerDigest ? 4 : 0);
        const dataEnd = dataStart + 1004 + (digests.dataDigest ? 4 : 0);
        if (cut >= dataStart && cut < dataEnd) {
          expect(d.data.buffer).toBe(r.buffers.get(7)!.buffer);
          expect(d.data.byteOffset).toBe(r.buffers.get(7)!.byteOffset + 100);
          expect(r.asked).toEqual([[7, 100, 1001]]);
        }
        expect(framer.bufferedBytes).toBe(0);
      }
    });
  }

  it('falls back to framer buffering when the reader has no place for the payload', () => {
    const payload = randomBytes(3000);
    const wire = encodePduToBuffer(dataIn(7, 65000, payload), { headerDigest: false, dataDigest: false });
    const r = reader();
    const framer = new PduFramer({ maxRecvDataSegmentLength: 8192, placeData: r.placeData });
    const pdus = [...framer.push(Buffer.from(wire.subarray(0, 100))), ...framer.push(Buffer.from(wire.subarray(100)))];
    expect((pdus[0] as DataIn).data.equals(payload)).toBe(true);
    expect((pdus[0] as DataIn).data.buffer).not.toBe(r.buffers.get(7)!.buffer);
  });

  it('a data digest mismatch on a placed payload is still ISCSI_PDU_DATA_DIGEST (§11.2.3), and the framer stays failed', () => {
    const digests = { headerDigest: false, dataDigest: true };
    const wire = encodePduToBuffer(dataIn(7, 0, randomBytes(2000)), digests);
    wire[48 + 1500] ^= 0x01;
    const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: 8192, placeData: reader().placeData });
    framer.push(Buffer.from(wire.subarray(0, 60)));
    expect(() => framer.push(Buffer.from(wire.subarray(60)))).toThrow(expect.objectContaining({ code: 'ISCSI_PDU_DATA_DIGEST' }));
    expect(() => framer.push(Buffer.alloc(0))).toThrow(ProtocolError);
  });

  it('property: any chunking of a stream of Data-In and other PDUs decodes to the same PDUs as without placement', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constant(0), fc.integer({ min: 1, max: 6000 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (shapes, cuts, digestsOn) => {
          const digests = { headerDigest: digestsOn, dataDigest: digestsOn };
          // One ITT per Data-In: a real task never has two payloads for the same bytes.
          const pdus = shapes.map(([, len], i) => (i % 3 === 2 ? nop : dataIn(i, 0, randomBytes(len), i)));
          const wire = Buffer.concat(pdus.map((p) => encodePduToBuffer(p, digests)));
          const plain = new PduFramer({ ...digests, maxRecvDataSegmentLength: 8192 }).push(wire);
          const r = reader();
          const placed = new PduFramer({ ...digests, maxRecvDataSegmentLength: 8192, placeData: r.placeData });
          const got = split(wire, cuts).flatMap((c) => placed.push(c));
          expect(got.length).toBe(plain.length);
          got.forEach((p, i) => expect({ ...p, data: Buffer.from(p.data) }).toEqual({ ...plain[i]!, data: Buffer.from(plain[i]!.data) }));
        },
      ),
      { numRuns: 300 },
    );
  });
});
