/**
 * `lun bench`'s engine: N workers each keep one command in flight (so exactly N are in flight), over any SCSI
 * executor (an IscsiSession, or an in-memory LUN in tests). Phases:
 *
 *   prefill  (--verify with reads) every block of the region written once, generation 1, in ≤1 MiB commands
 *   run      the timed workload; only this phase counts in ios/bytes/iops/latency
 *   check    (--verify) the whole region read back and every block with a known expectation checked
 *
 * Errors are counted, never thrown away: a failed command adds to `errors` (the first is kept to report), a failed
 * write leaves its blocks' expected generation "old or new" (see Generations), and a closed session ends the run.
 */
import { performance } from 'node:perf_hooks';
import { randomFillSync } from 'node:crypto';
import { isIscsiError, readCdb, ScsiError, writeCdb, type IscsiError, type ScsiRequest, type ScsiResult } from '@iscsi-initiator/core';
import { Generations } from './generations.js';
import { checkBlock, checkPatternBlockSize, describeMismatch, encodeBlock, type Mismatch } from './pattern.js';
import type { ProgressSample } from './progress.js';
import { IoStats, type LatencySummary } from './stats.js';
import { newIo, readsIn, Workload, type Region, type RwMode } from './workload.js';

/** What the engine needs of a session: IscsiSession fits as is. */
export interface ScsiExecutor {
  /** Resolves on GOOD status; rejects with a typed error otherwise (IscsiSession.command retries UNIT ATTENTION). */
  command(request: ScsiRequest): Promise<ScsiResult>;
  readonly isClosed: boolean;
}

export interface BenchOptions {
  readonly lun: number;
  readonly rw: RwMode;
  readonly bs: number;
  readonly qd: number;
  readonly seconds: number;
  readonly blockLength: number;
  readonly region: Region;
  /** Percentage of randrw I/Os that are reads. */
  readonly rwmixRead: number;
  readonly verify: boolean;
  /** Uniform [0, 1): offsets and the read/write mix. */
  readonly random?: (() => number) | undefined;
  /** Milliseconds, monotonic. */
  readonly now?: (() => number) | undefined;
  /** Stops issuing I/O (Ctrl-C); what completed is still reported. */
  readonly signal?: AbortSignal | undefined;
}

export interface MismatchReport extends Mismatch {
  readonly message: string;
}

export interface VerifySummary {
  /** Blocks read back and checked against their expected content. */
  readonly checked: number;
  readonly mismatches: number;
  readonly firstMismatch: MismatchReport | null;
}

/** The `--json` object; another engineer's benchmark script parses exactly these names. */
export interface BenchResult {
  readonly rw: RwMode;
  readonly bs: number;
  readonly qd: number;
  readonly seconds: number;
  readonly ios: number;
  readonly bytes: number;
  readonly iops: number;
  readonly mibps: number;
  readonly latencyUs: LatencySummary;
  /** Failed commands in every phase. */
  readonly errors: number;
  readonly verify: VerifySummary | null;
}

export interface BenchOutcome {
  readonly result: BenchResult;
  /** The first failed command's error, to report in one line. */
  readonly firstError: IscsiError | undefined;
  /** The session closed under the run (the run stopped early; the check phase was skipped). */
  readonly sessionLost: boolean;
  /** The first error seen once the session was closed: why it was lost. */
  readonly sessionError: IscsiError | undefined;
  /** Stopped by the signal before the planned time. */
  readonly aborted: boolean;
}

/** Largest command of the prefill and check phases. */
const BULK_BYTES = 1024 * 1024;
/** Workers in the prefill and check phases (their buffers are BULK_BYTES each). */
const BULK_WORKERS = 4;

export class Bench {
  private readonly stats = new IoStats();
  private readonly generations: Generations | undefined;
  private readonly now: () => number;
  private errors = 0;
  private firstError: IscsiError | undefined;
  private sessionError: IscsiError | undefined;
  private fatal: unknown;
  private checked = 0;
  private mismatches = 0;
  private firstMismatch: MismatchReport | null = null;
  private phase = 'starting';
  private phaseStart = 0;
  private phaseTotal: number | undefined;
  private phaseIos = 0;
  private phaseBytes = 0;
  private inFlight = 0;

  constructor(
    private readonly executor: ScsiExecutor,
    private readonly options: BenchOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    if (options.verify) {
      checkPatternBlockSize(options.blockLength);
      this.generations = new Generations(options.region.firstLba, options.region.blocks);
    }
  }

  /** For the progress line. */
  sample(): ProgressSample {
    return {
      phase: this.phase,
      elapsed: (this.now() - this.phaseStart) / 1000,
      total: this.phaseTotal,
      ios: this.phaseIos,
      bytes: this.phaseBytes,
      inFlight: this.inFlight,
    };
  }

  async run(): Promise<BenchOutcome> {
    const o = this.options;
    if (this.generations && readsIn(o.rw)) await this.bulk('prefill', true);
    const seconds = this.stopped() ? 0 : await this.timed();
    if (this.generations) await this.bulk('check', false);
    if (this.fatal !== undefined) throw this.fatal;
    const summary = this.stats.summary(seconds);
    return {
      result: {
        rw: o.rw,
        bs: o.bs,
        qd: o.qd,
        ...summary,
        errors: this.errors,
        verify: this.generations ? { checked: this.checked, mismatches: this.mismatches, firstMismatch: this.firstMismatch } : null,
      },
      firstError: this.firstError,
      sessionLost: this.executor.isClosed,
      sessionError: this.sessionError,
      aborted: o.signal?.aborted ?? false,
    };
  }

