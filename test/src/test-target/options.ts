/**
 * The test target's options, their defaults and checks. Sizes may be given as numbers of bytes or as text with a
 * binary suffix ('64M', '1G', '512K').
 */
import { ArgumentError, isValidIscsiName } from '@iscsi-initiator/core';
import type { ChapAccount } from './chap.js';
import type { TargetParams } from './negotiation.js';

export interface LunOptions {
  /** The LUN number; default its index in `luns` (0, 1, …). */
  readonly lun?: number | undefined;
  /** Bytes, or text like '64M'. Default 64 MiB. */
  readonly size?: number | string | undefined;
  /** 512 (default) or 4096. */
  readonly blockSize?: 512 | 4096 | undefined;
  readonly vendor?: string | undefined;
  readonly product?: string | undefined;
  readonly serial?: string | undefined;
}

export interface TargetOptions {
  /** The iSCSI name. Default `DEFAULT_TARGET_NAME` (a second target without a name gets `…-2`, and so on). */
  readonly name?: string | undefined;
  readonly alias?: string | undefined;
  /** Default one 64 MiB LUN 0. */
  readonly luns?: readonly LunOptions[] | undefined;
  /**
   * CHAP (RFC 7143 §12.1.3): `incoming` is required of initiators; `outgoing` answers a mutual challenge; `algorithms`
   * are the CHAP_A values accepted (default 5, 6, 7, 8).
   */
  readonly chap?: { readonly incoming: ChapAccount; readonly outgoing?: ChapAccount | undefined; readonly algorithms?: readonly number[] | undefined } | undefined;
  /** Operational keys as this target answers them; keys set here are also offered when an initiator leaves them out. */
  readonly params?: Partial<TargetParams> | undefined;
  /** Command window: MaxCmdSN = ExpCmdSN + cmdWindow - 1 (RFC 7143 §4.2.2.1). Default 32. */
  readonly cmdWindow?: number | undefined;
  /** Report POWER ON, RESET (29h/00h) once to each new I_T nexus, as real targets do. Default true. */
  readonly unitAttentionOnLogin?: boolean | undefined;
}

export interface TestTargetOptions {
  /** A loopback address to listen on: '127.0.0.1' (default) or '::1'; any other address only if `allowNonLoopback`. */
  readonly host?: string | undefined;
  /** 0 (default): the kernel picks a free port. */
  readonly port?: number | undefined;
  /** Listening beyond loopback (the runnable entry's --host) exposes an unauthenticated RAM disk: opt in. */
  readonly allowNonLoopback?: boolean | undefined;
  /** Default one target with one 64 MiB LUN. */
  readonly targets?: readonly TargetOptions[] | undefined;
  /** Target portal group tag (RFC 7143 §13.9). Default 1. */
  readonly portalGroupTag?: number | undefined;
  /**
   * Where SendTargets says the targets are (the TargetAddress, RFC 7143 §13.8); default this portal. A discovery portal
   * may name another: a test names a fault proxy in front of a real target, so the node an initiator records is it.
   */
  readonly advertise?: { readonly host: string; readonly port: number } | undefined;
  /** CHAP required for discovery sessions; default none (SendTargets works without credentials). */
  readonly discoveryChap?: { readonly incoming: ChapAccount; readonly outgoing?: ChapAccount | undefined } | undefined;
  /** The first StatSN of each connection; default random (RFC 7143 §11.13: the target chooses it). */
  readonly initialStatSN?: number | undefined;
}

export const DEFAULT_TARGET_NAME = 'iqn.2026-11.io.github.iscsi-initiator:test-target';
export const DEFAULT_LUN_SIZE = 64 * 1024 * 1024;
export const DEFAULT_CMD_WINDOW = 32;

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** '64M' → 67108864; numbers pass through. ArgumentError for anything else. */
export function parseSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size) || size <= 0) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `size ${size} is not a positive integer`);
    return size;
  }
  const m = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(String(size));
  const bytes = m ? Number(m[1]) * UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `size "${String(size)}" is not a number of bytes with an optional K, M, G or T suffix`);
  }
  return bytes;
}

export function isLoopback(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function checkAccount(account: ChapAccount, what: string): ChapAccount {
  if (account === null || typeof account !== 'object' || typeof account.user !== 'string' || account.user === '' || /[\0\r\n]/.test(account.user)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} CHAP user name must be a non-empty string without control characters`);
  }
  if (typeof account.secret !== 'string' || account.secret === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} CHAP secret must be a non-empty string`);
  return { user: account.user, secret: account.secret };
}

export function checkTargetName(name: string): string {
  if (typeof name !== 'string' || !isValidIscsiName(name)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `"${String(name)}" is not an iSCSI name (iqn., eui. or naa.)`);
  return name;
}

export function checkInteger(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} must be an integer in ${min}..${max}`);
  }
  return value;
}
