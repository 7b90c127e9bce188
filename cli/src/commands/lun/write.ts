import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Args, Flags } from '@oclif/core';
import { ArgumentError } from '@iscsi-initiator/core';
import { BaseCommand } from '../../base-command.js';
import { CHUNK_BYTES, checkRange, writeStream } from '../../bench/transfer.js';
import { CREDENTIALS_HELP, directFlags, readCapacity, withLun } from '../../target-options.js';

export interface WriteResult {
  readonly lba: number;
  readonly blocks: number;
  readonly blockLength: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly input: string;
}

export default class LunWrite extends BaseCommand {
  static override summary = 'Write raw bytes from a file or stdin to a LUN';
  static override description = `Logs in and writes the input at --lba in WRITE 10/16 commands of up to 1 MiB (a few in flight; memory stays at a few MiB whatever the input's size), then logs out and prints a one-line summary on stderr. No daemon is involved.
The input is -i FILE, or stdin when -i is absent or "-". Its length must be a whole number of the LUN's blocks (READ CAPACITY 16) and fit before the end of the LUN, else exit 7. The length of -i FILE is checked before anything is written; that of a pipe only at its end, after the whole chunks before it were written.
THIS OVERWRITES THE LUN'S DATA.
${CREDENTIALS_HELP}

--json prints {"lba","blocks","blockLength","bytes","seconds","input"} on stdout instead of the summary.

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> lun write iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --lba 0 -i disk.img',
    'head -c 1M /dev/urandom | <%= config.bin %> lun write iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --lba 2048',
    '<%= config.bin %> lun write iscsi://192.168.1.20/iqn.2000-01.com.synology:nas.target-1/1 --lba 8 -i block.bin --json',
  ];
  static override args = { url: Args.string({ description: 'iscsi://host[:port]/target-iqn/lun', required: true }) };
  static override flags = {
    ...directFlags,
    lba: Flags.integer({ description: 'first logical block to write', default: 0, min: 0 }),
    input: Flags.string({ char: 'i', description: 'file to read the bytes from; "-" or absent: stdin' }),
  };

  async run(): Promise<WriteResult> {
    const { args, flags } = await this.parse(LunWrite);
    const fromStdin = flags.input === undefined || flags.input === '-';
    if (fromStdin && process.stdin.isTTY) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'no input: give -i FILE or pipe the data to stdin');
    // A regular file has a length to check before anything is written; stdin's is known only at its end.
    const knownLength = fromStdin ? undefined : await inputLength(flags.input!);
    const started = performance.now();
    const result = await withLun(args.url, flags, async (session, lun) => {
      const capacity = await readCapacity(session, lun);
      const blockLength = capacity.blockLength;
      const lunBlocks = Number(capacity.blocks);
      if (flags.lba >= lunBlocks) checkRange(flags.lba, 1, lunBlocks, blockLength);
      if (knownLength !== undefined) {
        if (knownLength % blockLength !== 0) {
          throw new ArgumentError('ISCSI_BAD_ARGUMENT', `the input is ${knownLength} bytes, not a multiple of the LUN's ${blockLength}-byte blocks`);
        }
        checkRange(flags.lba, knownLength / blockLength, lunBlocks, blockLength);
      }
      const input: Readable = fromStdin ? process.stdin : createReadStream(flags.input!, { highWaterMark: CHUNK_BYTES });
      try {
        const bytes = await writeStream(session, lun, flags.lba, lunBlocks, blockLength, input);
        return { lba: flags.lba, blocks: bytes / blockLength, blockLength, bytes };
      } finally {
        if (!fromStdin) input.destroy();
      }
    });
    const seconds = (performance.now() - started) / 1000;
    const input = fromStdin ? '-' : flags.input!;
    if (!this.jsonEnabled()) {
      const rate = seconds > 0 ? ` (${(result.bytes / 2 ** 20 / seconds).toFixed(1)} MiB/s)` : '';
      process.stderr.write(`Wrote ${result.bytes} bytes (${result.blocks} blocks of ${result.blockLength}) from ${input === '-' ? 'stdin' : input} at LBA ${result.lba} in ${seconds.toFixed(2)} s${rate}\n`);
    }
    return { ...result, seconds: Math.round(seconds * 1000) / 1000, input };
  }
}

/** The input's length when it is a regular file; undefined for a FIFO or device, which is read to its end. */
async function inputLength(file: string): Promise<number | undefined> {
  let s;
  try {
    s = await stat(file);
  } catch (e) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `cannot read -i ${file}: ${(e as Error).message}`);
  }
  if (s.isDirectory()) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `-i ${file} is a directory`);
  return s.isFile() ? s.size : undefined;
}
