/**
 * Operational negotiation as the responder (RFC 7143 §6.2, §13): the initiator offers, the target answers each key
 * by the rule KEYS gives it — a list takes the first offered value we accept (§6.2.1), numbers take the minimum or
 * maximum, booleans the OR or AND (§6.2.2) — declares its own MaxRecvDataSegmentLength (§13.12), and offers the
 * keys a test configured explicitly when the initiator left them out. I/O-free.
 */
import {
  ArgumentError,
  formatBoolean,
  IRRELEVANT,
  isValidKeyName,
  KEYS,
  NOT_UNDERSTOOD,
  parseBoolean,
  parseNumericalValue,
  REJECT,
  RESERVED_ANSWERS,
  splitList,
  type DigestName,
  type KeyDefinition,
  type TextPair,
} from '@iscsi-initiator/core';

/** What a target accepts (lists) or would choose (numbers, booleans), per §13 key. */
export interface TargetParams {
  /** Acceptable digests, in our order of preference (the initiator's order decides among them, §6.2.1). */
  readonly headerDigest: readonly DigestName[];
  readonly dataDigest: readonly DigestName[];
  /** What we can receive: declared to the initiator (§13.12). */
  readonly maxRecvDataSegmentLength: number;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxOutstandingR2T: number;
  readonly maxConnections: number;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly errorRecoveryLevel: number;
}

/**
 * The defaults let the initiator's offer decide (each result function then returns the offered value), except
 * ErrorRecoveryLevel (we do 0 only) and MaxConnections (1 unless a test asks for more).
 */
export const DEFAULT_TARGET_PARAMS: Readonly<TargetParams> = Object.freeze({
  headerDigest: Object.freeze(['None', 'CRC32C'] as DigestName[]),
  dataDigest: Object.freeze(['None', 'CRC32C'] as DigestName[]),
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 16776192,
  initialR2T: false,
  immediateData: true,
  maxOutstandingR2T: 65535,
  maxConnections: 1,
  defaultTime2Wait: 0,
  defaultTime2Retain: 3600,
  errorRecoveryLevel: 0,
});

/** The field of TargetParams behind each key we negotiate; DataPDUInOrder/DataSequenceInOrder are always Yes here. */
const FIELD_OF: Readonly<Record<string, keyof TargetParams>> = {
  HeaderDigest: 'headerDigest',
  DataDigest: 'dataDigest',
  MaxBurstLength: 'maxBurstLength',
  FirstBurstLength: 'firstBurstLength',
  InitialR2T: 'initialR2T',
  ImmediateData: 'immediateData',
  MaxOutstandingR2T: 'maxOutstandingR2T',
  MaxConnections: 'maxConnections',
  DefaultTime2Wait: 'defaultTime2Wait',
  DefaultTime2Retain: 'defaultTime2Retain',
  ErrorRecoveryLevel: 'errorRecoveryLevel',
};

/** Our own value for a key, as wire text. */
function ours(params: TargetParams, key: string): string | undefined {
  switch (key) {
    case 'DataPDUInOrder':
    case 'DataSequenceInOrder':
      return 'Yes'; // §13.18, §13.19: out-of-order data is not implemented; OR makes the result Yes
    case 'TaskReporting':
      return 'RFC3720'; // §13.23
    case 'iSCSIProtocolLevel':
      return '1'; // §13.24: RFC 7143
    default: {
      const field = FIELD_OF[key];
      if (field === undefined) return undefined;
      const value = params[field];
      if (Array.isArray(value)) return value.join(',');
      return typeof value === 'boolean' ? formatBoolean(value) : String(value);
    }
  }
}

/** Session-wide results (§13 scope SW), resolved with RFC defaults for keys nobody negotiated. */
export interface SessionParams {
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxOutstandingR2T: number;
  readonly maxConnections: number;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly errorRecoveryLevel: number;
  readonly dataPDUInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
}

