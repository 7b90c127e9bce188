// Issue 14, item 1 and its test: "`npm run package` builds the Linux binaries. Copy them with the addon into an empty
// folder with no Node on PATH and run them end to end against tgtd: the daemon starts; `iscsiadm` discovers, stores a
// CHAP secret from stdin, logs in, shows `session -P 3` and logs out."
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = path.join(repo, 'installer', 'build', `${process.platform}-${process.arch}`);
const TARGET = 'iqn.2026-12.test.package:chap';
const CHAP_USER = 'package-user';
const SECRET = 'package-chap-secret-never-shown';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let bin: string;
let env: NodeJS.ProcessEnv;
let tgt: TgtdInstance;
let iscsid: IscsidInstance;

/** The package script, as `npm run package` runs it after the build (`npm test` has built already). */
function packageBinaries(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(repo, 'installer', 'sea', 'package.mjs')], { cwd: repo, timeout: 170_000, maxBuffer: 16 << 20 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`npm run package failed: ${error.message}\n${stderr}`)) : resolve(),
    );
  });
}

/**
 * `iscsiadm session watch` on a terminal (util-linux `script` gives it a pty): its ink view renders the session's row,
 * then `q` quits it. Killed if it outlives 25 s.
 */
function watchOnATerminal(): Promise<Run & { sawTarget: boolean }> {
  return new Promise((resolve, reject) => {
    const command = `${path.join(bin, 'iscsiadm')} session watch --socket ${iscsid.socket}`;
    const child = spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], { env: { ...env, TERM: 'xterm', COLUMNS: '120', LINES: '30' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sawTarget = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      // The table shortens the IQN from the left; the row's state says the session is up.
      if (!sawTarget && stdout.includes(TARGET.slice(-12)) && stdout.includes('logged-in')) {
        sawTarget = true;
        child.stdin.write('q');
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, sawTarget });
    });
  });
}

/** The copied iscsiadm, spawned with the bare environment (no node on PATH); killed if it outlives 25 s. */
function iscsiadm(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(bin, 'iscsiadm'), [...args, '--socket', iscsid.socket], { env, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (stdin !== undefined) child.stdin!.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  await packageBinaries();
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-package-'));
  // The empty folder: the two binaries and the addons they load, nothing else (no node_modules, no node).
  bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const file of readdirSync(built).filter((f) => !f.startsWith('.'))) copyFileSync(path.join(built, file), path.join(bin, file));
  env = { PATH: bin, HOME: dir, LANG: 'C.UTF-8' };
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: 8 << 20 }], params: { HeaderDigest: 'CRC32C' }, chap: { incoming: [{ user: CHAP_USER, secret: SECRET }] } }] });
  mkdirSync(path.join(dir, 'daemon'));
  iscsid = await startIscsid({ dir: path.join(dir, 'daemon'), executable: path.join(bin, 'iscsid'), env });
}, 240_000);

afterAll(async () => {
  await iscsid?.stop();
  await tgt?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm run package: self-contained iscsid and iscsiadm (issue 14)', () => {
  it('the folder holds only the binaries and their addons, and no node is on PATH', () => {
    expect(readdirSync(bin).sort()).toEqual(['crc32.node', 'iscsi-native.node', 'iscsiadm', 'iscsid']);
    for (const p of env.PATH!.split(path.delimiter)) expect(existsSync(path.join(p, 'node')), p).toBe(false);
    // The daemon that answers is the copied binary itself, not a node it found somewhere.
    expect(readlinkSync(`/proc/${iscsid.child.pid}/exe`)).toBe(path.join(bin, 'iscsid'));
  });

  it('iscsiadm --version names the Node it carries', async () => {
    const run = await iscsiadm(['--version']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^@iscsi-initiator/cli/\\d+\\.\\d+\\.\\d+ ${process.platform}-${process.arch} node-${process.version}\\n$`));
  });

  it('discovers, stores a CHAP secret from stdin, logs in with CRC32C digests, shows session -P 3 and watch, and logs out', async () => {
    // RFC 7143 §4.3 SendTargets=All through the daemon.
    const discovery = await iscsiadm(['-m', 'discovery', '-t', 'st', '-p', tgt.portal]);
    expect(discovery.code, discovery.stderr).toBe(0);
    expect(discovery.stdout).toContain(`${tgt.portal},1 ${TARGET}`);

    for (const [key, value] of [
      ['node.session.auth.authmethod', 'CHAP'],
      ['node.session.auth.username', CHAP_USER],
      // Digests load the CRC32C addon from beside the binary (RFC 7143 §13.1).
      ['node.conn[0].iscsi.HeaderDigest', 'CRC32C'],
    ] as const) {
      const update = await iscsiadm(['node', '-T', TARGET, '-o', 'update', '-n', key, '-v', value]);
      expect(update.code, update.stderr).toBe(0);
    }
    // RFC 7143 §12.1.3 CHAP: the secret from stdin, never in argv.
    const store = await iscsiadm(['node', '-T', TARGET, '-o', 'update', '-n', 'node.session.auth.password', '--password-stdin'], `${SECRET}\n`);
    expect(store.code, store.stderr).toBe(0);

    const login = await iscsiadm(['-m', 'node', '-T', TARGET, '-p', tgt.portal, '--login']);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe(`Login to [target: ${TARGET}, portal: ${tgt.portal}] successful.\n`);
    expect(await tgt.connections(TARGET)).toBe(1);

    const details = await iscsiadm(['session', '-P', '3']);
    expect(details.code, details.stderr).toBe(0);
    expect(details.stdout).toContain(`Target: ${TARGET}`);
    expect(details.stdout).toMatch(/HeaderDigest: CRC32C/);
    expect(details.stdout).toMatch(/Lun: 1\b/);

    // The ink/React view, from the same bundle (loaded only by this command).
    const watch = await watchOnATerminal();
    expect(watch.sawTarget, watch.stdout + watch.stderr).toBe(true);
    expect(watch.code, watch.stderr).toBe(0);

    const logout = await iscsiadm(['-m', 'node', '-T', TARGET, '--logout']);
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout).toMatch(/^Logout of \[sid: \d+, target: iqn\.2026-12\.test\.package:chap, portal: .*\] successful\.\n$/);
    expect(await tgt.connections(TARGET)).toBe(0);

    for (const out of [discovery, store, login, details, logout]) expect(out.stdout + out.stderr).not.toContain(SECRET);
    expect(iscsid.output()).not.toContain(SECRET);
  });
});
