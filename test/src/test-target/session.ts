/**
 * One iSCSI session on the target: its identity (ISID, TSIH, initiator — the I_T nexus, SAM-5 §4.6), negotiated
 * parameters, connections, tasks by ITT, and the command window (RFC 7143 §4.2.2.1): non-immediate commands run in
 * CmdSN order; below ExpCmdSN they are duplicates and beyond MaxCmdSN overruns, both silently ignored.
 */
import type { ScsiCommand } from '@iscsi-initiator/core';
import type { Preparation } from './logical-unit.js';
import type { SessionParams } from './negotiation.js';
import type { TargetEntry } from './target-entry.js';
import type { WriteTransfer } from './write-transfer.js';

/** A SCSI command the target has accepted and not yet answered. */
export interface Task {
  readonly itt: number;
  readonly cmdSN: number;
  /** The LUN number, undefined when the LUN field names no unit of ours. */
  readonly lun: number | undefined;
  readonly command: ScsiCommand;
  /** The connection it is allegiant to: its responses go there. */
  readonly connectionId: number;
  /** Set while Data-Out is being collected, with what the logical unit prepared for it. */
  transfer?: WriteTransfer | undefined;
  prepared?: Preparation | undefined;
  /** 'slow-r2t': this task's R2Ts go out this late (decided at its first R2T). */
  r2tDelayMs?: number | undefined;
  /** Left unanswered on cue ('stall'). */
  stalled: boolean;
  /** Timers (delayed R2Ts) to clear if the task ends early. */
  readonly timers: Set<NodeJS.Timeout>;
}

/** Serial-number "a < b" for 32-bit sequence numbers (RFC 1982). */
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export type Admission = 'run' | 'queued' | 'duplicate' | 'overrun';

export class TargetSession {
  readonly tasks = new Map<number, Task>();
  readonly connectionIds = new Set<number>();
  expCmdSN: number;
  /** Commands waiting for a gap in CmdSN to fill, by CmdSN. */
  private readonly waiting = new Map<number, () => void>();
  /** CmdSNs consumed without their command (ABORT TASK of a command still on its way, §11.5.1 b). */
  private readonly skipped = new Set<number>();

  constructor(
    readonly tsih: number,
    readonly isid: bigint,
    readonly initiatorName: string,
    readonly sessionType: 'Normal' | 'Discovery',
    readonly target: TargetEntry | undefined,
    readonly params: SessionParams,
    firstCmdSN: number,
    /** Commands granted beyond ExpCmdSN. */
    public window: number,
  ) {
    this.expCmdSN = firstCmdSN >>> 0;
  }

  /** The I_T nexus key (SAM-5 §4.6: initiator port name = iSCSI name + ",i,0x" + ISID, RFC 7143 §10.1). */
  get nexus(): string {
    return nexusOf(this.initiatorName, this.isid);
  }

  get maxCmdSN(): number {
    return (this.expCmdSN + this.window - 1) >>> 0;
  }

  /** Whether `cmdSN` lies in [ExpCmdSN, MaxCmdSN]. */
  inWindow(cmdSN: number): boolean {
    return !before(cmdSN, this.expCmdSN) && !before(this.maxCmdSN, cmdSN);
  }

  /**
   * §4.2.2.1: runs `run` now when `cmdSN` is the next one (and then whatever was waiting behind it), keeps it until
   * the gap fills when it is ahead inside the window, and refuses it outside the window.
   */
  admit(cmdSN: number, run: () => void): Admission {
    if (before(cmdSN, this.expCmdSN)) return 'duplicate';
    if (before(this.maxCmdSN, cmdSN)) return 'overrun';
    if (cmdSN !== this.expCmdSN) {
      if (this.waiting.has(cmdSN)) return 'duplicate';
      this.waiting.set(cmdSN, run);
      return 'queued';
    }
    this.expCmdSN = (this.expCmdSN + 1) >>> 0;
    run();
    this.drain();
    return 'run';
  }

  /** §11.5.1 b: treat `cmdSN` as received (its command was aborted before it arrived). */
  skip(cmdSN: number): void {
    if (cmdSN === this.expCmdSN) {
      this.expCmdSN = (this.expCmdSN + 1) >>> 0;
      this.drain();
    } else {
      this.waiting.delete(cmdSN);
      this.skipped.add(cmdSN);
    }
  }

  /** Commands of this session on `lun` (all of them when `lun` is undefined). */
  tasksOn(lun: number | undefined): Task[] {
    return [...this.tasks.values()].filter((t) => lun === undefined || t.lun === lun);
  }

  private drain(): void {
    for (;;) {
      if (this.skipped.delete(this.expCmdSN)) {
        this.expCmdSN = (this.expCmdSN + 1) >>> 0;
        continue;
      }
      const next = this.waiting.get(this.expCmdSN);
      if (!next) return;
      this.waiting.delete(this.expCmdSN);
      this.expCmdSN = (this.expCmdSN + 1) >>> 0;
      next();
    }
  }
}

export function nexusOf(initiatorName: string, isid: bigint): string {
  return `${initiatorName},i,0x${isid.toString(16).padStart(12, '0')}`;
}
