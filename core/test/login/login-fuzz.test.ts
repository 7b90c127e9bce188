// Property: whatever Login Responses a target sends, the login state machine either answers with a well-formed
// action or throws one of our typed errors — never a TypeError/RangeError, never an endless exchange.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IscsiError } from '../../src/errors.js';
import { encodeBinaryValue } from '../../src/login/chap.js';
import { LoginStateMachine, type LoginConfig } from '../../src/login/login-state-machine.js';
import { Opcode, type LoginResponse, type Stage } from '../../src/pdu/types.js';
import { encodeText } from '../../src/text/text-codec.js';

const ISID = 0x80_0102_0304_05n;
const configs: LoginConfig[] = [
  { initiatorName: 'iqn.2026-11.x:i', sessionType: 'Normal', targetName: 'iqn.2026-11.x:t', isid: ISID, auth: { method: 'None' } },
  { initiatorName: 'iqn.2026-11.x:i', sessionType: 'Discovery', isid: ISID, auth: { method: 'None' } },
  {
    initiatorName: 'iqn.2026-11.x:i',
    sessionType: 'Normal',
    targetName: 'iqn.2026-11.x:t',
    isid: ISID,
    auth: {
      method: 'CHAP',
      chap: { credentials: { username: 'u', secret: Buffer.from('secret-one-123') }, targetCredentials: { username: 't', secret: Buffer.from('secret-two-456') } },
    },
  },
];

const keyNames = [
  'AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R', 'HeaderDigest', 'DataDigest', 'MaxRecvDataSegmentLength',
  'MaxBurstLength', 'FirstBurstLength', 'InitialR2T', 'ImmediateData', 'MaxOutstandingR2T', 'MaxConnections', 'ErrorRecoveryLevel',
  'DefaultTime2Wait', 'DefaultTime2Retain', 'DataPDUInOrder', 'DataSequenceInOrder', 'TargetPortalGroupTag', 'TargetAlias',
  'TargetAddress', 'SessionType', 'X-com.example.foo', 'Bogus',
];
const values = fc.oneof(
  fc.constantFrom('None', 'CHAP', 'CRC32C', 'CRC32C,None', 'Yes', 'No', '5', '7', '0', '1', '65536', '512', '16777216', '0x10', 'Reject', 'Irrelevant', 'NotUnderstood', ''),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => encodeBinaryValue(Buffer.from(b))),
  fc.string({ maxLength: 20 }),
);
const text = fc.oneof(
  fc.array(fc.tuple(fc.constantFrom(...keyNames), values), { maxLength: 8 }).map((pairs) => {
    try {
      return encodeText(pairs);
    } catch {
      return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''));
    }
  }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
);
const stage = fc.constantFrom<Stage>(0, 1, 3);
const response: fc.Arbitrary<LoginResponse> = fc.record({
  opcode: fc.constant(Opcode.LoginResponse),
  transit: fc.boolean(),
  continue: fc.boolean(),
  csg: stage,
  nsg: stage,
  versionMax: fc.constantFrom(0, 0, 1),
  versionActive: fc.constantFrom(0, 0, 0, 2),
  isid: fc.constantFrom(ISID, ISID, ISID, 0n),
  tsih: fc.constantFrom(0, 1, 0xffff),
  itt: fc.constantFrom(0, 0, 0, 7),
  statSN: fc.nat({ max: 0xffffffff }),
  expCmdSN: fc.nat({ max: 0xffffffff }),
  maxCmdSN: fc.nat({ max: 0xffffffff }),
  statusClass: fc.constantFrom(0, 0, 0, 0, 1, 2, 3),
  statusDetail: fc.constantFrom(0, 0, 0, 1, 2, 3, 0x0b, 0x7f),
  data: text,
});

describe('login state machine under arbitrary Login Responses (issue 2: bad input ends the login with a typed error)', () => {
  it('answers or throws IscsiError only, for every configuration and any sequence of responses', () => {
    fc.assert(
      fc.property(fc.constantFrom(...configs), fc.array(response, { minLength: 1, maxLength: 12 }), (config, responses) => {
        const machine = new LoginStateMachine(config);
        machine.start();
        for (const r of responses) {
          let action;
          try {
            action = machine.receive(r);
          } catch (e) {
            expect(e).toBeInstanceOf(IscsiError);
            expect(machine.state).toBe('failed');
            return;
          }
          if (action.kind !== 'send') return;
          expect(action.pdu.opcode).toBe(Opcode.LoginRequest);
          expect(action.pdu.data.length).toBeLessThanOrEqual(8192); // §13.12: login PDUs stay within the 8192 default
        }
      }),
      { numRuns: 3000 },
    );
  });
});
