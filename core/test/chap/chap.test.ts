import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inspect } from 'node:util';
import { ArgumentError, AuthError, IscsiError } from '../../src/errors.js';
import {
  CHAP_ALGORITHMS,
  ChapInitiator,
  chapResponse,
  decodeBinaryValue,
  encodeBinaryValue,
  parseChapAlgorithms,
  type ChapOptions,
} from '../../src/login/chap.js';

const SECRET = Buffer.from('chap-secret-0123');
const TARGET_SECRET = Buffer.from('target-secret-9876');
const range = (from: number, to: number): Buffer => Buffer.from(Array.from({ length: to - from }, (_, i) => from + i));

/** Deterministic randomBytes: hands out the given buffers in order, then fails the test if asked again. */
function scripted(...chunks: Buffer[]): (n: number) => Buffer {
  return (n) => {
    const next = chunks.shift();
    if (next === undefined || next.length !== n) throw new Error(`unexpected randomBytes(${n})`);
    return next;
  };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof IscsiError) return e.code;
    throw e;
  }
  return undefined;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('chapResponse — RFC 1994 §4.1: Response = H(Identifier ‖ secret ‖ Challenge)', () => {
  // Expected digests computed independently with python3 hashlib and `openssl dgst` over
  // 0x2a ‖ "chap-secret-0123" ‖ 00 01 … 0f.
  const vectors: Array<[number, string]> = [
    [5, 'c3cf827a60c50d9d282e7d0c1a15d36f'],
    [6, '6006ebd853217d9da0ecf927b6dd7984551ecc68'],
    [7, 'b5897b2626ebad11c1d5b131da4dde931c8813cda92dad356a7cc88522a454e7'],
    [8, '83217687c333826df3ee4d54ea2f7a7c5cce4433d4ff85b0b5747a22a7c31c53'],
  ];
  for (const [alg, hex] of vectors) {
    it(`CHAP_A=${alg} vector`, () => {
      const r = chapResponse(alg, 0x2a, SECRET, range(0, 16));
      expect(r.toString('hex')).toBe(hex);
      expect(r.length).toBe(CHAP_ALGORITHMS.find((a) => a.id === alg)?.digestLength);
    });
  }

  it('MD5 over a 1024-byte challenge and identifier 255 (python3 hashlib)', () => {
    expect(chapResponse(5, 255, Buffer.of(1), Buffer.alloc(1024, 0xa5)).toString('hex')).toBe('d35ffe5efb681f6f78738a0c33dd929e');
  });

  it('refuses an unknown algorithm and an identifier outside one octet', () => {
    expect(code(() => chapResponse(9, 1, SECRET, range(0, 16)))).toBe('ISCSI_CHAP_UNSUPPORTED_ALGORITHM');
    expect(code(() => chapResponse(5, 256, SECRET, range(0, 16)))).toBe('ISCSI_BAD_ARGUMENT');
    expect(code(() => chapResponse(5, -1, SECRET, range(0, 16)))).toBe('ISCSI_BAD_ARGUMENT');
  });
});

describe('CHAP_ALGORITHMS and parseChapAlgorithms', () => {
  it('numbers the algorithms as the IANA CHAP registry / LIO / open-iscsi do: 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256', () => {
    expect(CHAP_ALGORITHMS.map((a) => [a.id, a.name, a.digestLength])).toEqual([
      [5, 'md5', 16],
      [6, 'sha1', 20],
      [7, 'sha-256', 32],
      [8, 'sha3-256', 32],
    ]);
  });

  it('accepts our names, open-iscsi chap_algs spellings and numbers, keeping order', () => {
    expect(parseChapAlgorithms('sha3-256,md5')).toEqual([8, 5]);
    expect(parseChapAlgorithms('SHA3-256,SHA256,SHA1,MD5')).toEqual([8, 7, 6, 5]);
    expect(parseChapAlgorithms(' sha-256 , sha-1 ')).toEqual([7, 6]);
    expect(parseChapAlgorithms('5,7')).toEqual([5, 7]);
    expect(parseChapAlgorithms('md5,5,MD5')).toEqual([5]);
  });

  it('throws ArgumentError on unknown or empty entries', () => {
    for (const bad of ['', 'md4', '5,,7', '9', 'sha512', '4']) {
      const e = errorOf(() => parseChapAlgorithms(bad));
      expect(e).toBeInstanceOf(ArgumentError);
    }
  });
});

