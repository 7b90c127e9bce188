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

/** uid/gid (and pid where the OS gives it) of the peer of a connected Unix socket, by its file descriptor. */
export function peerCredentials(fd) {
  if (addon === undefined || !Number.isInteger(fd) || fd < 0) return undefined;
  return addon.peerCredentials(fd) ?? undefined;
}
