// The seam between the session manager and the platform's volumes (issue 12: "Logout and iscsid shutdown unmount the
// LUNs' volumes first … A busy volume refuses the logout with a clear error naming it, unless forced. Then the target
// is destroyed, then the session logs out"). macOS: DiskArbitration (tracked-volumes.ts); under the simulator: the
// users of its NBD exports, found in /proc and /sys (nbd-export-volumes.ts).

/** A LUN's disk as `session -P 3` and `LunInfo` show it. */
export interface DiskView {
  /** The disk's name where the platform knows it (macOS: `/dev/disk4`); undefined leaves the HBA's own (the NBD URI). */
  readonly disk?: string;
  /** Where file systems on it are mounted. */
  readonly mountPoints: readonly string[];
}

export interface VolumeReleaseOptions {
  /** Unmount even what is in use (macOS: kDADiskUnmountOptionForce; Linux: a lazy umount), and pass over client processes. */
  readonly force: boolean;
}

export interface DiskVolumes {
  view(targetId: number, lun: number): DiskView;
  /**
   * Before an HBA target is destroyed: its LUNs' volumes are let go. Without `force`, anything in use refuses with
   * VolumeBusyError (ISCSI_VOLUME_BUSY) naming it, and nothing has changed that would end the session; with `force`,
   * volumes are unmounted anyway. Resolves with one line per step taken, for the daemon's log.
   */
  release(targetId: number, luns: readonly number[], options: VolumeReleaseOptions): Promise<string[]>;
}
