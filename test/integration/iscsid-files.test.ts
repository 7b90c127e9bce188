// Issue 10, "A safe socket", "Clients check the server", "Node database parity with the secret store" and the storage
// error codes: each failure the issue reproduced, against a real iscsid process (root) and, where a hostile or careless
// other user is the point, a process run as `nobody` (setpriv).
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/test/run-cli.js';
import { RpcClient } from '../../core/src/rpc/index.js';
import { iscsidCommand, startIscsid, type IscsidInstance, type StartIscsidOptions } from '../src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NOBODY = 65534;
const CHAP = 'iqn.2026-11.test.iscsid-files:chap';
const SECRET = 'files-secret-never-sent';

let root: string;
const running: IscsidInstance[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'iscsid-files-'));
  chmodSync(root, 0o755);
});
afterAll(async () => {
  for (const d of running) await d.stop({ keepDir: true });
  rmSync(root, { recursive: true, force: true });
});

/** A fresh root-owned 0755 folder for one test. */
function folder(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  return dir;
}

async function start(options: StartIscsidOptions & { dir: string }): Promise<IscsidInstance> {
  const d = await startIscsid(options);
  running.push(d);
  return d;
}

/** Runs a daemon that is expected to refuse to start: its exit code and everything it printed. */
function refusal(options: StartIscsidOptions & { dir: string }): Promise<{ code: number | null; output: string }> {
  const command = iscsidCommand(options);
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, command.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => {
      output += d;
    });
    // It should exit at once; one that listens instead is the failure, stopped here so the test ends.
    child.stdout.on('data', () => output.includes('iscsid listening') && child.kill('SIGKILL'));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function withClient<T>(socket: string, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  const c = await RpcClient.connect(socket);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** withClient, trying again while the daemon's accept backlog is still full (a connect that failed with EAGAIN). */
async function withClientOnceAccepting<T>(socket: string, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await withClient(socket, fn);
    } catch (e) {
      if (!/EAGAIN/.test(String((e as Error).message))) throw e;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

describe('a safe socket (issue 10: "Socket creation follows symlinks")', () => {
  it('refuses a socket folder another user owns or others may write, and never touches a file a symlink there points to', async () => {
    // The attack: the socket's folder is writable by `nobody`, who swaps a symlink to a root-only file in after the bind.
    const victim = path.join(folder('victim'), 'root-only');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const hostile = folder('hostile');
    chownSync(hostile, NOBODY, NOBODY);
    const worldWritable = folder('world');
    chmodSync(worldWritable, 0o1777); // like /tmp: sticky, but anyone may create names in it
    for (const dir of [hostile, worldWritable]) {
      const r = await refusal({ dir: folder(`run-${path.basename(dir)}`), socket: path.join(dir, 'iscsid.sock') });
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/ISCSI_STORAGE_UNSAFE: the socket folder .* (belongs to uid 65534|is writable by others)/);
      expect(existsSync(path.join(dir, 'iscsid.sock'))).toBe(false);
    }
    // A symlink planted at the socket path of a safe folder is not followed, not replaced, and its target unchanged.
    const safe = folder('safe');
    symlinkSync(victim, path.join(safe, 'iscsid.sock'));
    const r = await refusal({ dir: folder('run-safe'), socket: path.join(safe, 'iscsid.sock'), args: ['--group', String(NOBODY)] });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/is not a socket; not replacing it/);
    const st = statSync(victim);
    expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o600, 0, 0]);
    expect(lstatSync(path.join(safe, 'iscsid.sock')).isSymbolicLink()).toBe(true);
  });

  it('under umask 000 the socket is 0660 root:<group> as created — no chmod, an lchown — and nobody outside the group connects', { timeout: 60_000 }, async () => {
    const dir = folder('umask');
    // strace records every mode and owner change the daemon makes: the window the issue found was a chmod after the bind.
    const trace = path.join(root, 'umask.strace');
    const d = await start({ dir, umask: 0o000, args: ['--group', '1'], prefix: ['strace', '-f', '-qq', '-e', 'trace=chmod,fchmodat,chown,lchown,fchownat', '-o', trace], startTimeoutMs: 45_000 });
    const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(d.socket));
    expect(calls.filter((l) => /chmod/.test(l))).toEqual([]);
    expect(calls.filter((l) => /lchown\(|AT_SYMLINK_NOFOLLOW/.test(l))).toHaveLength(1);
    expect(calls.filter((l) => /chown/.test(l) && !/lchown\(|AT_SYMLINK_NOFOLLOW/.test(l))).toEqual([]);
    const st = lstatSync(d.socket);
    expect([st.isSocket(), st.mode & 0o777, st.uid, st.gid]).toEqual([true, 0o660, 0, 1]);
    // The daemon's own files under umask 000: still private.
    expect(statSync(path.join(dir, 'state')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'state', 'nodes.json')).mode & 0o077).toBe(0);
    const probe = path.join(here, 'fixtures', 'rpc-probe.cjs');
    const asNobody = JSON.parse(execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, probe, d.socket], { encoding: 'utf8', timeout: 10_000 }));
    expect(asNobody).toEqual({ connect: 'EACCES' });
    // The child is strace, which a signal would only detach, leaving the daemon running: stop the daemon itself (its
    // pid is in its lock file); strace -f exits with it.
    const pid = Number(readFileSync(path.join(dir, 'state', 'iscsid.lock'), 'utf8').trim());
    const traced = d.child.exitCode === null ? new Promise((resolve) => d.child.once('exit', resolve)) : Promise.resolve();
    process.kill(pid, 'SIGTERM');
    await traced;
    await d.stop({ keepDir: true });
  });
});

