// The installer (issue 14), checked on Linux where no Mac tool exists: "Every plist parses and has the keys launchd
// needs. The install, upgrade and uninstall scripts pass shellcheck. Run against a temporary root folder, they place
// and remove exactly the files listed in the docs: the test compares the lists. The pkg payload layout is assembled on
// Linux into a staging folder and checked. pkgbuild itself runs only on a Mac."
// The binaries are stand-ins here (the layout is what is tested); test/integration/package.test.ts runs the real ones.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defaultDaemonPaths, DEFAULT_SOCKET_PATH } from '@iscsi-initiator/core';
import { parse, type PlistValue } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../src/require-tool.js';

const repo = path.resolve(import.meta.dirname, '../..');
const scripts = path.join(repo, 'installer/scripts');
const macos = path.join(repo, 'installer/macos');
const read = (file: string): string => readFileSync(path.join(repo, file), 'utf8');
const darwin = defaultDaemonPaths('darwin');

type Dict = Record<string, PlistValue>;
function plist(file: string): Dict {
  const value = parse(read(file));
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date || value instanceof Uint8Array) throw new Error(`${file}: not a dict`);
  return value;
}

/** A list of docs/install.md: the fenced block after `<!-- file-list: NAME -->`. */
function docList(name: string): string[] {
  const doc = read('docs/install.md');
  const match = new RegExp(`<!-- file-list: ${name.replace(/\./g, '\\.')} -->\\s*\`\`\`text\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (match === null) throw new Error(`docs/install.md has no file list "${name}"`);
  return match[1]!.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** A shell variable's value as a script assigns it (VAR=value or VAR='value'; $OTHER expanded from the same file). */
function shellVar(file: string, name: string): string {
  const text = read(file);
  const match = new RegExp(`^${name}=(.*)$`, 'm').exec(text);
  if (match === null) throw new Error(`${file} does not set ${name}`);
  return match[1]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1').replace(/\$(\w+)/g, (_, v: string) => shellVar(file, v));
}

const payload = docList('payload');
const installFolders = docList('install-folders');
const daemonFiles = docList('daemon');
const keepConfig = docList('keep-config');
const bundleFiles = docList('iscsid.app');
const daemonApp = payload.find((p) => p.endsWith('/iscsid.app/'))!;
const hostApp = payload.find((p) => p.startsWith('/Applications/'))!;
const launchdPlist = payload.find((p) => p.startsWith('/Library/LaunchDaemons/'))!;
const cliLink = payload.find((p) => p.endsWith('/bin/iscsiadm'))!;
const uninstaller = payload.find((p) => p.endsWith('/uninstall.sh'))!;
const stateDir = darwin.stateDir;

/** The folders a Mac has before anything is installed: never placed, never removed. */
const SYSTEM_FOLDERS = ['/Applications', '/Library', '/Library/Application Support', '/Library/LaunchDaemons', '/Library/Logs', '/usr', '/usr/local', '/usr/local/bin', '/var', '/var/run'];

/**
 * What is under `root`, as the lists write it: files and links, empty folders and the folders a list names whole
 * ("/…/x.app/"), with the system folders left out. So "nothing left behind" is an empty inventory.
 */
function inventory(root: string, wholeFolders: string[]): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const entries = readdirSync(abs);
    if (entries.length === 0 && !SYSTEM_FOLDERS.includes(rel) && rel !== '') found.push(`${rel}/`);
    for (const name of entries) {
      const child = `${rel}/${name}`;
      const st = lstatSync(path.join(root, child));
      if (st.isDirectory() && wholeFolders.includes(`${child}/`)) found.push(`${child}/`);
      else if (st.isDirectory()) walk(child);
      else found.push(child);
    }
  };
  walk('');
  return found.sort();
}
const wholeFolders = [...payload, ...installFolders, ...daemonFiles].filter((p) => p.endsWith('/'));

/** Drops the entries inside another entry that is a whole folder ("/Library/Logs/x/" holds "/Library/Logs/x/a.log"). */
function topMost(entries: string[]): string[] {
  return entries.filter((p) => !entries.some((q) => q !== p && q.endsWith('/') && p.startsWith(q)));
}
const noSlash = (p: string): string => p.replace(/\/$/, '');
const sorted = (list: string[]): string[] => [...list].sort();

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const result = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, DESTROOT: '', ...env } });
  expect(result.error).toBeUndefined();
  return result;
}
const lines = (out: string, prefix: string): string[] => out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));

/** Stand-ins for `npm run package`'s binaries and for the built host app (with the dext inside), in `dir`. */
function standIns(dir: string, tag: string): { bin: string; app: string } {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const name of ['iscsid', 'iscsiadm']) writeFileSync(path.join(bin, name), `#!/bin/sh\necho ${name} ${tag}\n`, { mode: 0o755 });
  for (const addon of ['iscsi-native.node', 'crc32.node', 'keyring.node']) writeFileSync(path.join(bin, addon), `${addon} ${tag}`);
  const app = path.join(dir, 'iSCSI Initiator.app');
  mkdirSync(path.join(app, 'Contents/MacOS'), { recursive: true });
  mkdirSync(path.join(app, 'Contents/Library/SystemExtensions/io.github.iscsi-initiator.driver.dext/Contents'), { recursive: true });
  writeFileSync(path.join(app, 'Contents/Info.plist'), read('installer/macos/HostApp/Info.plist'));
  writeFileSync(path.join(app, 'Contents/MacOS/iSCSI Initiator'), `app ${tag}`, { mode: 0o755 });
  return { bin, app };
}

/** A temporary root with the system folders a Mac has. */
function macRoot(base: string): string {
  const root = path.join(base, 'root');
  for (const folder of SYSTEM_FOLDERS) mkdirSync(path.join(root, folder), { recursive: true });
  return root;
}

describe('property lists (issue 14: "every plist parses and has the keys launchd needs")', () => {
  const service = plist('installer/macos/io.github.iscsi-initiator.iscsid.plist');
  const args = service['ProgramArguments'] as string[];
  const option = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at < 0 ? undefined : args[at + 1];
  };

  it('every plist in installer/ and driver/dext parses', () => {
    const files = ['driver/dext/Info.plist', 'driver/dext/iscsid.entitlements', 'driver/dext/IscsiHbaDriver.entitlements'];
    const walk = (dir: string): void => {
      for (const e of readdirSync(path.join(repo, dir), { withFileTypes: true })) {
        if (e.isDirectory()) walk(`${dir}/${e.name}`);
        else if (/\.(plist|entitlements)$/.test(e.name)) files.push(`${dir}/${e.name}`);
      }
    };
    walk('installer/macos');
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) expect(() => parse(read(file)), file).not.toThrow();
  });

  it('the LaunchDaemon: its label is its file name, the scripts\' LABEL, and the payload\'s plist name', () => {
    expect(service['Label']).toBe('io.github.iscsi-initiator.iscsid');
    expect(shellVar('installer/scripts/lib.sh', 'LABEL')).toBe(service['Label']);
    expect(shellVar('installer/scripts/uninstall.sh', 'LABEL')).toBe(service['Label']);
    expect(launchdPlist).toBe(`/Library/LaunchDaemons/${String(service['Label'])}.plist`);
  });

  it('runs the daemon from its nested bundle, with docs/security.md\'s socket and group, logging to platform-paths\' file', () => {
    expect(args[0]).toBe(`${daemonApp}Contents/MacOS/iscsid`);
    expect(bundleFiles).toContain('Contents/MacOS/iscsid');
    expect(option('--socket')).toBe(DEFAULT_SOCKET_PATH);
    expect(option('--group')).toBe('80'); // admin, on every macOS (docs/security.md: the socket's group is admin)
    expect(read('docs/security.md')).toMatch(/Its group is `admin` on macOS/);
    expect(option('--log-file')).toBe(darwin.logFile);
    // State and secrets are the daemon's own macOS defaults: written nowhere else.
    expect(option('--state-dir')).toBeUndefined();
    expect(option('--secrets-dir')).toBeUndefined();
    const known = read('core/src/daemon/usage.ts');
    for (const arg of args.slice(1).filter((a) => a.startsWith('--'))) expect(known, arg).toContain(`[${arg} `);
  });

  it('starts at load, restarts after a crash only, gives a stop time to log out, and logs to a file', () => {
    expect(service['RunAtLoad']).toBe(true);
    expect(service['KeepAlive']).toEqual({ SuccessfulExit: false });
    expect(service['ExitTimeOut']).toBe(Number(shellVar('installer/scripts/lib.sh', 'EXIT_TIMEOUT')));
    expect(service['ExitTimeOut']).toBe(Number(shellVar('installer/scripts/uninstall.sh', 'EXIT_TIMEOUT')));
    expect(service['StandardOutPath']).toBe(darwin.logFile);
    expect(service['StandardErrorPath']).toBe(darwin.logFile);
    // launchd.plist(5): without a ProcessType, "light resource limits … throttling its CPU usage and I/O bandwidth";
    // iscsid serves a disk's I/O.
    expect(service['ProcessType']).toBe('Interactive');
    // Login Items & Extensions names the host app as the daemon's owner.
    expect(service['AssociatedBundleIdentifiers']).toEqual([plist('installer/macos/HostApp/Info.plist')['CFBundleIdentifier']]);
    expect(installFolders).toContain(`${path.dirname(darwin.logFile)}/`);
    expect(daemonFiles).toContain(darwin.logFile);
  });

  it('the lists of docs/install.md use core/src/platform-paths.ts\'s folders', () => {
    expect(daemonApp.startsWith(`${stateDir}/`)).toBe(true);
    expect(daemonFiles).toContain(`${stateDir}/nodes.json`);
    expect(daemonFiles).toContain(`${darwin.secretsDir}/`);
    expect(daemonFiles).toContain(DEFAULT_SOCKET_PATH);
    expect(keepConfig.every((p) => daemonFiles.includes(p))).toBe(true);
    expect(`/${shellVar('installer/scripts/lib.sh', 'SUPPORT_DIR')}`).toBe(stateDir);
    expect(`/${shellVar('installer/scripts/uninstall.sh', 'SUPPORT_DIR')}`).toBe(stateDir);
  });

  it('iscsid.app: a background bundle whose executable is iscsid', () => {
    const info = plist('installer/macos/iscsid-Info.plist');
    expect(info['CFBundleExecutable']).toBe('iscsid');
    expect(info['CFBundleIdentifier']).toBe('io.github.iscsi-initiator.iscsid');
    expect(info['CFBundlePackageType']).toBe('APPL');
    expect(info['LSBackgroundOnly']).toBe(true);
    expect(info['CFBundleVersion']).toBe('@VERSION@');
  });

  it('the host app: its bundle id prefixes the dext\'s (Apple\'s DriverKit sample\'s convention); the Swift code asks for that dext', () => {
    const app = plist('installer/macos/HostApp/Info.plist');
    const dextId = plist('driver/dext/Info.plist')['CFBundleIdentifier'] as string;
    expect(dextId.startsWith(`${String(app['CFBundleIdentifier'])}.`)).toBe(true);
    expect(app['LSMinimumSystemVersion']).toBe('14.0');
    expect(read('installer/macos/HostApp/ExtensionManager.swift')).toContain(`static let driverIdentifier = "${dextId}"`);
    expect(shellVar('installer/scripts/lib.sh', 'DRIVER_ID')).toBe(dextId);
    // uninstall.sh runs the app's --deactivate: the app must handle it, under the name the payload gives it.
    expect(read('installer/macos/HostApp/CommandLineMode.swift')).toContain('case "--deactivate": kind = .deactivate');
    expect(`/${shellVar('installer/scripts/uninstall.sh', 'HOST_APP_BIN')}`).toBe(`${hostApp}Contents/MacOS/iSCSI Initiator`);
    const project = read('driver/dext/project.yml');
    expect(project).toMatch(/PRODUCT_NAME: iSCSI Initiator\n/);
    for (const [, file] of project.matchAll(/(?:INFOPLIST_FILE|CODE_SIGN_ENTITLEMENTS): (\.\.\/\.\.\/installer\/\S+)/g)) {
      expect(existsSync(path.join(repo, 'driver/dext', file!)), file).toBe(true);
    }
  });

  it('entitlements: V8\'s two for both binaries (else exit 133), user-client access for iscsid only, install for the app', () => {
    const v8 = { 'com.apple.security.cs.allow-jit': true, 'com.apple.security.cs.allow-unsigned-executable-memory': true };
    const dextId = plist('driver/dext/Info.plist')['CFBundleIdentifier'];
    expect(plist('driver/dext/iscsid.entitlements')).toEqual({ ...v8, 'com.apple.developer.driverkit.userclient-access': [dextId] });
    expect(plist('installer/macos/entitlements/iscsiadm.entitlements')).toEqual(v8);
    expect(plist('installer/macos/HostApp/HostApp.entitlements')).toEqual({ 'com.apple.developer.system-extension.install': true });
    // build-pkg.sh signs each with its one file.
    const build = read('installer/scripts/build-pkg.sh');
    for (const file of ['driver/dext/iscsid.entitlements', 'installer/macos/entitlements/iscsiadm.entitlements', 'driver/dext/IscsiHbaDriver.entitlements', 'installer/macos/HostApp/HostApp.entitlements']) {
      expect(build).toContain(`$repo/${file}`);
    }
  });

  it('pkgbuild\'s component list makes exactly the payload\'s bundles non-relocatable', () => {
    const components = parse(read('installer/macos/component.plist')) as Dict[];
    expect(components.map((c) => `/${String(c['RootRelativeBundlePath'])}/`).sort()).toEqual(payload.filter((p) => p.endsWith('.app/')).sort());
    for (const c of components) expect(c['BundleIsRelocatable']).toBe(false);
  });

  it('productbuild\'s distribution names the component pkgbuild makes', () => {
    const distribution = read('installer/macos/Distribution.xml');
    expect(distribution).toContain('>iscsi-initiator-component.pkg</pkg-ref>');
    expect(read('installer/scripts/build-pkg.sh')).toContain('"$work/iscsi-initiator-component.pkg"');
    expect(distribution).toContain('hostArchitectures="@ARCH@"');
    expect(distribution).toContain('<os-version min="14.0"/>');
  });
});

