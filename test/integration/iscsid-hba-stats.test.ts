// iscsid --hba simulator against a real tgtd: the disk's I/O is counted. Issue 12 item 3: "`session.stats`, and so
// `session watch`, now count the real I/O through the HBA." Known amounts go through the NBD export (nbdcopy), then
// sessions.stats, `session -s`, `session -P 3 --json` and `session watch` (spawned as a user runs them) show them.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient, type SessionStats } from '@iscsi-initiator/core/rpc';
import { bin, runCli, type Run } from '../../cli/test/run-cli.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { buildSimulator } from '../src/hba-sim-build.js';
import { requireTool } from '../src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const run = promisify(execFile);
const ready = requireTool('make', 'nbdcopy', 'fio', 'tgtd');
const TARGET = 'iqn.2026-12.test.hba:stats';
const LUN_BYTES = 64 << 20;
/** What nbdcopy writes: random, so no block of it is sent as zeroes instead of data. */
const WRITE_BYTES = 16 << 20;

let tgt: TgtdInstance;
let daemon: IscsidInstance;
let dir: string;
let admin: RpcClient;
let sid: number;
let uri: string;

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

/** The simulator a daemon started (its JSON log line), so the file can stop it if the daemon did not. */
function startedSim(): number | undefined {
  const line = daemon.output().split('\n').find((l) => l.includes('started the HBA simulator'));
  return line === undefined ? undefined : (JSON.parse(line) as { pid: number }).pid;
}

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: LUN_BYTES }] }] });
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsid-hba-stats-'));
  daemon = await startIscsid({ dir, args: ['--hba', 'simulator'] });
  admin = await RpcClient.connect(daemon.socket);
  const login = await iscsiadm(['discovery', '-t', 'st', '-p', tgt.portal, '-l']);
  if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
  sid = (await admin.call('sessions.list'))[0]!.sid;
  const details = await admin.call('sessions.get', { sid });
  uri = details.luns.find((l) => l.disk !== null)?.disk ?? '';
  if (!uri) throw new Error(`no disk attached:\n${daemon.output()}`);
}, 200_000);

