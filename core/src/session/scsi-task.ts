import { ProtocolError, ScsiError } from '../errors.js';
import { Opcode, RESERVED_TAG, TaskAttribute, type DataIn, type DataOut, type R2T, type ScsiCommand, type ScsiResponse } from '../pdu/types.js';
import { encodeLun } from '../scsi/lun.js';
import { senseFromResponseData, type Sense } from '../scsi/sense.js';

/** What a caller asks of the target: a CDB for a LUN, with data in, data out, or neither. */
export interface ScsiRequest {
  readonly lun: number;
  readonly cdb: Buffer;
  /** Expected Data-In length (reads). */
  readonly readLength?: number | undefined;
  /** Where Data-In lands; written in place, so no copy is made after the socket's. Default: a fresh buffer. */
  readonly readBuffer?: Buffer | undefined;
  /** Data-Out (writes): sent from slices of this buffer, never copied. */
  readonly writeData?: Buffer | undefined;
  readonly attribute?: number | undefined;
}

export interface ScsiResult {
  /** SCSI status (SAM): 0 GOOD, 2 CHECK CONDITION, 8 BUSY, … */
  readonly status: number;
  /** The bytes the target sent, a view of the read buffer. */
  readonly data: Buffer;
  readonly sense?: Sense | undefined;
  /** The raw sense bytes (§11.4.7.2, without SenseLength), a view of the response's data, for whoever passes them on. */
  readonly senseData?: Buffer | undefined;
  /** RFC 7143 §11.4.5: residual count with underflow (U) or overflow (O). */
  readonly residualCount: number;
  readonly underflow: boolean;
  readonly overflow: boolean;
}

const EMPTY = Buffer.alloc(0);

/** The negotiated limits a write obeys (RFC 7143 §13.10-§13.14). */
export interface TransferLimits {
  readonly maxXmitDataSegmentLength: number;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly immediateData: boolean;
  readonly initialR2T: boolean;
}

/**
 * One SCSI command's life in the full feature phase, I/O-free: build the command and its unsolicited data, answer
 * R2Ts, place Data-In, and produce the result from the status. The session assigns ITT/CmdSN and sends what it gets.
 */
export class ScsiTask {
  private readonly readBuffer: Buffer;
  private readonly writeData: Buffer;
  private expectedDataSN = 0;
  private expectedR2TSN = 0;
  /** §4.2.2.3: a bidirectional command's Data-In and R2T PDUs share one DataSN/R2TSN sequence. */
  private readonly bidirectional: boolean;
  private received = 0;
  private readonly lunField: bigint;

  constructor(
    readonly itt: number,
    private readonly request: ScsiRequest,
    private readonly limits: TransferLimits,
  ) {
    const readLength = request.readLength ?? request.readBuffer?.length ?? 0;
    this.readBuffer = request.readBuffer ? request.readBuffer.subarray(0, readLength) : Buffer.allocUnsafe(readLength);
    if (this.readBuffer.length < readLength) throw new ScsiError('ISCSI_SCSI_BAD_DATA', `read buffer of ${this.readBuffer.length} bytes for ${readLength} expected`);
    this.writeData = request.writeData ?? EMPTY;
    this.bidirectional = this.readBuffer.length > 0 && this.writeData.length > 0;
    this.lunField = encodeLun(request.lun);
  }

  get writeLength(): number {
    return this.writeData.length;
  }

  get expectedLength(): number {
    return this.writeData.length > 0 ? this.writeData.length : this.readBuffer.length;
  }

  /**
   * The SCSI Command PDU and any unsolicited Data-Out. §13.11/§13.14: immediate data when ImmediateData=Yes;
   * unsolicited Data-Out when InitialR2T=No; together at most FirstBurstLength; each PDU at most the target's
   * MaxRecvDataSegmentLength.
   */
  start(cmdSN: number, expStatSN: number): { command: ScsiCommand; dataOut: DataOut[] } {
    const writeLength = this.writeData.length;
    const unsolicitedLimit = this.limits.initialR2T && !this.limits.immediateData ? 0 : Math.min(writeLength, this.limits.firstBurstLength);
    const immediate = this.limits.immediateData ? Math.min(unsolicitedLimit, this.limits.maxXmitDataSegmentLength) : 0;
    const unsolicitedEnd = this.limits.initialR2T ? immediate : unsolicitedLimit;
    const dataOut = immediate < unsolicitedEnd ? this.dataOutSequence(RESERVED_TAG, immediate, unsolicitedEnd - immediate, expStatSN) : [];
    const command: ScsiCommand = {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: dataOut.length === 0,
      read: this.readBuffer.length > 0,
      write: writeLength > 0,
      attribute: this.request.attribute ?? TaskAttribute.Simple,
      lun: this.lunField,
      itt: this.itt,
      expectedDataTransferLength: this.expectedLength,
      cmdSN,
      expStatSN,
      cdb: this.request.cdb,
      // §11.3.4, §11.2.2.4: with R and W both set, EDTL is the write length and the read length travels in an AHS.
      bidiReadLength: this.bidirectional ? this.readBuffer.length : undefined,
      data: immediate > 0 ? this.writeData.subarray(0, immediate) : EMPTY,
    };
    return { command, dataOut };
  }

