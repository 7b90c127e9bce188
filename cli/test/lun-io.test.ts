// `iscsiadm lun read`, `lun write` and `lun bench` run as a user runs them: the built bin, spawned, against a real tgtd.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../../test/src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/run.js');
const IQN = 'iqn.2026-11.test.cli:lun-io';
const hasScript = requireTool('script'); // util-linux; under CI its absence fails the run (issue 9 §7)

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

let runs = 0;

/**
 * Runs iscsiadm with `input` (or nothing) on stdin; stdout is kept as bytes. Bounded: SIGKILL after 25 s. Each run
 * logs in as its own initiator: runs in parallel with one name would share an ISID, and a login with the ISID of a
 * live session reinstates it (RFC 7143 §4.3.3), closing the other run's session.
 */
function iscsiadm(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ISCSI_INITIATOR_NAME: `iqn.2026-11.io.github.iscsi-initiator:lun-io-test-${++runs}` },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d) => (stderr += d));
    if (input !== undefined) {
      child.stdin!.on('error', () => {}); // the command may refuse before reading all of it
      child.stdin!.end(input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** The same under `script`, so stdout and stderr are a terminal. */
function iscsiadmOnTty(args: string[]): Promise<Run> {
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

function expectOneLineError(run: Run, pattern: RegExp): void {
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iscsiadm: /);
  expect(lines[0]).toMatch(pattern);
}

let tgt: TgtdInstance;
let dir: string;
let io: string; // LUN 1, 32 MiB of 512-byte blocks: read/write tests and the unverified bench modes
let verifyLun: string; // LUN 2, 16 MiB: only the --verify run writes it
let bigBlocks: string; // LUN 3, 8 MiB of 4096-byte blocks

beforeAll(async () => {
  tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 32 << 20 }, { sizeBytes: 16 << 20 }, { sizeBytes: 8 << 20, blockSize: 4096 }] }] });
  dir = await mkdtemp(path.join(os.tmpdir(), 'lun-io-'));
  io = `iscsi://${tgt.portal}/${IQN}/1`;
  verifyLun = `iscsi://${tgt.portal}/${IQN}/2`;
  bigBlocks = `iscsi://${tgt.portal}/${IQN}/3`;
});

