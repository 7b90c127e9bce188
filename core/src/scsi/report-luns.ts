/** REPORT LUNS parameter data (SPC-4 §6.33.2). */
import { badData, need } from './bytes.js';
import { decodeLun } from './lun.js';

/**
 * The total length the device wants to return (LUN LIST LENGTH + 8); re-issue REPORT LUNS with at least this
 * allocation length when it exceeds what you received.
 */
export function reportLunsLength(buf: Buffer): number {
  need(buf, 4, 'REPORT LUNS data');
  return buf.readUInt32BE(0) + 8;
}

/**
 * SPC-4 §6.33.2: [0..3] LUN LIST LENGTH (n-7)  [4..7] reserved  [8..] one 8-byte LUN per entry.
 * Raw LUN fields; throws ISCSI_SCSI_BAD_DATA when the list is truncated or not a multiple of 8 bytes.
 */
export function decodeReportLunsRaw(buf: Buffer): bigint[] {
  need(buf, 8, 'REPORT LUNS data');
  const listLength = buf.readUInt32BE(0);
  if (listLength % 8 !== 0) throw badData(`REPORT LUNS list length ${listLength} is not a multiple of 8`);
  if (buf.length - 8 < listLength) {
    throw badData(`REPORT LUNS data truncated: ${buf.length} of ${listLength + 8} bytes (raise the allocation length)`);
  }
  const luns: bigint[] = [];
  for (let at = 8; at < 8 + listLength; at += 8) luns.push(buf.readBigUInt64BE(at));
  return luns;
}

/** The LUN numbers (single-level peripheral or flat space, via decodeLun); ISCSI_SCSI_BAD_DATA for any other form. */
export function decodeReportLuns(buf: Buffer): number[] {
  return decodeReportLunsRaw(buf).map((field) => decodeLun(field));
}
