/**
 * Sense data (SPC-4 §4.5): fixed (70h/71h) and descriptor (72h/73h) formats, decoded best-effort. Garbage that is
 * not sense data at all throws ScsiError ISCSI_SCSI_BAD_DATA; short but recognisable sense decodes with
 * `truncated: true` and whatever fields were present.
 */
import { ScsiError } from '../errors.js';
import { badData, hex2 } from './bytes.js';
import { ascqName, SenseKey, senseKeyName } from './sense-codes.js';
import { ScsiStatus } from './status.js';

export { ascqName, isReportedLunsChanged, SenseKey, senseKeyName } from './sense-codes.js';

/** SPC-4 §4.5.2.4.4: where in the CDB (or parameter list) the offending field is. */
export interface SenseFieldPointer {
  /** C/D: true when the field is in the CDB, false when in the parameter data. */
  readonly commandData: boolean;
  /** Byte offset of the field. */
  readonly field: number;
  /** Bit within that byte, when the device reported one (BPV). */
  readonly bit?: number;
}

/** One descriptor of descriptor-format sense, with its bytes after the 2-byte header (a copy). */
export interface SenseDescriptor {
  readonly type: number;
  readonly data: Buffer;
}

export interface Sense {
  readonly responseCode: number;
  readonly format: 'fixed' | 'descriptor';
  /** 70h/72h: current error; 71h/73h: deferred error (of an earlier command). */
  readonly current: boolean;
  readonly senseKey: number;
  readonly asc: number;
  readonly ascq: number;
  readonly information?: bigint;
  readonly commandSpecificInformation?: bigint;
  readonly fieldPointer?: SenseFieldPointer;
  /** Progress indication (NOT READY / NO SENSE): done fraction = progress / 65536. */
  readonly progress?: number;
  readonly fruCode?: number;
  readonly filemark: boolean;
  readonly eom: boolean;
  readonly ili: boolean;
  /** Descriptor format only; [] for fixed format. */
  readonly descriptors: readonly SenseDescriptor[];
  /** Some bytes the sense data promised (or the ASC/ASCQ) were missing. */
  readonly truncated: boolean;
}

export const SenseDescriptorType = {
  Information: 0x00,
  CommandSpecificInformation: 0x01,
  SenseKeySpecific: 0x02,
  FieldReplaceableUnit: 0x03,
  StreamCommands: 0x04,
  BlockCommands: 0x05,
} as const;

interface Mutable {
  information?: bigint;
  commandSpecificInformation?: bigint;
  fieldPointer?: SenseFieldPointer;
  progress?: number;
  fruCode?: number;
  filemark: boolean;
  eom: boolean;
  ili: boolean;
}

/** SPC-4 §4.5.3 fixed-format sense data (18 bytes, current error): what a target's CHECK CONDITION carries. */
export function encodeFixedSense(senseKey: number, asc: number, ascq: number): Buffer {
  const sense = Buffer.alloc(18);
  sense[0] = 0x70;
  sense[2] = senseKey & 0x0f;
  sense[7] = 10; // ADDITIONAL SENSE LENGTH: bytes 8..17
  sense[12] = asc;
  sense[13] = ascq;
  return sense;
}

/** Decodes sense data. Throws ScsiError ISCSI_SCSI_BAD_DATA only when the bytes are not sense data at all. */
export function decodeSense(buf: Buffer): Sense {
  if (!Buffer.isBuffer(buf) || buf.length === 0) throw badData('empty sense data');
  const responseCode = buf[0]! & 0x7f;
  if (responseCode === 0x70 || responseCode === 0x71) return decodeFixed(buf, responseCode);
  if (responseCode === 0x72 || responseCode === 0x73) return decodeDescriptor(buf, responseCode);
  throw badData(`sense data has unknown response code ${hex2(responseCode)}`);
}

