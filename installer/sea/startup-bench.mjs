// Start-up cost of iscsiadm (issue 14: "Measure the CPU of `iscsiadm --version` and of a `session` listing against
// the `npx` route"). Run after `npm run package`:   node installer/sea/startup-bench.mjs [--runs N] [--json]
//
// Three routes to the same commands: the single executable (installer/build/<platform>-<arch>/iscsiadm), the
// checkout's `node cli/bin/run.js`, and `npx iscsiadm` (what the README tells a developer to type). `session` lists
// the sessions of a real iscsid (the packaged one, in a temporary folder, with none). CPU is user + system time of the
// command and everything it starts, as the shell's `times` reports it for its children; the median of N runs is shown.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, json: { type: 'boolean', default: false } } });
const runs = Number(values.runs);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = path.join(repo, 'installer', 'build', `${process.platform}-${process.arch}`);
if (!existsSync(path.join(built, 'iscsiadm'))) {
  process.stderr.write(`startup-bench: no ${path.relative(repo, built)}/iscsiadm: run npm run package first\n`);
  process.exit(1);
}

const seconds = (s) => {
  const m = /^(\d+)m([\d.]+)s$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
};

/** One run: CPU seconds (user + system) of the command and its children, and wall-clock seconds. */
function measure(command) {
  const start = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', '"$@" >/dev/null 2>&1; code=$?; times; exit $code', 'bash', ...command], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  // `times`: the shell's own user/sys, then its children's.
  const children = r.stdout.trim().split('\n')[1]?.split(/\s+/) ?? [];
  return { cpu: seconds(children[0]) + seconds(children[1]), wall, code: r.status };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-startup-'));
const socket = path.join(dir, 'iscsid.sock');
const daemon = spawn(path.join(built, 'iscsid'), ['--socket', socket, '--state-dir', path.join(dir, 'state'), '--secrets-dir', path.join(dir, 'secrets')], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`iscsid did not start: ${out}`)), 15_000);
    daemon.stdout.on('data', (d) => {
      out += d;
      if (out.includes('iscsid listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    daemon.once('exit', (code) => reject(new Error(`iscsid exited ${code}: ${out}`)));
  });

  const routes = {
    'single executable': [path.join(built, 'iscsiadm')],
    'node cli/bin/run.js': [process.execPath, path.join(repo, 'cli', 'bin', 'run.js')],
    'npx iscsiadm': ['npx', '--no-install', 'iscsiadm'],
  };
  const commands = { '--version': ['--version'], 'session (list)': ['session', '--socket', socket] };
  const results = [];
  for (const [command, args] of Object.entries(commands)) {
    for (const [route, prefix] of Object.entries(routes)) {
      measure([...prefix, ...args]); // warm the page cache
      const samples = Array.from({ length: runs }, () => measure([...prefix, ...args]));
      const codes = new Set(samples.map((s) => s.code));
      results.push({ command, route, cpuMs: Math.round(median(samples.map((s) => s.cpu)) * 1000), wallMs: Math.round(median(samples.map((s) => s.wall)) * 1000), exitCodes: [...codes] });
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, cpus: os.cpus().length, runs, results }, null, 2)}\n`);
  else {
    process.stdout.write(`iscsiadm start-up, median of ${runs} runs (${process.platform}-${process.arch}, Node ${process.version}, ${os.cpus().length} CPUs)\n`);
    process.stdout.write(`${'command'.padEnd(16)}${'route'.padEnd(22)}${'CPU ms'.padStart(8)}${'wall ms'.padStart(9)}  exit\n`);
    for (const r of results) process.stdout.write(`${r.command.padEnd(16)}${r.route.padEnd(22)}${String(r.cpuMs).padStart(8)}${String(r.wallMs).padStart(9)}  ${r.exitCodes.join(',')}\n`);
  }
} finally {
  daemon.kill('SIGTERM');
  await new Promise((resolve) => (daemon.exitCode !== null ? resolve() : daemon.once('exit', resolve)));
  rmSync(dir, { recursive: true, force: true });
}
