/**
 * One RAM-backed direct-access logical unit (SBC-3 on SPC-4): it turns a CDB (plus Data-Out for the commands that
 * carry data) into a SCSI status with Data-In or sense, and keeps the UNIT ATTENTION conditions of each I_T nexus
 * (SAM-5 §5.14). No iSCSI here: the connection decides how the outcome travels.
 */
import { ArgumentError, encodeLun, ScsiStatus } from '@iscsi-initiator/core';
import { allocationLength, compareAndWrite, readWrite, SA_READ_CAPACITY_16, SA_REPORT_SUPPORTED_OPCODES, ScsiOp, synchronizeCache, verify, writeSame } from './block-cdb.js';
import { absentUnitInquiry, standardInquiry, unitIdentity, vpdPage, type UnitGeometry, type UnitIdentity } from './inquiry-data.js';
import { modePages, modeParameterData, PageControl } from './mode-pages.js';
import { RamDisk } from './ram-disk.js';
import { Condition, fixedSense, inCdb, type SenseCondition } from './sense.js';
import { reportSupportedOpcodes } from './supported-opcodes.js';

/** What a command ended with. `data` is the Data-In the device server produced (already cut to ALLOCATION LENGTH). */
export interface ScsiOutcome {
  readonly status: number;
  readonly data?: Buffer | undefined;
  readonly sense?: Buffer | undefined;
}

/**
 * A command either completes without Data-Out, or needs `length` bytes of it (SBC's transfer length in bytes: the
 * SPDTL) before `finish` runs; `finish` gets what arrived, which may be less when the iSCSI EDTL was smaller.
 */
export type Preparation =
  | { readonly kind: 'complete'; readonly outcome: ScsiOutcome }
  | { readonly kind: 'data-out'; readonly length: number; readonly finish: (data: Buffer) => ScsiOutcome };

export interface LogicalUnitOptions {
  readonly targetName: string;
  readonly lun: number;
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly vendor?: string | undefined;
  readonly product?: string | undefined;
  readonly serial?: string | undefined;
}

const GOOD: ScsiOutcome = Object.freeze({ status: ScsiStatus.Good });

export function checkCondition(condition: SenseCondition): ScsiOutcome {
  return { status: ScsiStatus.CheckCondition, sense: fixedSense(condition) };
}

function complete(outcome: ScsiOutcome): Preparation {
  return { kind: 'complete', outcome };
}

function withData(data: Buffer, allocation: number): Preparation {
  return complete({ status: ScsiStatus.Good, data: data.subarray(0, Math.min(allocation, data.length)) });
}

/** UNMAP (SBC-3 §5.29) parameter list: an 8-byte header, then 16-byte block descriptors (LBA, count, reserved). */
const UNMAP_HEADER = 8;
const UNMAP_DESCRIPTOR = 16;

export class LogicalUnit {
  readonly lun: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly disk: RamDisk;
  readonly identity: UnitIdentity;
  readonly geometry: UnitGeometry;
  /** Pending UNIT ATTENTION conditions by I_T nexus, oldest first. */
  private readonly attention = new Map<string, SenseCondition[]>();

