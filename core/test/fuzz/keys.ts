/**
 * key=value material for the text, negotiation and login targets (RFC 7143 §6, §12, §13): a well-behaved target's
 * answers to an offer (each admissible under the key's result function, so the outcome is known in advance), pair
 * and byte mutations of such text, and values that sit on the edges of the §6.1 syntax.
 */

import type { OperationalParameters, OperationalProposal, TextPair } from '../../src/index.js';
import { DEFAULT_PROPOSAL } from '../../src/text/negotiation.js';
import { Finding, type Core } from './engine.js';
import type { Rng } from './prng.js';

const LENGTH_MAX = 0xffffff;

/** Values on the edges of §6.1: numbers around the ranges and 2^64, reserved answers, bad booleans, odd encodings. */
export const EDGE_VALUES: readonly string[] = [
  '', ' ', '0', '1', '2', '511', '512', '8192', '65535', '65536', '262144', '16777215', '16777216', '3600', '3601',
  '18446744073709551615', '18446744073709551616', '99999999999999999999999', '00000000000000000512', '-1', '+1', '1.5',
  '1e3', ' 1', '1 ', '0x', '0x0', '0x200', '0X200', '0xFFFFFF', '0x1000000', '0xFFFFFFFFFFFFFFFF', '0x10000000000000000',
  '0b', '0bAA==', '0bAAAA', '0bAQ==', '0b////', '0b=', 'Yes', 'No', 'yes', 'NO', 'Yes,No', 'None', 'CRC32C', 'crc32c',
  'CRC32C,None', 'None,CRC32C', 'CRC32C,CRC32C', 'None,', ',None', ',', 'Reject', 'Irrelevant', 'NotUnderstood',
  'RFC3720', 'FastAbort', 'ResponseFence,FastAbort', 'CHAP', 'CHAP,None', 'KRB5,SRP', 'Normal', 'Discovery', '5', '5,7',
  '7', '255', '256', '0x' + '0'.repeat(32), '0x' + 'ab'.repeat(1025), 'x'.repeat(255), 'x'.repeat(256), '\u00e9t\u00e9',
  '\ud83d\ude00', '10.0.0.1:3260,1', '[::1]:3260,1', 'host:0', 'host:65536', 'host,70000',
];

const KNOWN_KEYS = [
  'HeaderDigest', 'DataDigest', 'MaxConnections', 'InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength', 'MaxBurstLength',
  'FirstBurstLength', 'DefaultTime2Wait', 'DefaultTime2Retain', 'MaxOutstandingR2T', 'DataPDUInOrder', 'DataSequenceInOrder',
  'ErrorRecoveryLevel', 'TaskReporting', 'iSCSIProtocolLevel', 'TargetAlias', 'TargetAddress', 'TargetPortalGroupTag',
  'TargetName', 'InitiatorName', 'InitiatorAlias', 'SessionType', 'SendTargets', 'AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C',
  'CHAP_N', 'CHAP_R', 'SRP_U', 'KRB_AP_REP', 'IFMarker', 'OFMarker', 'IFMarkInt', 'OFMarkInt', 'X#NodeArchitecture',
];

const ODD_KEYS = [
  'X-com.example.fuzz', 'X#Fuzz', 'FutureKey', 'headerdigest', 'a', 'A'.repeat(63), 'A'.repeat(64), '', '1abc', 'X-', 'X#',
  'Key With Space', 'k\u00e9y', 'A=B', 'Max-Recv',
];

export function randomValue(r: Rng): string {
  return r.weighted<() => string>([
    [6, () => r.pick(EDGE_VALUES)],
    [2, () => String(r.int(0x2000000))],
    [1, () => `0x${r.u32().toString(16)}`],
    [1, () => r.bytes(r.int(12)).toString('latin1')],
    [1, () => r.bytes(r.int(40)).toString('base64')],
  ])();
}

export function randomKey(r: Rng): string {
  return r.bool(0.8) ? r.pick(KNOWN_KEYS) : r.pick(ODD_KEYS);
}

export function randomPairs(r: Rng, max = 10): TextPair[] {
  return Array.from({ length: r.int(max + 1) }, () => [randomKey(r), randomValue(r)] as const);
}

