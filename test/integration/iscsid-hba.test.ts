// iscsid --hba simulator against a real tgtd (issue 12 item 3): a logged-in session becomes a disk by itself. Issue 12
// "Tests on Linux": "Log in → the LUN's NBD export appears in `session -P 3`. Run `fio --ioengine=nbd --rw=randrw`,
// block sizes 4 KiB to 1 MiB, depth 32, `--verify=crc32c` ... no error"; and "log out, and it goes away cleanly".
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Run } from '../../cli/test/run-cli.js';
import { iscsidCommand, startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { requireTool } from '../src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';
import { vanishes } from '../src/fs-wait.js';
import { mountDisk } from '../src/nbd-disk.js';
import { buildSimulator } from '../src/hba-sim-build.js';

const run = promisify(execFile);
const ready = requireTool('make', 'fio', 'nbdinfo', 'tgtd');
const filesystemTools = ready && requireTool('nbdfuse', 'fusermount3', 'losetup', 'mkfs.ext4', 'mount', 'umount') && process.getuid?.() === 0;
const TARGET = 'iqn.2026-12.test.hba:disk';
const LUN_BYTES = 64 << 20;

let tgt: TgtdInstance;
let daemon: IscsidInstance;
/** One folder for every daemon of this file: a restarted iscsid finds the simulator in its state folder. */
let dir: string;
/** Simulators this file's daemons started (their pids, from the daemon's log), killed at the end if still running. */
const simPids: number[] = [];
const stateDir = (): string => path.join(dir, 'state');
const hbaSocket = (): string => path.join(stateDir(), 'hba.sock');

function startDaemon(): Promise<IscsidInstance> {
  return startIscsid({ dir, args: ['--hba', 'simulator'] });
}

/** The pid of the simulator a daemon says it started (its JSON log line), or undefined when it reattached. */
function startedSim(d: IscsidInstance): number | undefined {
  const line = d.output().split('\n').find((l) => l.includes('started the HBA simulator'));
  return line === undefined ? undefined : (JSON.parse(line) as { pid: number }).pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

/** The NBD URI of the LUN's disk, as `session -P 3` prints it. */
function attachedDisk(p3: string): string | undefined {
  return /Attached disk: (nbd\+unix:\/\/\/\?socket=\S+)/.exec(p3)?.[1];
}

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: LUN_BYTES }] }] });
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsid-hba-'));
  daemon = await startDaemon();
}, 200_000);