  private stopped(): boolean {
    return this.executor.isClosed || this.fatal !== undefined || (this.options.signal?.aborted ?? false);
  }

  private startPhase(name: string, total?: number): void {
    this.phase = name;
    this.phaseStart = this.now();
    this.phaseTotal = total;
    this.phaseIos = 0;
    this.phaseBytes = 0;
  }

  /** The timed phase; returns its length in seconds (until the last in-flight command completed). */
  private async timed(): Promise<number> {
    const o = this.options;
    const workload = new Workload(o.rw, o.region, o.rwmixRead, o.random);
    this.startPhase(o.rw, o.seconds);
    const start = this.phaseStart;
    const deadline = start + o.seconds * 1000;
    const workers: Promise<void>[] = [];
    for (let i = 0; i < o.qd; i++) workers.push(this.worker(workload, deadline));
    await Promise.all(workers);
    return (this.now() - start) / 1000;
  }

  private async worker(workload: Workload, deadline: number): Promise<void> {
    const o = this.options;
    const { blockLength, lun } = o;
    const bytes = o.region.blocksPerIo * blockLength;
    // One read and one write buffer per worker for the whole run: nothing is allocated for data per I/O.
    const readBuffer = Buffer.alloc(bytes);
    const writeBuffer = Buffer.alloc(bytes);
    if (!this.generations) randomFillSync(writeBuffer);
    const io = newIo();
    while (!this.stopped() && this.now() < deadline) {
      workload.pick(io);
      if (io.write && this.generations) this.encode(writeBuffer, io.lba, io.blocks);
      const request: ScsiRequest = io.write
        ? { lun, cdb: writeCdb({ lba: io.lba, blocks: io.blocks }), writeData: writeBuffer }
        : { lun, cdb: readCdb({ lba: io.lba, blocks: io.blocks }), readLength: bytes, readBuffer };
      this.inFlight++;
      const t0 = this.now();
      const ok = await this.issue(request, bytes);
      const ms = this.now() - t0;
      this.inFlight--;
      if (io.write) this.generations?.writeDone(io.lba, io.blocks, ok);
      if (ok) {
        this.stats.record(bytes, ms);
        this.phaseIos++;
        this.phaseBytes += bytes;
        if (!io.write && this.generations) this.check(readBuffer, io.lba, io.blocks);
      }
      workload.release(io);
    }
  }

  /** Runs one command; false (and counted) when it failed or a read came back short. */
  private async issue(request: ScsiRequest, bytes: number): Promise<boolean> {
    try {
      const result = await this.executor.command(request);
      if (request.readLength !== undefined && result.data.length < bytes) {
        this.fail(new ScsiError('ISCSI_SCSI_BAD_DATA', `short read: ${result.data.length} of ${bytes} bytes`));
        return false;
      }
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private fail(e: unknown): void {
    if (!isIscsiError(e)) {
      // Not a command failure but a bug: stop everything and let the caller see it.
      this.fatal ??= e;
      return;
    }
    this.errors++;
    this.firstError ??= e;
    if (this.executor.isClosed) this.sessionError ??= e;
  }

  private encode(buf: Buffer, lba: number, blocks: number): void {
    const g = this.generations!;
    const bl = this.options.blockLength;
    for (let i = 0; i < blocks; i++) encodeBlock(buf, i * bl, bl, lba + i, g.nextGeneration(lba + i));
  }

  private readonly expected = new Uint32Array(2);

  private check(buf: Buffer, lba: number, blocks: number): void {
    const g = this.generations!;
    const bl = this.options.blockLength;
    for (let i = 0; i < blocks; i++) {
      g.expectedInto(lba + i, this.expected);
      if (this.expected[0] === 0) continue; // possibly never written: nothing to expect
      this.checked++;
      const m = checkBlock(buf, i * bl, bl, lba + i, this.expected[0]!, this.expected[1]!);
      if (m) {
        this.mismatches++;
        this.firstMismatch ??= { ...m, message: describeMismatch(m) };
      }
    }
  }

  /** Prefill (write generation 1 everywhere) or check (read everything back) in ≤1 MiB sequential commands. */
  private async bulk(phase: 'prefill' | 'check', write: boolean): Promise<void> {
    if (this.stopped()) return;
    const { region, blockLength, lun } = this.options;
    const chunkBlocks = Math.max(1, Math.floor(BULK_BYTES / blockLength));
    const end = region.firstLba + region.blocks;
    let next = region.firstLba;
    this.startPhase(phase);
    const worker = async (): Promise<void> => {
      const buffer = Buffer.alloc(chunkBlocks * blockLength);
      while (!this.stopped() && next < end) {
        const lba = next;
        const blocks = Math.min(chunkBlocks, end - lba);
        next = lba + blocks;
        const bytes = blocks * blockLength;
        const data = buffer.subarray(0, bytes);
        if (write) this.encode(data, lba, blocks);
        this.inFlight++;
        const ok = await this.issue(
          write
            ? { lun, cdb: writeCdb({ lba, blocks }), writeData: data }
            : { lun, cdb: readCdb({ lba, blocks }), readLength: bytes, readBuffer: data },
          bytes,
        );
        this.inFlight--;
        if (write) this.generations!.writeDone(lba, blocks, ok);
        if (!ok) continue;
        this.phaseIos++;
        this.phaseBytes += bytes;
        if (!write) this.check(data, lba, blocks);
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(BULK_WORKERS, this.options.qd); i++) workers.push(worker());
    await Promise.all(workers);
  }
}
