// The HBA side of the rings, in the test, as driver/core writes and reads them (driver/include/iscsi_hba_abi.h): plain
// ArrayBuffers sized per abi.ts, command descriptors published with a store-release of the producer index, completions
// consumed with a load-acquire of it. And a fake session executor for the cases a real SessionCore cannot script.
import { HBA_CONSTANTS as C, HBA_STRUCTS, HbaCmdOp, HbaDirection, HbaNotice, HbaTaskAttribute } from '../../src/hba/abi.js';
import type { HbaNoticeInfo, HbaPlatform, HbaSession, HbaTargetHandle } from '../../src/hba/platform.js';
import type { SessionEvent } from '../../src/session/session-events.js';
import type { ScsiRequest, ScsiResult } from '../../src/session/scsi-task.js';

const CMD = HBA_STRUCTS.cmd_desc.fields;
const CPL = HBA_STRUCTS.cpl_desc.fields;
const RING = HBA_STRUCTS.cmd_ring.fields;
const PRODUCER = RING.producer[0] / 4;
const CONSUMER = RING.consumer[0] / 4;

export interface CommandSpec {
  tag: number;
  generation?: number;
  op?: number;
  direction?: number;
  cdb?: Buffer;
  /** Overrides cdb.length (to write impossible lengths). */
  cdbLength?: number;
  targetId?: number;
  lun?: number | bigint;
  transferLength?: number;
  poolOffset?: number;
  poolLength?: number;
  resetSeq?: number;
  attribute?: number;
}

export interface Completion {
  tag: number;
  generation: number;
  op: number;
  serviceResponse: number;
  scsiStatus: number;
  flags: number;
  senseLength: number;
  residual: number;
  dataLength: number;
  resetSeq: number;
  sense: Buffer;
}

export class FakeHba implements HbaPlatform {
  readonly control = new ArrayBuffer(C.CONTROL_SIZE);
  readonly pool = new ArrayBuffer(C.POOL_SIZE);
  doorbells = 0;
  readonly destroyed: number[] = [];
  private readonly keys = new Map<string, number>();
  private readonly listeners = new Set<(n: HbaNoticeInfo) => void>();
  private readonly cmd = new Uint32Array(this.control, C.CMD_RING_OFFSET, C.RING_SIZE / 4);
  private readonly cpl = new Uint32Array(this.control, C.CPL_RING_OFFSET, C.RING_SIZE / 4);

  /** Both rings start at `index` (the driver resets them at each handshake; a test starts near the wrap). */
  startAt(index: number): void {
    for (const ring of [this.cmd, this.cpl]) {
      Atomics.store(ring, PRODUCER, index >>> 0);
      Atomics.store(ring, CONSUMER, index >>> 0);
    }
  }

  doorbell(): void {
    this.doorbells++;
  }

  async createTarget(key: string): Promise<HbaTargetHandle> {
    const known = this.keys.get(key);
    if (known !== undefined) return { targetId: known, existed: true };
    const targetId = this.keys.size;
    this.keys.set(key, targetId);
    return { targetId, existed: false };
  }

  async destroyTarget(targetId: number): Promise<void> {
    this.destroyed.push(targetId);
  }