afterAll(async () => {
  await tgt?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('iscsiadm lun write / lun read (SBC-3 READ/WRITE, block size from READ CAPACITY 16)', () => {
  it('-i FILE then -o FILE: the same bytes come back (3 MiB + 3 blocks: several 1 MiB commands and a short one)', async () => {
    const data = randomBytes((3 << 20) + 3 * 512);
    const input = path.join(dir, 'in.bin');
    const output = path.join(dir, 'out.bin');
    await writeFile(input, data);
    const w = await iscsiadm(['lun', 'write', io, '--lba', '100', '-i', input]);
    expect(w.code).toBe(0);
    expect(w.stdout.length).toBe(0);
    expect(w.stderr).toMatch(new RegExp(`^Wrote ${data.length} bytes \\(${data.length / 512} blocks of 512\\) from .* at LBA 100 in [\\d.]+ s`));
    const r = await iscsiadm(['lun', 'read', io, '--lba', '100', '--blocks', String(data.length / 512), '-o', output]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect((await readFile(output)).equals(data)).toBe(true);
  });

  it('stdin then stdout: stdout carries exactly the bytes and nothing else', async () => {
    const data = randomBytes(1 << 20);
    const w = await iscsiadm(['lun', 'write', io, '--lba', '20000'], data);
    expect(w.code).toBe(0);
    const r = await iscsiadm(['lun', 'read', io, '--lba', '20000', '--blocks', String(data.length / 512)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(data)).toBe(true);
  });

  it('--json: write prints only its JSON summary; read needs -o and prints only JSON', async () => {
    const w = await iscsiadm(['lun', 'write', io, '--lba', '30000', '--json'], randomBytes(4096));
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout.toString())).toMatchObject({ lba: 30000, blocks: 8, blockLength: 512, bytes: 4096, input: '-' });
    const output = path.join(dir, 'json.bin');
    const r = await iscsiadm(['lun', 'read', io, '--lba', '30000', '--blocks', '8', '-o', output, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ lba: 30000, blocks: 8, blockLength: 512, bytes: 4096, output });
    const refused = await iscsiadm(['lun', 'read', io, '--blocks', '1', '--json']);
    expect(refused.code).toBe(7);
    expect(JSON.parse(refused.stdout.toString()).error.code).toBe('ISCSI_BAD_ARGUMENT');
  });

  it('input that is not a whole number of blocks exits 7 with one line, from a file (nothing written) or a pipe', async () => {
    const input = path.join(dir, 'odd.bin');
    await writeFile(input, randomBytes(1000));
    const before = await iscsiadm(['lun', 'read', io, '--lba', '40000', '--blocks', '2']);
    const file = await iscsiadm(['lun', 'write', io, '--lba', '40000', '-i', input]);
    expect(file.code).toBe(7);
    expectOneLineError(file, /the input is 1000 bytes, not a multiple of the LUN's 512-byte blocks/);
    const after = await iscsiadm(['lun', 'read', io, '--lba', '40000', '--blocks', '2']);
    expect(after.stdout.equals(before.stdout)).toBe(true);
    const pipe = await iscsiadm(['lun', 'write', bigBlocks, '--lba', '0'], randomBytes(4096 + 512));
    expect(pipe.code).toBe(7);
    expectOneLineError(pipe, /4608 bytes, not a multiple of the LUN's 4096-byte blocks/);
  });

  it('a range past the end of the LUN exits 7 (read and write)', async () => {
    const r = await iscsiadm(['lun', 'read', io, '--lba', String(65536 - 1), '--blocks', '2', '-o', path.join(dir, 'x.bin')]);
    expect(r.code).toBe(7);
    expectOneLineError(r, /runs past the end of the LUN \(65536 blocks of 512 bytes\)/);
    const w = await iscsiadm(['lun', 'write', io, '--lba', '65535'], randomBytes(1024));
    expect(w.code).toBe(7);
    expectOneLineError(w, /past the end of the LUN/);
  });

  it.skipIf(!hasScript)('read refuses to write binary to a terminal without -o (exit 7, one line)', async () => {
    const run = await iscsiadmOnTty(['lun', 'read', io, '--blocks', '1']);
    expect(run.code).toBe(7);
    expect(run.stdout.toString().trim()).toBe('iscsiadm: refusing to write binary data to a terminal: give -o FILE or redirect stdout');
  });
});

describe('iscsiadm lun bench', () => {
  it('randrw --bs 4k --qd 8 --time 2 --verify --json: only JSON, the documented shape, no mismatch', async () => {
    const run = await iscsiadm(['lun', 'bench', verifyLun, '--rw', 'randrw', '--bs', '4k', '--qd', '8', '--time', '2', '--verify', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout.toString());
    expect(Object.keys(r)).toEqual(['rw', 'bs', 'qd', 'seconds', 'ios', 'bytes', 'iops', 'mibps', 'latencyUs', 'errors', 'verify', 'recovery']);
    expect(r).toMatchObject({ rw: 'randrw', bs: 4096, qd: 8, errors: 0, verify: { mismatches: 0, firstMismatch: null } });
    // No connection trouble here: recovery counters stay at zero.
    expect(r.recovery).toEqual({ reconnects: 0, retriedCommands: 0, connectionFailures: 0, recoveryMs: 0 });
    expect(r.seconds).toBeGreaterThanOrEqual(2);
    expect(r.ios).toBeGreaterThan(0);
    expect(r.bytes).toBe(r.ios * 4096);
    // The final re-read alone checks all 32768 blocks of the 16 MiB LUN (the default region is min(LUN, 64 MiB)).
    expect(r.verify.checked).toBeGreaterThan(32768);
    expect(r.latencyUs.p50).toBeGreaterThan(0);
    expect(r.latencyUs.p50).toBeLessThanOrEqual(r.latencyUs.p99);
    expect(r.latencyUs.p99).toBeLessThanOrEqual(r.latencyUs.max);
  });

  it('--coalesce at QD 32 with --verify: writes and reads held back and sent in batches lose and corrupt nothing', async () => {
    const run = await iscsiadm(['lun', 'bench', verifyLun, '--rw', 'randrw', '--bs', '4k', '--qd', '32', '--time', '1', '--verify', '--coalesce', '--json']);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout.toString());
    expect(r).toMatchObject({ qd: 32, errors: 0, verify: { mismatches: 0, firstMismatch: null } });
    expect(r.verify.checked).toBeGreaterThan(32768);
  });

  it('every --rw mode runs for 1 s and does I/O', async () => {
    const runs = await Promise.all(
      ['read', 'write', 'randread', 'randwrite', 'randrw'].map((rw) => iscsiadm(['lun', 'bench', io, '--rw', rw, '--bs', '8k', '--qd', '4', '--time', '1', '--json'])),
    );
    for (const run of runs) {
      expect(run.code).toBe(0);
      const r = JSON.parse(run.stdout.toString());
      expect(r.ios).toBeGreaterThan(0);
      expect(r.errors).toBe(0);
      expect(r.verify).toBeNull();
    }
  });

  it('without --json and off a terminal: a plain summary on stdout, no progress line', async () => {
    const run = await iscsiadm(['lun', 'bench', bigBlocks, '--rw', 'randread', '--bs', '4k', '--qd', '2', '--time', '0.5']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const text = run.stdout.toString();
    expect(text).toMatch(/^randread bs=4KiB qd=2: \d+ I\/Os/);
    expect(text).toMatch(/IOPS \d+ +[\d.]+ MiB\/s/);
    expect(text).toMatch(/latency µs: p50 [\d.]+ +p99 [\d.]+ +max [\d.]+ +mean [\d.]+/);
  });

  it.skipIf(!hasScript)('on a terminal: a live progress line on stderr, redrawn in place and erased before the summary', async () => {
    const run = await iscsiadmOnTty(['lun', 'bench', bigBlocks, '--rw', 'randread', '--bs', '4k', '--qd', '2', '--time', '1']);
    expect(run.code).toBe(0);
    const text = run.stdout.toString();
    expect(text).toMatch(/\r\x1b\[2Krandread [\d.]+\/1s +\d+ IOPS +[\d.]+ MiB\/s +\d+ in flight/);
    expect(text).toMatch(/\r\x1b\[2Krandread bs=4KiB qd=2:/);
  });

  it('--bs 3000 (not a multiple of 512) exits 7 with one line; so does --bs 512 on a 4096-byte LUN', async () => {
    const run = await iscsiadm(['lun', 'bench', io, '--bs', '3000', '--time', '1']);
    expect(run.code).toBe(7);
    expectOneLineError(run, /--bs 3000 is not a multiple of the LUN's 512-byte blocks/);
    const big = await iscsiadm(['lun', 'bench', bigBlocks, '--bs', '512', '--time', '1']);
    expect(big.code).toBe(7);
    expectOneLineError(big, /4096-byte blocks/);
  });

  it('bad SIZE, --time, --rw and region arguments exit 7 without moving any data', async () => {
    for (const [args, message] of [
      [['--bs', '4x'], /--bs "4x" is not a size/],
      [['--time', '0'], /--time 0/],
      [['--size', '1g'], /--size 1GiB runs past the end of the LUN/],
      [['--offset', '1000'], /--offset 1000 is not a multiple/],
      [['--rw', 'sideways'], /Expected --rw=sideways to be one of/],
    ] as const) {
      const run = await iscsiadm(['lun', 'bench', bigBlocks, ...args]);
      expect(run.code).toBe(7);
      expectOneLineError(run, message);
    }
  });
});

describe('help', () => {
  it('read, write and bench document examples and the exit codes', async () => {
    for (const command of ['read', 'write', 'bench']) {
      const run = await iscsiadm(['lun', command, '--help']);
      expect(run.code).toBe(0);
      const text = run.stdout.toString();
      expect(text).toMatch(/EXAMPLES/);
      expect(text).toMatch(/7 invalid argument/);
    }
  });
});
