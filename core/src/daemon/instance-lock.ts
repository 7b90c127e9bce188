/**
 * One iscsid per state folder: an exclusive flock(2) on `<state-dir>/iscsid.lock`, held while the daemon's process
 * lives (the kernel drops it when the descriptor closes, so a killed daemon leaves no stale lock). Unlike probing the
 * socket, it cannot be fooled by a daemon too busy to accept, nor missed by a second daemon with another socket.
 */
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { flock } from '@iscsi-initiator/native';
import { StorageError, TransportError, storageErrorFrom } from '../errors.js';
import { checkFile, checkFolder } from './file-safety.js';

export const INSTANCE_LOCK_FILE_NAME = 'iscsid.lock';

export interface InstanceLock {
  readonly path: string;
  /** Gives the lock up (closes the descriptor). The daemon never calls it: exiting does. */
  release(): void;
}

/**
 * Takes the state folder's lock, creating the folder (0700) and the lock file (0600) as needed; the lock file holds
 * the owner's pid, for the message a second daemon prints. Throws ISCSI_DAEMON_ALREADY_RUNNING when another process
 * holds it, ISCSI_STORAGE_UNSAFE for an unsafe folder or lock file (file-safety.ts), ISCSI_STORAGE_* for I/O errors.
 */
export function acquireInstanceLock(stateDir: string): InstanceLock {
  const dir = resolve(stateDir);
  const path = join(dir, INSTANCE_LOCK_FILE_NAME);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw storageErrorFrom(e, `cannot create the state folder ${dir}`);
  }
  checkFolder(dir, 'state folder');
  checkFile(path, 'lock file');
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw storageErrorFrom(e, `cannot open the lock file ${path}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new StorageError('ISCSI_STORAGE_UNSAFE', `the lock file ${path} is not a regular file`, { hint: 'move it aside' });
    if (!flock(fd, true, true)) {
      const holder = readPid(fd);
      throw new TransportError('ISCSI_DAEMON_ALREADY_RUNNING', `another iscsid${holder === undefined ? '' : ` (pid ${holder})`} is already running on the state folder ${dir}`, {
        hint: 'stop it first, or give this one another --state-dir',
      });
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (e) {
    closeSync(fd);
    if (e instanceof StorageError || e instanceof TransportError) throw e;
    throw storageErrorFrom(e, `cannot lock ${path}`);
  }
  let held = true;
  return {
    path,
    release: () => {
      if (held) closeSync(fd);
      held = false;
    },
  };
}

function readPid(fd: number): number | undefined {
  const buffer = Buffer.alloc(32);
  try {
    const text = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
