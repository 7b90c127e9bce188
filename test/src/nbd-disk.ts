// An NBD disk (the HBA simulator's export of a LUN) as a mounted filesystem: nbdfuse shows it as a file, losetup makes
// that a loop device, mount mounts it. For the HBA integration tests (issue 12 "nbdfuse + losetup + mkfs.ext4 + mount").
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { appears } from './fs-wait.js';

const run = promisify(execFile);

/** Every step of the mount is bounded by this (mkfs.ext4 by twice it). */
const STEP_MS = 30_000;

/**
 * Mounts the disk at `uri` on `mnt` (mkfs.ext4 first when `format`). Returns the undo: unmount, detach the loop device,
 * stop nbdfuse, in that order; after it nothing holds the export open.
 */
export async function mountNbdDisk(uri: string, mnt: string, options: { format: boolean }): Promise<() => Promise<void>> {
  const fuseDir = mkdtempSync(path.join(os.tmpdir(), 'nbd-disk-fuse-'));
  const pidFile = path.join(fuseDir, '..', `${path.basename(fuseDir)}.pid`);
  const fuse = spawn('nbdfuse', ['-P', pidFile, path.join(fuseDir, 'disk'), uri], { stdio: 'ignore' });
  const fuseExited = new Promise<void>((resolve) => fuse.once('exit', () => resolve()));
  const undo: Array<() => Promise<unknown>> = [
    async () => {
      // fusermount3 -u makes nbdfuse exit; it is waited for, so the NBD connection is closed when the undo returns.
      await run('fusermount3', ['-u', fuseDir], { timeout: STEP_MS }).catch(() => fuse.kill('SIGKILL'));
      const timer = setTimeout(() => fuse.kill('SIGKILL'), STEP_MS);
      await fuseExited;
      clearTimeout(timer);
      rmSync(pidFile, { force: true });
      rmSync(fuseDir, { recursive: true, force: true });
    },
  ];
  const undoAll = async (): Promise<void> => {
    for (const step of undo.reverse()) await step();
  };
  try {
    await appears(pidFile, STEP_MS); // "when nbdfuse is ready to serve, write the nbdfuse process ID to the file"
    const loop = (await run('losetup', ['--find', '--show', path.join(fuseDir, 'disk')], { timeout: STEP_MS })).stdout.trim();
    undo.push(() => run('losetup', ['-d', loop], { timeout: STEP_MS }));
    if (options.format) await run('mkfs.ext4', ['-q', '-F', loop], { timeout: 2 * STEP_MS });
    await run('mount', [loop, mnt], { timeout: STEP_MS });
    undo.push(() => run('umount', [mnt], { timeout: 2 * STEP_MS }));
    return undoAll;
  } catch (error) {
    await undoAll();
    throw error;
  }
}
