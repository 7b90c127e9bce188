// An NBD export as a mounted file system, the way a person does it on Linux: nbdfuse shows the export as a file,
// losetup makes that file a block device, mount mounts it (mkfs.ext4 first when asked).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { appears } from './fs-wait.js';

const run = promisify(execFile);

export interface MountedDisk {
  /** The nbdfuse mount (the export as the file `<fuseDir>/disk`). */
  readonly fuseDir: string;
  /** `/dev/loopN`. */
  readonly loop: string;
  readonly mountPoint: string;
  /** nbdfuse's pid. */
  readonly fusePid: number;
  /** Undoes what is still there, in reverse order: umount, losetup -d, fusermount3 -u (a piece already gone is skipped). */
  unmount(): Promise<void>;
}

/** Whether `dir` is a mount point now (/proc/self/mountinfo, field 5). */
export function isMountPoint(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

/** Whether a loop device is attached (its backing_file exists in sysfs). */
function loopAttached(loop: string): boolean {
  try {
    return readFileSync(`/sys/block/${path.basename(loop)}/loop/backing_file`, 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

export async function mountDisk(uri: string, mountPoint: string, format: boolean): Promise<MountedDisk> {
  const fuseDir = mkdtempSync(path.join(os.tmpdir(), 'nbd-disk-fuse-'));
  const pidFile = path.join(fuseDir, '..', `${path.basename(fuseDir)}.pid`);
  const fuse = spawn('nbdfuse', ['-P', pidFile, path.join(fuseDir, 'disk'), uri], { stdio: 'ignore' });
  const fuseExited = new Promise<void>((resolve) => fuse.once('exit', () => resolve()));
  let loop = '';
  const unmount = async (): Promise<void> => {
    if (isMountPoint(mountPoint)) await run('umount', [mountPoint], { timeout: 60_000 });
    if (loop !== '' && loopAttached(loop)) await run('losetup', ['-d', loop], { timeout: 20_000 });
    if (isMountPoint(fuseDir)) await run('fusermount3', ['-u', fuseDir], { timeout: 20_000 }).catch(() => fuse.kill('SIGKILL'));
    // fusermount3 -u makes nbdfuse exit; it is waited for (bounded), so the NBD connection is closed when this returns.
    if (fuse.exitCode === null && fuse.signalCode === null) {
      const timer = setTimeout(() => fuse.kill('SIGKILL'), 20_000);
      await fuseExited;
      clearTimeout(timer);
    }
    rmSync(pidFile, { force: true });
    rmSync(fuseDir, { recursive: true, force: true });
  };
  try {
    await appears(pidFile, 20_000); // "when nbdfuse is ready to serve, write the nbdfuse process ID to the file"
    loop = (await run('losetup', ['--find', '--show', path.join(fuseDir, 'disk')], { timeout: 20_000 })).stdout.trim();
    if (format) await run('mkfs.ext4', ['-q', '-F', loop], { timeout: 60_000 });
    await run('mount', [loop, mountPoint], { timeout: 20_000 });
    return { fuseDir, loop, mountPoint, fusePid: fuse.pid!, unmount };
  } catch (error) {
    await unmount();
    throw error;
  }
}
