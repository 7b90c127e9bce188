import { describe, expect, it } from 'vitest';
import { AuthError, LoginError } from '../../src/errors.js';
import { decodeBinaryValue, encodeBinaryValue } from '../../src/login/chap.js';
import { LoginStateMachine, type LoginAction, type LoginConfig } from '../../src/login/login-state-machine.js';
import { Opcode, Stage, type LoginRequest, type LoginResponse } from '../../src/pdu/types.js';
import { decodeText, encodeText, type TextPair } from '../../src/text/text-codec.js';

const ISID = 0x80_1234_5678_9an;
const base: LoginConfig = {
  initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:test',
  sessionType: 'Normal',
  targetName: 'iqn.2026-11.test:disk1',
  isid: ISID,
  auth: { method: 'None' },
  cmdSN: 7,
};

function response(over: Partial<LoginResponse> & { keys?: TextPair[] }): LoginResponse {
  const { keys, ...rest } = over;
  return {
    opcode: Opcode.LoginResponse,
    transit: false,
    continue: false,
    csg: Stage.Security,
    nsg: Stage.Security,
    versionMax: 0,
    versionActive: 0,
    isid: ISID,
    tsih: 0,
    itt: 0,
    statSN: 100,
    expCmdSN: 7,
    maxCmdSN: 38,
    statusClass: 0,
    statusDetail: 0,
    data: encodeText(keys ?? []),
    ...rest,
  };
}

function sent(action: LoginAction): { pdu: LoginRequest; keys: Map<string, string> } {
  expect(action.kind).toBe('send');
  const pdu = (action as { pdu: LoginRequest }).pdu;
  return { pdu, keys: new Map(decodeText(pdu.data)) };
}

/** A target that accepts whatever we offer in the operational stage (answers each negotiated key with our value). */
function operationalAnswer(offer: Map<string, string>): TextPair[] {
  const answers: TextPair[] = [];
  for (const [key, value] of offer) {
    if (key === 'MaxRecvDataSegmentLength') continue; // declarative: the target declares its own below
    answers.push([key, value.split(',')[0]!]);
  }
  answers.push(['MaxRecvDataSegmentLength', '65536']);
  return answers;
}

function finishOperational(machine: LoginStateMachine, opRequest: LoginAction) {
  const op = sent(opRequest);
  expect(op.pdu.csg).toBe(Stage.Operational);
  expect(op.pdu.nsg).toBe(Stage.FullFeature);
  expect(op.pdu.transit).toBe(true);
  return machine.receive(
    response({ csg: Stage.Operational, nsg: Stage.FullFeature, transit: true, tsih: 42, statSN: 102, keys: operationalAnswer(op.keys) }),
  );
}

