/**
 * The fields of the block commands the test target serves (SBC-3 §5), read from a CDB by name. Decoding never
 * throws: a CDB shorter than its operation code requires comes back as `undefined` (the caller reports INVALID FIELD
 * IN CDB); values are checked by the logical unit.
 */

/** SBC-3 and SPC-4 operation codes the test target knows. */
export const ScsiOp = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Write6: 0x0a,
  Inquiry: 0x12,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  WriteAndVerify10: 0x2e,
  Verify10: 0x2f,
  SynchronizeCache10: 0x35,
  WriteSame10: 0x41,
  Unmap: 0x42,
  ModeSense10: 0x5a,
  Read16: 0x88,
  CompareAndWrite: 0x89,
  Write16: 0x8a,
  WriteAndVerify16: 0x8e,
  Verify16: 0x8f,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  MaintenanceIn: 0xa3,
  Read12: 0xa8,
  Write12: 0xaa,
  WriteAndVerify12: 0xae,
  Verify12: 0xaf,
} as const;

/** MAINTENANCE IN service action of REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35). */
export const SA_REPORT_SUPPORTED_OPCODES = 0x0c;

/** SERVICE ACTION IN(16) service action of READ CAPACITY(16) (SBC-3 §5.16). */
export const SA_READ_CAPACITY_16 = 0x10;

export interface ReadWrite {
  readonly write: boolean;
  readonly lba: bigint;
  readonly blocks: number;
  /** RDPROTECT / WRPROTECT (bits 7-5 of byte 1); 0 for the 6-byte forms, which have none. */
  readonly protect: number;
  readonly dpo: boolean;
  readonly fua: boolean;
}

/** READ/WRITE (6), (10), (12), (16) and WRITE AND VERIFY (10), (12), (16): SBC-3 §5.8-§5.12, §5.32-§5.40. */
export function readWrite(cdb: Buffer): ReadWrite | undefined {
  const op = cdb[0];
  const write =
    op === ScsiOp.Write6 || op === ScsiOp.Write10 || op === ScsiOp.Write12 || op === ScsiOp.Write16 ||
    op === ScsiOp.WriteAndVerify10 || op === ScsiOp.WriteAndVerify12 || op === ScsiOp.WriteAndVerify16;
  const flags = cdb[1] ?? 0;
  const common = { write, protect: flags >> 5, dpo: (flags & 0x10) !== 0, fua: (flags & 0x08) !== 0 };
  switch (op) {
    case ScsiOp.Read6:
    case ScsiOp.Write6:
      if (cdb.length < 6) return undefined;
      // §5.9: a TRANSFER LENGTH of 0 means 256 blocks; the 21-bit LBA has no flag bits around it.
      return { write, lba: BigInt(((flags & 0x1f) << 16) | cdb.readUInt16BE(2)), blocks: cdb[4] || 256, protect: 0, dpo: false, fua: false };
    case ScsiOp.Read10:
    case ScsiOp.Write10:
    case ScsiOp.WriteAndVerify10:
      if (cdb.length < 10) return undefined;
      return { ...common, lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt16BE(7) };
    case ScsiOp.Read12:
    case ScsiOp.Write12:
    case ScsiOp.WriteAndVerify12:
      if (cdb.length < 12) return undefined;
      return { ...common, lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt32BE(6) };
    case ScsiOp.Read16:
    case ScsiOp.Write16:
    case ScsiOp.WriteAndVerify16:
      if (cdb.length < 16) return undefined;
      return { ...common, lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10) };
    default:
      return undefined;
  }
}

export interface Verify {
  readonly lba: bigint;
  readonly blocks: number;
  readonly protect: number;
  readonly dpo: boolean;
  /** BYTCHK (bits 2-1 of byte 1): 0 no Data-Out, 1 compare the Data-Out, 3 compare one block with each. */
  readonly byteCheck: number;
}

/** VERIFY (10), (12), (16): SBC-3 §5.31-§5.33. */
export function verify(cdb: Buffer): Verify | undefined {
  const flags = cdb[1] ?? 0;
  const common = { protect: flags >> 5, dpo: (flags & 0x10) !== 0, byteCheck: (flags >> 1) & 0x03 };
  if (cdb[0] === ScsiOp.Verify10 && cdb.length >= 10) return { ...common, lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt16BE(7) };
  if (cdb[0] === ScsiOp.Verify12 && cdb.length >= 12) return { ...common, lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt32BE(6) };
  if (cdb[0] === ScsiOp.Verify16 && cdb.length >= 16) return { ...common, lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10) };
  return undefined;
}

export interface CompareAndWrite {
  readonly lba: bigint;
  /** NUMBER OF LOGICAL BLOCKS (byte 13): the Data-Out is twice this many blocks, compare then write. */
  readonly blocks: number;
  readonly protect: number;
}

/** COMPARE AND WRITE: SBC-3 §5.2. */
export function compareAndWrite(cdb: Buffer): CompareAndWrite | undefined {
  if (cdb[0] !== ScsiOp.CompareAndWrite || cdb.length < 16) return undefined;
  return { lba: cdb.readBigUInt64BE(2), blocks: cdb[13]!, protect: cdb[1]! >> 5 };
}

export interface BlockRange {
  readonly lba: bigint;
  /** 0: from `lba` to the end of the medium (SYNCHRONIZE CACHE, WRITE SAME with WSNZ=0). */
  readonly blocks: number;
}

/** SYNCHRONIZE CACHE (10) / (16): SBC-3 §5.22, §5.23. */
export function synchronizeCache(cdb: Buffer): BlockRange | undefined {
  if (cdb[0] === ScsiOp.SynchronizeCache10 && cdb.length >= 10) return { lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt16BE(7) };
  if (cdb[0] === ScsiOp.SynchronizeCache16 && cdb.length >= 16) return { lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10) };
  return undefined;
}

export interface WriteSame extends BlockRange {
  readonly protect: number;
  readonly anchor: boolean;
  readonly unmap: boolean;
  /** NDOB (WRITE SAME (16) only): no Data-Out buffer, the block is zeros. */
  readonly noDataOut: boolean;
}

/** WRITE SAME (10) / (16): SBC-3 §5.41, §5.42. Byte 1: WRPROTECT 7-5, ANCHOR 4, UNMAP 3, NDOB 0 (16 only). */
export function writeSame(cdb: Buffer): WriteSame | undefined {
  const flags = cdb[1] ?? 0;
  const common = { protect: flags >> 5, anchor: (flags & 0x10) !== 0, unmap: (flags & 0x08) !== 0 };
  if (cdb[0] === ScsiOp.WriteSame10 && cdb.length >= 10) return { ...common, noDataOut: false, lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt16BE(7) };
  if (cdb[0] === ScsiOp.WriteSame16 && cdb.length >= 16) return { ...common, noDataOut: (flags & 0x01) !== 0, lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10) };
  return undefined;
}

/** 24-bit, 16-bit or 32-bit ALLOCATION LENGTH at `at`, by CDB. */
export function allocationLength(cdb: Buffer, at: number, bytes: 1 | 2 | 4): number | undefined {
  if (cdb.length < at + bytes) return undefined;
  return bytes === 1 ? cdb[at]! : bytes === 2 ? cdb.readUInt16BE(at) : cdb.readUInt32BE(at);
}
