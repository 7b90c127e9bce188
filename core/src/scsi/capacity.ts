/** READ CAPACITY parameter data (SBC-3 §5.15.2, §5.16.2). */
import { need } from './bytes.js';

export interface Capacity10 {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. */
  readonly lastLba: bigint;
  readonly blockLength: number;
  readonly blocks: bigint;
  readonly sizeBytes: bigint;
  /** SBC-3 §5.15.2: FFFFFFFFh means the capacity does not fit; issue READ CAPACITY(16). */
  readonly needsReadCapacity16: boolean;
}

/**
 * SBC-3 §5.15.2 READ CAPACITY(10) data:
 *   [0..3] RETURNED LOGICAL BLOCK ADDRESS  [4..7] LOGICAL BLOCK LENGTH IN BYTES
 */
export function decodeReadCapacity10(buf: Buffer): Capacity10 {
  need(buf, 8, 'READ CAPACITY(10) data');
  const last = buf.readUInt32BE(0);
  const blockLength = buf.readUInt32BE(4);
  const lastLba = BigInt(last);
  return {
    lastLba,
    blockLength,
    blocks: lastLba + 1n,
    sizeBytes: (lastLba + 1n) * BigInt(blockLength),
    needsReadCapacity16: last === 0xffff_ffff,
  };
}

export interface Capacity16 {
  readonly lastLba: bigint;
  readonly blockLength: number;
  readonly blocks: bigint;
  readonly sizeBytes: bigint;
  readonly protection: {
    /** PROT_EN */
    readonly enabled: boolean;
    /** 0 when disabled, else P_TYPE + 1 (type 1, 2 or 3 protection, SBC-3 §4.22.2). */
    readonly type: number;
    /** P_I_EXPONENT: protection information intervals per logical block = 2^exponent. */
    readonly piExponent: number;
  };
  /** LBPPBE: logical blocks per physical block = 2^exponent. */
  readonly logicalBlocksPerPhysicalBlockExponent: number;
  readonly physicalBlockLength: number;
  /** LBPME: the logical unit is thin provisioned (supports unmapping). */
  readonly lbpme: boolean;
  /** LBPRZ: unmapped blocks read back as zeros. */
  readonly lbprz: boolean;
  readonly lowestAlignedLba: number;
}

/** The first 16 bytes carry every field; the remaining 16 of the 32-byte data are reserved. */
export const READ_CAPACITY_16_MIN_LENGTH = 16;

/**
 * SBC-3 §5.16.2 READ CAPACITY(16) data:
 *   [0..7] RETURNED LOGICAL BLOCK ADDRESS  [8..11] LOGICAL BLOCK LENGTH IN BYTES  [12] bits 3-1 P_TYPE, bit0 PROT_EN
 *   [13] bits 7-4 P_I_EXPONENT, bits 3-0 LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
 *   [14] bit7 LBPME, bit6 LBPRZ, bits 5-0 + [15] LOWEST ALIGNED LOGICAL BLOCK ADDRESS  [16..31] reserved
 */
export function decodeReadCapacity16(buf: Buffer): Capacity16 {
  need(buf, READ_CAPACITY_16_MIN_LENGTH, 'READ CAPACITY(16) data');
  const lastLba = buf.readBigUInt64BE(0);
  const blockLength = buf.readUInt32BE(8);
  const b12 = buf[12]!;
  const b13 = buf[13]!;
  const enabled = (b12 & 0x01) !== 0;
  const lbppbe = b13 & 0x0f;
  return {
    lastLba,
    blockLength,
    blocks: lastLba + 1n,
    sizeBytes: (lastLba + 1n) * BigInt(blockLength),
    protection: { enabled, type: enabled ? ((b12 >> 1) & 0x07) + 1 : 0, piExponent: b13 >> 4 },
    logicalBlocksPerPhysicalBlockExponent: lbppbe,
    physicalBlockLength: blockLength * 2 ** lbppbe,
    lbpme: (buf[14]! & 0x80) !== 0,
    lbprz: (buf[14]! & 0x40) !== 0,
    lowestAlignedLba: buf.readUInt16BE(14) & 0x3fff,
  };
}
