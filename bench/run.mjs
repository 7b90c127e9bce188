#!/usr/bin/env node
// `npm run bench`: this initiator's `iscsiadm lun bench` side by side with libiscsi's iscsi-perf, on the same two LUNs
// of one private tgtd (a file in /dev/shm and tgtd's null store), and the same LUNs as disks through the HBA: fio over
// NBD through iscsi-hba-sim and `iscsid --hba simulator`. See bench/README.md.

import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkGoals,
  checkHbaGoals,
  compareHba,
  compareSides,
  cpuPerGb,
  fioArgs,
  fmtNum,
  fmtRatio,
  HBA_GOALS,
  littleLatencyUs,
  parseFioJson,
  parseIscsiPerf,
  parseJsonErrorMessage,
  parseOursJson,
  parseProcStatTicks,
  parseSides,
  ratio,
  renderTable,
  selectShapes,
  splitTimes,
  ticksDelta,
  TIMES_WRAPPER,
} from './parse.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const CLI = path.join(ROOT, 'cli', 'bin', 'run.js');
const CLI_BENCH = path.join(ROOT, 'cli', 'dist', 'commands', 'lun', 'bench.js');
const DRIVER = path.join(ROOT, 'driver');
const IQN = 'iqn.2026-11.io.github.iscsi-initiator:bench';
// The direct side's own initiator name. With the host's one name it would derive the same ISID as iscsid's session on
// the HBA side, and each of its logins would reinstate that session (RFC 7143 §6.3.5), failing the HBA's I/O.
const DIRECT_INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:bench-direct';
const FILE_LUN_BYTES = 1024 ** 3;
const BLOCK_SIZE = 512;
// A child gets its run time plus this much (login, logout, process start) before it is killed.
const GRACE_MS = 30_000;
const OUTPUT_LIMIT = 4 * 1024 * 1024;
// Fast and fair for both initiators: big PDUs and bursts, immediate + unsolicited data, a deep command window.
const TARGET_PARAMS = {
  MaxRecvDataSegmentLength: '262144',
  MaxBurstLength: '1048576',
  FirstBurstLength: '262144',
  MaxOutstandingR2T: '8',
  ImmediateData: 'Yes',
  InitialR2T: 'No',
  MaxQueueCmd: '128',
};

const USAGE = `usage: npm run bench -- [--time SECONDS] [--quick] [--repeat N] [--shapes TERMS] [--luns file,null] [--sides S,…]

  --time N       seconds per run (integer ≥ 1, default 5)
  --quick        1-second runs, a smoke test
  --repeat N     run every shape N times (order alternating), compare the median runs (default 1)
  --shapes T,…   only shapes whose name contains one of the terms, e.g. 4k, qd1, write, 1m-read-qd8
                 (shapes: 4k-randread-qd1 4k-randread-qd32 128k-read-qd32 1m-read-qd8 and the same as writes)
  --luns L,…     file (1 GiB in /dev/shm), null (tgtd's null store), default both
  --sides S,…    ours (lun bench, direct), libiscsi (iscsi-perf), hba (fio over NBD through iscsid --hba simulator);
                 default all three. The HBA's ratios need ours: e.g. --sides ours,hba

Needs root, Debian's tgt and libiscsi-bin, fio (for hba), and \`npm run build\` done first. Results:
bench/results/latest.json.`;

// ---------------------------------------------------------------------------------------------------------------
// Children

/** The child running right now (`kill()` ends its process group), so a signal can stop it. */
let current;
let interrupted = false;

/**
 * Runs `cmd args` under bash's `times` in its own process group, killed (the whole group) after `timeoutMs`.
 * Never rejects: failures come back as fields.
 */
function runMeasured(cmd, args, timeoutMs, env = {}) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError;
    const child = spawn('bash', ['-c', TIMES_WRAPPER, 'bash', cmd, ...args], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // LC_NUMERIC=C: bash's `times` prints a locale decimal point otherwise.
      env: { ...process.env, ...env, LC_NUMERIC: 'C' },
    });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const handle = { kill: killGroup };
    current = handle;
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout = (stdout + c).slice(-OUTPUT_LIMIT)));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr = (stderr + c).slice(-OUTPUT_LIMIT)));
    child.once('error', (err) => (spawnError = err.message));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (current === handle) current = undefined;
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      const split = splitTimes(stderr);
      resolve({ exitCode: code, signal, timedOut, spawnError, wallS, stdout, stderr: split.stderr, cpu: split.cpu });
    });
  });
}

function exec(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout.trim()));
  });
}

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(':').filter((d) => d !== '')) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function lastLine(text) {
  return text.split(/[\r\n]/).map((l) => l.trim()).filter((l) => l !== '').at(-1);
}