afterAll(async () => {
  await daemon?.stop();
  for (const pid of simPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await tgt?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(ready)('iscsid --hba', () => {
  it('dext off macOS: refused at start with a clear error, exit 1', () => {
    const other = mkdtempSync(path.join(os.tmpdir(), 'iscsid-dext-'));
    try {
      const command = iscsidCommand({ dir: other, args: ['--hba', 'dext'] });
      const result = spawnSync(command.file, command.args, { encoding: 'utf8', timeout: 20_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/ISCSI_BAD_ARGUMENT: --hba dext needs macOS's driver extension/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('an unknown kind is refused', () => {
    const other = mkdtempSync(path.join(os.tmpdir(), 'iscsid-dext-'));
    try {
      const command = iscsidCommand({ dir: other, args: ['--hba', 'floppy'] });
      const result = spawnSync(command.file, command.args, { encoding: 'utf8', timeout: 20_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/--hba floppy: expected dext, simulator, none/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe.runIf(ready)('iscsid --hba simulator: a session becomes a disk', () => {
  let uri: string;

  it('starts the simulator itself (none answered on <state-dir>/hba.sock)', () => {
    const pid = startedSim(daemon);
    expect(pid).toBeDefined();
    simPids.push(pid!);
    expect(existsSync(hbaSocket())).toBe(true);
  });

  it('log in: `session -P 3` shows an "Attached disk:" NBD URI per LUN, and --json its `disk`', async () => {
    const login = await iscsiadm(['discovery', '-t', 'st', '-p', tgt.portal, '-l']);
    expect(login.code, login.stderr).toBe(0);
    const p3 = await iscsiadm(['session', '-P', '3']);
    expect(p3.code, p3.stderr).toBe(0);
    uri = attachedDisk(p3.stdout)!;
    // tgtd's LUN 0 is its controller; the disk is LUN 1, exported as t<target>-lun1.sock in <state-dir>/nbd.
    expect(uri, `session -P 3:\n${p3.stdout}\niscsid:\n${daemon.output()}`).toMatch(new RegExp(`^nbd\\+unix:///\\?socket=${path.join(stateDir(), 'nbd')}/t\\d+-lun1\\.sock$`));
    const json = await iscsiadm(['session', '-P', '3', '--json']);
    expect(JSON.parse(json.stdout)[0].luns).toEqual([expect.objectContaining({ lun: 1, disk: uri })]);
  }, 60_000);

  it('nbdinfo on the URI sees the LUN: its size', async () => {
    const { stdout } = await run('nbdinfo', ['--json', uri], { timeout: 20_000 });
    const info = JSON.parse(stdout) as { exports: Array<{ 'export-size': number }> };
    expect(info.exports[0]?.['export-size']).toBe(LUN_BYTES);
  });

  it('fio randrw through the HBA, 4 KiB to 1 MiB, depth 32, --verify=crc32c: no error', async () => {
    const { stdout } = await run('fio', [
      '--name=hba', '--ioengine=nbd', `--uri=${uri}`, '--rw=randrw', '--bsrange=4k-1m', '--iodepth=32', '--size=32m',
      '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--output-format=json',
    ], { timeout: 180_000, maxBuffer: 16 << 20 });
    const job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number }; read: { io_bytes: number } }> }).jobs[0];
    expect(job?.error).toBe(0);
    expect(job?.write.io_bytes).toBeGreaterThan(0);
    expect(job?.read.io_bytes).toBeGreaterThan(0);
  }, 200_000);

  it.runIf(filesystemTools)('a filesystem through the HBA: nbdfuse + losetup + mkfs.ext4 + mount; a file written, unmounted, mounted again and read back', async () => {
    const mnt = mkdtempSync(path.join(os.tmpdir(), 'iscsid-hba-mnt-'));
    try {
      const data = randomBytes(3 << 20);
      let disk = await mountDisk(uri, mnt, true);
      try {
        writeFileSync(path.join(mnt, 'file.bin'), data);
        await run('sync', [], { timeout: 30_000 });
      } finally {
        await disk.unmount();
      }
      // A fresh nbdfuse and loop device: what is read comes from the LUN, through the HBA, not a page cache.
      disk = await mountDisk(uri, mnt, false);
      try {
        expect(readFileSync(path.join(mnt, 'file.bin')).equals(data)).toBe(true);
      } finally {
        await disk.unmount();
      }
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  }, 180_000);

  it('log out: the target is destroyed first and its export goes away', async () => {
    const socket = uri.slice(uri.indexOf('socket=') + 'socket='.length);
    const logout = await iscsiadm(['node', '-T', TARGET, '--logout']);
    expect(logout.code, logout.stderr).toBe(0);
    expect(existsSync(socket)).toBe(false);
    await expect(run('nbdinfo', [uri], { timeout: 20_000 })).rejects.toThrow();
  }, 60_000);

  it('a normal shutdown stops the simulator it started (issue 12: "A normal iscsid shutdown stops a simulator that it started")', async () => {
    const pid = startedSim(daemon)!;
    expect(await daemon.stop()).toBe(0);
    // iscsid waited for its child's exit before its own: the simulator is gone, its control socket with it.
    expect(alive(pid)).toBe(false);
    expect(existsSync(hbaSocket())).toBe(false);
  }, 60_000);

  it('kill -9 iscsid: the simulator outlives it, and a restarted iscsid reattaches: the same node gets the same disk', async () => {
    daemon = await startDaemon();
    const pid = startedSim(daemon)!;
    simPids.push(pid);
    const login = await iscsiadm(['node', '-T', TARGET, '--login']);
    expect(login.code, login.stderr).toBe(0);
    const before = attachedDisk((await iscsiadm(['session', '-P', '3'])).stdout);
    expect(before).toBeDefined();
    const exited = new Promise((resolve) => daemon.child.once('exit', resolve));
    daemon.child.kill('SIGKILL');
    await exited;
    // "The simulator outlives a crashed daemon, as a dext does".
    expect(alive(pid)).toBe(true);
    expect(existsSync(hbaSocket())).toBe(true);
    await daemon.stop(); // already gone: only cleans up

    daemon = await startDaemon();
    expect(startedSim(daemon)).toBeUndefined();
    expect(daemon.output()).toMatch(/reattached to the running HBA simulator/);
    const again = await iscsiadm(['node', '-T', TARGET, '--login']);
    expect(again.code, again.stderr).toBe(0);
    // The same key (target name, portal group tag) gets the same HBA target, so the same disk.
    const after = attachedDisk((await iscsiadm(['session', '-P', '3'])).stdout);
    expect(after).toBe(before);
    const { stdout } = await run('nbdinfo', ['--json', after!], { timeout: 20_000 });
    expect((JSON.parse(stdout) as { exports: Array<{ 'export-size': number }> }).exports[0]?.['export-size']).toBe(LUN_BYTES);

    // A daemon that only reattached leaves the simulator running when it stops normally (it is not its to stop).
    expect(await daemon.stop()).toBe(0);
    expect(alive(pid)).toBe(true);
    process.kill(pid, 'SIGTERM');
    await vanishes(hbaSocket(), 10_000);
  }, 120_000);
});
