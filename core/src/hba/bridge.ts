// The bridge (issue 12 item 2): the HBA's command descriptors become ScsiRequests on the sessions, their results become
// completion descriptors. One HBA target per session, keyed stably per node; data stays in the pool (no copy).
import { IscsiError } from '../errors.js';
import { isReportedLunsChanged } from '../scsi/sense.js';
import { ScsiStatus } from '../scsi/status.js';
import type { ScsiRequest, ScsiResult } from '../session/scsi-task.js';
import { HBA_CONSTANTS as C, HbaCmdOp, HbaCplOp, HbaDirection, HbaServiceResponse, hbaErrorName } from './abi.js';
import { decodeCommand, encodeCompletion, isRefusal, type HbaCompletion, type HbaResetCommand, type HbaScsiCommand, type HbaTaskCompletion } from './descriptors.js';
import type { HbaPlatform, HbaSession, HbaTargetHandle } from './platform.js';
import { CommandRingReader, CompletionRingWriter, HbaProtocolError } from './rings.js';
import { checkHbaTargetKey } from './target-key.js';

/** I/O through one HBA target, for the daemon's session.stats. */
export interface HbaTargetStats {
  /** Tasks completed back to the HBA (any status, failures included). */
  commands: number;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  /** Tasks ended with the failure status (service delivery or target failure). */
  failures: number;
  /** Aborts the HBA asked for. */
  aborts: number;
  rescans: number;
}

export type HbaRescanReason = 'report-luns-changed' | 'async-event';

export interface HbaBridgeOptions {
  /** A REPORT LUNS change (3Fh/0Eh) was seen on the target: the daemon rescans it (the addon/driver decide how). */
  onRescan?: ((targetId: number, key: string, reason: HbaRescanReason) => void) | undefined;
  /** Something the HBA wrote was refused (a bad descriptor, a corrupt ring): logged by the daemon, never thrown. */
  onError?: ((error: IscsiError) => void) | undefined;
}

interface Target {
  readonly targetId: number;
  readonly key: string;
  session: HbaSession;
  unsubscribe: () => void;
  readonly stats: HbaTargetStats;
}

interface Task {
  readonly generation: number;
  readonly targetId: number;
  /** A reset or a detach took the task back: its answer is not published (the driver already ended it). */
  dropped: boolean;
  readonly settled: Promise<void>;
}

/** A task's end without a SCSI status: the HBA's failure status, which the SCSI stack turns into an I/O error. */
const FAILURE = { serviceResponse: HbaServiceResponse.TARGET_FAILURE, scsiStatus: 0 } as const;

export class HbaBridge {
  private readonly reader: CommandRingReader;
  private readonly writer: CompletionRingWriter;
  private readonly targets = new Map<number, Target>();
  private readonly tasks = new Map<number, Task>();
  private readonly outbox: HbaCompletion[] = [];
  private flushScheduled = false;
  private readonly stopNotices: () => void;
  private closed = false;
  /**
   * CREATE_TARGET calls not yet answered here: the driver may publish the new target's first commands (its probe)
   * before this side has read the answer, so the ring waits until it has, rather than fail them as for no target.
   */
  private creating = 0;

  constructor(
    private readonly platform: HbaPlatform,
    private readonly options: HbaBridgeOptions = {},
  ) {
    this.reader = new CommandRingReader(platform.control);
    this.writer = new CompletionRingWriter(platform.control);
    if (platform.pool.byteLength < C.POOL_SIZE) throw new HbaProtocolError(`pool of ${platform.pool.byteLength} bytes, ${C.POOL_SIZE} expected`);
    // One wake-up serves every descriptor published since the last one.
    this.stopNotices = platform.onNotice(() => this.serviceCommands());
  }

