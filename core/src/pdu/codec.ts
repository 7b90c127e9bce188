/**
 * PDU objects ⇄ bytes (RFC 7143 §11): one encode/decode pair per opcode in a table, each under its field layout.
 *
 * Encoding never copies the caller's data segment: `encodePdu` returns it as its own segment for writev/cork.
 * Decoding returns `data` as given (usually a view into the socket's chunk; see types.ts on aliasing) and copies
 * only the CDB. Reserved fields are written as zero and ignored on receipt. Every problem with received bytes is a
 * ProtocolError naming the opcode and field; every problem with a PDU object to send is an ArgumentError.
 */

import { ArgumentError, ProtocolError } from '../errors.js';
import {
  AhsType,
  Opcode,
  RESERVED_TAG,
  type AsyncMessage,
  type DataIn,
  type DataOut,
  type LoginRequest,
  type LoginResponse,
  type LogoutRequest,
  type LogoutResponse,
  type NopIn,
  type NopOut,
  type Pdu,
  type PduOf,
  type R2T,
  type Reject,
  type ScsiCommand,
  type ScsiResponse,
  type SnackRequest,
  type Stage,
  type TaskMgmtRequest,
  type TaskMgmtResponse,
  type TextRequest,
  type TextResponse,
} from './types.js';
import {
  AHS_CODE_MASK,
  BIDI_AHS_LENGTH,
  ahsListLength,
  bidiReadLengthAhs,
  extendedCdbAhs,
  parseAhsList,
  writeAhsList,
  type AhsSegment,
} from './ahs.js';
import {
  BHS_LENGTH,
  BhsField,
  FINAL_BIT,
  MAX_DATA_SEGMENT_LENGTH,
  OPCODE_MASK,
  dataSegmentLength,
  getBit,
  getIsid,
  getLun,
  getU16,
  getU32,
  getU8,
  isImmediate,
  padLength,
  putBit,
  putBits,
  putIsid,
  putLun,
  putOpcode,
  putU16,
  putU32,
  putU8,
  totalAhsBytes,
} from './bhs.js';
import { DIGEST_LENGTH, crc32c, writeDigest, type DigestOptions } from './digest.js';

export { BHS_LENGTH } from './bhs.js';
export type { DigestOptions } from './digest.js';

/** Which side sends an opcode (RFC 7143 §11.2.1.2 lists initiator and target opcodes). */
export type Side = 'initiator' | 'target';

interface Codec<P extends Pdu> {
  readonly name: string;
  readonly side: Side;
  /** False for PDUs without a data segment: they must carry DataSegmentLength 0. */
  readonly hasData: boolean;
  /** Writes bytes 0-3 and 8-47 of a zero-filled BHS; encodePdu writes TotalAHSLength and DataSegmentLength. */
  encode(pdu: P, bhs: Buffer): void;
  /** The AHS to send; only the SCSI Command has any. */
  ahs?(pdu: P): AhsSegment[];
  /** `bhs` is 48 bytes; `ahs` is the parsed AHS list; `data.length` equals DataSegmentLength. */
  decode(bhs: Buffer, ahs: readonly AhsSegment[], data: Buffer): P;
}

const EMPTY = Buffer.alloc(0);
const NO_AHS: readonly AhsSegment[] = Object.freeze([]);

/** CDB bytes carried in the BHS; the rest goes into an Extended CDB AHS (§11.3.5, §11.2.2.3). */
const CDB_IN_BHS = 16;

function label(opcode: number): string {
  return `${opcodeName(opcode)} (0x${opcode.toString(16).padStart(2, '0')})`;
}

function badField(opcode: number, message: string): ProtocolError {
  return new ProtocolError('ISCSI_PDU_BAD_FIELD', `${label(opcode)}: ${message}`);
}

/** Login stages (§11.12.3): 2 is reserved. */
function toStage(opcode: number, value: number, field: 'CSG' | 'NSG'): Stage {
  if (value === 2) throw badField(opcode, `${field} is 2, a reserved stage (RFC 7143 §11.12.3)`);
  return value as Stage;
}

function putStage(bhs: Buffer, at: number, value: Stage, shift: number, field: string): void {
  if (value !== 0 && value !== 1 && value !== 3) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `PDU field ${field} = ${String(value)} is not a login stage (0, 1 or 3)`);
  }
  bhs[at] = bhs[at]! | (value << shift);
}

// ---------------------------------------------------------------------------------------------------------------
// §11.18 NOP-Out
//    0|.|I| 0x00      |1| Reserved                                    |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| Initiator Task Tag or 0xffffffff                              |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| CmdSN                                                         |
//   28| ExpStatSN                                                     |
//   32/ Reserved                                                      /
//   48| Header-Digest (optional) / DataSegment - Ping Data (optional) / Data-Digest (optional)
const NopOutAt = { flags: 1, lun: 8, itt: 16, ttt: 20, cmdSN: 24, expStatSN: 28 } as const;
const nopOut: Codec<NopOut> = {
  name: 'NOP-Out',
  side: 'initiator',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.NopOut, p.immediate);
    b[NopOutAt.flags] = FINAL_BIT;
    putLun(b, NopOutAt.lun, p.lun);
    putU32(b, NopOutAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, NopOutAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, NopOutAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, NopOutAt.expStatSN, p.expStatSN, 'ExpStatSN');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.NopOut,
      immediate: isImmediate(b),
      lun: getLun(b, NopOutAt.lun),
      itt: getU32(b, NopOutAt.itt),
      ttt: getU32(b, NopOutAt.ttt),
      cmdSN: getU32(b, NopOutAt.cmdSN),
      expStatSN: getU32(b, NopOutAt.expStatSN),
      data,
    };
  },
};

