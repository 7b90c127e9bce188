/**
 * CDB builders (SPC-4, SBC-3). Each returns a fresh Buffer; the CONTROL byte (last) is always 0 (no NACA, no link).
 * Out-of-range arguments throw ArgumentError.
 */
import { MAX_U64, badArgument, checkBig, checkInt, checkOptions } from './bytes.js';

/** A zero-filled CDB from Node's small-buffer pool: one is built per command, so it should not cost an ArrayBuffer. */
function zeroed(length: number): Buffer {
  return Buffer.allocUnsafe(length).fill(0);
}

export const OpCode = {
  TestUnitReady: 0x00,
  Inquiry: 0x12,
  ModeSense6: 0x1a,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  SynchronizeCache10: 0x35,
  Unmap: 0x42,
  ModeSense10: 0x5a,
  Read16: 0x88,
  Write16: 0x8a,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
} as const;

/** SERVICE ACTION IN(16) service action for READ CAPACITY(16) (SBC-3 §5.16). */
export const SA_READ_CAPACITY_16 = 0x10;

const MAX_U32 = 0xffff_ffff;
const MAX_U32_BIG = 0xffff_ffffn;

/** SPC-4 §6.37 TEST UNIT READY: 00h, 4 reserved bytes, CONTROL. */
export function testUnitReady(): Buffer {
  return zeroed(6);
}

export interface InquiryOptions {
  /** EVPD: ask for the vital product data page `page` instead of the standard data. */
  evpd?: boolean;
  page?: number;
  /** Default 255: SPC-2 and older devices read only byte 4 of the allocation length. */
  allocationLength?: number;
}

/**
 * SPC-4 §6.6 INQUIRY:
 *   [0] 12h  [1] bit0 EVPD  [2] PAGE CODE  [3..4] ALLOCATION LENGTH  [5] CONTROL
 */
export function inquiry(options: InquiryOptions = {}): Buffer {
  checkOptions(options, 'INQUIRY');
  const evpd = options.evpd ?? false;
  const page = checkInt(options.page ?? 0, 0, 0xff, 'INQUIRY page code');
  const allocationLength = checkInt(options.allocationLength ?? 0xff, 0, 0xffff, 'INQUIRY allocation length');
  // SPC-4 §6.6.1: a non-zero page code with EVPD=0 is an invalid field in the CDB.
  if (!evpd && page !== 0) throw badArgument('an INQUIRY page code needs evpd: true');
  const cdb = zeroed(6);
  cdb[0] = OpCode.Inquiry;
  cdb[1] = evpd ? 0x01 : 0x00;
  cdb[2] = page;
  cdb.writeUInt16BE(allocationLength, 3);
  return cdb;
}

/** SBC-3 §5.15 READ CAPACITY(10): 25h, then the obsolete LBA/PMI fields left zero. */
export function readCapacity10(): Buffer {
  const cdb = zeroed(10);
  cdb[0] = OpCode.ReadCapacity10;
  return cdb;
}

/**
 * SBC-3 §5.16 READ CAPACITY(16):
 *   [0] 9Eh  [1] bits 4-0 SERVICE ACTION (10h)  [2..9] LBA (obsolete, 0)  [10..13] ALLOCATION LENGTH
 *   [14] bit0 PMI (obsolete)  [15] CONTROL
 */
export function readCapacity16(allocationLength = 32): Buffer {
  checkInt(allocationLength, 0, MAX_U32, 'READ CAPACITY(16) allocation length');
  const cdb = zeroed(16);
  cdb[0] = OpCode.ServiceActionIn16;
  cdb[1] = SA_READ_CAPACITY_16;
  cdb.writeUInt32BE(allocationLength, 10);
  return cdb;
}

/**
 * SPC-4 §6.33 REPORT LUNS:
 *   [0] A0h  [1] reserved  [2] SELECT REPORT  [3..5] reserved  [6..9] ALLOCATION LENGTH  [10] reserved  [11] CONTROL
 * SPC-4 requires an allocation length of at least 16 bytes.
 */
export function reportLuns(allocationLength = 4096, selectReport = 0): Buffer {
  checkInt(allocationLength, 16, MAX_U32, 'REPORT LUNS allocation length');
  checkInt(selectReport, 0, 0xff, 'REPORT LUNS select report');
  const cdb = zeroed(12);
  cdb[0] = OpCode.ReportLuns;
  cdb[2] = selectReport;
  cdb.writeUInt32BE(allocationLength, 6);
  return cdb;
}

