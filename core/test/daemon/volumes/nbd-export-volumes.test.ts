// Issue 12: "A busy volume refuses the logout with a clear error naming it, unless forced." The simulator's volume
// seam decides from a snapshot (made by hand here) and takes the chain down with commands, recorded here instead of
// run: the busy paths (a lazy umount, a lazy fusermount3) that a test cannot make the kernel refuse on cue. The real
// commands run in test/integration/iscsid-hba-volumes.test.ts.
import { describe, expect, it } from 'vitest';
import { VolumeBusyError } from '../../../src/errors.js';
import type { SystemSnapshot } from '../../../src/daemon/volumes/export-users.js';
import { NbdExportVolumes, type CommandRunner } from '../../../src/daemon/volumes/nbd-export-volumes.js';
import { parseMountInfo } from '../../../src/daemon/volumes/proc-text.js';

const SOCKET = '/state/nbd/t2-lun1.sock';
const FUSE = '/tmp/fuse-1';
const MNT = '/mnt/data';

const fuseMount = `600 27 0:77 / ${FUSE} rw - fuse.nbdfuse nbdfuse rw`;
const ext4Mount = `640 27 7:3 / ${MNT} rw - ext4 /dev/loop3 rw`;
const nestedMount = `641 640 0:50 / ${MNT}/inner rw - tmpfs tmpfs rw`;
const nbdfuse = { pid: 200, name: 'nbdfuse', argv: ['nbdfuse', `${FUSE}/disk`, `nbd+unix:///?socket=${SOCKET}`], cwd: '/' };
const fio = { pid: 300, name: 'fio', argv: ['fio', `--uri=nbd+unix:///?socket=${SOCKET}`], cwd: '/' };
const loop3 = { device: '/dev/loop3', backingFile: `${FUSE}/disk`, nodes: [{ device: '/dev/loop3', majorMinor: '7:3' }] };

/** The whole chain: nbdfuse, /dev/loop3 over its file, ext4 on the loop device at /mnt/data. */
const mounted: SystemSnapshot = { mounts: parseMountInfo([fuseMount, ext4Mount].join('\n')), processes: [nbdfuse], loops: [loop3] };

/** Records each command; a command whose line matches `refuse` fails with EBUSY's message. */
function recorder(refuse: RegExp | undefined = undefined): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: (file, args) => {
      const line = [file, ...args].join(' ');
      calls.push(line);
      return Promise.resolve(refuse?.test(line) ? { ok: false, message: `${line}: target is busy.` } : { ok: true, message: '' });
    },
  };
}

function volumes(snapshot: SystemSnapshot, run: CommandRunner): NbdExportVolumes {
  return new NbdExportVolumes({ exportSocket: (t, l) => (t === 2 && l === 1 ? SOCKET : undefined), readSystem: () => snapshot, run });
}

describe('NbdExportVolumes: the logout of a session whose disk is in use', () => {
  it('view: the volumes\' mount points of a LUN (for LunInfo.mountPoints); none for a LUN without an export', () => {
    const v = volumes(mounted, recorder().run);
    expect(v.view(2, 1)).toEqual({ mountPoints: [MNT] });
    expect(v.view(2, 0)).toEqual({ mountPoints: [] });
  });

  it('unforced, a mounted file system refuses with ISCSI_VOLUME_BUSY naming its mount point and device; nothing is run', async () => {
    const r = recorder();
    const error = await volumes(mounted, r.run).release(2, [0, 1], { force: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeBusyError);
    expect(error).toMatchObject({ code: 'ISCSI_VOLUME_BUSY', mountPoint: MNT, disk: '/dev/loop3' });
    expect((error as Error).message).toBe(`the volume mounted at ${MNT} (/dev/loop3) is in use`);
    expect(r.calls).toEqual([]);
  });

  it('unforced, a loop device without a mount, an nbdfuse mount alone, a bare client: each named in turn', async () => {
    const loopOnly = { ...mounted, mounts: parseMountInfo(fuseMount) };
    await expect(volumes(loopOnly, recorder().run).release(2, [1], { force: false })).rejects.toMatchObject({
      disk: SOCKET,
      message: `the disk ${SOCKET} is in use: loop device /dev/loop3 over the nbdfuse mount ${FUSE}`,
    });
    const fuseOnly = { ...loopOnly, loops: [] };
    await expect(volumes(fuseOnly, recorder().run).release(2, [1], { force: false })).rejects.toMatchObject({ mountPoint: FUSE, holder: 'nbdfuse (pid 200)' });
    const clientOnly = { mounts: [], loops: [], processes: [fio] };
    const error = await volumes(clientOnly, recorder().run).release(2, [1], { force: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ISCSI_VOLUME_BUSY', disk: SOCKET, holder: 'fio (pid 300)', mountPoint: undefined });
    expect((error as VolumeBusyError).hint).toMatch(/--force \(its I\/O then fails\)/);
  });

  it('nothing uses it: released with nothing to do, forced or not', async () => {
    const idle = { mounts: [], loops: [], processes: [] };
    const r = recorder();
    await expect(volumes(idle, r.run).release(2, [1], { force: false })).resolves.toEqual([]);
    await expect(volumes(idle, r.run).release(2, [1], { force: true })).resolves.toEqual([]);
    expect(r.calls).toEqual([]);
  });

  it('forced: the chain comes down from the top — umount, losetup -d, fusermount3 -u — and a client is passed over', async () => {
    const r = recorder();
    const steps = await volumes({ ...mounted, processes: [nbdfuse, fio] }, r.run).release(2, [1], { force: true });
    expect(r.calls).toEqual([`umount ${MNT}`, 'losetup -d /dev/loop3', `fusermount3 -u ${FUSE}`]);
    expect(steps).toEqual([`unmounted ${MNT}`, 'detached /dev/loop3', `unmounted the nbdfuse mount ${FUSE}`, 'nbdfuse (pid 200) still uses the export: its I/O fails from now on', 'fio (pid 300) still uses the export: its I/O fails from now on']);
  });

  it('forced and busy: a refused umount or fusermount3 is done lazily, and says so', async () => {
    const r = recorder(/^(umount \/mnt|fusermount3 -u \/tmp)/);
    const steps = await volumes(mounted, r.run).release(2, [1], { force: true });
    expect(r.calls).toEqual([`umount ${MNT}`, `umount --lazy ${MNT}`, 'losetup -d /dev/loop3', `fusermount3 -u ${FUSE}`, `fusermount3 -u -z ${FUSE}`]);
    expect(steps[0]).toBe(`unmounted ${MNT} lazily (it was busy: umount ${MNT}: target is busy.)`);
    expect(steps[2]).toMatch(/^unmounted the nbdfuse mount \/tmp\/fuse-1 lazily/);
  });

  it('forced, a mount inside the volume comes down before the volume (deepest first)', async () => {
    // A tmpfs at /mnt/data/inner sits on the volume but not on the loop device: only the volume is the export's.
    const nested = { ...mounted, mounts: parseMountInfo([fuseMount, ext4Mount, nestedMount, `642 640 7:3 /sub ${MNT}/bind rw - ext4 /dev/loop3 rw`].join('\n')) };
    const r = recorder();
    await volumes(nested, r.run).release(2, [1], { force: true });
    expect(r.calls.slice(0, 2)).toEqual([`umount ${MNT}/bind`, `umount ${MNT}`]);
  });
});