/** Connection results (§13 scope CO). */
export interface ConnectionParams {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** What the initiator declared: our Data-In and text segments must not exceed it (§13.12). */
  readonly initiatorMaxRecvDataSegmentLength: number;
  /** What we declared (or the RFC default 8192 if we never got to say it). */
  readonly targetMaxRecvDataSegmentLength: number;
}

/** An initiator error found in the keys (§6.2: it ends the login with status 0x0200). */
export class KeyError {
  constructor(readonly reason: string) {}
}

export interface ResponderOptions {
  readonly sessionType: 'Normal' | 'Discovery';
  /** False for a connection added to an existing session: leading-only keys are then Irrelevant. */
  readonly leading: boolean;
  /** Keys the test set explicitly for this target: we offer them when the initiator does not (§6.2). */
  readonly explicit: ReadonlySet<string>;
  /** For a non-leading connection: the session's values. */
  readonly session?: SessionParams | undefined;
}

export class KeyResponder {
  /** Negotiated (or declared) outcomes by key, as wire text. */
  private readonly outcomes = new Map<string, string>();
  /** Every key the initiator sent in this login (§6.2: at most once each). */
  private readonly seen = new Set<string>();
  /** Keys we offered and await an answer for. */
  private readonly offered = new Map<string, string>();
  private initiatorMaxRecv: number | undefined;
  private declared = false;

  constructor(
    private readonly params: TargetParams,
    private readonly options: ResponderOptions,
  ) {}

  /** True while an offer of ours is unanswered: the stage must not end yet (§6.2). */
  get awaitingAnswers(): boolean {
    return this.offered.size > 0;
  }

  /**
   * Answers the operational keys of one Login Request. Security and leading keys (InitiatorName, SessionType,
   * TargetName, AuthMethod, CHAP_*) are the login's business and must be removed first. Returns a KeyError for what
   * §6.2 calls an initiator error. `declare` adds our MaxRecvDataSegmentLength (once; operational stage only).
   */
  respond(pairs: readonly TextPair[], declare = true): TextPair[] | KeyError {
    const replies: TextPair[] = [];
    for (const [key, value] of pairs) {
      const answer = this.offered.get(key);
      if (answer !== undefined) {
        // The initiator's answer to our offer.
        this.offered.delete(key);
        const error = this.acceptAnswer(key, answer, value);
        if (error) return error;
        continue;
      }
      if (this.seen.has(key)) return new KeyError(`${key} sent twice in one login (RFC 7143 §6.2)`);
      this.seen.add(key);
      const reply = this.answer(key, value);
      if (reply instanceof KeyError) return reply;
      if (reply !== undefined) replies.push([key, reply]);
    }
    if (declare && !this.declared) {
      // §13.12: each side declares what it can receive; we say it in our first operational response.
      this.declared = true;
      replies.push(['MaxRecvDataSegmentLength', String(this.params.maxRecvDataSegmentLength)]);
    }
    return replies;
  }

  /** Explicitly configured keys the initiator has not mentioned: offered before we let the stage end. */
  offers(): TextPair[] {
    const pairs: TextPair[] = [];
    for (const key of this.options.explicit) {
      if (this.seen.has(key) || this.outcomes.has(key) || this.offered.has(key)) continue;
      const def = KEYS.get(key);
      if (!def || this.irrelevance(def) !== undefined) continue;
      const value = ours(this.params, key);
      if (value === undefined) continue;
      this.offered.set(key, value);
      pairs.push([key, value]);
    }
    return pairs;
  }

