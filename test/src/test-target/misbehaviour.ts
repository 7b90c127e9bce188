/**
 * Misbehaviour on cue: what a test arms with `TestTarget.misbehave()` and how each arming is used up. A misbehaviour
 * is one-shot unless `persistent`; `target` limits it to one target name.
 *
 * Two families:
 * - triggered by traffic: the next matching event takes it ('garbage'/'drop' with on: 'command', 'wrong-datasn',
 *   'oversized-segment', 'reject', 'slow-r2t', 'stall', 'busy', 'redirect');
 * - applied at once to every connection in the full feature phase (or, when there is none yet, to the next one to
 *   get there): 'garbage'/'drop' (on: 'now', the default), 'nop-ping', 'async-logout', 'async-drop',
 *   'unit-attention'. Persistent ones are applied to every later connection too. 'auth-change' changes the
 *   configuration at once.
 */
import type { Portal } from '@iscsi-initiator/core';

interface Common {
  /** Stays armed after it fires (each later event or connection gets it too) until cancelled. */
  readonly persistent?: boolean | undefined;
  /** Only for this target name. */
  readonly target?: string | undefined;
}

export type Misbehaviour = Common &
  (
    | {
        /** Random bytes (the first an opcode no one defines, so they never parse as a PDU): `bytes` long. */
        readonly kind: 'garbage';
        readonly bytes?: number | undefined;
        readonly on?: 'now' | 'command' | undefined;
      }
    /** The next read's first Data-In carries DataSN 1 instead of 0 (§11.7: DataSN starts at 0). */
    | { readonly kind: 'wrong-datasn' }
    /** The next read's first Data-In is `extra` bytes longer than the initiator's MaxRecvDataSegmentLength (§13.12). */
    | { readonly kind: 'oversized-segment'; readonly extra?: number | undefined }
    /** The next PDU with this iSCSI opcode (default SCSI Command) is answered by a Reject (§11.17) with `reason`. */
    | { readonly kind: 'reject'; readonly reason?: number | undefined; readonly opcode?: number | undefined }
    /** The R2Ts of the next write needing them are each sent `delayMs` late. */
    | { readonly kind: 'slow-r2t'; readonly delayMs: number }
    /**
     * NOP-In pings (§11.19: TTT set, the initiator must answer) every `intervalMs`; the connection is dropped when
     * `missLimit` (default 3) pings in a row go unanswered.
     */
    | { readonly kind: 'nop-ping'; readonly intervalMs: number; readonly missLimit?: number | undefined; readonly data?: Buffer | undefined }
    /** Async Message, AsyncEvent 1: logout requested within Parameter3 `seconds` (§11.9.1). Default 2. */
    | { readonly kind: 'async-logout'; readonly seconds?: number | undefined }
    /**
     * Async Message, AsyncEvent 2: this connection will be dropped (Parameter1 CID, Parameter2 Time2Wait, Parameter3
     * Time2Retain), then the target closes it after `dropAfterMs` (default 0) unless `drop` is false.
     */
    | {
        readonly kind: 'async-drop';
        readonly time2Wait?: number | undefined;
        readonly time2Retain?: number | undefined;
        readonly drop?: boolean | undefined;
        readonly dropAfterMs?: number | undefined;
      }
    /** The next Normal login (first request) is answered with status 0x0101 (0x0102 if permanent) to `to` (§11.13.5). */
    | { readonly kind: 'redirect'; readonly to: string | Portal; readonly permanent?: boolean | undefined }
    /** Close the connection — with a TCP RST when `rst` — at once or instead of answering the next SCSI command. */
    | { readonly kind: 'drop'; readonly rst?: boolean | undefined; readonly on?: 'now' | 'command' | undefined }
    /**
     * Stop answering: the next SCSI command (every one, if persistent) is left without a response, still a task that
     * task management can abort. With `all`, NOP-Out, Text, Task Management and Logout go unanswered too.
     */
    | { readonly kind: 'stall'; readonly all?: boolean | undefined }
    /** Answer the next `count` (default 1) SCSI commands with status BUSY (SAM-5 §5.3.1). */
    | { readonly kind: 'busy'; readonly count?: number | undefined }
    /** Change the incoming CHAP account's secret (and user): later logins with the old one fail with 0x0201. */
    | { readonly kind: 'auth-change'; readonly secret: string; readonly user?: string | undefined }
    /** Queue a UNIT ATTENTION (default 29h/00h) for every I_T nexus on `lun` (default all LUNs). */
    | { readonly kind: 'unit-attention'; readonly asc?: number | undefined; readonly ascq?: number | undefined; readonly lun?: number | undefined }
  );

