/**
 * The standard iSCSI text keys as data: one entry per key of RFC 7143 §13 (operational), §12 (security: AuthMethod,
 * CHAP, SRP, Kerberos) and the obsoleted marker keys of §13.25, so that every standard key is recognised and
 * answered by rule rather than by special case.
 */

import { MAX_SIMPLE_VALUE_BYTES, type NumericRange } from './values.js';

/**
 * How the outcome is reached (§6.2): `declarative` needs no answer; `list` takes the first acceptable item of the
 * offer (§6.2.1); the numerical and boolean kinds are the §13 "Result function" of the key (§6.2.2).
 * `numeric-range` is the obsoleted OFMarkInt/IFMarkInt form (§13.25), always answered Reject.
 */
export type KeyKind =
  | 'declarative'
  | 'list'
  | 'numerical-min'
  | 'numerical-max'
  | 'boolean-and'
  | 'boolean-or'
  | 'numeric-range';

/** §6.1 value types, plus the shapes a few keys define for themselves. */
export type ValueType =
  | 'list-of-values'
  | 'numerical-value'
  | 'binary-value'
  | 'large-binary-value'
  | 'boolean-value'
  | 'text-value'
  | 'iscsi-name-value'
  | 'iscsi-local-name-value'
  | 'target-address'
  | 'numeric-range';

/** §13 "Use": LO leading only, IO initialize only (login), FFPO full feature phase only, ALL anywhere. */
export type KeyUse = 'LO' | 'IO' | 'FFPO' | 'ALL';

export interface KeyDefinition {
  readonly name: string;
  /** Where RFC 7143 defines the key. */
  readonly section: string;
  readonly kind: KeyKind;
  readonly valueType: ValueType;
  /** Admissible numbers, for numerical and binary values. */
  readonly range?: NumericRange;
  /** The list items RFC 7143 defines (others may exist as extensions). */
  readonly values?: readonly string[];
  /** The RFC default, as wire text; absent where the RFC gives none. */
  readonly default?: string;
  /** §13 "Scope": SW → session, CO → connection. */
  readonly scope: 'session' | 'connection';
  readonly use: KeyUse;
  /** §13 "Senders". TargetName is "Initiator and target", but the target only sends it in SendTargets responses. */
  readonly senders: 'initiator' | 'target' | 'both';
  /** §6.3: security keys only in SecurityNegotiation, Any-Stage keys in either stage, the rest operational. */
  readonly phase: 'security' | 'operational' | 'any';
  /** Use LO: only on the leading connection of a session. */
  readonly leadingOnly: boolean;
  /** False for keys marked "Irrelevant when: SessionType=Discovery" or that make no sense there (§13). */
  readonly discoveryRelevant: boolean;
  /** §13.14: FirstBurstLength is Irrelevant when InitialR2T=Yes and ImmediateData=No. */
  readonly irrelevantWhen?: 'no-unsolicited-data';
  /**
   * Longest value accepted, in bytes of its representation. For a list-of-values the limit applies to each
   * comma-separated item (§6.1: the 255-byte limit is per simple-value, "not including the delimiter").
   */
  readonly maxValueBytes: number;
  /** §6.2: keys that may legitimately appear more than once (several TargetAddress in a SendTargets response). */
  readonly repeatable?: boolean;
  /** §13.25: obsoleted by RFC 7143; still recognised so they can be answered Reject. */
  readonly obsolete?: boolean;
}

const LENGTH_RANGE: NumericRange = { min: 512, max: 2 ** 24 - 1 };
/** §12.1.3 / §12.1.2: CHAP_C, CHAP_R and the SRP binaries are at most 1024 bytes: "0x" + 2048 hex digits. */
const LARGE_BINARY_1024 = 2 + 2 * 1024;
/** §12.1.1: KRB_AP_REQ/KRB_AP_REP are at most 65536 bytes of binary, hex-encoded. */
const LARGE_BINARY_65536 = 2 + 2 * 65536;
/** §13.8: TargetAddress=domainname[:port][,portal-group-tag] — a 255-byte name plus ":65535,65535". */
const TARGET_ADDRESS_MAX = 255 + ':65535,65535'.length;

type Entry = Omit<KeyDefinition, 'leadingOnly' | 'maxValueBytes'> & { maxValueBytes?: number };

function define(entry: Entry): KeyDefinition {
  return { maxValueBytes: MAX_SIMPLE_VALUE_BYTES, ...entry, leadingOnly: entry.use === 'LO' };
}

const security = (name: string, section: string, rest: Partial<Entry> = {}): KeyDefinition =>
  define({
    name,
    section,
    kind: 'declarative',
    valueType: 'text-value',
    scope: 'connection',
    use: 'IO',
    senders: 'both',
    phase: 'security',
    discoveryRelevant: true,
    ...rest,
  });

