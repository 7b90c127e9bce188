/** fast-check arbitraries: one per opcode, producing PDUs the codec must round-trip exactly. */

import fc from 'fast-check';
import type { DigestOptions } from '../../src/pdu/digest.js';
import {
  Opcode,
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
} from '../../src/pdu/types.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
const bits = (n: number) => fc.integer({ min: 0, max: 2 ** n - 1 });
const lun = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const isid = fc.bigInt({ min: 0n, max: 2n ** 48n - 1n });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const data = bytes(0, 70);
const stage = fc.constantFrom<Stage>(0, 1, 3);
/** §11.12.2 / §11.10.2: the C bit may be set only when T (or F) is clear. */
const flagAndContinue = fc.constantFrom<[boolean, boolean]>([false, false], [true, false], [false, true]);
/** Two version numbers with the first not above the second. */
const orderedVersions = fc.tuple(u8, u8).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]));

export const nopOut: fc.Arbitrary<NopOut> = fc.record({
  opcode: fc.constant(Opcode.NopOut),
  immediate: fc.boolean(),
  lun,
  itt: u32,
  ttt: u32,
  cmdSN: u32,
  expStatSN: u32,
  data,
});

export const scsiCommand: fc.Arbitrary<ScsiCommand> = fc
  .record({
    opcode: fc.constant(Opcode.ScsiCommand),
    immediate: fc.boolean(),
    final: fc.boolean(),
    read: fc.boolean(),
    write: fc.boolean(),
    attribute: bits(3),
    lun,
    itt: u32,
    expectedDataTransferLength: u32,
    cmdSN: u32,
    expStatSN: u32,
    // 16 bytes in the BHS; longer CDBs exercise the Extended CDB AHS (§11.2.2.3).
    cdb: fc.oneof(bytes(16, 16), bytes(17, 300)),
    bidi: fc.option(u32, { nil: undefined }),
    data,
  })
  .map(({ bidi, ...rest }) => (bidi === undefined ? rest : { ...rest, bidiReadLength: bidi }));

export const scsiResponse: fc.Arbitrary<ScsiResponse> = fc.record({
  opcode: fc.constant(Opcode.ScsiResponse),
  bidiOverflow: fc.boolean(),
  bidiUnderflow: fc.boolean(),
  overflow: fc.boolean(),
  underflow: fc.boolean(),
  response: u8,
  status: u8,
  itt: u32,
  snackTag: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  expDataSN: u32,
  bidiReadResidualCount: u32,
  residualCount: u32,
  data,
});

export const taskMgmtRequest: fc.Arbitrary<TaskMgmtRequest> = fc.record({
  opcode: fc.constant(Opcode.TaskMgmtRequest),
  immediate: fc.boolean(),
  function: bits(7),
  lun,
  itt: u32,
  referencedTaskTag: u32,
  cmdSN: u32,
  expStatSN: u32,
  refCmdSN: u32,
  expDataSN: u32,
});

export const taskMgmtResponse: fc.Arbitrary<TaskMgmtResponse> = fc.record({
  opcode: fc.constant(Opcode.TaskMgmtResponse),
  response: u8,
  itt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
});

export const loginRequest: fc.Arbitrary<LoginRequest> = fc
  .record({
    tc: flagAndContinue,
    csg: stage,
    nsg: stage,
    versions: orderedVersions,
    isid,
    tsih: u16,
    itt: u32,
    cid: u16,
    cmdSN: u32,
    expStatSN: u32,
    data,
  })
  .map(({ tc, versions, ...rest }) => ({
    opcode: Opcode.LoginRequest,
    // §11.12: Login Requests always carry I=1.
    immediate: true,
    transit: tc[0],
    continue: tc[1],
    versionMin: versions[0],
    versionMax: versions[1],
    ...rest,
  }));

export const loginResponse: fc.Arbitrary<LoginResponse> = fc
  .record({
    tc: flagAndContinue,
    csg: stage,
    nsg: stage,
    versions: orderedVersions,
    isid,
    tsih: u16,
    itt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    statusClass: u8,
    statusDetail: u8,
    data,
  })
  .map(({ tc, versions, ...rest }) => ({
    opcode: Opcode.LoginResponse,
    transit: tc[0],
    continue: tc[1],
    versionActive: versions[0],
    versionMax: versions[1],
    ...rest,
  }));

export const textRequest: fc.Arbitrary<TextRequest> = fc
  .record({ immediate: fc.boolean(), fc: flagAndContinue, lun, itt: u32, ttt: u32, cmdSN: u32, expStatSN: u32, data })
  .map(({ fc: [final, cont], ...rest }) => ({ opcode: Opcode.TextRequest, final, continue: cont, ...rest }));

