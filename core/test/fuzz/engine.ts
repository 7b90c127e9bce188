/**
 * The fuzz engine: what a target is, how a case is stored as bytes, how a run loops over seeded cases and reports
 * findings. Shared by the bounded run in the test suite (core/test/fuzz/*.test.ts, on the sources) and the long run
 * of `npm run fuzz` (scripts/fuzz.mjs, on the build): the code under test always arrives as a module object (`Core`),
 * never through an import, so the same targets run against either.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as CoreModule from '../../src/index.js';
import { Rng, caseSeed } from './prng.js';

/** The engine's public API: `../../src/index.js` in tests, `@iscsi-initiator/core` in the long run. */
export type Core = typeof CoreModule;

/**
 * One input, complete: `meta` holds the settings (JSON), `payload` the bytes fed to the code under test. Replaying a
 * case needs nothing else: no seed, no generator.
 */
export interface FuzzCase {
  readonly target: string;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly payload: Buffer;
}

/** A broken rule: something other than a typed error escaped, an oracle disagreed, or the run did not end. */
export class Finding extends Error {
  override readonly name = 'Finding';
  /** The KNOWN_FINDINGS entry this is, when it is one. */
  readonly known: string | undefined;

  constructor(message: string, options: { cause?: unknown; known?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.known = options.known;
  }
}

/**
 * Findings reported to the owners of core/src and not fixed yet. A run counts them under `known:<id>` instead of
 * failing, so the suite stays a guard against new ones; each has a reproducer in core/test/fixtures/fuzz whose replay
 * must still find it — when a fix lands, that replay fails and says to delete the entry here.
 */
export const KNOWN_FINDINGS: Readonly<Record<string, string>> = {
  // None open. Fixed (their reproducers replay as regression cases, meta.fixed names them): login-request-over-8192,
  // nop-out-echo-over-mrdsl, mutual-chap-deferred-transit, negotiated-value-outside-offer.
};

export interface FuzzTarget {
  readonly name: string;
  /** Builds one case from its generator. May run the code under test to steer (the login target does). */
  generate(rng: Rng): FuzzCase | Promise<FuzzCase>;
  /** Runs a case: returns an outcome label for the statistics (e.g. 'ok' or an error code), or throws a Finding. */
  run(c: FuzzCase): string | Promise<string>;
}

// ---- case files -------------------------------------------------------------------------------------------------

const MAGIC = 'ISCSI-FUZZ 1';

/** `ISCSI-FUZZ 1 <target>\n<meta JSON>\n<payload bytes>`: a header a person can read, then the exact input. */
export function encodeCase(c: FuzzCase): Buffer {
  return Buffer.concat([Buffer.from(`${MAGIC} ${c.target}\n${JSON.stringify(c.meta)}\n`, 'utf8'), c.payload]);
}

export function decodeCase(file: Buffer): FuzzCase {
  const first = file.indexOf(0x0a);
  const second = first < 0 ? -1 : file.indexOf(0x0a, first + 1);
  const head = first < 0 ? '' : file.subarray(0, first).toString('utf8');
  if (second < 0 || !head.startsWith(`${MAGIC} `)) throw new Error(`not a fuzz case file (want a "${MAGIC} <target>" first line)`);
  const meta = JSON.parse(file.subarray(first + 1, second).toString('utf8')) as Record<string, unknown>;
  return { target: head.slice(MAGIC.length + 1), meta, payload: Buffer.from(file.subarray(second + 1)) };
}

/** Where crash reproducers live (core/test/fixtures/fuzz), resolved from this file so the script finds it too. */
export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/fuzz/', import.meta.url));

/** Writes `c` as `<target>-<hash>.bin` (same input, same name) and returns the path. */
export function saveCase(c: FuzzCase, dir = FIXTURE_DIR): string {
  const bytes = encodeCase(c);
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${c.target}-${hash}.bin`);
  writeFileSync(path, bytes);
  return path;
}

export function listCaseFiles(dir = FIXTURE_DIR): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.bin')).sort().map((n) => join(dir, n));
}

export function loadCase(path: string): FuzzCase {
  return decodeCase(readFileSync(path));
}

// ---- running ----------------------------------------------------------------------------------------------------

export interface FindingReport {
  readonly target: string;
  readonly seed: number;
  /** Case index within the run: with the seed, enough to regenerate the case (`--seed S --target T --case I`). */
  readonly index: number;
  readonly message: string;
  readonly stack: string | undefined;
  readonly case: FuzzCase | undefined;
  /** The reproducer written, when saving was asked for. */
  file: string | undefined;
}

export interface RunStats {
  readonly target: string;
  inputs: number;
  ms: number;
  readonly outcomes: Map<string, number>;
  readonly findings: FindingReport[];
  /** KNOWN_FINDINGS hit, with the first case of each (not saved: each has its reproducer already). */
  readonly known: Map<string, { count: number; first: FindingReport }>;
}

export interface RunOptions {
  /** Findings to count as known instead of new; default KNOWN_FINDINGS (tests of the machinery pass their own). */
  readonly knownFindings?: Readonly<Record<string, string>>;
  readonly seed: number;
  readonly inputs: number;
  /** First case index (default 0): `--case I` runs exactly one. */
  readonly first?: number;
  /** Save every finding's input here (the test suite and the script both do; self-tests use a temporary folder). */
  readonly saveDir?: string | undefined;
  /** Stop collecting after this many findings (the run still counts and ends). Default 20. */
  readonly maxFindings?: number;
  /** A single synchronous case slower than this is a finding (a hang in the making). Default 5000 ms. */
  readonly slowMs?: number;
  /** Called about every `progressMs` with the stats so far. */
  readonly onProgress?: ((stats: RunStats) => void) | undefined;
  readonly progressMs?: number;
  readonly onFinding?: ((report: FindingReport) => void) | undefined;
}

function describeError(e: unknown): { message: string; stack: string | undefined } {
  if (e instanceof Error) return { message: `${e.name}: ${e.message}`, stack: e.stack };
  return { message: `non-Error thrown: ${String(e)}`, stack: undefined };
}

/** Runs `inputs` cases of `target`; every case is generated from caseSeed(seed, target, index). */
export async function runTarget(target: FuzzTarget, options: RunOptions): Promise<RunStats> {
  const stats: RunStats = { target: target.name, inputs: 0, ms: 0, outcomes: new Map(), findings: [], known: new Map() };
  const first = options.first ?? 0;
  const maxFindings = options.maxFindings ?? 20;
  const slowMs = options.slowMs ?? 5000;
  const progressMs = options.progressMs ?? 1000;
  const started = performance.now();
  let lastProgress = started;
  for (let index = first; index < first + options.inputs; index++) {
    let c: FuzzCase | undefined;
    let outcome: string;
    const t0 = performance.now();
    try {
      c = await target.generate(new Rng(caseSeed(options.seed, target.name, index)));
      outcome = await target.run(c);
      const took = performance.now() - t0;
      if (took > slowMs) throw new Finding(`case took ${Math.round(took)} ms (limit ${slowMs} ms): a hang in the making`);
    } catch (e) {
      const { message, stack } = describeError(e);
      const report: FindingReport = { target: target.name, seed: options.seed, index, message, stack, case: c, file: undefined };
      const known = e instanceof Finding && e.known !== undefined && e.known in (options.knownFindings ?? KNOWN_FINDINGS) ? e.known : undefined;
      if (known !== undefined) {
        outcome = `known:${known}`;
        const seen = stats.known.get(known);
        if (seen === undefined) stats.known.set(known, { count: 1, first: report });
        else seen.count++;
      } else {
        outcome = 'FINDING';
        if (stats.findings.length < maxFindings) {
          if (c !== undefined && options.saveDir !== undefined) report.file = saveCase(c, options.saveDir);
          stats.findings.push(report);
          options.onFinding?.(report);
        }
      }
    }
    stats.inputs++;
    stats.outcomes.set(outcome, (stats.outcomes.get(outcome) ?? 0) + 1);
    const now = performance.now();
    if (options.onProgress !== undefined && now - lastProgress >= progressMs) {
      lastProgress = now;
      stats.ms = now - started;
      options.onProgress(stats);
    }
  }
  stats.ms = performance.now() - started;
  return stats;
}

/** Replays one stored case on the target it names; resolves with the outcome, rejects with what the target threw. */
export async function replayCase(targets: ReadonlyMap<string, FuzzTarget>, c: FuzzCase): Promise<string> {
  const target = targets.get(c.target);
  if (target === undefined) throw new Error(`case for unknown fuzz target "${c.target}" (known: ${[...targets.keys()].join(', ')})`);
  return target.run(c);
}

/** One line per finding, with everything needed to reproduce it. */
export function formatFinding(r: FindingReport): string {
  const where = r.file === undefined ? '' : `\n  input: ${r.file}`;
  return `[${r.target}] seed=0x${r.seed.toString(16)} case=${r.index}: ${r.message}${where}`;
}

// ---- oracles shared by targets -----------------------------------------------------------------------------------

/**
 * Calls `fn`; returns its value, or the typed error it threw when that is an instance of `allowed` (by default any
 * IscsiError). Anything else — a TypeError, a RangeError, a plain Error — is a Finding.
 */
export function typedOutcome<T>(
  core: Core,
  what: string,
  fn: () => T,
  allowed: abstract new (...args: never[]) => Error = core.IscsiError,
): { ok: true; value: T } | { ok: false; error: InstanceType<typeof core.IscsiError> } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    checkTyped(core, what, e, allowed);
    return { ok: false, error: e as InstanceType<typeof core.IscsiError> };
  }
}

/** Throws a Finding unless `e` is a typed error of class `allowed` (default IscsiError) with a string code. */
export function checkTyped(core: Core, what: string, e: unknown, allowed: abstract new (...args: never[]) => Error = core.IscsiError): void {
  if (e instanceof Finding) throw e;
  if (!(e instanceof allowed) || !(e instanceof core.IscsiError) || typeof e.code !== 'string') {
    const { message } = describeError(e);
    throw new Finding(`${what} threw ${message}; only ${allowed.name} may escape`, { cause: e });
  }
}

/** A PDU (or any flat record) as a comparable string: bigints and Buffers spelled out, data compared by content. */
export function pduKey(pdu: object): string {
  const parts: string[] = [];
  for (const key of Object.keys(pdu).sort()) {
    const v = (pdu as Record<string, unknown>)[key];
    const text = Buffer.isBuffer(v) ? `<${v.toString('hex')}>` : typeof v === 'bigint' ? `${v.toString()}n` : String(v);
    parts.push(`${key}=${text}`);
  }
  return `{${parts.join(',')}}`;
}
