// The seam between the bridge and the HBA connection: the native addon implements it (IOKit on macOS, the simulator's
// socket on Linux); tests implement it over plain ArrayBuffers. The bridge imports no native code.
import type { SessionEvent } from '../session/session-events.js';
import type { ScsiRequest, ScsiResult } from '../session/scsi-task.js';

/** The answer of ISCSI_HBA_SEL_ARM_NOTICES (struct iscsi_hba_notice). */
export interface HbaNoticeInfo {
  /** ISCSI_HBA_NOTICE_* bits gathered since the last answer. */
  readonly kinds: number;
  /** The command ring's producer index when sent: a hint, the ring is the truth. */
  readonly cmdProducer: number;
}

export interface HbaTargetHandle {
  readonly targetId: number;
  /** The key was known (live or from an earlier attachment) and got its ID back. */
  readonly existed: boolean;
}

/** An attached HBA, after a successful handshake (the driver resets the ring indices before it answers). */
export interface HbaPlatform {
  /** The control region (struct iscsi_hba_control), mapped without a copy. */
  readonly control: ArrayBuffer;
  /** The data pool (ISCSI_HBA_POOL_SIZE bytes), mapped without a copy. */
  readonly pool: ArrayBuffer;
  /** ISCSI_HBA_SEL_COMPLETION_DOORBELL: completions were published. */
  doorbell(): void;
  /** ISCSI_HBA_SEL_CREATE_TARGET: the same key gets the same target ID back for as long as the driver runs. */
  createTarget(key: string): Promise<HbaTargetHandle>;
  /** ISCSI_HBA_SEL_DESTROY_TARGET: the driver fails the target's tasks and it goes away. */
  destroyTarget(targetId: number): Promise<void>;
  /** Each answer of the armed ARM_NOTICES call (the platform re-arms); returns an unsubscribe function. */
  onNotice(listener: (notice: HbaNoticeInfo) => void): () => void;
}

/** What the bridge needs of a session (IscsiSession has it; tests may drive a SessionCore or a fake). */
export interface HbaSession {
  /** `tag` is the caller's name for the task (the driver's tag), for `abort`. */
  execute(request: ScsiRequest, tag?: number): Promise<ScsiResult>;
  abort(tag: number): Promise<number>;
  on(listener: (event: SessionEvent) => void): () => void;
}
