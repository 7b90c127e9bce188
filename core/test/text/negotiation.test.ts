import { describe, expect, it } from 'vitest';
import { ArgumentError, NegotiationError, type IscsiErrorCode } from '../../src/errors.js';
import {
  DEFAULT_PROPOSAL,
  Negotiator,
  describeParameters,
  type OperationalParameters,
  type OperationalProposal,
} from '../../src/text/negotiation.js';
import type { TextPair } from '../../src/text/text-codec.js';
import { expectError } from './helpers.js';

/** The answers a cooperative target gives to our default offer: what we offered, the first item of a list (§6.2.1). */
function echo(offer: readonly TextPair[], except: readonly string[] = []): TextPair[] {
  return offer.filter(([k]) => k !== 'MaxRecvDataSegmentLength' && !except.includes(k)).map(([k, v]) => [k, v.split(',')[0]!]);
}

/** Offers with `proposal`, answers every key with our own value but `answers`, and resolves. */
function negotiate(proposal: OperationalProposal, answers: TextPair[]): OperationalParameters {
  const n = new Negotiator('Normal', proposal);
  const offer = n.offer();
  const keys = new Set(answers.map(([k]) => k));
  expect(n.receive([...echo(offer, [...keys]), ...answers])).toEqual([]);
  return n.result();
}

type Row = [rule: string, proposal: OperationalProposal, answer: TextPair, expected: Partial<OperationalParameters> | IscsiErrorCode];

function runTable(rows: Row[]): void {
  it.each(rows)('%s', (_rule, proposal, answer, expected) => {
    if (typeof expected === 'string') {
      expectError(() => negotiate(proposal, [answer]), expected, { key: answer[0], type: NegotiationError });
    } else {
      expect(negotiate(proposal, [answer])).toMatchObject(expected);
    }
  });
}