/** Why a measured child failed, in one line; undefined if it did not. */
function childFailure(r, timeoutMs) {
  if (r.spawnError !== undefined) return `could not start: ${r.spawnError}`;
  if (interrupted && r.exitCode !== 0) return 'interrupted';
  if (r.timedOut) return `killed after the ${Math.round(timeoutMs / 1000)} s timeout`;
  if (r.signal !== null) return `killed by ${r.signal}`;
  if (r.exitCode !== 0) {
    const why = parseJsonErrorMessage(r.stdout) ?? lastLine(r.stderr) ?? lastLine(r.stdout) ?? 'no output';
    return `exit ${r.exitCode}: ${why}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// A process's CPU from /proc/<pid>/stat: tgtd's for context (every side shares the machine with it), and iscsid's and
// the simulator's, which are the HBA path's cost.

let clockTicks = 100;

function procTicks(pid) {
  if (pid === undefined) return undefined;
  try {
    return parseProcStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two sides

function urlFor(tgt, lun) {
  return `iscsi://${tgt.portal}/${IQN}/${lun}`;
}

async function measure(ctx, side, shape, lunInfo) {
  if (side === 'hba') return measureHba(ctx, shape, lunInfo);
  const { tgt, seconds } = ctx;
  const timeoutMs = seconds * 1000 + GRACE_MS;
  const url = urlFor(tgt, lunInfo.lun);
  const base = { shape: shape.name, lun: lunInfo.name, tool: side, rw: shape.rw, bs: shape.bs, qd: shape.qd, seconds };
  let cmd;
  let args;
  if (side === 'ours') {
    if (!ctx.oursAvailable) return { ...base, ok: false, error: 'lun bench is not built (no cli/dist/commands/lun/bench.js): npm run build' };
    cmd = ctx.nodeBin;
    args = [CLI, 'lun', 'bench', url, '--rw', shape.rw, '--bs', String(shape.bs), '--qd', String(shape.qd), '--time', String(seconds), '--initiator-name', DIRECT_INITIATOR, '--json'];
  } else {
    if (ctx.iscsiPerf === undefined) return { ...base, ok: false, error: 'iscsi-perf not found: apt-get install libiscsi-bin' };
    cmd = ctx.iscsiPerf;
    args = ['-m', String(shape.qd), '-b', String(shape.bs / BLOCK_SIZE), '-t', String(seconds), ...(shape.rw === 'randread' ? ['-r'] : []), url];
  }
  const ticksBefore = procTicks(tgt.pid);
  const r = await runMeasured(cmd, args, timeoutMs);
  const ticksAfter = procTicks(tgt.pid);
  const tgtdCpuS = ticksBefore === undefined || ticksAfter === undefined ? undefined : (ticksAfter - ticksBefore) / clockTicks;
  const cpuS = r.cpu === undefined ? undefined : r.cpu.user + r.cpu.sys;
  const common = {
    ...base,
    argv: [cmd.startsWith(`${ROOT}/`) ? path.relative(ROOT, cmd) : cmd, ...args],
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    wallS: r.wallS,
    cpu: r.cpu === undefined ? undefined : { ...r.cpu, total: cpuS },
    tgtdCpuS,
    stderrTail: r.stderr.slice(-2000),
  };
  const failure = childFailure(r, timeoutMs);
  if (side === 'ours') {
    const json = parseOursJson(r.stdout);
    // lun bench prints its result even when commands failed (then exits 1): keep the numbers, flag the run.
    const completed = !r.timedOut && r.signal === null && r.spawnError === undefined;
    if (json === undefined || !completed) {
      return { ...common, ok: false, error: failure ?? `no result JSON on stdout: ${lastLine(r.stdout) ?? '(empty)'}`, stdoutTail: r.stdout.slice(-2000) };
    }
    const warnings = [];
    if (failure !== undefined) warnings.push(failure);
    if (json.errors > 0) warnings.push(`${json.errors} commands failed`);
    // A reconnect costs no error but sets the tail latency: say so next to the numbers.
    if (json.recovery?.reconnects > 0) warnings.push(`${json.recovery.reconnects} reconnects, ${(json.recovery.recoveryMs / 1000).toFixed(2)} s without a connection`);
    if (json.verify !== null && typeof json.verify === 'object' && json.verify.mismatches > 0) {
      warnings.push(`verify: ${json.verify.mismatches} mismatches`);
    }
    return {
      ...common,
      ok: true,
      warnings,
      iops: json.iops,
      mibps: json.mibps,
      bytes: json.bytes,
      latencyUs: json.latencyUs,
      littleLatencyUs: littleLatencyUs(shape.qd, json.iops),
      cpuPerGb: cpuPerGb(cpuS, json.bytes),
      tgtdCpuPerGb: cpuPerGb(tgtdCpuS, json.bytes),
      raw: json,
    };
  }
  const perf = parseIscsiPerf(r.stdout);
  if (failure !== undefined || perf === undefined || perf.aborted) {
    const why = failure ?? (perf?.aborted ? `ABORTED: ${lastLine(r.stderr) ?? 'no reason given'}` : `no "iops average" line: ${lastLine(r.stderr) ?? lastLine(r.stdout) ?? '(empty)'}`);
    return { ...common, ok: false, error: why, stdoutTail: r.stdout.slice(-2000) };
  }
  // iscsi-perf prints only the average rate over its run time; the bytes moved follow from it.
  const bytes = perf.iops * shape.bs * seconds;
  return {
    ...common,
    ok: true,
    warnings: perf.finished ? [] : ['no "finished." line'],
    iops: perf.iops,
    mibps: (perf.iops * shape.bs) / 2 ** 20,
    bytes,
    bytesEstimated: true,
    littleLatencyUs: littleLatencyUs(shape.qd, perf.iops),
    cpuPerGb: cpuPerGb(cpuS, bytes),
    tgtdCpuPerGb: cpuPerGb(tgtdCpuS, bytes),
    raw: perf,
  };
}

/**
 * fio over the LUN's NBD export (through iscsi-hba-sim, the bridge and iscsid's session). The HBA path's CPU is
 * iscsid's plus the simulator's (/proc/<pid>/stat before and after: both run for the whole bench, so no start-up is in
 * it); fio's own CPU (bash `times`) is kept apart, as the workload generator inside `lun bench` is not.
 */
async function measureHba(ctx, shape, lunInfo) {
  const { tgt, seconds, hba } = ctx;
  const timeoutMs = seconds * 1000 + GRACE_MS;
  const base = { shape: shape.name, lun: lunInfo.name, tool: 'hba', rw: shape.rw, bs: shape.bs, qd: shape.qd, seconds };
  if (hba.error !== undefined) return { ...base, ok: false, error: hba.error };
  const uri = hba.uris.get(lunInfo.name);
  if (uri === undefined) return { ...base, ok: false, error: `no NBD export for LUN ${lunInfo.lun} in session -P 3` };
  const pids = [hba.daemonPid, hba.simPid];
  const before = pids.map(procTicks);
  const tgtdBefore = procTicks(tgt.pid);
  const args = fioArgs(shape, uri, seconds);
  const r = await runMeasured(hba.fio, args, timeoutMs);
  const after = pids.map(procTicks);
  const tgtdAfter = procTicks(tgt.pid);
  const hbaCpuS = ticksDelta(before, after, clockTicks);
  const tgtdCpuS = ticksDelta([tgtdBefore], [tgtdAfter], clockTicks);
  const fioCpuS = r.cpu === undefined ? undefined : r.cpu.user + r.cpu.sys;
  const common = {
    ...base,
    argv: [hba.fio, ...args],
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    wallS: r.wallS,
    // iscsid + iscsi-hba-sim, each on its own too.
    cpu: hbaCpuS === undefined ? undefined : { total: hbaCpuS, iscsidS: ticksDelta([before[0]], [after[0]], clockTicks), simS: ticksDelta([before[1]], [after[1]], clockTicks) },
    fioCpuS,
    tgtdCpuS,
    stderrTail: r.stderr.slice(-2000),
  };
  const failure = childFailure(r, timeoutMs);
  const fio = parseFioJson(r.stdout, shape.rw);
  if (failure !== undefined || fio === undefined) {
    return { ...common, ok: false, error: failure ?? `no fio JSON on stdout: ${lastLine(r.stderr) ?? lastLine(r.stdout) ?? '(empty)'}`, stdoutTail: r.stdout.slice(-2000) };
  }
  return {
    ...common,
    ok: true,
    warnings: fio.error !== 0 ? [`fio error ${fio.error}`] : [],
    iops: fio.iops,
    mibps: fio.mibps,
    bytes: fio.bytes,
    latencyUs: fio.latencyUs,
    littleLatencyUs: littleLatencyUs(shape.qd, fio.iops),
    cpuPerGb: cpuPerGb(hbaCpuS, fio.bytes),
    fioCpuPerGb: cpuPerGb(fioCpuS, fio.bytes),
    tgtdCpuPerGb: cpuPerGb(tgtdCpuS, fio.bytes),
    raw: fio,
  };
}

/**
 * iscsid --hba simulator (it starts iscsi-hba-sim) in a folder of its own, logged in to the bench's target: each LUN
 * is then an NBD export. Never throws: what went wrong is `error`, and every HBA run reports it.
 */
async function startHba(ctx, luns) {
  const state = { uris: new Map(), fio: which('fio'), error: undefined, daemon: undefined, dir: undefined };
  if (state.fio === undefined) return { ...state, error: 'fio not found: apt-get install fio' };
  const built = await new Promise((resolve) => execFile('make', ['-s', '-C', DRIVER, 'sim'], { timeout: 300_000, encoding: 'utf8' }, (err, out, errOut) => resolve(err ? `${out}${errOut}`.trim() || err.message : undefined)));
  if (built !== undefined) return { ...state, error: `make -C driver sim failed: ${lastLine(built)}` };
  const { startIscsid } = await import('@iscsi-initiator/test');
  try {
    state.dir = await mkdtemp(path.join(os.tmpdir(), 'bench-hba-'));
    state.daemon = await startIscsid({ dir: state.dir, args: ['--hba', 'simulator'], startTimeoutMs: 30_000 });
    state.daemonPid = state.daemon.child.pid;
    const started = state.daemon.output().split('\n').find((l) => l.includes('started the HBA simulator'));
    state.simPid = started === undefined ? undefined : JSON.parse(started).pid;
    if (state.simPid === undefined) throw new Error('iscsid did not say which simulator it started');
    const cli = (args) => runMeasured(ctx.nodeBin, [CLI, ...args, '--socket', state.daemon.socket], GRACE_MS);
    const login = await cli(['discovery', '-t', 'st', '-p', ctx.tgt.portal, '-l']);
    if (login.exitCode !== 0) throw new Error(`login through iscsid failed: ${lastLine(login.stderr) ?? lastLine(login.stdout) ?? `exit ${login.exitCode}`}`);
    const p3 = await cli(['session', '-P', '3', '--json']);
    const sessions = JSON.parse(p3.stdout);
    const session = sessions.find((s) => s.targetName === IQN) ?? sessions[0];
    for (const l of luns) {
      const disk = session?.luns?.find((x) => x.lun === l.lun)?.disk;
      if (typeof disk === 'string') state.uris.set(l.name, disk);
    }
    state.session = session;
    return state;
  } catch (err) {
    return { ...state, error: `iscsid --hba simulator: ${err.message ?? err}` };
  }
}

/** SIGTERM: iscsid logs out and stops the simulator it started. */
async function stopHba(hba) {
  if (hba?.daemon === undefined) return;
  await hba.daemon.stop().catch((err) => console.error(`bench: stopping iscsid failed: ${err.message}`));
  if (hba.simPid !== undefined && procTicks(hba.simPid) !== undefined) {
    try {
      process.kill(hba.simPid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (hba.dir !== undefined) await rm(hba.dir, { recursive: true, force: true });
}

/** CPU of a login + one command + logout, per initiator: the fixed cost inside every run's CPU seconds. */
async function startupCost(ctx, lunInfo, sides) {
  const url = urlFor(ctx.tgt, lunInfo.lun);
  const result = {};
  if (sides.includes('ours') && (ctx.oursAvailable || existsSync(path.join(ROOT, 'cli', 'dist', 'commands', 'lun', 'capacity.js')))) {
    const r = await runMeasured(ctx.nodeBin, [CLI, 'lun', 'capacity', url, '--initiator-name', DIRECT_INITIATOR, '--json'], GRACE_MS);
    const failure = childFailure(r, GRACE_MS);
    result.ours = { command: 'iscsiadm lun capacity --json', cpuS: r.cpu === undefined ? undefined : r.cpu.user + r.cpu.sys, wallS: r.wallS, error: failure };
  }
  const readcap = which('iscsi-readcapacity16');
  if (readcap !== undefined && sides.includes('libiscsi')) {
    const r = await runMeasured(readcap, [url], GRACE_MS);
    const failure = childFailure(r, GRACE_MS);
    result.libiscsi = { command: 'iscsi-readcapacity16', cpuS: r.cpu === undefined ? undefined : r.cpu.user + r.cpu.sys, wallS: r.wallS, error: failure };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Setup

async function machineInfo(nodeBin) {
  const cpus = os.cpus();
  const dpkg = (pkg) => exec('dpkg-query', ['-W', '-f=${Version}', pkg]);
  return {
    hostname: os.hostname(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    nproc: os.availableParallelism(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    memTotalBytes: os.totalmem(),
    // Other work on the machine skews every number: the 1, 5 and 15-minute load averages before the first run.
    loadAvgAtStart: os.loadavg(),
    node: (await exec(nodeBin, ['--version'])) ?? 'unknown',
    benchNode: process.version,
    libiscsi: (await dpkg('libiscsi-bin')) ?? 'unknown',
    tgt: (await dpkg('tgt')) ?? (await exec('tgtadm', ['--version'])) ?? 'unknown',
  };
}

/** Fills the file LUN with random data so reads hit real pages, not tmpfs holes (1 MiB pattern, repeated). */
async function prefill(file, sizeBytes) {
  const chunk = randomBytes(1024 * 1024);
  const fh = await open(file, 'r+');
  try {
    for (let at = 0; at < sizeBytes; at += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, sizeBytes - at), at);
  } finally {
    await fh.close();
  }
}

function repoNode() {
  // The repo's Node 24 (npm package `node`); the machine's may be older than the CLI accepts.
  const candidate = path.join(ROOT, 'node_modules', '.bin', 'node');
  return existsSync(candidate) ? realpathSync(candidate) : process.execPath;
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      time: { type: 'string' },
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      shapes: { type: 'string' },
      luns: { type: 'string' },
      sides: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  let seconds = values.quick ? 1 : 5;
  if (values.time !== undefined) {
    seconds = Number(values.time);
    // iscsi-perf takes whole seconds.
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new Error(`--time ${values.time}: a whole number of seconds, 1..3600`);
  }
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) throw new Error(`--repeat ${values.repeat}: a whole number, 1..100`);
  const shapes = selectShapes(values.shapes);
  if (shapes.length === 0) throw new Error(`--shapes ${values.shapes} matches no shape`);
  const lunNames = (values.luns ?? 'file,null').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const l of lunNames) if (l !== 'file' && l !== 'null') throw new Error(`--luns: unknown LUN ${l} (file, null)`);
  const sides = parseSides(values.sides);
  return { seconds, repeat, quick: values.quick, shapesFilter: values.shapes ?? null, shapes, lunNames: [...new Set(lunNames)], sides };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

/**
 * The run that stands for a tool on a shape and LUN: the median by IOPS of its successful runs (the lower middle one
 * for an even count), else its first failed run, so an error still shows.
 */
function representative(runs, shape, lun, tool) {
  const all = runs.filter((r) => r.shape === shape && r.lun === lun && r.tool === tool);
  const ok = all.filter((r) => r.ok).sort((a, b) => a.iops - b.iops);
  return ok.length > 0 ? ok[Math.floor((ok.length - 1) / 2)] : all[0];
}

function buildComparisons(runs, shapes, luns) {
  const comparisons = [];
  for (const lun of luns) {
    for (const shape of shapes) {
      const ours = representative(runs, shape.name, lun.name, 'ours');
      const theirs = shape.peer ? representative(runs, shape.name, lun.name, 'libiscsi') : undefined;
      if (ours === undefined && theirs === undefined) continue;
      const side = (r) =>
        r?.ok ? { iops: r.iops, mibps: r.mibps, latencyUs: r.littleLatencyUs, cpuPerGb: r.cpuPerGb } : {};
      const ratios = shape.peer ? compareSides(shape, side(ours), side(theirs)) : {};
      if (shape.peer) ratios.cpuPerGbNet = ratio(ours?.cpuPerGbNet, theirs?.cpuPerGbNet);
      const count = (tool) => runs.filter((r) => r.shape === shape.name && r.lun === lun.name && r.tool === tool && r.ok).length;
      comparisons.push({
        shape: shape.name,
        lun: lun.name,
        // `order` of the runs compared (the medians when --repeat > 1), and how many good runs each side had.
        oursRun: ours?.order ?? null,
        libiscsiRun: theirs?.order ?? null,
        okRuns: { ours: count('ours'), libiscsi: shape.peer ? count('libiscsi') : null },
        ratios,
        goals: checkGoals(shape, ratios),
      });
    }
  }
  return comparisons;
}

/** Per shape and LUN: the HBA's representative run against direct's (and iscsi-perf's), with the HBA goals. */
function buildHbaComparisons(runs, shapes, luns) {
  const comparisons = [];
  for (const lun of luns) {
    for (const shape of shapes) {
      const hba = representative(runs, shape.name, lun.name, 'hba');
      if (hba === undefined) continue;
      const direct = representative(runs, shape.name, lun.name, 'ours');
      const theirs = representative(runs, shape.name, lun.name, 'libiscsi');
      const side = (r) => (r?.ok ? r : {});
      const ratios = compareHba(side(hba), side(direct), side(theirs));
      comparisons.push({
        shape: shape.name,
        lun: lun.name,
        hbaRun: hba.order,
        directRun: direct?.order ?? null,
        libiscsiRun: theirs?.order ?? null,
        okRuns: runs.filter((r) => r.shape === shape.name && r.lun === lun.name && r.tool === 'hba' && r.ok).length,
        ratios,
        goals: checkHbaGoals(shape, ratios),
      });
    }
  }
  return comparisons;
}

function printHbaTable(runs, comparisons, repeat) {
  const headers = ['shape', 'LUN', 'HBA IOPS', 'MiB/s', 'p50 µs', 'p99 µs', 'CPU s/GB', 'iscsid', 'sim', 'fio', 'direct IOPS', 'HBA×', 'CPU×', 'vs libiscsi'];
  const rows = [];
  const notes = [];
  for (const c of comparisons) {
    const hba = runs.find((r) => r.order === c.hbaRun);
    const direct = runs.find((r) => r.order === c.directRun);
    const row = [c.shape, c.lun];
    if (hba?.ok) {
      let iops = fmtNum(hba.iops);
      if (hba.warnings.length > 0) {
        notes.push(`hba ${c.shape} on ${c.lun}: ${hba.warnings.join('; ')}`);
        iops = `[${notes.length}] ${iops}`;
      }
      const perGb = (s) => fmtNum(cpuPerGb(s ?? undefined, hba.bytes), 2);
      row.push(iops, fmtNum(hba.mibps, 1), fmtNum(hba.latencyUs?.p50), fmtNum(hba.latencyUs?.p99), fmtNum(hba.cpuPerGb, 2), perGb(hba.cpu?.iscsidS), perGb(hba.cpu?.simS), fmtNum(hba.fioCpuPerGb, 2));
    } else {
      notes.push(`hba ${c.shape} on ${c.lun}: ${hba?.error ?? 'no run'}`);
      row.push(`error [${notes.length}]`, '', '', '', '', '', '', '');
    }
    row.push(direct?.ok ? fmtNum(direct.iops) : direct === undefined ? '—' : 'error');
    const goal = (metric) => c.goals.find((g) => g.metric === metric)?.pass;
    // As in the main table, the HBA× column carries the MiB/s goal too (same number at a fixed block size).
    row.push(fmtRatio(c.ratios.iops, goal('iops') ?? goal('mibps')), fmtRatio(c.ratios.cpuPerGbNet, undefined), fmtRatio(c.ratios.vsLibiscsi, undefined));
    rows.push(row);
  }
  console.log(`\nThe HBA path: fio --ioengine=nbd through iscsi-hba-sim and iscsid --hba simulator, against lun bench direct`);
  console.log(renderTable(headers, rows));
  if (repeat > 1) console.log(`\nEach side of a row is its median run by IOPS of ${repeat} (all runs are in the JSON).`);
  console.log(
    '\nHBA p50/p99 µs = fio completion latency. CPU s/GB = iscsid + iscsi-hba-sim user+sys seconds (/proc/<pid>/stat over the run)\n' +
      'per 10^9 bytes (iscsid and sim: each alone); fio = fio\'s own (the load generator: inside lun bench\'s figure on the direct side).\n' +
      'HBA× = HBA IOPS / direct IOPS; CPU× = HBA CPU s/GB / direct\'s without start-up (cpuPerGbNet); vs libiscsi = HBA IOPS / iscsi-perf IOPS.\n' +
      `Goals: ✓/✗ — ${HBA_GOALS.map((g) => g.text).join(', ')} (in HBA×).`,
  );
  if (notes.length > 0) console.log(`\n${notes.map((n, i) => `[${i + 1}] ${n}`).join('\n')}`);
}

function printTable(runs, comparisons, repeat) {
  const headers = ['shape', 'LUN', 'ours IOPS', 'MiB/s', 'p50 µs', 'p99 µs', 'CPU s/GB', 'libiscsi IOPS', 'MiB/s', 'mean µs', 'CPU s/GB', 'IOPS×', 'lat×', 'CPU×'];
  const rows = [];
  const notes = [];
  // One footnote per distinct message, so a missing tool does not print the same line for every shape.
  const note = (r) => {
    const text = r.error.startsWith('lun bench is not built') || r.error.startsWith('iscsi-perf not found') ? r.error : `${r.tool} ${r.shape} on ${r.lun}: ${r.error}`;
    const at = notes.indexOf(text);
    if (at >= 0) return `error [${at + 1}]`;
    notes.push(text);
    return `error [${notes.length}]`;
  };
  for (const c of comparisons) {
    const ours = runs.find((r) => r.order === c.oursRun);
    const theirs = runs.find((r) => r.order === c.libiscsiRun);
    const row = [c.shape, c.lun];
    if (ours?.ok) {
      let iops = fmtNum(ours.iops);
      if (ours.warnings.length > 0) {
        notes.push(`ours ${c.shape} on ${c.lun}: ${ours.warnings.join('; ')}`);
        iops = `[${notes.length}] ${iops}`;
      }
      row.push(iops, fmtNum(ours.mibps, 1), fmtNum(ours.latencyUs?.p50), fmtNum(ours.latencyUs?.p99), fmtNum(ours.cpuPerGb, 2));
    } else {
      row.push(ours === undefined ? '—' : note(ours), '', '', '', '');
    }
    if (theirs === undefined) row.push('—', '', '', '');
    else if (theirs.ok) {
      let iops = fmtNum(theirs.iops);
      if (theirs.warnings.length > 0) {
        notes.push(`libiscsi ${c.shape} on ${c.lun}: ${theirs.warnings.join('; ')}`);
        iops = `[${notes.length}] ${iops}`;
      }
      row.push(iops, fmtNum(theirs.mibps, 1), fmtNum(theirs.littleLatencyUs), fmtNum(theirs.cpuPerGb, 2));
    } else row.push(note(theirs), '', '', '');
    const goal = (metric) => c.goals.find((g) => g.metric === metric)?.pass;
    // The IOPS column carries the MiB/s goal too: at a fixed block size the two ratios are the same number.
    const iopsPass = goal('iops') ?? goal('mibps');
    row.push(fmtRatio(c.ratios.iops, iopsPass), fmtRatio(c.ratios.latency, goal('latency')), fmtRatio(c.ratios.cpuPerGb, goal('cpuPerGb')));
    rows.push(row);
  }
  console.log(renderTable(headers, rows));
  if (repeat > 1) console.log(`\nEach side of a row is its median run by IOPS of ${repeat} (all runs are in the JSON).`);
  console.log(
    '\nlibiscsi mean µs = 1e6·QD/IOPS (iscsi-perf reports no percentiles); lat× compares that same Little\'s-law mean for both.\n' +
      'CPU s/GB = the initiator process\'s user+sys seconds (bash `times`) per 10^9 bytes, start-up and login included.\n' +
      'Goals: ✓/✗ — IOPS ≥1.0× at 4K QD32, MiB/s ≥1.0× at 1M QD8 (in IOPS×), 4K QD1 latency ≤1.1×, CPU s/GB ≤1.5×.',
  );
  if (notes.length > 0) console.log(`\n${notes.map((n, i) => `[${i + 1}] ${n}`).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    return 7;
  }
  const harnessEntry = path.join(ROOT, 'test', 'dist', 'index.js');
  if (!existsSync(harnessEntry) || !existsSync(path.join(ROOT, 'cli', 'dist')) || !existsSync(path.join(ROOT, 'core', 'dist'))) {
    console.error('bench: the workspaces are not built (test/dist, core/dist or cli/dist is missing): run `npm run build` first');
    return 1;
  }
  const { startTgtd, tgtdInstalled } = await import('@iscsi-initiator/test');
  if (!tgtdInstalled()) {
    console.error("bench: tgtd not found: install Debian's tgt (apt-get install tgt), as root");
    return 1;
  }
  const nodeBin = repoNode();
  const iscsiPerf = which('iscsi-perf');
  const oursAvailable = existsSync(CLI_BENCH);
  const { sides } = options;
  const direct = sides.includes('ours') || sides.includes('libiscsi');
  if (!oursAvailable && sides.includes('ours')) console.error('bench: warning: cli/dist/commands/lun/bench.js is missing; our runs will be reported as errors');
  if (iscsiPerf === undefined && sides.includes('libiscsi')) console.error('bench: warning: iscsi-perf not found (apt-get install libiscsi-bin); libiscsi runs will be errors');
  clockTicks = Number(await exec('getconf', ['CLK_TCK'])) || 100;

  const startedAt = new Date();
  const machine = await machineInfo(nodeBin);
  const lunSpecs = [
    { name: 'file', spec: { sizeBytes: FILE_LUN_BYTES, dir: '/dev/shm', blockSize: BLOCK_SIZE } },
    { name: 'null', spec: { backing: 'null', blockSize: BLOCK_SIZE } },
  ].filter((l) => options.lunNames.includes(l.name));

  const onSignal = (sig) => {
    interrupted = true;
    console.error(`\nbench: ${sig}: stopping after killing the current run`);
    current?.kill();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const runs = [];
  let luns = [];
  let baselines = {};
  let tgt;
  let hba;
  let fatal;
  try {
    tgt = await startTgtd({ targets: [{ iqn: IQN, luns: lunSpecs.map((l) => l.spec), params: TARGET_PARAMS }], startTimeoutMs: 20_000 });
    const configured = tgt.targets[0];
    luns = lunSpecs.map((l, i) => ({
      name: l.name,
      lun: configured.luns[i],
      backing: l.spec.backing ?? 'file',
      sizeBytes: l.spec.backing === 'null' ? 2 ** 40 : l.spec.sizeBytes,
      blockSize: BLOCK_SIZE,
      path: configured.backingFiles[i] || null,
    }));
    const fileLun = luns.find((l) => l.name === 'file');
    if (fileLun !== undefined) await prefill(fileLun.path, fileLun.sizeBytes);
    console.error(
      `bench: tgtd ${tgt.portal} (pid ${tgt.pid}), ${options.seconds} s per run, ${options.shapes.length} shapes × ${luns.length} LUNs` +
        (options.repeat > 1 ? ` × ${options.repeat} repeats (medians compared)` : ''),
    );

    const ctx = { tgt, seconds: options.seconds, nodeBin, iscsiPerf, oursAvailable, hba: undefined };
    if (luns[0] !== undefined && direct) baselines = await startupCost(ctx, luns[0], sides);
    if (sides.includes('hba')) {
      hba = await startHba(ctx, luns);
      ctx.hba = hba;
      if (hba.error !== undefined) console.error(`bench: HBA path unavailable: ${hba.error}`);
      else console.error(`bench: iscsid --hba simulator (pid ${hba.daemonPid}, simulator pid ${hba.simPid}): ${[...hba.uris].map(([n, u]) => `${n} ${u}`).join(', ')}`);
    }

    let pair = 0;
    let order = 0;
    const record = (r) => {
      r.order = order++;
      runs.push(r);
      const what = r.ok
        ? `${fmtNum(r.iops)} IOPS, ${fmtNum(r.mibps, 1)} MiB/s, CPU ${fmtNum(r.cpuPerGb, 2)} s/GB${r.warnings.length > 0 ? ` (${r.warnings.join('; ')})` : ''}`
        : `ERROR ${r.error}`;
      console.error(`bench: ${r.tool.padEnd(8)} ${r.shape.padEnd(17)} ${r.lun.padEnd(4)}${options.repeat > 1 ? ` #${r.rep}` : ''} ${what}`);
    };
    outer: for (const lun of luns) {
      for (const shape of options.shapes) {
        for (let rep = 1; rep <= options.repeat; rep++) {
          if (interrupted) break outer;
          // Rotate who goes first, so no side always meets a freshly started (or freshly used) target.
          const here = sides.filter((s) => s !== 'libiscsi' || shape.peer);
          const shift = here.length > 1 ? pair++ % here.length : 0;
          for (const side of [...here.slice(shift), ...here.slice(0, shift)]) {
            if (interrupted) break outer;
            record({ ...(await measure(ctx, side, shape, lun)), rep });
          }
        }
      }
    }
  } catch (err) {
    fatal = err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopHba(hba);
    await tgt?.stop().catch((err) => console.error(`bench: stopping tgtd failed: ${err.message}`));
  }
  if (fatal !== undefined && runs.length === 0) {
    console.error(`bench: ${fatal.message ?? fatal}`);
    return 1;
  }

  // Start-up-corrected CPU/GB: the same figure without the fixed login/start cost measured above.
  for (const r of runs) {
    const startup = baselines[r.tool]?.cpuS;
    if (r.ok && r.cpu !== undefined && startup !== undefined) r.cpuPerGbNet = cpuPerGb(Math.max(0, r.cpu.total - startup), r.bytes);
  }
  const comparisons = direct ? buildComparisons(runs, options.shapes, luns) : [];
  const hbaComparisons = sides.includes('hba') ? buildHbaComparisons(runs, options.shapes, luns) : [];
  if (direct) printTable(runs, comparisons, options.repeat);
  if (hbaComparisons.length > 0) printHbaTable(runs, hbaComparisons, options.repeat);
  const startup = (s) => (s?.cpuS === undefined ? 'n/a' : `${s.cpuS.toFixed(2)} s${s.error ? ` (${s.error})` : ''}`);
  if (direct) console.log(`\nstart-up CPU (login + READ CAPACITY + logout): ours ${startup(baselines.ours)}, libiscsi ${startup(baselines.libiscsi)}`);
  console.log(`machine: ${machine.nproc} CPUs ${machine.cpuModel}, node ${machine.node}, libiscsi ${machine.libiscsi}, tgt ${machine.tgt}`);
  // A busy machine before the bench began (the bench itself keeps about two CPUs busy) makes the ratios unreliable.
  const load = machine.loadAvgAtStart[0] ?? 0;
  if (load > machine.nproc / 2) console.log(`note: load average was ${load.toFixed(2)} before the first run: other work may have skewed these numbers`);

  const goals = comparisons.flatMap((c) => c.goals.map((g) => ({ shape: c.shape, lun: c.lun, ...g })));
  const hbaGoals = hbaComparisons.flatMap((c) => c.goals.map((g) => ({ shape: c.shape, lun: c.lun, ...g })));
  const report = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    loadAvgAtEnd: os.loadavg(),
    interrupted,
    fatal: fatal === undefined ? null : String(fatal.message ?? fatal),
    options: { seconds: options.seconds, repeat: options.repeat, quick: options.quick, shapes: options.shapesFilter, luns: options.lunNames, sides },
    machine,
    target: { iqn: IQN, params: TARGET_PARAMS, luns },
    notes: {
      latency: 'libiscsi latency is 1e6·QD/IOPS (Little\'s law); ratios.latency compares that for both sides; ours also has measured latencyUs',
      cpu: 'cpuPerGb = child user+sys seconds (bash times) / (bytes/1e9), start-up included; cpuPerGbNet subtracts baselines',
      libiscsiBytes: 'iscsi-perf prints only its average IOPS; bytes = iops · bs · seconds',
      hba: 'tool hba = fio --ioengine=nbd on the LUN\'s export through iscsi-hba-sim and iscsid --hba simulator; cpu = iscsid + simulator /proc ticks over the run (no start-up); fioCpuS = fio\'s own',
    },
    hbaSetup: hba === undefined ? null : { error: hba.error, daemonPid: hba.daemonPid, simPid: hba.simPid, uris: Object.fromEntries(hba.uris), session: hba.session },
    baselines,
    runs,
    comparisons,
    goals: { passed: goals.filter((g) => g.pass === true).length, failed: goals.filter((g) => g.pass === false).length, unknown: goals.filter((g) => g.pass === undefined).length, list: goals },
    hba: { comparisons: hbaComparisons, goals: hbaGoals },
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, (_k, v) => (v === undefined ? null : v), 2)}\n`;
  await writeFile(path.join(RESULTS_DIR, `${stamp}.json`), json);
  await writeFile(path.join(RESULTS_DIR, 'latest.json'), json);
  console.log(`\nresults: ${path.relative(process.cwd(), path.join(RESULTS_DIR, `${stamp}.json`))} (and latest.json)`);
  if (fatal !== undefined) {
    console.error(`bench: stopped early: ${fatal.message ?? fatal}`);
    return 1;
  }
  return interrupted ? 130 : 0;
}

process.exitCode = await main();