const DEFINITIONS: readonly KeyDefinition[] = [
  // §12: security negotiation. The login layer runs these; they are listed so they are recognised everywhere.
  security('AuthMethod', '12.1', { kind: 'list', valueType: 'list-of-values', values: ['KRB5', 'SRP', 'CHAP', 'None'] }),
  security('KRB_AP_REQ', '12.1.1', { valueType: 'large-binary-value', senders: 'initiator', maxValueBytes: LARGE_BINARY_65536 }),
  security('KRB_AP_REP', '12.1.1', { valueType: 'large-binary-value', senders: 'target', maxValueBytes: LARGE_BINARY_65536 }),
  security('SRP_U', '12.1.2', { senders: 'initiator' }),
  security('TargetAuth', '12.1.2', { valueType: 'boolean-value', senders: 'initiator' }),
  security('SRP_GROUP', '12.1.2', { kind: 'list', valueType: 'list-of-values', senders: 'target' }),
  security('SRP_s', '12.1.2', { valueType: 'large-binary-value', senders: 'target', maxValueBytes: LARGE_BINARY_1024 }),
  security('SRP_A', '12.1.2', { valueType: 'large-binary-value', senders: 'initiator', maxValueBytes: LARGE_BINARY_1024 }),
  security('SRP_B', '12.1.2', { valueType: 'large-binary-value', senders: 'target', maxValueBytes: LARGE_BINARY_1024 }),
  security('SRP_M', '12.1.2', { valueType: 'large-binary-value', senders: 'initiator', maxValueBytes: LARGE_BINARY_1024 }),
  security('SRP_HM', '12.1.2', { valueType: 'large-binary-value', senders: 'target', maxValueBytes: LARGE_BINARY_1024 }),
  security('CHAP_A', '12.1.3', { kind: 'list', valueType: 'list-of-values' }),
  security('CHAP_I', '12.1.3', { valueType: 'numerical-value', range: { min: 0, max: 255 } }),
  security('CHAP_C', '12.1.3', { valueType: 'large-binary-value', maxValueBytes: LARGE_BINARY_1024 }),
  security('CHAP_N', '12.1.3'),
  security('CHAP_R', '12.1.3', { valueType: 'large-binary-value', maxValueBytes: LARGE_BINARY_1024 }),

  // §13: operational keys.
  define({
    name: 'HeaderDigest', section: '13.1', kind: 'list', valueType: 'list-of-values', values: ['CRC32C', 'None'],
    default: 'None', scope: 'connection', use: 'IO', senders: 'both', phase: 'operational', discoveryRelevant: true,
  }),
  define({
    name: 'DataDigest', section: '13.1', kind: 'list', valueType: 'list-of-values', values: ['CRC32C', 'None'],
    default: 'None', scope: 'connection', use: 'IO', senders: 'both', phase: 'operational', discoveryRelevant: true,
  }),
  define({
    name: 'MaxConnections', section: '13.2', kind: 'numerical-min', valueType: 'numerical-value',
    range: { min: 1, max: 65535 }, default: '1', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: false,
  }),
  define({
    name: 'SendTargets', section: '13.3', kind: 'declarative', valueType: 'text-value', scope: 'session', use: 'FFPO',
    senders: 'initiator', phase: 'operational', discoveryRelevant: true,
  }),
  define({
    name: 'TargetName', section: '13.4', kind: 'declarative', valueType: 'iscsi-name-value', scope: 'session',
    use: 'IO', senders: 'both', phase: 'any', discoveryRelevant: true, repeatable: true,
  }),
  define({
    name: 'InitiatorName', section: '13.5', kind: 'declarative', valueType: 'iscsi-name-value', scope: 'session',
    use: 'IO', senders: 'initiator', phase: 'any', discoveryRelevant: true,
  }),
  define({
    name: 'TargetAlias', section: '13.6', kind: 'declarative', valueType: 'iscsi-local-name-value', scope: 'session',
    use: 'ALL', senders: 'target', phase: 'any', discoveryRelevant: true,
  }),
  define({
    name: 'InitiatorAlias', section: '13.7', kind: 'declarative', valueType: 'iscsi-local-name-value',
    scope: 'session', use: 'ALL', senders: 'initiator', phase: 'any', discoveryRelevant: true,
  }),
  define({
    name: 'TargetAddress', section: '13.8', kind: 'declarative', valueType: 'target-address', scope: 'session',
    use: 'ALL', senders: 'target', phase: 'any', discoveryRelevant: true, repeatable: true,
    maxValueBytes: TARGET_ADDRESS_MAX,
  }),
  define({
    name: 'TargetPortalGroupTag', section: '13.9', kind: 'declarative', valueType: 'binary-value',
    range: { min: 0, max: 65535 }, scope: 'session', use: 'IO', senders: 'target', phase: 'any',
    discoveryRelevant: true,
  }),
  define({
    name: 'InitialR2T', section: '13.10', kind: 'boolean-or', valueType: 'boolean-value', default: 'Yes',
    scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'ImmediateData', section: '13.11', kind: 'boolean-and', valueType: 'boolean-value', default: 'Yes',
    scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'MaxRecvDataSegmentLength', section: '13.12', kind: 'declarative', valueType: 'numerical-value',
    range: LENGTH_RANGE, default: '8192', scope: 'connection', use: 'ALL', senders: 'both', phase: 'operational',
    discoveryRelevant: true,
  }),
  define({
    name: 'MaxBurstLength', section: '13.13', kind: 'numerical-min', valueType: 'numerical-value', range: LENGTH_RANGE,
    default: '262144', scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'FirstBurstLength', section: '13.14', kind: 'numerical-min', valueType: 'numerical-value',
    range: LENGTH_RANGE, default: '65536', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: false, irrelevantWhen: 'no-unsolicited-data',
  }),
  define({
    name: 'DefaultTime2Wait', section: '13.15', kind: 'numerical-max', valueType: 'numerical-value',
    range: { min: 0, max: 3600 }, default: '2', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: true,
  }),
  define({
    name: 'DefaultTime2Retain', section: '13.16', kind: 'numerical-min', valueType: 'numerical-value',
    range: { min: 0, max: 3600 }, default: '20', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: true,
  }),
  define({
    name: 'MaxOutstandingR2T', section: '13.17', kind: 'numerical-min', valueType: 'numerical-value',
    range: { min: 1, max: 65535 }, default: '1', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: false,
  }),
  define({
    name: 'DataPDUInOrder', section: '13.18', kind: 'boolean-or', valueType: 'boolean-value', default: 'Yes',
    scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'DataSequenceInOrder', section: '13.19', kind: 'boolean-or', valueType: 'boolean-value', default: 'Yes',
    scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'ErrorRecoveryLevel', section: '13.20', kind: 'numerical-min', valueType: 'numerical-value',
    range: { min: 0, max: 2 }, default: '0', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: true,
  }),
  define({
    name: 'SessionType', section: '13.21', kind: 'declarative', valueType: 'text-value',
    values: ['Discovery', 'Normal'], default: 'Normal', scope: 'session', use: 'LO', senders: 'initiator',
    phase: 'any', discoveryRelevant: true,
  }),
  define({
    name: 'TaskReporting', section: '13.23', kind: 'list', valueType: 'list-of-values',
    values: ['RFC3720', 'ResponseFence', 'FastAbort'], default: 'RFC3720', scope: 'session', use: 'LO',
    senders: 'both', phase: 'operational', discoveryRelevant: false,
  }),
  define({
    name: 'iSCSIProtocolLevel', section: '13.24', kind: 'numerical-min', valueType: 'numerical-value',
    range: { min: 0, max: 31 }, default: '1', scope: 'session', use: 'LO', senders: 'both', phase: 'operational',
    discoveryRelevant: false,
  }),
  // §13.25: obsoleted keys, answered Reject when a peer still proposes them.
  ...(['IFMarker', 'OFMarker'] as const).map((name) =>
    define({
      name, section: '13.25', kind: 'boolean-and', valueType: 'boolean-value', default: 'No', scope: 'connection',
      use: 'IO', senders: 'both', phase: 'operational', discoveryRelevant: true, obsolete: true,
    }),
  ),
  ...(['IFMarkInt', 'OFMarkInt'] as const).map((name) =>
    define({
      name, section: '13.25', kind: 'numeric-range', valueType: 'numeric-range', range: { min: 1, max: 65535 },
      default: '2048', scope: 'connection', use: 'IO', senders: 'both', phase: 'operational', discoveryRelevant: true,
      obsolete: true,
    }),
  ),
  // §13.26 (from RFC 4850): the one standard public extension key; declarative, so it needs no answer.
  define({
    name: 'X#NodeArchitecture', section: '13.26', kind: 'declarative', valueType: 'list-of-values', default: 'None',
    scope: 'session', use: 'LO', senders: 'both', phase: 'operational', discoveryRelevant: true,
  }),
];

export const KEYS: ReadonlyMap<string, KeyDefinition> = new Map(DEFINITIONS.map((d) => [d.name, d]));
