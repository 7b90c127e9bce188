/**
 * CHAP for iSCSI login (RFC 1994 §4.1, RFC 7143 §12.1.3, security rules in RFC 7143 §9.2.1).
 *
 * Pure functions plus `ChapInitiator`, an I/O-free exchange: the login state machine feeds it the target's keys and
 * sends the pairs it returns. Secrets live only in private fields: they never reach a message, `toString`, `toJSON`
 * or `util.inspect`.
 */
import { createHash, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { ArgumentError, AuthError } from '../errors.js';

export interface ChapAlgorithm {
  readonly id: 5 | 6 | 7 | 8;
  readonly name: 'md5' | 'sha1' | 'sha-256' | 'sha3-256';
  /** The node:crypto hash name. */
  readonly hash: string;
  readonly digestLength: number;
}

/** CHAP_A numbers (IANA PPP "CHAP Algorithm" registry; the values Linux LIO and open-iscsi use). */
export const CHAP_ALGORITHMS: ReadonlyArray<ChapAlgorithm> = Object.freeze([
  Object.freeze({ id: 5, name: 'md5', hash: 'md5', digestLength: 16 }),
  Object.freeze({ id: 6, name: 'sha1', hash: 'sha1', digestLength: 20 }),
  Object.freeze({ id: 7, name: 'sha-256', hash: 'sha256', digestLength: 32 }),
  Object.freeze({ id: 8, name: 'sha3-256', hash: 'sha3-256', digestLength: 32 }),
] as const);

/** RFC 7143 §12.1.3: the binary length of C and R MUST NOT exceed 1024 bytes. */
export const CHAP_MAX_BINARY_LENGTH = 1024;
/** Our own challenges are at least this long (as long as the largest digest we speak, half of it for SHA-256). */
export const CHAP_MIN_CHALLENGE_LENGTH = 16;

function algorithmById(id: number): ChapAlgorithm | undefined {
  return CHAP_ALGORITHMS.find((a) => a.id === id);
}

// Spellings accepted by parseChapAlgorithms: our names, open-iscsi's chap_algs (MD5, SHA1, SHA256, SHA3-256), numbers.
const ALGORITHM_ALIASES: ReadonlyMap<string, number> = new Map([
  ['md5', 5],
  ['sha1', 6],
  ['sha-1', 6],
  ['sha256', 7],
  ['sha-256', 7],
  ['sha3-256', 8],
  ['sha3_256', 8],
  ['sha3256', 8],
]);

/**
 * "sha3-256,md5", "SHA256,MD5" or "5,7" → CHAP_A ids in the given order (duplicates dropped).
 * ArgumentError on an empty list or an unknown algorithm.
 */
export function parseChapAlgorithms(spec: string): number[] {
  if (typeof spec !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'CHAP algorithm list must be a string');
  const ids: number[] = [];
  for (const raw of spec.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `empty entry in CHAP algorithm list "${clip(spec)}"`);
    const id = /^[0-9]{1,3}$/.test(token) ? Number(token) : ALGORITHM_ALIASES.get(token);
    if (id === undefined || algorithmById(id) === undefined) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `unknown CHAP algorithm "${clip(raw.trim())}"`, {
        hint: 'use md5, sha1, sha256, sha3-256 or their CHAP_A numbers 5, 6, 7, 8',
      });
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

const HEX_DIGITS = /^[0-9a-fA-F]+$/;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * RFC 7143 §6.1 binary-value: "0x"/"0X" + hex digits (an odd count has an implied leading zero nibble: n digits are
 * (n+1)/2 bytes) or "0b"/"0B" + base64 (RFC 4648, padded). AuthError ISCSI_CHAP_BAD_VALUE otherwise.
 */
export function decodeBinaryValue(value: string): Buffer {
  if (typeof value !== 'string' || value.length < 3) throw badValue('a binary value needs a 0x or 0b prefix and digits');
  const prefix = value.slice(0, 2).toLowerCase();
  const body = value.slice(2);
  if (prefix === '0x') {
    if (!HEX_DIGITS.test(body)) throw badValue('malformed hex binary value');
    return Buffer.from(body.length % 2 === 1 ? `0${body}` : body, 'hex');
  }
  if (prefix === '0b') {
    // Buffer.from(…, 'base64') silently skips junk, so check the alphabet and the padding ourselves.
    if (!BASE64_BODY.test(body) || body.length % 4 !== 0 || /^=/.test(body)) {
      throw badValue('malformed base64 binary value');
    }
    const decoded = Buffer.from(body, 'base64');
    if (decoded.length === 0) throw badValue('empty base64 binary value');
    return decoded;
  }
  throw badValue('a binary value must start with 0x or 0b');
}

/** RFC 7143 §6.1 binary-value; hex ("0x", lower case) by default. */
export function encodeBinaryValue(buf: Buffer, encoding: 'hex' | 'base64' = 'hex'): string {
  if (!Buffer.isBuffer(buf) || buf.length === 0) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'binary value must be a non-empty Buffer');
  if (encoding === 'hex') return `0x${buf.toString('hex')}`;
  if (encoding === 'base64') return `0b${buf.toString('base64')}`;
  throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'binary value encoding must be hex or base64');
}

