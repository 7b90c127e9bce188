/**
 * Targets 4 and 5: the Negotiator with mutated key=value answers (from a conforming target's answers to its offer)
 * and random keys and values (RFC 7143 §6.2, §13); decodeText and TextAssembler with mutated text cut at random
 * points (§6.1, the C bit of §11.10.2/§11.12.2). Oracles, beyond "only NegotiationError escapes":
 * - a conforming answer negotiates to exactly the parameters it implies; any result obeys the §13 rules and our offer;
 * - every reply the Negotiator returns is sendable text (encodeText accepts it);
 * - TextAssembler over any cut gives what decodeText gives on the whole (or ISCSI_TEXT_TOO_LONG past its limit), and is
 *   empty again afterwards; decoded pairs re-encode and decode to themselves.
 */

import type { OperationalProposal, TextPair } from '../../src/index.js';
import { Finding, checkTyped, typedOutcome, type Core, type FuzzCase, type FuzzTarget } from './engine.js';
import {
  answerOffer,
  checkViolations,
  mutatePairs,
  mutateTextBytes,
  parameterMismatches,
  parameterViolations,
  randomPairs,
  randomProposal,
  realisticPairs,
} from './keys.js';
import type { Rng } from './prng.js';

type Stage = 'security' | 'operational';

interface NegotiatorMeta {
  sessionType: 'Normal' | 'Discovery';
  proposal: OperationalProposal;
  offer: boolean;
  stages: Stage[];
  /** The rounds are a conforming answer, unmutated: the result is known. */
  expected: Record<string, unknown> | null;
}

export function negotiatorTarget(core: Core): FuzzTarget {
  function generate(r: Rng): FuzzCase {
    const sessionType = r.bool(0.8) ? ('Normal' as const) : ('Discovery' as const);
    const proposal = randomProposal(r);
    const offer = r.bool(0.95);
    const offered = new core.Negotiator(sessionType, proposal).offer();
    const rounds: TextPair[][] = [];
    const stages: Stage[] = [];
    let expected: Record<string, unknown> | null = null;
    if (r.bool(0.85)) {
      const answer = answerOffer(r, offered, sessionType);
      const mutations = r.weighted<number>([
        [2, 0],
        [5, 1],
        [2, 2],
        [1, 4],
      ]);
      let pairs = answer.pairs;
      for (let i = 0; i < mutations; i++) pairs = mutatePairs(r, pairs);
      if (mutations === 0 && offer) expected = answer.expected as Record<string, unknown>;
      // A conforming target may spread its answers over several responses (§6.2: one negotiation, many PDUs).
      if (r.bool(0.2) && pairs.length > 1) {
        const cut = r.range(1, pairs.length - 1);
        rounds.push(pairs.slice(0, cut), pairs.slice(cut));
        stages.push('operational', 'operational');
      } else {
        rounds.push(pairs);
        stages.push(mutations > 0 && r.bool(0.1) ? 'security' : 'operational');
      }
    }
    for (let extra = r.weighted<number>([[6, 0], [3, 1], [1, 2]]); extra > 0; extra--) {
      rounds.push(r.bool(0.5) ? randomPairs(r) : mutatePairs(r, realisticPairs(r)));
      stages.push(r.bool(0.8) ? 'operational' : 'security');
      expected = null;
    }
    const meta: NegotiatorMeta = { sessionType, proposal, offer, stages, expected };
    return { target: 'negotiator', meta: meta as unknown as Record<string, unknown>, payload: Buffer.from(JSON.stringify(rounds), 'utf8') };
  }

  function run(c: FuzzCase): string {
    const m = c.meta as unknown as NegotiatorMeta;
    const rounds = JSON.parse(c.payload.toString('utf8')) as TextPair[][];
    const n = new core.Negotiator(m.sessionType, m.proposal);
    const offered = new Set(m.offer ? n.offer().map(([k]) => k) : []);
    for (let i = 0; i < rounds.length; i++) {
      const got = typedOutcome(core, 'Negotiator.receive', () => n.receive(rounds[i]!, m.stages[i] ?? 'operational'), core.NegotiationError);
      if (!got.ok) {
        if (m.expected !== null) throw new Finding(`a conforming answer was refused: ${got.error.message}`);
        return got.error.code;
      }
      // Our replies go on the wire as they are: they must be text encodeText accepts.
      const sendable = typedOutcome(core, 'encodeText(replies)', () => core.encodeText(got.value));
      if (!sendable.ok) throw new Finding(`the Negotiator answered with unsendable text: ${sendable.error.message}`);
    }
    if (typeof n.complete !== 'boolean') throw new Finding('Negotiator.complete is not a boolean');
    const result = typedOutcome(core, 'Negotiator.result', () => n.result(), core.NegotiationError);
    if (!result.ok) {
      if (m.expected !== null) throw new Finding(`a conforming negotiation did not conclude: ${result.error.message}`);
      return result.error.code;
    }
    checkViolations(parameterViolations(result.value, m.proposal, offered), 'negotiated parameters');
    if (m.expected !== null) {
      const mismatches = parameterMismatches(result.value, m.expected);
      if (mismatches.length > 0) throw new Finding(`a conforming answer negotiated to other values: ${mismatches.join('; ')}`);
    }
    const described = typedOutcome(core, 'describeParameters', () => core.describeParameters(result.value));
    if (!described.ok) throw new Finding(`describeParameters threw ${described.error.message}`);
    return m.expected !== null ? 'conforming' : 'negotiated';
  }

  return { name: 'negotiator', generate, run };
}

