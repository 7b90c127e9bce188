import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { PduFramer, type FramerOptions } from '../../src/pdu/framer.js';
import type { Pdu } from '../../src/pdu/types.js';
import { FIXTURE_DIR, listFixtureFiles, parseHex } from './fixtures.js';

type Outcome = { kind: 'error'; code: string } | { kind: 'pending'; buffered: number } | { kind: 'pdus'; count: number };

function load(file: string): { options: Partial<FramerOptions>; expect: Outcome; bytes: Buffer } {
  const text = readFileSync(join(FIXTURE_DIR, 'crashers', file), 'utf8');
  const options = JSON.parse(/^# framer: (.*)$/m.exec(text)?.[1] ?? '{}') as Partial<FramerOptions>;
  const want = /^# expect: (.*)$/m.exec(text)?.[1]?.trim();
  if (!want) throw new Error(`${file}: no "# expect:" line`);
  const [kind, n] = want.split(/\s+/);
  const outcome: Outcome =
    kind === 'pending' ? { kind: 'pending', buffered: Number(n) } : kind === 'pdus' ? { kind: 'pdus', count: Number(n) } : { kind: 'error', code: kind! };
  return { options, expect: outcome, bytes: parseHex(text) };
}

function outcomeOf(options: Partial<FramerOptions>, chunks: Buffer[]): Outcome {
  const framer = new PduFramer(options);
  const pdus: Pdu[] = [];
  try {
    for (const c of chunks) pdus.push(...framer.push(c));
  } catch (e) {
    if (e instanceof ProtocolError) return { kind: 'error', code: e.code };
    throw e;
  }
  return pdus.length > 0 ? { kind: 'pdus', count: pdus.length } : { kind: 'pending', buffered: framer.bufferedBytes };
}

describe('crasher fixtures (core/test/fixtures/pdu/crashers): malformed input ends in a ProtocolError or a wait, never a crash', () => {
  const files = listFixtureFiles('crashers');

  test('the collection is not empty', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    test(file, () => {
      const c = load(file);
      expect(outcomeOf(c.options, [c.bytes])).toEqual(c.expect);
      // Same outcome when the bytes trickle in one at a time.
      expect(outcomeOf(c.options, [...c.bytes].map((b) => Buffer.from([b])))).toEqual(c.expect);
    });
  }
});