/** RFC 1994 §4.1: Response = H(Identifier ‖ secret ‖ Challenge). */
export function chapResponse(algorithm: number, identifier: number, secret: Buffer, challenge: Buffer): Buffer {
  const alg = algorithmById(algorithm);
  if (alg === undefined) throw new AuthError('ISCSI_CHAP_UNSUPPORTED_ALGORITHM', `unsupported CHAP algorithm ${String(algorithm)}`);
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'CHAP identifier must be an integer 0..255');
  }
  if (!Buffer.isBuffer(secret) || !Buffer.isBuffer(challenge)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'CHAP secret and challenge must be Buffers');
  }
  return createHash(alg.hash).update(Buffer.of(identifier)).update(secret).update(challenge).digest();
}

export interface ChapCredentials {
  username: string;
  secret: Buffer;
}

export interface ChapOptions {
  /** We authenticate to the target with these. */
  credentials: ChapCredentials;
  /** Mutual CHAP: the target must prove it knows this secret under this name. */
  targetCredentials?: ChapCredentials;
  /**
   * Offered CHAP_A list in order of preference; default [5] exactly (some targets reject a list). RFC 7143 §12.1.3
   * says initiators MUST always offer 5 (MD5); a list without it is allowed for MD5-free (FIPS) deployments.
   */
  algorithms?: readonly number[];
  /** Length of our challenge in mutual CHAP: 16..1024 bytes, default 16. */
  challengeLength?: number;
  /** Injectable for tests; default crypto.randomBytes. */
  randomBytes?: (n: number) => Buffer;
}

export type ChapPair = readonly [string, string];

/**
 * RFC 7143 §9.2.1 reflection defence across connections: a target challenge equal to one this process has sent is
 * refused. Bounded FIFO of hex strings; challenges travel in the clear, so keeping them is harmless.
 */
const SENT_CHALLENGES_LIMIT = 256;
const sentChallenges = new Set<string>();

function rememberSentChallenge(challenge: Buffer): void {
  const key = challenge.toString('hex');
  sentChallenges.delete(key);
  sentChallenges.add(key);
  while (sentChallenges.size > SENT_CHALLENGES_LIMIT) {
    const oldest = sentChallenges.values().next().value;
    if (oldest === undefined) break;
    sentChallenges.delete(oldest);
  }
}

type ChapState = 'initial' | 'awaiting-challenge' | 'awaiting-target-response' | 'done' | 'failed';

/** Most attempts at drawing our challenge before giving up on an RNG that keeps echoing the target's. */
const CHALLENGE_DRAW_ATTEMPTS = 16;

export class ChapInitiator {
  readonly #username: string;
  readonly #secret: Buffer;
  readonly #targetUsername: string | undefined;
  readonly #targetSecret: Buffer | undefined;
  readonly #algorithms: readonly number[];
  readonly #challengeLength: number;
  readonly #randomBytes: (n: number) => Buffer;
  #state: ChapState = 'initial';
  #algorithm: number | undefined;
  #ourIdentifier: number | undefined;
  #ourChallenge: Buffer | undefined;

