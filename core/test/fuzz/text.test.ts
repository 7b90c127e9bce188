// Targets 4 and 5 (core/test/fuzz/target-text.ts): the Negotiator and the key=value text codec. Only NegotiationError
// may escape (RFC 7143 §6.1 text syntax, §6.2 negotiation, §13 result functions).
import { describe, expect, test } from 'vitest';
import { core, count, findings, fuzz } from './bounded.js';
import { negotiatorTarget, textTarget } from './target-text.js';

describe('fuzz: Negotiator on mutated answers and random keys (RFC 7143 §6.2, §13)', () => {
  test('20,000 negotiations: NegotiationError only, sendable replies, results within §13 and our offer', async () => {
    const stats = await fuzz(negotiatorTarget(core), 20_000);
    expect(findings(stats)).toEqual([]);
    // Conforming answers negotiate to exactly what they imply (checked per case); there are many of them.
    expect(count(stats, 'conforming')).toBeGreaterThan(1000);
    for (const code of ['ISCSI_NEGOTIATION_BAD_VALUE', 'ISCSI_NEGOTIATION_UNEXPECTED_KEY', 'ISCSI_NEGOTIATION_MISSING_KEY', 'ISCSI_NEGOTIATION_DUPLICATE_KEY', 'ISCSI_TEXT_MALFORMED']) {
      expect(count(stats, code), code).toBeGreaterThan(100);
    }
  });
});

describe('fuzz: decodeText and TextAssembler on mutated text cut anywhere (RFC 7143 §6.1, C bit §11.10.2)', () => {
  test('20,000 texts: NegotiationError only; the assembler agrees with decodeText on the whole text', async () => {
    const stats = await fuzz(textTarget(core), 20_000);
    expect(findings(stats)).toEqual([]);
    expect(count(stats, 'decoded')).toBeGreaterThan(3000);
    expect(count(stats, 'ISCSI_TEXT_MALFORMED')).toBeGreaterThan(3000);
    expect(count(stats, 'ISCSI_TEXT_TOO_LONG')).toBeGreaterThan(50);
  });
});
