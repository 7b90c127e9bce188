// One place that loads the addon; everything else imports this module. Without a built addon (not compiled yet, or a
// platform without it) `available` is false and every lookup returns undefined — callers treat the peer as unknown.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let addon;
try {
  addon = require('./build/Release/native.node');
} catch {
  addon = undefined;
}

export const available = addon !== undefined;

/**
 * uid/gid (and pid where the OS gives it) of the peer of a connected Unix socket, by its file descriptor. On a
 * server's socket: the client's; on a client's socket: the server's (as of its listen()).
 */
export function peerCredentials(fd) {
  if (addon === undefined || !Number.isInteger(fd) || fd < 0) return undefined;
  return addon.peerCredentials(fd) ?? undefined;
}

/**
 * flock(2): true when the lock is taken, false when another open file holds it and `nonBlocking` is set. Throws when
 * the addon is missing (a lock that silently does nothing would be worse) or flock fails (`code`: the errno name).
 */
export function flock(fd, exclusive, nonBlocking) {
  if (addon === undefined) throw Object.assign(new Error('flock: the native addon is not built (npm run build)'), { code: 'ENOSYS' });
  if (!Number.isInteger(fd) || fd < 0) throw Object.assign(new TypeError('flock: fd must be a non-negative integer'), { code: 'EBADF' });
  return addon.flock(fd, exclusive === true, nonBlocking === true);
}
