#!/usr/bin/env node
// `npm run fuzz`: the long fuzz run — a million seeded inputs (by default) over the six targets of core/test/fuzz
// (framer, decode, login, negotiator, text, session), against the BUILT core (@iscsi-initiator/core). The targets and
// generators are the TypeScript files the test suite runs on the sources; Node strips their types. See docs/fuzzing.md.
//
//   node scripts/fuzz.mjs [--inputs N] [--seed S] [--target NAME ...] [--case I] [--replay FILE ...] [--allow-known] [--no-save]
//
// Prints inputs/s per target and a summary; every new finding is printed with its seed and case index, and its exact
// input is written to core/test/fixtures/fuzz/<target>-<hash>.bin. Exits 1 on any finding — the known ones listed in
// core/test/fuzz/engine.ts included, unless --allow-known — and 2 on bad arguments.

import module from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fuzzDir = path.join(root, 'core', 'test', 'fuzz');

// The engine's relative imports end in `.js` (the repo's ESM convention); beside them are the `.ts` sources.
module.registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.startsWith(pathToFileURL(fuzzDir).href)) {
      const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
    }
    return nextResolve(specifier, context);
  },
});

const usage = `usage: node scripts/fuzz.mjs [--inputs N] [--seed S] [--target NAME ...] [--case I] [--replay FILE ...] [--allow-known] [--no-save]
  --inputs N    inputs over all selected targets, shared by weight (default 1000000)
  --seed S      run seed, decimal or 0x-hex (default: random, printed)
  --target NAME framer, decode, login, negotiator, text, session (repeatable or comma-separated; default all)
  --case I      run only case I of each selected target (with --seed: reproduce a reported finding)
  --replay FILE replay stored cases (.bin files or folders of them) instead of generating
  --allow-known exit 0 when the only findings are known ones (core/test/fuzz/engine.ts KNOWN_FINDINGS)
  --no-save     do not write reproducers`;

