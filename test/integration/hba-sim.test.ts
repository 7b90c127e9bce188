// The HBA simulator (issue 11 item 4) against the RAM-disk test daemon (driver/sim/test_daemon.cc): the daemon's side
// of the rings over the simulator's Unix socket, and the SCSI stack's side through the NBD exports, driven by real
// tools (nbdinfo, fio's nbd engine). Issue 11 "Tests": "the simulator against a minimal in-test daemon side that
// answers tasks from a RAM disk: the probe sequence, then fio with --verify=crc32c through NBD at depths 1 and 32 and
// sizes 512 B to 1 MiB; bad input from the daemon side ... is refused with an error and a log line, and never crashes
// the HBA or completes the wrong task."
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimulator } from '../src/hba-sim-build.js';
import { requireRoot, requireTool } from '../src/require-tool.js';
import { appears } from '../src/fs-wait.js';

const run = promisify(execFile);
const driver = path.resolve(import.meta.dirname, '../../driver');
const bin = path.join(driver, 'build/sim');
const ready = requireTool('make', 'fio', 'nbdinfo');
/** How long the core holds tasks for a daemon that went away (Config::hold_ms), short for the test. */
const HOLD_MS = 1500;

/** A child whose output lines are kept, with a bounded wait for the first line matching a pattern. */
class Proc {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.on('data', (d: Buffer) => {
        const parts = (rest + d.toString()).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) this.push(line);
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }
  private push(line: string): void {
    this.lines.push(line);
    this.waiters = this.waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
  }
  /** The first line matching `re` from line `from` on (earlier lines are other phases' news). */
  waitFor(re: RegExp, ms = 20_000, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; saw:\n${this.lines.join('\n')}`)), ms);
      this.waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

let dir: string;
let sim: Proc;
let daemon: Proc;
const uri = (lun: number): string => `nbd+unix:///?socket=${dir}/t0-lun${lun}.sock`;

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  dir = mkdtempSync(path.join(os.tmpdir(), 'hba-sim-'));
  sim = new Proc(spawn(path.join(bin, 'iscsi-hba-sim'), ['--socket', `${dir}/hba.sock`, '--nbd-dir', dir, '--hold-ms', String(HOLD_MS)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await sim.waitFor(/listening on/);
}, 200_000);

afterAll(async () => {
  for (const p of [daemon, sim]) {
    if (p !== undefined && p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe.runIf(ready)('HBA simulator with the RAM-disk daemon', () => {
  it('refuses a daemon of another ABI version with an error and a log line, and stays up for the next', async () => {
    // Issue 11 item 1: "version handshake (a mismatched peer is refused with a clear error)"; iscsi_hba_abi.h: another
    // major is refused with ISCSI_HBA_E_VERSION_MISMATCH (1), the driver's version always in the answer.
    const wrong = new Proc(spawn(path.join(bin, 'hba-test-daemon'), ['--socket', `${dir}/hba.sock`, '--abi-major', '9'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(await wrong.exited).toBe(3);
    expect(wrong.lines).toContain('daemon: HANDSHAKE refused: error 1, HBA ABI 1.0');
    expect(await sim.waitFor(/refused HANDSHAKE/)).toMatch(/ISCSI_HBA_E_VERSION_MISMATCH\): daemon ABI 9\.0, this HBA 1\.0/);
    expect(sim.child.exitCode).toBeNull();
  });

  it('probes each LUN in the SCSI family order, then serves it over NBD', async () => {
    daemon = new Proc(spawn(path.join(bin, 'hba-test-daemon'), ['--socket', `${dir}/hba.sock`, '--luns', '2', '--mib', '64', '--bad', 'unknown-tag,bad-length,twice'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await sim.waitFor(/target 0 ready with 2 lun\(s\)/);
    await daemon.waitFor(/cdb 00 lun 1/);
    expect(daemon.lines).toContain('daemon: target 0 (new)');
    const cdbs = daemon.lines.filter((l) => l.startsWith('daemon: cdb ')).map((l) => l.slice('daemon: cdb '.length));
    // Issue 11 item 4: REPORT LUNS, INQUIRY with VPD pages 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2, READ CAPACITY (16),
    // MODE SENSE, TEST UNIT READY.
    const perLun = (n: number): string[] => ['12', '12/00', '12/80', '12/83', '12/b0', '12/b1', '12/b2', '9e', '1a', '00'].map((c) => `${c} lun ${n}`);
    expect(cdbs).toEqual(['a0 lun 0', ...perLun(0), ...perLun(1)]);
    await sim.waitFor(/nbd: target 0 lun 1 size 67108864/);
  });

  it('nbdinfo sees the LUN: its size, 512-byte blocks, a 1 MiB maximum transfer, flush and trim', async () => {
    const { stdout } = await run('nbdinfo', ['--json', uri(0)], { timeout: 20_000 });
    const info = JSON.parse(stdout) as { exports: Array<Record<string, unknown>> };
    expect(info.exports[0]).toMatchObject({
      'export-size': 64 * 1024 * 1024,
      block_size_minimum: 512,
      block_size_maximum: 1024 * 1024,
      can_flush: true,
      can_trim: true,
      is_read_only: false,
    });
  });

  it.each([1, 32])('fio --verify=crc32c at depth %i, 512 B to 1 MiB, every I/O across the rings', async (depth) => {
    const { stdout } = await run('fio', [
      `--name=d${depth}`, '--ioengine=nbd', `--uri=${uri(depth === 1 ? 0 : 1)}`, '--rw=randwrite', '--bsrange=512-1m',
      `--iodepth=${depth}`, '--size=24m', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--fsync_on_close=1',
      '--output-format=json',
    ], { timeout: 120_000, maxBuffer: 16 << 20 });
    const job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number }; read: { io_bytes: number } }> }).jobs[0];
    expect(job?.error).toBe(0);
    expect(job?.write.io_bytes).toBe(24 << 20);
    expect(job?.read.io_bytes).toBe(24 << 20); // the verify pass read everything back
    // NBD_CMD_FLUSH became SYNCHRONIZE CACHE (16) at the daemon.
    await daemon.waitFor(/cdb 91 lun/);
  }, 150_000);

  it('a trim becomes UNMAP', async () => {
    const { stdout } = await run('fio', ['--name=trim', '--ioengine=nbd', `--uri=${uri(0)}`, '--rw=randtrim', '--bs=64k', '--size=4m', '--output-format=json'], { timeout: 60_000 });
    expect((JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<{ error: number }> }).jobs[0]?.error).toBe(0);
    await daemon.waitFor(/cdb 42 lun 0/);
  }, 90_000);

  it('refused the bad completions the daemon sent, each with a log line, and completed no task wrongly', () => {
    // The fio runs above verified every byte, so no task took a forged, stale or duplicated completion's status;
    // here: each kind was seen and refused, and the HBA is still up.
    expect(daemon.lines).toContain('daemon: injected completions for unknown tags');
    expect(daemon.lines).toContain('daemon: injected completions with impossible lengths');
    expect(daemon.lines).toContain('daemon: injected a second completion');
    // Each refusal is logged with its iscsi_hba_error code (iscsi_hba_abi.h: "also the code of every log line the core
    // writes about a bad descriptor"); 3 injections of each kind.
    const refused = sim.lines.filter((l) => l.includes('completion refused'));
    const count = (code: string): number => refused.filter((l) => l.includes(`(${code})`)).length;
    expect(count('ISCSI_HBA_E_UNKNOWN_TAG')).toBe(3); // tag 0xffff
    expect(count('ISCSI_HBA_E_BAD_LENGTH')).toBe(9); // residual > transfer, sense 253 bytes, data beyond the transfer
    expect(count('ISCSI_HBA_E_BAD_DESCRIPTOR')).toBe(3); // overflow and underflow at once
    // A forged generation (3) and the second completion (3): DUPLICATE while the tag is free, STALE once reused.
    expect(count('ISCSI_HBA_E_DUPLICATE_COMPLETION')).toBeGreaterThanOrEqual(1);
    expect(count('ISCSI_HBA_E_STALE_GENERATION') + count('ISCSI_HBA_E_DUPLICATE_COMPLETION')).toBe(6);
    expect(refused).toHaveLength(21);
    expect(sim.child.exitCode).toBeNull();
    expect(daemon.child.exitCode).toBeNull();
  });

  it.runIf(requireRoot('nbdfuse, losetup and mount') && requireTool('nbdfuse', 'fusermount3', 'losetup', 'mkfs.ext4', 'mount', 'umount'))(
    'a real file system: nbdfuse + losetup + mkfs.ext4 + mount, a file written, remounted on a fresh loop device, read back',
    async () => {
      // Issue 11 item 4: "nbdfuse + losetup + mkfs.ext4 + mount ... see a real disk whose every I/O crosses the ring".
      const fuse = path.join(dir, 'fuse');
      const mnt = path.join(dir, 'mnt');
      mkdirSync(fuse);
      mkdirSync(mnt);
      const pidfile = path.join(dir, 'nbdfuse.pid');
      const data = randomFillSync(Buffer.alloc(3 << 20));
      const nbdfuse = new Proc(spawn('nbdfuse', ['-P', pidfile, path.join(fuse, 'disk'), uri(1)], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const loops: string[] = [];
      const attach = async (): Promise<string> => {
        const { stdout } = await run('losetup', ['--find', '--show', path.join(fuse, 'disk')], { timeout: 20_000 });
        loops.push(stdout.trim());
        return stdout.trim();
      };
      try {
        await appears(pidfile, 20_000);
        const loop = await attach();
        await run('mkfs.ext4', ['-q', '-F', loop], { timeout: 60_000 });
        await run('mount', [loop, mnt], { timeout: 30_000 });
        writeFileSync(path.join(mnt, 'f.bin'), data);
        await run('umount', [mnt], { timeout: 30_000 });
        await run('losetup', ['-d', loops.pop() ?? ''], { timeout: 20_000 });
        // A fresh loop device has no cached pages: the read below comes through the rings.
        await run('mount', [await attach(), mnt], { timeout: 30_000 });
        expect(readFileSync(path.join(mnt, 'f.bin')).equals(data)).toBe(true);
        await run('umount', [mnt], { timeout: 30_000 });
      } finally {
        await run('umount', [mnt]).catch(() => undefined);
        for (const l of loops) await run('losetup', ['-d', l]).catch(() => undefined);
        await run('fusermount3', ['-u', fuse]).catch(() => undefined);
        if (nbdfuse.child.exitCode === null) await nbdfuse.exited;
      }
      expect(await daemon.waitFor(/cdb 91 lun 1/)).toBeDefined(); // the file system's flushes reached the daemon
    },
    150_000,
  );

  it('a daemon that goes away: its tasks are held, then failed after the hold time; one that comes back gets its target and held tasks', async () => {
    // Issue 11 item 2: "When the daemon goes away tasks are held for a grace period, then failed with a status that
    // makes the SCSI stack give up ...; when a daemon comes back it reattaches (handshake, targets, held tasks
    // re-issued)."
    const fioRead = (name: string): Promise<{ stdout: string }> =>
      run('fio', [`--name=${name}`, '--ioengine=nbd', `--uri=${uri(0)}`, '--rw=read', '--bs=4k', '--size=64k', '--output-format=json'], { timeout: 30_000 });
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await sim.waitFor(/daemon disconnected/);
    // Away longer than the hold: the read fails (EIO) once the core gives up on the daemon.
    await expect(fioRead('gone')).rejects.toMatchObject({ stdout: expect.stringMatching(/"error" : 5/) });
    expect(await sim.waitFor(/no daemon for \d+ ms: \d+ held tasks failed/)).toContain(`no daemon for ${HOLD_MS} ms`);
    // Back: the same key gets the same target, and I/O flows again.
    const back = (): Proc => new Proc(spawn(path.join(bin, 'hba-test-daemon'), ['--socket', `${dir}/hba.sock`, '--luns', '2', '--mib', '64'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    daemon = back();
    expect(await daemon.waitFor(/daemon: target/)).toBe('daemon: target 0 (existed)');
    await sim.waitFor(/target 0 reattached/);
    const { stdout } = await run('nbdinfo', ['--size', uri(0)], { timeout: 20_000 });
    expect(stdout.trim()).toBe(String(64 * 1024 * 1024));
    // Away shorter than the hold: a read issued meanwhile is held, re-issued to the next daemon, and succeeds.
    const mark = sim.lines.length;
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await sim.waitFor(/daemon disconnected/, 20_000, mark);
    const held = fioRead('held');
    await sim.waitFor(/a task arrived while no daemon is attached/, 20_000, mark);
    daemon = back();
    const job = (JSON.parse((await held).stdout.slice((await held).stdout.indexOf('{'))) as { jobs: Array<{ error: number; read: { io_bytes: number } }> }).jobs[0];
    expect(job?.error).toBe(0);
    expect(job?.read.io_bytes).toBe(64 * 1024);
  }, 60_000);
});