describe('one daemon per state folder, and no takeover (issue 10: "Clients trust whoever answers")', () => {
  it('a second daemon on the same state folder refuses to start, even with another socket; the first keeps serving', async () => {
    const dir = folder('lock');
    const first = await start({ dir });
    const r = await refusal({ dir, socket: path.join(dir, 'second.sock') });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`ISCSI_DAEMON_ALREADY_RUNNING: another iscsid (pid ${first.child.pid}) is already running on the state folder ${path.join(dir, 'state')}`);
    expect(existsSync(path.join(dir, 'second.sock'))).toBe(false);
    expect(readFileSync(path.join(dir, 'state', 'iscsid.lock'), 'utf8')).toBe(`${first.child.pid}\n`);
    expect(await withClient(first.socket, (c) => c.call('version'))).toMatchObject({ name: 'iscsid' });
    await first.stop({ keepDir: true });
  });

  it('a daemon whose accept backlog is full is not taken over by one with another state folder; a stale socket is replaced', { timeout: 60_000 }, async () => {
    const dir = folder('busy');
    const first = await start({ dir });
    const held: net.Socket[] = [];
    // Stopped, the daemon accepts nothing: connections queue until the kernel's backlog is full and connect(2) says EAGAIN.
    first.child.kill('SIGSTOP');
    try {
      let refusedWith: string | undefined;
      while (refusedWith === undefined && held.length < 70_000) {
        refusedWith = await new Promise<string | undefined>((resolve) => {
          const s = net.connect(first.socket);
          s.once('connect', () => {
            held.push(s);
            resolve(undefined);
          });
          s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
      }
      expect(refusedWith).toBe('EAGAIN');
      const r = await refusal({ dir, stateDir: path.join(dir, 'other-state'), secretsDir: path.join(dir, 'other-secrets') });
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/ISCSI_DAEMON_ALREADY_RUNNING: another iscsid is already running on .*iscsid\.sock: it is there but gave EAGAIN/);
    } finally {
      first.child.kill('SIGCONT');
      for (const s of held) s.destroy();
    }
    // Resumed, it first accepts the connections still in its backlog; until the queue has room connect(2) keeps saying
    // EAGAIN (unix(7): "the listen backlog is full"), so a refused try is tried again at once, bounded by the test.
    expect(await withClientOnceAccepting(first.socket, (c) => c.call('version'))).toMatchObject({ name: 'iscsid' });
    // Killed, the daemon leaves its socket file; the next one on the same state folder gets the lock and replaces it.
    const killed = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await killed;
    expect(lstatSync(first.socket).isSocket()).toBe(true);
    const next = await start({ dir });
    expect(await withClient(next.socket, (c) => c.call('version'))).toMatchObject({ name: 'iscsid' });
    await next.stop({ keepDir: true });
  });
});