  constructor(options: ChapOptions) {
    if (options === null || typeof options !== 'object') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'CHAP options are required');
    const own = checkCredentials(options.credentials, 'initiator');
    this.#username = own.username;
    this.#secret = own.secret;
    if (options.targetCredentials !== undefined) {
      const target = checkCredentials(options.targetCredentials, 'target');
      // RFC 7143 §9.2.1: the same secret both ways lets a rogue target reflect our own challenge back at us.
      if (target.secret.length === own.secret.length && timingSafeEqual(target.secret, own.secret)) {
        throw new AuthError('ISCSI_CHAP_SAME_SECRET', 'mutual CHAP needs different secrets for the initiator and the target', {
          hint: 'configure a target (mutual) secret that differs from the initiator secret',
        });
      }
      this.#targetUsername = target.username;
      this.#targetSecret = target.secret;
    }
    const algorithms = options.algorithms ?? [5];
    if (!Array.isArray(algorithms) || algorithms.length === 0) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the CHAP algorithm list must not be empty');
    }
    for (const id of algorithms) {
      if (typeof id !== 'number' || algorithmById(id) === undefined) {
        throw new ArgumentError('ISCSI_BAD_ARGUMENT', `unknown CHAP algorithm ${String(id)}`);
      }
    }
    if (new Set(algorithms).size !== algorithms.length) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'duplicate CHAP algorithm in the list');
    this.#algorithms = Object.freeze([...algorithms]);
    const challengeLength = options.challengeLength ?? CHAP_MIN_CHALLENGE_LENGTH;
    if (!Number.isInteger(challengeLength) || challengeLength < CHAP_MIN_CHALLENGE_LENGTH || challengeLength > CHAP_MAX_BINARY_LENGTH) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `CHAP challenge length must be ${CHAP_MIN_CHALLENGE_LENGTH}..${CHAP_MAX_BINARY_LENGTH} bytes`);
    }
    this.#challengeLength = challengeLength;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
  }

  get mutual(): boolean {
    return this.#targetSecret !== undefined;
  }

  /** The CHAP_A the target chose, once respond() has accepted it. */
  get algorithm(): number | undefined {
    return this.#algorithm;
  }

  /** §12.1.3 first step: CHAP_A=<A1,A2,...> in order of preference. */
  start(): Array<ChapPair> {
    if (this.#state !== 'initial') throw outOfOrder('start() may only be called once');
    this.#state = 'awaiting-challenge';
    return [['CHAP_A', this.#algorithms.join(',')]];
  }

  /**
   * §12.1.3 third step: answer the target's CHAP_A/CHAP_I/CHAP_C with CHAP_N/CHAP_R and, in mutual CHAP, our own
   * CHAP_I/CHAP_C.
   */
  respond(target: ReadonlyMap<string, string>): Array<ChapPair> {
    if (this.#state !== 'awaiting-challenge') throw outOfOrder('respond() must follow start() and come once');
    this.#state = 'failed'; // until we return successfully
    const algorithm = this.#chosenAlgorithm(required(target, 'CHAP_A'));
    const identifier = parseNumber(required(target, 'CHAP_I'), 'CHAP_I');
    if (identifier > 255) throw badValue('CHAP_I must be 0..255');
    const challenge = decodeBinaryValue(required(target, 'CHAP_C'));
    if (challenge.length > CHAP_MAX_BINARY_LENGTH) throw badValue(`CHAP_C is longer than ${CHAP_MAX_BINARY_LENGTH} bytes`);
    // §9.2.1: a target challenge we sent ourselves (on this or another connection) is a reflection attack.
    if (sentChallenges.has(challenge.toString('hex'))) {
      throw new AuthError('ISCSI_CHAP_REFLECTED_CHALLENGE', 'the target sent a CHAP challenge this initiator issued itself');
    }
    const pairs: ChapPair[] = [
      ['CHAP_N', this.#username],
      ['CHAP_R', encodeBinaryValue(chapResponse(algorithm, identifier, this.#secret, challenge))],
    ];
    if (this.#targetSecret !== undefined) {
      const ourIdentifier = this.#draw(1)[0] ?? 0;
      const ourChallenge = this.#drawChallenge(challenge);
      rememberSentChallenge(ourChallenge);
      this.#ourIdentifier = ourIdentifier;
      this.#ourChallenge = ourChallenge;
      pairs.push(['CHAP_I', String(ourIdentifier)], ['CHAP_C', encodeBinaryValue(ourChallenge)]);
    }
    this.#algorithm = algorithm;
    this.#state = this.mutual ? 'awaiting-target-response' : 'done';
    return pairs;
  }

  /**
   * §12.1.3 last step, mutual CHAP: the target's CHAP_N must be the configured target name and its CHAP_R must be
   * H(our I ‖ target secret ‖ our C). In one-way CHAP the target must not send CHAP_N/CHAP_R; otherwise a no-op.
   */
  verify(target: ReadonlyMap<string, string>): void {
    if (this.#targetSecret === undefined) {
      if (this.#state !== 'done') throw outOfOrder('verify() must follow respond()');
      if (target.has('CHAP_N') || target.has('CHAP_R')) {
        throw badValue('the target sent CHAP_N/CHAP_R but target authentication was not requested');
      }
      return;
    }
    if (this.#state !== 'awaiting-target-response') throw outOfOrder('verify() must follow respond() and come once');
    this.#state = 'failed';
    const name = required(target, 'CHAP_N');
    const response = decodeBinaryValue(required(target, 'CHAP_R'));
    const algorithm = this.#algorithm ?? 5;
    const identifier = this.#ourIdentifier ?? 0;
    const challenge = this.#ourChallenge ?? Buffer.alloc(0);
    const expected = chapResponse(algorithm, identifier, this.#targetSecret, challenge);
    // §9.2.1: a response equal to the one we would compute with our own secret means the secret is shared both ways.
    // The constructor already refuses equal secrets, so this is a second line the RFC asks for, not a reachable path.
    const ownAnswer = chapResponse(algorithm, identifier, this.#secret, challenge);
    const sameLength = response.length === expected.length;
    const matches = sameLength && timingSafeEqual(response, expected);
    const reflected = sameLength && timingSafeEqual(response, ownAnswer);
    if (name !== this.#targetUsername || !matches || reflected) {
      throw new AuthError('ISCSI_CHAP_TARGET_AUTH_FAILED', 'the target failed mutual CHAP authentication', {
        hint: 'check the target (mutual) CHAP user name and secret',
      });
    }
    this.#state = 'done';
  }

  toString(): string {
    return `ChapInitiator(${this.mutual ? 'mutual' : 'one-way'}, state=${this.#state})`;
  }

  toJSON(): Record<string, unknown> {
    return { mutual: this.mutual, algorithms: [...this.#algorithms], state: this.#state };
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #chosenAlgorithm(value: string): number {
    if (value.trim().toLowerCase() === 'reject' || value.trim().toLowerCase() === 'none') {
      throw new AuthError('ISCSI_CHAP_UNSUPPORTED_ALGORITHM', 'the target supports none of the offered CHAP algorithms', {
        hint: 'offer CHAP_A 5 (MD5), which every target must support',
      });
    }
    if (value.includes(',')) throw badValue('the target must choose exactly one CHAP_A');
    const id = parseNumber(value, 'CHAP_A');
    if (!this.#algorithms.includes(id)) {
      throw new AuthError('ISCSI_CHAP_UNSUPPORTED_ALGORITHM', `the target chose CHAP_A=${clip(value)}, which was not offered`);
    }
    return id;
  }

  #draw(n: number): Buffer {
    const bytes = this.#randomBytes(n);
    if (!Buffer.isBuffer(bytes) || bytes.length !== n) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'randomBytes returned the wrong length');
    return bytes;
  }

  // §9.2.1: the challenge we originate MUST NOT reuse the one the target sent us.
  #drawChallenge(targetChallenge: Buffer): Buffer {
    for (let attempt = 0; attempt < CHALLENGE_DRAW_ATTEMPTS; attempt++) {
      const candidate = Buffer.from(this.#draw(this.#challengeLength));
      if (!candidate.equals(targetChallenge)) return candidate;
    }
    throw new AuthError('ISCSI_CHAP_REFLECTED_CHALLENGE', 'could not draw a CHAP challenge different from the target challenge');
  }
}

function checkCredentials(value: ChapCredentials | undefined, who: 'initiator' | 'target'): ChapCredentials {
  if (value === null || typeof value !== 'object' || typeof value.username !== 'string' || value.username === '') {
    throw new AuthError('ISCSI_CHAP_MISSING_CREDENTIALS', `a CHAP user name is required for the ${who}`);
  }
  if (/[\0\r\n]/.test(value.username)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `the ${who} CHAP user name contains a control character`);
  // RFC 1994 §2: the secret MUST be at least 1 octet.
  if (!Buffer.isBuffer(value.secret) || value.secret.length === 0) {
    throw new AuthError('ISCSI_CHAP_MISSING_CREDENTIALS', `a non-empty CHAP secret is required for the ${who}`);
  }
  // A private copy: the caller may reuse or wipe its buffer.
  return { username: value.username, secret: Buffer.from(value.secret) };
}

function required(target: ReadonlyMap<string, string>, key: string): string {
  const value = target.get(key);
  if (typeof value !== 'string') throw badValue(`the target did not send ${key}`);
  return value;
}

// RFC 7143 §6.1 numerical-value: a decimal-constant or a hex-constant.
function parseNumber(value: string, key: string): number {
  if (/^[0-9]{1,10}$/.test(value)) return Number(value);
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(value)) return Number.parseInt(value.slice(2), 16);
  throw badValue(`${key} is not a number`);
}

function badValue(message: string): AuthError {
  return new AuthError('ISCSI_CHAP_BAD_VALUE', message);
}

// Calling the exchange out of order means the login broke the §12.1.3 sequence.
function outOfOrder(message: string): AuthError {
  return new AuthError('ISCSI_LOGIN_PROTOCOL', `CHAP exchange out of order: ${message}`);
}

/** Peer- or user-supplied text in a message: bounded and quoted. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
