import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArgumentError } from '../../src/errors.js';
import {
  inquiry,
  modeSense10,
  modeSense6,
  read10,
  read16,
  readCapacity10,
  readCapacity16,
  readCdb,
  reportLuns,
  synchronizeCache10,
  synchronizeCache16,
  testUnitReady,
  unmap,
  unmapParameterList,
  write10,
  write16,
  writeCdb,
  writeSame16,
  MAX_UNMAP_DESCRIPTORS,
} from '../../src/scsi/index.js';

const hex = (b: Buffer): string => b.toString('hex');
const h = (s: string): string => s.replace(/\s+/g, '');

function argumentError(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ArgumentError);
}

describe('CDB builders — byte-exact', () => {
  it('SPC-4 §6.37 TEST UNIT READY: 00h and five zero bytes', () => {
    expect(hex(testUnitReady())).toBe('000000000000');
  });

  it('SPC-4 §6.6 INQUIRY: [1] bit0 EVPD, [2] PAGE CODE, [3..4] ALLOCATION LENGTH', () => {
    expect(hex(inquiry())).toBe(h('12 00 00 00ff 00'));
    expect(hex(inquiry({ evpd: true, page: 0x83, allocationLength: 0x1000 }))).toBe(h('12 01 83 1000 00'));
    expect(hex(inquiry({ evpd: true, page: 0x00, allocationLength: 4 }))).toBe(h('12 01 00 0004 00'));
  });

  it('SPC-4 §6.6.1: a page code without EVPD is refused; allocation length is 16 bits', () => {
    argumentError(() => inquiry({ page: 0x80 }));
    argumentError(() => inquiry({ evpd: true, page: 0x100 }));
    argumentError(() => inquiry({ allocationLength: 0x10000 }));
  });

  it('SBC-3 §5.15 READ CAPACITY(10): 25h, everything else zero', () => {
    expect(hex(readCapacity10())).toBe(h('25 00 00000000 0000 00 00'));
  });

  it('SBC-3 §5.16 READ CAPACITY(16): 9Eh, SA 10h, [10..13] ALLOCATION LENGTH', () => {
    expect(hex(readCapacity16())).toBe(h('9e 10 0000000000000000 00000020 00 00'));
    expect(hex(readCapacity16(0x0102))).toBe(h('9e 10 0000000000000000 00000102 00 00'));
  });

  it('SPC-4 §6.33 REPORT LUNS: A0h, [2] SELECT REPORT, [6..9] ALLOCATION LENGTH (≥ 16)', () => {
    expect(hex(reportLuns())).toBe(h('a0 00 00 000000 00001000 00 00'));
    expect(hex(reportLuns(16, 2))).toBe(h('a0 00 02 000000 00000010 00 00'));
    argumentError(() => reportLuns(15));
  });

  it('SBC-3 §5.11 READ(10): [1] bit4 DPO bit3 FUA, [2..5] LBA, [7..8] TRANSFER LENGTH', () => {
    expect(hex(read10({ lba: 0x12345678, blocks: 0x100, fua: true }))).toBe(h('28 08 12345678 00 0100 00'));
    expect(hex(read10({ lba: 0xffffffffn, blocks: 0xffff, dpo: true }))).toBe(h('28 10 ffffffff 00 ffff 00'));
  });

  it('SBC-3 §5.32 WRITE(10): 2Ah, same layout as READ(10)', () => {
    expect(hex(write10({ lba: 0, blocks: 1 }))).toBe(h('2a 00 00000000 00 0001 00'));
    expect(hex(write10({ lba: 7, blocks: 8, fua: true, dpo: true }))).toBe(h('2a 18 00000007 00 0008 00'));
  });

  it('SBC-3 §5.13/§5.34 READ(16)/WRITE(16): [2..9] LBA, [10..13] TRANSFER LENGTH', () => {
    expect(hex(read16({ lba: 0x1_0000_0000n, blocks: 8 }))).toBe(h('88 00 0000000100000000 00000008 00 00'));
    expect(hex(write16({ lba: 0xffff_ffff_ffff_fffen, blocks: 0xffffffff, fua: true }))).toBe(h('8a 08 fffffffffffffffe ffffffff 00 00'));
  });

  it('range checks: the 10-byte CDBs hold a 32-bit LBA and 16-bit length; the 16-byte ones 64 and 32 bits', () => {
    argumentError(() => read10({ lba: 0x1_0000_0000, blocks: 1 }));
    argumentError(() => read10({ lba: 0, blocks: 0x10000 }));
    argumentError(() => write16({ lba: 1n << 64n, blocks: 1 }));
    argumentError(() => write16({ lba: 0, blocks: 0x1_0000_0000 }));
    argumentError(() => read16({ lba: -1, blocks: 1 }));
    argumentError(() => read16({ lba: 2 ** 60, blocks: 1 })); // not a safe integer: ask for a bigint
    argumentError(() => read16({ lba: 1.5, blocks: 1 }));
    argumentError(() => read16({ lba: 0, blocks: 1.5 }));
    argumentError(() => read16(null as never));
  });

  it('readCdb/writeCdb pick READ(10) while LBA ≤ FFFFFFFFh and blocks ≤ FFFFh, else the 16-byte CDB', () => {
    expect(readCdb({ lba: 0xffffffff, blocks: 0xffff })[0]).toBe(0x28);
    expect(readCdb({ lba: 0x1_0000_0000n, blocks: 1 })[0]).toBe(0x88);
    expect(readCdb({ lba: 0, blocks: 0x10000 })[0]).toBe(0x88);
    expect(writeCdb({ lba: 0xffffffffn, blocks: 1 })[0]).toBe(0x2a);
    expect(writeCdb({ lba: 0x1_0000_0000, blocks: 1 })[0]).toBe(0x8a);
    expect(hex(writeCdb({ lba: 5, blocks: 0x10000, fua: true }))).toBe(h('8a 08 0000000000000005 00010000 00 00'));
    argumentError(() => readCdb({ lba: 0, blocks: 0x1_0000_0000 }));
  });

  it('property: readCdb encodes the LBA and length it was given in whichever form it picks', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 0, max: 0xffffffff }), (lba, blocks) => {
        const cdb = readCdb({ lba, blocks });
        if (cdb.length === 10) {
          expect(lba <= 0xffffffffn && blocks <= 0xffff).toBe(true);
          expect(BigInt(cdb.readUInt32BE(2))).toBe(lba);
          expect(cdb.readUInt16BE(7)).toBe(blocks);
        } else {
          expect(lba > 0xffffffffn || blocks > 0xffff).toBe(true);
          expect(cdb.readBigUInt64BE(2)).toBe(lba);
          expect(cdb.readUInt32BE(10)).toBe(blocks);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('SBC-3 §5.22/§5.23 SYNCHRONIZE CACHE(10)/(16): [1] bit1 IMMED, LBA, NUMBER OF LOGICAL BLOCKS', () => {
    expect(hex(synchronizeCache10())).toBe(h('35 00 00000000 00 0000 00'));
    expect(hex(synchronizeCache10({ immed: true, lba: 0x10, blocks: 0x20 }))).toBe(h('35 02 00000010 00 0020 00'));
    expect(hex(synchronizeCache16({ lba: 5n, blocks: 10 }))).toBe(h('91 00 0000000000000005 0000000a 00 00'));
    argumentError(() => synchronizeCache10({ lba: 0x1_0000_0000 }));
  });

  it('SBC-3 §5.28 UNMAP: 42h, [1] bit0 ANCHOR, [7..8] PARAMETER LIST LENGTH', () => {
    expect(hex(unmap(24))).toBe(h('42 00 00000000 00 0018 00'));
    expect(hex(unmap(0xffff, { anchor: true }))).toBe(h('42 01 00000000 00 ffff 00'));
    argumentError(() => unmap(0x10000));
  });

  it('SBC-3 §5.28.2 UNMAP parameter list: data length n-1, descriptor length 16·k, 16-byte descriptors', () => {
    const list = unmapParameterList([
      { lba: 0x10, blocks: 0x20 },
      { lba: 0x1_0000_0000n, blocks: 0xffffffff },
    ]);
    expect(hex(list)).toBe(
      h(`0026 0020 00000000
         0000000000000010 00000020 00000000
         0000000100000000 ffffffff 00000000`),
    );
    expect(hex(unmapParameterList([]))).toBe(h('0006 0000 00000000'));
    expect(unmapParameterList(new Array(MAX_UNMAP_DESCRIPTORS).fill({ lba: 1, blocks: 1 })).length).toBe(8 + 16 * 4095);
    argumentError(() => unmapParameterList(new Array(MAX_UNMAP_DESCRIPTORS + 1).fill({ lba: 1, blocks: 1 })));
    argumentError(() => unmapParameterList([{ lba: 0, blocks: -1 }]));
  });

  it('SBC-3 §5.42 WRITE SAME(16): 93h, [1] bit4 ANCHOR bit3 UNMAP, [2..9] LBA, [10..13] NUMBER OF LOGICAL BLOCKS', () => {
    expect(hex(writeSame16({ lba: 100, blocks: 2048, unmap: true }))).toBe(h('93 08 0000000000000064 00000800 00 00'));
    expect(hex(writeSame16({ lba: 0n, blocks: 1 }))).toBe(h('93 00 0000000000000000 00000001 00 00'));
  });

  it('SPC-4 §6.11/§6.12 MODE SENSE(6)/(10): DBD, PC|PAGE CODE, SUBPAGE, ALLOCATION LENGTH (and LLBAA)', () => {
    expect(hex(modeSense6({ page: 0x3f, allocationLength: 192 }))).toBe(h('1a 00 3f 00 c0 00'));
    expect(hex(modeSense6({ page: 0x08, pageControl: 1, dbd: true }))).toBe(h('1a 08 48 00 ff 00'));
    expect(hex(modeSense10({ page: 0x1c, subpage: 0x01, llbaa: true, dbd: true, allocationLength: 0x200 }))).toBe(
      h('5a 18 1c 01 000000 0200 00'),
    );
    expect(hex(modeSense10({ page: 0x0a, pageControl: 3 }))).toBe(h('5a 00 ca 00 000000 ffff 00'));
    argumentError(() => modeSense6({ page: 0x40 }));
    argumentError(() => modeSense6({ page: 0, allocationLength: 256 }));
    argumentError(() => modeSense10({ page: 0, pageControl: 4 }));
  });
});
