/**
 * Moving a byte range between a LUN and a file or pipe for `lun read` / `lun write`: commands of at most 1 MiB, a few
 * in flight, each with its own buffer from a fixed pool — memory stays at DEPTH × 1 MiB whatever the size.
 */
import { ArgumentError, readCdb, ScsiError, writeCdb, type ScsiRequest, type ScsiResult } from '@iscsi-initiator/core';

/** Bytes per READ/WRITE command (rounded down to whole blocks, at least one). */
export const CHUNK_BYTES = 1024 * 1024;
/** Commands in flight (each owns one chunk buffer). */
export const DEPTH = 4;

export interface CommandRunner {
  command(request: ScsiRequest): Promise<ScsiResult>;
}

export function chunkBlocks(blockLength: number): number {
  return Math.max(1, Math.floor(CHUNK_BYTES / blockLength));
}

/** Refuses a range that does not fit the LUN. */
export function checkRange(lba: number, blocks: number, lunBlocks: number, blockLength: number): void {
  if (lba + blocks > lunBlocks) {
    throw new ArgumentError(
      'ISCSI_BAD_ARGUMENT',
      `LBA ${lba} + ${blocks} blocks runs past the end of the LUN (${lunBlocks} blocks of ${blockLength} bytes)`,
    );
  }
}

const noop = () => {};

/**
 * Reads `blocks` blocks from `lba` and hands each chunk to `sink` in order (the chunk's buffer is reused once `sink`
 * resolves, so `sink` must be done with it by then). `sink` resolving false stops the read (its reader went away);
 * the commands already issued are still waited for. Returns the bytes handed to `sink`.
 */
export async function readRange(
  runner: CommandRunner,
  lun: number,
  lba: number,
  blocks: number,
  blockLength: number,
  sink: (data: Buffer) => Promise<boolean | void>,
): Promise<number> {
  const per = chunkBlocks(blockLength);
  const end = lba + blocks;
  let next = lba;
  const issue = (buffer: Buffer): Promise<{ buffer: Buffer; data: Buffer }> => {
    const at = next;
    const count = Math.min(per, end - at);
    next += count;
    const length = count * blockLength;
    const p = runner.command({ lun, cdb: readCdb({ lba: at, blocks: count }), readLength: length, readBuffer: buffer }).then((r) => {
      if (r.data.length < length) throw new ScsiError('ISCSI_SCSI_BAD_DATA', `short read at LBA ${at}: ${r.data.length} of ${length} bytes`);
      return { buffer, data: r.data };
    });
    p.catch(noop); // awaited in order below; an early failure must not surface as an unhandled rejection meanwhile
    return p;
  };
  const pending: Array<Promise<{ buffer: Buffer; data: Buffer }>> = [];
  for (let i = 0; i < DEPTH && next < end; i++) pending.push(issue(Buffer.alloc(per * blockLength)));
  let delivered = 0;
  try {
    for (let p = pending.shift(); p; p = pending.shift()) {
      const { buffer, data } = await p;
      if ((await sink(data)) === false) break;
      delivered += data.length;
      if (next < end) pending.push(issue(buffer));
    }
  } finally {
    await Promise.allSettled(pending);
  }
  return delivered;
}

/**
 * Writes a stream of bytes at `lba` in whole-block commands. The input's length must be a whole number of blocks and
 * fit in `lunBlocks` from `lba`; a pipe's length is only known at its end, so a bad one is refused after the chunks
 * before it were written (the error says how much). Returns the bytes written.
 */
export async function writeStream(
  runner: CommandRunner,
  lun: number,
  lba: number,
  lunBlocks: number,
  blockLength: number,
  input: AsyncIterable<Buffer | string>,
): Promise<number> {
  const per = chunkBlocks(blockLength);
  const chunkBytes = per * blockLength;
  const free: Buffer[] = [];
  for (let i = 0; i < DEPTH; i++) free.push(Buffer.alloc(chunkBytes));
  const inFlight: Array<Promise<Buffer>> = [];
  let written = 0; // bytes handed to commands, in order
  let current = free.pop()!;
  let filled = 0;

  const flush = async (length: number): Promise<void> => {
    const at = lba + written / blockLength;
    const blocks = length / blockLength;
    if (at + blocks > lunBlocks) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `the input runs past the end of the LUN (${lunBlocks} blocks of ${blockLength} bytes) after ${written} bytes written`);
    }
    const buffer = current;
    const p = runner.command({ lun, cdb: writeCdb({ lba: at, blocks }), writeData: buffer.subarray(0, length) }).then(() => buffer);
    p.catch(noop);
    inFlight.push(p);
    written += length;
    if (free.length === 0) free.push(await inFlight.shift()!);
    current = free.pop()!;
    filled = 0;
  };

  try {
    for await (const piece of input) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
      for (let at = 0; at < bytes.length; ) {
        const n = bytes.copy(current, filled, at);
        filled += n;
        at += n;
        if (filled === chunkBytes) await flush(filled);
      }
    }
    if (filled % blockLength !== 0) {
      const total = written + filled;
      throw new ArgumentError(
        'ISCSI_BAD_ARGUMENT',
        `the input is ${total} bytes, not a multiple of the LUN's ${blockLength}-byte blocks${written > 0 ? ` (its first ${written} bytes were written)` : ''}`,
      );
    }
    if (filled > 0) await flush(filled);
  } finally {
    // Every command issued is waited for, so no write is still running when the session is logged out.
    await Promise.allSettled(inFlight);
  }
  for (const p of inFlight) await p;
  return written;
}
