/**
 * What the host tells iscsid (issue 12, macOS adapters): the shapes native/index.d.ts delivers from DiskArbitration,
 * IORegisterForSystemPower and nw_path_monitor. The decisions on them are made by the portable policies beside this
 * file, tested on Linux with these events made by hand.
 */

/** The HBA target and LUN a disk sits on: the session's target in the HBA (bridge) and the LUN under it. */
export interface DiskAddress {
  readonly targetId: number;
  readonly lun: number;
}

export type DiskEvent =
  /** A whole disk (`disk4`) or a partition of one (`disk4s1`, `wholeDisk: 'disk4'`) appeared; `address` only on the whole disk. */
  | { readonly type: 'disk-appeared'; readonly bsdName: string; readonly wholeDisk?: string; readonly address?: DiskAddress }
  /** A volume on `bsdName` was mounted at `mountPoint` (DiskArbitration: kDADiskDescriptionVolumePathKey set). */
  | { readonly type: 'volume-mounted'; readonly bsdName: string; readonly mountPoint: string }
  /** The volume on `bsdName` is no longer mounted (kDADiskDescriptionVolumePathKey cleared). */
  | { readonly type: 'volume-unmounted'; readonly bsdName: string }
  | { readonly type: 'disk-disappeared'; readonly bsdName: string };

/** What an unmount or eject came back with: done, or refused (a dissenter; `errno` EBUSY when something holds it). */
export type UnmountOutcome = { readonly ok: true } | { readonly ok: false; readonly errno: string; readonly dissent?: string };

/** Unmounts every volume of a whole disk (DADiskUnmount with kDADiskUnmountOptionWhole), forced on request, and ejects it. */
export interface DiskActions {
  unmountWhole(bsdName: string, options: { readonly force: boolean }): Promise<UnmountOutcome>;
  eject(bsdName: string): Promise<UnmountOutcome>;
}

export type PowerEvent =
  /** kIOMessageSystemWillSleep: `allow()` (IOAllowPowerChange) must be called, late at worst; the system waits for it. */
  | { readonly type: 'will-sleep'; readonly allow: () => void }
  /** kIOMessageCanSystemSleep (idle sleep asks first): allowed, the quiesce comes with will-sleep. */
  | { readonly type: 'can-sleep'; readonly allow: () => void }
  /** kIOMessageSystemHasPoweredOn. */
  | { readonly type: 'powered-on' };

/** nw_path_monitor's update: the path's status and the interfaces (with addresses) it may use. */
export interface NetworkPathEvent {
  readonly type: 'path';
  readonly status: 'satisfied' | 'unsatisfied' | 'requires-connection';
  /** Interface names with their addresses, e.g. `en0 192.0.2.10`: a change in this list is a route that may have moved. */
  readonly interfaces: readonly string[];
}