// §11.3 SCSI Command
//    0|.|I| 0x01      |F|R|W|. .|ATTR | Reserved                      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| Logical Unit Number (LUN)                                     |
//   16| Initiator Task Tag                                            |
//   20| Expected Data Transfer Length                                 |
//   24| CmdSN                                                         |
//   28| ExpStatSN                                                     |
//   32/ SCSI Command Descriptor Block (CDB)                           /
//   48/ AHS (optional: Extended CDB §11.2.2.3, Bidirectional Read Expected Data Transfer Length §11.2.2.4)
//    x/ Header-Digest / DataSegment - Command Data (immediate data) / Data-Digest
const ScsiCommandAt = { flags: 1, lun: 8, itt: 16, edtl: 20, cmdSN: 24, expStatSN: 28, cdb: 32 } as const;
const ScsiCommandFlag = { final: 0x80, read: 0x40, write: 0x20, attributeBits: 3 } as const;
const scsiCommand: Codec<ScsiCommand> = {
  name: 'SCSI Command',
  side: 'initiator',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.ScsiCommand, p.immediate);
    putBit(b, ScsiCommandAt.flags, ScsiCommandFlag.final, p.final);
    putBit(b, ScsiCommandAt.flags, ScsiCommandFlag.read, p.read);
    putBit(b, ScsiCommandAt.flags, ScsiCommandFlag.write, p.write);
    putBits(b, ScsiCommandAt.flags, p.attribute, ScsiCommandFlag.attributeBits, 'ATTR');
    putLun(b, ScsiCommandAt.lun, p.lun);
    putU32(b, ScsiCommandAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, ScsiCommandAt.edtl, p.expectedDataTransferLength, 'Expected Data Transfer Length');
    putU32(b, ScsiCommandAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, ScsiCommandAt.expStatSN, p.expStatSN, 'ExpStatSN');
    // A shorter CDB stays zero-padded to 16 bytes (§11.3.5).
    p.cdb.copy(b, ScsiCommandAt.cdb, 0, Math.min(p.cdb.length, CDB_IN_BHS));
  },
  ahs(p) {
    const list: AhsSegment[] = [];
    if (p.cdb.length > CDB_IN_BHS) list.push(extendedCdbAhs(p.cdb.subarray(CDB_IN_BHS)));
    if (p.bidiReadLength !== undefined) list.push(bidiReadLengthAhs(p.bidiReadLength));
    return list;
  },
  decode(b, ahs, data) {
    let extendedCdb: Buffer | undefined;
    let bidiReadLength: number | undefined;
    for (const seg of ahs) {
      const code = seg.type & AHS_CODE_MASK;
      if (code === AhsType.ExtendedCdb) {
        if (extendedCdb !== undefined) throw badField(Opcode.ScsiCommand, 'more than one Extended CDB AHS (RFC 7143 §11.2.2.3)');
        // AHSLength = CDB length - 15 and an Extended CDB AHS means a CDB of 17 bytes or more (§11.2.2.3).
        if (seg.body.length < 1) throw badField(Opcode.ScsiCommand, 'Extended CDB AHS with AHSLength 1 carries no CDB bytes (RFC 7143 §11.2.2.3)');
        extendedCdb = seg.body;
      } else if (code === AhsType.BidiReadLength) {
        if (bidiReadLength !== undefined) throw badField(Opcode.ScsiCommand, 'more than one Bidirectional Read Expected Data Transfer Length AHS (RFC 7143 §11.2.2.4)');
        if (seg.body.length + 1 !== BIDI_AHS_LENGTH) {
          throw badField(Opcode.ScsiCommand, `Bidirectional Read Expected Data Transfer Length AHS has AHSLength ${seg.body.length + 1}, not ${BIDI_AHS_LENGTH} (RFC 7143 §11.2.2.4)`);
        }
        bidiReadLength = seg.body.readUInt32BE(0);
      }
      // Other AHS types carry nothing we use: ignored.
    }
    const inBhs = b.subarray(ScsiCommandAt.cdb, ScsiCommandAt.cdb + CDB_IN_BHS);
    // Copied: the BHS may live in a buffer the caller reuses.
    const cdb = extendedCdb === undefined ? Buffer.from(inBhs) : Buffer.concat([inBhs, extendedCdb]);
    const flags = getU8(b, ScsiCommandAt.flags);
    const pdu: ScsiCommand = {
      opcode: Opcode.ScsiCommand,
      immediate: isImmediate(b),
      final: (flags & ScsiCommandFlag.final) !== 0,
      read: (flags & ScsiCommandFlag.read) !== 0,
      write: (flags & ScsiCommandFlag.write) !== 0,
      attribute: flags & ((1 << ScsiCommandFlag.attributeBits) - 1),
      lun: getLun(b, ScsiCommandAt.lun),
      itt: getU32(b, ScsiCommandAt.itt),
      expectedDataTransferLength: getU32(b, ScsiCommandAt.edtl),
      cmdSN: getU32(b, ScsiCommandAt.cmdSN),
      expStatSN: getU32(b, ScsiCommandAt.expStatSN),
      cdb,
      data,
    };
    return bidiReadLength === undefined ? pdu : { ...pdu, bidiReadLength };
  },
};

// §11.4 SCSI Response
//    0|.|.| 0x21      |1|. .|o|u|O|U|.| Response      | Status        |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| Reserved                                                      |
//   16| Initiator Task Tag                                            |
//   20| SNACK Tag or Reserved                                         |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| ExpDataSN or Reserved                                         |
//   40| Bidirectional Read Residual Count or Reserved                 |
//   44| Residual Count or Reserved                                    |
//   48| Header-Digest / Data Segment (SenseLength + Sense Data + Response Data) / Data-Digest
const ScsiResponseAt = {
  flags: 1, response: 2, status: 3, itt: 16, snackTag: 20, statSN: 24, expCmdSN: 28, maxCmdSN: 32,
  expDataSN: 36, bidiReadResidualCount: 40, residualCount: 44,
} as const;
const ScsiResponseFlag = { bidiOverflow: 0x10, bidiUnderflow: 0x08, overflow: 0x04, underflow: 0x02 } as const;
const scsiResponse: Codec<ScsiResponse> = {
  name: 'SCSI Response',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.ScsiResponse, false);
    b[ScsiResponseAt.flags] = FINAL_BIT;
    putBit(b, ScsiResponseAt.flags, ScsiResponseFlag.bidiOverflow, p.bidiOverflow);
    putBit(b, ScsiResponseAt.flags, ScsiResponseFlag.bidiUnderflow, p.bidiUnderflow);
    putBit(b, ScsiResponseAt.flags, ScsiResponseFlag.overflow, p.overflow);
    putBit(b, ScsiResponseAt.flags, ScsiResponseFlag.underflow, p.underflow);
    putU8(b, ScsiResponseAt.response, p.response, 'Response');
    putU8(b, ScsiResponseAt.status, p.status, 'Status');
    putU32(b, ScsiResponseAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, ScsiResponseAt.snackTag, p.snackTag, 'SNACK Tag');
    putU32(b, ScsiResponseAt.statSN, p.statSN, 'StatSN');
    putU32(b, ScsiResponseAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, ScsiResponseAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU32(b, ScsiResponseAt.expDataSN, p.expDataSN, 'ExpDataSN');
    putU32(b, ScsiResponseAt.bidiReadResidualCount, p.bidiReadResidualCount, 'Bidirectional Read Residual Count');
    putU32(b, ScsiResponseAt.residualCount, p.residualCount, 'Residual Count');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.ScsiResponse,
      bidiOverflow: getBit(b, ScsiResponseAt.flags, ScsiResponseFlag.bidiOverflow),
      bidiUnderflow: getBit(b, ScsiResponseAt.flags, ScsiResponseFlag.bidiUnderflow),
      overflow: getBit(b, ScsiResponseAt.flags, ScsiResponseFlag.overflow),
      underflow: getBit(b, ScsiResponseAt.flags, ScsiResponseFlag.underflow),
      response: getU8(b, ScsiResponseAt.response),
      status: getU8(b, ScsiResponseAt.status),
      itt: getU32(b, ScsiResponseAt.itt),
      snackTag: getU32(b, ScsiResponseAt.snackTag),
      statSN: getU32(b, ScsiResponseAt.statSN),
      expCmdSN: getU32(b, ScsiResponseAt.expCmdSN),
      maxCmdSN: getU32(b, ScsiResponseAt.maxCmdSN),
      expDataSN: getU32(b, ScsiResponseAt.expDataSN),
      bidiReadResidualCount: getU32(b, ScsiResponseAt.bidiReadResidualCount),
      residualCount: getU32(b, ScsiResponseAt.residualCount),
      data,
    };
  },
};