/** Bytes the sense data claims (8-byte header + ADDITIONAL SENSE LENGTH), capped to what arrived. */
function senseEnd(buf: Buffer): { end: number; short: boolean } {
  if (buf.length < 8) return { end: buf.length, short: true };
  const declared = 8 + buf[7]!;
  return { end: Math.min(declared, buf.length), short: declared > buf.length };
}

/**
 * SPC-4 §4.5.3 fixed format:
 *   [0] bit7 VALID, bits 6-0 RESPONSE CODE  [1] obsolete  [2] bit7 FILEMARK, bit6 EOM, bit5 ILI, bits 3-0 SENSE KEY
 *   [3..6] INFORMATION  [7] ADDITIONAL SENSE LENGTH (n-7)  [8..11] COMMAND-SPECIFIC INFORMATION  [12] ASC  [13] ASCQ
 *   [14] FIELD REPLACEABLE UNIT CODE  [15] bit7 SKSV + [15..17] SENSE KEY SPECIFIC  [18..] additional sense bytes
 */
function decodeFixed(buf: Buffer, responseCode: number): Sense {
  if (buf.length < 3) throw badData(`fixed-format sense data too short for a sense key (${buf.length} bytes)`);
  const { end, short } = senseEnd(buf);
  const flags = buf[2]!;
  const senseKey = flags & 0x0f;
  const out: Mutable = { filemark: (flags & 0x80) !== 0, eom: (flags & 0x40) !== 0, ili: (flags & 0x20) !== 0 };
  if ((buf[0]! & 0x80) !== 0 && buf.length >= 7) out.information = BigInt(buf.readUInt32BE(3));
  if (end >= 12) {
    const csi = buf.readUInt32BE(8);
    if (csi !== 0) out.commandSpecificInformation = BigInt(csi);
  }
  const hasAsc = end >= 14;
  if (end >= 15 && buf[14] !== 0) out.fruCode = buf[14]!;
  if (end >= 18) decodeSenseKeySpecific(senseKey, buf.subarray(15, 18), out);
  return {
    responseCode,
    format: 'fixed',
    current: responseCode === 0x70,
    senseKey,
    asc: hasAsc ? buf[12]! : 0,
    ascq: hasAsc ? buf[13]! : 0,
    ...out,
    descriptors: [],
    truncated: short || !hasAsc,
  };
}

/**
 * SPC-4 §4.5.2 descriptor format:
 *   [0] RESPONSE CODE  [1] bits 3-0 SENSE KEY  [2] ASC  [3] ASCQ  [4..6] reserved  [7] ADDITIONAL SENSE LENGTH (n-7)
 *   [8..] descriptors: [0] DESCRIPTOR TYPE  [1] ADDITIONAL LENGTH (n-1)  [2..] type-specific
 */
function decodeDescriptor(buf: Buffer, responseCode: number): Sense {
  if (buf.length < 2) throw badData('descriptor-format sense data too short for a sense key (1 byte)');
  const { end, short } = senseEnd(buf);
  const senseKey = buf[1]! & 0x0f;
  const out: Mutable = { filemark: false, eom: false, ili: false };
  const descriptors: SenseDescriptor[] = [];
  let truncated = short || buf.length < 4;
  for (let at = 8; at + 2 <= end; ) {
    const type = buf[at]!;
    const length = buf[at + 1]!;
    if (at + 2 + length > end) {
      truncated = true;
      break;
    }
    const data = Buffer.from(buf.subarray(at + 2, at + 2 + length));
    descriptors.push({ type, data });
    decodeDescriptorFields(senseKey, type, data, out);
    at += 2 + length;
  }
  return {
    responseCode,
    format: 'descriptor',
    current: responseCode === 0x72,
    senseKey,
    asc: buf.length > 2 ? buf[2]! : 0,
    ascq: buf.length > 3 ? buf[3]! : 0,
    ...out,
    descriptors,
    truncated,
  };
}