describe('the scripts pass shellcheck (issue 14)', () => {
  it.skipIf(!requireTool('shellcheck'))('shellcheck -x: install, upgrade, uninstall, the pkg\'s scripts, the builders', () => {
    const files = ['install.sh', 'upgrade.sh', 'uninstall.sh', 'lib.sh', 'stage-payload.sh', 'build-pkg.sh', 'preinstall', 'postinstall'].map((f) => path.join(scripts, f));
    files.push(path.join(macos, 'build-host-app.sh'));
    const result = spawnSync('shellcheck', ['-x', '--severity=style', ...files], { encoding: 'utf8', timeout: 60_000 });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the payload, staged on Linux (issue 14: "assembled on Linux into a staging folder and checked")', () => {
  let base: string;
  let stage: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'installer-stage-'));
    const { bin, app } = standIns(base, 'v1');
    stage = path.join(base, 'payload');
    const result = run(path.join(scripts, 'stage-payload.sh'), ['--bin', bin, '--app', app, '--out', stage]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('holds exactly the payload list of docs/install.md', () => {
    expect(inventory(stage, wholeFolders)).toEqual(sorted(payload));
  });

  it('iscsid.app holds exactly its list, the binaries executable, the version set', () => {
    const bundle = path.join(stage, daemonApp);
    const files: string[] = [];
    const walk = (rel: string): void => {
      for (const e of readdirSync(path.join(bundle, rel), { withFileTypes: true })) {
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) walk(child);
        else files.push(child);
      }
    };
    walk('');
    expect(files.sort()).toEqual(sorted(bundleFiles));
    for (const exe of ['iscsid', 'iscsiadm']) expect(statSync(path.join(bundle, 'Contents/MacOS', exe)).mode & 0o777).toBe(0o755);
    const info = parse(readFileSync(path.join(bundle, 'Contents/Info.plist'), 'utf8')) as Dict;
    expect(info['CFBundleVersion']).toBe(JSON.parse(read('core/package.json')).version);
  });

  it('iscsiadm on the PATH is a link into the bundle, beside the addon', () => {
    expect(readlinkSync(path.join(stage, cliLink))).toBe(`${daemonApp}Contents/MacOS/iscsiadm`);
  });

  it('the LaunchDaemon plist is 0644 (launchd refuses one that group or others may write) and the uninstaller 0755', () => {
    expect(statSync(path.join(stage, launchdPlist)).mode & 0o777).toBe(0o644);
    expect(readFileSync(path.join(stage, launchdPlist), 'utf8')).toBe(read('installer/macos/io.github.iscsi-initiator.iscsid.plist'));
    expect(statSync(path.join(stage, uninstaller)).mode & 0o777).toBe(0o755);
  });

  it('the host app keeps its dext where OSSystemExtensionRequest looks for it', () => {
    expect(existsSync(path.join(stage, hostApp, 'Contents/Library/SystemExtensions/io.github.iscsi-initiator.driver.dext'))).toBe(true);
  });

  it('refuses missing binaries, an app without the dext, and a folder that is not empty', () => {
    const missing = run(path.join(scripts, 'stage-payload.sh'), ['--bin', path.join(base, 'nothing'), '--without-app', '--out', path.join(base, 'o1')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/iscsid is missing: build it with `npm run package`/);
    const noDext = path.join(base, 'nodext.app');
    mkdirSync(path.join(noDext, 'Contents'), { recursive: true });
    writeFileSync(path.join(noDext, 'Contents/Info.plist'), '');
    const app = run(path.join(scripts, 'stage-payload.sh'), ['--bin', path.join(base, 'bin'), '--app', noDext, '--out', path.join(base, 'o2')]);
    expect(app.status).toBe(1);
    expect(app.stderr).toMatch(/does not embed Contents\/Library\/SystemExtensions\/io\.github\.iscsi-initiator\.driver\.dext/);
    const full = run(path.join(scripts, 'stage-payload.sh'), ['--bin', path.join(base, 'bin'), '--without-app', '--out', stage]);
    expect(full.status).toBe(1);
    expect(full.stderr).toMatch(/is not empty/);
  });

  it('--without-app stages everything but the host app', () => {
    const out = path.join(base, 'no-app');
    expect(run(path.join(scripts, 'stage-payload.sh'), ['--bin', path.join(base, 'bin'), '--without-app', '--out', out]).status).toBe(0);
    expect(inventory(out, wholeFolders)).toEqual(sorted(payload.filter((p) => p !== hostApp)));
  });
});

describe('install, upgrade, uninstall against a temporary root (issue 14: "they place and remove exactly the files listed in the docs")', () => {
  let base: string;
  let root: string;
  let v1: { bin: string; app: string };
  let v2: { bin: string; app: string };
  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'installer-root-'));
    root = macRoot(base);
    v1 = standIns(path.join(base, 'v1'), 'v1');
    v2 = standIns(path.join(base, 'v2'), 'v2');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** What iscsid makes as it runs (docs/install.md's "daemon" list), with its modes. */
  function daemonRuns(): void {
    for (const entry of daemonFiles) {
      const abs = path.join(root, entry);
      if (entry === DEFAULT_SOCKET_PATH) continue; // a real socket, made where a test needs it
      if (entry.endsWith('/')) {
        mkdirSync(abs, { recursive: true, mode: 0o700 });
        writeFileSync(path.join(abs, 'secrets.json'), '{}', { mode: 0o600 });
      } else {
        mkdirSync(path.dirname(abs), { recursive: true });
        writeFileSync(abs, `made by iscsid: ${entry}`, { mode: 0o600 });
      }
    }
  }

  it('install.sh places exactly the payload and the install folders, and says what it skipped', () => {
    const result = run(path.join(scripts, 'install.sh'), ['--bin', v1.bin, '--app', v1.app, '--root', root]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(inventory(root, wholeFolders)).toEqual(sorted([...payload, ...installFolders]));
    expect(sorted(lines(result.stdout, 'placed '))).toEqual(sorted(payload.map(noSlash)));
    expect(result.stdout).toContain('skipped (no launchctl): launchctl bootout system/io.github.iscsi-initiator.iscsid');
    expect(result.stdout).toContain(`skipped (no launchctl): launchctl bootstrap system ${root}${launchdPlist}`);
    // iscsid refuses a state folder that group or others may write (docs/security.md, "Files").
    expect(statSync(path.join(root, stateDir)).mode & 0o022).toBe(0);
  });

  it('upgrade.sh replaces the binaries and leaves what iscsid made alone', () => {
    daemonRuns();
    const before = Object.fromEntries(daemonFiles.filter((p) => !p.endsWith('/') && p !== DEFAULT_SOCKET_PATH).map((p) => [p, readFileSync(path.join(root, p), 'utf8')]));
    const result = run(path.join(scripts, 'upgrade.sh'), ['--bin', v2.bin, '--app', v2.app], { DESTROOT: root });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readFileSync(path.join(root, daemonApp, 'Contents/MacOS/iscsid'), 'utf8')).toContain('iscsid v2');
    expect(readFileSync(path.join(root, hostApp, 'Contents/MacOS/iSCSI Initiator'), 'utf8')).toBe('app v2');
    for (const [file, text] of Object.entries(before)) expect(readFileSync(path.join(root, file), 'utf8'), file).toBe(text);
    const present = daemonFiles.filter((p) => p !== DEFAULT_SOCKET_PATH);
    expect(inventory(root, wholeFolders)).toEqual(sorted(topMost([...payload, ...installFolders, ...present])));
  });

  it('uninstall.sh --keep-config removes everything but the node database and secrets, and lists exactly that', async () => {
    // A socket left by a daemon that did not stop cleanly: removed too.
    const socketPath = path.join(root, DEFAULT_SOCKET_PATH);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    let result: SpawnSyncReturns<string>;
    try {
      result = run(path.join(root, uninstaller), ['--keep-config', '--root', root]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const everything = [...payload, ...installFolders, ...daemonFiles];
    const expectedRemoved = topMost(everything.filter((p) => !keepConfig.includes(p)));
    expect(sorted(lines(result.stdout, 'removed: '))).toEqual(sorted(expectedRemoved.map(noSlash)));
    expect(sorted(lines(result.stdout, 'kept: ').filter((l) => l.startsWith('/')))).toEqual(sorted(keepConfig.map(noSlash)));
    expect(inventory(root, wholeFolders)).toEqual(sorted(keepConfig));
    expect(result.stdout).toContain('skipped (no launchctl): "/Applications/iSCSI Initiator.app/Contents/MacOS/iSCSI Initiator" --deactivate, as the console user');
  });

  it('uninstall.sh (from the clone: the installed one removed itself) then removes the rest: nothing is left behind', () => {
    const result = run(path.join(scripts, 'uninstall.sh'), ['--root', root]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(sorted(lines(result.stdout, 'removed: '))).toEqual(sorted([...keepConfig.map(noSlash), stateDir]));
    expect(inventory(root, wholeFolders)).toEqual([]);
    const again = run(path.join(scripts, 'uninstall.sh'), ['--root', root]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('nothing to remove');
  });

  it('install, run, uninstall without --keep-config: nothing is left behind either', () => {
    expect(run(path.join(scripts, 'install.sh'), ['--bin', v1.bin, '--app', v1.app, '--root', root]).status).toBe(0);
    daemonRuns();
    const result = run(path.join(root, uninstaller), ['--root', root]);
    expect(result.status).toBe(0);
    const removed = topMost([...payload, ...installFolders, ...daemonFiles.filter((p) => p !== DEFAULT_SOCKET_PATH)]);
    // The state folder goes whole once its entries are gone, each listed.
    expect(sorted(lines(result.stdout, 'removed: '))).toEqual(sorted([...removed.map(noSlash), stateDir]));
    expect(inventory(root, wholeFolders)).toEqual([]);
  });

  it('uninstall.sh leaves an iscsiadm that is not its own link', () => {
    const foreign = path.join(root, cliLink);
    writeFileSync(foreign, '#!/bin/sh\n', { mode: 0o755 });
    const result = run(path.join(scripts, 'uninstall.sh'), ['--root', root]);
    expect(result.status).toBe(0);
    expect(existsSync(foreign)).toBe(true);
    expect(result.stdout).toContain(`kept: ${cliLink} (not ours: not a link)`);
    rmSync(foreign);
  });
});

describe('what runs only on a Mac refuses clearly elsewhere', () => {
  it.skipIf(process.platform === 'darwin')('build-pkg.sh: pkgbuild and productbuild exist only on macOS', () => {
    const result = run(path.join(scripts, 'build-pkg.sh'), []);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/only on macOS; this is Linux/);
  });

  it.skipIf(process.platform === 'darwin')('install.sh and uninstall.sh into / (no root folder given): macOS only', () => {
    const install = run(path.join(scripts, 'install.sh'), ['--without-app']);
    expect(install.status).toBe(1);
    expect(install.stderr).toMatch(/installing into \/ works only on macOS; .*--root DIR/);
    const uninstall = run(path.join(scripts, 'uninstall.sh'), []);
    expect(uninstall.status).toBe(1);
    expect(uninstall.stderr).toMatch(/this uninstalls from macOS; elsewhere give --root DIR/);
    // --no-launchctl too: on Linux / may hold this project's own iscsid socket (/var/run/iscsid.sock), never ours to remove.
    const filesOnly = run(path.join(scripts, 'uninstall.sh'), ['--no-launchctl']);
    expect(filesOnly.status).toBe(1);
    expect(filesOnly.stderr).toMatch(/this uninstalls from macOS; elsewhere give --root DIR/);
    expect(filesOnly.stdout).not.toMatch(/^removed: /m);
  });

  it.skipIf(process.platform === 'darwin')('build-host-app.sh: Xcode and DriverKit exist only on macOS', () => {
    const result = run(path.join(macos, 'build-host-app.sh'), []);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/build only on macOS/);
  });

  it('upgrade.sh refuses when nothing is installed', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'installer-empty-'));
    try {
      chmodSync(base, 0o755);
      const result = run(path.join(scripts, 'upgrade.sh'), ['--root', base]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/nothing to upgrade/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