// §11.5 Task Management Function Request
//    0|.|I| 0x02      |1| Function    | Reserved                      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| Logical Unit Number (LUN) or Reserved                         |
//   16| Initiator Task Tag                                            |
//   20| Referenced Task Tag or 0xffffffff                             |
//   24| CmdSN                                                         |
//   28| ExpStatSN                                                     |
//   32| RefCmdSN or Reserved                                          |
//   36| ExpDataSN or Reserved                                         |
//   40/ Reserved                                                      /
const TaskMgmtRequestAt = { function: 1, lun: 8, itt: 16, rtt: 20, cmdSN: 24, expStatSN: 28, refCmdSN: 32, expDataSN: 36 } as const;
const taskMgmtRequest: Codec<TaskMgmtRequest> = {
  name: 'Task Management Function Request',
  side: 'initiator',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.TaskMgmtRequest, p.immediate);
    b[TaskMgmtRequestAt.function] = FINAL_BIT;
    putBits(b, TaskMgmtRequestAt.function, p.function, 7, 'Function');
    putLun(b, TaskMgmtRequestAt.lun, p.lun);
    putU32(b, TaskMgmtRequestAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, TaskMgmtRequestAt.rtt, p.referencedTaskTag, 'Referenced Task Tag');
    putU32(b, TaskMgmtRequestAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, TaskMgmtRequestAt.expStatSN, p.expStatSN, 'ExpStatSN');
    putU32(b, TaskMgmtRequestAt.refCmdSN, p.refCmdSN, 'RefCmdSN');
    putU32(b, TaskMgmtRequestAt.expDataSN, p.expDataSN, 'ExpDataSN');
  },
  decode(b) {
    return {
      opcode: Opcode.TaskMgmtRequest,
      immediate: isImmediate(b),
      function: getU8(b, TaskMgmtRequestAt.function) & 0x7f,
      lun: getLun(b, TaskMgmtRequestAt.lun),
      itt: getU32(b, TaskMgmtRequestAt.itt),
      referencedTaskTag: getU32(b, TaskMgmtRequestAt.rtt),
      cmdSN: getU32(b, TaskMgmtRequestAt.cmdSN),
      expStatSN: getU32(b, TaskMgmtRequestAt.expStatSN),
      refCmdSN: getU32(b, TaskMgmtRequestAt.refCmdSN),
      expDataSN: getU32(b, TaskMgmtRequestAt.expDataSN),
    };
  },
};

// §11.6 Task Management Function Response
//    0|.|.| 0x22      |1| Reserved    | Response      | Reserved      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8/ Reserved                                                      /
//   16| Initiator Task Tag                                            |
//   20| Reserved                                                      |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36/ Reserved                                                      /
const TaskMgmtResponseAt = { flags: 1, response: 2, itt: 16, statSN: 24, expCmdSN: 28, maxCmdSN: 32 } as const;
const taskMgmtResponse: Codec<TaskMgmtResponse> = {
  name: 'Task Management Function Response',
  side: 'target',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.TaskMgmtResponse, false);
    b[TaskMgmtResponseAt.flags] = FINAL_BIT;
    putU8(b, TaskMgmtResponseAt.response, p.response, 'Response');
    putU32(b, TaskMgmtResponseAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, TaskMgmtResponseAt.statSN, p.statSN, 'StatSN');
    putU32(b, TaskMgmtResponseAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, TaskMgmtResponseAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
  },
  decode(b) {
    return {
      opcode: Opcode.TaskMgmtResponse,
      response: getU8(b, TaskMgmtResponseAt.response),
      itt: getU32(b, TaskMgmtResponseAt.itt),
      statSN: getU32(b, TaskMgmtResponseAt.statSN),
      expCmdSN: getU32(b, TaskMgmtResponseAt.expCmdSN),
      maxCmdSN: getU32(b, TaskMgmtResponseAt.maxCmdSN),
    };
  },
};

// §11.12 Login Request (the I bit is always 1: Login Requests are immediate)
//    0|.|1| 0x03      |T|C|.|.|CSG|NSG| Version-max   | Version-min   |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| ISID                                                          |
//   12|                               | TSIH                          |
//   16| Initiator Task Tag                                            |
//   20| CID                           | Reserved                      |
//   24| CmdSN                                                         |
//   28| ExpStatSN or Reserved                                         |
//   32/ Reserved                                                      /
//   48/ DataSegment - Login Parameters in Text Request Format         /
const LoginRequestAt = {
  flags: 1, versionMax: 2, versionMin: 3, isid: 8, tsih: 14, itt: 16, cid: 20, cmdSN: 24, expStatSN: 28,
} as const;
/** Byte 1 of Login Request/Response (§11.12.1-4, §11.13). */
const LoginFlag = { transit: 0x80, continue: 0x40, csgShift: 2, stageMask: 0x03 } as const;

function decodeLoginFlags(opcode: number, flags: number): { transit: boolean; continue: boolean; csg: Stage; nsg: Stage } {
  const transit = (flags & LoginFlag.transit) !== 0;
  const cont = (flags & LoginFlag.continue) !== 0;
  // §11.12.2: "A Login Request with the C bit set to 1 MUST have the T bit set to 0"; Login Responses likewise.
  if (transit && cont) throw badField(opcode, 'both the T and C bits are set (RFC 7143 §11.12.2)');
  return {
    transit,
    continue: cont,
    csg: toStage(opcode, (flags >> LoginFlag.csgShift) & LoginFlag.stageMask, 'CSG'),
    nsg: toStage(opcode, flags & LoginFlag.stageMask, 'NSG'),
  };
}

function encodeLoginFlags(b: Buffer, p: { transit: boolean; continue: boolean; csg: Stage; nsg: Stage }): void {
  putBit(b, LoginRequestAt.flags, LoginFlag.transit, p.transit);
  putBit(b, LoginRequestAt.flags, LoginFlag.continue, p.continue);
  putStage(b, LoginRequestAt.flags, p.csg, LoginFlag.csgShift, 'CSG');
  putStage(b, LoginRequestAt.flags, p.nsg, 0, 'NSG');
}

