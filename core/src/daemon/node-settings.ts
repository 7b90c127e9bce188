/**
 * Per-node settings of the daemon's node database, named as open-iscsi names them (`iscsiadm -m node -o show`), each
 * with a default, a validator that returns the canonical text, and a one-line description. Secrets are never
 * settings: CHAP passwords live in the secret store.
 */

import { ArgumentError } from '../errors.js';
import { isSecretKey } from '../rpc/secret-rules.js';
import { parseChapAlgorithms } from '../login/chap.js';
import { DEFAULT_QUEUE_DEPTH, DEFAULT_TIMEOUTS, MAX_QUEUE_DEPTH } from '../defaults.js';
import { KEYS } from '../text/keys.js';
import { DEFAULT_PROPOSAL, type DigestName, type OperationalProposal } from '../text/negotiation.js';

/** open-iscsi key names → values as text. */
export type NodeSettings = Record<string, string>;

export interface NodeKeyDefinition {
  readonly default: string;
  /** The canonical text of `value`, or ArgumentError saying what is wrong with it. */
  validate(value: string): string;
  readonly description: string;
}

/** What a node's settings mean for a session (the fields of SessionOptions they feed). */
export interface NodeSessionSettings {
  proposal: OperationalProposal;
  /** Negative: wait forever (-1); 0: fail at once. */
  replacementTimeoutMs: number;
  noopOutIntervalMs: number;
  noopOutTimeoutMs: number;
  loginTimeoutMs: number;
  /** The Logout Response wait, and the bound on a whole logout (SYNCHRONIZE CACHE included) before it is dropped. */
  logoutTimeoutMs: number;
  queueDepth: number;
  authMethod: 'None' | 'CHAP';
  username?: string;
  usernameIn?: string;
  chapAlgorithms?: number[];
}

/** Longest value we keep for any key (a text-value is at most 255 bytes, RFC 7143 §6.1). */
const MAX_TEXT_BYTES = 255;
/** setTimeout holds at most 2^31-1 ms; a longer timeout in seconds could not be honoured. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function bad(key: string, value: string, why: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', `bad value ${quote(value)} for ${key}: ${why}`);
}

/** Values come from people and scripts: keep them to one short readable line in messages. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function oneOf(key: string, choices: readonly string[]): (value: string) => string {
  return (value) => {
    const wanted = value.trim().toLowerCase();
    const found = choices.find((c) => c.toLowerCase() === wanted);
    if (found === undefined) throw bad(key, value, `expected ${choices.join(' or ')}`);
    return found;
  };
}

function integer(key: string, min: number, max: number, extra = ''): (value: string) => string {
  return (value) => {
    const text = value.trim();
    if (!/^-?\d{1,16}$/.test(text)) throw bad(key, value, `expected a whole number from ${min} to ${max}${extra}`);
    const n = Number(text);
    if (n < min || n > max) throw bad(key, value, `expected a whole number from ${min} to ${max}${extra}`);
    return String(n); // drops leading zeros; "-0" becomes "0"
  };
}

function textValue(key: string): (value: string) => string {
  return (value) => {
    // §6.1 text-value: UTF-8 without NUL; we also refuse control characters and unpaired surrogates (not UTF-8).
    if (/[\u0000-\u001f\u007f]/.test(value)) throw bad(key, value, 'control characters are not allowed');
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
      throw bad(key, value, 'not valid Unicode text');
    }
    if (Buffer.byteLength(value) > MAX_TEXT_BYTES) throw bad(key, value, `longer than ${MAX_TEXT_BYTES} bytes (RFC 7143 §6.1)`);
    return value;
  };
}

function digests(key: string): (value: string) => string {
  return (value) => {
    const items = value.split(',').map((item) => item.trim().toLowerCase());
    const names = items.map((item): DigestName => {
      if (item === 'none') return 'None';
      if (item === 'crc32c') return 'CRC32C';
      throw bad(key, value, 'expected None, CRC32C, "CRC32C,None" or "None,CRC32C" (RFC 7143 §13.1)');
    });
    if (new Set(names).size !== names.length) throw bad(key, value, 'a digest is listed twice');
    return names.join(',');
  };
}

/** open-iscsi's chap_algs spellings, by CHAP_A number. */
const CHAP_NAMES: ReadonlyMap<number, string> = new Map([
  [5, 'MD5'],
  [6, 'SHA1'],
  [7, 'SHA256'],
  [8, 'SHA3-256'],
]);

