/**
 * Operational parameter negotiation from the initiator's side (RFC 7143 §6.2, §13): what we offer, how each answer
 * is checked against our offer, how keys the target offers on its own are answered, and the resolved parameters.
 * No I/O: the login state machine feeds it the keys of each response and sends back what it returns.
 */

import { ArgumentError, NegotiationError } from '../errors.js';
import { KEYS, type KeyDefinition } from './keys.js';
import type { TextPair } from './text-codec.js';
import {
  IRRELEVANT,
  MAX_KEY_BYTES,
  NOT_UNDERSTOOD,
  REJECT,
  RESERVED_ANSWERS,
  clip,
  formatBoolean,
  isValidKeyName,
  parseBoolean,
  parseNumericalValue,
  splitList,
} from './values.js';

export type DigestName = 'CRC32C' | 'None';
type SessionType = 'Normal' | 'Discovery';

/** What we (the initiator) want. Every field is optional; see DEFAULT_PROPOSAL. */
export interface OperationalProposal {
  headerDigest?: ReadonlyArray<DigestName>;
  dataDigest?: ReadonlyArray<DigestName>;
  /** What we declare we can receive (§13.12). */
  maxRecvDataSegmentLength?: number;
  maxBurstLength?: number;
  firstBurstLength?: number;
  initialR2T?: boolean;
  immediateData?: boolean;
  maxOutstandingR2T?: number;
  maxConnections?: number;
  defaultTime2Wait?: number;
  defaultTime2Retain?: number;
  errorRecoveryLevel?: number;
  dataPDUInOrder?: boolean;
  dataSequenceInOrder?: boolean;
}

/** The outcome, fully resolved: RFC defaults apply to whatever was not negotiated. */
export interface OperationalParameters {
  headerDigest: boolean;
  dataDigest: boolean;
  /** What we declared: the target must send us data segments of at most this. */
  maxRecvDataSegmentLength: number;
  /** What the target declared (RFC default 8192 if it did not): we send data segments of at most this. */
  maxXmitDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  maxConnections: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  errorRecoveryLevel: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  targetAlias?: string;
  targetPortalGroupTag?: number;
  targetAddress?: string;
}

/**
 * Our defaults. Digests: `None,CRC32C` for both, as libiscsi offers them: §13.1 has the target pick the first value
 * of our list it supports, so a target that can do without digests runs without them (no CRC cost), and one that
 * requires them gets CRC32C instead of failing the login. DefaultTime2Retain is 0, not the RFC's 20: we run ErrorRecoveryLevel 0, where nothing a target
 * retains after a connection loss can be used (task reassignment needs ERL 2, §7.1.5), and 0 lets the target discard
 * that state at once (§13.16). The result function is Minimum, so the target cannot raise it.
 */
export const DEFAULT_PROPOSAL: Readonly<Required<OperationalProposal>> = Object.freeze({
  headerDigest: Object.freeze(['None', 'CRC32C'] as const),
  dataDigest: Object.freeze(['None', 'CRC32C'] as const),
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 262144,
  initialR2T: false,
  immediateData: true,
  maxOutstandingR2T: 8,
  maxConnections: 1,
  // §13.15 takes the larger of both offers: offering 0 lets the target decide how long a reconnect waits, so a laptop
  // whose Wi-Fi blinked reconnects at once where the target allows it.
  defaultTime2Wait: 0,
  defaultTime2Retain: 0,
  errorRecoveryLevel: 0,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
});

/** The keys we offer, in this order; for Discovery only those relevant there (§13 "Irrelevant when"). */
const OFFERED_KEYS = [
  'HeaderDigest',
  'DataDigest',
  'MaxRecvDataSegmentLength',
  'MaxConnections',
  'InitialR2T',
  'ImmediateData',
  'MaxBurstLength',
  'FirstBurstLength',
  'MaxOutstandingR2T',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'ErrorRecoveryLevel',
  'DataPDUInOrder',
  'DataSequenceInOrder',
] as const;