const loginRequest: Codec<LoginRequest> = {
  name: 'Login Request',
  side: 'initiator',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.LoginRequest, true);
    encodeLoginFlags(b, p);
    putU8(b, LoginRequestAt.versionMax, p.versionMax, 'Version-max');
    putU8(b, LoginRequestAt.versionMin, p.versionMin, 'Version-min');
    putIsid(b, LoginRequestAt.isid, p.isid);
    putU16(b, LoginRequestAt.tsih, p.tsih, 'TSIH');
    putU32(b, LoginRequestAt.itt, p.itt, 'Initiator Task Tag');
    putU16(b, LoginRequestAt.cid, p.cid, 'CID');
    putU32(b, LoginRequestAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, LoginRequestAt.expStatSN, p.expStatSN, 'ExpStatSN');
  },
  decode(b, _ahs, data) {
    const flags = decodeLoginFlags(Opcode.LoginRequest, getU8(b, LoginRequestAt.flags));
    const versionMax = getU8(b, LoginRequestAt.versionMax);
    const versionMin = getU8(b, LoginRequestAt.versionMin);
    if (versionMin > versionMax) {
      throw badField(Opcode.LoginRequest, `Version-min ${versionMin} is above Version-max ${versionMax} (RFC 7143 §11.12.4)`);
    }
    return {
      opcode: Opcode.LoginRequest,
      immediate: isImmediate(b),
      ...flags,
      versionMax,
      versionMin,
      isid: getIsid(b, LoginRequestAt.isid),
      tsih: getU16(b, LoginRequestAt.tsih),
      itt: getU32(b, LoginRequestAt.itt),
      cid: getU16(b, LoginRequestAt.cid),
      cmdSN: getU32(b, LoginRequestAt.cmdSN),
      expStatSN: getU32(b, LoginRequestAt.expStatSN),
      data,
    };
  },
};

// §11.13 Login Response
//    0|.|.| 0x23      |T|C|.|.|CSG|NSG| Version-max   |Version-active |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| ISID                                                          |
//   12|                               | TSIH                          |
//   16| Initiator Task Tag                                            |
//   20| Reserved                                                      |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| Status-Class  | Status-Detail | Reserved                      |
//   40/ Reserved                                                      /
//   48/ DataSegment - Login Parameters in Text Request Format         /
const LoginResponseAt = {
  flags: 1, versionMax: 2, versionActive: 3, isid: 8, tsih: 14, itt: 16, statSN: 24, expCmdSN: 28, maxCmdSN: 32,
  statusClass: 36, statusDetail: 37,
} as const;
const loginResponse: Codec<LoginResponse> = {
  name: 'Login Response',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.LoginResponse, false);
    encodeLoginFlags(b, p);
    putU8(b, LoginResponseAt.versionMax, p.versionMax, 'Version-max');
    putU8(b, LoginResponseAt.versionActive, p.versionActive, 'Version-active');
    putIsid(b, LoginResponseAt.isid, p.isid);
    putU16(b, LoginResponseAt.tsih, p.tsih, 'TSIH');
    putU32(b, LoginResponseAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, LoginResponseAt.statSN, p.statSN, 'StatSN');
    putU32(b, LoginResponseAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, LoginResponseAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU8(b, LoginResponseAt.statusClass, p.statusClass, 'Status-Class');
    putU8(b, LoginResponseAt.statusDetail, p.statusDetail, 'Status-Detail');
  },
  decode(b, _ahs, data) {
    const flags = decodeLoginFlags(Opcode.LoginResponse, getU8(b, LoginResponseAt.flags));
    const versionMax = getU8(b, LoginResponseAt.versionMax);
    const versionActive = getU8(b, LoginResponseAt.versionActive);
    // Version-active is the highest common version, or on rejection the target's lowest: never above its highest.
    if (versionActive > versionMax) {
      throw badField(Opcode.LoginResponse, `Version-active ${versionActive} is above Version-max ${versionMax} (RFC 7143 §11.13.2)`);
    }
    return {
      opcode: Opcode.LoginResponse,
      ...flags,
      versionMax,
      versionActive,
      isid: getIsid(b, LoginResponseAt.isid),
      tsih: getU16(b, LoginResponseAt.tsih),
      itt: getU32(b, LoginResponseAt.itt),
      statSN: getU32(b, LoginResponseAt.statSN),
      expCmdSN: getU32(b, LoginResponseAt.expCmdSN),
      maxCmdSN: getU32(b, LoginResponseAt.maxCmdSN),
      statusClass: getU8(b, LoginResponseAt.statusClass),
      statusDetail: getU8(b, LoginResponseAt.statusDetail),
      data,
    };
  },
};

/** Byte 1 of Text Request/Response (§11.10.1-2, §11.11.1-2). */
const TextFlag = { final: 0x80, continue: 0x40 } as const;

function decodeTextFlags(opcode: number, flags: number): { final: boolean; continue: boolean } {
  const final = (flags & TextFlag.final) !== 0;
  const cont = (flags & TextFlag.continue) !== 0;
  // "If the C bit is set to 1, the F bit MUST be set to 0" (§11.10.2, §11.11.2).
  if (final && cont) throw badField(opcode, 'both the F and C bits are set (RFC 7143 §11.10.2)');
  return { final, continue: cont };
}

// §11.10 Text Request
//    0|.|I| 0x04      |F|C| Reserved                                  |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| Logical Unit Number (LUN) or Reserved                         |
//   16| Initiator Task Tag                                            |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| CmdSN                                                         |
//   28| ExpStatSN                                                     |
//   32/ Reserved                                                      /
//   48/ DataSegment (Text)                                            /
const TextRequestAt = { flags: 1, lun: 8, itt: 16, ttt: 20, cmdSN: 24, expStatSN: 28 } as const;
const textRequest: Codec<TextRequest> = {
  name: 'Text Request',
  side: 'initiator',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.TextRequest, p.immediate);
    putBit(b, TextRequestAt.flags, TextFlag.final, p.final);
    putBit(b, TextRequestAt.flags, TextFlag.continue, p.continue);
    putLun(b, TextRequestAt.lun, p.lun);
    putU32(b, TextRequestAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, TextRequestAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, TextRequestAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, TextRequestAt.expStatSN, p.expStatSN, 'ExpStatSN');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.TextRequest,
      immediate: isImmediate(b),
      ...decodeTextFlags(Opcode.TextRequest, getU8(b, TextRequestAt.flags)),
      lun: getLun(b, TextRequestAt.lun),
      itt: getU32(b, TextRequestAt.itt),
      ttt: getU32(b, TextRequestAt.ttt),
      cmdSN: getU32(b, TextRequestAt.cmdSN),
      expStatSN: getU32(b, TextRequestAt.expStatSN),
      data,
    };
  },
};