interface TextMeta {
  cuts: number[];
  maxBytes: number;
}

export function textTarget(core: Core): FuzzTarget {
  function generate(r: Rng): FuzzCase {
    let bytes: Buffer;
    const pairs = r.bool(0.8) ? realisticPairs(r) : randomPairs(r);
    try {
      bytes = core.encodeText(pairs);
    } catch {
      bytes = Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
    }
    for (let i = r.weighted<number>([[2, 0], [5, 1], [2, 2], [1, 5]]); i > 0; i--) bytes = mutateTextBytes(r, bytes);
    if (r.bool(0.03)) bytes = Buffer.concat([bytes, Buffer.alloc(r.range(60_000, 70_000), 'A'), Buffer.from([0])]);
    const cuts = new Set<number>();
    for (let n = r.weighted<number>([[2, 0], [5, r.range(1, 4)], [1, r.range(5, 40)]]); n > 0 && bytes.length > 1; n--) cuts.add(r.range(1, bytes.length - 1));
    const maxBytes = r.bool(0.85) ? 64 * 1024 : r.range(0, bytes.length + 16);
    const meta: TextMeta = { cuts: [...cuts].sort((a, b) => a - b), maxBytes };
    return { target: 'text', meta: meta as unknown as Record<string, unknown>, payload: bytes };
  }

  function outcome(v: { ok: true; value: TextPair[] | undefined } | { ok: false; error: { code: string } }): string {
    return v.ok ? JSON.stringify(v.value) : `error ${v.error.code}`;
  }

  function run(c: FuzzCase): string {
    const m = c.meta as unknown as TextMeta;
    const bytes = c.payload;
    const whole = typedOutcome(core, 'decodeText', () => core.decodeText(bytes), core.NegotiationError);

    // The same text through the assembler, one PDU per piece, C=1 on all but the last (§6.1).
    const assembler = new core.TextAssembler(m.maxBytes);
    const bounds = [0, ...m.cuts, bytes.length];
    let assembled: { ok: true; value: TextPair[] | undefined } | { ok: false; error: InstanceType<Core['IscsiError']> } = { ok: true, value: undefined };
    for (let i = 0; i + 1 < bounds.length; i++) {
      const last = i + 2 === bounds.length;
      assembled = typedOutcome(core, 'TextAssembler.push', () => assembler.push(bytes.subarray(bounds[i], bounds[i + 1]), !last), core.NegotiationError);
      if (!assembled.ok) break;
      if (!last && assembled.value !== undefined) throw new Finding('TextAssembler returned pairs before the last piece (C=0)');
      if (last && assembled.value === undefined) throw new Finding('TextAssembler returned nothing for the last piece (C=0)');
    }
    if (bytes.length > m.maxBytes) {
      if (assembled.ok || assembled.error.code !== 'ISCSI_TEXT_TOO_LONG') {
        throw new Finding(`${bytes.length} bytes of text through an assembler limited to ${m.maxBytes} gave ${outcome(assembled)}`);
      }
    } else if (outcome(assembled) !== outcome(whole)) {
      throw new Finding(`TextAssembler over ${m.cuts.length + 1} pieces disagrees with decodeText: ${outcome(assembled).slice(0, 120)} vs ${outcome(whole).slice(0, 120)}`);
    }
    // After a text or an error the assembler starts afresh (text-codec.ts).
    if (m.maxBytes >= 4) {
      const fresh = typedOutcome(core, 'TextAssembler.push', () => assembler.push(Buffer.from('A=b\0', 'latin1'), false));
      if (!fresh.ok || JSON.stringify(fresh.value) !== '[["A","b"]]') throw new Finding('TextAssembler kept state after a finished text');
    }

    if (!whole.ok) return whole.error.code;
    // What decodes is text we could have sent: it encodes, and decodes to the same pairs.
    const encoded = typedOutcome(core, 'encodeText', () => core.encodeText(whole.value));
    if (!encoded.ok) throw new Finding(`decoded pairs do not encode again: ${encoded.error.message}`);
    const again = typedOutcome(core, 'decodeText', () => core.decodeText(encoded.value));
    if (!again.ok || JSON.stringify(again.value) !== JSON.stringify(whole.value)) throw new Finding('decodeText(encodeText(pairs)) is not pairs');
    try {
      core.checkDuplicates(whole.value);
    } catch (e) {
      checkTyped(core, 'checkDuplicates', e, core.NegotiationError);
      return 'duplicates';
    }
    return 'decoded';
  }

  return { name: 'text', generate, run };
}
