/**
 * Named access to the 48-byte Basic Header Segment (RFC 7143 §11.2.1) and checked field writers.
 *
 *   Byte/     0       |       1       |       2       |       3       |
 *       +---------------+---------------+---------------+---------------+
 *      0|.|I| Opcode    |F|  Opcode-specific fields                     |
 *      4|TotalAHSLength | DataSegmentLength                             |
 *      8| LUN or Opcode-specific fields                                 |
 *     12|                                                               |
 *     16| Initiator Task Tag                                            |
 *     20/ Opcode-specific fields                                        /
 *     48+---------------+---------------+---------------+---------------+
 *
 * Readers assume a buffer of at least 48 bytes (the codec checks that once); writers validate the value's range and
 * throw ArgumentError naming the field, so a bad PDU object never turns into a RangeError or silent truncation.
 */

import { ArgumentError } from '../errors.js';

export const BHS_LENGTH = 48;

/** Offsets of the fields every BHS shares (§11.2.1). */
export const BhsField = {
  opcode: 0,
  flags: 1,
  totalAhsLength: 4,
  dataSegmentLength: 5,
  lun: 8,
  itt: 16,
} as const;

/** Byte 0: the I bit (§11.2.1.1) and the 6-bit opcode (§11.2.1.2). */
export const IMMEDIATE_BIT = 0x40;
export const OPCODE_MASK = 0x3f;
/** Byte 1: the F bit (§11.2.1.3); fixed to 1 in many PDUs. */
export const FINAL_BIT = 0x80;

/** DataSegmentLength is a 24-bit field (§11.2.1.6). */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;
/** TotalAHSLength is one byte counting 4-byte words (§11.2.1.5). */
export const MAX_TOTAL_AHS_BYTES = 255 * 4;

export function opcodeOf(bhs: Buffer): number {
  return bhs[BhsField.opcode]! & OPCODE_MASK;
}

export function isImmediate(bhs: Buffer): boolean {
  return (bhs[BhsField.opcode]! & IMMEDIATE_BIT) !== 0;
}

/** TotalAHSLength converted from 4-byte words to bytes. */
export function totalAhsBytes(bhs: Buffer): number {
  return bhs[BhsField.totalAhsLength]! * 4;
}

/** The unpadded data segment length (§11.2.1.6). */
export function dataSegmentLength(bhs: Buffer): number {
  return bhs.readUIntBE(BhsField.dataSegmentLength, 3);
}

/** Number of zero bytes that pad `length` to a 4-byte boundary (§11.2.4). */
export function padLength(length: number): number {
  return (4 - (length & 3)) & 3;
}

/** `length` rounded up to a multiple of 4. */
export function padded(length: number): number {
  return length + padLength(length);
}

// ---- reading (bounds are guaranteed by the caller: the BHS is exactly 48 bytes) ----

export function getU8(b: Buffer, at: number): number {
  return b[at]!;
}

export function getU16(b: Buffer, at: number): number {
  return b.readUInt16BE(at);
}

export function getU32(b: Buffer, at: number): number {
  return b.readUInt32BE(at);
}

export function getBit(b: Buffer, at: number, mask: number): boolean {
  return (b[at]! & mask) !== 0;
}

/** The raw 8-byte LUN (§11.2.1.7) as an unsigned bigint. */
export function getLun(b: Buffer, at: number): bigint {
  return b.readBigUInt64BE(at);
}

/** The 6-byte ISID (§11.12.5) as a 48-bit bigint. */
export function getIsid(b: Buffer, at: number): bigint {
  return BigInt(b.readUIntBE(at, 6));
}

// ---- writing (range-checked) ----

function badField(field: string, value: unknown, range: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', `PDU field ${field} = ${String(value)} is outside ${range}`);
}

/** Checks that `value` is an integer in [0, 2**bits) and returns it. */
export function checkUint(value: number, bits: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw badField(field, value, `0..2^${bits}-1`);
  return value;
}

export function putU8(b: Buffer, at: number, value: number, field: string): void {
  b[at] = checkUint(value, 8, field);
}

export function putU16(b: Buffer, at: number, value: number, field: string): void {
  b.writeUInt16BE(checkUint(value, 16, field), at);
}

export function putU24(b: Buffer, at: number, value: number, field: string): void {
  b.writeUIntBE(checkUint(value, 24, field), at, 3);
}

export function putU32(b: Buffer, at: number, value: number, field: string): void {
  b.writeUInt32BE(checkUint(value, 32, field), at);
}

/** ORs `mask` into byte `at` when `on`; the byte starts at zero because headers are zero-filled. */
export function putBit(b: Buffer, at: number, mask: number, on: boolean): void {
  if (on) b[at] = b[at]! | mask;
}

/** ORs a small value into the low `bits` bits of byte `at` after a range check. */
export function putBits(b: Buffer, at: number, value: number, bits: number, field: string): void {
  b[at] = b[at]! | checkUint(value, bits, field);
}

export function putLun(b: Buffer, at: number, value: bigint, field = 'LUN'): void {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffffffn) throw badField(field, value, '0..2^64-1');
  b.writeBigUInt64BE(value, at);
}

export function putIsid(b: Buffer, at: number, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffn) throw badField('ISID', value, '0..2^48-1');
  b.writeUIntBE(Number(value), at, 6);
}

/** Byte 0: opcode plus the I bit. */
export function putOpcode(b: Buffer, opcode: number, immediate: boolean): void {
  b[BhsField.opcode] = (opcode & OPCODE_MASK) | (immediate ? IMMEDIATE_BIT : 0);
}
