// The fuzz machinery itself: deterministic seeds, case files, and oracles that do catch a planted crash — so a green
// fuzz run means something.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Pdu } from '../../src/index.js';
import { core } from './bounded.js';
import { Finding, decodeCase, encodeCase, listCaseFiles, loadCase, replayCase, runTarget, saveCase, type Core, type FuzzTarget } from './engine.js';
import { fixDigests, mutateStream } from './mutate.js';
import { randomPdu } from './pdus.js';
import { Rng, caseSeed } from './prng.js';
import { decodeTarget, framerTarget } from './target-pdu.js';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('seeds', () => {
  test('the same seed gives the same stream; int(n) stays in [0, n)', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.int(7));
    expect(Array.from({ length: 1000 }, () => b.int(7))).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 7)).toBe(true);
    expect(new Set(xs).size).toBe(7);
    expect(new Rng(43).u32()).not.toBe(new Rng(42).u32());
  });

  test('every (seed, target, index) has its own case seed, so one case regenerates alone', () => {
    const seeds = new Set<number>();
    for (const t of ['framer', 'login']) for (let i = 0; i < 500; i++) seeds.add(caseSeed(1, t, i));
    expect(seeds.size).toBe(1000);
    expect(caseSeed(1, 'framer', 7)).toBe(caseSeed(1, 'framer', 7));
  });
});

describe('case files', () => {
  test('round-trip exactly and are named by their content', () => {
    const c = { target: 'framer', meta: { cuts: [1, 2], accept: 'target' }, payload: Buffer.from([0, 1, 0x0a, 0xff]) };
    expect(decodeCase(encodeCase(c))).toEqual(c);
    const path = saveCase(c, dir);
    expect(saveCase(c, dir)).toBe(path);
    expect(path).toMatch(/framer-[0-9a-f]{12}\.bin$/);
    expect(loadCase(path)).toEqual(c);
    expect(() => decodeCase(Buffer.from('not a case\n{}\n'))).toThrow(/not a fuzz case file/);
  });
});

describe('oracles catch planted bugs', () => {
  test('a decodePdu that throws a TypeError for Data-In is found, saved, and the saved input reproduces it', async () => {
    const planted: Core = {
      ...core,
      decodePdu: (bhs: Buffer, ahs: Buffer, data: Buffer): Pdu => {
        if (bhs.length === 48 && (bhs[0]! & 0x3f) === 0x25) throw new TypeError('planted');
        return core.decodePdu(bhs, ahs, data);
      },
    };
    const saveDir = join(dir, 'decode');
    const stats = await runTarget(decodeTarget(planted), { seed: 7, inputs: 300, saveDir, maxFindings: 3 });
    expect(stats.findings.length).toBe(3);
    const first = stats.findings[0]!;
    expect(first.message).toMatch(/decodePdu threw TypeError: planted; only ProtocolError may escape/);
    expect(first.seed).toBe(7);
    expect(readdirSync(saveDir)).toHaveLength(3);
    const replayed = replayCase(new Map([['decode', decodeTarget(planted)]]), loadCase(first.file!));
    await expect(replayed).rejects.toThrow(/TypeError: planted/);
    // The real decoder passes the same input.
    await expect(replayCase(new Map([['decode', decodeTarget(core)]]), loadCase(first.file!))).resolves.toBeTypeOf('string');
  });

  test('a framer that loses PDUs when input arrives in pieces is caught by the chunking oracle', async () => {
    class Forgetful extends core.PduFramer {
      override push(chunk: Buffer): Pdu[] {
        const out = super.push(chunk);
        return chunk.length === 1 ? [] : out; // drops what a one-byte chunk completes
      }
    }
    const planted: Core = { ...core, PduFramer: Forgetful };
    const stats = await runTarget(framerTarget(planted), { seed: 3, inputs: 2000, maxFindings: 1 });
    expect(stats.findings[0]?.message).toMatch(/chunking changed the PDUs/);
  });

  test('a known finding is counted under known:<id>, not reported as new', async () => {
    const id = 'planted-known';
    const target: FuzzTarget = {
      name: 'fake',
      generate: () => ({ target: 'fake', meta: {}, payload: Buffer.alloc(0) }),
      run: () => {
        throw new Finding('seen before', { known: id });
      },
    };
    const stats = await runTarget(target, { seed: 1, inputs: 5, knownFindings: { [id]: 'planted for this test' } });
    expect(stats.findings).toEqual([]);
    expect(stats.known.get(id)?.count).toBe(5);
    expect(stats.outcomes.get(`known:${id}`)).toBe(5);
  });
});

describe('mutations', () => {
  test('after fixDigests a mutated header passes its header digest and is judged on its fields (RFC 7143 §11.2.3)', () => {
    const r = new Rng(11);
    const digests = { headerDigest: true, dataDigest: true };
    let judgedOnFields = 0;
    for (let i = 0; i < 200; i++) {
      const wire = core.encodePduToBuffer(randomPdu(core, r, 0x25, 100), digests);
      const mutated = mutateStream(r, wire, { ...digests, mrdsl: 8192 }, 'word').bytes;
      const framer = new core.PduFramer({ ...digests, accept: 'target', maxRecvDataSegmentLength: 8192 });
      try {
        framer.push(fixDigests(core, mutated, true, true));
        judgedOnFields++;
      } catch (e) {
        expect((e as { code: string }).code).not.toBe('ISCSI_PDU_HEADER_DIGEST');
        judgedOnFields++;
      }
      // Without the fix-up the same change is a header digest error (a changed BHS word always changes the CRC).
      const before = core.encodePduToBuffer(randomPdu(core, new Rng(i), 0x25, 0), digests);
      const broken = Buffer.from(before);
      broken.writeUInt32BE((broken.readUInt32BE(24) ^ 1) >>> 0, 24);
      expect(() => new core.PduFramer({ ...digests, accept: 'target' }).push(broken)).toThrow(expect.objectContaining({ code: 'ISCSI_PDU_HEADER_DIGEST' }));
    }
    expect(judgedOnFields).toBe(200);
  });

  test('the reproducer folder only holds case files this engine can read', () => {
    for (const file of listCaseFiles()) expect(() => loadCase(file)).not.toThrow();
  });
});