  /** Gives a logged-in session its HBA target (the same ID as before for the same key), or a new session to its target. */
  async attachSession(key: string, session: HbaSession): Promise<HbaTargetHandle> {
    checkHbaTargetKey(key);
    let handle: HbaTargetHandle;
    this.creating++;
    try {
      handle = await this.platform.createTarget(key);
    } catch (error) {
      this.creating--;
      this.serviceCommands(); // what waited for this answer
      throw error;
    }
    this.creating--;
    const existing = this.targets.get(handle.targetId);
    if (existing) existing.unsubscribe();
    const target: Target = existing ?? { targetId: handle.targetId, key, session, unsubscribe: () => undefined, stats: newStats() };
    target.session = session;
    target.unsubscribe = session.on((event) => {
      // RFC 7143 §11.9.1 AsyncEvent 0: a SCSI asynchronous event; its sense says what (3Fh/0Eh: the LUN inventory changed).
      if (event.type === 'scsi-event' && isReportedLunsChanged(event.sense)) this.rescan(target, 'async-event');
    });
    this.targets.set(handle.targetId, target);
    // The driver re-issues held tasks when the target is re-created: serve them now rather than at the next notice.
    this.serviceCommands();
    return handle;
  }

  /**
   * Takes the target away: its tasks still with the session are aborted and waited for (so nothing writes their pool
   * space afterwards), then the HBA destroys it. The session itself is the caller's to log out, after this.
   */
  async detachSession(targetId: number): Promise<void> {
    const target = this.targets.get(targetId);
    if (!target) return;
    target.unsubscribe();
    this.targets.delete(targetId);
    await this.dropTasks((t) => t.targetId === targetId, target.session);
    await this.platform.destroyTarget(targetId);
  }

  stats(targetId: number): Readonly<HbaTargetStats> | undefined {
    return this.targets.get(targetId)?.stats;
  }

  get targetIds(): number[] {
    return [...this.targets.keys()];
  }

  /** One target's tasks handed to its session and not yet answered. */
  inFlightOf(targetId: number): number {
    let n = 0;
    for (const t of this.tasks.values()) if (!t.dropped && t.targetId === targetId) n++;
    return n;
  }

  /** Tasks handed to sessions and not yet answered. */
  get inFlight(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (!t.dropped) n++;
    return n;
  }

  /** Stops listening to notices and sessions; tasks in flight are left to the driver (it holds them for a new daemon). */
  close(): void {
    this.closed = true;
    this.stopNotices();
    for (const t of this.targets.values()) t.unsubscribe();
    for (const t of this.tasks.values()) t.dropped = true;
    this.targets.clear();
  }

  /** Reads every descriptor published so far and starts each; called on each notice (public for the daemon's startup). */
  serviceCommands(): void {
    if (this.closed) return;
    if (this.creating > 0) return; // served when the target is known (attachSession calls this again)
    // Completions the ring had no room for go first: the driver has consumed some since (it only notifies after that).
    if (this.outbox.length > 0) this.flush();
    if (this.reader.abandoned) return;
    let batch;
    try {
      batch = this.reader.pending();
    } catch (error) {
      this.report(error as IscsiError);
      return;
    }
    const { control, pool } = this.platform;
    for (const offset of batch.offsets) {
      const command = decodeCommand(control, pool, offset);
      if (isRefusal(command)) {
        this.report(new HbaProtocolError(`command refused (${hbaErrorName(command.error) ?? command.error}): ${command.reason}`));
        // A refused task whose tag is valid still ends, with the failure status, so the SCSI stack is not left waiting.
        if (command.tag !== undefined && !this.isLive(command.tag)) {
          this.complete({ op: HbaCplOp.TASK, tag: command.tag, generation: command.generation ?? 0, ...FAILURE, ...noData() });
        }
        continue;
      }
      if (command.op === HbaCmdOp.SCSI) this.start(command);
      else if (command.op === HbaCmdOp.ABORT) this.abort(command.tag, command.generation, command.targetId);
      else void this.reset(command);
    }
    // Everything is read (the CDBs copied, the data referenced in the pool, not the ring): the entries are free.
    batch.release();
  }

