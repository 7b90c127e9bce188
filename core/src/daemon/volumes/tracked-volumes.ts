// The dext's side of the volume seam (macOS): DiskArbitration's disks and volumes as the VolumeTracker heard them, and
// its unmount and eject (native watchHost). The decisions are unmountForLogout's, tested with fake events.
import type { DiskActions } from '../host/host-events.js';
import { unmountForLogout, type VolumeTracker } from '../host/volume-tracker.js';
import type { DiskView, DiskVolumes, VolumeReleaseOptions } from './disk-volumes.js';

export class TrackedVolumes implements DiskVolumes {
  constructor(
    private readonly tracker: VolumeTracker,
    private readonly actions: DiskActions,
  ) {}

  view(targetId: number, lun: number): DiskView {
    const disk = this.tracker.diskOf(targetId, lun);
    return disk === undefined ? { mountPoints: [] } : { disk: `/dev/${disk.bsdName}`, mountPoints: disk.mountPoints };
  }

  /**
   * A polite unmount of every volume, as Finder's eject: refused while in use (ISCSI_VOLUME_BUSY), unless forced.
   * Unlike Linux, macOS mounted these volumes itself when the disk appeared, so iscsid unmounts them unasked.
   */
  async release(targetId: number, _luns: readonly number[], options: VolumeReleaseOptions): Promise<string[]> {
    const plan = this.tracker.planLogout(targetId, options);
    await unmountForLogout(plan, this.actions);
    return plan.disks.map((d) => `ejected /dev/${d.bsdName}${d.mountPoints.length > 0 ? ` (unmounted ${d.mountPoints.join(', ')})` : ''}`);
  }
}
