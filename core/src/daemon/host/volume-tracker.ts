import { VolumeBusyError } from '../../errors.js';
import type { DiskActions, DiskAddress, DiskEvent } from './host-events.js';

/** A LUN's disk as `session -P 3` shows it: `/dev/diskN` and its volumes' mount points. */
export interface AttachedDisk {
  readonly lun: number;
  readonly bsdName: string;
  readonly mountPoints: readonly string[];
}

/** What a logout must do first (issue 12 item 2: "logout … unmount the LUNs' volumes first"): whole disks to unmount, then eject. */
export interface LogoutPlan {
  readonly targetId: number;
  readonly force: boolean;
  /** Every whole disk of the session's LUNs: each is unmounted (if a volume is mounted) and ejected, in LUN order. */
  readonly disks: readonly AttachedDisk[];
}

interface Disk {
  readonly bsdName: string;
  readonly wholeDisk: string;
  address: DiskAddress | undefined;
  mountPoint: string | undefined;
}

/**
 * Which disks and volumes belong to which HBA target, built from DiskArbitration's events (made by hand in tests),
 * and what a logout must unmount. It never asks the system: what it was told is what it knows.
 */
export class VolumeTracker {
  private readonly disks = new Map<string, Disk>();

  apply(event: DiskEvent): void {
    switch (event.type) {
      case 'disk-appeared': {
        const known = this.disks.get(event.bsdName);
        const wholeDisk = event.wholeDisk ?? event.bsdName;
        if (known) known.address = event.address ?? known.address;
        else this.disks.set(event.bsdName, { bsdName: event.bsdName, wholeDisk, address: event.address, mountPoint: undefined });
        return;
      }
      case 'volume-mounted': {
        // A mount may be reported before the appearance (description changed first): remember the disk anyway.
        const disk = this.disks.get(event.bsdName) ?? this.add(event.bsdName);
        disk.mountPoint = event.mountPoint;
        return;
      }
      case 'volume-unmounted': {
        const disk = this.disks.get(event.bsdName);
        if (disk) disk.mountPoint = undefined;
        return;
      }
      case 'disk-disappeared':
        this.disks.delete(event.bsdName);
        return;
    }
  }

  /** Whether this disk or partition was reported as one of the HBA's. */
  knows(bsdName: string): boolean {
    return this.disks.has(bsdName);
  }

  /** The disks of an HBA target's LUNs with their mount points (partitions' volumes counted with their whole disk). */
  disksOf(targetId: number): AttachedDisk[] {
    const result: AttachedDisk[] = [];
    for (const disk of this.disks.values()) {
      if (disk.bsdName !== disk.wholeDisk || disk.address?.targetId !== targetId) continue;
      const mountPoints = [...this.disks.values()].filter((d) => d.wholeDisk === disk.bsdName && d.mountPoint !== undefined).map((d) => d.mountPoint!);
      result.push({ lun: disk.address.lun, bsdName: disk.bsdName, mountPoints: mountPoints.sort() });
    }
    return result.sort((a, b) => a.lun - b.lun);
  }

  /** The disk of one LUN, for `session -P 3`'s `Attached disk:` line. */
  diskOf(targetId: number, lun: number): AttachedDisk | undefined {
    return this.disksOf(targetId).find((d) => d.lun === lun);
  }

  planLogout(targetId: number, options: { readonly force?: boolean } = {}): LogoutPlan {
    return { targetId, force: options.force === true, disks: this.disksOf(targetId) };
  }

  private add(bsdName: string): Disk {
    // `disk4s1` belongs to `disk4`: DiskArbitration's BSD names put the partition after the whole disk's name.
    const match = /^(disk\d+)s\d+$/.exec(bsdName);
    const disk: Disk = { bsdName, wholeDisk: match ? match[1]! : bsdName, address: undefined, mountPoint: undefined };
    this.disks.set(bsdName, disk);
    return disk;
  }
}

/**
 * Carries out a logout plan: each disk with a mounted volume is unmounted whole, then every disk is ejected. A refused
 * unmount stops the logout with ISCSI_VOLUME_BUSY naming the volume — unless forced, when it is tried again forced;
 * a forced unmount refused still stops it (nothing is logged out under a mounted file system). Disks unmounted before
 * a refusal stay unmounted.
 */
export async function unmountForLogout(plan: LogoutPlan, actions: DiskActions): Promise<void> {
  for (const disk of plan.disks) {
    if (disk.mountPoints.length > 0) {
      // Politely first; forced only when the caller said so and the polite unmount was refused.
      let outcome = await actions.unmountWhole(disk.bsdName, { force: false });
      if (!outcome.ok && plan.force) outcome = await actions.unmountWhole(disk.bsdName, { force: true });
      if (!outcome.ok) throw new VolumeBusyError({ disk: disk.bsdName, mountPoint: disk.mountPoints[0]!, holder: outcome.dissent ?? outcome.errno });
    }
    // An eject refused after the volumes are gone does not keep the session: the target's removal takes the disk away.
    await actions.eject(disk.bsdName);
  }
}