  private isLive(tag: number): boolean {
    const task = this.tasks.get(tag);
    return task !== undefined && !task.dropped;
  }

  private start(command: HbaScsiCommand): void {
    const { tag, generation, targetId } = command;
    const current = this.tasks.get(tag);
    if (current && !current.dropped) {
      // "tag: the task's slot": a tag in use cannot be published again until it is completed.
      this.report(new HbaProtocolError(`tag ${tag} (generation ${generation}) published while generation ${current.generation} is in flight`));
      return;
    }
    const target = this.targets.get(targetId);
    if (!target) {
      // "A daemon never receives a command for a target it has not created itself": refuse, but end the task.
      this.report(new HbaProtocolError(`command for unknown target ${targetId} (tag ${tag})`));
      this.complete({ op: HbaCplOp.TASK, tag, generation, ...FAILURE, ...noData() });
      return;
    }
    const request: ScsiRequest =
      command.direction === HbaDirection.READ
        ? { lun: command.lun, cdb: command.cdb, attribute: command.attribute, readBuffer: command.data, readLength: command.transferLength }
        : command.direction === HbaDirection.WRITE
          ? { lun: command.lun, cdb: command.cdb, attribute: command.attribute, writeData: command.data }
          : { lun: command.lun, cdb: command.cdb, attribute: command.attribute };
    let running: Promise<ScsiResult>;
    try {
      // The session queues it while it recovers; it rejects when replacement_timeout expires or the session ends.
      running = target.session.execute(request, tag);
    } catch (error) {
      running = Promise.reject(error);
    }
    const task: Task = {
      generation,
      targetId,
      dropped: false,
      settled: running.then(
        (result) => this.finish(tag, task, target, command, this.fromResult(command, result)),
        (error: unknown) => this.finish(tag, task, target, command, fromError(command, error)),
      ),
    };
    this.tasks.set(tag, task);
  }

  private finish(tag: number, task: Task, target: Target, command: HbaScsiCommand, completion: HbaTaskCompletion): void {
    if (this.tasks.get(tag) === task) this.tasks.delete(tag);
    if (task.dropped || this.closed) return;
    const s = target.stats;
    s.commands++;
    if (completion.serviceResponse !== HbaServiceResponse.COMPLETE) s.failures++;
    if (command.direction === HbaDirection.READ) {
      s.reads++;
      s.bytesRead += completion.dataLength;
    } else if (command.direction === HbaDirection.WRITE) {
      s.writes++;
      s.bytesWritten += completion.dataLength;
    }
    this.complete(completion);
  }

  private fromResult(command: HbaScsiCommand, result: ScsiResult): HbaTaskCompletion {
    const target = this.targets.get(command.targetId);
    if (target && result.status === ScsiStatus.CheckCondition && isReportedLunsChanged(result.sense)) this.rescan(target, 'report-luns-changed');
    // data_length: "bytes of data the target moved"; the driver refuses more than transfer_length.
    const moved =
      command.direction === HbaDirection.READ
        ? result.data.length
        : command.direction === HbaDirection.WRITE
          ? command.transferLength - (result.underflow ? Math.min(result.residualCount, command.transferLength) : 0)
          : 0;
    return {
      op: HbaCplOp.TASK,
      tag: command.tag,
      generation: command.generation,
      serviceResponse: HbaServiceResponse.COMPLETE,
      scsiStatus: result.status,
      sense: result.senseData,
      overflow: result.overflow,
      underflow: result.underflow,
      // RFC 7143 §11.4.5.1: an underflow's residual is at most the expected length (the driver checks it).
      residual: result.underflow ? Math.min(result.residualCount, command.transferLength) : result.overflow ? result.residualCount >>> 0 : 0,
      dataLength: Math.min(moved, command.transferLength),
    };
  }

