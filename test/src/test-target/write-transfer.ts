/**
 * Collecting one write command's Data-Out (RFC 7143 §11.7, §11.8, §13.10-§13.17), I/O-free:
 * immediate data and the unsolicited sequence, then R2Ts for the rest — each at most MaxBurstLength, at most
 * MaxOutstandingR2T at once — and every Data-Out checked against them: TTT, DataSN (from 0 in each sequence),
 * BufferOffset (in order: DataPDUInOrder=Yes), length and F bit. A violation fails the task with the RFC 7143
 * §11.4.7.2 sense, once every open sequence has ended (§11.17.1: the target waits for the F bit).
 */
import { RESERVED_TAG, type DataOut, type ScsiCommand } from '@iscsi-initiator/core';
import { Condition, type SenseCondition } from './sense.js';

export interface BurstLimits {
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly maxOutstandingR2T: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
}

export interface R2TRequest {
  readonly ttt: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly length: number;
}

interface Sequence {
  readonly start: number;
  readonly end: number;
  nextOffset: number;
  nextDataSN: number;
  readonly r2tSN?: number;
}

export interface TransferFailure {
  readonly condition: SenseCondition;
  readonly reason: string;
  readonly kind: 'unsolicited-data' | 'data-out';
}

export class WriteTransfer {
  /** The bytes the command will use: [0, wanted). */
  readonly data: Buffer;
  /** Bytes [0, received) are in (DataPDUInOrder: always a prefix). */
  received = 0;
  /** R2Ts sent so far: the next R2TSN, and ExpDataSN of the final response (§11.4.8). */
  r2tCount = 0;
  failure: TransferFailure | undefined;
  private unsolicited: Sequence | undefined;
  private readonly r2ts = new Map<number, Sequence>();
  private nextR2TOffset = 0;

  /**
   * `wanted` is min(EDTL, the CDB's transfer length): what we ask for; unsolicited data beyond it is accepted and
   * dropped (SAM-5 §5.4.2 underflow).
   */
  constructor(
    private readonly limits: BurstLimits,
    private readonly edtl: number,
    readonly wanted: number,
    private readonly allocateTtt: () => number,
  ) {
    this.data = Buffer.alloc(wanted);
  }

  /** The command's immediate data and F bit (§11.3: F=0 means unsolicited Data-Out follows). */
  start(command: ScsiCommand): void {
    const unsolicitedLimit = Math.min(this.limits.firstBurstLength, this.edtl);
    const immediate = command.data.length;
    if (immediate > 0 && !this.limits.immediateData) {
      this.fail('unsolicited-data', Condition.unexpectedUnsolicitedData, 'immediate data with ImmediateData=No (RFC 7143 §13.11)');
    } else if (immediate > unsolicitedLimit) {
      this.fail('unsolicited-data', Condition.incorrectAmountOfData, `${immediate} bytes of immediate data, over min(FirstBurstLength, EDTL) = ${unsolicitedLimit} (RFC 7143 §13.14)`);
    } else {
      this.store(0, command.data);
    }
    if (!command.final) {
      if (this.limits.initialR2T) {
        this.fail('unsolicited-data', Condition.unexpectedUnsolicitedData, 'F=0 (unsolicited Data-Out to follow) with InitialR2T=Yes (RFC 7143 §13.10)');
      }
      this.unsolicited = { start: 0, end: unsolicitedLimit, nextOffset: immediate, nextDataSN: 0 };
    }
    this.nextR2TOffset = Math.min(this.received, this.wanted);
  }

  /** True when no unsolicited sequence or R2T burst is open: a response may go out (§11.17.1). */
  get quiescent(): boolean {
    return this.unsolicited === undefined && this.r2ts.size === 0;
  }

  /** Everything we asked for is in and nothing is open. */
  get complete(): boolean {
    return this.quiescent && this.received >= this.wanted;
  }

  /** The R2Ts to send now: none while unsolicited data is coming or after a failure. */
  nextR2Ts(): R2TRequest[] {
    const out: R2TRequest[] = [];
    if (this.unsolicited || this.failure) return out;
    while (this.r2ts.size < this.limits.maxOutstandingR2T && this.nextR2TOffset < this.wanted) {
      const length = Math.min(this.limits.maxBurstLength, this.wanted - this.nextR2TOffset);
      const ttt = this.allocateTtt();
      const r2tSN = this.r2tCount++;
      this.r2ts.set(ttt, { start: this.nextR2TOffset, end: this.nextR2TOffset + length, nextOffset: this.nextR2TOffset, nextDataSN: 0, r2tSN });
      out.push({ ttt, r2tSN, bufferOffset: this.nextR2TOffset, length });
      this.nextR2TOffset += length;
    }
    return out;
  }

  /** One Data-Out. A violation fails the transfer (see `failure`); the sequence it belongs to still ends on F. */
  onDataOut(pdu: DataOut): void {
    const unsolicited = pdu.ttt === RESERVED_TAG;
    const sequence = unsolicited ? this.unsolicited : this.r2ts.get(pdu.ttt);
    if (!sequence) {
      if (unsolicited) this.fail('unsolicited-data', Condition.unexpectedUnsolicitedData, 'unsolicited Data-Out outside an unsolicited sequence (RFC 7143 §13.10)');
      else this.fail('data-out', Condition.invalidTransferTag, `Data-Out with TTT 0x${pdu.ttt.toString(16)}, which no open R2T has (RFC 7143 §11.7)`);
      return;
    }
    const end = pdu.bufferOffset + pdu.data.length;
    if (pdu.dataSN !== sequence.nextDataSN) {
      this.fail('data-out', Condition.dataPhaseError, `Data-Out DataSN ${pdu.dataSN}, expected ${sequence.nextDataSN} (RFC 7143 §11.7)`);
    } else if (pdu.bufferOffset !== sequence.nextOffset) {
      this.fail('data-out', Condition.dataOffsetError, `Data-Out BufferOffset ${pdu.bufferOffset}, expected ${sequence.nextOffset} (RFC 7143 §13.18 DataPDUInOrder)`);
    } else if (end > sequence.end) {
      this.fail(unsolicited ? 'unsolicited-data' : 'data-out', Condition.incorrectAmountOfData, `Data-Out up to ${end}, beyond the ${unsolicited ? 'unsolicited' : 'R2T'} sequence end ${sequence.end} (RFC 7143 §11.8, §13.14)`);
    } else if (!unsolicited && pdu.final !== (end === sequence.end)) {
      this.fail('data-out', Condition.incorrectAmountOfData, `Data-Out F=${pdu.final ? 1 : 0} at ${end} of an R2T sequence ending at ${sequence.end} (RFC 7143 §11.7)`);
    } else {
      sequence.nextDataSN++;
      sequence.nextOffset = end;
      if (!this.failure) this.store(pdu.bufferOffset, pdu.data);
    }
    if (pdu.final) {
      if (unsolicited) {
        this.unsolicited = undefined;
        this.nextR2TOffset = Math.min(this.received, this.wanted);
      } else {
        this.r2ts.delete(pdu.ttt);
      }
    }
  }

  /** Fails the transfer from outside (a violation found by the connection, or an abort). */
  fail(kind: TransferFailure['kind'], condition: SenseCondition, reason: string): void {
    this.failure ??= { kind, condition, reason };
  }

  private store(offset: number, data: Buffer): void {
    const usable = Math.min(data.length, this.wanted - offset);
    if (usable > 0) data.copy(this.data, offset, 0, usable);
    this.received = Math.max(this.received, Math.min(offset + data.length, this.wanted));
  }
}
