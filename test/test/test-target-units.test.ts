// The test target's I/O-free parts on their own: the RAM store, the SCSI disk (SPC-4/SBC-3, decoded with core's own
// decoders), key negotiation as the responder (RFC 7143 §6.2, §13), CHAP as the authenticator (§12.1.3), Data-Out
// collection (§11.7, §11.8, §13.10-§13.17) and Data-In planning (§11.7).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chapResponse,
  decodeBinaryValue,
  decodeBlockLimits,
  decodeDeviceIdentification,
  decodeLogicalBlockProvisioning,
  decodeReadCapacity10,
  decodeReadCapacity16,
  decodeReportLuns,
  decodeSense,
  decodeStandardInquiry,
  decodeSupportedVpdPages,
  encodeBinaryValue,
  inquiry,
  modeSense10,
  modeSense6,
  Opcode,
  readCapacity10,
  readCapacity16,
  readCdb,
  reportLuns,
  RESERVED_TAG,
  ScsiStatus,
  SenseKey,
  synchronizeCache16,
  TaskAttribute,
  testUnitReady,
  unmap,
  unmapParameterList,
  writeCdb,
  writeSame16,
  type DataOut,
  type ScsiCommand,
} from '@iscsi-initiator/core';
import { ChapAuthenticator, ChapFailure } from '../src/test-target/chap.js';
import { planDataIn, residual } from '../src/test-target/data-in.js';
import { LogicalUnit, type Preparation, type ScsiOutcome } from '../src/test-target/logical-unit.js';
import { KeyError, KeyResponder, resolveTargetParams } from '../src/test-target/negotiation.js';
import { parseSize } from '../src/test-target/options.js';
import { RamDisk } from '../src/test-target/ram-disk.js';
import { WriteTransfer } from '../src/test-target/write-transfer.js';

const NEXUS = 'iqn.2026-11.test:units,i,0x000000000001';

function unit(blockSize: 512 | 4096 = 512, sizeBytes = 1 << 20): LogicalUnit {
  const lu = new LogicalUnit({ targetName: 'iqn.2026-11.test:units', lun: 0, sizeBytes, blockSize });
  lu.addNexus(NEXUS, false);
  return lu;
}

/** Runs a CDB to completion, feeding `dataOut` when the unit asks for it. */
function run(lu: LogicalUnit, cdb: Buffer, dataOut?: Buffer, luns: number[] = [0]): ScsiOutcome {
  const p: Preparation = lu.prepare(NEXUS, cdb, luns);
  if (p.kind === 'complete') return p.outcome;
  return p.finish(dataOut ?? Buffer.alloc(p.length));
}

function senseOf(o: ScsiOutcome): [number, number, number] {
  expect(o.status).toBe(ScsiStatus.CheckCondition);
  const s = decodeSense(o.sense!);
  expect(s.format).toBe('fixed'); // SPC-4 §4.5.3: fixed format, response code 70h
  return [s.senseKey, s.asc, s.ascq];
}