// §11.11 Text Response
//    0|.|.| 0x24      |F|C| Reserved                                  |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| Logical Unit Number (LUN) or Reserved                         |
//   16| Initiator Task Tag                                            |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36/ Reserved                                                      /
//   48/ DataSegment (Text)                                            /
const TextResponseAt = { flags: 1, lun: 8, itt: 16, ttt: 20, statSN: 24, expCmdSN: 28, maxCmdSN: 32 } as const;
const textResponse: Codec<TextResponse> = {
  name: 'Text Response',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.TextResponse, false);
    putBit(b, TextResponseAt.flags, TextFlag.final, p.final);
    putBit(b, TextResponseAt.flags, TextFlag.continue, p.continue);
    putLun(b, TextResponseAt.lun, p.lun);
    putU32(b, TextResponseAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, TextResponseAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, TextResponseAt.statSN, p.statSN, 'StatSN');
    putU32(b, TextResponseAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, TextResponseAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.TextResponse,
      ...decodeTextFlags(Opcode.TextResponse, getU8(b, TextResponseAt.flags)),
      lun: getLun(b, TextResponseAt.lun),
      itt: getU32(b, TextResponseAt.itt),
      ttt: getU32(b, TextResponseAt.ttt),
      statSN: getU32(b, TextResponseAt.statSN),
      expCmdSN: getU32(b, TextResponseAt.expCmdSN),
      maxCmdSN: getU32(b, TextResponseAt.maxCmdSN),
      data,
    };
  },
};

// §11.7.1 SCSI Data-Out
//    0|.|.| 0x05      |F| Reserved                                    |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| Initiator Task Tag                                            |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| Reserved                                                      |
//   28| ExpStatSN                                                     |
//   32| Reserved                                                      |
//   36| DataSN                                                        |
//   40| Buffer Offset                                                 |
//   44| Reserved                                                      |
//   48| Header-Digest / DataSegment / Data-Digest
const DataOutAt = { flags: 1, lun: 8, itt: 16, ttt: 20, expStatSN: 28, dataSN: 36, bufferOffset: 40 } as const;
const dataOut: Codec<DataOut> = {
  name: 'SCSI Data-Out',
  side: 'initiator',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.DataOut, false);
    putBit(b, DataOutAt.flags, FINAL_BIT, p.final);
    putLun(b, DataOutAt.lun, p.lun);
    putU32(b, DataOutAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, DataOutAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, DataOutAt.expStatSN, p.expStatSN, 'ExpStatSN');
    putU32(b, DataOutAt.dataSN, p.dataSN, 'DataSN');
    putU32(b, DataOutAt.bufferOffset, p.bufferOffset, 'Buffer Offset');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.DataOut,
      final: getBit(b, DataOutAt.flags, FINAL_BIT),
      lun: getLun(b, DataOutAt.lun),
      itt: getU32(b, DataOutAt.itt),
      ttt: getU32(b, DataOutAt.ttt),
      expStatSN: getU32(b, DataOutAt.expStatSN),
      dataSN: getU32(b, DataOutAt.dataSN),
      bufferOffset: getU32(b, DataOutAt.bufferOffset),
      data,
    };
  },
};

// §11.7.2 SCSI Data-In
//    0|.|.| 0x25      |F|A|0 0 0|O|U|S| Reserved      |Status or Rsvd |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| Initiator Task Tag                                            |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| StatSN or Reserved                                            |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| DataSN                                                        |
//   40| Buffer Offset                                                 |
//   44| Residual Count                                                |
//   48| Header-Digest / DataSegment / Data-Digest
/** Data-In field offsets (§11.7.2), exported for the framer's direct placement. */
export const DataInAt = {
  flags: 1, status: 3, lun: 8, itt: 16, ttt: 20, statSN: 24, expCmdSN: 28, maxCmdSN: 32, dataSN: 36,
  bufferOffset: 40, residualCount: 44,
} as const;
const DataInFlag = { final: 0x80, acknowledge: 0x40, overflow: 0x04, underflow: 0x02, statusPresent: 0x01 } as const;
const dataIn: Codec<DataIn> = {
  name: 'SCSI Data-In',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.DataIn, false);
    putBit(b, DataInAt.flags, DataInFlag.final, p.final);
    putBit(b, DataInAt.flags, DataInFlag.acknowledge, p.acknowledge);
    putBit(b, DataInAt.flags, DataInFlag.overflow, p.overflow);
    putBit(b, DataInAt.flags, DataInFlag.underflow, p.underflow);
    putBit(b, DataInAt.flags, DataInFlag.statusPresent, p.statusPresent);
    putU8(b, DataInAt.status, p.status, 'Status');
    putLun(b, DataInAt.lun, p.lun);
    putU32(b, DataInAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, DataInAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, DataInAt.statSN, p.statSN, 'StatSN');
    putU32(b, DataInAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, DataInAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU32(b, DataInAt.dataSN, p.dataSN, 'DataSN');
    putU32(b, DataInAt.bufferOffset, p.bufferOffset, 'Buffer Offset');
    putU32(b, DataInAt.residualCount, p.residualCount, 'Residual Count');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.DataIn,
      final: getBit(b, DataInAt.flags, DataInFlag.final),
      acknowledge: getBit(b, DataInAt.flags, DataInFlag.acknowledge),
      overflow: getBit(b, DataInAt.flags, DataInFlag.overflow),
      underflow: getBit(b, DataInAt.flags, DataInFlag.underflow),
      statusPresent: getBit(b, DataInAt.flags, DataInFlag.statusPresent),
      status: getU8(b, DataInAt.status),
      lun: getLun(b, DataInAt.lun),
      itt: getU32(b, DataInAt.itt),
      ttt: getU32(b, DataInAt.ttt),
      statSN: getU32(b, DataInAt.statSN),
      expCmdSN: getU32(b, DataInAt.expCmdSN),
      maxCmdSN: getU32(b, DataInAt.maxCmdSN),
      dataSN: getU32(b, DataInAt.dataSN),
      bufferOffset: getU32(b, DataInAt.bufferOffset),
      residualCount: getU32(b, DataInAt.residualCount),
      data,
    };
  },
};

