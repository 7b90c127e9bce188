// iscsid --hba simulator against a real tgtd (issue 12 item 3): a logged-in session becomes a disk by itself. Issue 12
// "Tests on Linux": "Log in → the LUN's NBD export appears in `session -P 3`. Run `fio --ioengine=nbd --rw=randrw`,
// block sizes 4 KiB to 1 MiB, depth 32, `--verify=crc32c` ... no error"; and "log out, and it goes away cleanly".
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Run } from '../../cli/test/run-cli.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { requireTool } from '../src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const run = promisify(execFile);
const driver = path.resolve(import.meta.dirname, '../../driver');
const ready = requireTool('make', 'fio', 'nbdinfo', 'tgtd');
const TARGET = 'iqn.2026-12.test.hba:disk';
const LUN_BYTES = 64 << 20;

let tgt: TgtdInstance;
let daemon: IscsidInstance;

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

/** The NBD URI of the LUN's disk, as `session -P 3` prints it. */
function attachedDisk(p3: string): string | undefined {
  return /Attached disk: (nbd\+unix:\/\/\/\?socket=\S+)/.exec(p3)?.[1];
}

beforeAll(async () => {
  if (!ready) return;
  const built = spawnSync('make', ['-s', '-C', driver, 'sim'], { encoding: 'utf8', timeout: 180_000 });
  if (built.status !== 0) throw new Error(`make -C driver sim failed:\n${built.stdout}${built.stderr}`);
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: LUN_BYTES }] }] });
  daemon = await startIscsid({ args: ['--hba', 'simulator'] });
}, 200_000);

afterAll(async () => {
  await daemon?.stop();
  await tgt?.stop();
}, 60_000);

describe.runIf(ready)('iscsid --hba simulator: a session becomes a disk', () => {
  let uri: string;

  it('starts the simulator itself (none answered on <state-dir>/hba.sock)', () => {
    expect(daemon.output()).toMatch(/started the HBA simulator/);
    expect(existsSync(path.join(daemon.dir, 'state', 'hba.sock'))).toBe(true);
  });

  it('log in: `session -P 3` shows an "Attached disk:" NBD URI per LUN, and --json its `disk`', async () => {
    const login = await iscsiadm(['discovery', '-t', 'st', '-p', tgt.portal, '-l']);
    expect(login.code, login.stderr).toBe(0);
    const p3 = await iscsiadm(['session', '-P', '3']);
    expect(p3.code, p3.stderr).toBe(0);
    uri = attachedDisk(p3.stdout)!;
    // tgtd's LUN 0 is its controller; the disk is LUN 1, exported as t<target>-lun1.sock in <state-dir>/nbd.
    expect(uri).toMatch(new RegExp(`^nbd\\+unix:///\\?socket=${path.join(daemon.dir, 'state', 'nbd')}/t\\d+-lun1\\.sock$`));
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

  it('log out: the target is destroyed first and its export goes away', async () => {
    const socket = uri.slice(uri.indexOf('socket=') + 'socket='.length);
    const logout = await iscsiadm(['node', '-T', TARGET, '--logout']);
    expect(logout.code, logout.stderr).toBe(0);
    expect(existsSync(socket)).toBe(false);
    await expect(run('nbdinfo', [uri], { timeout: 20_000 })).rejects.toThrow();
  }, 60_000);
});
