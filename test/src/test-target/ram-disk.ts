/**
 * A sparse RAM store for one logical unit: fixed-size chunks allocated on first write, so a large LUN costs only
 * what was written. Unwritten bytes read as zeros (what UNMAP leaves behind: LBPRZ, SBC-3 §4.7.4.5).
 */
import { ArgumentError } from '@iscsi-initiator/core';

const DEFAULT_CHUNK_BYTES = 1 << 20;

export class RamDisk {
  private readonly chunks: Array<Buffer | undefined>;

  constructor(
    readonly sizeBytes: number,
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `RAM disk size ${sizeBytes} is not a positive integer`);
    this.chunks = new Array<Buffer | undefined>(Math.ceil(sizeBytes / chunkBytes));
  }

  /** Bytes of RAM in use. */
  get allocatedBytes(): number {
    return this.chunks.reduce((sum, c) => sum + (c?.length ?? 0), 0);
  }

  /** A fresh copy of [offset, offset + length): later writes never change what a read returned. */
  read(offset: number, length: number): Buffer {
    this.check(offset, length);
    const out = Buffer.alloc(length);
    this.forEach(offset, length, (chunk, at, _index, size, outAt) => {
      if (chunk) chunk.copy(out, outAt, at, at + size);
    });
    return out;
  }

  write(offset: number, data: Buffer): void {
    this.check(offset, data.length);
    this.forEach(offset, data.length, (_chunk, at, index, size, dataAt) => {
      const chunk = (this.chunks[index] ??= Buffer.alloc(Math.min(this.chunkBytes, this.sizeBytes - index * this.chunkBytes)));
      data.copy(chunk, at, dataAt, dataAt + size);
    });
  }

  /** Zeroes a range, giving whole chunks back (deallocation). */
  zero(offset: number, length: number): void {
    this.check(offset, length);
    this.forEach(offset, length, (chunk, at, index, size) => {
      if (!chunk) return;
      if (at === 0 && size === chunk.length) this.chunks[index] = undefined;
      else chunk.fill(0, at, at + size);
    });
  }

  /** Fills [offset, offset + length) with copies of `pattern` (length a divisor of the range's). */
  fill(offset: number, length: number, pattern: Buffer): void {
    this.check(offset, length);
    if (pattern.every((b) => b === 0)) {
      this.zero(offset, length);
      return;
    }
    // One pattern-filled block of up to a chunk, written repeatedly: no per-block call for large ranges.
    const unit = Math.max(pattern.length, Math.floor(this.chunkBytes / pattern.length) * pattern.length);
    const block = Buffer.alloc(Math.min(unit, length));
    for (let at = 0; at < block.length; at += pattern.length) pattern.copy(block, at);
    for (let done = 0; done < length; done += block.length) {
      const size = Math.min(block.length, length - done);
      this.write(offset + done, block.subarray(0, size));
    }
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `range ${offset}+${length} is outside the ${this.sizeBytes}-byte RAM disk`);
    }
  }

  /** Calls `fn(chunk, offsetInChunk, chunkIndex, size, offsetInRange)` for each chunk the range touches. */
  private forEach(offset: number, length: number, fn: (chunk: Buffer | undefined, at: number, index: number, size: number, rangeAt: number) => void): void {
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / this.chunkBytes);
      const at = position - index * this.chunkBytes;
      const size = Math.min(this.chunkBytes - at, length - done);
      fn(this.chunks[index], at, index, size, done);
      done += size;
    }
  }
}