  onNotice(listener: (n: HbaNoticeInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** "producer: write the descriptor at entry (producer & mask); then STORE-RELEASE producer + 1". */
  submit(spec: CommandSpec): void {
    const producer = Atomics.load(this.cmd, PRODUCER);
    const offset = C.CMD_RING_OFFSET + RING.entries[0] + (producer & C.RING_MASK) * C.DESC_SIZE;
    const bytes = new Uint8Array(this.control, offset, C.DESC_SIZE);
    bytes.fill(0);
    const v = new DataView(this.control, offset, C.DESC_SIZE);
    const cdb = spec.cdb ?? Buffer.alloc(6);
    v.setUint32(CMD.tag[0], spec.tag, true);
    v.setUint32(CMD.generation[0], spec.generation ?? 1, true);
    v.setUint8(CMD.op[0], spec.op ?? HbaCmdOp.SCSI);
    v.setUint8(CMD.direction[0], spec.direction ?? HbaDirection.NONE);
    v.setUint8(CMD.cdb_length[0], spec.cdbLength ?? cdb.length);
    v.setUint8(CMD.task_attribute[0], spec.attribute ?? HbaTaskAttribute.SIMPLE);
    v.setUint16(CMD.target_id[0], spec.targetId ?? 0, true);
    v.setBigUint64(CMD.lun[0], BigInt(spec.lun ?? 0), true);
    v.setUint32(CMD.transfer_length[0], spec.transferLength ?? 0, true);
    v.setUint32(CMD.pool_offset[0], spec.poolOffset ?? 0, true);
    v.setUint32(CMD.pool_length[0], spec.poolLength ?? spec.transferLength ?? 0, true);
    v.setUint32(CMD.reset_seq[0], spec.resetSeq ?? 0, true);
    // "above 16 the whole CDB is in the task's aux record (cdb[] holds the first 16)".
    bytes.set(cdb.subarray(0, C.CDB_INLINE), CMD.cdb[0]);
    if (cdb.length > C.CDB_INLINE && spec.tag < C.MAX_TASKS) new Uint8Array(this.control, this.auxOffset(spec.tag), C.CDB_MAX).set(cdb.subarray(0, C.CDB_MAX));
    Atomics.store(this.cmd, PRODUCER, (producer + 1) >>> 0);
  }

  /** Writes a raw producer index (a corrupt peer). */
  setCommandProducer(value: number): void {
    Atomics.store(this.cmd, PRODUCER, value >>> 0);
  }

  get commandConsumer(): number {
    return Atomics.load(this.cmd, CONSUMER);
  }

  /** The answer of the armed ARM_NOTICES call: one wake-up for whatever was published. */
  notify(kinds: number = HbaNotice.COMMANDS): void {
    const notice = { kinds, cmdProducer: Atomics.load(this.cmd, PRODUCER) };
    for (const l of this.listeners) l(notice);
  }

  /** "consumer: LOAD-ACQUIRE the producer index; read the descriptors up to it; then STORE-RELEASE the new consumer". */
  completions(): Completion[] {
    const producer = Atomics.load(this.cpl, PRODUCER);
    let consumer = Atomics.load(this.cpl, CONSUMER);
    const out: Completion[] = [];
    while (consumer !== producer) {
      const offset = C.CPL_RING_OFFSET + RING.entries[0] + (consumer & C.RING_MASK) * C.DESC_SIZE;
      const v = new DataView(this.control, offset, C.DESC_SIZE);
      const tag = v.getUint32(CPL.tag[0], true);
      const senseLength = v.getUint16(CPL.sense_length[0], true);
      out.push({
        tag,
        generation: v.getUint32(CPL.generation[0], true),
        op: v.getUint8(CPL.op[0]),
        serviceResponse: v.getUint8(CPL.service_response[0]),
        scsiStatus: v.getUint8(CPL.scsi_status[0]),
        flags: v.getUint8(CPL.flags[0]),
        senseLength,
        residual: v.getUint32(CPL.residual[0], true),
        dataLength: v.getUint32(CPL.data_length[0], true),
        resetSeq: v.getUint32(CPL.reset_seq[0], true),
        sense: Buffer.from(new Uint8Array(this.control, this.auxOffset(tag) + HBA_STRUCTS.task_aux.fields.sense[0], Math.min(senseLength, C.SENSE_MAX))),
      });
      consumer = (consumer + 1) >>> 0;
    }
    Atomics.store(this.cpl, CONSUMER, consumer);
    return out;
  }

  /** The driver is slow: the completion ring looks full (its consumer index a whole ring behind the producer). */
  fillCompletionRing(): void {
    Atomics.store(this.cpl, CONSUMER, (Atomics.load(this.cpl, PRODUCER) - C.RING_ENTRIES) >>> 0);
  }

  /** The driver catches up: it consumed everything (without reading it). */
  drainCompletionRing(): void {
    Atomics.store(this.cpl, CONSUMER, Atomics.load(this.cpl, PRODUCER));
  }

  get completionProducer(): number {
    return Atomics.load(this.cpl, PRODUCER);
  }

  auxOffset(tag: number): number {
    return C.TASK_AUX_OFFSET + tag * C.TASK_AUX_SIZE;
  }

  poolBytes(offset: number, length: number): Buffer {
    return Buffer.from(this.pool, offset, length);
  }
}

interface Call {
  request: ScsiRequest;
  tag: number | undefined;
  resolve: (r: ScsiResult) => void;
  reject: (e: unknown) => void;
}

/** A session executor the test answers by hand (sense, residuals and events a scripted target cannot easily send). */
export class FakeSession implements HbaSession {
  readonly calls: Call[] = [];
  readonly aborts: number[] = [];
  private readonly listeners = new Set<(e: SessionEvent) => void>();

  execute(request: ScsiRequest, tag?: number): Promise<ScsiResult> {
    return new Promise((resolve, reject) => this.calls.push({ request, tag, resolve, reject }));
  }

  abort(tag: number): Promise<number> {
    this.aborts.push(tag);
    return Promise.resolve(0);
  }

  on(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: SessionEvent): void {
    for (const l of this.listeners) l(event);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}

/** Lets promise callbacks and the bridge's one flush per turn run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export function good(data: Buffer = Buffer.alloc(0), extra: Partial<ScsiResult> = {}): ScsiResult {
  return { status: 0, data, residualCount: 0, underflow: false, overflow: false, ...extra };
}