let args;
let positionals;
try {
  ({ values: args, positionals } = parseArgs({
    options: {
      inputs: { type: 'string' },
      seed: { type: 'string' },
      target: { type: 'string', multiple: true },
      case: { type: 'string' },
      replay: { type: 'string', multiple: true },
      'allow-known': { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: true,
  }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
// Further files after --replay FILE are replayed too (a shell glob expands to several).
if (positionals.length > 0) {
  if (args.replay === undefined) {
    console.error(`unexpected argument ${positionals[0]}\n${usage}`);
    process.exit(2);
  }
  args.replay.push(...positionals);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const core = await import('@iscsi-initiator/core');
const engine = await import(pathToFileURL(path.join(fuzzDir, 'engine.ts')).href);
const { parseSeed } = await import(pathToFileURL(path.join(fuzzDir, 'prng.ts')).href);
const { TARGET_NAMES, createTargets, shareInputs } = await import(pathToFileURL(path.join(fuzzDir, 'targets.ts')).href);

function fail(message) {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

const names = (args.target ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
for (const n of names) if (!TARGET_NAMES.includes(n)) fail(`unknown target "${n}"`);
const selected = names.length > 0 ? TARGET_NAMES.filter((n) => names.includes(n)) : [...TARGET_NAMES];
const inputs = args.inputs === undefined ? 1_000_000 : Number(args.inputs.replaceAll('_', ''));
if (!Number.isSafeInteger(inputs) || inputs < 1) fail(`--inputs must be a positive integer, not ${args.inputs}`);
let seed;
try {
  seed = args.seed === undefined ? (Math.random() * 0x100000000) >>> 0 : parseSeed(args.seed);
} catch (e) {
  fail(e.message);
}
const only = args.case === undefined ? undefined : Number(args.case);
if (only !== undefined && (!Number.isSafeInteger(only) || only < 0)) fail(`--case must be a case index, not ${args.case}`);
const saveDir = args['no-save'] ? undefined : engine.FIXTURE_DIR;

const targets = createTargets(core);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
let exitCode;

try {
  exitCode = args.replay !== undefined ? await replay(args.replay) : await generateAndRun();
} finally {
  await targets.close();
}
process.exit(exitCode);

async function replay(paths) {
  const { statSync } = await import('node:fs');
  const files = paths.flatMap((p) => (statSync(p).isDirectory() ? engine.listCaseFiles(p) : [p]));
  let failures = 0;
  for (const file of files) {
    const c = engine.loadCase(file);
    try {
      const outcome = await engine.replayCase(targets.byName, c);
      console.log(`${path.relative(root, file)}: ${outcome}`);
    } catch (e) {
      const known = e instanceof engine.Finding && e.known !== undefined ? ` [known: ${e.known}]` : '';
      console.log(`${path.relative(root, file)}: FINDING ${e.message}${known}`);
      if (known === '' || !args['allow-known']) failures++;
    }
  }
  return failures > 0 ? 1 : 0;
}

async function generateAndRun() {
  const shares = only === undefined ? shareInputs(inputs, selected) : new Map(selected.map((n) => [n, 1]));
  const total = [...shares.values()].reduce((a, b) => a + b, 0);
  console.log(`fuzz: seed=0x${seed.toString(16)} inputs=${fmt(total)} targets=${selected.join(',')}${only === undefined ? '' : ` case=${only}`} (core: built @iscsi-initiator/core)`);
  const all = [];
  const started = performance.now();
  for (const name of selected) {
    const count = shares.get(name);
    if (count === 0) continue;
    const stats = await engine.runTarget(targets.byName.get(name), {
      seed,
      inputs: count,
      first: only ?? 0,
      saveDir,
      // Progress only on a terminal: a line rewritten in place.
      onProgress: process.stderr.isTTY ? (s) => process.stderr.write(`  [${name}] ${fmt(s.inputs)}/${fmt(count)} ${fmt((s.inputs / s.ms) * 1000)}/s\r`) : undefined,
      progressMs: 2000,
      onFinding: (r) => console.log(`\nFINDING ${engine.formatFinding(r)}\n${(r.stack ?? '').split('\n').slice(1, 6).join('\n')}`),
    });
    if (process.stderr.isTTY) process.stderr.write(`${' '.repeat(60)}\r`);
    all.push(stats);
    const known = [...stats.known].map(([id, k]) => `${id}×${k.count}`).join(', ');
    console.log(
      `  ${name.padEnd(10)} ${fmt(stats.inputs).padStart(9)} inputs ${(stats.ms / 1000).toFixed(1).padStart(6)} s ${fmt((stats.inputs / stats.ms) * 1000).padStart(8)}/s` +
        `  findings ${stats.findings.length}${known ? `  known: ${known}` : ''}`,
    );
    if (only !== undefined) {
      const outcome = [...stats.outcomes.keys()][0];
      console.log(`  case ${only} outcome: ${outcome}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const inputsDone = all.reduce((s, t) => s + t.inputs, 0);
  const findings = all.flatMap((t) => t.findings);
  const knownHits = all.flatMap((t) => [...t.known].map(([id, k]) => ({ id, ...k })));

  console.log(`\nsummary: ${fmt(inputsDone)} inputs in ${seconds.toFixed(1)} s (${fmt(inputsDone / seconds)}/s), seed 0x${seed.toString(16)}, peak RSS ${fmt(process.resourceUsage().maxRSS / 1024)} MiB`);
  for (const t of all) {
    const top = [...t.outcomes].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${((100 * v) / t.inputs).toFixed(1)}%`).join(', ');
    console.log(`  ${t.target.padEnd(10)} ${top}`);
  }
  if (knownHits.length > 0) {
    console.log('\nknown findings (reported, not yet fixed; see core/test/fuzz/engine.ts KNOWN_FINDINGS):');
    for (const k of knownHits) console.log(`  ${k.id}: ${k.count}× — first: ${engine.formatFinding(k.first)}`);
  }
  if (findings.length > 0) {
    console.log(`\n${findings.length} NEW FINDING(S) — reproduce with --seed 0x${seed.toString(16)} --target T --case I, or --replay the saved file:`);
    for (const f of findings) console.log(`  ${engine.formatFinding(f)}`);
    return 1;
  }
  if (knownHits.length > 0 && !args['allow-known']) {
    console.log('\nno new findings; known findings remain (exit 1; --allow-known to accept them)');
    return 1;
  }
  console.log(knownHits.length > 0 ? '\nno new findings (known ones allowed)' : '\nno findings');
  return 0;
}