/** We implement RFC 7143, iSCSIProtocolLevel 1 (§13.24), and only the RFC 3720 task reporting (§13.23). */
const OUR_PROTOCOL_LEVEL = '1';
const OUR_TASK_REPORTING = 'RFC3720';

/** How a negotiated key ended: a value, or no value so the default stands ("Reject"), or "Irrelevant". */
type Outcome = { readonly value: string } | 'default' | 'irrelevant';

export class Negotiator {
  readonly #sessionType: SessionType;
  readonly #proposal: Readonly<Required<OperationalProposal>>;
  /** Our value for every operational key we negotiate, as wire text: what we offer and how we answer. */
  readonly #preferences: ReadonlyMap<string, string>;
  /** Keys we offered → the value we sent. */
  readonly #offered = new Map<string, string>();
  /** Negotiated keys (ours answered, or theirs we answered) → outcome. */
  readonly #outcomes = new Map<string, Outcome>();
  /** Every key the target has sent in this negotiation (§6.2: none may be sent twice). */
  readonly #seen = new Set<string>();
  #targetMaxRecv: number | undefined;
  #targetAlias: string | undefined;
  #targetPortalGroupTag: number | undefined;
  #targetAddress: string | undefined;

  constructor(sessionType: SessionType, proposal: OperationalProposal = {}) {
    if (sessionType !== 'Normal' && sessionType !== 'Discovery') {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `session type must be Normal or Discovery, not ${String(sessionType)}`);
    }
    this.#sessionType = sessionType;
    this.#proposal = resolveProposal(proposal);
    const p = this.#proposal;
    this.#preferences = new Map<string, string>([
      ['HeaderDigest', p.headerDigest.join(',')],
      ['DataDigest', p.dataDigest.join(',')],
      ['MaxRecvDataSegmentLength', String(p.maxRecvDataSegmentLength)],
      ['MaxConnections', String(p.maxConnections)],
      ['InitialR2T', formatBoolean(p.initialR2T)],
      ['ImmediateData', formatBoolean(p.immediateData)],
      ['MaxBurstLength', String(p.maxBurstLength)],
      ['FirstBurstLength', String(p.firstBurstLength)],
      ['MaxOutstandingR2T', String(p.maxOutstandingR2T)],
      ['DefaultTime2Wait', String(p.defaultTime2Wait)],
      ['DefaultTime2Retain', String(p.defaultTime2Retain)],
      ['ErrorRecoveryLevel', String(p.errorRecoveryLevel)],
      ['DataPDUInOrder', formatBoolean(p.dataPDUInOrder)],
      ['DataSequenceInOrder', formatBoolean(p.dataSequenceInOrder)],
      ['TaskReporting', OUR_TASK_REPORTING],
      ['iSCSIProtocolLevel', OUR_PROTOCOL_LEVEL],
    ]);
  }

  get sessionType(): 'Normal' | 'Discovery' {
    return this.#sessionType;
  }

  /**
   * The keys we send in the operational stage. Calling it again returns the same offer. Keys the target already
   * proposed and we answered are left out: §6.2 forbids negotiating a key twice.
   */
  offer(): TextPair[] {
    const pairs: TextPair[] = [];
    for (const name of OFFERED_KEYS) {
      const def = definition(name);
      if (this.#sessionType === 'Discovery' && !def.discoveryRelevant) continue;
      if (this.#outcomes.has(name) && !this.#offered.has(name)) continue;
      let value = this.#offered.get(name) ?? this.#preference(name);
      const maxBurst = this.#outcomes.get('MaxBurstLength');
      if (name === 'FirstBurstLength' && typeof maxBurst === 'object') {
        // §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength, already settled at the target's proposal.
        value = String(Math.min(Number(value), Number(maxBurst.value)));
      }
      this.#offered.set(name, value);
      pairs.push([name, value]);
    }
    return pairs;
  }

  /**
   * Applies the keys of one Login (or Text) response and returns the pairs we must send back: answers to keys the
   * target offered on its own, NotUnderstood for keys we do not know, Reject for obsoleted keys. With stage
   * 'security', security keys (run by the login layer) are skipped and only Any-Stage keys are accepted (§6.3).
   */
  receive(pairs: readonly TextPair[], stage: 'security' | 'operational' = 'operational'): TextPair[] {
    const replies: TextPair[] = [];
    for (const [key, value] of pairs) {
      // Pairs normally come from decodeText; anything else must not make us answer with unsendable text.
      if (!isValidKeyName(key)) {
        throw new NegotiationError('ISCSI_TEXT_MALFORMED', `${clip(key)} is not a key name (RFC 7143 §6.1)`, key);
      }
      if (key.length > MAX_KEY_BYTES) {
        // §6.1: a key name is at most 63 bytes (ASCII here), or our NotUnderstood answer would be unsendable.
        throw new NegotiationError('ISCSI_TEXT_TOO_LONG', `key ${clip(key)} is ${key.length} bytes; keys are at most ${MAX_KEY_BYTES} (RFC 7143 §6.1)`, key);
      }
      const def = KEYS.get(key);
      if (def?.phase === 'security') {
        if (stage === 'security') continue;
        throw unexpected(key, `${key} is a security key, not allowed in the operational stage (RFC 7143 §6.3)`);
      }
      if (this.#seen.has(key) && def?.repeatable !== true) {
        throw new NegotiationError(
          'ISCSI_NEGOTIATION_DUPLICATE_KEY',
          `the target sent ${key} more than once in this negotiation (RFC 7143 §6.2)`,
          key,
        );
      }
      this.#seen.add(key);
      if (def === undefined) {
        // §6.2: unknown keys (X- and X# extensions among them, §13.22) are answered NotUnderstood.
        rejectReservedProposal(key, value);
        replies.push([key, NOT_UNDERSTOOD]);
        continue;
      }
      if (def.senders === 'initiator' || key === 'TargetName') {
        // §13.4: a target sends TargetName only in SendTargets responses, never during login.
        throw unexpected(key, `only the initiator sends ${key} here (RFC 7143 §${def.section})`);
      }
      if (stage === 'security' && def.phase !== 'any') {
        throw unexpected(key, `${key} is an operational key, not allowed in the security stage (RFC 7143 §6.3)`);
      }
      if (def.obsolete === true) {
        // §13.25: obsoleted keys are answered Reject (the MarkInt keys MUST be, the Marker keys SHOULD be).
        rejectReservedProposal(key, value);
        replies.push([key, REJECT]);
        continue;
      }
      if (def.kind === 'declarative') {
        this.#declare(def, value);
        continue;
      }
      const offered = this.#offered.get(key);
      if (offered === undefined) {
        replies.push([key, this.#answer(def, value)]);
      } else {
        this.#outcomes.set(key, this.#checkResponse(def, offered, value));
      }
    }
    return replies;
  }

  /** True once every key we offered has its outcome: answered, or needing no answer (§6.2.2, declarative keys). */
  get complete(): boolean {
    return this.#firstUnanswered() === undefined;
  }

  /** The resolved parameters, with the §13 cross rules checked. Throws if a key we offered is still unanswered. */
  result(): OperationalParameters {
    const missing = this.#firstUnanswered();
    if (missing !== undefined) {
      throw new NegotiationError(
        'ISCSI_NEGOTIATION_MISSING_KEY',
        `the target has not answered ${missing}=${this.#offered.get(missing) ?? ''} (RFC 7143 §6.2)`,
        missing,
      );
    }
    const num = (name: string): number => Number(this.#final(name));
    const bool = (name: string): boolean => this.#final(name) === 'Yes';
    const initialR2T = bool('InitialR2T');
    const immediateData = bool('ImmediateData');
    const maxBurstLength = num('MaxBurstLength');
    let firstBurstLength = num('FirstBurstLength');
    if (this.#outcomes.get('FirstBurstLength') === 'irrelevant') {
      // §13.14: Irrelevant when InitialR2T=Yes and ImmediateData=No — no unsolicited data at all, so any value.
      if (this.#sessionType === 'Normal' && !(initialR2T && !immediateData)) {
        throw badValue('FirstBurstLength', 'FirstBurstLength=Irrelevant, yet unsolicited data is allowed (RFC 7143 §13.14)');
      }
      firstBurstLength = Math.min(firstBurstLength, maxBurstLength);
    }
    if (firstBurstLength > maxBurstLength) {
      throw badValue(
        'FirstBurstLength',
        `FirstBurstLength ${firstBurstLength} exceeds MaxBurstLength ${maxBurstLength} (RFC 7143 §13.14)`,
      );
    }
    const errorRecoveryLevel = num('ErrorRecoveryLevel');
    const dataSequenceInOrder = bool('DataSequenceInOrder');
    const maxOutstandingR2T = num('MaxOutstandingR2T');
    if (errorRecoveryLevel > 0 && dataSequenceInOrder && maxOutstandingR2T !== 1) {
      throw badValue(
        'MaxOutstandingR2T',
        `MaxOutstandingR2T must be 1 when ErrorRecoveryLevel>0 and DataSequenceInOrder=Yes (RFC 7143 §13.19)`,
      );
    }
    const params: OperationalParameters = {
      headerDigest: this.#final('HeaderDigest') === 'CRC32C',
      dataDigest: this.#final('DataDigest') === 'CRC32C',
      maxRecvDataSegmentLength: this.#proposal.maxRecvDataSegmentLength,
      maxXmitDataSegmentLength: this.#targetMaxRecv ?? Number(definition('MaxRecvDataSegmentLength').default),
      maxBurstLength,
      firstBurstLength,
      initialR2T,
      immediateData,
      maxOutstandingR2T,
      // §13.21: a discovery session implies MaxConnections=1.
      maxConnections: this.#sessionType === 'Discovery' ? 1 : num('MaxConnections'),
      defaultTime2Wait: num('DefaultTime2Wait'),
      defaultTime2Retain: num('DefaultTime2Retain'),
      errorRecoveryLevel,
      dataPDUInOrder: bool('DataPDUInOrder'),
      dataSequenceInOrder,
    };
    if (this.#targetAlias !== undefined) params.targetAlias = this.#targetAlias;
    if (this.#targetPortalGroupTag !== undefined) params.targetPortalGroupTag = this.#targetPortalGroupTag;
    if (this.#targetAddress !== undefined) params.targetAddress = this.#targetAddress;
    return params;
  }

  #preference(name: string): string {
    const value = this.#preferences.get(name);
    if (value === undefined) throw new Error(`no preference for ${name}`); // a bug in this file, not bad input
    return value;
  }

  /** A declaration by the target (§6.2: declarative keys need no answer). */
  #declare(def: KeyDefinition, value: string): void {
    switch (def.name) {
      case 'MaxRecvDataSegmentLength':
        // §13.12: the target's own limit — what we may send — never an answer to ours.
        if (value === NOT_UNDERSTOOD) throw notUnderstood(def);
        this.#targetMaxRecv = parseNumericalValue(def.name, value, rangeOf(def));
        return;
      case 'TargetPortalGroupTag':
        this.#targetPortalGroupTag = parseNumericalValue(def.name, value, rangeOf(def), { allowBase64: true });
        return;
      case 'TargetAlias':
        this.#targetAlias = value;
        return;
      case 'TargetAddress':
        this.#targetAddress ??= value;
        return;
      default:
        // X#NodeArchitecture (§13.26): informational, nothing to record for the session.
        return;
    }
  }

  /** Checks the target's response to a key we offered (§6.2) and returns its outcome. */
  #checkResponse(def: KeyDefinition, offered: string, value: string): Outcome {
    if (value === NOT_UNDERSTOOD) throw notUnderstood(def);
    if (value === REJECT) {
      // The key stays unnegotiated, so its default holds; that is fine only where our offer admits the default.
      const fallback = def.default;
      try {
        if (fallback === undefined) throw badValue(def.name, 'no default');
        checkAnswer(def, offered, fallback);
      } catch (cause) {
        if (isDigestKey(def.name)) throw digestUnsupported(def.name, offered, `rejected ${def.name}=${offered}`, cause);
        throw new NegotiationError(
          'ISCSI_NEGOTIATION_REJECTED',
          `the target rejected ${def.name}=${offered} and the default ${def.name}=${fallback ?? '(none)'} is not acceptable to us (RFC 7143 §6.2)`,
          def.name,
          { cause },
        );
      }
      return 'default';
    }
    if (value === IRRELEVANT) {
      // §6.2: Irrelevant only where §13 says a key can be. In a discovery session a key that §13 keeps relevant
      // (digests, MaxRecvDataSegmentLength…) may be called Irrelevant only if its default is one we offered.
      if (def.irrelevantWhen !== undefined) return 'irrelevant';
      if (this.#sessionType === 'Discovery') {
        if (!def.discoveryRelevant) return 'irrelevant';
        // A number or boolean the target finds irrelevant here keeps our offer: nothing uses it in discovery, and
        // the result never falls outside what we offered. A list key (the digests) falls back to its default,
        // which must then be one we offered.
        if (def.kind !== 'list') return { value: offered };
        try {
          if (def.default === undefined) throw badValue(def.name, 'no default');
          checkAnswer(def, offered, def.default);
        } catch (cause) {
          throw new NegotiationError('ISCSI_NEGOTIATION_REJECTED', `the target calls ${def.name} Irrelevant, leaving the default, which is outside our offer ${offered} (RFC 7143 §6.2)`, def.name, { cause });
        }
        return 'irrelevant';
      }
      throw badValue(def.name, `${def.name} cannot be Irrelevant in a Normal session (RFC 7143 §${def.section})`);
    }
    return { value: checkAnswer(def, offered, value) };
  }

  /** Answers a key the target offered on its own, by the key's rule and our preference (§6.2.1, §6.2.2). */
  #answer(def: KeyDefinition, value: string): string {
    rejectReservedProposal(def.name, value);
    if (this.#sessionType === 'Discovery' && !def.discoveryRelevant) {
      this.#outcomes.set(def.name, 'irrelevant');
      return IRRELEVANT;
    }
    const ours = this.#preference(def.name);
    let answer: string;
    switch (def.kind) {
      case 'list': {
        // §6.2.1: the first value of the originator's list that we support; Reject when there is none.
        const acceptable = splitList(ours);
        const pick = splitList(value).find((item) => acceptable.includes(item));
        if (pick === undefined) {
          // Rejecting leaves the key at its default; that must itself be something we accept, or the session would
          // run with a value we refused (e.g. HeaderDigest=None when we require CRC32C).
          const fallback = def.default;
          if (fallback === undefined || !acceptable.includes(fallback)) {
            if (isDigestKey(def.name)) throw digestUnsupported(def.name, ours, `offers only ${def.name}=${value}`);
            throw new NegotiationError(
              'ISCSI_NEGOTIATION_REJECTED',
              `the target offers ${def.name}=${value}, none of which we accept (${ours}), and the default ${fallback ?? '(none)'} is not acceptable either (RFC 7143 §6.2.1)`,
              def.name,
            );
          }
          this.#outcomes.set(def.name, 'default');
          return REJECT;
        }
        answer = pick;
        break;
      }
      case 'numerical-min':
        answer = String(Math.min(parseNumericalValue(def.name, value, rangeOf(def)), Number(ours)));
        break;
      case 'numerical-max':
        answer = String(Math.max(parseNumericalValue(def.name, value, rangeOf(def)), Number(ours)));
        break;
      case 'boolean-and':
        answer = formatBoolean(parseBoolean(def.name, value) && ours === 'Yes');
        break;
      case 'boolean-or':
        answer = formatBoolean(parseBoolean(def.name, value) || ours === 'Yes');
        break;
      default:
        throw unexpected(def.name, `${def.name} is not negotiated (RFC 7143 §${def.section})`);
    }
    this.#outcomes.set(def.name, { value: answer });
    return answer;
  }

  /** A key we offered that still needs an answer. §6.2.2: AND offered as No, or OR offered as Yes, needs none. */
  #firstUnanswered(): string | undefined {
    for (const [name, offered] of this.#offered) {
      if (this.#outcomes.has(name)) continue;
      const def = definition(name);
      if (def.kind === 'declarative') continue;
      if (def.kind === 'boolean-and' && offered === 'No') continue;
      if (def.kind === 'boolean-or' && offered === 'Yes') continue;
      return name;
    }
    return undefined;
  }

  /** The value in force for a key: negotiated, else our offer where it decides by itself, else the RFC default. */
  #final(name: string): string {
    const outcome = this.#outcomes.get(name);
    if (typeof outcome === 'object') return outcome.value;
    if (outcome === undefined) {
      const offered = this.#offered.get(name);
      if (offered !== undefined) return offered;
    }
    return definition(name).default ?? '';
  }
}

/**
 * Checks a responder's selection against our offer by the key's rule and returns it in canonical form:
 * §6.2.1 one value from our list; §13 result functions: Minimum (≤ offer), Maximum (≥ offer), AND (No stays No),
 * OR (Yes stays Yes).
 */
function checkAnswer(def: KeyDefinition, offered: string, answer: string): string {
  switch (def.kind) {
    case 'list':
      if (answer.includes(',')) {
        throw badValue(def.name, `${def.name}=${clip(answer)}: the responder selects one value (RFC 7143 §6.2.1)`);
      }
      if (!splitList(offered).includes(answer)) {
        // §13.1: a target without digests answers None even to a strict CRC32C (it should say Reject): same meaning.
        if (isDigestKey(def.name) && answer === 'None') throw digestUnsupported(def.name, offered, `answered ${def.name}=None`);
        throw badValue(def.name, `${def.name}=${clip(answer)} was not offered (${offered}) (RFC 7143 §6.2.1)`);
      }
      return answer;
    case 'numerical-min': {
      const n = parseNumericalValue(def.name, answer, rangeOf(def));
      if (n > Number(offered)) {
        throw badValue(def.name, `${def.name}=${n} exceeds our offer ${offered}; the result function is Minimum (RFC 7143 §${def.section})`);
      }
      return String(n);
    }
    case 'numerical-max': {
      const n = parseNumericalValue(def.name, answer, rangeOf(def));
      if (n < Number(offered)) {
        throw badValue(def.name, `${def.name}=${n} is below our offer ${offered}; the result function is Maximum (RFC 7143 §${def.section})`);
      }
      return String(n);
    }
    case 'boolean-and': {
      const b = parseBoolean(def.name, answer);
      if (b && offered === 'No') {
        throw badValue(def.name, `${def.name}=Yes after we offered No; the result function is AND (RFC 7143 §${def.section})`);
      }
      return formatBoolean(b);
    }
    case 'boolean-or': {
      const b = parseBoolean(def.name, answer);
      if (!b && offered === 'Yes') {
        throw badValue(def.name, `${def.name}=No after we offered Yes; the result function is OR (RFC 7143 §${def.section})`);
      }
      return formatBoolean(b);
    }
    default:
      throw badValue(def.name, `${def.name} is not negotiated (RFC 7143 §${def.section})`);
  }
}

/** §6.2: Reject, Irrelevant and NotUnderstood are answers only; proposing one is a protocol error. */
function rejectReservedProposal(key: string, value: string): void {
  if (RESERVED_ANSWERS.has(value)) {
    throw badValue(key, `${key}=${value} answers a key we never offered (RFC 7143 §6.2)`);
  }
}

function definition(name: string): KeyDefinition {
  const def = KEYS.get(name);
  if (def === undefined) throw new Error(`${name} is missing from KEYS`); // a bug in this layer, not bad input
  return def;
}

function rangeOf(def: KeyDefinition): { min: number; max: number } {
  return def.range ?? { min: 0, max: Number.MAX_SAFE_INTEGER };
}

function isDigestKey(key: string): key is 'HeaderDigest' | 'DataDigest' {
  return key === 'HeaderDigest' || key === 'DataDigest';
}

/**
 * We offered only CRC32C for a digest and the target cannot do it (§13.1). Still refused — running without the digest
 * the user asked for would be silent — but said plainly, with what to change. `what` is what the target did.
 */
function digestUnsupported(key: 'HeaderDigest' | 'DataDigest', offered: string, what: string, cause?: unknown): NegotiationError {
  const kind = key === 'HeaderDigest' ? 'header' : 'data';
  return new NegotiationError(
    'ISCSI_NEGOTIATION_REJECTED',
    `the target does not support ${kind} digests: we offered only ${key}=${offered} and it ${what} (RFC 7143 §13.1)`,
    key,
    {
      hint: `offer None (${kind}_digest=none in a URL, ${key} = None for a node) or crc32c,none to use CRC32C only where the target has it, or enable CRC32C ${kind} digests on the target`,
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function badValue(key: string, message: string): NegotiationError {
  return new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', message, key);
}

function unexpected(key: string, message: string): NegotiationError {
  return new NegotiationError('ISCSI_NEGOTIATION_UNEXPECTED_KEY', message, key);
}

function notUnderstood(def: KeyDefinition): NegotiationError {
  // §6.2: every key of RFC 7143 must be understood; NotUnderstood for one of them is a protocol error.
  return new NegotiationError(
    'ISCSI_NEGOTIATION_REJECTED',
    `the target answered ${def.name}=NotUnderstood, but every RFC 7143 key must be understood (RFC 7143 §6.2)`,
    def.name,
  );
}

function resolveProposal(p: OperationalProposal): Readonly<Required<OperationalProposal>> {
  const d = DEFAULT_PROPOSAL;
  const resolved: Required<OperationalProposal> = {
    headerDigest: checkDigests('headerDigest', p.headerDigest ?? d.headerDigest),
    dataDigest: checkDigests('dataDigest', p.dataDigest ?? d.dataDigest),
    maxRecvDataSegmentLength: checkNumber('maxRecvDataSegmentLength', 'MaxRecvDataSegmentLength', p.maxRecvDataSegmentLength ?? d.maxRecvDataSegmentLength),
    maxBurstLength: checkNumber('maxBurstLength', 'MaxBurstLength', p.maxBurstLength ?? d.maxBurstLength),
    firstBurstLength: checkNumber('firstBurstLength', 'FirstBurstLength', p.firstBurstLength ?? d.firstBurstLength),
    initialR2T: checkBoolean('initialR2T', p.initialR2T ?? d.initialR2T),
    immediateData: checkBoolean('immediateData', p.immediateData ?? d.immediateData),
    maxOutstandingR2T: checkNumber('maxOutstandingR2T', 'MaxOutstandingR2T', p.maxOutstandingR2T ?? d.maxOutstandingR2T),
    maxConnections: checkNumber('maxConnections', 'MaxConnections', p.maxConnections ?? d.maxConnections),
    defaultTime2Wait: checkNumber('defaultTime2Wait', 'DefaultTime2Wait', p.defaultTime2Wait ?? d.defaultTime2Wait),
    defaultTime2Retain: checkNumber('defaultTime2Retain', 'DefaultTime2Retain', p.defaultTime2Retain ?? d.defaultTime2Retain),
    errorRecoveryLevel: checkNumber('errorRecoveryLevel', 'ErrorRecoveryLevel', p.errorRecoveryLevel ?? d.errorRecoveryLevel),
    dataPDUInOrder: checkBoolean('dataPDUInOrder', p.dataPDUInOrder ?? d.dataPDUInOrder),
    dataSequenceInOrder: checkBoolean('dataSequenceInOrder', p.dataSequenceInOrder ?? d.dataSequenceInOrder),
  };
  if (resolved.firstBurstLength > resolved.maxBurstLength) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'firstBurstLength must not exceed maxBurstLength (RFC 7143 §13.14)');
  }
  if (resolved.errorRecoveryLevel > 0 && resolved.dataSequenceInOrder && resolved.maxOutstandingR2T !== 1) {
    throw new ArgumentError(
      'ISCSI_BAD_ARGUMENT',
      'maxOutstandingR2T must be 1 when errorRecoveryLevel > 0 and dataSequenceInOrder (RFC 7143 §13.19)',
    );
  }
  return Object.freeze(resolved);
}

function checkDigests(field: string, list: ReadonlyArray<DigestName>): ReadonlyArray<DigestName> {
  const ok =
    Array.isArray(list) &&
    list.length > 0 &&
    new Set(list).size === list.length &&
    list.every((d) => d === 'CRC32C' || d === 'None');
  if (!ok) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${field} must be a non-empty list of distinct CRC32C / None`);
  }
  return Object.freeze([...list]);
}

function checkNumber(field: string, key: string, value: number): number {
  const range = rangeOf(definition(key));
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new ArgumentError(
      'ISCSI_BAD_ARGUMENT',
      `${field} must be an integer in ${range.min}..${range.max} (RFC 7143 §${definition(key).section}), not ${value}`,
    );
  }
  return value;
}

function checkBoolean(field: string, value: boolean): boolean {
  if (typeof value !== 'boolean') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${field} must be a boolean`);
  return value;
}

/** RFC key names → values, for display (`MaxXmitDataSegmentLength` is the target's declared receive limit). */
export function describeParameters(p: OperationalParameters): Record<string, string> {
  const yesNo = formatBoolean;
  const out: Record<string, string> = {
    HeaderDigest: p.headerDigest ? 'CRC32C' : 'None',
    DataDigest: p.dataDigest ? 'CRC32C' : 'None',
    MaxRecvDataSegmentLength: String(p.maxRecvDataSegmentLength),
    MaxXmitDataSegmentLength: String(p.maxXmitDataSegmentLength),
    MaxBurstLength: String(p.maxBurstLength),
    FirstBurstLength: String(p.firstBurstLength),
    InitialR2T: yesNo(p.initialR2T),
    ImmediateData: yesNo(p.immediateData),
    MaxOutstandingR2T: String(p.maxOutstandingR2T),
    MaxConnections: String(p.maxConnections),
    DefaultTime2Wait: String(p.defaultTime2Wait),
    DefaultTime2Retain: String(p.defaultTime2Retain),
    ErrorRecoveryLevel: String(p.errorRecoveryLevel),
    DataPDUInOrder: yesNo(p.dataPDUInOrder),
    DataSequenceInOrder: yesNo(p.dataSequenceInOrder),
  };
  if (p.targetAlias !== undefined) out.TargetAlias = p.targetAlias;
  if (p.targetPortalGroupTag !== undefined) out.TargetPortalGroupTag = String(p.targetPortalGroupTag);
  if (p.targetAddress !== undefined) out.TargetAddress = p.targetAddress;
  return out;
}
