export declare const available: boolean;
export interface NativePeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid?: number;
}
export declare function peerCredentials(fd: number): NativePeerCredentials | undefined;
/** flock(2) LOCK_EX/LOCK_SH, with LOCK_NB when `nonBlocking`: true when taken, false when held elsewhere (EWOULDBLOCK). */
export declare function flock(fd: number, exclusive: boolean, nonBlocking: boolean): boolean;

/** The HBA's limits (iscsi_hba_info) and this attachment (iscsi_hba_handshake_out). */
export interface HbaInfo {
  readonly abiVersion: number;
  readonly maxTransfer: number;
  readonly maxTargets: number;
  readonly maxLuns: number;
  readonly queueDepth: number;
  readonly ringEntries: number;
  readonly poolSlotSize: number;
  readonly poolSize: number;
  readonly holdMs: number;
  readonly attachEpoch: number;
  /** Tasks held from a previous daemon, re-issued when their target is re-created. */
  readonly heldTasks: number;
  readonly features: number;
}

export interface HbaOpenOptions {
  /** The simulator's control socket. Absent: the dext's user client (macOS only; elsewhere ENOSYS). */
  readonly socketPath?: string;
  /** A call (handshake, map, create, destroy) unanswered this long drops the connection (ETIMEDOUT). */
  readonly callTimeoutMs: number;
  /** The ABI version the handshake claims; only tests set it (to see a mismatch refused). */
  readonly abiVersion?: number;
}

/** A batch of notice bits (HbaNotice in core/src/hba/abi.ts) and the command ring's producer index (a hint). */
export interface HbaNoticeEvent {
  readonly kinds: number;
  readonly cmdProducer: number;
}

/**
 * A rejection or a disconnect: `code` is the header's iscsi_hba_error name (ISCSI_HBA_E_VERSION_MISMATCH, …) with
 * `status` its number, or an errno name (ENOENT, ECONNREFUSED, ECONNRESET, ETIMEDOUT), ERR_HBA_PROTOCOL or
 * ERR_HBA_CLOSED.
 */
export interface HbaError extends Error {
  readonly code: string;
  readonly status?: number;
  /** The driver's ABI version, when a handshake was refused. */
  readonly peerAbiVersion?: number;
}

export interface Hba {
  readonly info: HbaInfo;
  /** The control region (iscsi_hba_control, CONTROL_SIZE bytes), mapped shared: no copy. Zero pages after close(). */
  readonly control: ArrayBuffer;
  /** The data pool (POOL_SIZE bytes), mapped shared: no copy. Zero pages after close(). */
  readonly pool: ArrayBuffer;
  readonly closed: boolean;
  /** ISCSI_HBA_SEL_CREATE_TARGET: the same key gets the same ID back (`existed`) for as long as the driver runs. */
  createTarget(key: string): Promise<{ targetId: number; existed: boolean }>;
  /** ISCSI_HBA_SEL_DESTROY_TARGET: the target's tasks fail and it goes away. */
  destroyTarget(targetId: number): Promise<void>;
  /** ISCSI_HBA_SEL_COMPLETION_DOORBELL, rung on the backend's thread: never blocks; doorbells not yet rung coalesce. */
  doorbell(): void;
  /** ARM_NOTICES answers, re-armed by the addon: one call per batch of bits. Returns the unsubscribe function. */
  onNotice(listener: (notice: HbaNoticeEvent) => void): () => void;
  /** The HBA ended the connection (not after close()). */
  onDisconnect(listener: (error: HbaError) => void): () => void;
  /** Stops and joins the notice thread, detaches the regions, closes the connection: no listener runs after it. */
  close(): void;
}

export declare function openHba(options: HbaOpenOptions): Promise<Hba>;

/**
 * What the Mac tells iscsid (issue 12 item 4), as delivered by `watchHost`. The decisions are core/src/daemon/host's.
 * disk-appeared: `ours` when the dext's controller is an ancestor; `targetId`/`lun` (the SCSI Parallel nub's
 * properties) only on our whole disks; `wholeDisk` on a partition. disk-changed: the volume path changed (mounted:
 * `mountPoint` set; unmounted: absent). will-sleep/can-sleep: answer with `allowPowerChange(notificationId)`.
 */
export type HostEvent =
  | { readonly kind: 'disk-appeared'; readonly bsdName: string; readonly wholeDisk?: string; readonly ours: boolean; readonly targetId?: number; readonly lun?: number; readonly mountPoint?: string }
  | { readonly kind: 'disk-changed'; readonly bsdName: string; readonly wholeDisk?: string; readonly mountPoint?: string }
  | { readonly kind: 'disk-disappeared'; readonly bsdName: string }
  | { readonly kind: 'will-sleep' | 'can-sleep'; readonly notificationId: number }
  | { readonly kind: 'powered-on' }
  | { readonly kind: 'network'; readonly status: 'satisfied' | 'unsatisfied' | 'requires-connection'; readonly interfaces: readonly string[] };

/** A DADiskUnmount/DADiskEject answer: done, or a dissenter (`errno` EBUSY for kDAReturnBusy, EACCES, ENOENT, EIO). */
export type HostDiskOutcome = { readonly ok: true } | { readonly ok: false; readonly errno: string; readonly dissent?: string };

export interface HostWatch {
  /** IOAllowPowerChange for a will-sleep or can-sleep notice. */
  allowPowerChange(notificationId: number): void;
  /** DADiskUnmount with kDADiskUnmountOptionWhole (and kDADiskUnmountOptionForce when `force`). */
  unmountWhole(bsdName: string, options: { readonly force: boolean }): Promise<HostDiskOutcome>;
  /** DADiskEject. */
  eject(bsdName: string): Promise<HostDiskOutcome>;
  /** Stops every watcher on their queue (no listener runs after it); pending disk operations settle with ERR_HOST_CLOSED. */
  close(): void;
}

/** macOS only: elsewhere (and without a built addon) it throws an Error with code ENOSYS. */
export declare function watchHost(listener: (event: HostEvent) => void): HostWatch;