/** One change to a list of pairs: a value, a key, a duplicate, a drop, a swap, an insertion. */
export function mutatePairs(r: Rng, input: readonly TextPair[]): TextPair[] {
  const pairs = [...input];
  const i = pairs.length === 0 ? 0 : r.int(pairs.length);
  const at = pairs[i];
  const kind = at === undefined ? 'insert' : r.pick(['value', 'value', 'value', 'number', 'key', 'duplicate', 'drop', 'swap', 'insert', 'long'] as const);
  switch (kind) {
    case 'value':
      pairs[i] = [at![0], randomValue(r)];
      break;
    case 'number': {
      const n = Number(at![1]);
      pairs[i] = [at![0], Number.isFinite(n) ? String(r.pick([n - 1, n + 1, n * 2, 0, 2 ** 24, 2 ** 32, 2 ** 53 + 1])) : randomValue(r)];
      break;
    }
    case 'key':
      pairs[i] = [randomKey(r), at![1]];
      break;
    case 'duplicate':
      pairs.splice(r.int(pairs.length + 1), 0, r.bool(0.5) ? at! : [at![0], randomValue(r)]);
      break;
    case 'drop':
      pairs.splice(i, 1);
      break;
    case 'swap': {
      const j = r.int(pairs.length);
      pairs[i] = pairs[j]!;
      pairs[j] = at!;
      break;
    }
    case 'insert':
      pairs.splice(r.int(pairs.length + 1), 0, [randomKey(r), randomValue(r)]);
      break;
    case 'long':
      pairs[i] = [at![0], r.pick(['9', 'a', ',', '0x0']).repeat(r.pick([254, 255, 256, 1000, 2050, 2051]))];
      break;
  }
  return pairs;
}

const TEXT_BYTES = [0x00, 0x3d, 0x2c, 0x41, 0x23, 0x20, 0x2d, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];

/** One byte-level change to key=value text: bytes set to separators and broken UTF-8, cut, doubled, or stripped. */
export function mutateTextBytes(r: Rng, input: Buffer): Buffer {
  const b = Buffer.from(input);
  if (b.length === 0) return Buffer.from(r.pick(['A=1', 'A', '=', '\0', 'A=\0', '=1\0']), 'latin1');
  const i = r.int(b.length);
  switch (r.pick(['flip', 'byte', 'byte', 'delete', 'insert', 'truncate', 'strip-nul', 'add-nuls', 'duplicate'] as const)) {
    case 'flip':
      b[i] = b[i]! ^ (1 << r.int(8));
      return b;
    case 'byte':
      b[i] = r.pick(TEXT_BYTES);
      return b;
    case 'delete':
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + r.range(1, 8)))]);
    case 'insert':
      return Buffer.concat([b.subarray(0, i), Buffer.from(Array.from({ length: r.range(1, 4) }, () => r.pick(TEXT_BYTES))), b.subarray(i)]);
    case 'truncate':
      return b.subarray(0, i);
    case 'strip-nul': {
      let end = b.length;
      while (end > 0 && b[end - 1] === 0) end--;
      return b.subarray(0, end);
    }
    case 'add-nuls':
      return Buffer.concat([b, Buffer.alloc(r.range(1, 6))]);
    case 'duplicate': {
      const end = Math.min(b.length, i + r.range(1, 80));
      return Buffer.concat([b.subarray(0, end), b.subarray(i, end), b.subarray(end)]);
    }
  }
}

/** Realistic text: what targets send in Login and Text Responses, long CHAP values and SendTargets included. */
export function realisticPairs(r: Rng): TextPair[] {
  return r.weighted<() => TextPair[]>([
    [
      4,
      () => [
        ['HeaderDigest', r.pick(['None', 'CRC32C'])],
        ['DataDigest', r.pick(['None', 'CRC32C'])],
        ['MaxRecvDataSegmentLength', String(r.range(512, LENGTH_MAX))],
        ['MaxBurstLength', String(r.range(512, LENGTH_MAX))],
        ['FirstBurstLength', String(r.range(512, 262144))],
        ['InitialR2T', r.pick(['Yes', 'No'])],
        ['ImmediateData', r.pick(['Yes', 'No'])],
        ['TargetAlias', 'fuzz target \u00e9'],
        ['TargetPortalGroupTag', String(r.int(65536))],
      ],
    ],
    [
      2,
      () => [
        ['CHAP_A', r.pick(['5', '7'])],
        ['CHAP_I', String(r.int(256))],
        ['CHAP_C', r.bool(0.5) ? `0x${r.bytes(r.pick([16, 64, 1024])).toString('hex')}` : `0b${r.bytes(r.pick([16, 1024])).toString('base64')}`],
      ],
    ],
    [
      2,
      () =>
        Array.from({ length: r.range(1, 6) }).flatMap((_, t): TextPair[] => [
          ['TargetName', `iqn.2026-11.io.example:t${t}`],
          ['TargetAddress', `10.0.${t}.1:3260,1`],
          ['TargetAddress', `[fe80::${t}]:3260,2`],
        ]),
    ],
    [2, () => randomPairs(r)],
  ])();
}