  /** §11.8: an R2T asks for [BufferOffset, BufferOffset + DesiredDataTransferLength) with its TTT. */
  onR2T(pdu: R2T, expStatSN: number): DataOut[] {
    const expected = this.bidirectional ? this.expectedDataSN : this.expectedR2TSN;
    if (pdu.r2tSN !== expected) throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `R2TSN ${pdu.r2tSN}, expected ${expected}`);
    if (this.bidirectional) this.expectedDataSN = (expected + 1) >>> 0;
    else this.expectedR2TSN = (expected + 1) >>> 0;
    const end = pdu.bufferOffset + pdu.desiredDataTransferLength;
    if (pdu.desiredDataTransferLength === 0 || end > this.writeData.length) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `R2T for bytes ${pdu.bufferOffset}..${end} of a ${this.writeData.length}-byte write`);
    }
    if (pdu.desiredDataTransferLength > this.limits.maxBurstLength) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `R2T asks ${pdu.desiredDataTransferLength} bytes, over MaxBurstLength ${this.limits.maxBurstLength} (§13.13)`);
    }
    return this.dataOutSequence(pdu.ttt, pdu.bufferOffset, pdu.desiredDataTransferLength, expStatSN);
  }

  /** Where a Data-In payload of `length` bytes at `offset` belongs, for direct placement; undefined if it can't. */
  placement(offset: number, length: number): Buffer | undefined {
    return offset + length <= this.readBuffer.length ? this.readBuffer.subarray(offset, offset + length) : undefined;
  }

  /** §11.7: Data-In in DataSN order, inside the buffer we expect; returns a result when status is phase-collapsed. */
  onDataIn(pdu: DataIn): ScsiResult | undefined {
    if (pdu.dataSN !== this.expectedDataSN) throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `Data-In DataSN ${pdu.dataSN}, expected ${this.expectedDataSN}`);
    this.expectedDataSN = (this.expectedDataSN + 1) >>> 0;
    const end = pdu.bufferOffset + pdu.data.length;
    if (end > this.readBuffer.length) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `Data-In for bytes ${pdu.bufferOffset}..${end} of a ${this.readBuffer.length}-byte read`);
    }
    // Directly placed payload (the framer wrote it into our buffer as it arrived) needs no copy.
    if (pdu.data.buffer !== this.readBuffer.buffer || pdu.data.byteOffset !== this.readBuffer.byteOffset + pdu.bufferOffset) {
      pdu.data.copy(this.readBuffer, pdu.bufferOffset);
    }
    if (end > this.received) this.received = end;
    if (!pdu.statusPresent) return undefined;
    if (!pdu.final) throw new ProtocolError('ISCSI_PDU_BAD_FIELD', 'Data-In with S bit but without F bit (§11.7.4)');
    return {
      status: pdu.status,
      data: this.readBuffer.subarray(0, this.received),
      residualCount: pdu.residualCount,
      underflow: pdu.underflow,
      overflow: pdu.overflow,
    };
  }

  /** §11.4: the SCSI Response ends the task. A non-zero iSCSI response code is a target failure, not a SCSI status. */
  onResponse(pdu: ScsiResponse): ScsiResult {
    if (pdu.response !== 0) {
      throw new ScsiError('ISCSI_SCSI_RESPONSE', `target reported iSCSI response 0x${pdu.response.toString(16)} (${pdu.response === 1 ? 'target failure' : 'error'})`);
    }
    const sense = pdu.data.length > 0 ? senseFromResponseData(pdu.data) : undefined;
    return {
      status: pdu.status,
      data: this.readBuffer.subarray(0, this.received),
      sense,
      senseData: sense === undefined ? undefined : pdu.data.subarray(2, 2 + pdu.data.readUInt16BE(0)),
      residualCount: pdu.residualCount,
      underflow: pdu.underflow,
      overflow: pdu.overflow,
    };
  }

  private dataOutSequence(ttt: number, offset: number, length: number, expStatSN: number): DataOut[] {
    const pdus: DataOut[] = [];
    const segment = this.limits.maxXmitDataSegmentLength;
    let dataSN = 0; // §11.7.5: DataSN restarts at 0 for each R2T sequence and for the unsolicited one
    for (let at = offset, end = offset + length; at < end; at += segment) {
      const size = Math.min(segment, end - at);
      pdus.push({
        opcode: Opcode.DataOut,
        final: at + size === end,
        lun: this.lunField,
        itt: this.itt,
        ttt,
        expStatSN,
        dataSN: dataSN++,
        bufferOffset: at,
        data: this.writeData.subarray(at, at + size),
      });
    }
    return pdus;
  }
}
