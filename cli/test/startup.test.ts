// Issue 9, start-up CPU: "iscsiadm short commands must not load the daemon or heavy modules at import". Each command
// is spawned as a user runs it, with a module hook that records every module it loads; a command loads its own
// module and what that needs, nothing else (no other command, no daemon, no ink/React outside `session watch`).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin } from './run-cli.js';

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
let hook: string;

beforeAll(() => {
  // The manifest `npm run build` writes; made here too so a test run after `tsc -b` alone sees a fresh one.
  execFileSync(process.execPath, [path.join(cliRoot, 'scripts/oclif-manifest.mjs')], { stdio: 'ignore' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsiadm-startup-'));
  hook = path.join(dir, 'record-modules.mjs');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
process.on('exit', () => writeFileSync(process.env.MODULES_OUT, [...seen].join('\\n')));
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modulesLoadedBy(args: readonly string[]): string[] {
  const out = path.join(dir, `${args.join('_').replace(/[^a-z0-9_-]/gi, '')}.txt`);
  const r = spawnSync(process.execPath, ['--import', hook, bin, ...args], { env: { ...process.env, MODULES_OUT: out, ISCSI_INITIATOR_NAME: 'iqn.2026-11.test.cli:startup' }, encoding: 'utf8', timeout: 20_000 });
  expect(r.signal).toBeNull();
  return readFileSync(out, 'utf8').split('\n');
}

const commandModules = (loaded: readonly string[]) => loaded.filter((u) => u.includes('/cli/dist/commands/')).map((u) => u.replace(/.*\/cli\/dist\/commands\//, ''));
const heavy = (loaded: readonly string[]) => loaded.filter((u) => /\/(ink|react|pino|conf|ajv|@napi-rs\/keyring|@node-rs\/crc32)\/|\/core\/dist\/daemon\/|\/native\//.test(u));

describe('start-up loads only what the command needs', () => {
  it('--version loads no command and nothing of ours but the entry point', () => {
    const loaded = modulesLoadedBy(['--version']);
    expect(commandModules(loaded)).toEqual([]);
    expect(loaded.filter((u) => u.includes('/core/dist/'))).toEqual([]);
  });

  it('a daemon command (session) loads its command and the RPC client, not the engine, the daemon or ink', () => {
    const loaded = modulesLoadedBy(['session', '--socket', path.join(dir, 'none.sock')]);
    expect(commandModules(loaded)).toEqual(['session.js']);
    expect(loaded.filter((u) => u.includes('/core/dist/') && !/\/core\/dist\/(rpc\/[a-z-]+|errors|defaults|platform-paths)\.js$/.test(u))).toEqual([]);
    expect(heavy(loaded)).toEqual([]);
  });

  it('a direct command (lun capacity) loads the engine but no other command, no daemon and no ink', () => {
    const loaded = modulesLoadedBy(['lun', 'capacity', 'iscsi://127.0.0.1:1/iqn.2026-11.test.cli:none/1', '--login-timeout', '1']);
    expect(commandModules(loaded)).toEqual(['lun/capacity.js']);
    expect(loaded.some((u) => u.includes('/core/dist/net/'))).toBe(true);
    expect(heavy(loaded)).toEqual([]);
  });
});