afterAll(async () => {
  admin?.close();
  const sim = daemon === undefined ? undefined : startedSim();
  await daemon?.stop();
  if (sim !== undefined) {
    try {
      process.kill(sim, 'SIGKILL'); // normally gone already: a normal shutdown stops the simulator it started
    } catch {
      /* gone */
    }
  }
  await tgt?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(ready)('iscsid --hba simulator: session.stats counts the I/O through the HBA', () => {
  let before: SessionStats;
  let after: SessionStats;
  const work = (): string => mkdtempSync(path.join(dir, 'io-'));

  it('a session with a disk has `hba` stats from its login on; nothing in flight, no error', async () => {
    before = await admin.call('sessions.stats', { sid });
    expect(before.hba).toMatchObject({ inFlight: 0, failures: 0, aborts: 0 });
    // The simulator's probe (INQUIRY, READ CAPACITY, …) already went through the HBA, and through the session.
    expect(before.hba!.commands).toBeGreaterThan(0);
    expect(before.commands).toBeGreaterThanOrEqual(before.hba!.commands);
  });

  it('nbdcopy writes 16 MiB and reads the 64 MiB LUN back through the export: every byte is counted, by the session and by its HBA target', async () => {
    const folder = work();
    const data = randomBytes(WRITE_BYTES);
    writeFileSync(path.join(folder, 'in.img'), data);
    await run('nbdcopy', ['--flush', path.join(folder, 'in.img'), uri], { timeout: 120_000 });
    // --no-extents: every block is read, none skipped as a hole.
    await run('nbdcopy', ['--no-extents', uri, path.join(folder, 'out.img')], { timeout: 120_000 });
    expect(readFileSync(path.join(folder, 'out.img')).subarray(0, WRITE_BYTES).equals(data)).toBe(true);
    rmSync(folder, { recursive: true, force: true });

    after = await admin.call('sessions.stats', { sid });
    const hba = after.hba!;
    expect(hba.targetId).toBe(before.hba!.targetId);
    // The HBA's own count: exactly what nbdcopy moved, as nothing else used the disk meanwhile.
    expect(hba.bytesWritten - before.hba!.bytesWritten).toBe(WRITE_BYTES);
    expect(hba.bytesRead - before.hba!.bytesRead).toBe(LUN_BYTES);
    expect(hba.commands).toBeGreaterThan(before.hba!.commands);
    expect(hba).toMatchObject({ inFlight: 0, failures: 0, aborts: 0 });
    // The session counts the same commands: the disk's I/O runs through it (with the daemon's own, none here).
    expect(after.bytesWritten - before.bytesWritten).toBeGreaterThanOrEqual(WRITE_BYTES);
    expect(after.bytesRead - before.bytesRead).toBeGreaterThanOrEqual(LUN_BYTES);
    expect(after.commands - before.commands).toBeGreaterThanOrEqual(hba.commands - before.hba!.commands);
  }, 200_000);

  it('`session -P 3 --json` and `session -s` show those counters (hba_* lines for the disk)', async () => {
    const p3 = await iscsiadm(['session', '-P', '3', '--json']);
    expect(p3.code, p3.stderr).toBe(0);
    const counters = (JSON.parse(p3.stdout) as Array<{ counters: SessionStats }>)[0]!.counters;
    expect(counters.bytesWritten).toBeGreaterThanOrEqual(after.bytesWritten);
    expect(counters.bytesRead).toBeGreaterThanOrEqual(after.bytesRead);
    expect(counters.hba!.bytesRead).toBe(after.hba!.bytesRead);

    const s = await iscsiadm(['session', '-s']);
    expect(s.code, s.stderr).toBe(0);
    const value = (key: string): number => Number(new RegExp(`^\\t${key}: (\\d+)$`, 'm').exec(s.stdout)?.[1]);
    expect(value('rxdata_octets')).toBeGreaterThanOrEqual(after.bytesRead);
    expect(value('hba_rxdata_octets')).toBe(after.hba!.bytesRead);
    expect(value('hba_txdata_octets')).toBe(after.hba!.bytesWritten);
    expect(value('hba_io_err')).toBe(0);
    expect(value('hba_inflight')).toBe(0);
  });

  it('`session watch --once --json` shows the cumulative bytes and the disk\'s in-flight tasks and errors', async () => {
    const r = await iscsiadm(['session', 'watch', '--once', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const row = (JSON.parse(r.stdout) as { sessions: Array<Record<string, unknown>> }).sessions[0]!;
    expect(row['bytesRead']).toBeGreaterThanOrEqual(after.bytesRead);
    expect(row['bytesWritten']).toBeGreaterThanOrEqual(after.bytesWritten);
    expect(row['hba']).toEqual({ inFlight: 0, failures: 0, aborts: 0 });
  });

  it('`session watch` (not a TTY) shows the read rate of fio running through the disk, with its in-flight tasks', async () => {
    // fio reads until stopped (bounded by its runtime); the watch runs until it printed a line with a read rate.
    const fio = spawn('fio', ['--name=watch', '--ioengine=nbd', `--uri=${uri}`, '--rw=randread', '--bs=64k', '--iodepth=8', '--size=32m', '--time_based', '--runtime=60'], { stdio: 'ignore' });
    const fioExit = new Promise<void>((resolve) => fio.once('exit', () => resolve()));
    try {
      const watch = spawn(process.execPath, [bin, 'session', 'watch', '--socket', daemon.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let moving: string | undefined;
      const timer = setTimeout(() => watch.kill('SIGKILL'), 30_000);
      watch.stdout.on('data', (d) => {
        stdout += d;
        // A line from a session.stats notification ("every 2 s") during the run: reads move, the disk line follows.
        moving ??= stdout.split('\n').find((l) => /read [1-9]\d*\.\d MB\/s .* disk in-flight \d+ errors 0 aborts 0$/.test(l));
        if (moving) watch.kill('SIGINT');
      });
      const code = await new Promise<number | null>((resolve) => watch.once('close', resolve));
      clearTimeout(timer);
      expect(moving, stdout).toMatch(new RegExp(`^sid ${sid} ${TARGET.replace(/\./g, '\\.')} `));
      expect(code).toBe(0);
    } finally {
      fio.kill('SIGTERM');
      await fioExit;
    }
    // Once fio is gone, nothing stays in flight and nothing failed (fio's own end aborts nothing on the HBA).
    const stats = await admin.call('sessions.stats', { sid });
    expect(stats.hba).toMatchObject({ failures: 0 });
    expect(stats.hba!.bytesRead).toBeGreaterThan(after.hba!.bytesRead);
  }, 120_000);

  it('after logout the session and its counters are gone; the HBA target with it', async () => {
    const r = await iscsiadm(['node', '-T', TARGET, '--logout']);
    expect(r.code, r.stderr).toBe(0);
    await expect(admin.call('sessions.stats', { sid })).rejects.toMatchObject({ code: 'ISCSI_SESSION_NOT_FOUND' });
  }, 60_000);
});
