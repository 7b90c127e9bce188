// Issue 12: "Logout and iscsid shutdown unmount the LUNs' volumes first … A busy volume refuses the logout with a
// clear error naming it, unless forced. Then the target is destroyed, then the session logs out." And its test on
// Linux: "Logout with the filesystem mounted: refused with the mount named, nothing lost." A real iscsid with
// --hba simulator, a real tgtd, ext4 mounted through nbdfuse + losetup, fio as a bare NBD client, iscsiadm spawned.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../../core/src/rpc/client.js';
import { runCli, type Run } from '../../cli/test/run-cli.js';
import { buildSimulator } from '../src/hba-sim-build.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { isMountPoint, mountDisk, type MountedDisk } from '../src/nbd-disk.js';
import { requireRoot, requireTool } from '../src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const run = promisify(execFile);
const ready = requireTool('make', 'tgtd', 'fio', 'nbdfuse', 'fusermount3', 'losetup', 'mkfs.ext4', 'mount', 'umount') && requireRoot('mounting a file system');
const TARGET = 'iqn.2026-12.test.hba:volumes';
/** A second target with nothing mounted: a logout of every session logs it out past the busy one. */
const SPARE = 'iqn.2026-12.test.hba:spare';
const LUN_BYTES = 64 << 20;

let tgt: TgtdInstance;
let daemon: IscsidInstance;
let dir: string;
let mnt: string;
const data = randomBytes(1 << 20);

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

function startDaemon(): Promise<IscsidInstance> {
  return startIscsid({ dir, args: ['--hba', 'simulator'] });
}

/** Logs in to the target and returns its session id and the LUN's NBD URI (from `session -P 3 --json`). */
async function login(): Promise<{ sid: number; uri: string }> {
  const done = await iscsiadm(['node', '-T', TARGET, '--login']);
  expect(done.code, done.stderr).toBe(0);
  const [session] = JSON.parse((await iscsiadm(['session', '-P', '3', '--json'])).stdout) as Array<{ sid: number; luns: Array<{ disk: string | null }> }>;
  const uri = session?.luns[0]?.disk;
  expect(uri, daemon.output()).toMatch(/^nbd\+unix:\/\/\/\?socket=/);
  return { sid: session!.sid, uri: uri! };
}

function socketOf(uri: string): string {
  return uri.slice(uri.indexOf('socket=') + 'socket='.length);
}

async function sessionCount(): Promise<number> {
  return (JSON.parse((await iscsiadm(['session', '--json'])).stdout) as unknown[]).length;
}

/** A raw connection to an NBD export that has read the server's greeting (proto.md: NBDMAGIC, IHAVEOPT, flags). */
function greeted(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let got = 0;
    conn.on('error', reject);
    conn.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= 18) resolve(conn);
    });
  });
}

/**
 * A connection in transmission (proto.md NBD_OPT_EXPORT_NAME) with `count` 1 MiB reads sent, and paused once the first
 * reply has begun to arrive: the rest of the replies (more than a Unix socket holds) back up, the server's writer
 * thread stuck in a send.
 */
async function stalled(socket: string, count: number): Promise<net.Socket> {
  const conn = await greeted(socket);
  conn.removeAllListeners('data');
  const option = Buffer.alloc(4 + 16);
  option.writeUInt32BE(3, 0); // client flags: fixed newstyle, no zeroes
  option.writeBigUInt64BE(0x49484156454f5054n, 4); // IHAVEOPT
  option.writeUInt32BE(1, 12); // NBD_OPT_EXPORT_NAME, the empty name
  const requests = Buffer.alloc(28 * count);
  for (let i = 0; i < count; i++) {
    requests.writeUInt32BE(0x25609513, 28 * i); // proto.md "Request message": magic, flags 0, NBD_CMD_READ 0
    requests.writeBigUInt64BE(BigInt(i + 1), 28 * i + 8); // cookie
    requests.writeUInt32BE(1 << 20, 28 * i + 24); // offset 0, length 1 MiB
  }
  // The export-name answer is 10 bytes (no zeroes); anything past it is a reply to the reads.
  const replying = new Promise<void>((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => reject(new Error('no NBD read reply within 20 s')), 20_000);
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got <= 10) return;
      clearTimeout(timer);
      conn.off('data', onData);
      conn.pause();
      resolve();
    };
    conn.on('data', onData);
  });
  conn.write(Buffer.concat([option, requests]));
  await replying;
  return conn;
}