/** A valid operational proposal (what an initiator may configure), from the edges of each range. */
export function randomProposal(r: Rng): OperationalProposal {
  if (r.bool(0.3)) return {};
  const maxBurstLength = r.pick([512, 65536, 262144, 1048576, LENGTH_MAX]);
  const digests = () => r.pick([['None'], ['CRC32C'], ['CRC32C', 'None'], ['None', 'CRC32C']] as const).slice();
  const errorRecoveryLevel = r.pick([0, 0, 0, 1, 2]);
  const dataSequenceInOrder = r.bool(0.8);
  return {
    headerDigest: digests(),
    dataDigest: digests(),
    maxRecvDataSegmentLength: r.pick([512, 8192, 65536, 262144, LENGTH_MAX]),
    maxBurstLength,
    firstBurstLength: Math.min(maxBurstLength, r.pick([512, 65536, 262144])),
    initialR2T: r.bool(),
    immediateData: r.bool(),
    // §13.19: with ErrorRecoveryLevel > 0 and DataSequenceInOrder, MaxOutstandingR2T must be 1.
    maxOutstandingR2T: errorRecoveryLevel > 0 && dataSequenceInOrder ? 1 : r.pick([1, 2, 8, 65535]),
    maxConnections: r.pick([1, 1, 4, 65535]),
    defaultTime2Wait: r.pick([0, 2, 3600]),
    defaultTime2Retain: r.pick([0, 20, 3600]),
    errorRecoveryLevel,
    dataPDUInOrder: r.bool(0.8),
    dataSequenceInOrder,
  };
}

/** What a conforming target answered, and the parameters the initiator must therefore end up with. */
export interface OfferAnswer {
  /** Answers to the offered keys plus the target's declarations, in offer order. */
  readonly pairs: TextPair[];
  readonly expected: Partial<OperationalParameters>;
}

/** An edge-biased integer in [min, max]. */
function within(r: Rng, min: number, max: number): number {
  if (max <= min) return min;
  return r.weighted<number>([
    [2, min],
    [3, max],
    [4, r.range(min, max)],
  ]);
}

/**
 * A conforming target's answer to `offered` (§6.2, the result function of each §13 key): list → one offered item;
 * Minimum → at most the offer; Maximum → at least it; AND offered No / OR offered Yes → the same, or no answer
 * (§6.2.2 lets the target omit it); FirstBurstLength never above the MaxBurstLength it chose (§13.14); MaxOutstandingR2T 1
 * whenever ErrorRecoveryLevel > 0 (§13.19). Adds the target's MaxRecvDataSegmentLength (§13.12) and, sometimes,
 * TargetPortalGroupTag and TargetAlias.
 */