// §11.14 Logout Request
//    0|.|I| 0x06      |1| Reason Code | Reserved                      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8/ Reserved                                                      /
//   16| Initiator Task Tag                                            |
//   20| CID or Reserved               | Reserved                      |
//   24| CmdSN                                                         |
//   28| ExpStatSN                                                     |
//   32/ Reserved                                                      /
const LogoutRequestAt = { reasonCode: 1, itt: 16, cid: 20, cmdSN: 24, expStatSN: 28 } as const;
const logoutRequest: Codec<LogoutRequest> = {
  name: 'Logout Request',
  side: 'initiator',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.LogoutRequest, p.immediate);
    b[LogoutRequestAt.reasonCode] = FINAL_BIT;
    putBits(b, LogoutRequestAt.reasonCode, p.reasonCode, 7, 'Reason Code');
    putU32(b, LogoutRequestAt.itt, p.itt, 'Initiator Task Tag');
    putU16(b, LogoutRequestAt.cid, p.cid, 'CID');
    putU32(b, LogoutRequestAt.cmdSN, p.cmdSN, 'CmdSN');
    putU32(b, LogoutRequestAt.expStatSN, p.expStatSN, 'ExpStatSN');
  },
  decode(b) {
    return {
      opcode: Opcode.LogoutRequest,
      immediate: isImmediate(b),
      reasonCode: getU8(b, LogoutRequestAt.reasonCode) & 0x7f,
      itt: getU32(b, LogoutRequestAt.itt),
      cid: getU16(b, LogoutRequestAt.cid),
      cmdSN: getU32(b, LogoutRequestAt.cmdSN),
      expStatSN: getU32(b, LogoutRequestAt.expStatSN),
    };
  },
};

// §11.15 Logout Response
//    0|.|.| 0x26      |1| Reserved    | Response      | Reserved      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8/ Reserved                                                      /
//   16| Initiator Task Tag                                            |
//   20| Reserved                                                      |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| Reserved                                                      |
//   40| Time2Wait                     | Time2Retain                   |
//   44| Reserved                                                      |
const LogoutResponseAt = {
  flags: 1, response: 2, itt: 16, statSN: 24, expCmdSN: 28, maxCmdSN: 32, time2Wait: 40, time2Retain: 42,
} as const;
const logoutResponse: Codec<LogoutResponse> = {
  name: 'Logout Response',
  side: 'target',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.LogoutResponse, false);
    b[LogoutResponseAt.flags] = FINAL_BIT;
    putU8(b, LogoutResponseAt.response, p.response, 'Response');
    putU32(b, LogoutResponseAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, LogoutResponseAt.statSN, p.statSN, 'StatSN');
    putU32(b, LogoutResponseAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, LogoutResponseAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU16(b, LogoutResponseAt.time2Wait, p.time2Wait, 'Time2Wait');
    putU16(b, LogoutResponseAt.time2Retain, p.time2Retain, 'Time2Retain');
  },
  decode(b) {
    return {
      opcode: Opcode.LogoutResponse,
      response: getU8(b, LogoutResponseAt.response),
      itt: getU32(b, LogoutResponseAt.itt),
      statSN: getU32(b, LogoutResponseAt.statSN),
      expCmdSN: getU32(b, LogoutResponseAt.expCmdSN),
      maxCmdSN: getU32(b, LogoutResponseAt.maxCmdSN),
      time2Wait: getU16(b, LogoutResponseAt.time2Wait),
      time2Retain: getU16(b, LogoutResponseAt.time2Retain),
    };
  },
};

// §11.16 SNACK Request
//    0|.|.| 0x10      |1|.|.|.| Type  | Reserved                      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| Initiator Task Tag or 0xffffffff                              |
//   20| Target Transfer Tag or SNACK Tag or 0xffffffff                |
//   24| Reserved                                                      |
//   28| ExpStatSN                                                     |
//   32/ Reserved                                                      /
//   40| BegRun                                                        |
//   44| RunLength                                                     |
const SnackAt = { type: 1, lun: 8, itt: 16, ttt: 20, expStatSN: 28, begRun: 40, runLength: 44 } as const;
const snackRequest: Codec<SnackRequest> = {
  name: 'SNACK Request',
  side: 'initiator',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.SnackRequest, false);
    b[SnackAt.type] = FINAL_BIT;
    putBits(b, SnackAt.type, p.type, 4, 'Type');
    putLun(b, SnackAt.lun, p.lun);
    putU32(b, SnackAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, SnackAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, SnackAt.expStatSN, p.expStatSN, 'ExpStatSN');
    putU32(b, SnackAt.begRun, p.begRun, 'BegRun');
    putU32(b, SnackAt.runLength, p.runLength, 'RunLength');
  },
  decode(b) {
    return {
      opcode: Opcode.SnackRequest,
      type: getU8(b, SnackAt.type) & 0x0f,
      lun: getLun(b, SnackAt.lun),
      itt: getU32(b, SnackAt.itt),
      ttt: getU32(b, SnackAt.ttt),
      expStatSN: getU32(b, SnackAt.expStatSN),
      begRun: getU32(b, SnackAt.begRun),
      runLength: getU32(b, SnackAt.runLength),
    };
  },
};