/** Resolves with the child's exit code once it has exited. */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: LUN_BYTES }] }, { iqn: SPARE, luns: [{ sizeBytes: 16 << 20 }] }] });
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsid-volumes-'));
  mnt = mkdtempSync(path.join(os.tmpdir(), 'iscsid-volumes-mnt-'));
  daemon = await startDaemon();
  const discovered = await iscsiadm(['discovery', '-t', 'st', '-p', tgt.portal]);
  expect(discovered.code, discovered.stderr).toBe(0);
}, 200_000);

afterAll(async () => {
  await daemon?.stop(); // a normal stop also stops the simulator it started
  await tgt?.stop();
  if (mnt !== undefined) rmSync(mnt, { recursive: true, force: true });
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(ready)('logout with the LUN\'s file system mounted (issue 12)', () => {
  let disk: MountedDisk;
  let uri: string;
  let sid: number;

  afterAll(async () => {
    await disk?.unmount();
  }, 60_000);

  it('`session -P 3` names the mount point on the "Attached disk:" line, and --json in the LUN\'s mountPoints', async () => {
    ({ sid, uri } = await login());
    disk = await mountDisk(uri, mnt, true);
    writeFileSync(path.join(mnt, 'kept.bin'), data);
    await run('sync', ['--file-system', mnt], { timeout: 30_000 });
    const p3 = await iscsiadm(['session', '-P', '3']);
    expect(p3.stdout).toContain(`Attached disk: ${uri} mounted at ${mnt}\n`);
    const [json] = JSON.parse((await iscsiadm(['session', '-r', String(sid), '-P', '3', '--json'])).stdout) as Array<{ luns: Array<{ mountPoints: string[] }> }>;
    expect(json?.luns[0]?.mountPoints).toEqual([mnt]);
  }, 120_000);

  it('refused: exit 28, the mount point named; the session stays and the file system still reads and writes', async () => {
    const refused = await iscsiadm(['node', '-T', TARGET, '--logout']);
    expect(refused.code, refused.stdout).toBe(28);
    expect(refused.stderr).toContain(`the volume mounted at ${mnt} (${disk.loop}) is in use`);
    expect(refused.stderr).toContain('--force');
    // Nothing was logged out: the session, its disk and the mount are as they were.
    expect(await sessionCount()).toBe(1);
    expect(existsSync(socketOf(uri))).toBe(true);
    expect(isMountPoint(mnt)).toBe(true);
    expect(readFileSync(path.join(mnt, 'kept.bin')).equals(data)).toBe(true);
    writeFileSync(path.join(mnt, 'after.bin'), data.subarray(0, 4096));
    await run('sync', ['--file-system', mnt], { timeout: 30_000 });
  }, 60_000);

  it('the refusal over the RPC carries data.mountPoint; session -u and --json say the same; force "yes" is a typed error', async () => {
    const client = await RpcClient.connect(daemon.socket);
    try {
      const error = await client.call('sessions.logout', { sid }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ISCSI_VOLUME_BUSY', data: { code: 'ISCSI_VOLUME_BUSY', mountPoint: mnt, disk: disk.loop } });
      const bad = await client.call('sessions.logout', { sid, force: 'yes' } as never).catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: 'ISCSI_BAD_ARGUMENT', message: expect.stringContaining('params.force must be true or false') });
      const all = await client.call('sessions.logout', { all: true }).catch((e: unknown) => e);
      expect(all).toMatchObject({ code: 'ISCSI_VOLUME_BUSY' });
    } finally {
      client.close();
    }
    const stray = await iscsiadm(['node', '-T', TARGET, '--force']);
    expect(stray.code).toBe(7);
    expect(stray.stderr).toContain('--force goes with --logout or -U all');
    const json = await iscsiadm(['session', '-r', String(sid), '-u', '--json']);
    expect(json.code).toBe(28);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'ISCSI_VOLUME_BUSY', mountPoint: mnt } });
    expect(await sessionCount()).toBe(1);
  }, 60_000);

  it('every session at once (`node -U all`, `session -u`): the other logs out, the busy one is named and stays, exit 28', async () => {
    for (const command of [['node', '-U', 'all'], ['session', '-u']]) {
      const spare = await iscsiadm(['node', '-T', SPARE, '--login']);
      expect(spare.code, spare.stderr).toBe(0);
      const all = await iscsiadm(command);
      expect(all.code, `${command.join(' ')}: ${all.stderr}`).toBe(28);
      expect(all.stdout).toMatch(new RegExp(`Logout of \\[sid: \\d+, target: ${SPARE.replace(/\./g, '\\.')}, portal: [^\\]]+\\] successful\\.`));
      expect(all.stdout).not.toContain(`target: ${TARGET}, portal: ${tgt.portal}] successful`);
      expect(all.stderr).toContain(`the volume mounted at ${mnt}`);
      // open-iscsi's way with several sessions: each refusal on a line of its own, naming the session.
      if (command[0] === 'node') expect(all.stderr).toContain(`iscsiadm: Could not logout of [sid: ${sid}, target: ${TARGET}, portal: `);
      const left = JSON.parse((await iscsiadm(['session', '--json'])).stdout) as Array<{ sid: number; targetName: string }>;
      expect(left).toEqual([expect.objectContaining({ sid, targetName: TARGET })]);
    }
    expect(isMountPoint(mnt)).toBe(true);
  }, 120_000);

  it('--force: unmounted (umount, losetup -d, fusermount3 -u), then the target destroyed and the session logged out', async () => {
    const forced = await iscsiadm(['node', '-T', TARGET, '--logout', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/Logout of \[sid: \d+, target: iqn\.2026-12\.test\.hba:volumes, portal: .*\] successful\./);
    expect(isMountPoint(mnt)).toBe(false);
    expect(isMountPoint(disk.fuseDir)).toBe(false);
    expect(existsSync(socketOf(uri))).toBe(false);
    expect(await sessionCount()).toBe(0);
    expect(daemon.output()).toMatch(/volumes let go before the logout/);
    expect(daemon.output()).toContain(`unmounted ${mnt}`);
  }, 60_000);

  it('nothing lost: logged in again and mounted again, both files read back', async () => {
    ({ sid, uri } = await login());
    disk = await mountDisk(uri, mnt, false);
    expect(readFileSync(path.join(mnt, 'kept.bin')).equals(data)).toBe(true);
    expect(readFileSync(path.join(mnt, 'after.bin')).equals(data.subarray(0, 4096))).toBe(true);
    await disk.unmount();
    const out = await iscsiadm(['session', '-r', String(sid), '-u']);
    expect(out.code, out.stderr).toBe(0);
  }, 120_000);
});