// SPC-4 §4.5.2.2–§4.5.2.5 and SBC-3 §4.18.2: offsets below are into the descriptor after its 2-byte header.
function decodeDescriptorFields(senseKey: number, type: number, data: Buffer, out: Mutable): void {
  switch (type) {
    case SenseDescriptorType.Information:
      // [0] bit7 VALID  [1] reserved  [2..9] INFORMATION
      if (data.length >= 10 && (data[0]! & 0x80) !== 0) out.information = data.readBigUInt64BE(2);
      break;
    case SenseDescriptorType.CommandSpecificInformation:
      if (data.length >= 10) out.commandSpecificInformation = data.readBigUInt64BE(2);
      break;
    case SenseDescriptorType.SenseKeySpecific:
      // [0..1] reserved  [2..4] SENSE KEY SPECIFIC
      if (data.length >= 5) decodeSenseKeySpecific(senseKey, data.subarray(2, 5), out);
      break;
    case SenseDescriptorType.FieldReplaceableUnit:
      if (data.length >= 2) out.fruCode = data[1]!;
      break;
    case SenseDescriptorType.StreamCommands:
      if (data.length >= 2) {
        out.filemark = (data[1]! & 0x80) !== 0;
        out.eom = (data[1]! & 0x40) !== 0;
        out.ili = (data[1]! & 0x20) !== 0;
      }
      break;
    case SenseDescriptorType.BlockCommands:
      if (data.length >= 2) out.ili = (data[1]! & 0x20) !== 0;
      break;
    default:
      break;
  }
}

/**
 * SPC-4 §4.5.2.4: 3 bytes, byte 0 bit 7 SKSV. ILLEGAL REQUEST → field pointer (bit6 C/D, bit3 BPV, bits 2-0 BIT
 * POINTER, bytes 1-2 FIELD POINTER); NO SENSE / NOT READY → progress indication (bytes 1-2).
 */
function decodeSenseKeySpecific(senseKey: number, sks: Buffer, out: Mutable): void {
  const b0 = sks[0]!;
  if ((b0 & 0x80) === 0) return;
  const value = sks.readUInt16BE(1);
  if (senseKey === SenseKey.IllegalRequest) {
    out.fieldPointer = {
      commandData: (b0 & 0x40) !== 0,
      field: value,
      ...((b0 & 0x08) !== 0 ? { bit: b0 & 0x07 } : {}),
    };
  } else if (senseKey === SenseKey.NotReady || senseKey === SenseKey.NoSense) {
    out.progress = value;
  }
}

/** One readable line, e.g. "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)". */
export function describeSense(s: Sense): string {
  const name = ascqName(s.asc, s.ascq) ?? 'ADDITIONAL SENSE CODE';
  return `${senseKeyName(s.senseKey)}: ${name} (${hex2(s.asc)}/${hex2(s.ascq)})${s.current ? '' : ' [deferred error]'}`;
}

/**
 * RFC 7143 §11.4.7.2: the SCSI Response data segment starts with a 2-byte SenseLength, then the sense data (and
 * possibly response data). Undefined when there is no sense (empty segment or SenseLength 0).
 */
export function senseFromResponseData(data: Buffer): Sense | undefined {
  if (!Buffer.isBuffer(data)) throw badData('SCSI response data must be a Buffer');
  if (data.length === 0) return undefined;
  if (data.length < 2) throw badData('SCSI response data shorter than its 2-byte SenseLength');
  const senseLength = data.readUInt16BE(0);
  if (senseLength === 0) return undefined;
  const body = data.subarray(2, 2 + senseLength);
  const sense = decodeSense(body);
  return body.length < senseLength && !sense.truncated ? { ...sense, truncated: true } : sense;
}

/** A CHECK CONDITION (or other status) as the engine's typed error, carrying the sense facts. */
export function scsiErrorFromSense(sense: Sense, status: number = ScsiStatus.CheckCondition): ScsiError {
  return new ScsiError('ISCSI_SCSI_CHECK_CONDITION', describeSense(sense), {
    status,
    senseKey: sense.senseKey,
    asc: sense.asc,
    ascq: sense.ascq,
  });
}