export const textResponse: fc.Arbitrary<TextResponse> = fc
  .record({ fc: flagAndContinue, lun, itt: u32, ttt: u32, statSN: u32, expCmdSN: u32, maxCmdSN: u32, data })
  .map(({ fc: [final, cont], ...rest }) => ({ opcode: Opcode.TextResponse, final, continue: cont, ...rest }));

export const dataOut: fc.Arbitrary<DataOut> = fc.record({
  opcode: fc.constant(Opcode.DataOut),
  final: fc.boolean(),
  lun,
  itt: u32,
  ttt: u32,
  expStatSN: u32,
  dataSN: u32,
  bufferOffset: u32,
  data,
});

export const dataIn: fc.Arbitrary<DataIn> = fc.record({
  opcode: fc.constant(Opcode.DataIn),
  final: fc.boolean(),
  acknowledge: fc.boolean(),
  overflow: fc.boolean(),
  underflow: fc.boolean(),
  statusPresent: fc.boolean(),
  status: u8,
  lun,
  itt: u32,
  ttt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  dataSN: u32,
  bufferOffset: u32,
  residualCount: u32,
  data,
});

export const logoutRequest: fc.Arbitrary<LogoutRequest> = fc.record({
  opcode: fc.constant(Opcode.LogoutRequest),
  immediate: fc.boolean(),
  reasonCode: bits(7),
  itt: u32,
  cid: u16,
  cmdSN: u32,
  expStatSN: u32,
});

export const logoutResponse: fc.Arbitrary<LogoutResponse> = fc.record({
  opcode: fc.constant(Opcode.LogoutResponse),
  response: u8,
  itt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  time2Wait: u16,
  time2Retain: u16,
});

export const snackRequest: fc.Arbitrary<SnackRequest> = fc.record({
  opcode: fc.constant(Opcode.SnackRequest),
  type: bits(4),
  lun,
  itt: u32,
  ttt: u32,
  expStatSN: u32,
  begRun: u32,
  runLength: u32,
});

export const r2t: fc.Arbitrary<R2T> = fc.record({
  opcode: fc.constant(Opcode.R2T),
  lun,
  itt: u32,
  ttt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  r2tSN: u32,
  bufferOffset: u32,
  desiredDataTransferLength: u32,
});

export const asyncMessage: fc.Arbitrary<AsyncMessage> = fc.record({
  opcode: fc.constant(Opcode.AsyncMessage),
  lun,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  asyncEvent: u8,
  asyncVCode: u8,
  parameter1: u16,
  parameter2: u16,
  parameter3: u16,
  data,
});

export const nopIn: fc.Arbitrary<NopIn> = fc.record({
  opcode: fc.constant(Opcode.NopIn),
  lun,
  itt: u32,
  ttt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  data,
});

export const reject: fc.Arbitrary<Reject> = fc.record({
  opcode: fc.constant(Opcode.Reject),
  reason: u8,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  dataSN: u32,
  data,
});

/** fc.record builds null-prototype objects; decoded PDUs are plain objects, and toStrictEqual compares prototypes. */
const plain = <T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> => arb.map((o) => ({ ...o }));

export const BY_OPCODE: ReadonlyArray<readonly [string, fc.Arbitrary<Pdu>]> = ([
  ['NOP-Out', nopOut],
  ['SCSI Command', scsiCommand],
  ['SCSI Response', scsiResponse],
  ['Task Management Request', taskMgmtRequest],
  ['Task Management Response', taskMgmtResponse],
  ['Login Request', loginRequest],
  ['Login Response', loginResponse],
  ['Text Request', textRequest],
  ['Text Response', textResponse],
  ['Data-Out', dataOut],
  ['Data-In', dataIn],
  ['Logout Request', logoutRequest],
  ['Logout Response', logoutResponse],
  ['SNACK Request', snackRequest],
  ['R2T', r2t],
  ['Async Message', asyncMessage],
  ['NOP-In', nopIn],
  ['Reject', reject],
] as Array<[string, fc.Arbitrary<Pdu>]>).map(([name, arb]) => [name, plain(arb)] as const);

export const anyPdu: fc.Arbitrary<Pdu> = fc.oneof(...BY_OPCODE.map(([, a]) => a));

export const digests: fc.Arbitrary<DigestOptions> = fc.record({ headerDigest: fc.boolean(), dataDigest: fc.boolean() });

/** Sorted cut points that split `length` bytes into chunks. */
export function cuts(length: number): fc.Arbitrary<number[]> {
  return fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 12 })
    .map((xs) => xs.filter((x) => x < length).sort((a, b) => a - b));
}

export function chunked(buf: Buffer, at: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}