describe.runIf(ready)('logout while a bare NBD client uses the disk (no mount)', () => {
  it('refused naming the process; --force logs out and the client\'s I/O fails', async () => {
    const { sid, uri } = await login();
    const fio = spawn('fio', ['--name=reader', '--ioengine=nbd', `--uri=${uri}`, '--rw=randread', '--bs=1m', '--iodepth=8', '--size=8m', '--time_based', '--runtime=120'], { stdio: 'ignore' });
    try {
      // 'spawn' comes after exec: from then on /proc/<pid>/cmdline is fio's, naming the export.
      await new Promise((resolve, reject) => fio.once('spawn', resolve).once('error', reject));
      const refused = await iscsiadm(['session', '-r', String(sid), '-u']);
      expect(refused.code, refused.stdout).toBe(28);
      expect(refused.stderr).toContain(`is in use: fio (pid ${fio.pid})`);
      expect(await sessionCount()).toBe(1);

      // A connection that has said nothing yet (the NBD greeting read, no answer): iscsid's probe cannot see it, the
      // export's end must still cut it off, or it would reach the same target ID's next session.
      const idle = await greeted(socketOf(uri));
      // And one that reads no replies: its answers wait in the connection's writer, which the export's end must stop.
      const stuck = await stalled(socketOf(uri), 16);
      const closed = (conn: net.Socket, what: string) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the destroyed export left ${what} NBD connection open`)), 20_000);
          conn.once('close', () => (clearTimeout(timer), resolve()));
        });
      const cut = Promise.all([closed(idle, 'an idle'), closed(stuck, 'a stalled')]);

      const forced = await iscsiadm(['session', '-r', String(sid), '-u', '--force']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(await sessionCount()).toBe(0);
      // "Then the target is destroyed, then the session logs out": the HBA answered DESTROY_TARGET (a writer left stuck
      // in its send would hold the simulator's daemon thread until the call times out, logged as an HBA error).
      expect(daemon.output()).not.toContain('HBA target of a session');
      stuck.resume(); // reads what the server sent before it closed, then the end
      await cut;
      // The export went with the target: fio's connection is gone, and it ends with an error, not a hang.
      expect(await exited(fio)).not.toBe(0);
      expect(daemon.output()).toContain(`fio (pid ${fio.pid}) still uses the export`);
    } finally {
      fio.kill('SIGKILL');
    }
  }, 120_000);
});

describe.runIf(ready)('forced while a process holds the file system (its working folder in it)', () => {
  it('refused unforced naming the mount; --force unmounts it lazily and logs out without hanging; the holder is left alone', async () => {
    const { sid, uri } = await login();
    const disk = await mountDisk(uri, mnt, true);
    const holder = spawn('sleep', ['600'], { cwd: mnt, stdio: 'ignore' });
    try {
      await new Promise((resolve, reject) => holder.once('spawn', resolve).once('error', reject));
      const refused = await iscsiadm(['session', '-r', String(sid), '-u']);
      expect(refused.code).toBe(28);
      expect(refused.stderr).toContain(`the volume mounted at ${mnt}`);
      const forced = await iscsiadm(['session', '-r', String(sid), '-u', '--force']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(isMountPoint(mnt)).toBe(false); // detached from the tree at once; the file system ends with its last user
      expect(daemon.output()).toContain(`unmounted ${mnt} lazily (it was busy: `);
      expect(await sessionCount()).toBe(0);
      expect(holder.exitCode).toBeNull(); // iscsid kills nobody
    } finally {
      holder.kill('SIGKILL');
      await exited(holder);
      await disk.unmount();
    }
  }, 120_000);
});

describe.runIf(ready)('iscsid stopping with the file system mounted', () => {
  it('unmounts it first, logs out, and stops; the data is there after a restart', async () => {
    const { uri } = await login();
    const disk = await mountDisk(uri, mnt, true);
    try {
      writeFileSync(path.join(mnt, 'at-stop.bin'), data);
      // No sync: the unmount at shutdown must write it.
      expect(await daemon.stop({ keepDir: true })).toBe(0);
      expect(isMountPoint(mnt)).toBe(false);
      expect(daemon.output()).toContain(`unmounted ${mnt}`);
    } finally {
      await disk.unmount();
    }
    daemon = await startDaemon();
    const again = await login();
    const back = await mountDisk(again.uri, mnt, false);
    try {
      expect(readFileSync(path.join(mnt, 'at-stop.bin')).equals(data)).toBe(true);
    } finally {
      await back.unmount();
    }
  }, 180_000);
});