function chapAlgorithms(key: string): (value: string) => string {
  return (value) => {
    try {
      return parseChapAlgorithms(value).map((id) => CHAP_NAMES.get(id) ?? String(id)).join(',');
    } catch (error) {
      if (error instanceof ArgumentError) {
        throw bad(key, value, `expected a list of ${[...CHAP_NAMES.values()].join(', ')} (RFC 7143 §12.1.3 CHAP_A)`);
      }
      throw error;
    }
  };
}

function rangeOf(textKey: string): { min: number; max: number } {
  const range = KEYS.get(textKey)?.range;
  if (range === undefined) throw new Error(`no range for ${textKey}`); // programming error at module load
  return range;
}

const yesNo = (flag: boolean): string => (flag ? 'Yes' : 'No');

function numberKey(textKey: string, section: string, fallback: number, description: string): [string, NodeKeyDefinition] {
  const { min, max } = rangeOf(textKey);
  const name = textKey === 'MaxRecvDataSegmentLength' ? `node.conn[0].iscsi.${textKey}` : `node.session.iscsi.${textKey}`;
  return [name, { default: String(fallback), validate: integer(name, min, max, ` (RFC 7143 §${section})`), description }];
}

const P = DEFAULT_PROPOSAL;

const ENTRIES: Array<[string, NodeKeyDefinition]> = [
  [
    'node.startup',
    { default: 'manual', validate: oneOf('node.startup', ['manual', 'automatic']), description: 'automatic: the daemon logs in to this node when it starts' },
  ],
  [
    'node.session.auth.authmethod',
    { default: 'None', validate: oneOf('node.session.auth.authmethod', ['None', 'CHAP']), description: 'AuthMethod offered at login (RFC 7143 §12)' },
  ],
  [
    'node.session.auth.username',
    { default: '', validate: textValue('node.session.auth.username'), description: 'CHAP_N we send; the secret is in the secret store' },
  ],
  [
    'node.session.auth.username_in',
    { default: '', validate: textValue('node.session.auth.username_in'), description: 'CHAP_N the target must send back (mutual CHAP); empty: one-way CHAP' },
  ],
  [
    'node.session.auth.chap_algs',
    { default: 'MD5', validate: chapAlgorithms('node.session.auth.chap_algs'), description: 'CHAP_A algorithms offered, in order of preference (RFC 7143 §12.1.3)' },
  ],
  [
    'node.session.timeo.replacement_timeout',
    {
      default: '120',
      validate: integer('node.session.timeo.replacement_timeout', -1, MAX_TIMER_SECONDS, '; -1 waits forever'),
      description: 'seconds commands wait for a lost connection to come back; 0 fails them at once, -1 never',
    },
  ],
  [
    'node.conn[0].timeo.noop_out_interval',
    { default: '5', validate: integer('node.conn[0].timeo.noop_out_interval', 0, 3600), description: 'seconds of silence before a NOP-Out ping; 0 never pings' },
  ],
  [
    'node.conn[0].timeo.noop_out_timeout',
    { default: '5', validate: integer('node.conn[0].timeo.noop_out_timeout', 1, 3600), description: 'seconds a ping may go unanswered before the connection is dropped' },
  ],
  [
    'node.conn[0].timeo.login_timeout',
    { default: '15', validate: integer('node.conn[0].timeo.login_timeout', 1, 3600), description: 'seconds a login may take' },
  ],
  [
    'node.conn[0].timeo.logout_timeout',
    {
      default: String(DEFAULT_TIMEOUTS.logoutMs / 1000),
      validate: integer('node.conn[0].timeo.logout_timeout', 1, 3600),
      description: 'seconds a logout may take (SYNCHRONIZE CACHE and Logout); then the session is dropped',
    },
  ],
  [
    'node.session.iscsi.InitialR2T',
    { default: yesNo(P.initialR2T), validate: oneOf('node.session.iscsi.InitialR2T', ['Yes', 'No']), description: 'offer InitialR2T (RFC 7143 §13.10)' },
  ],
  [
    'node.session.iscsi.ImmediateData',
    { default: yesNo(P.immediateData), validate: oneOf('node.session.iscsi.ImmediateData', ['Yes', 'No']), description: 'offer ImmediateData (RFC 7143 §13.11)' },
  ],
  numberKey('FirstBurstLength', '13.14', P.firstBurstLength, 'unsolicited data per command, bytes; at most MaxBurstLength'),
  numberKey('MaxBurstLength', '13.13', P.maxBurstLength, 'data per sequence, bytes'),
  numberKey('MaxOutstandingR2T', '13.17', P.maxOutstandingR2T, 'R2Ts in flight per task'),
  [
    'node.conn[0].iscsi.HeaderDigest',
    { default: P.headerDigest.join(','), validate: digests('node.conn[0].iscsi.HeaderDigest'), description: 'header digests offered, in order (RFC 7143 §13.1)' },
  ],
  [
    'node.conn[0].iscsi.DataDigest',
    { default: P.dataDigest.join(','), validate: digests('node.conn[0].iscsi.DataDigest'), description: 'data digests offered, in order (RFC 7143 §13.1)' },
  ],
  numberKey('MaxRecvDataSegmentLength', '13.12', P.maxRecvDataSegmentLength, 'largest data segment we accept, bytes'),
  [
    'node.session.queue_depth',
    { default: String(DEFAULT_QUEUE_DEPTH), validate: integer('node.session.queue_depth', 1, MAX_QUEUE_DEPTH), description: 'SCSI commands in flight at most' },
  ],
];