export interface ReadWriteOptions {
  lba: bigint | number;
  /** TRANSFER LENGTH in logical blocks (0 transfers nothing in the 10- and 16-byte CDBs). */
  blocks: number;
  /** Force Unit Access (SBC-3 §5.11 byte 1 bit 3). */
  fua?: boolean;
  /** Disable Page Out: do not keep the data in cache (byte 1 bit 4). */
  dpo?: boolean;
}

const FLAG_DPO = 0x10;
const FLAG_FUA = 0x08;

function rwFlags(o: ReadWriteOptions): number {
  return (o.dpo ? FLAG_DPO : 0) | (o.fua ? FLAG_FUA : 0);
}

/**
 * READ(10)/WRITE(10) (SBC-3 §5.11, §5.32):
 *   [0] opcode  [1] bits 7-5 RD/WRPROTECT, bit4 DPO, bit3 FUA  [2..5] LOGICAL BLOCK ADDRESS
 *   [6] bits 4-0 GROUP NUMBER  [7..8] TRANSFER LENGTH  [9] CONTROL
 */
function rw10(opcode: number, o: ReadWriteOptions, what: string): Buffer {
  checkOptions(o, what);
  const lba = checkBig(o.lba, MAX_U32_BIG, `${what} LBA`);
  const blocks = checkInt(o.blocks, 0, 0xffff, `${what} transfer length`);
  const cdb = zeroed(10);
  cdb[0] = opcode;
  cdb[1] = rwFlags(o);
  cdb.writeUInt32BE(Number(lba), 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

/**
 * READ(16)/WRITE(16) (SBC-3 §5.13, §5.34):
 *   [0] opcode  [1] bits 7-5 RD/WRPROTECT, bit4 DPO, bit3 FUA  [2..9] LOGICAL BLOCK ADDRESS
 *   [10..13] TRANSFER LENGTH  [14] bits 4-0 GROUP NUMBER  [15] CONTROL
 */
function rw16(opcode: number, o: ReadWriteOptions, what: string): Buffer {
  checkOptions(o, what);
  const lba = checkBig(o.lba, MAX_U64, `${what} LBA`);
  const blocks = checkInt(o.blocks, 0, MAX_U32, `${what} transfer length`);
  const cdb = zeroed(16);
  cdb[0] = opcode;
  cdb[1] = rwFlags(o);
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

export function read10(o: ReadWriteOptions): Buffer {
  return rw10(OpCode.Read10, o, 'READ(10)');
}
export function write10(o: ReadWriteOptions): Buffer {
  return rw10(OpCode.Write10, o, 'WRITE(10)');
}
export function read16(o: ReadWriteOptions): Buffer {
  return rw16(OpCode.Read16, o, 'READ(16)');
}
export function write16(o: ReadWriteOptions): Buffer {
  return rw16(OpCode.Write16, o, 'WRITE(16)');
}

/** The 10-byte CDB when the LBA fits 32 bits and the length 16 bits, else the 16-byte one. */
function needs16(o: ReadWriteOptions, what: string): boolean {
  checkOptions(o, what);
  const lba = checkBig(o.lba, MAX_U64, `${what} LBA`);
  const blocks = checkInt(o.blocks, 0, MAX_U32, `${what} transfer length`);
  return lba > MAX_U32_BIG || blocks > 0xffff;
}

export function readCdb(o: ReadWriteOptions): Buffer {
  return needs16(o, 'READ') ? read16(o) : read10(o);
}
export function writeCdb(o: ReadWriteOptions): Buffer {
  return needs16(o, 'WRITE') ? write16(o) : write10(o);
}

export interface SynchronizeCacheOptions {
  /** First LBA to flush; default 0. */
  lba?: bigint | number;
  /** NUMBER OF LOGICAL BLOCKS; 0 (default) means from `lba` to the end of the medium. */
  blocks?: number;
  /** IMMED: report GOOD before the flush completes. */
  immed?: boolean;
}

const FLAG_IMMED = 0x02;

/**
 * SBC-3 §5.22 SYNCHRONIZE CACHE(10):
 *   [0] 35h  [1] bit1 IMMED  [2..5] LOGICAL BLOCK ADDRESS  [6] GROUP NUMBER  [7..8] NUMBER OF LOGICAL BLOCKS  [9] CONTROL
 */
export function synchronizeCache10(o: SynchronizeCacheOptions = {}): Buffer {
  checkOptions(o, 'SYNCHRONIZE CACHE(10)');
  const lba = checkBig(o.lba ?? 0, MAX_U32_BIG, 'SYNCHRONIZE CACHE(10) LBA');
  const blocks = checkInt(o.blocks ?? 0, 0, 0xffff, 'SYNCHRONIZE CACHE(10) number of blocks');
  const cdb = zeroed(10);
  cdb[0] = OpCode.SynchronizeCache10;
  cdb[1] = o.immed ? FLAG_IMMED : 0;
  cdb.writeUInt32BE(Number(lba), 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

/**
 * SBC-3 §5.23 SYNCHRONIZE CACHE(16):
 *   [0] 91h  [1] bit1 IMMED  [2..9] LOGICAL BLOCK ADDRESS  [10..13] NUMBER OF LOGICAL BLOCKS  [14] GROUP NUMBER  [15] CONTROL
 */
export function synchronizeCache16(o: SynchronizeCacheOptions = {}): Buffer {
  checkOptions(o, 'SYNCHRONIZE CACHE(16)');
  const lba = checkBig(o.lba ?? 0, MAX_U64, 'SYNCHRONIZE CACHE(16) LBA');
  const blocks = checkInt(o.blocks ?? 0, 0, MAX_U32, 'SYNCHRONIZE CACHE(16) number of blocks');
  const cdb = zeroed(16);
  cdb[0] = OpCode.SynchronizeCache16;
  cdb[1] = o.immed ? FLAG_IMMED : 0;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

/**
 * SBC-3 §5.28 UNMAP:
 *   [0] 42h  [1] bit0 ANCHOR  [2..5] reserved  [6] bits 4-0 GROUP NUMBER  [7..8] PARAMETER LIST LENGTH  [9] CONTROL
 */
export function unmap(paramListLength: number, options: { anchor?: boolean } = {}): Buffer {
  checkOptions(options, 'UNMAP');
  checkInt(paramListLength, 0, 0xffff, 'UNMAP parameter list length');
  const cdb = zeroed(10);
  cdb[0] = OpCode.Unmap;
  cdb[1] = options.anchor ? 0x01 : 0;
  cdb.writeUInt16BE(paramListLength, 7);
  return cdb;
}

export interface LbaRange {
  lba: bigint | number;
  blocks: number;
}

/** Most block descriptors that fit the 16-bit UNMAP parameter list length: 8 + 16·n ≤ 65535. */
export const MAX_UNMAP_DESCRIPTORS = 4095;

/**
 * SBC-3 §5.28.2 UNMAP parameter list:
 *   [0..1] UNMAP DATA LENGTH (n - 1)  [2..3] UNMAP BLOCK DESCRIPTOR DATA LENGTH (16·k)  [4..7] reserved
 *   then k descriptors: [0..7] UNMAP LOGICAL BLOCK ADDRESS  [8..11] NUMBER OF LOGICAL BLOCKS  [12..15] reserved
 * Pass its length to `unmap()`.
 */
export function unmapParameterList(ranges: readonly LbaRange[]): Buffer {
  if (!Array.isArray(ranges)) throw badArgument('UNMAP ranges must be an array');
  if (ranges.length > MAX_UNMAP_DESCRIPTORS) throw badArgument(`at most ${MAX_UNMAP_DESCRIPTORS} UNMAP block descriptors fit one list`);
  const list = Buffer.alloc(8 + 16 * ranges.length);
  list.writeUInt16BE(list.length - 2, 0);
  list.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach((r, i) => {
    checkOptions(r, `UNMAP range ${i}`);
    const at = 8 + 16 * i;
    list.writeBigUInt64BE(checkBig(r.lba, MAX_U64, `UNMAP range ${i} LBA`), at);
    list.writeUInt32BE(checkInt(r.blocks, 0, MAX_U32, `UNMAP range ${i} number of blocks`), at + 8);
  });
  return list;
}

export interface WriteSameOptions {
  lba: bigint | number;
  /** NUMBER OF LOGICAL BLOCKS; 0 asks for every block to the end of the medium (device may refuse, SBC-3 §5.42). */
  blocks: number;
  /** UNMAP: deallocate the blocks when the data-out block is all zeros (thin provisioning). */
  unmap?: boolean;
  anchor?: boolean;
}

/**
 * SBC-3 §5.42 WRITE SAME(16):
 *   [0] 93h  [1] bits 7-5 WRPROTECT, bit4 ANCHOR, bit3 UNMAP  [2..9] LOGICAL BLOCK ADDRESS
 *   [10..13] NUMBER OF LOGICAL BLOCKS  [14] bits 4-0 GROUP NUMBER  [15] CONTROL
 * Data-out: one logical block.
 */
export function writeSame16(o: WriteSameOptions): Buffer {
  checkOptions(o, 'WRITE SAME(16)');
  const lba = checkBig(o.lba, MAX_U64, 'WRITE SAME(16) LBA');
  const blocks = checkInt(o.blocks, 0, MAX_U32, 'WRITE SAME(16) number of blocks');
  const cdb = zeroed(16);
  cdb[0] = OpCode.WriteSame16;
  cdb[1] = (o.anchor ? 0x10 : 0) | (o.unmap ? 0x08 : 0);
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

/** SPC-4 §7.5.2 PAGE CONTROL. */
export const PageControl = { Current: 0, Changeable: 1, Default: 2, Saved: 3 } as const;

export interface ModeSenseOptions {
  /** PAGE CODE 0..3Fh; 3Fh returns all pages. */
  page: number;
  subpage?: number;
  pageControl?: number;
  /** DBD: leave block descriptors out. */
  dbd?: boolean;
  allocationLength?: number;
}

function modePageByte(o: ModeSenseOptions): [number, number] {
  checkOptions(o, 'MODE SENSE');
  const page = checkInt(o.page, 0, 0x3f, 'MODE SENSE page code');
  const pc = checkInt(o.pageControl ?? PageControl.Current, 0, 3, 'MODE SENSE page control');
  const subpage = checkInt(o.subpage ?? 0, 0, 0xff, 'MODE SENSE subpage code');
  return [(pc << 6) | page, subpage];
}

export interface ModeSense10Options extends ModeSenseOptions {
  /** LLBAA: long LBA block descriptors may be returned. */
  llbaa?: boolean;
}

/**
 * SPC-4 §6.11 MODE SENSE(6):
 *   [0] 1Ah  [1] bit3 DBD  [2] bits 7-6 PC, bits 5-0 PAGE CODE  [3] SUBPAGE CODE  [4] ALLOCATION LENGTH  [5] CONTROL
 */
export function modeSense6(o: ModeSenseOptions): Buffer {
  const [pageByte, subpage] = modePageByte(o);
  const allocationLength = checkInt(o.allocationLength ?? 0xff, 0, 0xff, 'MODE SENSE(6) allocation length');
  const cdb = zeroed(6);
  cdb[0] = OpCode.ModeSense6;
  cdb[1] = o.dbd ? 0x08 : 0;
  cdb[2] = pageByte;
  cdb[3] = subpage;
  cdb[4] = allocationLength;
  return cdb;
}

/**
 * SPC-4 §6.12 MODE SENSE(10):
 *   [0] 5Ah  [1] bit4 LLBAA, bit3 DBD  [2] bits 7-6 PC, bits 5-0 PAGE CODE  [3] SUBPAGE CODE  [4..6] reserved
 *   [7..8] ALLOCATION LENGTH  [9] CONTROL
 */
export function modeSense10(o: ModeSense10Options): Buffer {
  const [pageByte, subpage] = modePageByte(o);
  const allocationLength = checkInt(o.allocationLength ?? 0xffff, 0, 0xffff, 'MODE SENSE(10) allocation length');
  const cdb = zeroed(10);
  cdb[0] = OpCode.ModeSense10;
  cdb[1] = (o.llbaa ? 0x10 : 0) | (o.dbd ? 0x08 : 0);
  cdb[2] = pageByte;
  cdb[3] = subpage;
  cdb.writeUInt16BE(allocationLength, 7);
  return cdb;
}