export function answerOffer(r: Rng, offered: readonly TextPair[], sessionType: 'Normal' | 'Discovery'): OfferAnswer {
  const offer = new Map(offered);
  const chosen = new Map<string, string | undefined>();
  const num = (key: string) => Number(offer.get(key));
  const bool = (key: string, kind: 'and' | 'or'): string | undefined => {
    const o = offer.get(key);
    if (o === undefined) return undefined;
    // AND offered No, OR offered Yes: the outcome is decided; the answer may be left out (§6.2.2).
    if ((kind === 'and' && o === 'No') || (kind === 'or' && o === 'Yes')) return r.bool(0.3) ? undefined : o;
    return r.pick(['Yes', 'No']);
  };
  for (const [key, value] of offered) {
    switch (key) {
      case 'HeaderDigest':
      case 'DataDigest':
        chosen.set(key, r.pick(value.split(',')));
        break;
      case 'MaxConnections':
      case 'MaxOutstandingR2T':
        chosen.set(key, String(within(r, 1, num(key))));
        break;
      case 'MaxBurstLength':
        chosen.set(key, String(within(r, 512, num(key))));
        break;
      case 'DefaultTime2Wait':
        chosen.set(key, String(within(r, num(key), 3600)));
        break;
      case 'DefaultTime2Retain':
      case 'ErrorRecoveryLevel':
        chosen.set(key, String(within(r, 0, num(key))));
        break;
      case 'InitialR2T':
      case 'DataPDUInOrder':
      case 'DataSequenceInOrder':
        chosen.set(key, bool(key, 'or'));
        break;
      case 'ImmediateData':
        chosen.set(key, bool(key, 'and'));
        break;
      default:
        break; // FirstBurstLength below; MaxRecvDataSegmentLength is the initiator's declaration, not answered
    }
  }
  const final = (key: string, fallback: string): string => chosen.get(key) ?? offer.get(key) ?? fallback;
  if (offer.has('FirstBurstLength')) {
    const noUnsolicited = final('InitialR2T', 'Yes') === 'Yes' && final('ImmediateData', 'Yes') === 'No';
    const cap = Math.min(num('FirstBurstLength'), Number(final('MaxBurstLength', '262144')));
    chosen.set('FirstBurstLength', noUnsolicited && r.bool(0.3) ? 'Irrelevant' : String(within(r, 512, cap)));
  }
  if (Number(final('ErrorRecoveryLevel', '0')) > 0 && final('DataSequenceInOrder', 'Yes') === 'Yes' && offer.has('MaxOutstandingR2T')) {
    chosen.set('MaxOutstandingR2T', '1');
  }

  const pairs: TextPair[] = [];
  for (const [key] of offered) {
    const v = chosen.get(key);
    if (v !== undefined) pairs.push([key, v]);
  }
  const expected: Partial<OperationalParameters> = {};
  const targetMrdsl = r.weighted<number | undefined>([
    [1, undefined],
    [6, r.pick([512, 8192, 262144, LENGTH_MAX, r.range(512, LENGTH_MAX)])],
  ]);
  if (targetMrdsl !== undefined) pairs.splice(r.int(pairs.length + 1), 0, ['MaxRecvDataSegmentLength', String(targetMrdsl)]);
  expected.maxXmitDataSegmentLength = targetMrdsl ?? 8192;
  if (r.bool(0.3)) {
    const tag = r.int(65536);
    pairs.push(['TargetPortalGroupTag', String(tag)]);
    expected.targetPortalGroupTag = tag;
  }
  if (r.bool(0.2)) {
    pairs.push(['TargetAlias', 'fuzz \u00e9']);
    expected.targetAlias = 'fuzz \u00e9';
  }

  // The outcome the initiator must compute: the chosen value, else the offer (keys it decided alone).
  const n = (key: string) => (offer.has(key) ? Number(final(key, '')) : undefined);
  const b = (key: string) => (offer.has(key) ? final(key, '') === 'Yes' : undefined);
  const set = <K extends keyof OperationalParameters>(k: K, v: OperationalParameters[K] | undefined) => {
    if (v !== undefined) expected[k] = v;
  };
  if (offer.has('HeaderDigest')) expected.headerDigest = final('HeaderDigest', 'None') === 'CRC32C';
  if (offer.has('DataDigest')) expected.dataDigest = final('DataDigest', 'None') === 'CRC32C';
  set('maxBurstLength', n('MaxBurstLength'));
  if (chosen.get('FirstBurstLength') !== 'Irrelevant') set('firstBurstLength', n('FirstBurstLength'));
  set('initialR2T', b('InitialR2T'));
  set('immediateData', b('ImmediateData'));
  set('maxOutstandingR2T', n('MaxOutstandingR2T'));
  if (sessionType === 'Normal') set('maxConnections', n('MaxConnections'));
  set('defaultTime2Wait', n('DefaultTime2Wait'));
  set('defaultTime2Retain', n('DefaultTime2Retain'));
  set('errorRecoveryLevel', n('ErrorRecoveryLevel'));
  set('dataPDUInOrder', b('DataPDUInOrder'));
  set('dataSequenceInOrder', b('DataSequenceInOrder'));
  return { pairs, expected };
}

/** Differences between what negotiation produced and what the answers imply: empty when they agree. */
export function parameterMismatches(actual: OperationalParameters, expected: Partial<OperationalParameters>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(expected)) {
    const got = (actual as unknown as Record<string, unknown>)[k];
    if (got !== v) out.push(`${k}: got ${String(got)}, want ${String(v)}`);
  }
  return out;
}