// §11.8 Ready To Transfer (R2T)
//    0|.|.| 0x31      |1| Reserved                                    |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN                                                           |
//   16| Initiator Task Tag                                            |
//   20| Target Transfer Tag                                           |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| R2TSN                                                         |
//   40| Buffer Offset                                                 |
//   44| Desired Data Transfer Length                                  |
const R2TAt = {
  flags: 1, lun: 8, itt: 16, ttt: 20, statSN: 24, expCmdSN: 28, maxCmdSN: 32, r2tSN: 36, bufferOffset: 40, ddtl: 44,
} as const;
const r2t: Codec<R2T> = {
  name: 'Ready To Transfer (R2T)',
  side: 'target',
  hasData: false,
  encode(p, b) {
    putOpcode(b, Opcode.R2T, false);
    b[R2TAt.flags] = FINAL_BIT;
    putLun(b, R2TAt.lun, p.lun);
    putU32(b, R2TAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, R2TAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, R2TAt.statSN, p.statSN, 'StatSN');
    putU32(b, R2TAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, R2TAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU32(b, R2TAt.r2tSN, p.r2tSN, 'R2TSN');
    putU32(b, R2TAt.bufferOffset, p.bufferOffset, 'Buffer Offset');
    putU32(b, R2TAt.ddtl, p.desiredDataTransferLength, 'Desired Data Transfer Length');
  },
  decode(b) {
    return {
      opcode: Opcode.R2T,
      lun: getLun(b, R2TAt.lun),
      itt: getU32(b, R2TAt.itt),
      ttt: getU32(b, R2TAt.ttt),
      statSN: getU32(b, R2TAt.statSN),
      expCmdSN: getU32(b, R2TAt.expCmdSN),
      maxCmdSN: getU32(b, R2TAt.maxCmdSN),
      r2tSN: getU32(b, R2TAt.r2tSN),
      bufferOffset: getU32(b, R2TAt.bufferOffset),
      desiredDataTransferLength: getU32(b, R2TAt.ddtl),
    };
  },
};

// §11.9 Asynchronous Message
//    0|.|.| 0x32      |1| Reserved                                    |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| 0xffffffff                                                    |
//   20| Reserved                                                      |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| AsyncEvent    | AsyncVCode    | Parameter1 or Reserved        |
//   40| Parameter2 or Reserved        | Parameter3 or Reserved        |
//   44| Reserved                                                      |
//   48| Header-Digest / DataSegment (SenseLength + Sense Data + iSCSI Event Data) / Data-Digest
const AsyncAt = {
  flags: 1, lun: 8, itt: 16, statSN: 24, expCmdSN: 28, maxCmdSN: 32, asyncEvent: 36, asyncVCode: 37,
  parameter1: 38, parameter2: 40, parameter3: 42,
} as const;
const asyncMessage: Codec<AsyncMessage> = {
  name: 'Asynchronous Message',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.AsyncMessage, false);
    b[AsyncAt.flags] = FINAL_BIT;
    putLun(b, AsyncAt.lun, p.lun);
    putU32(b, AsyncAt.itt, RESERVED_TAG, 'Initiator Task Tag');
    putU32(b, AsyncAt.statSN, p.statSN, 'StatSN');
    putU32(b, AsyncAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, AsyncAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU8(b, AsyncAt.asyncEvent, p.asyncEvent, 'AsyncEvent');
    putU8(b, AsyncAt.asyncVCode, p.asyncVCode, 'AsyncVCode');
    putU16(b, AsyncAt.parameter1, p.parameter1, 'Parameter1');
    putU16(b, AsyncAt.parameter2, p.parameter2, 'Parameter2');
    putU16(b, AsyncAt.parameter3, p.parameter3, 'Parameter3');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.AsyncMessage,
      lun: getLun(b, AsyncAt.lun),
      statSN: getU32(b, AsyncAt.statSN),
      expCmdSN: getU32(b, AsyncAt.expCmdSN),
      maxCmdSN: getU32(b, AsyncAt.maxCmdSN),
      asyncEvent: getU8(b, AsyncAt.asyncEvent),
      asyncVCode: getU8(b, AsyncAt.asyncVCode),
      parameter1: getU16(b, AsyncAt.parameter1),
      parameter2: getU16(b, AsyncAt.parameter2),
      parameter3: getU16(b, AsyncAt.parameter3),
      data,
    };
  },
};

// §11.19 NOP-In
//    0|.|.| 0x20      |1| Reserved                                    |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8| LUN or Reserved                                               |
//   16| Initiator Task Tag or 0xffffffff                              |
//   20| Target Transfer Tag or 0xffffffff                             |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36/ Reserved                                                      /
//   48| Header-Digest / DataSegment - Return Ping Data / Data-Digest
const NopInAt = { flags: 1, lun: 8, itt: 16, ttt: 20, statSN: 24, expCmdSN: 28, maxCmdSN: 32 } as const;
const nopIn: Codec<NopIn> = {
  name: 'NOP-In',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.NopIn, false);
    b[NopInAt.flags] = FINAL_BIT;
    putLun(b, NopInAt.lun, p.lun);
    putU32(b, NopInAt.itt, p.itt, 'Initiator Task Tag');
    putU32(b, NopInAt.ttt, p.ttt, 'Target Transfer Tag');
    putU32(b, NopInAt.statSN, p.statSN, 'StatSN');
    putU32(b, NopInAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, NopInAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.NopIn,
      lun: getLun(b, NopInAt.lun),
      itt: getU32(b, NopInAt.itt),
      ttt: getU32(b, NopInAt.ttt),
      statSN: getU32(b, NopInAt.statSN),
      expCmdSN: getU32(b, NopInAt.expCmdSN),
      maxCmdSN: getU32(b, NopInAt.maxCmdSN),
      data,
    };
  },
};