describe('offer(): what we send in the operational stage', () => {
  it('a Normal session offers every operational key with our defaults (issue: MaxBurstLength ≥ 1 MiB)', () => {
    expect(new Negotiator('Normal').offer()).toEqual([
      // Issue 9 §6, as libiscsi: None preferred, CRC32C for a target that requires it (§13.1: it picks the first it supports).
      ['HeaderDigest', 'None,CRC32C'],
      ['DataDigest', 'None,CRC32C'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['MaxConnections', '1'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '1048576'],
      ['FirstBurstLength', '262144'],
      ['MaxOutstandingR2T', '8'],
      ['DefaultTime2Wait', '0'],
      ['DefaultTime2Retain', '0'],
      ['ErrorRecoveryLevel', '0'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
    ]);
  });

  it('a Discovery session offers only keys not marked "Irrelevant when: SessionType=Discovery" (§13)', () => {
    expect(new Negotiator('Discovery', { headerDigest: ['CRC32C', 'None'] }).offer()).toEqual([
      ['HeaderDigest', 'CRC32C,None'],
      ['DataDigest', 'None,CRC32C'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['DefaultTime2Wait', '0'],
      ['DefaultTime2Retain', '0'],
      ['ErrorRecoveryLevel', '0'],
    ]);
  });

  it('lists digests in our order of preference (§6.2.1: "in order of preference")', () => {
    const offer = new Negotiator('Normal', { headerDigest: ['CRC32C', 'None'], dataDigest: ['None', 'CRC32C'] }).offer();
    expect(offer.slice(0, 2)).toEqual([
      ['HeaderDigest', 'CRC32C,None'],
      ['DataDigest', 'None,CRC32C'],
    ]);
  });

  it('leaves out keys the target already proposed and we answered (§6.2: no key is negotiated twice)', () => {
    const n = new Negotiator('Normal');
    expect(n.receive([['MaxBurstLength', '65536']])).toEqual([['MaxBurstLength', '65536']]);
    const offer = n.offer();
    expect(offer.map(([k]) => k)).not.toContain('MaxBurstLength');
    // §13.14: and FirstBurstLength is offered within the MaxBurstLength already settled.
    expect(offer).toContainEqual(['FirstBurstLength', '65536']);
    n.receive(echo(offer));
    expect(n.result()).toMatchObject({ maxBurstLength: 65536, firstBurstLength: 65536 });
  });

  it('offering twice gives the same offer', () => {
    const n = new Negotiator('Normal');
    expect(n.offer()).toEqual(n.offer());
  });

  it.each<[string, OperationalProposal]>([
    ['MaxRecvDataSegmentLength below 512 (§13.12)', { maxRecvDataSegmentLength: 511 }],
    ['MaxBurstLength above 2**24-1 (§13.13)', { maxBurstLength: 2 ** 24 }],
    ['FirstBurstLength above MaxBurstLength (§13.14)', { maxBurstLength: 65536, firstBurstLength: 65537 }],
    ['DefaultTime2Wait above 3600 (§13.15)', { defaultTime2Wait: 3601 }],
    ['MaxOutstandingR2T of 0 (§13.17)', { maxOutstandingR2T: 0 }],
    ['ErrorRecoveryLevel 3 (§13.20)', { errorRecoveryLevel: 3 }],
    ['a fractional MaxConnections', { maxConnections: 1.5 }],
    ['an empty digest list', { headerDigest: [] }],
    ['an unknown digest', { dataDigest: ['MD5' as 'None'] }],
    ['ERL>0 with DataSequenceInOrder and MaxOutstandingR2T>1 (§13.19)', { errorRecoveryLevel: 1, maxOutstandingR2T: 2 }],
  ])('rejects a proposal with %s as ISCSI_BAD_ARGUMENT', (_name, proposal) => {
    expectError(() => new Negotiator('Normal', proposal), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
  });

  it('rejects an unknown session type', () => {
    expectError(() => new Negotiator('Other' as 'Normal'), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
  });
});

describe('list negotiation (§6.2.1): HeaderDigest/DataDigest', () => {
  const both: OperationalProposal = { headerDigest: ['CRC32C', 'None'] };
  runTable([
    ['"respond with ... the first value that it supports": CRC32C', both, ['HeaderDigest', 'CRC32C'], { headerDigest: true }],
    ['any offered value may be selected: None', both, ['HeaderDigest', 'None'], { headerDigest: false }],
    ['"the selection of a value not proposed MUST be handled as a protocol error"', both, ['HeaderDigest', 'MD5'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['the responder selects one value, not a list', both, ['HeaderDigest', 'CRC32C,None'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    // Still refused, but as what it means: the target has no header digests (below).
    ['"None is only a valid selection if it is explicitly proposed"', { headerDigest: ['CRC32C'] }, ['HeaderDigest', 'None'], 'ISCSI_NEGOTIATION_REJECTED'],
    ['values are case-sensitive (§6.1)', both, ['HeaderDigest', 'crc32c'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['Reject leaves the default None, which we offered', both, ['HeaderDigest', 'Reject'], { headerDigest: false }],
    ['Reject when we require CRC32C: the default None is not acceptable', { headerDigest: ['CRC32C'] }, ['HeaderDigest', 'Reject'], 'ISCSI_NEGOTIATION_REJECTED'],
    ['NotUnderstood for a key of RFC 7143 is a protocol error (§6.2)', both, ['HeaderDigest', 'NotUnderstood'], 'ISCSI_NEGOTIATION_REJECTED'],
    ['HeaderDigest is never Irrelevant in a Normal session', both, ['HeaderDigest', 'Irrelevant'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['DataDigest follows the same rule', { dataDigest: ['None', 'CRC32C'] }, ['DataDigest', 'CRC32C'], { dataDigest: true, headerDigest: false }],
  ]);
});

describe('a target without digests, when we require CRC32C (issue 9 §6; §13.1)', () => {
  // The three ways a target says it has no CRC32C: answering None (tgtd does), Reject (§6.2), or offering only None.
  const refusals: Array<[how: string, run: () => unknown]> = [
    ['answers HeaderDigest=None', () => negotiate({ headerDigest: ['CRC32C'] }, [['HeaderDigest', 'None']])],
    ['answers HeaderDigest=Reject', () => negotiate({ headerDigest: ['CRC32C'] }, [['HeaderDigest', 'Reject']])],
    ['offers HeaderDigest=None itself', () => new Negotiator('Normal', { headerDigest: ['CRC32C'] }).receive([['HeaderDigest', 'None']])],
  ];
  it.each(refusals)('a target that %s: ISCSI_NEGOTIATION_REJECTED saying it has no header digests, and what to do', (_how, run) => {
    const error = expectError(run, 'ISCSI_NEGOTIATION_REJECTED', { key: 'HeaderDigest', type: NegotiationError });
    expect(error.message).toMatch(/^the target does not support header digests: we offered only HeaderDigest=CRC32C/);
    expect(error.hint).toMatch(/header_digest=none.*crc32c,none.*enable CRC32C header digests on the target/);
  });

  it('the same for data digests', () => {
    const error = expectError(() => negotiate({ dataDigest: ['CRC32C'] }, [['DataDigest', 'None']]), 'ISCSI_NEGOTIATION_REJECTED', { key: 'DataDigest', type: NegotiationError });
    expect(error.message).toMatch(/^the target does not support data digests/);
    expect(error.hint).toMatch(/data_digest=none/);
  });

  it('a list that admits None (crc32c,none) runs without digests against it', () => {
    expect(negotiate({ headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C', 'None'] }, [['HeaderDigest', 'None'], ['DataDigest', 'None']])).toMatchObject({
      headerDigest: false,
      dataDigest: false,
    });
  });

  it('by default both digests are offered as None,CRC32C: a target that requires CRC32C gets it', () => {
    expect(negotiate({}, [['HeaderDigest', 'CRC32C'], ['DataDigest', 'CRC32C']])).toMatchObject({ headerDigest: true, dataDigest: true });
    expect(DEFAULT_PROPOSAL.headerDigest).toEqual(['None', 'CRC32C']);
    expect(DEFAULT_PROPOSAL.dataDigest).toEqual(['None', 'CRC32C']);
  });
});

describe('numerical negotiation, result function Minimum (§6.2.2, §13.13 MaxBurstLength)', () => {
  const p: OperationalProposal = {}; // MaxBurstLength=1048576
  runTable([
    ['"Minimum means that the selected value cannot exceed the offered value": lower', p, ['MaxBurstLength', '262144'], { maxBurstLength: 262144 }],
    ['the offered value itself', p, ['MaxBurstLength', '1048576'], { maxBurstLength: 1048576 }],
    ['above our offer is a protocol error', p, ['MaxBurstLength', '1048577'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['hex constants are numerical values (§6.1)', p, ['MaxBurstLength', '0x40000'], { maxBurstLength: 262144 }],
    ['below the 512 minimum of the key', { firstBurstLength: 512 }, ['MaxBurstLength', '511'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['not a number', p, ['MaxBurstLength', 'lots'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['an empty value', p, ['MaxBurstLength', ''], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['a signed number', p, ['MaxBurstLength', '-1'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['a number of 2**64 or more (§6.1: numerical values are below 2**64)', p, ['MaxBurstLength', '18446744073709551616'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['Reject leaves the default 262144, which is below our offer', p, ['MaxBurstLength', 'Reject'], { maxBurstLength: 262144 }],
    ['Reject of FirstBurstLength=512: the default 65536 exceeds what we offered', { firstBurstLength: 512 }, ['FirstBurstLength', 'Reject'], 'ISCSI_NEGOTIATION_REJECTED'],
    ['§13.17 MaxOutstandingR2T: 1 ≤ 8', p, ['MaxOutstandingR2T', '1'], { maxOutstandingR2T: 1 }],
    ['§13.17 MaxOutstandingR2T: 0 is out of range', p, ['MaxOutstandingR2T', '0'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['§13.20 ErrorRecoveryLevel: above our 0', p, ['ErrorRecoveryLevel', '1'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['§13.20 ErrorRecoveryLevel: 3 is out of range', { errorRecoveryLevel: 2, maxOutstandingR2T: 1 }, ['ErrorRecoveryLevel', '3'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['§13.16 DefaultTime2Retain: the target cannot raise our 0', p, ['DefaultTime2Retain', '20'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['§13.2 MaxConnections: equal to our 1', p, ['MaxConnections', '1'], { maxConnections: 1 }],
  ]);
});

describe('numerical negotiation, result function Maximum (§6.2.2, §13.15 DefaultTime2Wait)', () => {
  const p: OperationalProposal = { defaultTime2Wait: 2 };
  runTable([
    ['"Maximum means that the selected value cannot be lower than the offered value": higher', p, ['DefaultTime2Wait', '5'], { defaultTime2Wait: 5 }],
    ['the offered value itself', p, ['DefaultTime2Wait', '2'], { defaultTime2Wait: 2 }],
    ['below our offer is a protocol error', p, ['DefaultTime2Wait', '1'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['above the 3600 maximum of the key', p, ['DefaultTime2Wait', '3601'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['Reject leaves the default 2, not below our 2', p, ['DefaultTime2Wait', 'Reject'], { defaultTime2Wait: 2 }],
    ['Reject when we offered 10: the default 2 is below it', { defaultTime2Wait: 10 }, ['DefaultTime2Wait', 'Reject'], 'ISCSI_NEGOTIATION_REJECTED'],
  ]);
});

describe('boolean negotiation, result function AND (§6.2.2, §13.11 ImmediateData)', () => {
  runTable([
    ['we offer Yes, the target may answer Yes', { immediateData: true }, ['ImmediateData', 'Yes'], { immediateData: true }],
    ['we offer Yes, the target may answer No', { immediateData: true }, ['ImmediateData', 'No'], { immediateData: false }],
    ['"if the offered value is No the selected value must be No"', { immediateData: false }, ['ImmediateData', 'No'], { immediateData: false }],
    ['Yes after our No is a protocol error', { immediateData: false }, ['ImmediateData', 'Yes'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['boolean values are case-sensitive: "yes" is not Yes', { immediateData: true }, ['ImmediateData', 'yes'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['Reject leaves the default Yes, acceptable after our Yes', { immediateData: true }, ['ImmediateData', 'Reject'], { immediateData: true }],
    ['Reject after our No: the default Yes is not acceptable', { immediateData: false }, ['ImmediateData', 'Reject'], 'ISCSI_NEGOTIATION_REJECTED'],
  ]);

  it('"AND and the value No is received": the answer is optional and the outcome is No', () => {
    const n = new Negotiator('Normal', { immediateData: false });
    n.receive(echo(n.offer(), ['ImmediateData']));
    expect(n.complete).toBe(true);
    expect(n.result().immediateData).toBe(false);
  });
});

describe('boolean negotiation, result function OR (§6.2.2, §13.10 InitialR2T, §13.18, §13.19)', () => {
  runTable([
    ['we offer No, the target may answer No', { initialR2T: false }, ['InitialR2T', 'No'], { initialR2T: false }],
    ['we offer No, the target may answer Yes', { initialR2T: false }, ['InitialR2T', 'Yes'], { initialR2T: true }],
    ['"if the offered value is Yes the selected value must be Yes"', { initialR2T: true }, ['InitialR2T', 'Yes'], { initialR2T: true }],
    ['No after our Yes is a protocol error', { initialR2T: true }, ['InitialR2T', 'No'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['DataPDUInOrder=No after our Yes', {}, ['DataPDUInOrder', 'No'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['DataSequenceInOrder=Yes after our No', { dataSequenceInOrder: false }, ['DataSequenceInOrder', 'Yes'], { dataSequenceInOrder: true }],
    ['Reject of InitialR2T=No leaves the default Yes, which OR admits', { initialR2T: false }, ['InitialR2T', 'Reject'], { initialR2T: true }],
  ]);

  it('"OR and the value Yes is received": the answer is optional and the outcome is Yes', () => {
    const n = new Negotiator('Normal');
    n.receive(echo(n.offer(), ['DataPDUInOrder', 'DataSequenceInOrder']));
    expect(n.complete).toBe(true);
    expect(n.result()).toMatchObject({ dataPDUInOrder: true, dataSequenceInOrder: true });
  });
});

describe('declarative keys (§6.2, §13.12 MaxRecvDataSegmentLength, §13.6, §13.8, §13.9)', () => {
  it('"the transmitter ... is required to send PDUs with a data segment that does not exceed MaxRecvDataSegmentLength of the receiver"', () => {
    const p = negotiate({ maxRecvDataSegmentLength: 262144 }, [['MaxRecvDataSegmentLength', '65536']]);
    expect(p.maxRecvDataSegmentLength).toBe(262144); // what we declared: the target's limit for sending to us
    expect(p.maxXmitDataSegmentLength).toBe(65536); // what the target declared: our limit
  });

  it('the target may declare more than we did; we still send at most its value and receive at most ours', () => {
    const p = negotiate({ maxRecvDataSegmentLength: 8192 }, [['MaxRecvDataSegmentLength', '1048576']]);
    expect(p).toMatchObject({ maxRecvDataSegmentLength: 8192, maxXmitDataSegmentLength: 1048576 });
  });

  it('a target that declares nothing gets the RFC default 8192', () => {
    expect(negotiate({}, []).maxXmitDataSegmentLength).toBe(8192);
  });

  it('our declaration needs no answer: the negotiation is complete without one', () => {
    const n = new Negotiator('Normal');
    n.receive(echo(n.offer()));
    expect(n.complete).toBe(true);
  });

  runTable([
    ['MaxRecvDataSegmentLength in hex', {}, ['MaxRecvDataSegmentLength', '0x2000'], { maxXmitDataSegmentLength: 8192 }],
    ['MaxRecvDataSegmentLength below 512', {}, ['MaxRecvDataSegmentLength', '511'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['MaxRecvDataSegmentLength of 2**24', {}, ['MaxRecvDataSegmentLength', '16777216'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['MaxRecvDataSegmentLength=NotUnderstood: every RFC 7143 key must be understood', {}, ['MaxRecvDataSegmentLength', 'NotUnderstood'], 'ISCSI_NEGOTIATION_REJECTED'],
    ['TargetAlias is recorded (§13.6)', {}, ['TargetAlias', 'Bob’s Disk'], { targetAlias: 'Bob’s Disk' }],
    ['TargetPortalGroupTag is recorded (§13.9)', {}, ['TargetPortalGroupTag', '1'], { targetPortalGroupTag: 1 }],
    ['TargetPortalGroupTag as a hex binary-value', {}, ['TargetPortalGroupTag', '0x0101'], { targetPortalGroupTag: 257 }],
    ['TargetPortalGroupTag as a base64 binary-value', {}, ['TargetPortalGroupTag', '0bAQE='], { targetPortalGroupTag: 257 }],
    ['TargetPortalGroupTag is a 16-bit value', {}, ['TargetPortalGroupTag', '65536'], 'ISCSI_NEGOTIATION_BAD_VALUE'],
    ['TargetAddress is recorded (§13.8)', {}, ['TargetAddress', '[fe80::1]:3260,1'], { targetAddress: '[fe80::1]:3260,1' }],
  ]);

  it('keys the target declared in the security stage are kept (Any-Stage, §6.3)', () => {
    const n = new Negotiator('Normal');
    expect(n.receive([['TargetPortalGroupTag', '3'], ['TargetAlias', 'disk'], ['CHAP_A', '5']], 'security')).toEqual([]);
    n.receive(echo(n.offer()));
    expect(n.result()).toMatchObject({ targetPortalGroupTag: 3, targetAlias: 'disk' });
  });
});

describe('completion across responses (§6.2: every offered key is answered)', () => {
  it('result() throws ISCSI_NEGOTIATION_MISSING_KEY, naming the key, until every answer has arrived', () => {
    const n = new Negotiator('Normal');
    const answers = echo(n.offer());
    expect(n.complete).toBe(false);
    expectError(() => n.result(), 'ISCSI_NEGOTIATION_MISSING_KEY', { key: 'HeaderDigest' });
    n.receive(answers.slice(0, 5));
    expect(n.complete).toBe(false);
    expectError(() => n.result(), 'ISCSI_NEGOTIATION_MISSING_KEY', { key: answers[5]?.[0] });
    n.receive(answers.slice(5));
    expect(n.complete).toBe(true);
    expect(n.result().maxBurstLength).toBe(1048576);
  });

  it('a key sent twice in one response is ISCSI_NEGOTIATION_DUPLICATE_KEY', () => {
    const n = new Negotiator('Normal');
    n.offer();
    expectError(
      () => n.receive([['MaxBurstLength', '65536'], ['MaxBurstLength', '65536']]),
      'ISCSI_NEGOTIATION_DUPLICATE_KEY',
      { key: 'MaxBurstLength' },
    );
  });

  it('"neither the initiator nor the target should attempt to declare or negotiate a parameter more than once": across responses too', () => {
    const n = new Negotiator('Normal');
    n.offer();
    n.receive([['MaxRecvDataSegmentLength', '65536']]);
    expectError(() => n.receive([['MaxRecvDataSegmentLength', '8192']]), 'ISCSI_NEGOTIATION_DUPLICATE_KEY', {
      key: 'MaxRecvDataSegmentLength',
    });
  });

  it('a target-initiated key may not be proposed twice either', () => {
    const n = new Negotiator('Normal');
    n.receive([['X-com.example.k', '1']]);
    expectError(() => n.receive([['X-com.example.k', '1']]), 'ISCSI_NEGOTIATION_DUPLICATE_KEY');
  });

  it('TargetAddress may repeat (§6.2 allows repeated TargetAddress); the first is kept', () => {
    const n = new Negotiator('Normal');
    n.receive([['TargetAddress', '10.0.0.1:3260,1'], ['TargetAddress', '10.0.0.2:3260,1']]);
    n.receive(echo(n.offer()));
    expect(n.result().targetAddress).toBe('10.0.0.1:3260,1');
  });
});

describe('keys the target offers on its own (§6.2: the responder answers by the key’s rule)', () => {
  it.each<[string, OperationalProposal, TextPair, TextPair, Partial<OperationalParameters>]>([
    ['list: the first value of their list that we support', { headerDigest: ['None'] }, ['HeaderDigest', 'CRC32C,None'], ['HeaderDigest', 'None'], { headerDigest: false }],
    ['list: their order of preference wins over ours', { headerDigest: ['None', 'CRC32C'] }, ['HeaderDigest', 'CRC32C,None'], ['HeaderDigest', 'CRC32C'], { headerDigest: true }],
    ['list: "if an acceptor does not understand any particular value in a list, it MUST ignore it"', { dataDigest: ['CRC32C', 'None'] }, ['DataDigest', 'Y-com.example.sha,None'], ['DataDigest', 'None'], { dataDigest: false }],
    ['list: nothing we support → Reject, and the default stands', { headerDigest: ['None'] }, ['HeaderDigest', 'CRC32C'], ['HeaderDigest', 'Reject'], { headerDigest: false }],
    ['Minimum: the lower of theirs and ours', {}, ['MaxBurstLength', '65536'], ['MaxBurstLength', '65536'], { maxBurstLength: 65536 }],
    ['Minimum: ours when theirs is higher', { maxBurstLength: 65536, firstBurstLength: 65536 }, ['MaxBurstLength', '262144'], ['MaxBurstLength', '65536'], { maxBurstLength: 65536 }],
    ['Maximum: the higher of theirs and ours', { defaultTime2Wait: 2 }, ['DefaultTime2Wait', '1'], ['DefaultTime2Wait', '2'], { defaultTime2Wait: 2 }],
    ['AND: No from us makes No', { immediateData: false }, ['ImmediateData', 'Yes'], ['ImmediateData', 'No'], { immediateData: false }],
    ['AND: Yes and Yes makes Yes', {}, ['ImmediateData', 'Yes'], ['ImmediateData', 'Yes'], { immediateData: true }],
    ['OR: Yes from us makes Yes', { initialR2T: true }, ['InitialR2T', 'No'], ['InitialR2T', 'Yes'], { initialR2T: true }],
    ['OR: No and No makes No', {}, ['InitialR2T', 'No'], ['InitialR2T', 'No'], { initialR2T: false }],
  ])('%s', (_rule, proposal, theirs, answer, expected) => {
    // No offer() here: every key arrives as the target's own proposal.
    const n = new Negotiator('Normal', proposal);
    expect(n.receive([theirs])).toEqual([answer]);
    expect(n.complete).toBe(true);
    expect(n.result()).toMatchObject(expected);
  });

  it('§13.23 TaskReporting: we answer RFC3720, the only reporting we do, or Reject', () => {
    expect(new Negotiator('Normal').receive([['TaskReporting', 'FastAbort,RFC3720']])).toEqual([['TaskReporting', 'RFC3720']]);
    expect(new Negotiator('Normal').receive([['TaskReporting', 'FastAbort']])).toEqual([['TaskReporting', 'Reject']]);
  });

  it('§13.24 iSCSIProtocolLevel: Minimum of theirs and our level 1', () => {
    expect(new Negotiator('Normal').receive([['iSCSIProtocolLevel', '2']])).toEqual([['iSCSIProtocolLevel', '1']]);
    expect(new Negotiator('Normal').receive([['iSCSIProtocolLevel', '0']])).toEqual([['iSCSIProtocolLevel', '0']]);
    expectError(() => new Negotiator('Normal').receive([['iSCSIProtocolLevel', '32']]), 'ISCSI_NEGOTIATION_BAD_VALUE');
  });

  it('out-of-range or unparsable proposals from the target are ISCSI_NEGOTIATION_BAD_VALUE', () => {
    expectError(() => new Negotiator('Normal').receive([['MaxConnections', '0']]), 'ISCSI_NEGOTIATION_BAD_VALUE', { key: 'MaxConnections' });
    expectError(() => new Negotiator('Normal').receive([['InitialR2T', 'Maybe']]), 'ISCSI_NEGOTIATION_BAD_VALUE', { key: 'InitialR2T' });
  });

  it('"the use of Reject, Irrelevant, and NotUnderstood as proposed values" is a protocol error', () => {
    for (const value of ['Reject', 'Irrelevant', 'NotUnderstood']) {
      expectError(() => new Negotiator('Normal').receive([['MaxConnections', value]]), 'ISCSI_NEGOTIATION_BAD_VALUE');
      expectError(() => new Negotiator('Normal').receive([['X-com.example.k', value]]), 'ISCSI_NEGOTIATION_BAD_VALUE');
    }
  });

  it('in a Discovery session, keys "Irrelevant when: SessionType=Discovery" are answered Irrelevant', () => {
    const n = new Negotiator('Discovery');
    n.offer();
    expect(
      n.receive([
        ['MaxBurstLength', '65536'],
        ['InitialR2T', 'Yes'],
        ['MaxConnections', '4'],
        ['DefaultTime2Wait', '2'],
      ]),
    ).toEqual([
      ['MaxBurstLength', 'Irrelevant'],
      ['InitialR2T', 'Irrelevant'],
      ['MaxConnections', 'Irrelevant'],
    ]);
  });
});

describe('NotUnderstood, extension keys and obsolete keys (§6.2, §13.22, §13.25, §13.26)', () => {
  it('"the answer for a key not understood MUST be key=NotUnderstood": X- private, X# public, unknown standard-looking', () => {
    const n = new Negotiator('Normal');
    expect(
      n.receive([
        ['X-com.example.Feature', 'Yes'],
        ['X#Something', '1'],
        ['FutureKey', '7'],
      ]),
    ).toEqual([
      ['X-com.example.Feature', 'NotUnderstood'],
      ['X#Something', 'NotUnderstood'],
      ['FutureKey', 'NotUnderstood'],
    ]);
  });

  it('X#NodeArchitecture is a declarative standard key (§13.26): accepted without an answer', () => {
    expect(new Negotiator('Normal').receive([['X#NodeArchitecture', 'ExampleTarget/1.0,Linux']])).toEqual([]);
  });

  it('§13.25: IFMarker/OFMarker and IFMarkInt/OFMarkInt are answered Reject', () => {
    expect(
      new Negotiator('Normal').receive([
        ['IFMarker', 'Yes'],
        ['OFMarker', 'No'],
        ['IFMarkInt', '2048~8192'],
        ['OFMarkInt', '2048'],
      ]),
    ).toEqual([
      ['IFMarker', 'Reject'],
      ['OFMarker', 'Reject'],
      ['IFMarkInt', 'Reject'],
      ['OFMarkInt', 'Reject'],
    ]);
  });

  it('NotUnderstood for any of our keys is a protocol error: "all keys in this document ... MUST be supported"', () => {
    for (const key of ['MaxConnections', 'InitialR2T', 'ErrorRecoveryLevel']) {
      const n = new Negotiator('Normal');
      n.offer();
      expectError(() => n.receive([[key, 'NotUnderstood']]), 'ISCSI_NEGOTIATION_REJECTED', { key });
    }
  });
});

describe('Irrelevant (§6.2, §13.14)', () => {
  it('FirstBurstLength=Irrelevant holds when InitialR2T=Yes and ImmediateData=No', () => {
    const p = negotiate({}, [
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'No'],
      ['FirstBurstLength', 'Irrelevant'],
    ]);
    expect(p).toMatchObject({ initialR2T: true, immediateData: false });
    expect(p.firstBurstLength).toBeLessThanOrEqual(p.maxBurstLength);
  });

  it('FirstBurstLength=Irrelevant while unsolicited data is allowed is ISCSI_NEGOTIATION_BAD_VALUE', () => {
    expectError(() => negotiate({}, [['FirstBurstLength', 'Irrelevant']]), 'ISCSI_NEGOTIATION_BAD_VALUE', {
      key: 'FirstBurstLength',
    });
  });

  it('in a Discovery session a number answered Irrelevant keeps our offer (never outside it); a digest falls back to its default only if we offered it', () => {
    const n = new Negotiator('Discovery', { defaultTime2Wait: 5 });
    const offer = n.offer();
    n.receive([...echo(offer, ['DefaultTime2Wait']), ['DefaultTime2Wait', 'Irrelevant']]);
    expect(n.result().defaultTime2Wait).toBe(5);
    const digest = new Negotiator('Discovery', { headerDigest: ['CRC32C'] });
    const digestOffer = digest.offer();
    expect(() => digest.receive([...echo(digestOffer, ['HeaderDigest']), ['HeaderDigest', 'Irrelevant']])).toThrow(
      expect.objectContaining({ code: 'ISCSI_NEGOTIATION_REJECTED' }),
    );
  });

  it('MaxConnections=Irrelevant in a Normal session is ISCSI_NEGOTIATION_BAD_VALUE', () => {
    expectError(() => negotiate({}, [['MaxConnections', 'Irrelevant']]), 'ISCSI_NEGOTIATION_BAD_VALUE', {
      key: 'MaxConnections',
    });
  });
});

describe('keys the target must not send (§13 Senders, §6.3 stages)', () => {
  it.each([
    ['InitiatorName', 'iqn.2001-04.com.example:x'],
    ['InitiatorAlias', 'host'],
    ['SessionType', 'Normal'],
    ['SendTargets', 'All'],
    ['TargetName', 'iqn.2001-04.com.example:disk'], // §13.4: only in SendTargets responses
  ])('%s from the target is ISCSI_NEGOTIATION_UNEXPECTED_KEY', (key, value) => {
    expectError(() => new Negotiator('Normal').receive([[key, value]]), 'ISCSI_NEGOTIATION_UNEXPECTED_KEY', { key });
  });

  it.each(['AuthMethod', 'CHAP_A', 'CHAP_C', 'SRP_B'])('security key %s in the operational stage is ISCSI_NEGOTIATION_UNEXPECTED_KEY', (key) => {
    expectError(() => new Negotiator('Normal').receive([[key, '5']]), 'ISCSI_NEGOTIATION_UNEXPECTED_KEY', { key });
  });

  it('a pair whose key is not a key name (§6.1) is ISCSI_TEXT_MALFORMED, so no unsendable answer is made', () => {
    expectError(() => new Negotiator('Normal').receive([['', 'x']]), 'ISCSI_TEXT_MALFORMED');
    expectError(() => new Negotiator('Normal').receive([['Bad Key', 'x']]), 'ISCSI_TEXT_MALFORMED');
  });

  it('an operational key in the security stage is ISCSI_NEGOTIATION_UNEXPECTED_KEY', () => {
    expectError(() => new Negotiator('Normal').receive([['MaxBurstLength', '512']], 'security'), 'ISCSI_NEGOTIATION_UNEXPECTED_KEY');
  });
});

describe('§13 cross rules in result()', () => {
  it('"FirstBurstLength MUST NOT exceed MaxBurstLength" (§13.14)', () => {
    expectError(
      () =>
        negotiate({}, [
          ['MaxBurstLength', '65536'],
          ['FirstBurstLength', '262144'],
        ]),
      'ISCSI_NEGOTIATION_BAD_VALUE',
      { key: 'FirstBurstLength' },
    );
  });

  it('"if ErrorRecoveryLevel is not 0 and DataSequenceInOrder is set to Yes then MaxOutstandingR2T MUST be set to 1" (§13.19)', () => {
    const proposal: OperationalProposal = { errorRecoveryLevel: 1, dataSequenceInOrder: false, maxOutstandingR2T: 4 };
    expectError(() => negotiate(proposal, [['DataSequenceInOrder', 'Yes']]), 'ISCSI_NEGOTIATION_BAD_VALUE', {
      key: 'MaxOutstandingR2T',
    });
    expect(negotiate(proposal, [['ErrorRecoveryLevel', '0'], ['DataSequenceInOrder', 'Yes']]).errorRecoveryLevel).toBe(0);
  });

  it('a Discovery session resolves every key it did not negotiate to its RFC default, MaxConnections=1 (§13.21)', () => {
    const n = new Negotiator('Discovery');
    n.receive(echo(n.offer()));
    expect(n.result()).toEqual({
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: 262144,
      maxXmitDataSegmentLength: 8192,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      initialR2T: true,
      immediateData: true,
      maxOutstandingR2T: 1,
      maxConnections: 1,
      defaultTime2Wait: 0, // negotiated (our offer of 0, echoed), not a default
      defaultTime2Retain: 0,
      errorRecoveryLevel: 0,
      dataPDUInOrder: true,
      dataSequenceInOrder: true,
    });
  });
});

describe('a whole operational stage, as a typical target answers it', () => {
  it('resolves every parameter and describes them by RFC key name', () => {
    const n = new Negotiator('Normal', { headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C', 'None'] });
    n.receive([['TargetPortalGroupTag', '1']], 'security');
    n.offer();
    const replies = n.receive([
      ['TargetAlias', 'disk1'],
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'None'],
      ['MaxConnections', '1'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['MaxOutstandingR2T', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['ErrorRecoveryLevel', '0'],
      ['X-com.example.Vendor', 'v1'],
    ]);
    expect(replies).toEqual([['X-com.example.Vendor', 'NotUnderstood']]);
    expect(n.complete).toBe(true);
    const p = n.result();
    expect(describeParameters(p)).toEqual({
      HeaderDigest: 'CRC32C',
      DataDigest: 'None',
      MaxRecvDataSegmentLength: '262144',
      MaxXmitDataSegmentLength: '262144',
      MaxBurstLength: '262144',
      FirstBurstLength: '65536',
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      MaxOutstandingR2T: '1',
      MaxConnections: '1',
      DefaultTime2Wait: '2',
      DefaultTime2Retain: '0',
      ErrorRecoveryLevel: '0',
      DataPDUInOrder: 'Yes',
      DataSequenceInOrder: 'Yes',
      TargetAlias: 'disk1',
      TargetPortalGroupTag: '1',
    });
  });

  it('DEFAULT_PROPOSAL is what an empty proposal means', () => {
    expect(new Negotiator('Normal', DEFAULT_PROPOSAL).offer()).toEqual(new Negotiator('Normal').offer());
  });
});