  constructor(options: LogicalUnitOptions) {
    const { sizeBytes, blockSize } = options;
    if (blockSize !== 512 && blockSize !== 4096) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `block size ${blockSize} is not 512 or 4096`);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < blockSize || sizeBytes % blockSize !== 0) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `LUN size ${sizeBytes} is not a positive multiple of the block size ${blockSize}`);
    }
    this.lun = options.lun;
    this.blockSize = blockSize;
    this.blocks = sizeBytes / blockSize;
    this.disk = new RamDisk(sizeBytes);
    this.identity = unitIdentity(options.targetName, options.lun, options);
    this.geometry = { blockSize, blocks: this.blocks, maxUnmapBlocks: 1 << 20, maxUnmapDescriptors: 256, maxWriteSameBlocks: 0, maxCompareAndWriteBlocks: 255 };
  }

  /** A new I_T nexus (SAM-5 §5.14): with `unitAttention`, its first command reports POWER ON, RESET. */
  addNexus(nexus: string, unitAttention: boolean): void {
    this.attention.set(nexus, unitAttention ? [Condition.powerOnReset] : []);
  }

  hasNexus(nexus: string): boolean {
    return this.attention.has(nexus);
  }

  removeNexus(nexus: string): void {
    this.attention.delete(nexus);
  }

  /** Queues a UNIT ATTENTION for every nexus `which` accepts (once per nexus: a repeat of the same code is merged). */
  queueUnitAttention(condition: SenseCondition, which: (nexus: string) => boolean = () => true): number {
    let queued = 0;
    for (const [nexus, pending] of this.attention) {
      if (!which(nexus)) continue;
      if (!pending.some((c) => c.asc === condition.asc && c.ascq === condition.ascq)) pending.push(condition);
      queued++;
    }
    return queued;
  }

  pendingUnitAttentions(nexus: string): readonly SenseCondition[] {
    return this.attention.get(nexus) ?? [];
  }

  /** Runs `cdb` for `nexus` as far as it can without Data-Out. `luns` is the target's LUN inventory (REPORT LUNS). */
  prepare(nexus: string, cdb: Buffer, luns: readonly number[]): Preparation {
    const op = cdb[0];
    if (op === undefined) return complete(checkCondition(Condition.invalidOpcode));
    // SAM-5 §5.14: INQUIRY and REPORT LUNS neither report nor clear a UNIT ATTENTION; REQUEST SENSE returns it.
    const pending = this.attention.get(nexus);
    if (pending && pending.length > 0 && op !== ScsiOp.Inquiry && op !== ScsiOp.ReportLuns && op !== ScsiOp.RequestSense) {
      return complete(checkCondition(pending.shift()!));
    }
    switch (op) {
      case ScsiOp.TestUnitReady:
      case ScsiOp.StartStopUnit:
        return complete(GOOD);
      case ScsiOp.RequestSense:
        return this.requestSense(nexus, cdb);
      case ScsiOp.Inquiry:
        return this.inquiry(cdb);
      case ScsiOp.ModeSense6:
      case ScsiOp.ModeSense10:
        return this.modeSense(cdb);
      case ScsiOp.ReadCapacity10:
        return this.readCapacity10(cdb);
      case ScsiOp.ServiceActionIn16:
        return this.serviceActionIn(cdb);
      case ScsiOp.ReportLuns:
        return reportLuns(cdb, luns);
      case ScsiOp.Read6:
      case ScsiOp.Read10:
      case ScsiOp.Read12:
      case ScsiOp.Read16:
      case ScsiOp.Write6:
      case ScsiOp.Write10:
      case ScsiOp.Write12:
      case ScsiOp.Write16:
      case ScsiOp.WriteAndVerify10:
      case ScsiOp.WriteAndVerify12:
      case ScsiOp.WriteAndVerify16:
        return this.readWrite(cdb);
      case ScsiOp.Verify10:
      case ScsiOp.Verify12:
      case ScsiOp.Verify16:
        return this.verify(cdb);
      case ScsiOp.CompareAndWrite:
        return this.compareAndWrite(cdb);
      case ScsiOp.MaintenanceIn: {
        if (((cdb[1] ?? 0) & 0x1f) !== SA_REPORT_SUPPORTED_OPCODES) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 4)));
        const report = reportSupportedOpcodes(cdb);
        if (report === 'invalid') return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
        return withData(report.data, report.allocation);
      }
      case ScsiOp.SynchronizeCache10:
      case ScsiOp.SynchronizeCache16:
        return this.synchronizeCache(cdb);
      case ScsiOp.WriteSame10:
      case ScsiOp.WriteSame16:
        return this.writeSame(cdb);
      case ScsiOp.Unmap:
        return this.unmap(cdb);
      default:
        return complete(checkCondition(inCdb(Condition.invalidOpcode, 0)));
    }
  }

  /** SBC-3 §4.5: LBA OUT OF RANGE when the range leaves the medium (or starts past it, even for 0 blocks). */
  private outOfRange(lba: bigint, blocks: number): boolean {
    const capacity = BigInt(this.blocks);
    return lba >= capacity || lba + BigInt(blocks) > capacity;
  }

  private requestSense(nexus: string, cdb: Buffer): Preparation {
    const allocation = allocationLength(cdb, 4, 1);
    if (allocation === undefined) return complete(checkCondition(Condition.invalidFieldInCdb));
    const descriptorFormat = ((cdb[1] ?? 0) & 0x01) !== 0;
    const condition = this.attention.get(nexus)?.shift() ?? Condition.noSense;
    if (descriptorFormat) {
      // SPC-4 §4.5.2: descriptor format, header only (response code 72h, no descriptors).
      const data = Buffer.alloc(8);
      data[0] = 0x72;
      data[1] = condition.key;
      data[2] = condition.asc;
      data[3] = condition.ascq;
      return withData(data, allocation);
    }
    return withData(fixedSense(condition), allocation);
  }

  private inquiry(cdb: Buffer): Preparation {
    const allocation = allocationLength(cdb, 3, 2);
    if (allocation === undefined) return complete(checkCondition(Condition.invalidFieldInCdb));
    const flags = cdb[1] ?? 0;
    const pageCode = cdb[2] ?? 0;
    // SPC-4 §6.6.1: CMDDT is obsolete (must be 0); with EVPD=0 the PAGE CODE must be 0.
    if (flags & 0x02) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 1)));
    if ((flags & 0x01) === 0) {
      if (pageCode !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
      return withData(standardInquiry(this.identity), allocation);
    }
    const page = vpdPage(pageCode, this.identity, this.geometry);
    if (!page) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
    return withData(page, allocation);
  }

  private modeSense(cdb: Buffer): Preparation {
    const ten = cdb[0] === ScsiOp.ModeSense10;
    const allocation = ten ? allocationLength(cdb, 7, 2) : allocationLength(cdb, 4, 1);
    if (allocation === undefined) return complete(checkCondition(Condition.invalidFieldInCdb));
    const dbd = ((cdb[1] ?? 0) & 0x08) !== 0;
    const pageControl = (cdb[2] ?? 0) >> 6;
    if (pageControl === PageControl.Saved) return complete(checkCondition(Condition.savingParametersNotSupported));
    const pages = modePages((cdb[2] ?? 0) & 0x3f, cdb[3] ?? 0, pageControl);
    if (!pages) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
    return withData(modeParameterData(ten, pages, dbd, this.blocks, this.blockSize), allocation);
  }

  /** SBC-3 §5.15: RETURNED LOGICAL BLOCK ADDRESS (FFFFFFFFh when it does not fit) and BLOCK LENGTH. */
  private readCapacity10(cdb: Buffer): Preparation {
    if (cdb.length < 10) return complete(checkCondition(Condition.invalidFieldInCdb));
    // PMI=0 requires LOGICAL BLOCK ADDRESS 0.
    if ((cdb[8]! & 0x01) === 0 && cdb.readUInt32BE(2) !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
    const data = Buffer.alloc(8);
    data.writeUInt32BE(Math.min(this.blocks - 1, 0xffffffff), 0);
    data.writeUInt32BE(this.blockSize, 4);
    return withData(data, 8);
  }

  /** SBC-3 §5.16 READ CAPACITY (16): last LBA, block length, LBPME and LBPRZ (byte 14), no protection. */
  private serviceActionIn(cdb: Buffer): Preparation {
    const allocation = allocationLength(cdb, 10, 4);
    if (allocation === undefined || ((cdb[1] ?? 0) & 0x1f) !== SA_READ_CAPACITY_16) {
      return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 4)));
    }
    const data = Buffer.alloc(32);
    data.writeBigUInt64BE(BigInt(this.blocks - 1), 0);
    data.writeUInt32BE(this.blockSize, 8);
    data[14] = 0x80 | 0x40;
    return withData(data, allocation);
  }

  private readWrite(cdb: Buffer): Preparation {
    const rw = readWrite(cdb);
    if (!rw) return complete(checkCondition(Condition.invalidFieldInCdb));
    // SBC-3 §5.10: no protection information here, so RDPROTECT/WRPROTECT must be 0.
    if (rw.protect !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 7)));
    if (this.outOfRange(rw.lba, rw.blocks)) return complete(checkCondition(Condition.lbaOutOfRange));
    const offset = Number(rw.lba) * this.blockSize;
    const length = rw.blocks * this.blockSize;
    if (!rw.write) return complete({ status: ScsiStatus.Good, data: this.disk.read(offset, length) });
    return {
      kind: 'data-out',
      length,
      // Only what arrived is written (an EDTL below the transfer length writes a prefix, SAM-5 §5.4.2 overflow).
      finish: (data) => {
        this.disk.write(offset, data.subarray(0, length));
        return GOOD;
      },
    };
  }

  /** SBC-3 §5.31-§5.33: BYTCHK 0 checks the range only; 1 compares the Data-Out, 3 one block against each. */
  private verify(cdb: Buffer): Preparation {
    const v = verify(cdb);
    if (!v) return complete(checkCondition(Condition.invalidFieldInCdb));
    if (v.protect !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 7)));
    if (v.byteCheck === 2) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 2)));
    if (this.outOfRange(v.lba, v.blocks)) return complete(checkCondition(Condition.lbaOutOfRange));
    if (v.byteCheck === 0 || v.blocks === 0) return complete(GOOD);
    const offset = Number(v.lba) * this.blockSize;
    const length = v.blocks * this.blockSize;
    const expected = (data: Buffer): Buffer => (v.byteCheck === 1 ? data : Buffer.concat(Array.from({ length: v.blocks }, () => data)));
    return {
      kind: 'data-out',
      length: v.byteCheck === 1 ? length : this.blockSize,
      finish: (data) => (this.disk.read(offset, length).equals(expected(data).subarray(0, length)) ? GOOD : checkCondition(Condition.miscompare)),
    };
  }

  /**
   * SBC-3 §5.2: the Data-Out holds the blocks to compare, then the blocks to write; the write happens only when the
   * medium matches (atomically: nothing runs in between here), else MISCOMPARE with the offset in INFORMATION.
   */
  private compareAndWrite(cdb: Buffer): Preparation {
    const caw = compareAndWrite(cdb);
    if (!caw) return complete(checkCondition(Condition.invalidFieldInCdb));
    if (caw.protect !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 7)));
    if (caw.blocks > this.geometry.maxCompareAndWriteBlocks) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 13)));
    if (this.outOfRange(caw.lba, caw.blocks)) return complete(checkCondition(Condition.lbaOutOfRange));
    if (caw.blocks === 0) return complete(GOOD);
    const offset = Number(caw.lba) * this.blockSize;
    const length = caw.blocks * this.blockSize;
    return {
      kind: 'data-out',
      length: 2 * length,
      finish: (data) => {
        if (data.length < 2 * length) return checkCondition(Condition.invalidFieldInCdb);
        const current = this.disk.read(offset, length);
        if (!current.equals(data.subarray(0, length))) {
          return checkCondition({ ...Condition.miscompare, information: current.findIndex((b, i) => b !== data[i]) });
        }
        this.disk.write(offset, data.subarray(length, 2 * length));
        return GOOD;
      },
    };
  }

  private synchronizeCache(cdb: Buffer): Preparation {
    const range = synchronizeCache(cdb);
    if (!range) return complete(checkCondition(Condition.invalidFieldInCdb));
    if (this.outOfRange(range.lba, range.blocks)) return complete(checkCondition(Condition.lbaOutOfRange));
    return complete(GOOD); // RAM: nothing to flush
  }

  /** SBC-3 §5.41-§5.42: one block of Data-Out (none with NDOB) repeated over the range, or the range unmapped. */
  private writeSame(cdb: Buffer): Preparation {
    const ws = writeSame(cdb);
    if (!ws) return complete(checkCondition(Condition.invalidFieldInCdb));
    if (ws.protect !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 7)));
    // ANCHOR needs UNMAP, and we report ANC_SUP=0 anyway (SBC-3 §5.42).
    if (ws.anchor) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 4)));
    // NUMBER OF LOGICAL BLOCKS 0 (WSNZ=0): to the end of the medium.
    const blocks = ws.blocks === 0 ? this.blocks - Math.min(this.blocks, Number(ws.lba)) : ws.blocks;
    if (this.outOfRange(ws.lba, blocks)) return complete(checkCondition(Condition.lbaOutOfRange));
    const offset = Number(ws.lba) * this.blockSize;
    const length = blocks * this.blockSize;
    const apply = (block: Buffer): ScsiOutcome => {
      // UNMAP=1 deallocates whatever the block holds (as LIO does); LBPRZ: the range then reads as zeros.
      if (ws.unmap) this.disk.zero(offset, length);
      else this.disk.fill(offset, length, block);
      return GOOD;
    };
    if (ws.noDataOut) return complete(apply(Buffer.alloc(this.blockSize)));
    return {
      kind: 'data-out',
      length: this.blockSize,
      finish: (data) => (data.length === this.blockSize ? apply(data) : checkCondition(Condition.invalidFieldInCdb)),
    };
  }

  private unmap(cdb: Buffer): Preparation {
    if (cdb.length < 10) return complete(checkCondition(Condition.invalidFieldInCdb));
    if ((cdb[1]! & 0x01) !== 0) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 1, 0))); // ANCHOR, ANC_SUP=0
    const length = cdb.readUInt16BE(7);
    if (length === 0) return complete(GOOD);
    if (length < UNMAP_HEADER) return complete(checkCondition(Condition.parameterListLengthError));
    return { kind: 'data-out', length, finish: (data) => this.applyUnmap(data) };
  }

  private applyUnmap(data: Buffer): ScsiOutcome {
    if (data.length < UNMAP_HEADER) return checkCondition(Condition.parameterListLengthError);
    const described = Math.min(data.readUInt16BE(2), data.length - UNMAP_HEADER);
    const count = Math.floor(described / UNMAP_DESCRIPTOR);
    if (count > this.geometry.maxUnmapDescriptors) return checkCondition(Condition.invalidFieldInParameterList);
    const ranges: Array<{ lba: bigint; blocks: number }> = [];
    for (let i = 0; i < count; i++) {
      const at = UNMAP_HEADER + i * UNMAP_DESCRIPTOR;
      const lba = data.readBigUInt64BE(at);
      const blocks = data.readUInt32BE(at + 8);
      if (blocks > this.geometry.maxUnmapBlocks) return checkCondition(Condition.invalidFieldInParameterList);
      // SBC-3 §5.29: LBA + NUMBER OF LOGICAL BLOCKS beyond the capacity is an error; 0 blocks at the end is not.
      if (lba + BigInt(blocks) > BigInt(this.blocks)) return checkCondition(Condition.lbaOutOfRange);
      ranges.push({ lba, blocks });
    }
    for (const r of ranges) if (r.blocks > 0) this.disk.zero(Number(r.lba) * this.blockSize, r.blocks * this.blockSize);
    return GOOD;
  }
}