  /** The resolved parameters: negotiated values, else the session's (non-leading), else RFC defaults. */
  result(): { session: SessionParams; connection: ConnectionParams } {
    const text = (key: string): string => this.outcomes.get(key) ?? KEYS.get(key)?.default ?? '';
    const num = (key: string): number => Number(text(key));
    const bool = (key: string): boolean => text(key) === 'Yes';
    const session: SessionParams = this.options.session ?? {
      maxBurstLength: num('MaxBurstLength'),
      firstBurstLength: Math.min(num('FirstBurstLength'), num('MaxBurstLength')),
      initialR2T: bool('InitialR2T'),
      immediateData: bool('ImmediateData'),
      maxOutstandingR2T: num('MaxOutstandingR2T'),
      maxConnections: this.options.sessionType === 'Discovery' ? 1 : num('MaxConnections'),
      defaultTime2Wait: num('DefaultTime2Wait'),
      defaultTime2Retain: num('DefaultTime2Retain'),
      errorRecoveryLevel: num('ErrorRecoveryLevel'),
      dataPDUInOrder: bool('DataPDUInOrder'),
      dataSequenceInOrder: bool('DataSequenceInOrder'),
    };
    return {
      session,
      connection: {
        headerDigest: text('HeaderDigest') === 'CRC32C',
        dataDigest: text('DataDigest') === 'CRC32C',
        initiatorMaxRecvDataSegmentLength: this.initiatorMaxRecv ?? 8192,
        targetMaxRecvDataSegmentLength: this.declared ? this.params.maxRecvDataSegmentLength : 8192,
      },
    };
  }

  /** §6.2: why `def` cannot be negotiated here, answered Irrelevant; undefined when it can. */
  private irrelevance(def: KeyDefinition): string | undefined {
    if (this.options.sessionType === 'Discovery' && !def.discoveryRelevant) return 'not relevant to a discovery session';
    if (def.leadingOnly && !this.options.leading) return 'leading-only key on a non-leading connection';
    return undefined;
  }

  private answer(key: string, value: string): string | undefined | KeyError {
    if (!isValidKeyName(key)) return new KeyError(`${JSON.stringify(key)} is not a key name (RFC 7143 §6.1)`);
    // §6.2: Reject/Irrelevant/NotUnderstood are answers, never offers.
    if (RESERVED_ANSWERS.has(value)) return new KeyError(`${key}=${value} offers a reserved answer (RFC 7143 §6.2)`);
    const def = KEYS.get(key);
    if (!def) return NOT_UNDERSTOOD; // §6.2, §13.22: unknown and X- keys
    if (def.phase === 'security') return new KeyError(`${key} is a security key in the operational stage (RFC 7143 §6.3)`);
    if (def.senders === 'target') return new KeyError(`only a target sends ${key} (RFC 7143 §${def.section})`);
    if (def.use === 'FFPO') return REJECT; // SendTargets in login
    if (def.obsolete) return REJECT; // §13.25
    if (def.kind === 'declarative') {
      if (key === 'MaxRecvDataSegmentLength') {
        try {
          this.initiatorMaxRecv = parseNumericalValue(key, value, def.range ?? { min: 512, max: 0xffffff });
        } catch {
          return new KeyError(`MaxRecvDataSegmentLength=${value} is not 512..2^24-1 (RFC 7143 §13.12)`);
        }
      }
      return undefined; // §6.2: declarations are not answered (InitiatorAlias, X#NodeArchitecture, …)
    }
    if (this.irrelevance(def) !== undefined) return IRRELEVANT;
    const mine = ours(this.params, key);
    if (mine === undefined) return NOT_UNDERSTOOD;
    const result = resultOf(def, value, mine);
    if (result === undefined) return REJECT; // a value outside the key's domain (§6.2: "Reject")
    this.outcomes.set(key, result);
    return result;
  }

  /** Checks the initiator's answer to our offer and keeps the outcome (a bad answer is an initiator error). */
  private acceptAnswer(key: string, offered: string, value: string): KeyError | undefined {
    if (value === REJECT || value === IRRELEVANT || value === NOT_UNDERSTOOD) return undefined; // default stands
    const def = KEYS.get(key)!;
    const expected = resultOf(def, offered, value);
    // §6.2: the answer must be the result function of both values (for lists: one of the offered items).
    const ok = def.kind === 'list' ? splitList(offered).includes(value) : expected === value;
    if (!ok) return new KeyError(`${key}=${value} is not a valid answer to ${key}=${offered} (RFC 7143 §6.2)`);
    this.outcomes.set(key, value);
    return undefined;
  }
}