describe('clients check the server (issue 10: an impostor must never receive a secret)', () => {
  it('root\'s iscsiadm refuses a socket served by nobody (exit 18, ISCSI_DAEMON_NOT_TRUSTED) and sends it zero bytes', { timeout: 30_000 }, async () => {
    const dir = folder('impostor');
    chownSync(dir, NOBODY, NOBODY); // the careless setup: a socket folder another user may write
    const socket = path.join(dir, 'iscsid.sock');
    const impostor = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, path.join(here, 'fixtures', 'impostor.cjs'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    let said = '';
    const listening = new Promise<void>((resolve, reject) => {
      impostor.stdout.on('data', (d) => {
        said += d;
        if (said.includes('listening')) resolve();
      });
      impostor.once('exit', () => reject(new Error(`impostor exited: ${said}`)));
    });
    await listening;
    try {
      const r = await runCli(['node', '-T', CHAP, '-o', 'update', '-n', 'node.session.auth.password', '--password-stdin', '--socket', socket], { input: `${SECRET}\n` });
      expect(r.code, r.stderr).toBe(18);
      expect(r.stderr).toMatch(/not talking to the server on .*iscsid\.sock: it runs as uid 65534, not root/);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      // A read-only command is refused the same way: nothing is asked of an impostor.
      const list = await runCli(['session', '--socket', socket], { input: '' });
      expect(list.code).toBe(18);
    } finally {
      const counted = new Promise<string>((resolve) => impostor.once('exit', () => resolve(said)));
      impostor.kill('SIGTERM');
      const report = JSON.parse((await counted).split('\n').find((l) => l.startsWith('{'))!) as { connections: number; bytes: number };
      // It was reached (so the refusal is the check, not a missing socket) and it got nothing.
      expect(report).toEqual({ connections: 2, bytes: 0 });
    }
  });
});

describe('the node database and the secret store, checked at every use (issue 10: parity)', () => {
  it('refuses to start on a state folder another user owns, or a nodes.json symlink (whose target stays untouched)', async () => {
    const dir = folder('foreign');
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, NOBODY, NOBODY);
    const r = await refusal({ dir });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/ISCSI_STORAGE_UNSAFE: the state folder .* belongs to uid 65534/);

    const linked = folder('linked');
    mkdirSync(path.join(linked, 'state'), { mode: 0o700 });
    const victim = path.join(folder('victim2'), 'passwd');
    writeFileSync(victim, 'root:x:0:0\n', { mode: 0o644 });
    symlinkSync(victim, path.join(linked, 'state', 'nodes.json'));
    const s = await refusal({ dir: linked });
    expect(s.code).toBe(1);
    expect(s.output).toMatch(/ISCSI_STORAGE_UNSAFE: the node database .*nodes\.json is a symlink/);
    expect(readFileSync(victim, 'utf8')).toBe('root:x:0:0\n');
  });

  it('a running daemon refuses writes once nodes.json becomes a symlink or the folder 0777; an old file\'s bad record is kept aside; temp files go', async () => {
    const dir = folder('running');
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    // An unversioned file (as written before versioning) with one good record and one that cannot be read.
    writeFileSync(path.join(state, 'nodes.json'), JSON.stringify({ nodes: [{ targetName: CHAP, portal: '127.0.0.1:3260' }, { targetName: '../../etc/passwd', portal: 'x' }] }));
    writeFileSync(path.join(state, 'nodes.json.tmp-17650000001a2b3c'), '{"half":');
    const d = await start({ dir });
    expect(readdirSync(state).sort()).toEqual(['iscsid.lock', 'nodes.json', 'nodes.json.rejected']);
    const rejected = readFileSync(path.join(state, 'nodes.json.rejected'), 'utf8');
    expect(JSON.parse(rejected.trim())).toMatchObject({ record: { targetName: '../../etc/passwd', portal: 'x' }, reason: expect.stringMatching(/bad target name/) });
    expect(d.output()).toMatch(/kept a record aside/);
    expect(d.output()).toContain('../../etc/passwd at x');
    await withClient(d.socket, async (c) => {
      expect(await c.call('nodes.list')).toEqual([expect.objectContaining({ targetName: CHAP })]);
      await c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:before' });

      const victim = path.join(folder('victim3'), 'root-only');
      writeFileSync(victim, 'root only\n', { mode: 0o600 });
      rmSync(path.join(state, 'nodes.json'));
      symlinkSync(victim, path.join(state, 'nodes.json'));
      await expect(c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:after' })).rejects.toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
      expect(readFileSync(victim, 'utf8')).toBe('root only\n');
      rmSync(path.join(state, 'nodes.json'));

      chmodSync(state, 0o777);
      await expect(c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:after' })).rejects.toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/writable by others/) });
      chmodSync(state, 0o700);
      await c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:after' });
    });
    await d.stop({ keepDir: true });
  });

  it('secrets.set takes only iSCSI names and portals: "../../etc/passwd" is ISCSI_BAD_ARGUMENT and nothing is stored', async () => {
    const dir = folder('names');
    const d = await start({ dir });
    await withClient(d.socket, async (c) => {
      await expect(c.call('secrets.set', { targetName: '../../etc/passwd', kind: 'password', secret: SECRET })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
      await expect(c.call('secrets.set', { targetName: CHAP, portal: '[::1', kind: 'password', secret: SECRET })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
      expect(await c.call('secrets.has', { targetName: '../../etc/passwd', kind: 'password' })).toEqual({ stored: false });
      expect(await c.call('secrets.set', { targetName: '', portal: '127.0.0.1:3260', kind: 'password', secret: SECRET })).toEqual({ stored: true });
    });
    await d.stop({ keepDir: true });
  });
});

describe('against tgtd: the secret store is checked at every login (issue 10: "a 0777 folder made later still logs in")', () => {
  let tgt: TgtdInstance;
  beforeAll(async () => {
    tgt = await startTgtd({ targets: [{ iqn: CHAP, chap: { incoming: [{ user: 'files-user', secret: SECRET }] } }] });
  }, 30_000);
  afterAll(async () => {
    await tgt?.stop();
  });

  it('logs in with CHAP; with the secrets folder made 0777 the next login is refused (ISCSI_STORAGE_UNSAFE), and works once fixed', { timeout: 40_000 }, async () => {
    const dir = folder('chap');
    const d = await start({ dir });
    await withClient(d.socket, async (c) => {
      await c.call('discovery.sendTargets', { portal: tgt.portal });
      await c.call('nodes.update', { targetName: CHAP, key: 'node.session.auth.authmethod', value: 'CHAP' });
      await c.call('nodes.update', { targetName: CHAP, key: 'node.session.auth.username', value: 'files-user' });
      await c.call('secrets.set', { targetName: CHAP, kind: 'password', secret: SECRET });
      const s = await c.call('sessions.login', { targetName: CHAP });
      await c.call('sessions.logout', { sid: s.sid });
      chmodSync(path.join(dir, 'secrets'), 0o777);
      await expect(c.call('sessions.login', { targetName: CHAP })).rejects.toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
      expect(await tgt.connections(CHAP)).toBe(0);
      chmodSync(path.join(dir, 'secrets'), 0o700);
      const again = await c.call('sessions.login', { targetName: CHAP });
      await c.call('sessions.logout', { sid: again.sid });
    });
    await d.stop({ keepDir: true });
    expect(d.output()).not.toContain(SECRET);
  });
});

describe('a full disk says so (issue 10: "reported as a bad argument, or as missing CHAP credentials")', () => {
  it('on a full tmpfs, initiator.set and secrets.set fail ISCSI_STORAGE_FULL (iscsiadm exit 6); freed, they work', { timeout: 30_000 }, async () => {
    const dir = folder('full');
    const disk = path.join(dir, 'disk');
    mkdirSync(disk);
    // A real file system with 256 KiB: the state and secrets folders both live on it.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', disk]);
    try {
      const d = await start({ dir, stateDir: path.join(disk, 'state'), secretsDir: path.join(disk, 'secrets') });
      try {
        await withClient(d.socket, async (c) => {
          await c.call('secrets.set', { targetName: CHAP, kind: 'password', secret: SECRET }); // creates the folder and file
          const filler = path.join(disk, 'filler');
          expect(() => writeFileSync(filler, Buffer.alloc(1 << 20))).toThrow(/ENOSPC/);
          await expect(c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:full' })).rejects.toMatchObject({ code: 'ISCSI_STORAGE_FULL', data: { errno: 'ENOSPC' } });
          await expect(c.call('secrets.set', { targetName: CHAP, kind: 'password_in', secret: 'another-files-secret' })).rejects.toMatchObject({ code: 'ISCSI_STORAGE_FULL', data: { errno: 'ENOSPC' } });
          // What was there is intact: the old secret and the old initiator name.
          expect(await c.call('secrets.reveal', { targetName: CHAP, kind: 'password' })).toEqual({ secret: SECRET });
          expect((await c.call('initiator.get')).name).not.toBe('iqn.2026-11.test.iscsid-files:full');
          rmSync(filler);
          await c.call('initiator.set', { name: 'iqn.2026-11.test.iscsid-files:full' });
          expect(await c.call('secrets.set', { targetName: CHAP, kind: 'password_in', secret: 'another-files-secret' })).toEqual({ stored: true });
        });
        expect(readdirSync(path.join(disk, 'state')).filter((n) => n.includes('.tmp-'))).toEqual([]);
      } finally {
        await d.stop({ keepDir: true });
      }
    } finally {
      execFileSync('umount', [disk]);
    }
  });
});