  /** ISCSI_HBA_CMD_ABORT: "no completion of its own, the aborted task's own completion answers it". */
  private abort(tag: number, generation: number, targetId: number): void {
    const task = this.tasks.get(tag);
    const target = this.targets.get(targetId);
    if (!task || task.dropped || task.generation !== generation || task.targetId !== targetId || !target) return; // already answered
    target.stats.aborts++;
    target.session.abort(tag).catch((error: unknown) => this.report(asIscsiError(error)));
  }

  /** ISCSI_HBA_CMD_RESET: drop the target's tasks (ABORT TASK each), stop touching their pool space, then RESET_DONE. */
  private async reset(command: HbaResetCommand): Promise<void> {
    const all = command.targetId === C.TARGET_ID_ALL;
    if (!all && !this.targets.has(command.targetId)) this.report(new HbaProtocolError(`reset of unknown target ${command.targetId}`));
    await this.dropTasks((t) => all || t.targetId === command.targetId);
    if (!this.closed) this.complete({ op: HbaCplOp.RESET_DONE, resetSeq: command.resetSeq });
  }

  /** Marks the matching tasks dropped, aborts each in its session, and waits until none can touch the pool again. */
  private async dropTasks(match: (t: Task) => boolean, session?: HbaSession): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const [tag, task] of this.tasks) {
      if (task.dropped || !match(task)) continue;
      task.dropped = true;
      const owner = session ?? this.targets.get(task.targetId)?.session;
      owner?.abort(tag).catch((error: unknown) => this.report(asIscsiError(error)));
      waits.push(task.settled);
    }
    await Promise.all(waits);
  }

  private rescan(target: Target, reason: HbaRescanReason): void {
    target.stats.rescans++;
    this.options.onRescan?.(target.targetId, target.key, reason);
  }

  /** Completions gathered in one turn are published together, then one doorbell. */
  private complete(completion: HbaCompletion): void {
    this.outbox.push(completion);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Publishes what is waiting; whatever the ring has no room for waits for the next flush (each notice tries again). */
  flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.writer.abandoned) return;
    let published: number;
    try {
      published = this.writer.publish(this.outbox.length, (offset, i) => encodeCompletion(this.platform.control, offset, this.outbox[i]!));
    } catch (error) {
      this.report(error as IscsiError);
      return;
    }
    this.outbox.splice(0, published);
    if (published > 0) this.platform.doorbell();
  }

  /** Completions waiting for room in the completion ring. */
  get backlog(): number {
    return this.outbox.length;
  }

  private report(error: IscsiError): void {
    this.options.onError?.(error);
  }
}

function newStats(): HbaTargetStats {
  return { commands: 0, reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, failures: 0, aborts: 0, rescans: 0 };
}

function noData(): Pick<HbaTaskCompletion, 'overflow' | 'underflow' | 'residual' | 'dataLength'> {
  return { overflow: false, underflow: false, residual: 0, dataLength: 0 };
}

function asIscsiError(error: unknown): IscsiError {
  return error instanceof IscsiError ? error : new IscsiError('ISCSI_INTERNAL', String(error), { cause: error });
}

/**
 * A task the session could not finish. Aborted → TASK ABORTED (the header: "status TASK ABORTED if it was aborted");
 * queue full → TASK SET FULL, which stacks retry; anything else — replacement_timeout expired, recovery made no
 * progress, the session ended, a target failure — the failure status, so the SCSI stack returns an I/O error.
 */
function fromError(command: HbaScsiCommand, error: unknown): HbaTaskCompletion {
  const code = error instanceof IscsiError ? error.code : undefined;
  const base = { op: HbaCplOp.TASK, tag: command.tag, generation: command.generation, ...noData() } as const;
  if (code === 'ISCSI_TASK_ABORTED') return { ...base, serviceResponse: HbaServiceResponse.COMPLETE, scsiStatus: ScsiStatus.TaskAborted };
  if (code === 'ISCSI_QUEUE_FULL') return { ...base, serviceResponse: HbaServiceResponse.COMPLETE, scsiStatus: ScsiStatus.TaskSetFull };
  return { ...base, ...FAILURE };
}