export type MisbehaviourKind = Misbehaviour['kind'];
export type MisbehaviourOf<K extends MisbehaviourKind> = Extract<Misbehaviour, { kind: K }>;

/** What `misbehave()` returns: how often it fired, and a way to stop it. */
export interface MisbehaviourHandle {
  readonly kind: MisbehaviourKind;
  /** Times it was applied (connections, commands, logins). */
  readonly fired: number;
  /** Still armed (a one-shot that fired is not). */
  readonly active: boolean;
  /** Disarms it; nop-ping timers it started stop too. */
  cancel(): void;
}

/** One arming. */
export class Armed<K extends MisbehaviourKind = MisbehaviourKind> implements MisbehaviourHandle {
  fired = 0;
  active = true;
  /** Remaining uses of a counted one-shot ('busy'). */
  remaining: number;
  private readonly cleanups = new Set<() => void>();

  constructor(
    readonly spec: MisbehaviourOf<K>,
    private readonly onCancel: () => void,
  ) {
    this.remaining = spec.kind === 'busy' ? Math.max(1, (spec as MisbehaviourOf<'busy'>).count ?? 1) : 1;
  }

  get kind(): K {
    return this.spec.kind as K;
  }

  /** Counts one use; a one-shot disarms when its uses are spent. */
  use(): void {
    this.fired++;
    if (this.spec.persistent) return;
    this.remaining--;
    if (this.remaining <= 0) this.active = false;
  }

  /** Something to undo on cancel (a ping timer). */
  onCancelDo(cleanup: () => void): () => void {
    this.cleanups.add(cleanup);
    return () => this.cleanups.delete(cleanup);
  }

  cancel(): void {
    this.active = false;
    for (const cleanup of [...this.cleanups]) cleanup();
    this.cleanups.clear();
    this.onCancel();
  }

  matches(targetName: string | undefined): boolean {
    return this.active && (this.spec.target === undefined || this.spec.target === targetName);
  }
}

/** The kinds applied to connections as soon as they are in the full feature phase. */
export const IMMEDIATE_KINDS: ReadonlySet<MisbehaviourKind> = new Set(['nop-ping', 'async-logout', 'async-drop', 'unit-attention']);

export function isImmediate(spec: Misbehaviour): boolean {
  if (spec.kind === 'garbage' || spec.kind === 'drop') return (spec.on ?? 'now') === 'now';
  return IMMEDIATE_KINDS.has(spec.kind);
}

/** Every arming of one target host, oldest first. */
export class MisbehaviourBook {
  private readonly armed: Armed[] = [];

  arm<K extends MisbehaviourKind>(spec: MisbehaviourOf<K>): Armed<K> {
    const armed: Armed<K> = new Armed<K>(spec, () => this.remove(armed));
    this.armed.push(armed as unknown as Armed);
    return armed;
  }

  /**
   * The oldest active arming of `kind` for `targetName` that `accept` takes (default any), counted as used — or
   * undefined. Used-up one-shots leave the book.
   */
  take<K extends MisbehaviourKind>(kind: K, targetName: string | undefined, accept: (spec: MisbehaviourOf<K>) => boolean = () => true): Armed<K> | undefined {
    const found = this.armed.find((a) => a.kind === kind && a.matches(targetName) && accept(a.spec as MisbehaviourOf<K>)) as Armed<K> | undefined;
    if (!found) return undefined;
    found.use();
    if (!found.active) this.remove(found);
    return found;
  }

  /** Active immediate armings for a connection of `targetName` that just reached the full feature phase. */
  pendingImmediate(targetName: string | undefined): Armed[] {
    return this.armed.filter((a) => a.matches(targetName) && isImmediate(a.spec));
  }

  retire(armed: { readonly active: boolean }): void {
    if (!armed.active) this.remove(armed);
  }

  cancelAll(): void {
    for (const a of [...this.armed]) a.cancel();
  }

  private remove(armed: object): void {
    const at = this.armed.indexOf(armed as Armed);
    if (at >= 0) this.armed.splice(at, 1);
  }
}
