/**
 * Creating iscsid's Unix socket file without handing anyone a window or a symlink (docs/security.md, "Socket").
 *
 * Design: the folder comes first. It must belong to root (or to this daemon's user) and nobody else may write to it
 * (checkFolder), so no other user can plant or swap an entry in it — that is what makes the steps below race-free.
 * The socket is then bound under a umask that leaves exactly `mode` (0660 → umask 0117): bind(2) creates the file
 * with that mode at once, so there is no chmod at all (a chmod, like the one this replaces, follows a symlink swapped
 * in after the bind) and no moment where the file is wider than asked. The group is set with lchown, which never
 * follows a link, and only narrows who may connect in the instant before it (root's group → `gid`). The mode is
 * checked afterwards and the socket taken down if the platform did not honour the umask: fail closed.
 *
 * A socket file already at the path is replaced only when nobody listens on it (connect(2) says ECONNREFUSED). A
 * live daemon, or one too busy to accept (a full backlog gives EAGAIN, not ECONNREFUSED), or anything not a socket
 * is left alone. Within one state folder the instance lock (instance-lock.ts) already excludes a second daemon; this
 * check covers a second daemon with another state folder on the same socket.
 */
import { lchownSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { ArgumentError, IscsiError, StorageError, TransportError, storageErrorFrom } from '../errors.js';
import { checkFolder } from './file-safety.js';

export interface SocketFileOptions {
  /** The socket's permission bits; default 0660 (owner and group may connect). */
  readonly mode?: number;
  /** The socket's group (`iscsid --group`); default: the daemon's. */
  readonly gid?: number;
  /** How long a probe of an existing socket may take; default 1 s. */
  readonly probeTimeoutMs?: number;
}

export const DEFAULT_SOCKET_MODE = 0o660;
const PROBE_TIMEOUT_MS = 1_000;

/** Starts `server` listening on `path` as described above; on any failure nothing is left listening. */
export async function listenOnSocketFile(server: net.Server, path: string, options: SocketFileOptions = {}): Promise<void> {
  const mode = options.mode ?? DEFAULT_SOCKET_MODE;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the socket mode must be permission bits (0..0777)');
  const full = resolve(path);
  checkFolder(dirname(full), 'socket folder', { systemGroupMayWrite: true });
  await clearStaleSocket(full, options.probeTimeoutMs ?? PROBE_TIMEOUT_MS);

  const previous = process.umask(0o777 & ~mode);
  let listening: Promise<void>;
  try {
    listening = new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      // bind(2) runs inside listen() for a path (Node's primary process), so the umask is ours only for this call.
      server.listen(full, () => {
        server.removeListener('error', reject);
        resolveListen();
      });
    });
  } finally {
    process.umask(previous);
  }
  await listening.catch((e: unknown) => {
    throw e instanceof IscsiError ? e : storageErrorFrom(e, `cannot create the socket ${full}`);
  });
  try {
    const st = lstatSync(full);
    if (!st.isSocket() || (st.mode & 0o777) !== mode) {
      throw new StorageError('ISCSI_STORAGE_UNSAFE', `the socket ${full} came out ${st.isSocket() ? `mode ${(st.mode & 0o777).toString(8)}` : 'not a socket'}, not ${mode.toString(8)}`, {
        hint: 'this platform did not apply the umask to the socket; report it',
      });
    }
    if (options.gid !== undefined) lchownSync(full, -1, options.gid);
  } catch (e) {
    await new Promise<void>((done) => server.close(() => done()));
    throw e instanceof IscsiError ? e : storageErrorFrom(e, `cannot set up the socket ${full}`);
  }
}

/** Removes a socket file nobody listens on; refuses anything else that is at `path`. */
async function clearStaleSocket(path: string, timeoutMs: number): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw storageErrorFrom(e, `cannot examine ${path}`);
  }
  if (!st.isSocket()) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${path} exists and is not a socket; not replacing it`, { hint: 'give iscsid another --socket, or move that file away' });
  const answer = await probe(path, timeoutMs);
  if (answer !== 'ECONNREFUSED') {
    const why = answer === 'connected' ? 'it accepts connections' : `it is there but ${answer === 'timeout' ? 'did not answer' : `gave ${answer}`} (a busy daemon?)`;
    throw new TransportError('ISCSI_DAEMON_ALREADY_RUNNING', `another iscsid is already running on ${path}: ${why}`, {
      hint: 'stop it first, or give this one another --socket',
    });
  }
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw storageErrorFrom(e, `cannot remove the stale socket ${path}`);
  }
}

/** What connect(2) to `path` says: 'connected', an errno name, or 'timeout'. */
function probe(path: string, timeoutMs: number): Promise<string> {
  return new Promise((done) => {
    const socket = net.connect(path);
    const finish = (answer: string) => {
      clearTimeout(timer);
      socket.destroy();
      done(answer);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.once('connect', () => finish('connected'));
    socket.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
  });
}
