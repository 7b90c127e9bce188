/**
 * Helpers shared by the SCSI builders and decoders: argument checks (ArgumentError) and bounds-checked reads
 * (ScsiError ISCSI_SCSI_BAD_DATA), so no decoder ever lets a RangeError escape.
 */
import { ArgumentError, ScsiError } from '../errors.js';

export const MAX_U64 = (1n << 64n) - 1n;

export function badData(message: string): ScsiError {
  return new ScsiError('ISCSI_SCSI_BAD_DATA', message);
}

export function badArgument(message: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', message);
}

/** Throws ISCSI_SCSI_BAD_DATA unless `buf` holds at least `length` bytes. */
export function need(buf: Buffer, length: number, what: string): void {
  if (!Buffer.isBuffer(buf)) throw badData(`${what}: expected a Buffer`);
  if (buf.length < length) throw badData(`${what}: ${buf.length} bytes, need at least ${length}`);
}

/** An integer in [min, max] or an ArgumentError naming the field. */
export function checkInt(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badArgument(`${what} must be an integer in ${min}..${max}`);
  }
  return value;
}

/** A bigint or safe-integer number in [0, max] as a bigint, or an ArgumentError. */
export function checkBig(value: unknown, max: bigint, what: string): bigint {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else throw badArgument(`${what} must be a non-negative integer (number or bigint)`);
  if (big < 0n || big > max) throw badArgument(`${what} must be in 0..0x${max.toString(16)}`);
  return big;
}

export function hex2(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

/** Printable ASCII from a byte range with trailing spaces and NULs removed (SPC-4 §4.3.1: left-aligned, space-padded). */
export function asciiField(buf: Buffer, start: number, end: number): string {
  return buf
    .subarray(start, Math.min(end, buf.length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
}

/** An options object, or an ArgumentError (so a null never turns into a TypeError further down). */
export function checkOptions<T extends object>(value: T, what: string): T {
  if (value === null || typeof value !== 'object') throw badArgument(`${what} options must be an object`);
  return value;
}
