import { open, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Args, Flags } from '@oclif/core';
import { ArgumentError } from '@iscsi-initiator/core';
import { BaseCommand } from '../../base-command.js';
import { checkRange, readRange } from '../../bench/transfer.js';
import { CREDENTIALS_HELP, directFlags, readCapacity, withLun } from '../../target-options.js';

export interface ReadResult {
  readonly lba: number;
  readonly blocks: number;
  readonly blockLength: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly output: string;
}

export default class LunRead extends BaseCommand {
  static override summary = 'Read raw blocks from a LUN to a file or stdout';
  static override description = `Logs in, reads --blocks blocks from --lba (READ 10/16 commands of up to 1 MiB, a few in flight) and writes the bytes, in order, to -o FILE or to stdout, then logs out. Stdout carries nothing but the bytes, and is refused when it is a terminal. No daemon is involved.
The block size and the end of the LUN come from READ CAPACITY (16); a range past the end exits 7.
${CREDENTIALS_HELP}

--json needs -o FILE and prints {"lba","blocks","blockLength","bytes","seconds","output"}.

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> lun read iscsi://192.168.1.20/iqn.2000-01.com.synology:nas.target-1/1 --lba 0 --blocks 1 | xxd | head',
    '<%= config.bin %> lun read iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --lba 2048 --blocks 2048 -o chunk.bin',
    '<%= config.bin %> lun read iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --blocks 65536 -o disk.img --json',
  ];
  static override args = { url: Args.string({ description: 'iscsi://host[:port]/target-iqn/lun', required: true }) };
  static override flags = {
    ...directFlags,
    lba: Flags.integer({ description: 'first logical block to read', default: 0, min: 0 }),
    blocks: Flags.integer({ description: 'number of logical blocks to read', required: true, min: 1 }),
    output: Flags.string({ char: 'o', description: 'file to write the bytes to (created or truncated); "-" or absent: stdout' }),
  };

  async run(): Promise<ReadResult> {
    const { args, flags } = await this.parse(LunRead);
    const toStdout = flags.output === undefined || flags.output === '-';
    // Checked before logging in: a mistake here should cost nothing.
    if (toStdout && this.jsonEnabled()) throw new ArgumentError('ISCSI_BAD_ARGUMENT', '--json needs -o FILE: stdout cannot carry both the bytes and the JSON');
    if (toStdout && process.stdout.isTTY) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'refusing to write binary data to a terminal: give -o FILE or redirect stdout');
    }
    const started = performance.now();
    const result = await withLun(args.url, flags, async (session, lun) => {
      const capacity = await readCapacity(session, lun);
      const blockLength = capacity.blockLength;
      checkRange(flags.lba, flags.blocks, Number(capacity.blocks), blockLength);
      const out = toStdout ? undefined : await openOutput(flags.output!);
      // A reader that goes away (`| head -c 512`) ends the read quietly, as SIGPIPE ends dd; stdout must not throw.
      const ignore = () => {};
      if (toStdout) process.stdout.on('error', ignore);
      try {
        const bytes = await readRange(session, lun, flags.lba, flags.blocks, blockLength, out ? (data) => writeFile(out, data) : writeStdout);
        return { lba: flags.lba, blocks: bytes / blockLength, blockLength, bytes };
      } finally {
        await out?.close();
        if (toStdout) process.stdout.removeListener('error', ignore);
      }
    });
    const seconds = (performance.now() - started) / 1000;
    const output = toStdout ? '-' : flags.output!;
    if (!toStdout && !this.jsonEnabled()) {
      process.stderr.write(`Read ${result.bytes} bytes (${result.blocks} blocks of ${result.blockLength}) from LBA ${result.lba} to ${output} in ${seconds.toFixed(2)} s\n`);
    }
    return { ...result, seconds: Math.round(seconds * 1000) / 1000, output };
  }
}

async function writeFile(fh: FileHandle, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; ) at += (await fh.write(data, at, data.length - at)).bytesWritten;
}

async function openOutput(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'w');
  } catch (e) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `cannot write -o ${file}: ${(e as Error).message}`);
  }
}

/**
 * Resolves once stdout has taken the chunk (the callback), so its buffer can be reused for the next read; false when
 * the reader has closed the pipe.
 */
function writeStdout(data: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => {
      if (!err) resolve(true);
      else if ((err as NodeJS.ErrnoException).code === 'EPIPE') resolve(false);
      else reject(err);
    });
  });
}