describe('login without authentication (RFC 7143 §6.3: security stage with AuthMethod=None, then operational)', () => {
  it('sends the leading keys first and reaches full feature phase with the negotiated parameters', () => {
    const machine = new LoginStateMachine(base);
    const first = sent(machine.start());
    // §13.4-§13.6: InitiatorName, SessionType and TargetName go in the first Login Request.
    expect(first.keys.get('InitiatorName')).toBe(base.initiatorName);
    expect(first.keys.get('SessionType')).toBe('Normal');
    expect(first.keys.get('TargetName')).toBe(base.targetName);
    expect(first.keys.get('AuthMethod')).toBe('None');
    expect(first.pdu).toMatchObject({ csg: Stage.Security, nsg: Stage.Operational, transit: true, isid: ISID, tsih: 0, cmdSN: 7, expStatSN: 0 });

    const toOperational = machine.receive(response({ transit: true, nsg: Stage.Operational, keys: [['AuthMethod', 'None'], ['TargetPortalGroupTag', '1']] }));
    const op = sent(toOperational);
    // §11.12: ExpStatSN acknowledges the response's StatSN.
    expect(op.pdu.expStatSN).toBe(101);
    expect(op.keys.has('HeaderDigest')).toBe(true);
    expect(op.keys.get('MaxRecvDataSegmentLength')).toBe('262144');

    const done = finishOperational(machine, toOperational);
    expect(done.kind).toBe('complete');
    if (done.kind !== 'complete') return;
    expect(done.result.tsih).toBe(42);
    expect(done.result.expStatSN).toBe(103);
    expect(done.result.authenticated).toBe('None');
    // §13.12: we send at most what the target declared, not what we declared.
    expect(done.result.parameters.maxXmitDataSegmentLength).toBe(65536);
    expect(done.result.parameters.maxRecvDataSegmentLength).toBe(262144);
    expect(machine.state).toBe('done');
  });

  it('a discovery session sends no TargetName (§13.4: TargetName only for Normal sessions)', () => {
    const machine = new LoginStateMachine({ ...base, sessionType: 'Discovery', targetName: undefined });
    const first = sent(machine.start());
    expect(first.keys.get('SessionType')).toBe('Discovery');
    expect(first.keys.has('TargetName')).toBe(false);
  });

  it('a target demanding CHAP when none is configured fails with an authentication error and a hint', () => {
    const machine = new LoginStateMachine(base);
    machine.start();
    const error = (() => {
      try {
        machine.receive(response({ keys: [['AuthMethod', 'CHAP']] }));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(LoginError);
    expect(error).toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
  });
});

describe('CHAP (RFC 7143 §12.1.3, RFC 1994)', () => {
  const secret = 'initiator-secret-123';
  const targetSecret = 'target-secret-4567';
  const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  // RFC 1994 §4.1: R = MD5(CHAP_I ‖ secret ‖ CHAP_C). Expected values computed outside core, with openssl (and checked
  // with python3 hashlib): (printf '\x09'; printf '%s' initiator-secret-123; printf 00112233…eeff | xxd -r -p) |
  // openssl dgst -md5 — so a core that hashes the fields in another order fails here.
  const ONE_WAY_R = '150da978067b609d181a8ba1dacc680b';
  // Mutual: our CHAP_I is 0x07 and our CHAP_C is 10 11 … 1f (scripted randomBytes); MD5(07 ‖ target-secret-4567 ‖ 10..1f).
  const OUR_ID = 7;
  const OUR_CHALLENGE = Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex');
  const TARGET_PROOF = '0x3f85e84614e9d840313a12ef5496337d';
  // The same over the wrong secret: MD5(07 ‖ "not-the-secret!!" ‖ 10..1f).
  const WRONG_PROOF = '0x732990607026b26ccda00f90d66df1fe';

  it('one-way: AuthMethod=CHAP, CHAP_A, then CHAP_N/CHAP_R = MD5(id ‖ secret ‖ challenge)', () => {
    const machine = new LoginStateMachine({
      ...base,
      auth: { method: 'CHAP', chap: { credentials: { username: 'alice', secret: Buffer.from(secret) } } },
    });
    const first = sent(machine.start());
    // Offer only CHAP so a target cannot downgrade us to None.
    expect(first.keys.get('AuthMethod')).toBe('CHAP');
    expect(first.pdu.transit).toBe(false);

    const chapA = sent(machine.receive(response({ keys: [['AuthMethod', 'CHAP']] })));
    expect(chapA.keys.get('CHAP_A')).toBe('5'); // the default offer is exactly 5 (MD5)

    const answer = sent(machine.receive(response({ keys: [['CHAP_A', '5'], ['CHAP_I', '9'], ['CHAP_C', encodeBinaryValue(challenge)]] })));
    expect(answer.keys.get('CHAP_N')).toBe('alice');
    expect(decodeBinaryValue(answer.keys.get('CHAP_R')!).toString('hex')).toBe(ONE_WAY_R);
    expect(answer.pdu.transit).toBe(true);
    expect(answer.keys.has('CHAP_C')).toBe(false); // one-way: no challenge of ours

    const op = machine.receive(response({ transit: true, nsg: Stage.Operational }));
    const done = finishOperational(machine, op);
    expect(done.kind === 'complete' && done.result.authenticated).toBe('CHAP');
  });

  function mutualMachine() {
    return new LoginStateMachine({
      ...base,
      auth: {
        method: 'CHAP',
        chap: {
          credentials: { username: 'alice', secret: Buffer.from(secret) },
          targetCredentials: { username: 'target-bob', secret: Buffer.from(targetSecret) },
          randomBytes: (n: number) => (n === 1 ? Buffer.of(OUR_ID) : Buffer.from(OUR_CHALLENGE)),
        },
      },
    });
  }

  function toTargetProof(machine: LoginStateMachine) {
    machine.start();
    machine.receive(response({ keys: [['AuthMethod', 'CHAP']] }));
    const answer = sent(machine.receive(response({ keys: [['CHAP_A', '5'], ['CHAP_I', '200'], ['CHAP_C', encodeBinaryValue(challenge)]] })));
    const ourId = Number(answer.keys.get('CHAP_I'));
    const ourChallenge = decodeBinaryValue(answer.keys.get('CHAP_C')!);
    // §12.1.3: our challenge in mutual CHAP is random (scripted here) and at least 16 bytes.
    expect(ourChallenge.length).toBeGreaterThanOrEqual(16);
    expect({ ourId, ourChallenge }).toEqual({ ourId: OUR_ID, ourChallenge: OUR_CHALLENGE });
  }

  it('mutual: the target proves its secret with CHAP_N/CHAP_R over our challenge', () => {
    const machine = mutualMachine();
    toTargetProof(machine);
    const proof = TARGET_PROOF;
    const op = machine.receive(response({ transit: true, nsg: Stage.Operational, keys: [['CHAP_N', 'target-bob'], ['CHAP_R', proof]] }));
    const done = finishOperational(machine, op);
    expect(done.kind === 'complete' && done.result.authenticated).toBe('Mutual CHAP');
  });

  it('mutual: a target that proves itself with T=0 and transits in its next response is accepted (§11.13.3; found by fuzzing)', () => {
    const machine = mutualMachine();
    toTargetProof(machine);
    const proof = TARGET_PROOF;
    const again = sent(machine.receive(response({ transit: false, keys: [['CHAP_N', 'target-bob'], ['CHAP_R', proof]] })));
    expect(again.pdu.transit).toBe(true); // we ask again to move on, with nothing more to say
    expect(again.pdu.data.length).toBe(0);
    const op = machine.receive(response({ transit: true, nsg: Stage.Operational }));
    const done = finishOperational(machine, op);
    expect(done.kind === 'complete' && done.result.authenticated).toBe('Mutual CHAP');
  });

  it('mutual: a target with the wrong secret is refused (ISCSI_CHAP_TARGET_AUTH_FAILED)', () => {
    const machine = mutualMachine();
    toTargetProof(machine);
    const wrong = WRONG_PROOF;
    expect(() => machine.receive(response({ transit: true, nsg: Stage.Operational, keys: [['CHAP_N', 'target-bob'], ['CHAP_R', wrong]] }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_CHAP_TARGET_AUTH_FAILED' }),
    );
    expect(machine.state).toBe('failed');
  });

  it('mutual: a target that moves on without proving itself is refused', () => {
    const machine = mutualMachine();
    toTargetProof(machine);
    expect(() => machine.receive(response({ transit: true, nsg: Stage.Operational }))).toThrow(AuthError);
  });
});

describe('Login Response checks (RFC 7143 §11.13)', () => {
  function started() {
    const machine = new LoginStateMachine(base);
    machine.start();
    return machine;
  }

  it('status 0x0201 becomes ISCSI_LOGIN_AUTH_FAILED with the hint to check the CHAP secret (§11.13.5)', () => {
    expect(() => started().receive(response({ statusClass: 2, statusDetail: 1 }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_LOGIN_AUTH_FAILED', hint: 'authentication failed: check the CHAP user name and secret', statusClass: 2, statusDetail: 1 }),
    );
  });

  it('status 0x0203 is "Not found" and 0x0301 "Service unavailable" (§11.13.5)', () => {
    expect(() => started().receive(response({ statusClass: 2, statusDetail: 3 }))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_TARGET_NOT_FOUND' }));
    expect(() => started().receive(response({ statusClass: 3, statusDetail: 1 }))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_SERVICE_UNAVAILABLE' }));
  });

  it('redirection 0x0101 and 0x0102 name the TargetAddress to follow (§11.13.5, §13.8)', () => {
    const temporary = started().receive(response({ statusClass: 1, statusDetail: 1, keys: [['TargetAddress', '[::1]:3261,2']] }));
    expect(temporary).toEqual({ kind: 'redirect', portal: { host: '::1', port: 3261, portalGroupTag: 2 }, permanent: false });
    const permanent = started().receive(response({ statusClass: 1, statusDetail: 2, keys: [['TargetAddress', '127.0.0.2']] }));
    expect(permanent).toEqual({ kind: 'redirect', portal: { host: '127.0.0.2', port: 3260 }, permanent: true });
    expect(() => started().receive(response({ statusClass: 1, statusDetail: 1 }))).toThrow(expect.objectContaining({ code: 'ISCSI_NEGOTIATION_MISSING_KEY' }));
  });

  it('a response for another ITT or ISID is a protocol error', () => {
    expect(() => started().receive(response({ itt: 5 }))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }));
    expect(() => started().receive(response({ isid: 1n }))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }));
  });

  it('a stage jump past what we requested is a protocol error (§11.13.3)', () => {
    expect(() => started().receive(response({ transit: true, nsg: Stage.FullFeature, keys: [['AuthMethod', 'None']] }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }),
    );
  });

  it('a response for a stage we are not in is a protocol error', () => {
    expect(() => started().receive(response({ csg: Stage.Operational, keys: [['AuthMethod', 'None']] }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }),
    );
  });

  it('T and C together are illegal (§11.13.2)', () => {
    expect(() => started().receive(response({ transit: true, continue: true, nsg: Stage.Operational }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }),
    );
  });

  it('an unsupported active version is refused (§11.13: we speak version 0)', () => {
    expect(() => started().receive(response({ versionActive: 1 }))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_UNSUPPORTED_VERSION' }));
  });

  it('a duplicated key in one response is refused', () => {
    expect(() => started().receive(response({ keys: [['AuthMethod', 'None'], ['AuthMethod', 'None']] }))).toThrow(
      expect.objectContaining({ code: 'ISCSI_NEGOTIATION_DUPLICATE_KEY' }),
    );
  });

  it('text continued over several responses (C bit) is gathered with empty requests (§11.12.2)', () => {
    const machine = started();
    const whole = encodeText([['AuthMethod', 'None'], ['TargetAlias', 'a-rather-long-alias']]);
    const cut = 7;
    const more = sent(machine.receive(response({ continue: true, data: whole.subarray(0, cut) })));
    expect(more.pdu.data.length).toBe(0);
    expect(more.pdu.transit).toBe(false);
    const op = sent(machine.receive(response({ transit: true, nsg: Stage.Operational, data: whole.subarray(cut) })));
    expect(op.pdu.csg).toBe(Stage.Operational);
  });

  it('the final response must carry a TSIH (§11.13.4)', () => {
    const machine = started();
    const op = machine.receive(response({ transit: true, nsg: Stage.Operational, keys: [['AuthMethod', 'None']] }));
    const offer = sent(op).keys;
    expect(() =>
      machine.receive(response({ csg: Stage.Operational, nsg: Stage.FullFeature, transit: true, tsih: 0, keys: operationalAnswer(offer) })),
    ).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }));
  });

  it('a target that never concludes is cut off after a bounded number of exchanges', () => {
    const machine = started();
    let error: unknown;
    for (let i = 0; i < 100 && error === undefined; i++) {
      try {
        machine.receive(response({ continue: true, data: Buffer.from('X') }));
      } catch (e) {
        error = e;
      }
    }
    expect(error).toMatchObject({ code: expect.stringMatching(/ISCSI_LOGIN_PROTOCOL|ISCSI_TEXT_TOO_LONG/) });
  });

  it('responses after a failure are refused', () => {
    const machine = started();
    expect(() => machine.receive(response({ statusClass: 2, statusDetail: 1 }))).toThrow();
    expect(() => machine.receive(response({}))).toThrow(expect.objectContaining({ code: 'ISCSI_LOGIN_PROTOCOL' }));
  });
});

describe('ISID (RFC 7143 §11.12.5) stays the same for the same initiator and target portal', () => {
  it('is derived, not random: the same inputs give the same ISID; another target or portal gives another', async () => {
    const { deriveIsid, formatIsid } = await import('../../src/login/isid.js');
    const a = deriveIsid('iqn.i:1', 'iqn.t:1', '10.0.0.1:3260');
    expect(deriveIsid('iqn.i:1', 'iqn.t:1', '10.0.0.1:3260')).toBe(a);
    expect(deriveIsid('iqn.i:1', 'iqn.t:2', '10.0.0.1:3260')).not.toBe(a);
    expect(deriveIsid('iqn.i:1', 'iqn.t:1', '10.0.0.2:3260')).not.toBe(a);
    // Type "Random" (T = 0b10) with the reserved A bits zero: the first byte is 0x80.
    expect(formatIsid(a)).toMatch(/^80[0-9a-f]{10}$/);
  });
});

describe('discovery with CHAP (RFC 7143 §13.3: a discovery session may authenticate)', () => {
  it('runs the CHAP exchange and then offers only the keys a discovery session uses', () => {
    const machine = new LoginStateMachine({
      ...base,
      sessionType: 'Discovery',
      targetName: undefined,
      auth: { method: 'CHAP', chap: { credentials: { username: 'disc', secret: Buffer.from('discovery-secret') } } },
    });
    expect(sent(machine.start()).keys.get('SessionType')).toBe('Discovery');
    machine.receive(response({ keys: [['AuthMethod', 'CHAP']] }));
    const answer = sent(machine.receive(response({ keys: [['CHAP_A', '5'], ['CHAP_I', '1'], ['CHAP_C', '0x0102030405060708']] })));
    expect(answer.keys.get('CHAP_N')).toBe('disc');
    const op = sent(machine.receive(response({ transit: true, nsg: Stage.Operational })));
    // §13: session-wide data-path keys (bursts, R2T, immediate data) are irrelevant to discovery and not offered.
    expect(op.keys.has('MaxBurstLength')).toBe(false);
    expect(op.keys.has('ImmediateData')).toBe(false);
    expect(op.keys.has('HeaderDigest')).toBe(true);
  });
});

describe('our own text longer than 8192 bytes (§13.12 login limit) continues over several Login Requests (§11.12.2; found by fuzzing)', () => {
  it('answers 400 unknown keys with C=1 parts, each after the target\'s empty response; the last part has T', () => {
    const machine = new LoginStateMachine(base);
    machine.start();
    const toOperational = sent(machine.receive(response({ transit: true, nsg: Stage.Operational, keys: [['AuthMethod', 'None']] })));
    const unknown: TextPair[] = Array.from({ length: 400 }, (_, i) => [`X-io.example.key-${i}`, 'on']);
    let action = machine.receive(response({ csg: Stage.Operational, nsg: Stage.Security, keys: unknown, statSN: 101 }));
    const parts: LoginRequest[] = [];
    for (;;) {
      expect(action.kind).toBe('send');
      const pdu = (action as { pdu: LoginRequest }).pdu; // a part alone is not whole text: decoded only joined below
      parts.push(pdu);
      expect(pdu.data.length).toBeLessThanOrEqual(8192);
      if (!pdu.continue) break;
      expect(pdu.transit).toBe(false); // "A Login Request with the C bit set to 1 MUST have the T bit set to 0"
      action = machine.receive(response({ csg: Stage.Operational, nsg: Stage.Security, statSN: 102 + parts.length }));
    }
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.at(-1)!.transit).toBe(true);
    const answered = decodeText(Buffer.concat(parts.map((p) => p.data)));
    expect(answered.filter(([, v]) => v === 'NotUnderstood')).toHaveLength(400);
    expect(toOperational.pdu.csg).toBe(Stage.Operational);
  });
});
