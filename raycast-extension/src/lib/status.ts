// Pure helpers the views share: the menu-bar verdict, byte and rate formatting, and one readable line per error.
import type { DaemonProblem, MenuBarStatus, PortalGroup } from './model';

/** A session in one of these states is on its way back (RFC 7143 §6.3 recovery at ERL 0, or a login under way). */
const COMING_UP = new Set(['recovering', 'logging-in']);

/**
 * The menu-bar icon (issue 13): every automatic node logged in → all-up; any automatic node without a live session
 * (none, failed, logged out) → some-down; else any still recovering or logging in → recovering; no automatic node → idle.
 */
export function menuBarStatus(groups: readonly PortalGroup[]): MenuBarStatus {
  const automatic = groups.flatMap((g) => g.nodes).filter((n) => n.automatic);
  if (automatic.length === 0) return 'idle';
  if (automatic.some((n) => n.session === null || (n.session.state !== 'logged-in' && !COMING_UP.has(n.session.state))))
    return 'some-down';
  if (automatic.some((n) => n.session !== null && COMING_UP.has(n.session.state))) return 'recovering';
  return 'all-up';
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const DECIMAL = ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s'];

/** Three significant digits at most, without trailing zeros: 1.5, 64, 12.3, 1.25. */
function short(value: number): string {
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A size in binary units (disk sizes, as Finder's Disk Utility and iscsiadm show them): "1.5 GiB". */
export function formatBytes(n: number | string): string {
  // LunInfo.sizeBytes is a decimal string (it can pass 2^53): BigInt keeps it exact until it is scaled down.
  let value: number;
  try {
    value = typeof n === 'string' ? Number(BigInt(n.trim())) : n;
  } catch {
    return n.toString();
  }
  if (!Number.isFinite(value) || value < 0) return String(n);
  let unit = 0;
  while (value >= 1024 && unit < BINARY.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${short(value)} ${BINARY[unit]}`;
}

/** A throughput in decimal units, as network rates are written: "12.3 MB/s"; "—" before there are two samples. */
export function formatRate(bps: number | null): string {
  if (bps === null || !Number.isFinite(bps) || bps < 0) return '—';
  let value = bps;
  let unit = 0;
  while (value >= 1000 && unit < DECIMAL.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B/s` : `${short(value)} ${DECIMAL[unit]}`;
}

/** Codes whose daemon message is written for iscsiadm users: what a Raycast user reads instead. */
const FRIENDLY: Readonly<Record<string, string>> = {
  ISCSI_VOLUME_BUSY: 'A volume of this session is in use: close the files on it, or log out anyway',
  ISCSI_LOGIN_AUTH_FAILED: 'The target refused the CHAP credentials: check the user name and secret',
  ISCSI_CHAP_MISSING_CREDENTIALS: 'The target wants CHAP: set the credentials first',
  ISCSI_LOGIN_AUTHORIZATION_FAILED: 'The target does not allow this initiator',
  ISCSI_LOGIN_TARGET_NOT_FOUND: 'The portal has no such target',
  ISCSI_NOT_PERMITTED: 'iscsid does not let you change anything: start it with --group naming a group you are in',
  ISCSI_CONNECTION_REFUSED: 'Nothing answers at that portal',
  ISCSI_HOST_NOT_FOUND: 'That host name does not resolve',
};

/**
 * One readable line for any error a Daemon method throws: the problem of an unreachable daemon, else by the error's
 * code (callers never parse text, shared/STYLE.md "Errors"), else its message. Never a stack, never a secret: the
 * daemon's messages carry none (docs/api.md, Errors).
 */
export function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null)
    return typeof error === 'string' && error !== '' ? error : 'Something went wrong';
  const problem = (error as { problem?: DaemonProblem }).problem;
  if (problem !== undefined && typeof problem.message === 'string') return problem.message;
  const { code, message, hint } = error as { code?: unknown; message?: unknown; hint?: unknown };
  const friendly = typeof code === 'string' ? FRIENDLY[code] : undefined;
  if (friendly !== undefined) return friendly;
  const text = typeof message === 'string' && message !== '' ? firstLine(message) : 'Something went wrong';
  return typeof hint === 'string' && hint !== '' ? `${text} (${hint})` : text;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!;
}