describe('RamDisk: a sparse store that reads zeros where nothing was written', () => {
  it('matches a flat buffer under random writes, zeroes and fills (property)', () => {
    const size = 8 * 4096;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), at: fc.nat(size - 1), data: fc.uint8Array({ minLength: 1, maxLength: 9000 }) }),
      fc.record({ kind: fc.constant('zero' as const), at: fc.nat(size - 1), length: fc.nat(9000) }),
      fc.record({ kind: fc.constant('fill' as const), block: fc.nat(7), blocks: fc.integer({ min: 1, max: 8 }), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const disk = new RamDisk(size, 4096); // small chunks so ranges cross them
        const model = Buffer.alloc(size);
        for (const o of ops) {
          if (o.kind === 'write') {
            const data = Buffer.from(o.data).subarray(0, size - o.at);
            disk.write(o.at, data);
            data.copy(model, o.at);
          } else if (o.kind === 'zero') {
            const length = Math.min(o.length, size - o.at);
            disk.zero(o.at, length);
            model.fill(0, o.at, o.at + length);
          } else {
            const blocks = Math.min(o.blocks, 8 - o.block);
            const pattern = Buffer.alloc(4096, o.byte);
            disk.fill(o.block * 4096, blocks * 4096, pattern);
            model.fill(o.byte, o.block * 4096, (o.block + blocks) * 4096);
          }
        }
        expect(disk.read(0, size).equals(model)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('gives whole chunks back when zeroed, and refuses ranges outside the disk with ArgumentError', () => {
    const disk = new RamDisk(4 << 20);
    disk.write(0, Buffer.alloc(2 << 20, 1));
    expect(disk.allocatedBytes).toBe(2 << 20);
    disk.zero(0, 1 << 20);
    expect(disk.allocatedBytes).toBe(1 << 20);
    expect(() => disk.read((4 << 20) - 1, 2)).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' }));
  });

  it('parses sizes with binary suffixes and refuses the rest', () => {
    expect(parseSize('64M')).toBe(64 << 20);
    expect(parseSize('1G')).toBe(2 ** 30);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize(4096)).toBe(4096);
    for (const bad of ['', 'M', '-1', '1.5M', '12X', 0]) expect(() => parseSize(bad)).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' }));
  });
});

describe('LogicalUnit: a RAM disk speaking SPC-4 and SBC-3', () => {
  it('TEST UNIT READY is GOOD; a UNIT ATTENTION 29h/00h comes first, once per new I_T nexus (SAM-5 §5.14)', () => {
    const lu = unit();
    lu.addNexus('other', true);
    const p = lu.prepare('other', testUnitReady(), [0]);
    expect(p.kind === 'complete' && senseOf(p.outcome)).toEqual([SenseKey.UnitAttention, 0x29, 0x00]);
    expect(run(lu, testUnitReady()).status).toBe(ScsiStatus.Good);
    const again = lu.prepare('other', testUnitReady(), [0]);
    expect(again.kind === 'complete' && again.outcome.status).toBe(ScsiStatus.Good);
  });

  it('INQUIRY and REPORT LUNS neither report nor clear a UNIT ATTENTION; REQUEST SENSE returns it (SAM-5 §5.14)', () => {
    const lu = unit();
    lu.addNexus('n', true);
    const inq = lu.prepare('n', inquiry(), [0]);
    expect(inq.kind === 'complete' && inq.outcome.status).toBe(ScsiStatus.Good);
    const rs = lu.prepare('n', Buffer.from([0x03, 0, 0, 0, 252, 0]), [0]);
    expect(rs.kind).toBe('complete');
    const sense = decodeSense((rs as Extract<Preparation, { kind: 'complete' }>).outcome.data!);
    expect([sense.senseKey, sense.asc, sense.ascq]).toEqual([SenseKey.UnitAttention, 0x29, 0]);
    const tur = lu.prepare('n', testUnitReady(), [0]);
    expect(tur.kind === 'complete' && tur.outcome.status).toBe(ScsiStatus.Good);
  });

  it('standard INQUIRY: direct access, SPC-4, response data format 2, CMDQUE, SPC-4 and SBC-3 version descriptors (SPC-4 §6.6.2)', () => {
    const data = run(unit(), inquiry()).data!;
    const std = decodeStandardInquiry(data);
    expect(std.peripheralDeviceType).toBe(0);
    expect(std.peripheralQualifier).toBe(0);
    expect(std.version).toBe(6);
    expect(std.responseDataFormat).toBe(2);
    expect(std.cmdque).toBe(true);
    expect(std.vendor).toBe('ISCSITST');
    expect(data.readUInt16BE(62)).toBe(0x0460);
    expect(data.readUInt16BE(64)).toBe(0x04c0);
  });

  it('VPD pages 00h, 80h, 83h (NAA), B0h, B2h are served and decode; others are INVALID FIELD IN CDB (SPC-4 §7.8)', () => {
    const lu = unit();
    expect(decodeSupportedVpdPages(run(lu, inquiry({ evpd: true, page: 0x00 })).data!)).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    const ids = decodeDeviceIdentification(run(lu, inquiry({ evpd: true, page: 0x83 })).data!);
    const naa = ids.find((d) => d.type === 3);
    expect(naa?.naa).toBe(6);
    expect(naa?.association).toBe(0);
    const limits = decodeBlockLimits(run(lu, inquiry({ evpd: true, page: 0xb0 })).data!);
    expect(limits.maximumUnmapLbaCount).toBeGreaterThan(0);
    expect(limits.maximumUnmapBlockDescriptorCount).toBeGreaterThan(0);
    const lbp = decodeLogicalBlockProvisioning(run(lu, inquiry({ evpd: true, page: 0xb2 })).data!);
    expect([lbp.lbpu, lbp.lbpws, lbp.lbpws10, lbp.lbprz]).toEqual([true, true, true, 1]);
    expect(senseOf(run(lu, inquiry({ evpd: true, page: 0x89 })))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
    // EVPD=0 with a page code is an invalid field too.
    expect(senseOf(run(lu, Buffer.from([0x12, 0, 0x80, 0, 255, 0])))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });

  it('READ CAPACITY (10) and (16): last LBA, block length, LBPME and LBPRZ set (SBC-3 §5.15, §5.16)', () => {
    for (const blockSize of [512, 4096] as const) {
      const lu = unit(blockSize, 1 << 22);
      const c10 = decodeReadCapacity10(run(lu, readCapacity10()).data!);
      expect(c10.blockLength).toBe(blockSize);
      expect(c10.lastLba).toBe(BigInt((1 << 22) / blockSize - 1));
      const c16 = decodeReadCapacity16(run(lu, readCapacity16()).data!);
      expect(c16.lastLba).toBe(BigInt((1 << 22) / blockSize - 1));
      expect(c16.lbpme).toBe(true);
      expect(c16.lbprz).toBe(true);
    }
  });

  it('REPORT LUNS lists every LUN; ALLOCATION LENGTH under 16 is an invalid field (SPC-4 §6.33)', () => {
    const lu = unit();
    expect(decodeReportLuns(run(lu, reportLuns(), undefined, [5, 0, 1]).data!)).toEqual([0, 1, 5]);
    const cdb = reportLuns(16);
    cdb.writeUInt32BE(8, 6);
    expect(senseOf(run(lu, cdb))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });

  it('WRITE then READ returns the data; a range past the end is LBA OUT OF RANGE 21h/00h (SBC-3 §4.5)', () => {
    const lu = unit();
    const data = Buffer.alloc(4096, 0xab);
    expect(run(lu, writeCdb({ lba: 8, blocks: 8 }), data).status).toBe(ScsiStatus.Good);
    expect(run(lu, readCdb({ lba: 8, blocks: 8 })).data!.equals(data)).toBe(true);
    expect(senseOf(run(lu, readCdb({ lba: 2047, blocks: 2 })))).toEqual([SenseKey.IllegalRequest, 0x21, 0x00]);
    expect(senseOf(run(lu, readCdb({ lba: 2048, blocks: 0 })))).toEqual([SenseKey.IllegalRequest, 0x21, 0x00]);
    expect(run(lu, readCdb({ lba: 2047, blocks: 1 })).status).toBe(ScsiStatus.Good);
    expect(senseOf(run(lu, synchronizeCache16({ lba: 4096 })))).toEqual([SenseKey.IllegalRequest, 0x21, 0x00]);
  });

  it('a WRITE given less Data-Out than its transfer length writes only that prefix (SAM-5 §5.4.2 overflow)', () => {
    const lu = unit();
    run(lu, writeCdb({ lba: 0, blocks: 1 }), Buffer.alloc(512, 0x61));
    run(lu, writeCdb({ lba: 0, blocks: 1 }), Buffer.alloc(200, 0x62));
    const back = run(lu, readCdb({ lba: 0, blocks: 1 })).data!;
    expect(back.subarray(0, 200).every((b) => b === 0x62)).toBe(true);
    expect(back.subarray(200).every((b) => b === 0x61)).toBe(true);
  });

  it('RDPROTECT/WRPROTECT without protection information is INVALID FIELD IN CDB (SBC-3 §5.11)', () => {
    const cdb = readCdb({ lba: 0, blocks: 1 });
    cdb[1] = 0x20;
    expect(senseOf(run(unit(), cdb))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });

  it('an unknown operation code is INVALID COMMAND OPERATION CODE 20h/00h (SPC-4 §4.5.6)', () => {
    expect(senseOf(run(unit(), Buffer.from([0xc7, 0, 0, 0, 0, 0])))).toEqual([SenseKey.IllegalRequest, 0x20, 0x00]);
  });

  it('UNMAP and WRITE SAME (16) with UNMAP deallocate: the blocks read back as zeros (SBC-3 §5.29, §5.42; LBPRZ)', () => {
    const lu = unit();
    run(lu, writeCdb({ lba: 0, blocks: 64 }), Buffer.alloc(64 * 512, 0xff));
    const list = unmapParameterList([{ lba: 0, blocks: 16 }, { lba: 32, blocks: 0 }]);
    expect(run(lu, unmap(list.length), list).status).toBe(ScsiStatus.Good);
    expect(run(lu, readCdb({ lba: 0, blocks: 16 })).data!.every((b) => b === 0)).toBe(true);
    expect(run(lu, readCdb({ lba: 16, blocks: 1 })).data!.every((b) => b === 0xff)).toBe(true);
    expect(run(lu, writeSame16({ lba: 16, blocks: 16, unmap: true }), Buffer.alloc(512)).status).toBe(ScsiStatus.Good);
    expect(run(lu, readCdb({ lba: 16, blocks: 16 })).data!.every((b) => b === 0)).toBe(true);
    const beyond = unmapParameterList([{ lba: 2040, blocks: 9 }]);
    expect(senseOf(run(lu, unmap(beyond.length), beyond))).toEqual([SenseKey.IllegalRequest, 0x21, 0x00]);
  });

  it('WRITE SAME (16) repeats its block over the range, to the end when NUMBER OF LOGICAL BLOCKS is 0 (SBC-3 §5.42, WSNZ=0)', () => {
    const lu = unit();
    const block = Buffer.alloc(512);
    block.write('pattern');
    expect(run(lu, writeSame16({ lba: 2040, blocks: 0 }), block).status).toBe(ScsiStatus.Good);
    const back = run(lu, readCdb({ lba: 2040, blocks: 8 })).data!;
    for (let i = 0; i < 8; i++) expect(back.subarray(i * 512, (i + 1) * 512).equals(block)).toBe(true);
    // A Data-Out of other than one block is refused; ANCHOR (ANC_SUP=0) is an invalid field.
    expect(run(lu, writeSame16({ lba: 0, blocks: 1 }), Buffer.alloc(256)).status).toBe(ScsiStatus.CheckCondition);
    expect(senseOf(run(lu, writeSame16({ lba: 0, blocks: 1, unmap: true, anchor: true })))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });

  it('VERIFY: BYTCHK=1 compares the Data-Out — MISCOMPARE 0Eh 1Dh/00h on a difference; BYTCHK=0 checks only the range (SBC-3 §5.31)', () => {
    const lu = unit();
    const data = Buffer.alloc(1024, 0x5a);
    run(lu, writeCdb({ lba: 4, blocks: 2 }), data);
    const verify10 = (byteCheck: number, lba = 4) => Buffer.from([0x2f, byteCheck << 1, 0, 0, 0, lba, 0, 0, 2, 0]);
    expect(run(lu, verify10(1), data).status).toBe(ScsiStatus.Good);
    const changed = Buffer.from(data);
    changed[700] = changed[700]! ^ 1;
    expect(senseOf(run(lu, verify10(1), changed))).toEqual([SenseKey.Miscompare, 0x1d, 0x00]);
    expect(run(lu, verify10(0)).status).toBe(ScsiStatus.Good);
    expect(run(lu, verify10(3), Buffer.alloc(512, 0x5a)).status).toBe(ScsiStatus.Good); // one block against each
    expect(senseOf(run(lu, verify10(2)))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });

  it('COMPARE AND WRITE writes only when the medium matches; else MISCOMPARE with the offset in INFORMATION (SBC-3 §5.2)', () => {
    const lu = unit();
    run(lu, writeCdb({ lba: 10, blocks: 2 }), Buffer.alloc(1024, 0x41));
    const caw = (blocks: number) => {
      const cdb = Buffer.alloc(16);
      cdb[0] = 0x89;
      cdb.writeBigUInt64BE(10n, 2);
      cdb[13] = blocks;
      return cdb;
    };
    const compareThenWrite = Buffer.concat([Buffer.alloc(1024, 0x41), Buffer.alloc(1024, 0x42)]);
    expect(run(lu, caw(2), compareThenWrite).status).toBe(ScsiStatus.Good);
    expect(run(lu, readCdb({ lba: 10, blocks: 2 })).data!.every((b) => b === 0x42)).toBe(true);
    const stale = Buffer.concat([Buffer.alloc(1024, 0x41), Buffer.alloc(1024, 0x43)]);
    const miscompare = run(lu, caw(2), stale);
    expect(senseOf(miscompare)).toEqual([SenseKey.Miscompare, 0x1d, 0x00]);
    expect(decodeSense(miscompare.sense!).information).toBe(0n);
    expect(run(lu, readCdb({ lba: 10, blocks: 2 })).data!.every((b) => b === 0x42)).toBe(true); // unchanged
  });

  it('REPORT SUPPORTED OPERATION CODES: all commands, or one with its CDB usage data (SPC-4 §6.35)', () => {
    const lu = unit();
    const rsoc = (options: number, opcode = 0, sa = 0, rctd = false) => {
      const cdb = Buffer.alloc(12);
      cdb[0] = 0xa3;
      cdb[1] = 0x0c;
      cdb[2] = (rctd ? 0x80 : 0) | options;
      cdb[3] = opcode;
      cdb.writeUInt16BE(sa, 4);
      cdb.writeUInt32BE(4096, 6);
      return run(lu, cdb);
    };
    const all = rsoc(0).data!;
    expect(all.readUInt32BE(0)).toBe(all.length - 4);
    const opcodes = Array.from({ length: (all.length - 4) / 8 }, (_, i) => all[4 + 8 * i]);
    expect(opcodes).toEqual(expect.arrayContaining([0x00, 0x12, 0x28, 0x2a, 0x88, 0x8a, 0x9e, 0xa0, 0x42, 0x93]));
    const read10 = rsoc(1, 0x28).data!;
    expect(read10[1]! & 0x07).toBe(0x03); // supported, as the standard says
    expect(read10.readUInt16BE(2)).toBe(10);
    expect([read10[4], read10[5]! & 0x18]).toEqual([0x28, 0x18]); // DPO and FUA are evaluated
    expect(senseOf(rsoc(1, 0x9e))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]); // has service actions
    expect(rsoc(2, 0x9e, 0x10).data![1]! & 0x07).toBe(0x03);
    expect(rsoc(1, 0xc7).data![1]! & 0x07).toBe(0x01); // not supported
    const timed = rsoc(0, 0, 0, true).data!;
    expect(timed[4 + 5]! & 0x02).toBe(0x02); // CTDP with RCTD
    expect(timed.readUInt16BE(4 + 8)).toBe(0x0a);
  });

  it('MODE SENSE (6)/(10): a header with DPOFUA, one block descriptor unless DBD; saved values unsupported (SPC-4 §6.11)', () => {
    const lu = unit();
    const six = run(lu, modeSense6({ page: 0x3f })).data!;
    expect(six[0]).toBe(six.length - 1);
    expect(six[2]! & 0x10).toBe(0x10);
    expect(six[3]).toBe(8);
    const ten = run(lu, modeSense10({ page: 0x08, dbd: true })).data!;
    expect(ten.readUInt16BE(0)).toBe(ten.length - 2);
    expect(ten.readUInt16BE(6)).toBe(0);
    expect(ten[8]).toBe(0x08); // the caching page follows the header directly
    expect(senseOf(run(lu, modeSense6({ page: 0x3f, pageControl: 3 })))).toEqual([SenseKey.IllegalRequest, 0x39, 0x00]);
    expect(senseOf(run(lu, modeSense6({ page: 0x01 })))).toEqual([SenseKey.IllegalRequest, 0x24, 0x00]);
  });
});

describe('KeyResponder: operational keys answered by their RFC 7143 result functions', () => {
  const { params, explicit } = resolveTargetParams({ maxBurstLength: 65536, initialR2T: true, headerDigest: ['CRC32C', 'None'] });
  const responder = () => new KeyResponder(params, { sessionType: 'Normal', leading: true, explicit: new Set() });

  it('lists take the first offered value we accept (§6.2.1); none acceptable is Reject', () => {
    const r = responder();
    expect(r.respond([['HeaderDigest', 'None,CRC32C'], ['DataDigest', 'CRC32C,None'], ['TaskReporting', 'FastAbort,RFC3720']], false)).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'CRC32C'],
      ['TaskReporting', 'RFC3720'],
    ]);
    expect(responder().respond([['HeaderDigest', 'MD5']], false)).toEqual([['HeaderDigest', 'Reject']]);
  });

  it('numbers take min/max, booleans OR/AND (§6.2.2, §13.10-§13.17); our MaxRecvDataSegmentLength is declared (§13.12)', () => {
    const r = responder();
    const replies = r.respond([
      ['MaxBurstLength', '262144'],
      ['DefaultTime2Wait', '5'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '4096'],
    ]);
    expect(replies).toEqual([
      ['MaxBurstLength', '65536'],
      ['DefaultTime2Wait', '5'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', String(params.maxRecvDataSegmentLength)],
    ]);
    const { session, connection } = r.result();
    expect(session.maxBurstLength).toBe(65536);
    expect(session.initialR2T).toBe(true);
    expect(connection.initiatorMaxRecvDataSegmentLength).toBe(4096);
  });

  it('unknown keys are NotUnderstood, obsolete ones Reject, a key twice or a security key is an initiator error (§6.2, §6.3, §13.25)', () => {
    expect(responder().respond([['X-com.example.Thing', 'a'], ['IFMarker', 'No']], false)).toEqual([
      ['X-com.example.Thing', 'NotUnderstood'],
      ['IFMarker', 'Reject'],
    ]);
    expect(responder().respond([['MaxBurstLength', '512'], ['MaxBurstLength', '512']])).toBeInstanceOf(KeyError);
    expect(responder().respond([['CHAP_A', '5']])).toBeInstanceOf(KeyError);
    expect(responder().respond([['MaxBurstLength', 'Reject']])).toBeInstanceOf(KeyError);
  });

  it('leading-only keys on a non-leading connection and session keys of a discovery session are Irrelevant (§6.2, §13)', () => {
    const added = new KeyResponder(params, { sessionType: 'Normal', leading: false, explicit: new Set() });
    expect(added.respond([['MaxBurstLength', '512']], false)).toEqual([['MaxBurstLength', 'Irrelevant']]);
    const discovery = new KeyResponder(params, { sessionType: 'Discovery', leading: true, explicit: new Set() });
    expect(discovery.respond([['InitialR2T', 'Yes']], false)).toEqual([['InitialR2T', 'Irrelevant']]);
  });

  it('explicitly configured keys the initiator left out are offered, and their answers checked (§6.2)', () => {
    const r = new KeyResponder(params, { sessionType: 'Normal', leading: true, explicit });
    r.respond([['HeaderDigest', 'None']]);
    const offers = r.offers();
    expect(offers).toEqual([
      ['MaxBurstLength', '65536'],
      ['InitialR2T', 'Yes'],
    ]);
    expect(r.awaitingAnswers).toBe(true);
    expect(r.respond([['MaxBurstLength', '16384'], ['InitialR2T', 'Yes']])).toEqual([]);
    expect(r.awaitingAnswers).toBe(false);
    expect(r.result().session.maxBurstLength).toBe(16384);
  });
});

describe('ChapAuthenticator: the target side of CHAP (RFC 1994, RFC 7143 §12.1.3)', () => {
  const settings = { incoming: { user: 'alice', secret: 'alice-secret' }, outgoing: { user: 'target', secret: 'target-secret' }, algorithms: [5, 6, 7, 8] };

  it.each([5, 6, 7, 8])('CHAP_A=%i: challenge, then a correct response authenticates and a mutual challenge is answered', (algorithm) => {
    const chap = new ChapAuthenticator(settings);
    const challenge = new Map(chap.challengeFor(`${algorithm}`) as Array<[string, string]>);
    expect(challenge.get('CHAP_A')).toBe(String(algorithm));
    const c = decodeBinaryValue(challenge.get('CHAP_C')!);
    const r = chapResponse(algorithm, Number(challenge.get('CHAP_I')), Buffer.from('alice-secret'), c);
    const ours = Buffer.alloc(16, 7);
    const answer = new Map(chap.verify(new Map([['CHAP_N', 'alice'], ['CHAP_R', encodeBinaryValue(r)], ['CHAP_I', '9'], ['CHAP_C', encodeBinaryValue(ours)]])) as Array<[string, string]>);
    expect(chap.authenticated).toBe(true);
    expect(answer.get('CHAP_N')).toBe('target');
    expect(decodeBinaryValue(answer.get('CHAP_R')!).equals(chapResponse(algorithm, 9, Buffer.from('target-secret'), ours))).toBe(true);
  });

  it('chooses the first acceptable algorithm of the offer, and fails when none is', () => {
    const chap = new ChapAuthenticator({ ...settings, algorithms: [5, 7] });
    expect((chap.challengeFor('8,7,5') as Array<[string, string]>)[0]).toEqual(['CHAP_A', '7']);
    expect(new ChapAuthenticator({ ...settings, algorithms: [5] }).challengeFor('6,7')).toBeInstanceOf(ChapFailure);
  });

  it('a wrong response, a wrong name, our own challenge reflected, or mutual CHAP without an outgoing account fail', () => {
    const setup = (s = settings) => {
      const chap = new ChapAuthenticator(s);
      const ch = new Map(chap.challengeFor('5') as Array<[string, string]>);
      const c = decodeBinaryValue(ch.get('CHAP_C')!);
      const good = encodeBinaryValue(chapResponse(5, Number(ch.get('CHAP_I')), Buffer.from('alice-secret'), c));
      return { chap, c, good };
    };
    let t = setup();
    expect(t.chap.verify(new Map([['CHAP_N', 'alice'], ['CHAP_R', '0x00112233445566778899aabbccddeeff']]))).toBeInstanceOf(ChapFailure);
    t = setup();
    expect(t.chap.verify(new Map([['CHAP_N', 'bob'], ['CHAP_R', t.good]]))).toBeInstanceOf(ChapFailure);
    t = setup();
    expect(t.chap.verify(new Map([['CHAP_N', 'alice'], ['CHAP_R', t.good], ['CHAP_I', '1'], ['CHAP_C', encodeBinaryValue(t.c)]]))).toBeInstanceOf(ChapFailure);
    t = setup({ ...settings, outgoing: undefined as never });
    expect(t.chap.verify(new Map([['CHAP_N', 'alice'], ['CHAP_R', t.good], ['CHAP_I', '1'], ['CHAP_C', '0x0102030405060708090a0b0c0d0e0f10']]))).toBeInstanceOf(ChapFailure);
  });
});

function command(o: { edtl: number; data?: Buffer; final?: boolean }): ScsiCommand {
  return {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: o.final ?? true,
    read: false,
    write: true,
    attribute: TaskAttribute.Simple,
    lun: 0n,
    itt: 1,
    expectedDataTransferLength: o.edtl,
    cmdSN: 1,
    expStatSN: 1,
    cdb: Buffer.alloc(10),
    data: o.data ?? Buffer.alloc(0),
  };
}

function dataOut(ttt: number, dataSN: number, bufferOffset: number, length: number, final: boolean): DataOut {
  return { opcode: Opcode.DataOut, final, lun: 0n, itt: 1, ttt, expStatSN: 1, dataSN, bufferOffset, data: Buffer.alloc(length, bufferOffset & 0xff) };
}

describe('WriteTransfer: Data-Out collection by the burst rules (RFC 7143 §11.7, §11.8, §13.10-§13.17)', () => {
  const limits = { firstBurstLength: 8192, maxBurstLength: 16384, maxOutstandingR2T: 2, initialR2T: false, immediateData: true };
  let tags = 100;
  const tag = () => tags++;

  it('immediate + unsolicited data up to FirstBurstLength, then R2Ts of at most MaxBurstLength, MaxOutstandingR2T at a time', () => {
    const t = new WriteTransfer(limits, 65536, 65536, tag);
    t.start(command({ edtl: 65536, data: Buffer.alloc(4096), final: false }));
    expect(t.nextR2Ts()).toEqual([]); // not while unsolicited data is still coming
    t.onDataOut(dataOut(RESERVED_TAG, 0, 4096, 4096, true));
    const first = t.nextR2Ts();
    expect(first.map((r) => [r.r2tSN, r.bufferOffset, r.length])).toEqual([
      [0, 8192, 16384],
      [1, 24576, 16384],
    ]);
    expect(t.nextR2Ts()).toEqual([]); // MaxOutstandingR2T=2 reached
    t.onDataOut(dataOut(first[0]!.ttt, 0, 8192, 8192, false));
    t.onDataOut(dataOut(first[0]!.ttt, 1, 16384, 8192, true));
    const next = t.nextR2Ts();
    expect(next.map((r) => [r.r2tSN, r.bufferOffset, r.length])).toEqual([[2, 40960, 16384]]);
    t.onDataOut(dataOut(first[1]!.ttt, 0, 24576, 16384, true));
    const last = t.nextR2Ts();
    expect(last.map((r) => [r.bufferOffset, r.length])).toEqual([[57344, 8192]]);
    t.onDataOut(dataOut(next[0]!.ttt, 0, 40960, 16384, true));
    t.onDataOut(dataOut(last[0]!.ttt, 0, 57344, 8192, true));
    expect(t.complete).toBe(true);
    expect(t.failure).toBeUndefined();
    expect(t.r2tCount).toBe(4);
  });

  it.each([
    ['immediate data with ImmediateData=No (§13.11)', { ...limits, immediateData: false }, command({ edtl: 1024, data: Buffer.alloc(512) }), [0x0c, 0x0c]],
    ['unsolicited Data-Out announced with InitialR2T=Yes (§13.10)', { ...limits, initialR2T: true }, command({ edtl: 1024, final: false }), [0x0c, 0x0c]],
    ['immediate data over FirstBurstLength (§13.14)', { ...limits, firstBurstLength: 512 }, command({ edtl: 4096, data: Buffer.alloc(1024) }), [0x0c, 0x0d]],
  ])('%s fails the task with ABORTED COMMAND (§11.4.7.2)', (_name, l, cmd, [asc, ascq]) => {
    const t = new WriteTransfer(l, cmd.expectedDataTransferLength, cmd.expectedDataTransferLength, tag);
    t.start(cmd);
    expect(t.failure?.condition.key).toBe(SenseKey.AbortedCommand);
    expect([t.failure?.condition.asc, t.failure?.condition.ascq]).toEqual([asc, ascq]);
  });

  it.each([
    ['a DataSN out of order (§11.7)', (ttt: number) => [dataOut(ttt, 1, 0, 512, false)], 0x4b, 0x00],
    ['a BufferOffset out of order (§13.18)', (ttt: number) => [dataOut(ttt, 0, 512, 512, false)], 0x4b, 0x05],
    ['a TTT no R2T has (§11.7)', () => [dataOut(0x7777, 0, 0, 512, true)], 0x4b, 0x01],
    ['more data than the R2T asked for (§11.8)', (ttt: number) => [dataOut(ttt, 0, 0, 2048, true)], 0x0c, 0x0d],
    ['F=1 before the burst is complete (§11.7)', (ttt: number) => [dataOut(ttt, 0, 0, 512, true)], 0x0c, 0x0d],
  ])('%s fails the task, answered once the sequence has ended', (_name, pdus, asc, ascq) => {
    const t = new WriteTransfer({ ...limits, initialR2T: true, immediateData: false }, 1024, 1024, tag);
    t.start(command({ edtl: 1024 }));
    const [r2t] = t.nextR2Ts();
    for (const pdu of pdus(r2t!.ttt)) t.onDataOut(pdu);
    expect([t.failure?.condition.asc, t.failure?.condition.ascq]).toEqual([asc, ascq]);
    if (!t.quiescent) t.onDataOut(dataOut(r2t!.ttt, 9, 9, 1, true)); // whatever ends the burst
    expect(t.quiescent).toBe(true);
    expect(t.nextR2Ts()).toEqual([]);
  });

  it('asks only for min(EDTL, transfer length) and accepts unsolicited data beyond it (SAM-5 §5.4.2)', () => {
    const t = new WriteTransfer(limits, 8192, 512, tag);
    t.start(command({ edtl: 8192, data: Buffer.alloc(8192, 1) }));
    expect(t.complete).toBe(true);
    expect(t.data.length).toBe(512);
  });
});

describe('Data-In planning (RFC 7143 §11.7)', () => {
  it('covers the data in order with segments ≤ MaxRecvDataSegmentLength and F at every MaxBurstLength boundary (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 18 }), fc.integer({ min: 512, max: 65536 }), fc.integer({ min: 512, max: 262144 }), (length, segment, burst) => {
        let at = 0;
        for (const s of planDataIn(length, segment, burst)) {
          const end = at + s.length;
          // In order, non-empty, within MaxRecvDataSegmentLength, never across a burst boundary, F exactly at one.
          expect(s.offset).toBe(at);
          expect(s.length).toBeGreaterThan(0);
          expect(s.length).toBeLessThanOrEqual(segment);
          expect(Math.floor((end - 1) / burst)).toBe(Math.floor(s.offset / burst));
          expect(s.final).toBe(end % burst === 0 || end === length);
          at = end;
        }
        expect(at).toBe(length);
      }),
      { numRuns: 300 },
    );
  });

  it('residuals: underflow when less than EDTL was transferred, overflow when more was asked (§11.4)', () => {
    expect(residual(10000, 512)).toEqual({ underflow: true, overflow: false, residualCount: 9488 });
    expect(residual(200, 512)).toEqual({ underflow: false, overflow: true, residualCount: 312 });
    expect(residual(512, 512)).toEqual({ underflow: false, overflow: false, residualCount: 0 });
  });
});
