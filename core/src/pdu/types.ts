/**
 * iSCSI PDUs (RFC 7143 §11) as plain readonly data: a discriminated union on `opcode`.
 *
 * Conventions:
 * - Sequence numbers, tags and lengths are unsigned 32-bit `number`s.
 * - `lun` is the raw 8-byte LUN field (SAM-5 §4.7) as a `bigint`; see `scsi/lun.ts` for the single-level encoding.
 * - `isid` is the 6-byte ISID (§11.12.5) as a 48-bit `bigint`.
 * - `data` is the data segment without padding or digest. A decoded PDU's `data` may be a view (`subarray`) into the
 *   chunk the socket delivered: callers that keep it beyond the current tick of processing must not assume they own
 *   a private copy, and must never write into it.
 * - Reserved fields are encoded as zero and ignored on decode.
 */

export const Opcode = {
  // Initiator opcodes (§11.1.1)
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskMgmtRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  // Target opcodes
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskMgmtResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** The reserved tag value 0xffffffff (§11.18.1 and others). */
export const RESERVED_TAG = 0xffffffff;

/** §11.2.1.4 — additional header segments we know by type. */
export const AhsType = { ExtendedCdb: 1, BidiReadLength: 2 } as const;

/** SCSI Command task attributes (§11.3.1.2). */
export const TaskAttribute = { Untagged: 0, Simple: 1, Ordered: 2, HeadOfQueue: 3, ACA: 4 } as const;

/** Login stages (§11.12.3): CSG/NSG values. */
export const Stage = { Security: 0, Operational: 1, FullFeature: 3 } as const;
export type Stage = 0 | 1 | 3;

export interface NopOut {
  readonly opcode: typeof Opcode.NopOut;
  readonly immediate: boolean;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface ScsiCommand {
  readonly opcode: typeof Opcode.ScsiCommand;
  readonly immediate: boolean;
  readonly final: boolean;
  readonly read: boolean;
  readonly write: boolean;
  readonly attribute: number;
  readonly lun: bigint;
  readonly itt: number;
  readonly expectedDataTransferLength: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  /** The whole CDB, any length: up to 16 bytes travel in the BHS, the rest in an Extended CDB AHS (§11.2.1.4). */
  readonly cdb: Buffer;
  /** Bidirectional Read Expected Data Transfer Length AHS (§11.2.1.5), when present. */
  readonly bidiReadLength?: number | undefined;
  /** Immediate data. */
  readonly data: Buffer;
}

export interface ScsiResponse {
  readonly opcode: typeof Opcode.ScsiResponse;
  readonly bidiOverflow: boolean;
  readonly bidiUnderflow: boolean;
  readonly overflow: boolean;
  readonly underflow: boolean;
  readonly response: number;
  readonly status: number;
  readonly itt: number;
  readonly snackTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly expDataSN: number;
  readonly bidiReadResidualCount: number;
  readonly residualCount: number;
  /** SenseLength (2 bytes) + sense data + response data (§11.4.7). */
  readonly data: Buffer;
}

export interface TaskMgmtRequest {
  readonly opcode: typeof Opcode.TaskMgmtRequest;
  readonly immediate: boolean;
  readonly function: number;
  readonly lun: bigint;
  readonly itt: number;
  readonly referencedTaskTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly refCmdSN: number;
  readonly expDataSN: number;
}

export interface TaskMgmtResponse {
  readonly opcode: typeof Opcode.TaskMgmtResponse;
  readonly response: number;
  readonly itt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

export interface LoginRequest {
  readonly opcode: typeof Opcode.LoginRequest;
  /** Always true on the wire (§11.12: the I bit is set for Login Requests); kept for symmetry. */
  readonly immediate: boolean;
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: Stage;
  readonly nsg: Stage;
  readonly versionMax: number;
  readonly versionMin: number;
  readonly isid: bigint;
  readonly tsih: number;
  readonly itt: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface LoginResponse {
  readonly opcode: typeof Opcode.LoginResponse;
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: Stage;
  readonly nsg: Stage;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly isid: bigint;
  readonly tsih: number;
  readonly itt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly statusClass: number;
  readonly statusDetail: number;
  readonly data: Buffer;
}

export interface TextRequest {
  readonly opcode: typeof Opcode.TextRequest;
  readonly immediate: boolean;
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface TextResponse {
  readonly opcode: typeof Opcode.TextResponse;
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly data: Buffer;
}

export interface DataOut {
  readonly opcode: typeof Opcode.DataOut;
  readonly final: boolean;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly expStatSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly data: Buffer;
}

export interface DataIn {
  readonly opcode: typeof Opcode.DataIn;
  readonly final: boolean;
  readonly acknowledge: boolean;
  readonly overflow: boolean;
  readonly underflow: boolean;
  /** S bit: status is phase-collapsed into this PDU (§11.7.4). */
  readonly statusPresent: boolean;
  readonly status: number;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly residualCount: number;
  readonly data: Buffer;
}

export interface LogoutRequest {
  readonly opcode: typeof Opcode.LogoutRequest;
  readonly immediate: boolean;
  /** §11.14.1: 0 close session, 1 close connection, 2 remove connection for recovery. */
  readonly reasonCode: number;
  readonly itt: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

export interface LogoutResponse {
  readonly opcode: typeof Opcode.LogoutResponse;
  readonly response: number;
  readonly itt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly time2Wait: number;
  readonly time2Retain: number;
}

export interface SnackRequest {
  readonly opcode: typeof Opcode.SnackRequest;
  /** §11.16.1: 0 Data/R2T, 1 Status, 2 DataACK, 3 R-Data. */
  readonly type: number;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly expStatSN: number;
  readonly begRun: number;
  readonly runLength: number;
}

export interface R2T {
  readonly opcode: typeof Opcode.R2T;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

export interface AsyncMessage {
  readonly opcode: typeof Opcode.AsyncMessage;
  readonly lun: bigint;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** §11.9.1: 0 SCSI async event, 1 logout request, 2 drop connection, 3 drop all connections, 4 renegotiate, 248 vendor. */
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
  /** SenseLength + sense data + iSCSI event data (§11.9.4). */
  readonly data: Buffer;
}

export interface NopIn {
  readonly opcode: typeof Opcode.NopIn;
  readonly lun: bigint;
  readonly itt: number;
  readonly ttt: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly data: Buffer;
}

export interface Reject {
  readonly opcode: typeof Opcode.Reject;
  /** §11.17.1 reason codes. */
  readonly reason: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly dataSN: number;
  /** The complete header of the rejected PDU (§11.17.2). */
  readonly data: Buffer;
}

export type InitiatorPdu =
  | NopOut
  | ScsiCommand
  | TaskMgmtRequest
  | LoginRequest
  | TextRequest
  | DataOut
  | LogoutRequest
  | SnackRequest;

export type TargetPdu =
  | NopIn
  | ScsiResponse
  | TaskMgmtResponse
  | LoginResponse
  | TextResponse
  | DataIn
  | LogoutResponse
  | R2T
  | AsyncMessage
  | Reject;

export type Pdu = InitiatorPdu | TargetPdu;

export type PduOf<O extends Opcode> = Extract<Pdu, { opcode: O }>;