export const NODE_KEYS: ReadonlyMap<string, NodeKeyDefinition> = new Map(ENTRIES.map(([k, d]) => [k, Object.freeze(d)]));

// Keys that would hold a secret (isSecretKey, the contract's rule) are refused everywhere, so no API of the node
// database can write one.
export { isSecretKey };

function secretKeyError(key: string): ArgumentError {
  return new ArgumentError(
    'ISCSI_BAD_ARGUMENT',
    `${key.length > 64 ? `${key.slice(0, 64)}…` : key} is a secret, not a node setting: it is never written to the node database`,
    { hint: 'store CHAP secrets in the secret store (the keychain), which the daemon reads at login' },
  );
}

/** The definition of `key`, or ArgumentError: secret keys say where secrets go, unknown keys name close matches. */
export function nodeKey(key: string): NodeKeyDefinition {
  if (typeof key !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'a setting name must be a string');
  if (isSecretKey(key)) throw secretKeyError(key);
  const definition = NODE_KEYS.get(key);
  if (definition !== undefined) return definition;
  const close = closeMatches(key);
  throw new ArgumentError('ISCSI_BAD_ARGUMENT', `unknown node setting ${quote(key)}${close.length > 0 ? `; did you mean ${close.join(', ')}?` : ''}`, {
    hint: `node settings are: ${[...NODE_KEYS.keys()].join(', ')}`,
  });
}

/** The canonical text for `key` = `value`, or ArgumentError. The value is never echoed for a secret key. */
export function validateSetting(key: string, value: string): string {
  const definition = nodeKey(key);
  if (typeof value !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `the value of ${key} must be a string`);
  return definition.validate(value);
}

/** Every key with its value: the stored ones over the defaults, in NODE_KEYS order. */
export function withDefaults(stored: Readonly<NodeSettings>): NodeSettings {
  const settings: NodeSettings = {};
  for (const [key, definition] of NODE_KEYS) settings[key] = Object.hasOwn(stored, key) ? (stored[key] as string) : definition.default;
  return settings;
}

