// `lun read` / `lun write` data movement over an in-memory LUN: whole-block commands of at most 1 MiB, a bounded
// number in flight with reused buffers, order preserved, and every refusal a typed error.
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, checkRange, DEPTH, readRange, writeStream } from '../../src/bench/transfer.js';
import { MemoryLun } from './memory-lun.js';

async function* pieces(data: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(cut, data.length);
    if (to > at) yield data.subarray(at, to);
    at = Math.max(at, to);
  }
  if (at < data.length) yield data.subarray(at);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('lun write / lun read transfers', () => {
  it('round trip for any whole-block length and any way the input arrives in pieces', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2600 }), fc.array(fc.nat({ max: 3 << 20 }), { maxLength: 8 }), fc.nat({ max: 100 }), async (blocks, cuts, lba) => {
        const lun = new MemoryLun(8192, 512);
        const data = randomBytes(blocks * 512);
        const written = await writeStream(lun, 1, lba, lun.blocks, 512, pieces(data, cuts));
        expect(written).toBe(data.length);
        expect(lun.disk.subarray(lba * 512, lba * 512 + data.length).equals(data)).toBe(true);
        expect(lun.log.every((c) => c.write && c.blocks * 512 <= CHUNK_BYTES)).toBe(true);
        expect(lun.maxInFlight).toBeLessThanOrEqual(DEPTH);
        if (blocks === 0) return;
        const out: Buffer[] = [];
        const read = await readRange(lun, 1, lba, blocks, 512, async (d) => {
          out.push(Buffer.from(d));
        });
        expect(read).toBe(data.length);
        expect(Buffer.concat(out).equals(data)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps several commands in flight and reuses at most DEPTH buffers (memory does not grow with the size)', async () => {
    const lun = new MemoryLun(16 * 2048, 512);
    const seen = new Set<ArrayBufferLike>();
    await readRange(lun, 1, 0, lun.blocks, 512, async (d) => {
      seen.add(d.buffer);
    });
    expect(lun.commands).toBe(16);
    expect(lun.maxInFlight).toBe(DEPTH);
    expect(seen.size).toBeLessThanOrEqual(DEPTH);
  });

  it('a length that is not a whole number of blocks is refused (ISCSI_BAD_ARGUMENT, exit 7), saying how much was written', async () => {
    const lun = new MemoryLun(8192, 512);
    expect(await codeOf(writeStream(lun, 1, 0, lun.blocks, 512, pieces(Buffer.alloc(1000), [])))).toBe('ISCSI_BAD_ARGUMENT');
    expect(lun.commands).toBe(0);
    const big = writeStream(lun, 1, 0, lun.blocks, 512, pieces(Buffer.alloc(CHUNK_BYTES + 100), [7]));
    await expect(big).rejects.toThrow(/1048676 bytes, not a multiple of the LUN's 512-byte blocks \(its first 1048576 bytes were written\)/);
  });

  it('input running past the end of the LUN is refused before that command is sent', async () => {
    const lun = new MemoryLun(100, 512);
    expect(await codeOf(writeStream(lun, 1, 90, lun.blocks, 512, pieces(Buffer.alloc(11 * 512), [])))).toBe('ISCSI_BAD_ARGUMENT');
    expect(lun.commands).toBe(0);
    expect(() => checkRange(90, 11, 100, 512)).toThrow(/LBA 90 \+ 11 blocks runs past the end of the LUN \(100 blocks of 512 bytes\)/);
    expect(() => checkRange(90, 10, 100, 512)).not.toThrow();
  });

  it('a failed command fails the transfer with its typed error, after every command in flight has ended', async () => {
    const lun = new MemoryLun(8192, 512, (op) => (op.n === 1 ? 'fail-before' : 'ok'));
    expect(await codeOf(writeStream(lun, 1, 0, lun.blocks, 512, pieces(Buffer.alloc(4 * CHUNK_BYTES), [])))).toBe('ISCSI_SCSI_CHECK_CONDITION');
    expect(lun.inFlight).toBe(0);
    const reads = new MemoryLun(8192, 512, (op) => (op.n === 2 ? 'short' : 'ok'));
    expect(await codeOf(readRange(reads, 1, 0, 8192, 512, async () => {}))).toBe('ISCSI_SCSI_BAD_DATA');
    expect(reads.inFlight).toBe(0);
  });

  it('a sink answering false (the reader went away) stops the read quietly', async () => {
    const lun = new MemoryLun(16 * 2048, 512);
    let calls = 0;
    const bytes = await readRange(lun, 1, 0, lun.blocks, 512, async () => ++calls < 2);
    expect(bytes).toBe(CHUNK_BYTES);
    expect(lun.commands).toBeLessThanOrEqual(DEPTH + 1);
    expect(lun.inFlight).toBe(0);
  });
});
