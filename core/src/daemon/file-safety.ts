/**
 * The checks every file iscsid writes as root goes through (docs/security.md, "Files" and "Socket"): its folder is
 * ours and nobody else can write to it, and the file itself is no symlink, no other user's, not writable by others.
 * A folder only its owner (us or root) can write is what makes the rest hold: no one else can plant or swap an entry
 * in it between a check and the write that follows. Checked at every use, not once: a mode changed later counts.
 */
import { lstatSync, statSync, type Stats } from 'node:fs';
import { StorageError, storageErrorFrom } from '../errors.js';

/** gid 0 (root/wheel) and 1 (daemon on macOS and Linux): groups of system accounts only. macOS's /var/run is root:daemon 0775. */
const SYSTEM_GIDS = new Set([0, 1]);

function unsafe(message: string, hint: string): StorageError {
  return new StorageError('ISCSI_STORAGE_UNSAFE', message, { hint });
}

/** Our uid, or undefined where the platform has none (then ownership cannot be checked). */
function ourUid(): number | undefined {
  return process.getuid?.();
}

/**
 * `dir` (symlinks in its path followed: /var/run is one on Linux) is a directory owned by us or root that group and
 * others cannot write; with `systemGroupMayWrite`, a group of system accounts may (see SYSTEM_GIDS).
 * Throws ISCSI_STORAGE_UNSAFE, or a StorageError for a failed stat (ENOENT included: callers create first).
 */
export function checkFolder(dir: string, what: string, options: { systemGroupMayWrite?: boolean } = {}): Stats {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    throw storageErrorFrom(e, `cannot examine the ${what} ${dir}`);
  }
  if (!st.isDirectory()) throw unsafe(`the ${what} ${dir} is not a directory`, 'give a directory');
  const uid = ourUid();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw unsafe(`the ${what} ${dir} belongs to uid ${st.uid}, not to root or this daemon (uid ${uid})`, `chown ${uid} ${dir}, or use another directory`);
  }
  const groupWrite = (st.mode & 0o020) !== 0 && !(options.systemGroupMayWrite === true && SYSTEM_GIDS.has(st.gid));
  const othersWrite = (st.mode & 0o002) !== 0;
  if (othersWrite || groupWrite) {
    throw unsafe(`the ${what} ${dir} is writable by ${othersWrite ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)}): anyone there could swap its files`, `chmod go-w ${dir}`);
  }
  return st;
}

/**
 * The file at `path`, if there is one, is a regular file (not a symlink: never followed), owned by us, and neither
 * group nor others may write it (nor read it, with `privateToOwner`). Returns its lstat, or undefined when absent.
 */
export function checkFile(path: string, what: string, options: { privateToOwner?: boolean } = {}): Stats | undefined {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageErrorFrom(e, `cannot examine the ${what} ${path}`);
  }
  if (st.isSymbolicLink()) throw unsafe(`the ${what} ${path} is a symlink; refusing to follow it`, `remove the link; iscsid writes ${path} itself`);
  if (!st.isFile()) throw unsafe(`the ${what} ${path} is not a regular file`, 'move it aside');
  const uid = ourUid();
  if (uid !== undefined && st.uid !== uid) throw unsafe(`the ${what} ${path} belongs to uid ${st.uid}, not to this daemon (uid ${uid})`, `check who wrote it, then chown ${uid} ${path}`);
  const forbidden = options.privateToOwner === true ? 0o077 : 0o022;
  if ((st.mode & forbidden) !== 0) {
    throw unsafe(`the ${what} ${path} is ${forbidden === 0o077 ? 'accessible' : 'writable'} by group or others (mode ${(st.mode & 0o777).toString(8)})`, `chmod ${forbidden === 0o077 ? 600 : 'go-w'} ${path}`);
  }
  return st;
}