/** §6.2.1-§6.2.2: the outcome of an offer `offered` against our `mine`, or undefined when the offer is invalid. */
function resultOf(def: KeyDefinition, offered: string, mine: string): string | undefined {
  try {
    switch (def.kind) {
      case 'list': {
        const acceptable = splitList(mine);
        return splitList(offered).find((v) => acceptable.includes(v));
      }
      case 'numerical-min':
      case 'numerical-max': {
        const range = def.range ?? { min: 0, max: Number.MAX_SAFE_INTEGER };
        const a = parseNumericalValue(def.name, offered, range);
        const b = parseNumericalValue(def.name, mine, range);
        return String(def.kind === 'numerical-min' ? Math.min(a, b) : Math.max(a, b));
      }
      case 'boolean-and':
      case 'boolean-or': {
        const a = parseBoolean(def.name, offered);
        const b = parseBoolean(def.name, mine);
        return formatBoolean(def.kind === 'boolean-and' ? a && b : a || b);
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Keys accepted in a full-feature Text Request (§13.12: only MaxRecvDataSegmentLength may be re-declared). */
export function respondInFullFeature(pairs: readonly TextPair[]): { replies: TextPair[]; initiatorMaxRecv?: number } {
  const replies: TextPair[] = [];
  let initiatorMaxRecv: number | undefined;
  for (const [key, value] of pairs) {
    const def = KEYS.get(key);
    if (!def) replies.push([key, NOT_UNDERSTOOD]);
    else if (key === 'MaxRecvDataSegmentLength') {
      try {
        initiatorMaxRecv = parseNumericalValue(key, value, def.range ?? { min: 512, max: 0xffffff });
      } catch {
        replies.push([key, REJECT]);
      }
    } else if (key !== 'SendTargets') replies.push([key, REJECT]); // LO/IO keys cannot change after login
  }
  return initiatorMaxRecv === undefined ? { replies } : { replies, initiatorMaxRecv };
}

/** Resolves a partial set of parameters over the defaults, checking each value (ArgumentError otherwise). */
export function resolveTargetParams(partial: Partial<TargetParams> = {}): { params: TargetParams; explicit: Set<string> } {
  const params = { ...DEFAULT_TARGET_PARAMS, ...partial };
  // A MaxBurstLength alone brings the default FirstBurstLength down with it (§13.14: FirstBurst ≤ MaxBurst).
  if (partial.firstBurstLength === undefined) params.firstBurstLength = Math.min(params.firstBurstLength, params.maxBurstLength);
  const explicit = new Set<string>();
  for (const [key, field] of Object.entries(FIELD_OF)) {
    if (partial[field] !== undefined) explicit.add(key);
    const def = KEYS.get(key)!;
    const value = params[field];
    if (Array.isArray(value)) {
      if (value.length === 0 || !value.every((v) => v === 'None' || v === 'CRC32C')) {
        throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${field} must be a non-empty list of None / CRC32C`);
      }
    } else if (typeof value === 'number') {
      const range = def.range!;
      if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
        throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${field} must be an integer in ${range.min}..${range.max} (RFC 7143 §${def.section})`);
      }
    } else if (typeof value !== 'boolean') {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${field} must be a boolean`);
    }
  }
  const m = params.maxRecvDataSegmentLength;
  if (!Number.isSafeInteger(m) || m < 512 || m > 0xffffff) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'maxRecvDataSegmentLength must be 512..16777215 (RFC 7143 §13.12)');
  if (params.firstBurstLength > params.maxBurstLength) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'firstBurstLength must not exceed maxBurstLength (RFC 7143 §13.14)');
  if (params.errorRecoveryLevel !== 0) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the test target implements ErrorRecoveryLevel 0 only');
  return { params, explicit };
}
