// The daemon's side of the two rings in the control region (driver/include/iscsi_hba_abi.h, "Rings"): it consumes the
// command ring and produces the completion ring. Indices are free-running uint32 counters masked on use; each has one
// writer. Node's Atomics are sequentially consistent, stronger than the header's acquire/release, and also correct.
import { IscsiError } from '../errors.js';
import { HBA_CONSTANTS as C, HBA_STRUCTS } from './abi.js';

const RING = HBA_STRUCTS.cmd_ring.fields;
/** Word index of a ring's producer / consumer index inside the control region (a Uint32Array over it). */
const PRODUCER_WORD = RING.producer[0] / 4;
const CONSUMER_WORD = RING.consumer[0] / 4;

/**
 * What the HBA wrote breaks the ring protocol: a corrupt index (the ring is then abandoned until the next handshake) or
 * a refused descriptor (that entry alone is skipped). The daemon logs it; it is never thrown out of a notice handler.
 */
export class HbaProtocolError extends IscsiError {
  constructor(message: string) {
    super('ISCSI_HBA_PROTOCOL', message, { hint: 'a driver and daemon of mismatched builds, or a driver bug: see the HBA log' });
  }
}

/** Entries in use = producer - consumer (mod 2^32), never above RING_ENTRIES. */
function inUse(producer: number, consumer: number): number {
  return (producer - consumer) >>> 0;
}

/** Checks the control region is laid out as this build expects before any index is touched. */
export function checkControlRegion(control: ArrayBuffer): void {
  if (control.byteLength < C.CONTROL_SIZE) throw new HbaProtocolError(`control region of ${control.byteLength} bytes, ${C.CONTROL_SIZE} expected`);
}

/**
 * The command ring, consumer side. "consumer: LOAD-ACQUIRE the producer index; read the descriptors up to it; then
 * STORE-RELEASE the new consumer index (after which the producer may overwrite those entries)."
 */
export class CommandRingReader {
  private readonly words: Uint32Array;
  private readonly base: number;
  private corrupt = false;

  constructor(control: ArrayBuffer) {
    checkControlRegion(control);
    this.words = new Uint32Array(control, C.CMD_RING_OFFSET, C.RING_SIZE / 4);
    this.base = C.CMD_RING_OFFSET + RING.entries[0];
  }

  get abandoned(): boolean {
    return this.corrupt;
  }

  /**
   * The byte offsets (in the control region) of the descriptors published since the last call, in order, and the index
   * to release once they are read. Throws HbaProtocolError (and abandons the ring) on an impossible producer index.
   */
  pending(): { offsets: number[]; release: () => void } {
    if (this.corrupt) throw new HbaProtocolError('the command ring was abandoned after a corrupt index');
    const producer = Atomics.load(this.words, PRODUCER_WORD);
    const consumer = Atomics.load(this.words, CONSUMER_WORD); // our own index: nobody else writes it
    const count = inUse(producer, consumer);
    if (count > C.RING_ENTRIES) {
      this.corrupt = true;
      throw new HbaProtocolError(`command ring producer ${producer} is ${count} entries ahead of consumer ${consumer} (at most ${C.RING_ENTRIES})`);
    }
    const offsets: number[] = [];
    for (let i = 0; i < count; i++) offsets.push(this.base + (((consumer + i) >>> 0) & C.RING_MASK) * C.DESC_SIZE);
    return { offsets, release: () => Atomics.store(this.words, CONSUMER_WORD, producer) };
  }
}

/**
 * The completion ring, producer side. "producer: write the descriptor at entry (producer & mask); then STORE-RELEASE
 * producer + 1 into the producer index. It reads the consumer index with LOAD-ACQUIRE to know the free space."
 */
export class CompletionRingWriter {
  private readonly words: Uint32Array;
  private readonly base: number;
  private corrupt = false;

  constructor(control: ArrayBuffer) {
    checkControlRegion(control);
    this.words = new Uint32Array(control, C.CPL_RING_OFFSET, C.RING_SIZE / 4);
    this.base = C.CPL_RING_OFFSET + RING.entries[0];
  }

  get abandoned(): boolean {
    return this.corrupt;
  }

  /**
   * Publishes up to `count` descriptors: `write(offset, i)` fills the i-th at its byte offset in the control region,
   * then one store-release of the producer index publishes them all. Returns how many fit (the rest wait for space).
   */
  publish(count: number, write: (offset: number, i: number) => void): number {
    if (this.corrupt) throw new HbaProtocolError('the completion ring was abandoned after a corrupt index');
    const producer = Atomics.load(this.words, PRODUCER_WORD); // ours
    const consumer = Atomics.load(this.words, CONSUMER_WORD);
    const used = inUse(producer, consumer);
    if (used > C.RING_ENTRIES) {
      this.corrupt = true;
      throw new HbaProtocolError(`completion ring consumer ${consumer} is past producer ${producer}`);
    }
    const n = Math.min(count, C.RING_ENTRIES - used);
    for (let i = 0; i < n; i++) write(this.base + (((producer + i) >>> 0) & C.RING_MASK) * C.DESC_SIZE, i);
    if (n > 0) Atomics.store(this.words, PRODUCER_WORD, (producer + n) >>> 0);
    return n;
  }
}
