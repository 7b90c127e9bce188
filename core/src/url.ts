import { ArgumentError } from './errors.js';
import { parseChapAlgorithms } from './login/chap.js';
import { parsePortal, type Portal } from './portal.js';
import type { DigestName } from './text/negotiation.js';

/**
 * libiscsi's URL form, which users of iscsi-ls/iscsi-inq already know:
 *   iscsi://[user[%secret]@]host[:port]/target-iqn/lun[?header_digest=crc32c|none|crc32c,none&data_digest=…&auth=md5,sha-256&target_user=…&target_password=…]
 * A digest given in the URL is strict: `crc32c` alone refuses a target without digests; a list (`crc32c,none`, as
 * libiscsi and open-iscsi take it) is offered in that order, and the target picks the first it supports (RFC 7143 §13.1).
 * Secrets are better given through the environment (see `credentialsFromEnv`), so they never sit in argv.
 */
export interface IscsiUrl {
  readonly portal: Portal;
  readonly targetName: string;
  /** Absent for a URL naming only the portal or the target. */
  readonly lun: number | undefined;
  readonly user?: string | undefined;
  readonly secret?: string | undefined;
  readonly targetUser?: string | undefined;
  readonly targetSecret?: string | undefined;
  /** The digests to offer, in order of preference (RFC 7143 §13.1); absent: the default offer. */
  readonly headerDigest?: readonly DigestName[] | undefined;
  readonly dataDigest?: readonly DigestName[] | undefined;
  readonly chapAlgorithms?: readonly number[] | undefined;
}

const KNOWN_PARAMS = new Set(['header_digest', 'data_digest', 'auth', 'target_user', 'target_password']);

export function parseIscsiUrl(text: string, options: { requireLun?: boolean } = {}): IscsiUrl {
  const bad = (why: string) => new ArgumentError('ISCSI_BAD_URL', `bad iSCSI URL: ${why}`, { hint: 'expected iscsi://[user[%secret]@]host[:port]/target-iqn/lun' });
  if (!text.startsWith('iscsi://')) throw bad('it must start with iscsi://');
  let rest = text.slice('iscsi://'.length);
  let query = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let user: string | undefined;
  let secret: string | undefined;
  const at = rest.lastIndexOf('@', rest.indexOf('/') < 0 ? rest.length : rest.indexOf('/'));
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pct = userinfo.indexOf('%');
    user = decode(pct >= 0 ? userinfo.slice(0, pct) : userinfo);
    if (pct >= 0) secret = decode(userinfo.slice(pct + 1));
    if (!user) throw bad('empty user name before "@"');
  }
  const slash = rest.indexOf('/');
  const hostPart = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : '';
  let portal: Portal;
  try {
    portal = parsePortal(hostPart);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const segments = path.split('/').filter((s, i, all) => s !== '' || i < all.length - 1);
  const targetName = decode(segments[0] ?? '');
  if (!targetName) throw bad('missing the target name after the host');
  if (segments.length > 2) throw bad(`unexpected path after the LUN: "${segments.slice(2).join('/')}"`);
  let lun: number | undefined;
  if (segments[1] !== undefined) {
    if (!/^\d{1,5}$/.test(segments[1]) || Number(segments[1]) > 16383) throw bad(`LUN "${segments[1]}" is not a number from 0 to 16383`);
    lun = Number(segments[1]);
  } else if (options.requireLun) {
    throw bad('missing the LUN after the target name');
  }

  const params = new URLSearchParams(query);
  for (const key of params.keys()) if (!KNOWN_PARAMS.has(key)) throw bad(`unknown parameter "${key}"`);
  const digest = (name: string): DigestName[] | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    const list: DigestName[] = [];
    for (const item of v.split(',')) {
      const d = /^\s*crc32c\s*$/i.test(item) ? 'CRC32C' : /^\s*none\s*$/i.test(item) ? 'None' : undefined;
      if (d === undefined) throw bad(`${name} must be crc32c, none, or a list of them in order of preference (crc32c,none), not "${v}"`);
      if (list.includes(d)) throw bad(`${name} names ${d} twice`);
      list.push(d);
    }
    return list;
  };
  const auth = params.get('auth');
  let chapAlgorithms: number[] | undefined;
  if (auth !== null) {
    try {
      chapAlgorithms = parseChapAlgorithms(auth);
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  return {
    portal,
    targetName,
    lun,
    user,
    secret,
    targetUser: params.get('target_user') ?? undefined,
    targetSecret: params.get('target_password') ?? undefined,
    headerDigest: digest('header_digest'),
    dataDigest: digest('data_digest'),
    chapAlgorithms,
  };
}

/** The URL with any secret replaced, for messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/(iscsi:\/\/[^%@/]*)%[^@/]*@/, '$1%***@').replace(/(target_password=)[^&]*/g, '$1***');
}

/**
 * CHAP credentials from the environment, so that they need not be on a command line:
 * ISCSI_CHAP_USERNAME / ISCSI_CHAP_SECRET (we to the target), ISCSI_CHAP_TARGET_USERNAME / ISCSI_CHAP_TARGET_SECRET (mutual).
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<IscsiUrl, 'user' | 'secret' | 'targetUser' | 'targetSecret'> {
  const pick = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return {
    user: pick('ISCSI_CHAP_USERNAME'),
    secret: pick('ISCSI_CHAP_SECRET'),
    targetUser: pick('ISCSI_CHAP_TARGET_USERNAME'),
    targetSecret: pick('ISCSI_CHAP_TARGET_SECRET'),
  };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
