// A test that needs an outside tool (tgtd, libiscsi's utilities, util-linux) skips when it is missing on a developer's
// machine, but under CI (`CI=true`) a missing tool fails the run: a green CI must mean the test ran (issue 9 §7).
import { findBinary } from './tgtd.js';

/** Where each tool comes from, for the error message (Debian package names). */
const PACKAGE: Readonly<Record<string, string>> = {
  tgtd: 'tgt',
  tgtadm: 'tgt',
  script: 'util-linux',
  setpriv: 'util-linux',
  fio: 'fio',
  nbdinfo: 'libnbd-bin',
  nbdfuse: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  gcc: 'gcc',
  'g++': 'g++',
  make: 'make',
};

/** The path of executable `name` on PATH (or in sbin), or undefined. */
export const findTool = findBinary;

/** True when this run is CI's (the CI runner sets CI=true). */
export function underCi(): boolean {
  return process.env['CI'] === 'true';
}

/**
 * True when every tool is installed. When one is missing: false (so the caller skips) on a developer's machine, and
 * under CI an Error naming the tool and its package, which fails the test file instead of skipping it.
 */
export function requireTool(...names: string[]): boolean {
  const missing = names.filter((n) => findTool(n) === undefined);
  if (missing.length === 0) return true;
  if (underCi()) {
    const packages = [...new Set(missing.map((n) => PACKAGE[n] ?? (n.startsWith('iscsi-') ? 'libiscsi-bin' : n)))];
    throw new Error(`${missing.join(', ')} not found on PATH: CI=true, so this test fails instead of skipping (install the Debian package ${packages.join(', ')})`);
  }
  return false;
}

/** Like requireTool, for a test that needs root (file ownership, tgtd): skipped as a user, an error under CI as one. */
export function requireRoot(what: string): boolean {
  if (process.getuid?.() === 0) return true;
  if (underCi()) throw new Error(`${what} needs root: CI=true, so this test fails instead of skipping`);
  return false;
}