describe('binary values — RFC 7143 §6.1', () => {
  it('decodes hex with either prefix case; an odd digit count has an implied leading zero ((n+1)/2 bytes)', () => {
    expect(decodeBinaryValue('0x00ff10').toString('hex')).toBe('00ff10');
    expect(decodeBinaryValue('0XABcd').toString('hex')).toBe('abcd');
    expect(decodeBinaryValue('0xabc').toString('hex')).toBe('0abc');
    expect(decodeBinaryValue('0x1').toString('hex')).toBe('01');
  });

  it('decodes base64 (RFC 4648) with either prefix case', () => {
    expect(decodeBinaryValue('0bAAEC').toString('hex')).toBe('000102');
    expect(decodeBinaryValue('0B/w==').toString('hex')).toBe('ff');
    expect(decodeBinaryValue('0b+/8=').toString('hex')).toBe('fbff');
  });

  it('refuses malformed values with ISCSI_CHAP_BAD_VALUE', () => {
    for (const bad of ['', '0x', '0b', '12', 'abcd', '0xg1', '0x 12', '0x12 ', '0bA', '0bAB', '0b====', '0b=AAA', '0bAA=A', '0bA-B_', '0b AA=', '0c00']) {
      const e = errorOf(() => decodeBinaryValue(bad));
      expect(e, bad).toBeInstanceOf(AuthError);
      expect((e as AuthError).code, bad).toBe('ISCSI_CHAP_BAD_VALUE');
    }
  });

  it('encodes lower-case hex by default and base64 on request; both round-trip', () => {
    const buf = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01]);
    expect(encodeBinaryValue(buf)).toBe('0xdeadbeef01');
    expect(encodeBinaryValue(buf, 'base64')).toBe('0b3q2+7wE=');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constantFrom('hex' as const, 'base64' as const), (bytes, enc) => {
        const b = Buffer.from(bytes);
        expect(decodeBinaryValue(encodeBinaryValue(b, enc)).equals(b)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

function targetKeys(entries: Record<string, string>): ReadonlyMap<string, string> {
  return new Map(Object.entries(entries));
}

function oneWay(extra: Partial<ChapOptions> = {}): ChapInitiator {
  return new ChapInitiator({ credentials: { username: 'iqn.2024-01.test:initiator', secret: SECRET }, ...extra });
}

describe('ChapInitiator — RFC 7143 §12.1.3 exchange', () => {
  it('first step: CHAP_A=5 only by default; a configured list is sent comma-separated in order of preference', () => {
    expect(oneWay().start()).toEqual([['CHAP_A', '5']]);
    expect(oneWay({ algorithms: [8, 7, 5] }).start()).toEqual([['CHAP_A', '8,7,5']]);
  });

  it('one-way: answers CHAP_N/CHAP_R computed over the target challenge (simulated target checks it)', () => {
    const chap = oneWay();
    chap.start();
    const challenge = range(0xf0, 0x100);
    const out = chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: encodeBinaryValue(challenge) }));
    expect(out).toEqual([
      ['CHAP_N', 'iqn.2024-01.test:initiator'],
      ['CHAP_R', '0xe017d32377bce994171710ea27759f98'], // python3: md5(01 ‖ secret ‖ f0..ff)
    ]);
    // The target's own computation agrees.
    const r = decodeBinaryValue(out[1]![1]);
    expect(r.equals(chapResponse(5, 1, SECRET, challenge))).toBe(true);
    expect(chap.mutual).toBe(false);
    // §12.1.3: in one-way CHAP the target does not answer with CHAP_N/CHAP_R.
    expect(() => chap.verify(targetKeys({}))).not.toThrow();
  });

  it('one-way: a target that sends CHAP_N/CHAP_R anyway is refused', () => {
    const chap = oneWay();
    chap.start();
    chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '2', CHAP_C: '0x' + 'ab'.repeat(16) }));
    expect(code(() => chap.verify(targetKeys({ CHAP_N: 'x', CHAP_R: '0x00' })))).toBe('ISCSI_CHAP_BAD_VALUE');
  });

  it('accepts CHAP_I and CHAP_A as hex-constants (§6.1 numerical-value) and a base64 challenge', () => {
    const chap = oneWay({ algorithms: [7, 5] });
    chap.start();
    const challenge = range(0xf0, 0x100);
    const out = chap.respond(targetKeys({ CHAP_A: '0x7', CHAP_I: '0x01', CHAP_C: encodeBinaryValue(challenge, 'base64') }));
    expect(out[1]).toEqual(['CHAP_R', '0x6468a7cfbf51cbed5b6983b6279ccec4e42412365f8dce7d838dc700e58089b1']); // python3 sha256
    expect(chap.algorithm).toBe(7);
  });

  it('mutual: sends CHAP_I/CHAP_C of its own and verifies the target answer (simulated target)', () => {
    const ourChallenge = range(0x10, 0x20);
    const chap = new ChapInitiator({
      credentials: { username: 'iqn.2024-01.test:initiator', secret: SECRET },
      targetCredentials: { username: 'iqn.2024-01.test:target', secret: TARGET_SECRET },
      randomBytes: scripted(Buffer.of(7), ourChallenge),
    });
    expect(chap.mutual).toBe(true);
    expect(chap.start()).toEqual([['CHAP_A', '5']]);
    const targetChallenge = range(0xf0, 0x100);
    const out = chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: encodeBinaryValue(targetChallenge) }));
    expect(out).toEqual([
      ['CHAP_N', 'iqn.2024-01.test:initiator'],
      ['CHAP_R', '0xe017d32377bce994171710ea27759f98'],
      ['CHAP_I', '7'],
      ['CHAP_C', '0x101112131415161718191a1b1c1d1e1f'],
    ]);
    // The simulated target answers with H(our I ‖ target secret ‖ our C); python3: md5(07 ‖ target secret ‖ 10..1f).
    const targetR = chapResponse(5, 7, TARGET_SECRET, ourChallenge);
    expect(targetR.toString('hex')).toBe('a2ce645f0c40d94137e96be13efd7a3b');
    expect(() => chap.verify(targetKeys({ CHAP_N: 'iqn.2024-01.test:target', CHAP_R: encodeBinaryValue(targetR, 'base64') }))).not.toThrow();
  });

  it('mutual with SHA-256: the whole exchange with a computed target side', () => {
    const chap = new ChapInitiator({
      credentials: { username: 'ini', secret: SECRET },
      targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
      algorithms: [7],
      randomBytes: scripted(Buffer.of(7), range(0x10, 0x20).reverse()),
    });
    chap.start();
    const out = new Map(chap.respond(targetKeys({ CHAP_A: '7', CHAP_I: '1', CHAP_C: encodeBinaryValue(range(0x60, 0x80)) })));
    expect(out.get('CHAP_I')).toBe('7');
    expect(out.get('CHAP_C')).toBe('0x1f1e1d1c1b1a19181716151413121110');
    // The target's answer, computed outside core: (printf '\x07'; printf '%s' target-secret-9876; printf 1f1e…10 |
    // xxd -r -p) | openssl dgst -sha256 (python3 hashlib agrees).
    const targetR = '0x6b365162d70aa790458e27263338068236732a918c4e92694b6671bcb9caff7e';
    expect(() => chap.verify(targetKeys({ CHAP_N: 'tgt', CHAP_R: targetR }))).not.toThrow();
    expect(chap.toJSON()).toMatchObject({ state: 'done' });
  });

  function mutualAfterRespond(): ChapInitiator {
    const chap = new ChapInitiator({
      credentials: { username: 'ini', secret: SECRET },
      targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
      randomBytes: scripted(Buffer.of(9), range(0x30, 0x40)),
    });
    chap.start();
    chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '3', CHAP_C: '0x' + 'cd'.repeat(16) }));
    return chap;
  }

  it('mutual: a wrong CHAP_R, a wrong CHAP_N or a wrong-length CHAP_R → ISCSI_CHAP_TARGET_AUTH_FAILED', () => {
    // openssl dgst -md5 over 09 ‖ target-secret-9876 ‖ 30..3f (python3 hashlib agrees): not core's own function.
    const good = Buffer.from('115dc95af4fcaf930aa28bab12b2b2d9', 'hex');
    const wrong = Buffer.from(good);
    wrong[0]! ^= 1;
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'tgt', CHAP_R: encodeBinaryValue(wrong) })))).toBe(
      'ISCSI_CHAP_TARGET_AUTH_FAILED',
    );
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'other', CHAP_R: encodeBinaryValue(good) })))).toBe(
      'ISCSI_CHAP_TARGET_AUTH_FAILED',
    );
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'tgt', CHAP_R: encodeBinaryValue(good.subarray(0, 15)) })))).toBe(
      'ISCSI_CHAP_TARGET_AUTH_FAILED',
    );
    // And the good one passes, so the three failures above are not vacuous.
    expect(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'tgt', CHAP_R: encodeBinaryValue(good) }))).not.toThrow();
  });

  it('mutual: a missing CHAP_N or CHAP_R, or a malformed CHAP_R → ISCSI_CHAP_BAD_VALUE', () => {
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_R: '0x00' })))).toBe('ISCSI_CHAP_BAD_VALUE');
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'tgt' })))).toBe('ISCSI_CHAP_BAD_VALUE');
    expect(code(() => mutualAfterRespond().verify(targetKeys({ CHAP_N: 'tgt', CHAP_R: 'zz' })))).toBe('ISCSI_CHAP_BAD_VALUE');
  });

  it('§12.1.3 binary length of C MUST NOT exceed 1024 bytes: 1024 accepted, 1025 refused; an empty C refused', () => {
    const ok = oneWay();
    ok.start();
    const out = ok.respond(targetKeys({ CHAP_A: '5', CHAP_I: '255', CHAP_C: encodeBinaryValue(Buffer.alloc(1024, 0x5a)) }));
    expect(out[1]![1]).toBe('0xb2d62c1e167179a352f3054b0d2a83e9'); // openssl dgst -md5 over ff ‖ secret ‖ 5a×1024
    const tooLong = oneWay();
    tooLong.start();
    expect(code(() => tooLong.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: encodeBinaryValue(Buffer.alloc(1025, 0x5a)) })))).toBe(
      'ISCSI_CHAP_BAD_VALUE',
    );
    const empty = oneWay();
    empty.start();
    expect(code(() => empty.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: '0x' })))).toBe('ISCSI_CHAP_BAD_VALUE');
  });

  it('§12.1.3 the target must choose one of the offered algorithms, exactly one', () => {
    const cases: Array<[string, string]> = [
      ['7', 'ISCSI_CHAP_UNSUPPORTED_ALGORITHM'], // not offered (we offered 5 only)
      ['Reject', 'ISCSI_CHAP_UNSUPPORTED_ALGORITHM'],
      ['5,7', 'ISCSI_CHAP_BAD_VALUE'],
      ['md5', 'ISCSI_CHAP_BAD_VALUE'],
    ];
    for (const [value, expected] of cases) {
      const chap = oneWay();
      chap.start();
      expect(code(() => chap.respond(targetKeys({ CHAP_A: value, CHAP_I: '1', CHAP_C: '0x' + '11'.repeat(16) }))), value).toBe(expected);
    }
  });

  it('refuses a CHAP_I outside 0..255 and missing keys', () => {
    const cases: Array<Record<string, string>> = [
      { CHAP_A: '5', CHAP_I: '256', CHAP_C: '0x' + '22'.repeat(16) },
      { CHAP_A: '5', CHAP_I: '-1', CHAP_C: '0x' + '22'.repeat(16) },
      { CHAP_I: '1', CHAP_C: '0x' + '22'.repeat(16) },
      { CHAP_A: '5', CHAP_C: '0x' + '22'.repeat(16) },
      { CHAP_A: '5', CHAP_I: '1' },
    ];
    for (const keys of cases) {
      const chap = oneWay();
      chap.start();
      expect(code(() => chap.respond(targetKeys(keys)))).toBe('ISCSI_CHAP_BAD_VALUE');
    }
  });

  it('§9.2.1 reflection: a target challenge equal to one this initiator sent (even on another connection) is refused', () => {
    const sent = range(0x40, 0x50);
    const first = new ChapInitiator({
      credentials: { username: 'ini', secret: SECRET },
      targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
      randomBytes: scripted(Buffer.of(1), sent),
    });
    first.start();
    first.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: '0x' + '33'.repeat(16) }));
    // A rogue "target" on a second connection reflects the challenge we just issued.
    const second = oneWay();
    second.start();
    expect(code(() => second.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: encodeBinaryValue(sent, 'base64') })))).toBe(
      'ISCSI_CHAP_REFLECTED_CHALLENGE',
    );
  });

  it('§9.2.1 the originator MUST NOT reuse the challenge the other side sent: an equal draw is regenerated', () => {
    const targetChallenge = range(0x50, 0x60);
    const fresh = range(0x60, 0x70);
    const chap = new ChapInitiator({
      credentials: { username: 'ini', secret: SECRET },
      targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
      randomBytes: scripted(Buffer.of(4), Buffer.from(targetChallenge), fresh),
    });
    chap.start();
    const out = new Map(chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: encodeBinaryValue(targetChallenge) })));
    expect(out.get('CHAP_C')).toBe(encodeBinaryValue(fresh));
  });

  it('§9.2.1 the same secret both ways is refused at construction (ISCSI_CHAP_SAME_SECRET)', () => {
    const e = errorOf(
      () =>
        new ChapInitiator({
          credentials: { username: 'ini', secret: Buffer.from('same-secret-1234') },
          targetCredentials: { username: 'tgt', secret: Buffer.from('same-secret-1234') },
        }),
    );
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).code).toBe('ISCSI_CHAP_SAME_SECRET');
    expect((e as AuthError).message).not.toContain('same-secret-1234');
  });

  it('refuses bad options: empty name or secret, unknown algorithm, challenge length outside 16..1024', () => {
    expect(code(() => new ChapInitiator({ credentials: { username: '', secret: SECRET } }))).toBe('ISCSI_CHAP_MISSING_CREDENTIALS');
    expect(code(() => new ChapInitiator({ credentials: { username: 'a', secret: Buffer.alloc(0) } }))).toBe('ISCSI_CHAP_MISSING_CREDENTIALS');
    expect(code(() => oneWay({ algorithms: [4] }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(code(() => oneWay({ algorithms: [] }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(code(() => oneWay({ challengeLength: 15 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(code(() => oneWay({ challengeLength: 1025 }))).toBe('ISCSI_BAD_ARGUMENT');
    expect(code(() => oneWay({ challengeLength: 1024 }))).toBeUndefined();
  });

  it('a configured challenge length is honoured', () => {
    const chap = new ChapInitiator({
      credentials: { username: 'ini', secret: SECRET },
      targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
      challengeLength: 64,
    });
    chap.start();
    const out = new Map(chap.respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: '0x' + '55'.repeat(16) })));
    expect(decodeBinaryValue(out.get('CHAP_C')!).length).toBe(64);
    const i = Number(out.get('CHAP_I'));
    expect(Number.isInteger(i) && i >= 0 && i <= 255).toBe(true);
  });

  it('calls out of order are refused', () => {
    expect(code(() => oneWay().respond(targetKeys({ CHAP_A: '5', CHAP_I: '1', CHAP_C: '0x' + '66'.repeat(16) })))).toBe('ISCSI_LOGIN_PROTOCOL');
    const twice = oneWay();
    twice.start();
    expect(code(() => twice.start())).toBe('ISCSI_LOGIN_PROTOCOL');
    const early = new ChapInitiator({ credentials: { username: 'i', secret: SECRET }, targetCredentials: { username: 't', secret: TARGET_SECRET } });
    early.start();
    expect(code(() => early.verify(targetKeys({ CHAP_N: 't', CHAP_R: '0x00' })))).toBe('ISCSI_LOGIN_PROTOCOL');
  });

  it('never shows a secret in messages, toString, JSON or util.inspect', () => {
    const chap = new ChapInitiator({
      credentials: { username: 'ini', secret: Buffer.from('initiator-secret-ABC') },
      targetCredentials: { username: 'tgt', secret: Buffer.from('target-secret-XYZ') },
    });
    const shown = [String(chap), JSON.stringify(chap), inspect(chap, { showHidden: true, depth: 5 })].join('\n');
    for (const needle of ['initiator-secret-ABC', 'target-secret-XYZ', Buffer.from('initiator-secret-ABC').toString('hex')]) {
      expect(shown).not.toContain(needle);
    }
  });
});

describe('property: respond()/verify() over arbitrary target keys throw only AuthError', () => {
  const keyArb = fc.constantFrom('CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R', 'X');
  const valueArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('5', '7', '0x5', '256', '-1', 'Reject', '0x', '0b', '0b====', '0xzz'),
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => `0x${Buffer.from(b).toString('hex')}`),
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => `0b${Buffer.from(b).toString('base64')}`),
    fc.integer({ min: -5, max: 300 }).map(String),
  );
  const mapArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 8 }).map((entries) => new Map(entries));

  it('respond', () => {
    fc.assert(
      fc.property(mapArb, fc.boolean(), (keys, mutual) => {
        const chap = new ChapInitiator({
          credentials: { username: 'ini', secret: SECRET },
          ...(mutual ? { targetCredentials: { username: 'tgt', secret: TARGET_SECRET } } : {}),
          algorithms: [5, 7],
        });
        chap.start();
        try {
          chap.respond(keys);
        } catch (e) {
          expect(e).toBeInstanceOf(AuthError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('verify', () => {
    fc.assert(
      fc.property(mapArb, (keys) => {
        const chap = new ChapInitiator({
          credentials: { username: 'ini', secret: SECRET },
          targetCredentials: { username: 'tgt', secret: TARGET_SECRET },
        });
        chap.start();
        chap.respond(new Map([['CHAP_A', '5'], ['CHAP_I', '1'], ['CHAP_C', '0x' + '77'.repeat(16)]]));
        try {
          chap.verify(keys);
        } catch (e) {
          expect(e).toBeInstanceOf(AuthError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