// §11.17 Reject
//    0|.|.| 0x3f      |1| Reserved    | Reason        | Reserved      |
//    4|TotalAHSLength | DataSegmentLength                             |
//    8/ Reserved                                                      /
//   16| 0xffffffff                                                    |
//   20| Reserved                                                      |
//   24| StatSN                                                        |
//   28| ExpCmdSN                                                      |
//   32| MaxCmdSN                                                      |
//   36| DataSN/R2TSN or Reserved                                      |
//   40| Reserved                                                      |
//   44| Reserved                                                      |
//   48| Header-Digest / Complete Header of Bad PDU + vendor data / Data-Digest
const RejectAt = { flags: 1, reason: 2, itt: 16, statSN: 24, expCmdSN: 28, maxCmdSN: 32, dataSN: 36 } as const;
const reject: Codec<Reject> = {
  name: 'Reject',
  side: 'target',
  hasData: true,
  encode(p, b) {
    putOpcode(b, Opcode.Reject, false);
    b[RejectAt.flags] = FINAL_BIT;
    putU8(b, RejectAt.reason, p.reason, 'Reason');
    putU32(b, RejectAt.itt, RESERVED_TAG, 'Initiator Task Tag');
    putU32(b, RejectAt.statSN, p.statSN, 'StatSN');
    putU32(b, RejectAt.expCmdSN, p.expCmdSN, 'ExpCmdSN');
    putU32(b, RejectAt.maxCmdSN, p.maxCmdSN, 'MaxCmdSN');
    putU32(b, RejectAt.dataSN, p.dataSN, 'DataSN/R2TSN');
  },
  decode(b, _ahs, data) {
    return {
      opcode: Opcode.Reject,
      reason: getU8(b, RejectAt.reason),
      statSN: getU32(b, RejectAt.statSN),
      expCmdSN: getU32(b, RejectAt.expCmdSN),
      maxCmdSN: getU32(b, RejectAt.maxCmdSN),
      dataSN: getU32(b, RejectAt.dataSN),
      data,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------

const CODECS: { readonly [O in Opcode]: Codec<PduOf<O>> } = {
  [Opcode.NopOut]: nopOut,
  [Opcode.ScsiCommand]: scsiCommand,
  [Opcode.TaskMgmtRequest]: taskMgmtRequest,
  [Opcode.LoginRequest]: loginRequest,
  [Opcode.TextRequest]: textRequest,
  [Opcode.DataOut]: dataOut,
  [Opcode.LogoutRequest]: logoutRequest,
  [Opcode.SnackRequest]: snackRequest,
  [Opcode.NopIn]: nopIn,
  [Opcode.ScsiResponse]: scsiResponse,
  [Opcode.TaskMgmtResponse]: taskMgmtResponse,
  [Opcode.LoginResponse]: loginResponse,
  [Opcode.TextResponse]: textResponse,
  [Opcode.DataIn]: dataIn,
  [Opcode.LogoutResponse]: logoutResponse,
  [Opcode.R2T]: r2t,
  [Opcode.AsyncMessage]: asyncMessage,
  [Opcode.Reject]: reject,
};

/** Indexed by the 6-bit opcode; undefined for reserved and vendor-specific codes. */
const BY_OPCODE: ReadonlyArray<Codec<Pdu> | undefined> = (() => {
  const table: Array<Codec<Pdu> | undefined> = new Array<Codec<Pdu> | undefined>(OPCODE_MASK + 1).fill(undefined);
  for (const [opcode, codec] of Object.entries(CODECS)) table[Number(opcode)] = codec as Codec<Pdu>;
  return table;
})();

/** The RFC 7143 name of an opcode, for messages and logs. */
export function opcodeName(opcode: number): string {
  const codec = Number.isInteger(opcode) ? BY_OPCODE[opcode] : undefined;
  if (codec) return codec.name;
  // §11.2.1.2: 0x1c-0x1e and 0x3c-0x3e are vendor-specific; everything else unlisted is reserved.
  if ((opcode >= 0x1c && opcode <= 0x1e) || (opcode >= 0x3c && opcode <= 0x3e)) return 'Vendor-specific opcode';
  return 'Reserved opcode';
}

/** Which side sends `opcode`, or undefined when we do not know the opcode. */
export function opcodeSide(opcode: number): Side | undefined {
  return BY_OPCODE[opcode & OPCODE_MASK]?.side;
}

/** Whether PDUs with `opcode` may carry a data segment (false for unknown opcodes). */
export function opcodeCarriesData(opcode: number): boolean {
  return BY_OPCODE[opcode & OPCODE_MASK]?.hasData ?? false;
}

/** "Login Response (0x23)": the form every error message uses. */
export function describeOpcode(opcode: number): string {
  return label(opcode);
}

function codecFor(pdu: Pdu): Codec<Pdu> {
  const codec = typeof pdu?.opcode === 'number' ? BY_OPCODE[pdu.opcode] : undefined;
  if (!codec || (pdu.opcode & ~OPCODE_MASK) !== 0) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `cannot encode a PDU with opcode ${String(pdu?.opcode)}`);
  }
  return codec;
}

/**
 * Encodes `pdu` as wire segments for writev/cork, in order:
 *   1. the header: BHS + AHS + header digest (when negotiated);
 *   2. the caller's `pdu.data` buffer itself (never copied), when non-empty;
 *   3. a small trailer with the zero padding to 4 bytes (§11.2.4) and the data digest (§11.2.3), when non-empty.
 * The caller must not modify `pdu.data` until the write completes. Throws ArgumentError for out-of-range fields.
 */
export function encodePdu(pdu: Pdu, digests: DigestOptions): Buffer[] {
  const codec = codecFor(pdu);
  const ahs = codec.ahs ? codec.ahs(pdu) : NO_AHS;
  const ahsBytes = ahsListLength(ahs);
  const data = codec.hasData ? (pdu as { data: Buffer }).data : EMPTY;
  if (!Buffer.isBuffer(data)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${label(pdu.opcode)}: data must be a Buffer`);
  if (data.length > MAX_DATA_SEGMENT_LENGTH) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${label(pdu.opcode)}: data segment of ${data.length} bytes exceeds the 24-bit DataSegmentLength`);
  }
  const headerEnd = BHS_LENGTH + ahsBytes;
  // Pooled (allocUnsafe) then zeroed: a header per PDU is hot, and a fresh ArrayBuffer per PDU costs more.
  const header = Buffer.allocUnsafe(headerEnd + (digests.headerDigest ? DIGEST_LENGTH : 0)).fill(0);
  codec.encode(pdu, header);
  header[BhsField.totalAhsLength] = ahsBytes / 4;
  header.writeUIntBE(data.length, BhsField.dataSegmentLength, 3);
  writeAhsList(ahs, header, BHS_LENGTH);
  // §11.2.3: the header digest covers the BHS and all AHS.
  if (digests.headerDigest) writeDigest(crc32c(header.subarray(0, headerEnd)), header, headerEnd);
  if (data.length === 0) return [header];

  const pad = padLength(data.length);
  const digestBytes = digests.dataDigest ? DIGEST_LENGTH : 0;
  if (pad + digestBytes === 0) return [header, data];
  const trailer = Buffer.allocUnsafe(pad + digestBytes).fill(0);
  // §13.1: padding bytes are zero and are included in the data digest.
  if (digests.dataDigest) writeDigest(crc32c(data, trailer.subarray(0, pad)), trailer, pad);
  return [header, data, trailer];
}

/** `encodePdu` concatenated into one buffer (tests, fixtures, logging). */
export function encodePduToBuffer(pdu: Pdu, digests: DigestOptions): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}

/**
 * Decodes one PDU from its parts: `bhs` (exactly 48 bytes), `ahs` (TotalAHSLength × 4 bytes) and `data` (exactly
 * DataSegmentLength bytes, without padding or digest). Digests are the framer's business, not checked here.
 * The returned `data` is the `data` argument itself; the CDB is copied. Throws only ProtocolError.
 */
export function decodePdu(bhs: Buffer, ahs: Buffer, data: Buffer): Pdu {
  if (bhs.length !== BHS_LENGTH) {
    throw new ProtocolError(
      bhs.length < BHS_LENGTH ? 'ISCSI_PDU_TRUNCATED' : 'ISCSI_PDU_BAD_FIELD',
      `BHS is ${bhs.length} bytes, not ${BHS_LENGTH} (RFC 7143 §11.2.1)`,
    );
  }
  const opcode = bhs[BhsField.opcode]! & OPCODE_MASK;
  const codec = BY_OPCODE[opcode];
  if (!codec) throw new ProtocolError('ISCSI_PDU_UNKNOWN_OPCODE', `${label(opcode)} is not an opcode we know (RFC 7143 §11.2.1.2)`);
  const ahsBytes = totalAhsBytes(bhs);
  if (ahs.length !== ahsBytes) {
    throw new ProtocolError(
      ahs.length < ahsBytes ? 'ISCSI_PDU_TRUNCATED' : 'ISCSI_PDU_BAD_FIELD',
      `${label(opcode)}: got ${ahs.length} AHS bytes but TotalAHSLength says ${ahsBytes} (RFC 7143 §11.2.1.5)`,
    );
  }
  const dsl = dataSegmentLength(bhs);
  if (data.length !== dsl) {
    throw new ProtocolError(
      data.length < dsl ? 'ISCSI_PDU_TRUNCATED' : 'ISCSI_PDU_BAD_FIELD',
      `${label(opcode)}: got ${data.length} data bytes but DataSegmentLength says ${dsl} (RFC 7143 §11.2.1.6)`,
    );
  }
  if (!codec.hasData && dsl !== 0) throw badField(opcode, `DataSegmentLength is ${dsl} but this PDU has no data segment`);
  const segments = ahsBytes === 0 ? NO_AHS : parseAhsList(ahs, label(opcode));
  return codec.decode(bhs, segments, data);
}
