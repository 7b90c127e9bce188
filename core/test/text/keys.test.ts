import { describe, expect, it } from 'vitest';
import { KEYS, type KeyDefinition } from '../../src/text/keys.js';
import { parseBoolean, parseNumericalValue, splitList } from '../../src/text/values.js';

// RFC 7143 §13, one row per operational key: Use, Senders, Scope, value range, default, result function, and
// whether the key says "Irrelevant when: SessionType=Discovery".
type Row = [
  name: string,
  kind: KeyDefinition['kind'],
  use: KeyDefinition['use'],
  scope: KeyDefinition['scope'],
  senders: KeyDefinition['senders'],
  range: [number, number] | undefined,
  defaultValue: string | undefined,
  discoveryRelevant: boolean,
];
const SECTION_13: Row[] = [
  ['HeaderDigest', 'list', 'IO', 'connection', 'both', undefined, 'None', true], // §13.1
  ['DataDigest', 'list', 'IO', 'connection', 'both', undefined, 'None', true], // §13.1
  ['MaxConnections', 'numerical-min', 'LO', 'session', 'both', [1, 65535], '1', false], // §13.2
  ['SendTargets', 'declarative', 'FFPO', 'session', 'initiator', undefined, undefined, true], // §13.3
  ['TargetName', 'declarative', 'IO', 'session', 'both', undefined, undefined, true], // §13.4
  ['InitiatorName', 'declarative', 'IO', 'session', 'initiator', undefined, undefined, true], // §13.5
  ['TargetAlias', 'declarative', 'ALL', 'session', 'target', undefined, undefined, true], // §13.6
  ['InitiatorAlias', 'declarative', 'ALL', 'session', 'initiator', undefined, undefined, true], // §13.7
  ['TargetAddress', 'declarative', 'ALL', 'session', 'target', undefined, undefined, true], // §13.8
  ['TargetPortalGroupTag', 'declarative', 'IO', 'session', 'target', [0, 65535], undefined, true], // §13.9
  ['InitialR2T', 'boolean-or', 'LO', 'session', 'both', undefined, 'Yes', false], // §13.10
  ['ImmediateData', 'boolean-and', 'LO', 'session', 'both', undefined, 'Yes', false], // §13.11
  ['MaxRecvDataSegmentLength', 'declarative', 'ALL', 'connection', 'both', [512, 2 ** 24 - 1], '8192', true], // §13.12
  ['MaxBurstLength', 'numerical-min', 'LO', 'session', 'both', [512, 2 ** 24 - 1], '262144', false], // §13.13
  ['FirstBurstLength', 'numerical-min', 'LO', 'session', 'both', [512, 2 ** 24 - 1], '65536', false], // §13.14
  ['DefaultTime2Wait', 'numerical-max', 'LO', 'session', 'both', [0, 3600], '2', true], // §13.15
  ['DefaultTime2Retain', 'numerical-min', 'LO', 'session', 'both', [0, 3600], '20', true], // §13.16
  ['MaxOutstandingR2T', 'numerical-min', 'LO', 'session', 'both', [1, 65535], '1', false], // §13.17
  ['DataPDUInOrder', 'boolean-or', 'LO', 'session', 'both', undefined, 'Yes', false], // §13.18
  ['DataSequenceInOrder', 'boolean-or', 'LO', 'session', 'both', undefined, 'Yes', false], // §13.19
  ['ErrorRecoveryLevel', 'numerical-min', 'LO', 'session', 'both', [0, 2], '0', true], // §13.20
  ['SessionType', 'declarative', 'LO', 'session', 'initiator', undefined, 'Normal', true], // §13.21
  ['TaskReporting', 'list', 'LO', 'session', 'both', undefined, 'RFC3720', false], // §13.23
  ['iSCSIProtocolLevel', 'numerical-min', 'LO', 'session', 'both', [0, 31], '1', false], // §13.24
  ['X#NodeArchitecture', 'declarative', 'LO', 'session', 'both', undefined, 'None', true], // §13.26
];

