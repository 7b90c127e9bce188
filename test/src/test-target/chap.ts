/**
 * CHAP as the authenticator (RFC 1994, RFC 7143 §12.1.3): choose CHAP_A from the initiator's list, challenge with
 * CHAP_I/CHAP_C, check CHAP_N/CHAP_R, and — when the initiator challenges back (mutual CHAP) and an outgoing account
 * is configured — answer with our CHAP_N/CHAP_R. I/O-free; every failure is an authentication failure (0x0201).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeBinaryValue, encodeBinaryValue, type TextPair } from '@iscsi-initiator/core';

export interface ChapAccount {
  readonly user: string;
  readonly secret: string;
}

export interface ChapSettings {
  /** The account the initiator must prove (one-way CHAP). */
  readonly incoming: ChapAccount;
  /** Our own account for mutual CHAP. */
  readonly outgoing?: ChapAccount | undefined;
  /** CHAP_A values we accept: 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256 (core's ids, the IANA registry's). */
  readonly algorithms: readonly number[];
}

/**
 * CHAP_A → node:crypto hash and digest length (IANA PPP CHAP Algorithm registry). The target keeps its own table and
 * its own response function: a verifier that shared core's would agree with any mistake core made.
 */
const HASHES: ReadonlyMap<number, { readonly hash: string; readonly digestLength: number }> = new Map([
  [5, { hash: 'md5', digestLength: 16 }],
  [6, { hash: 'sha1', digestLength: 20 }],
  [7, { hash: 'sha256', digestLength: 32 }],
  [8, { hash: 'sha3-256', digestLength: 32 }],
]);

export const ALL_CHAP_ALGORITHMS: readonly number[] = [...HASHES.keys()];

/** RFC 1994 §4.1: Response = H(Identifier ‖ secret ‖ Challenge), the identifier one octet. */
function rfc1994Response(algorithm: number, identifier: number, secret: Buffer, challenge: Buffer): Buffer {
  const hash = HASHES.get(algorithm)?.hash;
  if (hash === undefined) throw new Error(`CHAP_A ${algorithm} has no hash`);
  return createHash(hash).update(Buffer.of(identifier)).update(secret).update(challenge).digest();
}

/** Why CHAP failed, for the record (never the secret). */
export class ChapFailure {
  constructor(readonly reason: string) {}
}

export class ChapAuthenticator {
  private algorithm: number | undefined;
  private identifier = 0;
  private challenge: Buffer | undefined;
  /** True once the initiator proved itself; `mutual` once we answered its challenge. */
  authenticated = false;
  mutual = false;

  constructor(private readonly settings: ChapSettings) {}

  /** §12.1.3 step 2: CHAP_A=<A1,A2,…> → our choice with CHAP_I and CHAP_C. */
  challengeFor(offered: string): TextPair[] | ChapFailure {
    const ids = offered.split(',').map((v) => (/^\d{1,3}$/.test(v) ? Number(v) : NaN));
    const chosen = ids.find((id) => this.settings.algorithms.includes(id));
    if (chosen === undefined) return new ChapFailure(`none of CHAP_A=${offered} is acceptable`);
    const digestLength = HASHES.get(chosen)!.digestLength;
    this.algorithm = chosen;
    this.identifier = randomBytes(1)[0]!;
    // §12.1.3: a challenge at least as long as the digest.
    this.challenge = randomBytes(Math.max(16, digestLength));
    return [
      ['CHAP_A', String(chosen)],
      ['CHAP_I', String(this.identifier)],
      ['CHAP_C', encodeBinaryValue(this.challenge)],
    ];
  }

  /**
   * §12.1.3 step 3: checks CHAP_N/CHAP_R; with CHAP_I/CHAP_C from the initiator, answers with ours (mutual) or
   * fails when we have no outgoing account.
   */
  verify(keys: ReadonlyMap<string, string>): TextPair[] | ChapFailure {
    if (this.algorithm === undefined || this.challenge === undefined) return new ChapFailure('CHAP_N/CHAP_R before the challenge');
    const name = keys.get('CHAP_N');
    const response = keys.get('CHAP_R');
    if (name === undefined || response === undefined) return new ChapFailure('CHAP_N or CHAP_R missing');
    let received: Buffer;
    try {
      received = decodeBinaryValue(response);
    } catch {
      return new ChapFailure('CHAP_R is not a binary value');
    }
    const { incoming, outgoing } = this.settings;
    const expected = rfc1994Response(this.algorithm, this.identifier, Buffer.from(incoming.secret, 'utf8'), this.challenge);
    if (name !== incoming.user || received.length !== expected.length || !timingSafeEqual(received, expected)) {
      return new ChapFailure(`CHAP response for "${name}" does not match`);
    }
    this.authenticated = true;
    const theirChallenge = keys.get('CHAP_C');
    const theirIdentifier = keys.get('CHAP_I');
    if (theirChallenge === undefined && theirIdentifier === undefined) return [];
    if (theirChallenge === undefined || theirIdentifier === undefined || !/^\d{1,3}$/.test(theirIdentifier) || Number(theirIdentifier) > 255) {
      return new ChapFailure('mutual CHAP needs both CHAP_I (0..255) and CHAP_C');
    }
    if (!outgoing) return new ChapFailure('the initiator asked for mutual CHAP but no outgoing account is configured');
    let challenge: Buffer;
    try {
      challenge = decodeBinaryValue(theirChallenge);
    } catch {
      return new ChapFailure('CHAP_C is not a binary value');
    }
    // RFC 7143 §9.2.1: our own challenge reflected back is an attack, not a challenge.
    if (challenge.equals(this.challenge)) return new ChapFailure('the initiator reflected our CHAP challenge');
    this.mutual = true;
    const answer = rfc1994Response(this.algorithm, Number(theirIdentifier), Buffer.from(outgoing.secret, 'utf8'), challenge);
    return [
      ['CHAP_N', outgoing.user],
      ['CHAP_R', encodeBinaryValue(answer)],
    ];
  }
}
