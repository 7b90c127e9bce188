// Targets 1 and 2 (core/test/fuzz/target-pdu.ts): the PduFramer and decodePdu under mutated valid PDUs and random
// bytes. Only ProtocolError may escape (RFC 7143 §11: malformed input ends the connection with a typed error).
import { describe, expect, test } from 'vitest';
import { core, count, findings, fuzz } from './bounded.js';
import { decodeTarget, framerTarget } from './target-pdu.js';

describe('fuzz: PduFramer on mutated PDU streams in random chunks (RFC 7143 §11.2: framing on the BHS lengths)', () => {
  test('20,000 streams: ProtocolError only, same PDUs however chunked or placed, valid streams re-encode byte for byte', async () => {
    const stats = await fuzz(framerTarget(core), 20_000);
    expect(findings(stats)).toEqual([]);
    // The generator reaches whole streams, incomplete ones, and every framing failure (§11.2.1.2, §11.2.3, §13.12).
    expect(count(stats, 'pdus')).toBeGreaterThan(4000);
    expect(count(stats, 'pending')).toBeGreaterThan(1000);
    for (const code of ['ISCSI_PDU_HEADER_DIGEST', 'ISCSI_PDU_DATA_DIGEST', 'ISCSI_PDU_UNKNOWN_OPCODE', 'ISCSI_PDU_UNEXPECTED', 'ISCSI_PDU_SEGMENT_TOO_LONG', 'ISCSI_PDU_BAD_FIELD']) {
      expect(count(stats, code), code).toBeGreaterThan(50);
    }
  });
});

describe('fuzz: decodePdu on mutated BHS + AHS + data (RFC 7143 §11.2.1, §11.2.2)', () => {
  test('20,000 inputs: ProtocolError only; whatever decodes re-encodes and decodes to itself', async () => {
    const stats = await fuzz(decodeTarget(core), 20_000);
    expect(findings(stats)).toEqual([]);
    expect(count(stats, 'decoded')).toBeGreaterThan(4000);
    for (const code of ['ISCSI_PDU_BAD_FIELD', 'ISCSI_PDU_TRUNCATED', 'ISCSI_PDU_UNKNOWN_OPCODE']) expect(count(stats, code), code).toBeGreaterThan(500);
  });
});
