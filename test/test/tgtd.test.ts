// Integration tests of the real-target harness against the real tgtd, observed through libiscsi's utilities
// (iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-perf) — an independent initiator, so nothing here trusts our own.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../src/require-tool.js';
import { freePort, startTgtd, TgtdError, type TgtdInstance } from '../src/tgtd.js';

const LIBISCSI_TOOLS = ['iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'iscsi-perf'];
// Skipped without tgt or libiscsi-bin on a developer's machine; under CI a missing one fails the run (issue 9 §7).
const canRun = requireTool('tgtd', 'tgtadm', ...LIBISCSI_TOOLS);
const hasIpv6Loopback = await freePort('::1').then(
  () => true,
  () => false,
);

const CMD_TIMEOUT_MS = 10_000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard time limit; never rejects, the caller asserts on the result. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: CMD_TIMEOUT_MS, encoding: 'utf8', env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls an external condition (tgtd's state cannot notify us) until it holds, bounded in time. */
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A live process (not gone, not a zombie waiting for a parent that never reaps it). */
function alive(pid: number): boolean {
  try {
    const statLine = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = statLine.slice(statLine.lastIndexOf(')') + 2, statLine.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** tgtd processes whose parent is this test process. */
function tgtdChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const statLine = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = statLine.slice(statLine.indexOf('(') + 1, statLine.lastIndexOf(')'));
      const ppid = Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'tgtd' && ppid === process.pid && alive(Number(entry))) pids.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

function tcpRefused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** `Target:<iqn> Portal:<portal>` lines of iscsi-ls, in order. */
function listedTargets(out: string): Array<{ iqn: string; portal: string }> {
  return [...out.matchAll(/^Target:(\S+) Portal:(\S+)$/gm)].map((m) => ({ iqn: m[1] ?? '', portal: m[2] ?? '' }));
}

/** `iscsi-ls -s` output → target → LUN number → device type. */
function listedLuns(out: string): Map<string, Map<number, string>> {
  const result = new Map<string, Map<number, string>>();
  let current: Map<number, string> | undefined;
  for (const line of out.split('\n')) {
    const t = /^Target:(\S+) /.exec(line);
    if (t?.[1] !== undefined) {
      current = new Map();
      result.set(t[1], current);
      continue;
    }
    const l = /^Lun:(\d+)\s+Type:(\S+)/.exec(line);
    if (l?.[1] !== undefined && l[2] !== undefined) current?.set(Number(l[1]), l[2]);
  }
  return result;
}

/** With TMPDIR pointed at a fresh dir, runs `fn`; returns what `fn` left behind in it. */
async function leftoverTempEntries(fn: () => Promise<void>): Promise<string[]> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'tgtd-harness-test-'));
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp; // os.tmpdir() reads TMPDIR on every call
  try {
    await fn();
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
  const left = readdirSync(tmp);
  await rm(tmp, { recursive: true, force: true });
  return left;
}

const IQN_LUNS = 'iqn.2024-01.org.example.harness:two-luns';
const IQN_CHAP = 'iqn.2024-01.org.example.harness:chap';
const IQN_PARAMS = 'iqn.2024-01.org.example.harness:params';
// Test-only credentials. RFC 7143 §12.1.3: secrets of at least 12 bytes, different in each direction.
const INITIATOR = { user: 'harness-initiator', secret: 'initiator-secret-01' };
const TARGET = { user: 'harness-target', secret: 'target-secret-0002' };

describe.skipIf(!canRun)('startTgtd against the real tgtd (skipped when tgt or libiscsi-bin is not installed)', () => {
  let tgt: TgtdInstance;

  beforeAll(async () => {
    tgt = await startTgtd({
      targets: [
        { iqn: IQN_LUNS, luns: [{ sizeBytes: 16 * 1024 * 1024, blockSize: 4096 }, { backing: 'null' }] },
        { iqn: IQN_CHAP, chap: { incoming: [INITIATOR], outgoing: TARGET } },
        { iqn: IQN_PARAMS, params: { MaxRecvDataSegmentLength: '65536', ImmediateData: 'No' } },
      ],
    });
  });

  afterAll(async () => {
    await tgt?.stop();
  });

  it('reports where it listens: a loopback portal, its own dir, targets with TIDs 1..n and LUNs 1..n', () => {
    expect(tgt.host).toBe('127.0.0.1');
    expect(tgt.port).toBeGreaterThan(0);
    expect(tgt.portal).toBe(`127.0.0.1:${tgt.port}`);
    expect(alive(tgt.pid)).toBe(true);
    expect(existsSync(tgt.dir)).toBe(true);
    expect(tgt.targets.map((t) => [t.tid, t.iqn, t.luns])).toEqual([
      [1, IQN_LUNS, [1, 2]],
      [2, IQN_CHAP, [1]],
      [3, IQN_PARAMS, [1]],
    ]);
    const [fileLun, nullLun] = tgt.targets[0]?.backingFiles ?? [];
    expect(fileLun?.startsWith(tgt.dir + path.sep)).toBe(true);
    expect(nullLun).toBe('');
  });

  it('SendTargets discovery (RFC 7143 §13.3) lists all three targets at this portal, TPGT 1', async () => {
    const r = await run('iscsi-ls', [`iscsi://${tgt.portal}`]);
    expect(r.code, r.stderr).toBe(0);
    const listed = listedTargets(r.stdout);
    expect(listed.map((t) => t.iqn).sort()).toEqual([IQN_CHAP, IQN_LUNS, IQN_PARAMS].sort());
    for (const t of listed) expect(t.portal).toBe(`${tgt.portal},1`);
  });

  it('each target shows LUN 0 (tgtd controller) and the configured LUNs 1..n as disks (iscsi-ls -s)', async () => {
    // The CHAP target refuses anonymous logins, so iscsi-ls -s needs the credentials; tgtd accepts CHAP everywhere.
    const r = await run('iscsi-ls', ['-s', `iscsi://${INITIATOR.user}%${INITIATOR.secret}@${tgt.portal}`]);
    expect(r.code, r.stderr).toBe(0);
    const luns = listedLuns(r.stdout);
    expect([...(luns.get(IQN_LUNS) ?? [])]).toEqual([
      [0, 'STORAGE_ARRAY_CONTROLLER'],
      [1, 'DIRECT_ACCESS'],
      [2, 'DIRECT_ACCESS'],
    ]);
    expect([...(luns.get(IQN_CHAP) ?? [])]).toEqual([
      [0, 'STORAGE_ARRAY_CONTROLLER'],
      [1, 'DIRECT_ACCESS'],
    ]);
    expect([...(luns.get(IQN_PARAMS) ?? [])]).toEqual([
      [0, 'STORAGE_ARRAY_CONTROLLER'],
      [1, 'DIRECT_ACCESS'],
    ]);
  });

  it('LUN sizes and block sizes are as configured (READ CAPACITY(16), SBC-3): file 16 MiB/4096, null 1 TiB/512', async () => {
    const file = await run('iscsi-readcapacity16', [`iscsi://${tgt.portal}/${IQN_LUNS}/1`]);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).toMatch(/^LOGICAL BLOCK LENGTH IN BYTES:4096$/m);
    expect(file.stdout).toMatch(/^Total size:16777216$/m);
    const nul = await run('iscsi-readcapacity16', [`iscsi://${tgt.portal}/${IQN_LUNS}/2`]);
    expect(nul.code, nul.stderr).toBe(0);
    expect(nul.stdout).toMatch(/^LOGICAL BLOCK LENGTH IN BYTES:512$/m);
    expect(nul.stdout).toMatch(/^Total size:1099511627776$/m);
    const def = await run('iscsi-readcapacity16', ['-s', `iscsi://${tgt.portal}/${IQN_PARAMS}/1`]);
    expect(def.stdout.trim()).toBe(String(64 * 1024 * 1024));
    // Sparse: the 64 MiB default file holds (almost) no blocks.
    const st = await stat(tgt.targets[2]?.backingFiles[0] ?? '');
    expect(st.size).toBe(64 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('INQUIRY (iscsi-inq): LUN 1 is a direct-access disk, LUN 0 the storage array controller', async () => {
    const disk = await run('iscsi-inq', [`iscsi://${tgt.portal}/${IQN_LUNS}/1`]);
    expect(disk.code, disk.stderr).toBe(0);
    expect(disk.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
    const ctl = await run('iscsi-inq', [`iscsi://${tgt.portal}/${IQN_LUNS}/0`]);
    expect(ctl.code, ctl.stderr).toBe(0);
    expect(ctl.stdout).toMatch(/^Peripheral Device Type:STORAGE_ARRAY_CONTROLLER$/m);
  });

  it('CHAP (RFC 7143 §12.1.3): iscsi://user%secret@… logs in; no or wrong credentials are refused', async () => {
    const ok = await run('iscsi-ls', ['-s', `iscsi://${INITIATOR.user}%${INITIATOR.secret}@${tgt.portal}`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(listedLuns(ok.stdout).get(IQN_CHAP)?.get(1)).toBe('DIRECT_ACCESS');

    const anonymous = await run('iscsi-inq', [`iscsi://${tgt.portal}/${IQN_CHAP}/1`]);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/Authentication failure/);
    const wrong = await run('iscsi-inq', [`iscsi://${INITIATOR.user}%wrong-secret-000@${tgt.portal}/${IQN_CHAP}/1`]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Authentication failure/);
  });

  it('mutual CHAP (RFC 7143 §12.1.3): the target proves the outgoing secret; a wrong expected secret fails', async () => {
    const base = `iscsi://${INITIATOR.user}%${INITIATOR.secret}@${tgt.portal}/${IQN_CHAP}/1`;
    const mutual = await run('iscsi-inq', [`${base}?target_user=${TARGET.user}&target_password=${TARGET.secret}`]);
    expect(mutual.code, mutual.stderr).toBe(0);
    expect(mutual.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
    const impostor = await run('iscsi-inq', [`${base}?target_user=${TARGET.user}&target_password=not-the-target-1`]);
    expect(impostor.code).not.toBe(0);
    expect(impostor.stderr).toMatch(/CHAP_R/);
  });

  it('target params (RFC 7143 §13.11, §13.12) are set at start and by setTargetParam; bad ones reject', async () => {
    const show = (tid: number): Promise<string> => tgt.tgtadm(['--mode', 'target', '--op', 'show', '--tid', String(tid)]);
    const before = await show(3);
    expect(before).toMatch(/^MaxRecvDataSegmentLength=65536$/m);
    expect(before).toMatch(/^ImmediateData=No$/m);
    expect(await show(1)).toMatch(/^MaxRecvDataSegmentLength=8192$/m); // tgt's default, untouched elsewhere

    await tgt.setTargetParam(IQN_PARAMS, 'MaxRecvDataSegmentLength', '16384');
    await tgt.setTargetParam(IQN_PARAMS, 'HeaderDigest', 'CRC32C,None');
    const after = await show(3);
    expect(after).toMatch(/^MaxRecvDataSegmentLength=16384$/m);
    expect(after).toMatch(/^HeaderDigest=CRC32C$/m);

    // §13.12: 512 is the smallest legal MaxRecvDataSegmentLength; tgtd refuses 100.
    await expect(tgt.setTargetParam(IQN_PARAMS, 'MaxRecvDataSegmentLength', '100')).rejects.toThrow(TgtdError);
    await expect(tgt.setTargetParam(IQN_PARAMS, 'NoSuchKey', '1')).rejects.toThrow(/invalid request/);
    await expect(tgt.setTargetParam('iqn.2024-01.org.example:absent', 'MaxBurstLength', '512')).rejects.toThrow(
      /no target/,
    );
  });

  it('connections() counts a logged-in session (iscsi-perf) and drops to 0 after it logs out', async () => {
    expect(await tgt.connections(IQN_LUNS)).toBe(0);
    const perf = spawn('iscsi-perf', ['-t', '20', `iscsi://${tgt.portal}/${IQN_LUNS}/2`], { stdio: 'ignore' });
    try {
      await waitFor('iscsi-perf to log in', async () => (await tgt.connections(IQN_LUNS)) === 1);
      expect(await tgt.connections(IQN_CHAP)).toBe(0);
      expect(await tgt.showTarget()).toMatch(/Initiator: iqn\.2010-11\.libiscsi:iscsi-perf/);
    } finally {
      perf.kill('SIGKILL');
    }
    await waitFor('tgtd to drop the connection', async () => (await tgt.connections(IQN_LUNS)) === 0);
    await expect(tgt.connections('iqn.2024-01.org.example:absent')).rejects.toThrow(TgtdError);
  });

  it('tgtadm() rejects with tgtadm’s stderr on a bad request', async () => {
    await expect(tgt.tgtadm(['--mode', 'target', '--op', 'show', '--tid', '99'])).rejects.toThrow(/can't find the target/);
  });

  it('two instances run at once on different ports, control ports, dirs and processes', async () => {
    const [a, b] = await Promise.all([
      startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example.harness:instance-a' }] }),
      startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example.harness:instance-b' }] }),
    ]);
    try {
      expect(new Set([a.port, b.port, tgt.port]).size).toBe(3);
      expect(new Set([a.controlPort, b.controlPort, tgt.controlPort]).size).toBe(3);
      expect(new Set([a.pid, b.pid, tgt.pid]).size).toBe(3);
      expect(a.dir).not.toBe(b.dir);
      const la = await run('iscsi-ls', [`iscsi://${a.portal}`]);
      const lb = await run('iscsi-ls', [`iscsi://${b.portal}`]);
      expect(listedTargets(la.stdout).map((t) => t.iqn)).toEqual(['iqn.2024-01.org.example.harness:instance-a']);
      expect(listedTargets(lb.stdout).map((t) => t.iqn)).toEqual(['iqn.2024-01.org.example.harness:instance-b']);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('stop() kills tgtd, closes the port, removes its dir and outside backing files; it is idempotent', async () => {
    const outside = await mkdtemp(path.join(os.tmpdir(), 'tgtd-harness-outside-'));
    try {
      const inst = await startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example.harness:stop', luns: [{ dir: outside }] }] });
      const file = inst.targets[0]?.backingFiles[0] ?? '';
      expect(path.dirname(file)).toBe(outside);
      expect(existsSync(file)).toBe(true);
      expect(alive(inst.pid)).toBe(true);

      await inst.stop();
      expect(alive(inst.pid)).toBe(false);
      expect(existsSync(inst.dir)).toBe(false);
      expect(existsSync(file)).toBe(false);
      expect(await tcpRefused(inst.host, inst.port)).toBe(true);
      await inst.stop(); // idempotent
      await expect(inst.tgtadm(['--mode', 'target', '--op', 'show'])).rejects.toThrow(/stopped/);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('Symbol.asyncDispose stops the instance', async () => {
    const inst = await startTgtd({ targets: [] });
    expect(alive(inst.pid)).toBe(true);
    await inst[Symbol.asyncDispose]();
    expect(alive(inst.pid)).toBe(false);
    expect(existsSync(inst.dir)).toBe(false);
  });

  it('a malformed IQN (RFC 7143 §4.2.7: iSCSI name characters) rejects with tgtd’s reason, leaving no process and no temp dir', async () => {
    let error: unknown;
    const left = await leftoverTempEntries(async () => {
      error = await startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example:bad name!' }] }).catch((e: unknown) => e);
    });
    expect(error).toBeInstanceOf(TgtdError);
    expect(String((error as Error).message)).toMatch(/invalid characters/); // from tgtd's own log
    expect(tgtdChildren()).toEqual([tgt.pid]);
    expect(left).toEqual([]);
  });

  it('other bad options reject cleanly: unknown param, tiny start timeout, non-loopback host, null LUN with a size', async () => {
    const left = await leftoverTempEntries(async () => {
      await expect(
        startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example:p', params: { NoSuchKey: '1' } }] }),
      ).rejects.toThrow(/--name NoSuchKey[\s\S]*invalid request/);
      await expect(startTgtd({ targets: [], startTimeoutMs: 1 })).rejects.toThrow(/did not become ready within 1 ms/);
      await expect(startTgtd({ targets: [], host: '192.0.2.1' })).rejects.toThrow(/not a loopback address/);
      await expect(
        startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example:n', luns: [{ backing: 'null', sizeBytes: 1 << 20 }] }] }),
      ).rejects.toThrow(/null backing store is always 1 TiB/);
      await expect(
        startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example:b', luns: [{ blockSize: 1000 }] }] }),
      ).rejects.toThrow(/power of two/);
    });
    expect(tgtdChildren()).toEqual([tgt.pid]);
    expect(left).toEqual([]);
  });

  it('CHAP secrets never appear in error messages', async () => {
    const secret = 'do-not-print-this-secret';
    const add = ['--mode', 'account', '--op', 'new', '--user', 'redaction-check', '--password', secret];
    await tgt.tgtadm(add);
    const err = await tgt.tgtadm(add).catch((e: unknown) => e); // tgtadm: this account already exists
    expect(err).toBeInstanceOf(TgtdError);
    expect((err as Error).message).toMatch(/already exists/);
    expect((err as Error).message).not.toContain(secret);
  });

  const ipv6Name = hasIpv6Loopback
    ? 'IPv6: an instance on [::1] is discovered there and binds ::1 only'
    : 'IPv6: skipped because this machine has no ::1 loopback address';
  it.skipIf(!hasIpv6Loopback)(ipv6Name, async () => {
    const v6 = await startTgtd({ host: '::1', targets: [{ iqn: 'iqn.2024-01.org.example.harness:v6' }] });
    try {
      expect(v6.portal).toBe(`[::1]:${v6.port}`);
      const r = await run('iscsi-ls', [`iscsi://${v6.portal}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(listedTargets(r.stdout)).toEqual([{ iqn: 'iqn.2024-01.org.example.harness:v6', portal: `[::1]:${v6.port},1` }]);
      expect(await tcpRefused('127.0.0.1', v6.port)).toBe(true); // bound to ::1 only
    } finally {
      await v6.stop();
    }
  });

  describe('a process that ends without stop() leaves nothing running', () => {
    let scriptDir: string;
    let script: string;

    beforeAll(async () => {
      scriptDir = await mkdtemp(path.join(os.tmpdir(), 'tgtd-harness-child-'));
      script = path.join(scriptDir, 'child.mjs');
      // Node 24 strips the types of the .ts harness on import; it has no relative imports.
      const harness = pathToFileURL(path.resolve(import.meta.dirname, '../src/tgtd.ts')).href;
      await writeFile(
        script,
        `const { startTgtd } = await import(${JSON.stringify(harness)});
const t = await startTgtd({ targets: [{ iqn: 'iqn.2024-01.org.example.harness:orphan' }] });
process.stdout.write(JSON.stringify({ pid: t.pid, dir: t.dir }) + '\\n');
if (process.argv[2] === 'exit') process.exit(0);
setInterval(() => {}, 1000);
`,
      );
    });

    afterAll(async () => {
      await rm(scriptDir, { recursive: true, force: true });
    });

    async function startChild(mode: 'exit' | 'hang'): Promise<{ child: ReturnType<typeof spawn>; pid: number; dir: string }> {
      const child = spawn(process.execPath, ['--no-warnings', script, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      try {
        await waitFor('the child to report its tgtd', () => out.includes('\n') || child.exitCode !== null);
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
      const line = out.split('\n')[0] ?? '';
      expect(line, err).not.toBe('');
      const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
      return { child, pid, dir };
    }

    it('process.exit(): the exit hook SIGKILLs tgtd and removes its dir', async () => {
      const { pid, dir } = await startChild('exit');
      await waitFor('tgtd to die', () => !alive(pid));
      expect(existsSync(dir)).toBe(false);
    });

    it('SIGKILL of the test process: tgtd dies with it (setpriv --pdeathsig)', async () => {
      const { child, pid, dir } = await startChild('hang');
      try {
        expect(alive(pid)).toBe(true);
        child.kill('SIGKILL');
        await waitFor('tgtd to die', () => !alive(pid));
      } finally {
        // No JS ran in the killed process, so its temp dir is ours to remove.
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
