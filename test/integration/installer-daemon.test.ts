// The LaunchDaemon's command line, run by the real iscsid as launchd would run it (issue 14, item 2: "runs at load,
// restarts if it crashes, logs to a file, and uses the socket path and group of docs/security.md"), in a folder laid
// out by install.sh. Only the paths move into a temporary root; launchd itself and the SEA binary wait for a Mac.
// What this checks that the text checks cannot: iscsid accepts the plist's arguments and the state folder the
// installer makes (it holds iscsid.app), every file it makes is in docs/install.md's lists, a stop exits 0 (so
// KeepAlive's SuccessfulExit=false does not restart it), and uninstall.sh then leaves nothing behind.
import { spawn } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDaemonPaths } from '@iscsi-initiator/core';
import { parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../src/require-tool.js';

const repo = path.resolve(import.meta.dirname, '../..');
const daemonScript = path.join(repo, 'core/bin/iscsid.js');
const darwin = defaultDaemonPaths('darwin');

function docList(name: string): string[] {
  const doc = readFileSync(path.join(repo, 'docs/install.md'), 'utf8');
  const match = new RegExp(`<!-- file-list: ${name} -->\\s*\`\`\`text\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (match === null) throw new Error(`docs/install.md has no file list "${name}"`);
  return match[1]!.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Resolves when `file` contains `text` (fs.watch on the file, no polling), or rejects after `ms`. */
function fileContains(file: string, text: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(file);
    const check = (): boolean => readFileSync(file, 'utf8').includes(text);
    const done = (error?: Error): void => (clearTimeout(timer), watcher.close(), error ? reject(error) : resolve());
    const timer = setTimeout(() => done(new Error(`${file} did not say ${text} within ${ms} ms`)), ms);
    watcher.on('change', () => check() && done());
    if (check()) done();
  });
}

/** Every file, link and empty folder under `dir` (relative, with a leading /). */
function allEntries(root: string, rel = ''): string[] {
  const entries = readdirSync(path.join(root, rel));
  if (entries.length === 0) return rel === '' ? [] : [`${rel}/`];
  return entries.flatMap((name) => {
    const child = `${rel}/${name}`;
    return lstatSync(path.join(root, child)).isDirectory() ? allEntries(root, child) : [child];
  });
}

describe.skipIf(!requireRoot('the socket group (lchown to gid 80)'))('the LaunchDaemon\'s command line, run by the real iscsid in an installed layout', () => {
  let base: string;
  let root: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'installer-daemon-'));
    root = path.join(base, 'root');
    for (const folder of ['Applications', 'Library/Application Support', 'Library/LaunchDaemons', 'Library/Logs', 'usr/local/bin', 'var/run']) mkdirSync(path.join(root, folder), { recursive: true });
    const bin = path.join(base, 'bin');
    mkdirSync(bin);
    for (const name of ['iscsid', 'iscsiadm']) writeFileSync(path.join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
    for (const addon of ['iscsi-native.node', 'crc32.node', 'keyring.node']) writeFileSync(path.join(bin, addon), '');
    const install = spawn('bash', [path.join(repo, 'installer/scripts/install.sh'), '--bin', bin, '--without-app', '--root', root], { stdio: 'ignore' });
    return new Promise<void>((resolve, reject) => install.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`install.sh exited ${code}`)))));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('starts with the plist\'s arguments, logs to its file, serves the socket 0660 group 80, stops with exit 0, leaves nothing after uninstall', { timeout: 30_000 }, async () => {
    const service = parse(readFileSync(path.join(root, 'Library/LaunchDaemons/io.github.iscsi-initiator.iscsid.plist'), 'utf8')) as Record<string, unknown>;
    const [program, ...args] = service['ProgramArguments'] as string[];
    expect(program).toBe(`${darwin.stateDir}/iscsid.app/Contents/MacOS/iscsid`);
    // Each absolute path moves under the root; the state and secrets folders are iscsid's darwin defaults, given
    // explicitly because this is Linux (whose defaults differ).
    const moved = args.map((a) => (a.startsWith('/') ? path.join(root, a) : a));
    const argv = [daemonScript, ...moved, '--state-dir', path.join(root, darwin.stateDir), '--secrets-dir', path.join(root, darwin.secretsDir)];
    // launchd opens StandardOutPath and StandardErrorPath for appending and hands them to the process.
    const out = openSync(path.join(root, service['StandardOutPath'] as string), 'a');
    const err = openSync(path.join(root, service['StandardErrorPath'] as string), 'a');
    const child = spawn(process.execPath, argv, { stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const socket = path.join(root, args[args.indexOf('--socket') + 1]!);
    try {
      // Logged once the socket is bound and its group set (docs/security.md, "Socket").
      const listening = fileContains(path.join(root, darwin.logFile), '"msg":"iscsid listening"', 15_000);
      await Promise.race([listening, exited.then((code) => Promise.reject(new Error(`iscsid exited ${code}: ${readFileSync(path.join(root, darwin.logFile), 'utf8')}`)))]);
      const st = statSync(socket);
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(80);
    } finally {
      child.kill('SIGTERM');
    }
    // SIGTERM: every session logged out, exit 0 — a successful exit, which KeepAlive { SuccessfulExit: false } leaves.
    expect(await exited).toBe(0);
    const log = readFileSync(path.join(root, darwin.logFile), 'utf8');
    expect(log).toMatch(/"msg":"iscsid listening"/);
    expect(log).toMatch(/"msg":"iscsid stopped"/);

    // Every file iscsid made is in docs/install.md's lists.
    const listed = [...docList('payload'), ...docList('install-folders'), ...docList('daemon')];
    const covered = (entry: string): boolean => listed.some((l) => l === entry || (l.endsWith('/') && entry.startsWith(l)));
    const made = allEntries(root).filter((e) => !['/Applications/', '/usr/local/bin/', '/var/run/'].includes(e));
    expect(made.filter((e) => !covered(e))).toEqual([]);
    expect(made).toContain(darwin.logFile);
    expect(made).toContain(`${darwin.stateDir}/iscsid.lock`);

    const uninstall = spawn('bash', [path.join(root, darwin.stateDir, 'uninstall.sh'), '--root', root], { stdio: 'ignore' });
    expect(await new Promise((resolve) => uninstall.once('exit', resolve))).toBe(0);
    expect(allEntries(root).filter((e) => !e.endsWith('/'))).toEqual([]);
  });
});
