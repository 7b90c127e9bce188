/**
 * The sense data the test target reports (SPC-4 §4.5.3 fixed format, response code 70h: current error) and the
 * handful of conditions it ever reports, named.
 */
import { SenseKey } from '@iscsi-initiator/core';

/** A sense key with its additional sense code and qualifier, plus where the bad field is when that is known. */
export interface SenseCondition {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  /** INFORMATION (VALID set): e.g. the offset of the first miscompared byte (SBC-3 §5.2). */
  readonly information?: number | undefined;
  /** SPC-4 §4.5.2.4.2: SKSV field pointer; `inCdb` false means the parameter list. */
  readonly field?: { readonly byte: number; readonly bit?: number; readonly inCdb: boolean } | undefined;
}

const condition = (key: number, asc: number, ascq: number): SenseCondition => Object.freeze({ key, asc, ascq });

/** The conditions of SPC-4 Annex D and RFC 7143 §11.4.7.2 that this target uses. */
export const Condition = {
  noSense: condition(SenseKey.NoSense, 0x00, 0x00),
  invalidOpcode: condition(SenseKey.IllegalRequest, 0x20, 0x00),
  lbaOutOfRange: condition(SenseKey.IllegalRequest, 0x21, 0x00),
  invalidFieldInCdb: condition(SenseKey.IllegalRequest, 0x24, 0x00),
  lunNotSupported: condition(SenseKey.IllegalRequest, 0x25, 0x00),
  invalidFieldInParameterList: condition(SenseKey.IllegalRequest, 0x26, 0x00),
  parameterListLengthError: condition(SenseKey.IllegalRequest, 0x1a, 0x00),
  savingParametersNotSupported: condition(SenseKey.IllegalRequest, 0x39, 0x00),
  /** SBC-3 §5.31: MISCOMPARE DURING VERIFY OPERATION. */
  miscompare: condition(SenseKey.Miscompare, 0x1d, 0x00),
  /** SAM-5 §5.14: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED — what a new I_T nexus sees first. */
  powerOnReset: condition(SenseKey.UnitAttention, 0x29, 0x00),
  /** SAM-5 §5.9.7: after a LOGICAL UNIT RESET or a target reset, for every I_T nexus. */
  busDeviceReset: condition(SenseKey.UnitAttention, 0x29, 0x03),
  /** RFC 7143 §11.4.7.2: unsolicited data the negotiated keys do not allow. */
  unexpectedUnsolicitedData: condition(SenseKey.AbortedCommand, 0x0c, 0x0c),
  /** RFC 7143 §11.4.7.2: more or less data than the command and its R2Ts call for. */
  incorrectAmountOfData: condition(SenseKey.AbortedCommand, 0x0c, 0x0d),
  /** SPC-4: DATA PHASE ERROR — a Data-Out out of DataSN order. */
  dataPhaseError: condition(SenseKey.AbortedCommand, 0x4b, 0x00),
  /** SPC-4: INVALID TARGET PORT TRANSFER TAG RECEIVED. */
  invalidTransferTag: condition(SenseKey.AbortedCommand, 0x4b, 0x01),
  /** SPC-4: DATA OFFSET ERROR — a Data-Out at the wrong buffer offset. */
  dataOffsetError: condition(SenseKey.AbortedCommand, 0x4b, 0x05),
} as const;

/** The same condition, pointing at a CDB byte (and bit) as SPC-4 §4.5.2.4.2 lets a device server do. */
export function inCdb(base: SenseCondition, byte: number, bit?: number): SenseCondition {
  return { ...base, field: { byte, bit, inCdb: true } };
}

export const FIXED_SENSE_LENGTH = 18;

/** SPC-4 §4.5.3: fixed-format sense data, 18 bytes (ADDITIONAL SENSE LENGTH 10). */
export function fixedSense(c: SenseCondition): Buffer {
  const sense = Buffer.alloc(FIXED_SENSE_LENGTH);
  sense[0] = 0x70; // current error
  sense[2] = c.key & 0x0f;
  if (c.information !== undefined) {
    sense[0] |= 0x80; // VALID: the INFORMATION field holds something
    sense.writeUInt32BE(c.information >>> 0, 3);
  }
  sense[7] = FIXED_SENSE_LENGTH - 8;
  sense[12] = c.asc;
  sense[13] = c.ascq;
  if (c.field) {
    // SKSV (bit 7), C/D (bit 6), BPV (bit 3) + BIT POINTER (bits 2-0); bytes 16-17 FIELD POINTER.
    sense[15] = 0x80 | (c.field.inCdb ? 0x40 : 0) | (c.field.bit === undefined ? 0 : 0x08 | (c.field.bit & 7));
    sense.writeUInt16BE(c.field.byte, 16);
  }
  return sense;
}
