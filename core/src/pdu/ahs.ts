/**
 * Additional Header Segments (RFC 7143 §11.2.2).
 *
 *   Byte/     0       |       1       |       2       |       3       |
 *       +---------------+---------------+---------------+---------------+
 *      0| AHSLength                     | AHSType       | AHS-Specific  |
 *       +---------------+---------------+---------------+---------------+
 *      4/ AHS-Specific                                                  /
 *       +---------------+---------------+---------------+---------------+
 *
 * AHSLength (§11.2.2.2) counts the bytes after AHSType, so it includes the type-specific byte 3 and excludes padding;
 * each AHS is padded to a 4-byte boundary. AHSType (§11.2.2.1): bits 0-1 reserved, bits 2-7 the AHS code.
 */

import { AhsType } from './types.js';
import { ArgumentError, ProtocolError } from '../errors.js';
import { MAX_TOTAL_AHS_BYTES, checkUint, padded } from './bhs.js';

/** One AHS as it travels: `specific` is byte 3, `body` everything after it up to AHSLength. */
export interface AhsSegment {
  readonly type: number;
  readonly specific: number;
  readonly body: Buffer;
}

/** The AHS code lives in the low 6 bits of AHSType (§11.2.2.1). */
export const AHS_CODE_MASK = 0x3f;

/** AHSLength of the Bidirectional Read Expected Data Transfer Length AHS: reserved byte + 4 bytes (§11.2.2.4). */
export const BIDI_AHS_LENGTH = 5;

const AHS_FIXED = 4; // AHSLength + AHSType + the first AHS-Specific byte

/** Bytes `seg` occupies on the wire, padding included. */
export function ahsWireLength(seg: AhsSegment): number {
  return padded(AHS_FIXED + seg.body.length);
}

/** Bytes a list of AHS occupies; throws ArgumentError past the 1020 bytes TotalAHSLength can count. */
export function ahsListLength(list: readonly AhsSegment[]): number {
  let total = 0;
  for (const seg of list) total += ahsWireLength(seg);
  if (total > MAX_TOTAL_AHS_BYTES) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `AHS total ${total} bytes exceeds ${MAX_TOTAL_AHS_BYTES} (RFC 7143 §11.2.1.5)`);
  }
  return total;
}

/** Writes `list` at `offset` of a zero-filled `target`; returns the bytes written. */
export function writeAhsList(list: readonly AhsSegment[], target: Buffer, offset: number): number {
  let at = offset;
  for (const seg of list) {
    target.writeUInt16BE(1 + seg.body.length, at);
    target[at + 2] = seg.type;
    target[at + 3] = seg.specific;
    seg.body.copy(target, at + AHS_FIXED);
    at += ahsWireLength(seg);
  }
  return at - offset;
}

/**
 * Splits the AHS area into segments. `body` views alias `ahs`. Throws ProtocolError ISCSI_PDU_BAD_FIELD when an AHS
 * is too short to hold its own type-specific byte or runs past TotalAHSLength; the content of each AHS is not
 * interpreted here.
 */
export function parseAhsList(ahs: Buffer, context: string): AhsSegment[] {
  const list: AhsSegment[] = [];
  let at = 0;
  while (at < ahs.length) {
    if (ahs.length - at < AHS_FIXED) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `${context}: AHS at offset ${at} is cut short by TotalAHSLength (RFC 7143 §11.2.2)`);
    }
    const ahsLength = ahs.readUInt16BE(at);
    if (ahsLength < 1) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `${context}: AHSLength 0 at offset ${at} (RFC 7143 §11.2.2.2)`);
    }
    const end = at + 3 + ahsLength;
    if (end > ahs.length) {
      throw new ProtocolError(
        'ISCSI_PDU_BAD_FIELD',
        `${context}: AHS at offset ${at} with AHSLength ${ahsLength} runs past TotalAHSLength (${ahs.length} bytes) (RFC 7143 §11.2.2.2)`,
      );
    }
    list.push({ type: ahs[at + 2]!, specific: ahs[at + 3]!, body: ahs.subarray(at + AHS_FIXED, end) });
    at = padded(end);
  }
  return list;
}

/** The Extended CDB AHS (§11.2.2.3) carrying CDB bytes 16 and up; AHSLength = CDB length - 15. */
export function extendedCdbAhs(cdbTail: Buffer): AhsSegment {
  return { type: AhsType.ExtendedCdb, specific: 0, body: cdbTail };
}

/** The Bidirectional Read Expected Data Transfer Length AHS (§11.2.2.4). */
export function bidiReadLengthAhs(length: number): AhsSegment {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(checkUint(length, 32, 'BidiReadExpectedDataTransferLength'));
  return { type: AhsType.BidiReadLength, specific: 0, body };
}