describe('KEYS: the §13 operational keys', () => {
  it.each(SECTION_13)('%s: kind %s, use %s, scope %s, senders %s, range %j, default %s', (name, kind, use, scope, senders, range, dflt, discovery) => {
    const def = KEYS.get(name);
    expect(def).toBeDefined();
    expect(def).toMatchObject({ name, kind, use, scope, senders, discoveryRelevant: discovery, leadingOnly: use === 'LO' });
    expect(def?.range === undefined ? undefined : [def.range.min, def.range.max]).toEqual(range);
    expect(def?.default).toBe(dflt);
    expect(def?.phase).not.toBe('security');
  });

  it('marks Any-Stage keys (§6.3: may appear in the security stage too)', () => {
    const anyStage = [...KEYS.values()].filter((d) => d.phase === 'any').map((d) => d.name).sort();
    expect(anyStage).toEqual(
      ['InitiatorAlias', 'InitiatorName', 'SessionType', 'TargetAddress', 'TargetAlias', 'TargetName', 'TargetPortalGroupTag'].sort(),
    );
  });

  it('§13.14: FirstBurstLength is Irrelevant when InitialR2T=Yes and ImmediateData=No', () => {
    expect(KEYS.get('FirstBurstLength')?.irrelevantWhen).toBe('no-unsolicited-data');
  });

  it('§13.25: IFMarker, OFMarker, IFMarkInt, OFMarkInt are known but obsolete', () => {
    for (const name of ['IFMarker', 'OFMarker', 'IFMarkInt', 'OFMarkInt']) expect(KEYS.get(name)?.obsolete).toBe(true);
  });

  it('every default is a value its own key admits', () => {
    for (const def of KEYS.values()) {
      if (def.default === undefined || def.obsolete === true) continue;
      if (def.range !== undefined) expect(() => parseNumericalValue(def.name, def.default!, def.range!)).not.toThrow();
      if (def.valueType === 'boolean-value') expect(() => parseBoolean(def.name, def.default!)).not.toThrow();
      if (def.kind === 'list' && def.values !== undefined) expect(def.values).toContain(def.default);
      expect(splitList(def.default)).toHaveLength(1);
    }
  });
});

describe('KEYS: the §12 security keys are recognised as security-phase keys', () => {
  it.each(['AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R', 'SRP_U', 'SRP_GROUP', 'SRP_A', 'SRP_B', 'SRP_M', 'SRP_HM', 'SRP_s', 'TargetAuth', 'KRB_AP_REQ', 'KRB_AP_REP'])(
    '%s',
    (name) => {
      expect(KEYS.get(name)?.phase).toBe('security');
    },
  );

  it('§12.1.3: CHAP_C and CHAP_R allow 1024 bytes of binary (0x + 2048 hex digits); CHAP_N is a plain 255-byte value', () => {
    expect(KEYS.get('CHAP_C')?.maxValueBytes).toBe(2050);
    expect(KEYS.get('CHAP_R')?.maxValueBytes).toBe(2050);
    expect(KEYS.get('CHAP_N')?.maxValueBytes).toBe(255);
  });

  it('§12.1: AuthMethod is a list negotiated per connection', () => {
    expect(KEYS.get('AuthMethod')).toMatchObject({ kind: 'list', scope: 'connection', values: ['KRB5', 'SRP', 'CHAP', 'None'] });
  });
});

describe('KEYS as a table', () => {
  it('is keyed by each definition’s own name', () => {
    for (const [name, def] of KEYS) expect(def.name).toBe(name);
  });

  it('never lets a simple value exceed 255 bytes unless the key says so (§6.1)', () => {
    const larger = [...KEYS.values()].filter((d) => d.maxValueBytes > 255).map((d) => d.name).sort();
    expect(larger).toEqual(
      ['CHAP_C', 'CHAP_R', 'KRB_AP_REP', 'KRB_AP_REQ', 'SRP_A', 'SRP_B', 'SRP_HM', 'SRP_M', 'SRP_s', 'TargetAddress'].sort(),
    );
  });
});
