// The DiskArbitration adapter's decisions (issue 12 item 4 "DiskArbitration: a disk appeared, its BSD name and volumes;
// unmount or eject before logout"; item 2 "A busy volume refuses the logout with a clear error naming it, unless
// forced"), fed with the events the macOS adapter delivers, made here by hand.
import { describe, expect, it } from 'vitest';
import { VolumeBusyError } from '../../../src/errors.js';
import type { DiskActions, UnmountOutcome } from '../../../src/daemon/host/host-events.js';
import { VolumeTracker, unmountForLogout } from '../../../src/daemon/host/volume-tracker.js';

/** A session on HBA target 3 with LUN 0 (disk4, two partitions, one mounted) and LUN 1 (disk5, nothing mounted); target 7 elsewhere. */
function tracker(): VolumeTracker {
  const t = new VolumeTracker();
  t.apply({ type: 'disk-appeared', bsdName: 'disk4', address: { targetId: 3, lun: 0 } });
  t.apply({ type: 'disk-appeared', bsdName: 'disk4s1', wholeDisk: 'disk4' });
  t.apply({ type: 'disk-appeared', bsdName: 'disk4s2', wholeDisk: 'disk4' });
  t.apply({ type: 'volume-mounted', bsdName: 'disk4s2', mountPoint: '/Volumes/Scratch' });
  t.apply({ type: 'disk-appeared', bsdName: 'disk5', address: { targetId: 3, lun: 1 } });
  t.apply({ type: 'disk-appeared', bsdName: 'disk9', address: { targetId: 7, lun: 0 } });
  t.apply({ type: 'volume-mounted', bsdName: 'disk9', mountPoint: '/Volumes/Other' });
  return t;
}

/** Records each call; answers unmounts from a script (a dissenter, or done). */
class Actions implements DiskActions {
  readonly calls: string[] = [];
  constructor(private readonly refuse: (bsdName: string, force: boolean) => UnmountOutcome | undefined = () => undefined) {}
  unmountWhole(bsdName: string, options: { force: boolean }): Promise<UnmountOutcome> {
    this.calls.push(`unmount ${bsdName}${options.force ? ' force' : ''}`);
    return Promise.resolve(this.refuse(bsdName, options.force) ?? { ok: true });
  }
  eject(bsdName: string): Promise<UnmountOutcome> {
    this.calls.push(`eject ${bsdName}`);
    return Promise.resolve({ ok: true });
  }
}

describe('VolumeTracker: which disks and volumes are a session\'s (for session -P 3 "Attached disk:")', () => {
  it('a target\'s LUNs with their whole disk and the mount points of its partitions, in LUN order; other targets apart', () => {
    const t = tracker();
    expect(t.disksOf(3)).toEqual([
      { lun: 0, bsdName: 'disk4', mountPoints: ['/Volumes/Scratch'] },
      { lun: 1, bsdName: 'disk5', mountPoints: [] },
    ]);
    expect(t.diskOf(7, 0)).toEqual({ lun: 0, bsdName: 'disk9', mountPoints: ['/Volumes/Other'] });
    expect(t.disksOf(4)).toEqual([]);
  });

  it('an unmount clears the mount point; a disappeared disk is gone; a mount reported before its partition still counts', () => {
    const t = tracker();
    t.apply({ type: 'volume-unmounted', bsdName: 'disk4s2' });
    expect(t.diskOf(3, 0)?.mountPoints).toEqual([]);
    t.apply({ type: 'volume-mounted', bsdName: 'disk5s1', mountPoint: '/Volumes/Late' }); // DescriptionChanged first
    expect(t.diskOf(3, 1)?.mountPoints).toEqual(['/Volumes/Late']);
    t.apply({ type: 'disk-disappeared', bsdName: 'disk5' });
    expect(t.disksOf(3).map((d) => d.bsdName)).toEqual(['disk4']);
  });
});

describe('logout: unmount the LUNs\' volumes first (issue 12 item 2)', () => {
  it('each whole disk with a mounted volume is unmounted (polite), then every disk of the session is ejected; no other target is touched', async () => {
    const actions = new Actions();
    await unmountForLogout(tracker().planLogout(3), actions);
    expect(actions.calls).toEqual(['unmount disk4', 'eject disk4', 'eject disk5']);
  });

  it('a busy volume refuses the logout with ISCSI_VOLUME_BUSY naming the volume and the dissent; nothing is forced', async () => {
    const actions = new Actions(() => ({ ok: false, errno: 'EBUSY', dissent: 'Resource busy' }));
    const error = await unmountForLogout(tracker().planLogout(3), actions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeBusyError);
    expect(error).toMatchObject({ code: 'ISCSI_VOLUME_BUSY', mountPoint: '/Volumes/Scratch', disk: 'disk4' });
    expect((error as Error).message).toContain('/Volumes/Scratch');
    expect((error as VolumeBusyError).toJSON()).toMatchObject({ code: 'ISCSI_VOLUME_BUSY', mountPoint: '/Volumes/Scratch', disk: 'disk4' });
    expect(actions.calls).toEqual(['unmount disk4']); // no eject, no forced unmount, the logout stops here
  });

  it('forced: a refused unmount is tried again forced, then ejected', async () => {
    const actions = new Actions((_, force) => (force ? undefined : { ok: false, errno: 'EBUSY' }));
    await unmountForLogout(tracker().planLogout(3, { force: true }), actions);
    expect(actions.calls).toEqual(['unmount disk4', 'unmount disk4 force', 'eject disk4', 'eject disk5']);
  });

  it('forced and still refused: the logout stops with ISCSI_VOLUME_BUSY (no logout under a mounted file system)', async () => {
    const actions = new Actions(() => ({ ok: false, errno: 'EBUSY' }));
    await expect(unmountForLogout(tracker().planLogout(3, { force: true }), actions)).rejects.toMatchObject({ code: 'ISCSI_VOLUME_BUSY', disk: 'disk4' });
  });

  it('a session without disks has nothing to do', async () => {
    const actions = new Actions();
    await unmountForLogout(tracker().planLogout(42), actions);
    expect(actions.calls).toEqual([]);
  });
});