/**
 * §13 invariants every negotiated result must satisfy, whatever the target said: `rules` (ranges, §13.14, §13.19, our
 * declared MaxRecvDataSegmentLength) and `offer` (the bounds our offer sets, on the keys we offered: Minimum never
 * above it, Maximum never below it, a digest only from our list; §6.2). Keys not offered keep their RFC defaults.
 */
export function parameterViolations(
  p: OperationalParameters,
  proposal: OperationalProposal,
  offered: ReadonlySet<string>,
): { rules: string[]; offer: string[] } {
  const rules: string[] = [];
  const offer: string[] = [];
  const intIn = (name: keyof OperationalParameters, min: number, max: number) => {
    const v = p[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) rules.push(`${name}=${String(v)} outside ${min}..${max}`);
  };
  intIn('maxXmitDataSegmentLength', 512, LENGTH_MAX);
  intIn('maxBurstLength', 512, LENGTH_MAX);
  intIn('firstBurstLength', 512, LENGTH_MAX);
  intIn('maxOutstandingR2T', 1, 65535);
  intIn('maxConnections', 1, 65535);
  intIn('defaultTime2Wait', 0, 3600);
  intIn('defaultTime2Retain', 0, 3600);
  intIn('errorRecoveryLevel', 0, 2);
  if (p.firstBurstLength > p.maxBurstLength) rules.push(`FirstBurstLength ${p.firstBurstLength} > MaxBurstLength ${p.maxBurstLength} (§13.14)`);
  if (p.maxRecvDataSegmentLength !== (proposal.maxRecvDataSegmentLength ?? 262144)) rules.push(`maxRecvDataSegmentLength ${p.maxRecvDataSegmentLength} is not what we declared`);
  if (p.errorRecoveryLevel > 0 && p.dataSequenceInOrder && p.maxOutstandingR2T !== 1) rules.push('MaxOutstandingR2T must be 1 (§13.19)');
  const cap = (name: keyof OperationalParameters, key: string, value: number | undefined) => {
    if (value !== undefined && offered.has(key) && (p[name] as number) > value) offer.push(`${name}=${String(p[name])} exceeds our offer ${value}`);
  };
  cap('maxBurstLength', 'MaxBurstLength', proposal.maxBurstLength);
  cap('maxOutstandingR2T', 'MaxOutstandingR2T', proposal.maxOutstandingR2T);
  cap('errorRecoveryLevel', 'ErrorRecoveryLevel', proposal.errorRecoveryLevel);
  cap('defaultTime2Retain', 'DefaultTime2Retain', proposal.defaultTime2Retain);
  if (offered.has('DefaultTime2Wait') && proposal.defaultTime2Wait !== undefined && p.defaultTime2Wait < proposal.defaultTime2Wait) {
    offer.push(`defaultTime2Wait=${p.defaultTime2Wait} below our offer ${proposal.defaultTime2Wait}`);
  }
  const digests = (name: 'headerDigest' | 'dataDigest') => {
    if (!offered.has(name === 'headerDigest' ? 'HeaderDigest' : 'DataDigest')) return;
    const list = proposal[name] ?? DEFAULT_PROPOSAL[name];
    if (p[name] && !list.includes('CRC32C')) offer.push(`${name} on although we offered only None`);
    if (!p[name] && !list.includes('None')) offer.push(`${name} off although we offered only CRC32C`);
  };
  digests('headerDigest');
  digests('dataDigest');
  return { rules, offer };
}

/** Throws the Finding for violations: rule breaks are new findings; offer breaks are the known one (engine.ts). */
export function checkViolations(v: { rules: string[]; offer: string[] }, what: string): void {
  if (v.rules.length > 0) throw new Finding(`${what} break the §13 rules: ${v.rules.join('; ')}`);
  if (v.offer.length > 0) throw new Finding(`${what} fall outside our offer: ${v.offer.join('; ')}`, { known: 'negotiated-value-outside-offer' });
}

/** The keys a Negotiator offers, as `core` would build them: the starting point of negotiator cases. */
export function offerOf(core: Core, sessionType: 'Normal' | 'Discovery', proposal: OperationalProposal): TextPair[] {
  return new core.Negotiator(sessionType, proposal).offer();
}
