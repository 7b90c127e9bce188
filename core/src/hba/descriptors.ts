// Command descriptors in, completion descriptors out (iscsi_hba_cmd_desc / iscsi_hba_cpl_desc / iscsi_hba_task_aux
// of driver/include/iscsi_hba_abi.h). Every field the driver wrote is validated before use: "Every descriptor from the
// other side is validated before use (tag in range, lengths within the pool, slot owned)."
import { HBA_CONSTANTS as C, HBA_STRUCTS, HbaAbiError, HbaCmdOp, HbaCplFlag, HbaCplOp, HbaDirection, HbaTaskAttribute } from './abi.js';

const CMD = HBA_STRUCTS.cmd_desc.fields;
const CPL = HBA_STRUCTS.cpl_desc.fields;
const AUX = HBA_STRUCTS.task_aux.fields;

/** A SCSI task as the driver published it (ISCSI_HBA_CMD_SCSI), its data a view of the pool (no copy). */
export interface HbaScsiCommand {
  readonly op: typeof HbaCmdOp.SCSI;
  readonly tag: number;
  readonly generation: number;
  readonly targetId: number;
  readonly lun: number;
  readonly direction: number;
  readonly attribute: number;
  /** The whole CDB: inline up to 16 bytes, else from the task's aux record (a copy). */
  readonly cdb: Buffer;
  readonly transferLength: number;
  /** [pool_offset, pool_offset + transfer_length) of the pool: Data-In lands here, Data-Out is sent from here. */
  readonly data: Buffer;
  readonly timeoutMs: number;
}

/** ISCSI_HBA_CMD_ABORT: abort the task (tag, generation); its own completion answers it. */
export interface HbaAbortCommand {
  readonly op: typeof HbaCmdOp.ABORT;
  readonly tag: number;
  readonly generation: number;
  readonly targetId: number;
}

/** ISCSI_HBA_CMD_RESET: the driver already failed the target's tasks; drop them, then answer RESET_DONE(reset_seq). */
export interface HbaResetCommand {
  readonly op: typeof HbaCmdOp.RESET;
  readonly targetId: number;
  readonly resetSeq: number;
}

export type HbaCommand = HbaScsiCommand | HbaAbortCommand | HbaResetCommand;

/** A descriptor refused: the iscsi_hba_error code, and the tag when it named a valid one (so the task can be ended). */
export interface HbaRefusal {
  readonly error: number;
  readonly reason: string;
  readonly tag?: number | undefined;
  readonly generation?: number | undefined;
}

/** Reads and validates the command descriptor at byte `offset` of the control region. */
export function decodeCommand(control: ArrayBuffer, pool: ArrayBuffer, offset: number): HbaCommand | HbaRefusal {
  const view = new DataView(control, offset, C.DESC_SIZE);
  const tag = view.getUint32(CMD.tag[0], true);
  const generation = view.getUint32(CMD.generation[0], true);
  const op = view.getUint8(CMD.op[0]);
  const targetId = view.getUint16(CMD.target_id[0], true);
  if (op === HbaCmdOp.RESET) {
    const resetSeq = view.getUint32(CMD.reset_seq[0], true);
    return { op, targetId, resetSeq };
  }
  if (op !== HbaCmdOp.SCSI && op !== HbaCmdOp.ABORT) return { error: HbaAbiError.BAD_DESCRIPTOR, reason: `unknown command op ${op}` };
  // "tag: 0 .. ISCSI_HBA_MAX_TASKS-1: the task's slot".
  if (tag >= C.MAX_TASKS) return { error: HbaAbiError.UNKNOWN_TAG, reason: `tag ${tag} out of range (max ${C.MAX_TASKS - 1})` };
  if (op === HbaCmdOp.ABORT) return { op, tag, generation, targetId };
  const refuse = (error: number, reason: string): HbaRefusal => ({ error, reason, tag, generation });

  const direction = view.getUint8(CMD.direction[0]);
  if (direction !== HbaDirection.NONE && direction !== HbaDirection.READ && direction !== HbaDirection.WRITE) {
    return refuse(HbaAbiError.BAD_DESCRIPTOR, `unknown direction ${direction}`);
  }
  const attribute = view.getUint8(CMD.task_attribute[0]);
  if (attribute > HbaTaskAttribute.ACA) return refuse(HbaAbiError.BAD_DESCRIPTOR, `unknown task attribute ${attribute}`);
  // "lun: the LUN number the SCSI stack uses (0..ISCSI_HBA_MAX_LUNS-1)".
  const lun = view.getBigUint64(CMD.lun[0], true);
  if (lun >= BigInt(C.MAX_LUNS)) return refuse(HbaAbiError.BAD_DESCRIPTOR, `LUN ${lun} out of range (max ${C.MAX_LUNS - 1})`);

  // "cdb_length: 1..32; above 16 the whole CDB is in the task's aux record (cdb[] holds the first 16)".
  const cdbLength = view.getUint8(CMD.cdb_length[0]);
  if (cdbLength < 1 || cdbLength > C.CDB_MAX) return refuse(HbaAbiError.BAD_LENGTH, `CDB length ${cdbLength} (1..${C.CDB_MAX})`);
  // The CDB is copied (32 bytes at most): the ring entry is overwritten once released, and a task held through recovery
  // is re-sent from its request. Only the data stays in place.
  const cdbAt = cdbLength <= C.CDB_INLINE ? offset + CMD.cdb[0] : auxOffset(tag) + AUX.cdb[0];
  const cdb = Buffer.alloc(cdbLength);
  cdb.set(new Uint8Array(control, cdbAt, cdbLength));

  const transferLength = view.getUint32(CMD.transfer_length[0], true);
  const poolOffset = view.getUint32(CMD.pool_offset[0], true);
  const poolLength = view.getUint32(CMD.pool_length[0], true);
  if (transferLength > C.MAX_TRANSFER) return refuse(HbaAbiError.BAD_LENGTH, `transfer of ${transferLength} bytes, above ${C.MAX_TRANSFER}`);
  if (direction === HbaDirection.NONE && transferLength !== 0) return refuse(HbaAbiError.BAD_LENGTH, `${transferLength} bytes to transfer with no direction`);
  // "pool_offset: a multiple of ISCSI_HBA_POOL_SLOT_SIZE; 0 when pool_length is 0"; "pool_length >= transfer_length".
  if (poolOffset % C.POOL_SLOT_SIZE !== 0) return refuse(HbaAbiError.BAD_LENGTH, `pool offset ${poolOffset} not on a ${C.POOL_SLOT_SIZE}-byte slot`);
  if (poolLength < transferLength) return refuse(HbaAbiError.BAD_LENGTH, `pool length ${poolLength} below transfer length ${transferLength}`);
  if (poolLength === 0 && poolOffset !== 0) return refuse(HbaAbiError.BAD_LENGTH, `pool offset ${poolOffset} with no pool length`);
  if (poolOffset + poolLength > pool.byteLength) {
    return refuse(HbaAbiError.BAD_LENGTH, `pool range ${poolOffset}+${poolLength} past the ${pool.byteLength}-byte pool`);
  }
  return {
    op,
    tag,
    generation,
    targetId,
    lun: Number(lun),
    direction,
    attribute,
    cdb,
    transferLength,
    data: Buffer.from(pool, poolOffset, transferLength),
    timeoutMs: view.getUint32(CMD.timeout_ms[0], true),
  };
}