/** SPC-4 §6.33 REPORT LUNS: SELECT REPORT 0 and 2 list every LUN, 1 (well known only) none. */
export function reportLuns(cdb: Buffer, luns: readonly number[]): Preparation {
  const allocation = allocationLength(cdb, 6, 4);
  const select = cdb[2] ?? 0;
  if (allocation === undefined || select > 2) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 2)));
  if (allocation < 16) return complete(checkCondition(inCdb(Condition.invalidFieldInCdb, 6)));
  const listed = select === 1 ? [] : [...luns].sort((a, b) => a - b);
  const data = Buffer.alloc(8 + 8 * listed.length);
  data.writeUInt32BE(8 * listed.length, 0);
  listed.forEach((lun, i) => data.writeBigUInt64BE(encodeLun(lun), 8 + 8 * i));
  return withData(data, allocation);
}

/**
 * A LUN the target does not have (SPC-4 §6.6.2, §6.33): INQUIRY answers "no unit here", REPORT LUNS the list,
 * REQUEST SENSE the reason, everything else CHECK CONDITION with LOGICAL UNIT NOT SUPPORTED.
 */
export function prepareAbsent(cdb: Buffer, luns: readonly number[]): Preparation {
  switch (cdb[0]) {
    case ScsiOp.Inquiry: {
      const allocation = allocationLength(cdb, 3, 2);
      if (allocation === undefined || (cdb[1] ?? 0) & 0x01) return complete(checkCondition(Condition.lunNotSupported));
      return withData(absentUnitInquiry(), allocation);
    }
    case ScsiOp.ReportLuns:
      return reportLuns(cdb, luns);
    case ScsiOp.RequestSense:
      return withData(fixedSense(Condition.lunNotSupported), allocationLength(cdb, 4, 1) ?? 0);
    default:
      return complete(checkCondition(Condition.lunNotSupported));
  }
}
