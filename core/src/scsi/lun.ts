/**
 * SAM-5 §4.7 single-level LUNs in the 8-byte LUN field (RFC 7143 §11.3.4 carries it as-is).
 *
 *   byte 0 bits 7-6 ADDRESS METHOD: 00b peripheral device (bits 5-0 BUS IDENTIFIER, 0 for single level; byte 1 LUN)
 *                                   01b flat space (bits 5-0 + byte 1: a 14-bit LUN)
 *   bytes 2-7: zero for a single-level LUN
 */
import { MAX_U64, badArgument, badData, checkInt } from './bytes.js';

export const MAX_FLAT_LUN = 0x3fff;

/** n < 256 → peripheral addressing (0x00nn…), otherwise flat space (0x40|hi, lo) up to 16383. */
export function encodeLun(n: number): bigint {
  const cached = LUN_FIELDS[n];
  if (cached !== undefined) return cached;
  checkInt(n, 0, MAX_FLAT_LUN, 'LUN');
  const firstLevel = n < 256 ? n : 0x4000 | n;
  const field = BigInt(firstLevel) << 48n;
  // Every command encodes its LUN; the handful a host uses are remembered rather than rebuilt as BigInts each time.
  if (n < 1024) LUN_FIELDS[n] = field;
  return field;
}

const LUN_FIELDS: bigint[] = [];

/**
 * The LUN number of a single-level peripheral or flat-space LUN field. ArgumentError if `field` is not a 64-bit
 * unsigned bigint; ScsiError ISCSI_SCSI_BAD_DATA for any other address method or a multi-level LUN (a peer's data).
 */
export function decodeLun(field: bigint): number {
  if (typeof field !== 'bigint' || field < 0n || field > MAX_U64) throw badArgument('LUN field must be a 64-bit unsigned bigint');
  if ((field & 0xffff_ffff_ffffn) !== 0n) throw badData(`multi-level LUN 0x${field.toString(16).padStart(16, '0')} is not supported`);
  const firstLevel = Number(field >> 48n);
  const method = firstLevel >> 14;
  if (method === 0) {
    if (firstLevel >> 8 !== 0) throw badData(`peripheral LUN with bus identifier ${(firstLevel >> 8) & 0x3f} is not supported`);
    return firstLevel & 0xff;
  }
  if (method === 1) return firstLevel & MAX_FLAT_LUN;
  throw badData(`LUN address method ${method} (0x${field.toString(16).padStart(16, '0')}) is not supported`);
}
