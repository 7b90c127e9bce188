import { Args, Flags } from '@oclif/core';
import { ArgumentError, MAX_QUEUE_DEPTH } from '@iscsi-initiator/core';
import { BaseCommand } from '../../base-command.js';
import { Bench, type BenchResult } from '../../bench/engine.js';
import { ProgressLine } from '../../bench/progress.js';
import { verdict } from '../../bench/verdict.js';
import { formatSize, parseSize } from '../../bench/size.js';
import { planRegion, RW_MODES, type RwMode } from '../../bench/workload.js';
import { CREDENTIALS_HELP, directFlags, readCapacity, withLun } from '../../target-options.js';

/** How the session rode through connection loss during the run (its counters span every connection). */
interface Recovery {
  readonly reconnects: number;
  readonly retriedCommands: number;
  readonly connectionFailures: number;
  readonly recoveryMs: number;
}

export default class LunBench extends BaseCommand {
  static override summary = 'Measure a LUN: IOPS, throughput and latency, with optional data verification';
  static override description = `Logs in and keeps exactly --qd commands in flight for --time seconds: sequential I/O (read, write) walks the region and wraps; random I/O (randread, randwrite, randrw) picks --bs-aligned offsets uniformly in [--offset, --offset + --size) (default the whole LUN). In-flight I/Os never overlap. Prints IOPS, MiB/s and latency (p50, p99, max, mean in µs); on a terminal a live line on stderr shows progress. No daemon is involved.

SIZE is bytes or a binary unit: 512, 4k, 128k, 1m, 4MiB, 1g. --bs must be a multiple of the LUN's block size.

--verify writes self-checking blocks (magic, LBA, generation, CRC32C, payload derived from LBA and generation), remembers the generation expected at each LBA and checks every block read back, then re-reads the whole region at the end. Read modes first write the region once. The region defaults to at most 64 MiB with --verify. A write that failed may or may not have reached the disk, so until the LBA is written again either its old or its new generation is accepted. Any mismatch exits 1 with the first one described. The numbers count only the timed phase. Ctrl-C stops early and prints what completed.

Write modes, and --verify in every mode, OVERWRITE THE LUN'S DATA in the region.
${CREDENTIALS_HELP}

--json prints only: {"rw","bs","qd","seconds","ios","bytes","iops","mibps","latencyUs":{"p50","p99","max","mean"},"errors","verify":null|{"checked","mismatches","firstMismatch":null|{"lba","kind","expected","found","offset","message"}},"recovery":{"reconnects","retriedCommands","connectionFailures","recoveryMs"}}
A run during which the connection was lost says so: reconnects and the time spent without a connection (recoveryMs) are printed next to errors, since commands re-issued after a reconnect succeed but their latency includes the outage.
A run with failed commands or mismatches still prints its result, then exits 1 (4 if the connection was lost).

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> lun bench iscsi://192.168.1.20/iqn.2000-01.com.synology:nas.target-1/1 --rw randread --bs 4k --qd 32 --time 10',
    '<%= config.bin %> lun bench iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --rw write --bs 1m --qd 4 --time 5 --json',
    '<%= config.bin %> lun bench iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --rw randrw --rwmix-read 70 --bs 4k --qd 8 --time 60 --verify',
    '<%= config.bin %> lun bench iscsi://127.0.0.1/iqn.2026-11.test:disk/1 --rw randwrite --bs 64k --offset 1g --size 256m --time 30',
  ];
  static override args = { url: Args.string({ description: 'iscsi://host[:port]/target-iqn/lun', required: true }) };
  static override flags = {
    ...directFlags,
    rw: Flags.string({ description: 'I/O pattern', options: [...RW_MODES], default: 'randread' }),
    // Sizes and time are parsed in run(): an error thrown by an oclif flag parser loses its message behind "Parsing --x".
    bs: Flags.string({ description: 'bytes per I/O (SIZE), a multiple of the LUN block size', default: '4k' }),
    qd: Flags.integer({ description: 'commands kept in flight', default: 8, min: 1, max: MAX_QUEUE_DEPTH }),
    time: Flags.string({ description: 'seconds to run (decimals allowed)', default: '10' }),
    offset: Flags.string({ description: 'start of the region (SIZE), a multiple of the LUN block size', default: '0' }),
    size: Flags.string({ description: 'length of the region (SIZE); default the rest of the LUN (at most 64 MiB with --verify)' }),
    'rwmix-read': Flags.integer({ description: 'percentage of reads in randrw', default: 50, min: 0, max: 100 }),
    verify: Flags.boolean({ description: 'write self-checking blocks and check every block read back', default: false }),
    coalesce: Flags.boolean({ description: 'send coalescing: at deep queues new commands wait for a few more and leave in one write (less CPU, may cost IOPS)', default: false }),
  };

  async run(): Promise<BenchResult & { recovery: Recovery }> {
    const { args, flags } = await this.parse(LunBench);
    const rw = flags.rw as RwMode;
    const bs = parseSize(flags.bs, '--bs');
    const offset = parseSize(flags.offset, '--offset');
    const size = flags.size === undefined ? undefined : parseSize(flags.size, '--size');
    const seconds = Number(flags.time);
    if (!/^\s*\d*\.?\d+\s*$/.test(flags.time) || !(seconds > 0 && seconds <= 86_400)) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `--time ${flags.time}: a number of seconds, more than 0 and at most 86400`);
    }
    const json = this.jsonEnabled();
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      const outcome = await withLun(
        args.url,
        flags,
        async (session, lun) => {
          const capacity = await readCapacity(session, lun);
          const region = planRegion({
            rw,
            bs,
            qd: flags.qd,
            blockLength: capacity.blockLength,
            lunBlocks: Number(capacity.blocks > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : capacity.blocks),
            offset,
            size,
            verify: flags.verify,
          });
          const bench = new Bench(session, {
            lun,
            rw,
            bs,
            qd: flags.qd,
            seconds,
            blockLength: capacity.blockLength,
            region,
            rwmixRead: flags['rwmix-read'],
            verify: flags.verify,
            signal: abort.signal,
          });
          const progress = !json && process.stderr.isTTY ? new ProgressLine(process.stderr, () => bench.sample()) : undefined;
          progress?.start();
          try {
            const outcome = await bench.run();
            // How the session rode through connection loss: the recovery tests and the soak read these.
            const { reconnects, retriedCommands, connectionFailures, recoveryMs } = session.counters;
            return { ...outcome, result: { ...outcome.result, recovery: { reconnects, retriedCommands, connectionFailures, recoveryMs } } };
          } finally {
            progress?.stop();
          }
        },
        { queueDepth: flags.qd, coalesce: flags.coalesce },
      );
      const r = outcome.result;
      if (!json) this.printSummary(r);
      const bad = verdict(outcome);
      if (bad) {
        process.exitCode = bad.status;
        process.stderr.write(`iscsiadm: ${bad.message}\n`);
      }
      return r;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }

  private printSummary(r: BenchResult & { recovery: Recovery }): void {
    const mib = (r.bytes / 2 ** 20).toFixed(1);
    this.log(`${r.rw} bs=${formatSize(r.bs)} qd=${r.qd}: ${r.ios} I/Os, ${mib} MiB in ${r.seconds.toFixed(2)} s`);
    this.log(`  IOPS ${r.iops.toFixed(0)}   ${r.mibps.toFixed(2)} MiB/s`);
    this.log(`  latency µs: p50 ${r.latencyUs.p50}  p99 ${r.latencyUs.p99}  max ${r.latencyUs.max}  mean ${r.latencyUs.mean}`);
    const rec = r.recovery;
    // Re-issued commands succeed after a reconnect, so "errors 0" alone would hide an outage that set the tail latency.
    const outage = rec.connectionFailures > 0 ? ` (${(rec.recoveryMs / 1000).toFixed(2)} s without a connection, ${rec.retriedCommands} commands re-issued)` : '';
    this.log(`  errors ${r.errors}   reconnects ${rec.reconnects}${outage}`);
    if (r.verify) this.log(`  verify: ${r.verify.checked} blocks checked, ${r.verify.mismatches} mismatches`);
  }
}