export function isRefusal(d: HbaCommand | HbaRefusal): d is HbaRefusal {
  return 'error' in d;
}

/** Byte offset of a tag's iscsi_hba_task_aux in the control region. */
export function auxOffset(tag: number): number {
  return C.TASK_AUX_OFFSET + tag * C.TASK_AUX_SIZE;
}

/** What a completion says (ISCSI_HBA_CPL_TASK). */
export interface HbaTaskCompletion {
  readonly op: typeof HbaCplOp.TASK;
  readonly tag: number;
  readonly generation: number;
  readonly serviceResponse: number;
  readonly scsiStatus: number;
  /** Written to the tag's aux sense[] (at most SENSE_MAX bytes, the rest cut), with the SENSE flag. */
  readonly sense?: Buffer | undefined;
  readonly overflow: boolean;
  readonly underflow: boolean;
  readonly residual: number;
  readonly dataLength: number;
}

export interface HbaResetDone {
  readonly op: typeof HbaCplOp.RESET_DONE;
  readonly resetSeq: number;
}

export type HbaCompletion = HbaTaskCompletion | HbaResetDone;

/**
 * Writes a completion descriptor at byte `offset` of the control region, and its sense into the task's aux record:
 * "the daemon writes sense[] before publishing the completion". Reserved fields are written as zero.
 */
export function encodeCompletion(control: ArrayBuffer, offset: number, c: HbaCompletion): void {
  new Uint8Array(control, offset, C.DESC_SIZE).fill(0);
  const view = new DataView(control, offset, C.DESC_SIZE);
  view.setUint8(CPL.op[0], c.op);
  if (c.op === HbaCplOp.RESET_DONE) {
    view.setUint32(CPL.reset_seq[0], c.resetSeq, true);
    return;
  }
  view.setUint32(CPL.tag[0], c.tag, true);
  view.setUint32(CPL.generation[0], c.generation, true);
  view.setUint8(CPL.service_response[0], c.serviceResponse);
  view.setUint8(CPL.scsi_status[0], c.scsiStatus);
  let flags = (c.overflow ? HbaCplFlag.OVERFLOW : 0) | (c.underflow ? HbaCplFlag.UNDERFLOW : 0);
  const senseLength = Math.min(c.sense?.length ?? 0, C.SENSE_MAX);
  if (c.sense !== undefined && senseLength > 0) {
    new Uint8Array(control, auxOffset(c.tag) + AUX.sense[0], senseLength).set(c.sense.subarray(0, senseLength));
    flags |= HbaCplFlag.SENSE;
  }
  view.setUint8(CPL.flags[0], flags);
  view.setUint16(CPL.sense_length[0], senseLength, true);
  view.setUint32(CPL.residual[0], c.residual, true);
  view.setUint32(CPL.data_length[0], c.dataLength, true);
}