/** Rules between keys, checked whenever one changes. */
export function checkConsistency(settings: Readonly<NodeSettings>): void {
  const all = withDefaults(settings);
  const first = Number(all['node.session.iscsi.FirstBurstLength']);
  const max = Number(all['node.session.iscsi.MaxBurstLength']);
  if (first > max) {
    throw new ArgumentError(
      'ISCSI_BAD_ARGUMENT',
      `node.session.iscsi.FirstBurstLength (${first}) must not exceed node.session.iscsi.MaxBurstLength (${max}) (RFC 7143 §13.14)`,
    );
  }
}

/** Maps settings (missing keys take their defaults; every value is validated again) to session options. */
export function sessionSettingsOf(stored: Readonly<NodeSettings>): NodeSessionSettings {
  const s: NodeSettings = {};
  for (const [key, value] of Object.entries(withDefaults(stored))) s[key] = validateSetting(key, value);
  checkConsistency(s);
  const num = (key: string): number => Number(s[key]);
  const seconds = (key: string): number => num(key) * 1000;
  const digestList = (key: string): DigestName[] => (s[key] as string).split(',') as DigestName[];
  const authMethod = s['node.session.auth.authmethod'] === 'CHAP' ? 'CHAP' : 'None';
  const result: NodeSessionSettings = {
    proposal: {
      headerDigest: digestList('node.conn[0].iscsi.HeaderDigest'),
      dataDigest: digestList('node.conn[0].iscsi.DataDigest'),
      maxRecvDataSegmentLength: num('node.conn[0].iscsi.MaxRecvDataSegmentLength'),
      maxBurstLength: num('node.session.iscsi.MaxBurstLength'),
      firstBurstLength: num('node.session.iscsi.FirstBurstLength'),
      initialR2T: s['node.session.iscsi.InitialR2T'] === 'Yes',
      immediateData: s['node.session.iscsi.ImmediateData'] === 'Yes',
      maxOutstandingR2T: num('node.session.iscsi.MaxOutstandingR2T'),
    },
    replacementTimeoutMs: num('node.session.timeo.replacement_timeout') < 0 ? -1 : seconds('node.session.timeo.replacement_timeout'),
    noopOutIntervalMs: seconds('node.conn[0].timeo.noop_out_interval'),
    noopOutTimeoutMs: seconds('node.conn[0].timeo.noop_out_timeout'),
    loginTimeoutMs: seconds('node.conn[0].timeo.login_timeout'),
    logoutTimeoutMs: seconds('node.conn[0].timeo.logout_timeout'),
    queueDepth: num('node.session.queue_depth'),
    authMethod,
  };
  if (authMethod === 'CHAP') {
    const username = s['node.session.auth.username'];
    const usernameIn = s['node.session.auth.username_in'];
    if (username) result.username = username;
    if (usernameIn) result.usernameIn = usernameIn;
    result.chapAlgorithms = parseChapAlgorithms(s['node.session.auth.chap_algs'] as string);
  }
  return result;
}

/** Up to three known keys near `key`: same last segment, a containing key, or a small edit distance. */
function closeMatches(key: string): string[] {
  const wanted = key.toLowerCase();
  const tail = lastSegment(wanted);
  const scored: Array<{ key: string; score: number }> = [];
  for (const known of NODE_KEYS.keys()) {
    const lower = known.toLowerCase();
    let score = distance(wanted.slice(0, 96), lower);
    if (tail.length >= 3 && (lastSegment(lower) === tail || lower.includes(wanted))) score = Math.min(score, 1);
    if (score <= Math.max(3, Math.floor(known.length / 5))) scored.push({ key: known, score });
  }
  return scored.sort((a, b) => a.score - b.score).slice(0, 3).map((s) => s.key);
}

function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('.') + 1);
}

/** Levenshtein distance (keys are short; the input is clipped by the caller). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
