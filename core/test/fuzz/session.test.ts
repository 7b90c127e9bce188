// Target 6 (core/test/fuzz/target-session.ts): IscsiSession over a loopback socket to a tiny target that answers a
// burst of requests with one mutated full-feature PDU. Every request must settle, typed; nothing unhandled; no hang.
import { afterAll, describe, expect, test } from 'vitest';
import { core, count, findings, fuzz } from './bounded.js';
import { sessionTarget } from './target-session.js';

const target = sessionTarget(core);
afterAll(() => target.close());

describe('fuzz: session dispatch of mutated Data-In, SCSI Response, R2T, NOP-In, Async, Reject, TMF and Text Responses (RFC 7143 §11)', () => {
  test('1,500 sessions: each request resolves or rejects with an IscsiError, the session closes, nothing hangs', async () => {
    const stats = await fuzz(target, 1_500);
    expect(findings(stats)).toEqual([]);
    // Unmutated streams give exactly the planned results and a clean logout (checked per case).
    expect(count(stats, 'none:logout')).toBeGreaterThan(50);
    // Mutations reach the dispatch checks, not only the framer.
    expect(count(stats, /:ISCSI_PDU_UNEXPECTED$/)).toBeGreaterThan(50);
    expect(count(stats, /:ISCSI_PDU_BAD_FIELD$/)).toBeGreaterThan(20);
  }, 25_000);
});
