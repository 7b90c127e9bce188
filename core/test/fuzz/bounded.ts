/**
 * The bounded, seeded run the test suite does of each target: on the sources, with a fixed seed (FUZZ_SEED in the
 * environment overrides it), every finding saved as a reproducer in core/test/fixtures/fuzz.
 */

import * as core from '../../src/index.js';
import { FIXTURE_DIR, formatFinding, runTarget, type FuzzTarget, type RunStats } from './engine.js';
import { parseSeed } from './prng.js';

export { core };

export const SEED = process.env.FUZZ_SEED !== undefined ? parseSeed(process.env.FUZZ_SEED) : 0x15c51;

export function fuzz(target: FuzzTarget, inputs: number): Promise<RunStats> {
  // A single case slower than 5 s (the engine default) is a finding: a hang in the making, with room for a loaded machine.
  return runTarget(target, { seed: SEED, inputs, saveDir: FIXTURE_DIR });
}

/** Findings as lines naming seed, case and reproducer (what a failing test prints), with the first stack frames. */
export function findings(stats: RunStats): string[] {
  return stats.findings.map((f) => `${formatFinding(f)}\n${(f.stack ?? '').split('\n').slice(1, 4).join('\n')}`);
}

/** How many cases ended with `outcome` (an error code, 'pdus', 'complete', ...). */
export function count(stats: RunStats, outcome: string | RegExp): number {
  let n = 0;
  for (const [k, v] of stats.outcomes) if (typeof outcome === 'string' ? k === outcome : outcome.test(k)) n += v;
  return n;
}
