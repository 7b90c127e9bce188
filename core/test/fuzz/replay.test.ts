// Every reproducer in core/test/fixtures/fuzz replays on each run. A crash reproducer fails until the crash is fixed;
// a reproducer of a known finding (meta.expectKnown) must still find it — once fixed, drop the KNOWN_FINDINGS entry.
import { basename } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { core } from './bounded.js';
import { Finding, KNOWN_FINDINGS, listCaseFiles, loadCase, replayCase } from './engine.js';
import { createTargets } from './targets.js';

const targets = createTargets(core);
afterAll(() => targets.close());
const files = listCaseFiles();

describe('fuzz reproducers (core/test/fixtures/fuzz): typed errors only, RFC 7143 §11 and §6 input handling', () => {
  test('every known finding has a reproducer here', () => {
    const reproduced = new Set(files.map((f) => loadCase(f).meta.expectKnown));
    expect(Object.keys(KNOWN_FINDINGS).filter((id) => !reproduced.has(id))).toEqual([]);
  });

  for (const file of files) {
    test(basename(file), async () => {
      const c = loadCase(file);
      const known = c.meta.expectKnown;
      let thrown: unknown;
      try {
        await replayCase(targets.byName, c);
      } catch (e) {
        thrown = e;
      }
      if (typeof known === 'string') {
        expect(thrown, `known finding ${known} no longer reproduces: fixed? Remove it from KNOWN_FINDINGS and this file's expectKnown`).toBeInstanceOf(Finding);
        expect((thrown as Finding).known).toBe(known);
      } else {
        expect(thrown, 'a reproducer must now replay cleanly (typed errors only)').toBeUndefined();
      }
    });
  }
});
