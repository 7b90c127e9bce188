// Target 3 (core/test/fuzz/target-login.ts): the LoginStateMachine, from conforming conversations (AuthMethod None,
// CHAP, mutual CHAP; operational keys; continuations) with one Login Response mutated.
import { describe, expect, test } from 'vitest';
import { core, count, findings, fuzz } from './bounded.js';
import { loginTarget } from './target-login.js';

describe('fuzz: login state machine under one mutated Login Response (RFC 7143 §6, §11.13, §12.1.3)', () => {
  test('20,000 logins: IscsiError only, bounded exchanges, sane requests; conforming conversations complete as negotiated', async () => {
    const stats = await fuzz(loginTarget(core), 20_000);
    expect(findings(stats)).toEqual([]);
    // Deep states are reached: most logins get past security into negotiation, and each failure class occurs.
    expect(count(stats, 'complete')).toBeGreaterThan(5000);
    expect(count(stats, 'redirect')).toBeGreaterThan(50);
    for (const code of ['ISCSI_LOGIN_PROTOCOL', 'ISCSI_CHAP_BAD_VALUE', 'ISCSI_NEGOTIATION_BAD_VALUE', 'ISCSI_TEXT_MALFORMED', 'ISCSI_LOGIN_UNSUPPORTED_VERSION', 'ISCSI_LOGIN_AUTH_FAILED']) {
      expect(count(stats, code), code).toBeGreaterThan(20);
    }
  });
});
