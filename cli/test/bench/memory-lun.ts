// An in-memory LUN behind the engine's executor interface, for unit tests of the bench engine and transfers: it
// decodes READ/WRITE(10)/(16) CDBs (SBC-3 §5.11, §5.13, §5.32, §5.34), completes each command after a few event-loop
// turns so commands really overlap, and checks the engine's own promise that in-flight I/Os never overlap.
import { OpCode, ScsiError, TransportError, type ScsiRequest, type ScsiResult } from '@iscsi-initiator/core';
import type { ScsiExecutor } from '../../src/bench/engine.js';

export interface Fault {
  /** Called per command before it takes effect; return what to do with it. */
  (op: { write: boolean; lba: number; blocks: number; n: number }): 'ok' | 'fail-before' | 'fail-after' | 'drop' | 'misdirect' | 'short' | 'close' | 'throw';
}

export class MemoryLun implements ScsiExecutor {
  readonly disk: Buffer;
  /** Milliseconds: advanced by `tick` per completed command, so runs are deterministic in length. */
  clock = 0;
  inFlight = 0;
  maxInFlight = 0;
  commands = 0;
  reads = 0;
  writes = 0;
  overlaps = 0;
  readonly log: Array<{ write: boolean; lba: number; blocks: number }> = [];
  private closed = false;
  private readonly busy = new Map<number, number>();

  constructor(
    readonly blocks: number,
    readonly blockLength = 512,
    private readonly fault: Fault = () => 'ok',
    private readonly tick = 0.01,
  ) {
    this.disk = Buffer.alloc(blocks * blockLength);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  now = (): number => this.clock;

  close(): void {
    this.closed = true;
  }

  async command(request: ScsiRequest): Promise<ScsiResult> {
    if (this.closed) throw new TransportError('ISCSI_SESSION_CLOSED', 'session is closed');
    const { write, lba, blocks } = decode(request.cdb);
    const n = this.commands++;
    this.log.push({ write, lba, blocks });
    for (let b = lba; b < lba + blocks; b++) {
      if (this.busy.has(b)) this.overlaps++;
      this.busy.set(b, n);
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // A few turns of the event loop, varying per command, so completions interleave.
      for (let i = n % 3; i >= 0; i--) await new Promise((r) => setImmediate(r));
      if (this.closed) throw new TransportError('ISCSI_CONNECTION_CLOSED', 'connection closed');
      if (lba + blocks > this.blocks) throw new ScsiError('ISCSI_SCSI_CHECK_CONDITION', 'LBA out of range', { status: 2, senseKey: 5 });
      const action = this.fault({ write, lba, blocks, n });
      const length = blocks * this.blockLength;
      const at = lba * this.blockLength;
      if (action === 'throw') throw new Error('not a typed error');
      if (action === 'close') {
        this.closed = true;
        throw new TransportError('ISCSI_CONNECTION_CLOSED', 'connection closed');
      }
      if (action === 'fail-before') throw new ScsiError('ISCSI_SCSI_CHECK_CONDITION', 'MEDIUM ERROR', { status: 2, senseKey: 3 });
      if (write) {
        this.writes++;
        const data = request.writeData!;
        if (data.length !== length) throw new Error(`write of ${data.length} bytes for ${blocks} blocks`);
        if (action === 'misdirect') data.copy(this.disk, at + this.blockLength);
        else if (action !== 'drop') data.copy(this.disk, at);
        if (action === 'fail-after') throw new ScsiError('ISCSI_SCSI_CHECK_CONDITION', 'ABORTED COMMAND', { status: 2, senseKey: 0xb });
        return { status: 0, data: Buffer.alloc(0), residualCount: 0, underflow: false, overflow: false };
      }
      this.reads++;
      if (request.readLength !== length) throw new Error(`read length ${request.readLength} for ${blocks} blocks`);
      const out = request.readBuffer ?? Buffer.alloc(length);
      this.disk.copy(out, 0, at, at + length);
      // A short read: the target moved less than asked and says so in the residual (RFC 7143 §11.4.5.2).
      const moved = action === 'short' ? length - this.blockLength : length;
      return { status: 0, data: out.subarray(0, moved), residualCount: length - moved, underflow: moved < length, overflow: false };
    } finally {
      this.inFlight--;
      this.clock += this.tick;
      for (let b = lba; b < lba + blocks; b++) if (this.busy.get(b) === n) this.busy.delete(b);
    }
  }
}

export function decode(cdb: Buffer): { write: boolean; lba: number; blocks: number } {
  switch (cdb[0]) {
    case OpCode.Read10:
    case OpCode.Write10:
      return { write: cdb[0] === OpCode.Write10, lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
    case OpCode.Read16:
    case OpCode.Write16:
      return { write: cdb[0] === OpCode.Write16, lba: Number(cdb.readBigUInt64BE(2)), blocks: cdb.readUInt32BE(10) };
    default:
      throw new Error(`unexpected CDB opcode 0x${cdb[0]?.toString(16)}`);
  }
}
