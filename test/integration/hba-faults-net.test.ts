// The disk through network faults (issue 12, "Tests on Linux"): iscsid --hba simulator logs in to a real tgtd through
// the fault proxy, and fio works on the LUN's NBD export while the connection is cut, tgtd is killed and restarted, or
// the target stays away past replacement_timeout. The rules, quoted at each test:
// - "20 connection cuts in 60 s (the fault proxy) under fio verify: 0 errors, 0 mismatches."
// - "A tgtd restart mid-run: the run resumes."
// - "`replacement_timeout` expiry: fio gets EIO within the timeout plus 5 s, no hang."
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Run } from '../../cli/test/run-cli.js';
import { RpcClient } from '../../core/src/rpc/index.js';
import { FaultProxy } from '../src/fault-proxy.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { buildSimulator } from '../src/hba-sim-build.js';
import { requireRoot, requireTool } from '../src/require-tool.js';
import { TestTarget } from '../src/test-target/index.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const ready = requireTool('make', 'fio', 'tgtd', 'tgtadm') && requireRoot('tgtd and the HBA simulator');
const TARGET = 'iqn.2026-12.test.hba-faults:disk';
const LUN_BYTES = 64 << 20;
/** The part of the LUN fio works on (its verify state covers it all). */
const FIO_SIZE = '32m';
/** Issue 12: "20 connection cuts in 60 s". */
const CUTS = 20;
const CUT_RUN_S = 60;
/** What replacement_timeout is set to for its test (seconds; open-iscsi's node.session.timeo.replacement_timeout). */
const REPLACEMENT_S = 5;

let dir: string;
/** The LUN's backing file, outside tgtd's own folder: a restarted tgtd serves the same data. */
let backing: string;
let tgt: TgtdInstance;
let proxy: FaultProxy;
let daemon: IscsidInstance;
let rpc: RpcClient;
let watch: SessionWatch;
let sid: number;
let uri: string;
const simPids: number[] = [];

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

/** Rejects after `ms`: every wait here is bounded. */
function within<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** What the daemon announces (events.subscribe): state changes, and each session's counters every 2 s. */
class SessionWatch {
  /** 'logged-in' announcements per sid: the first login, then one per recovery. */
  readonly #logins = new Map<number, number>();
  readonly states = new Map<number, string>();
  /** Commands completed, from the last session.stats announcement. */
  readonly #commands = new Map<number, number>();
  readonly #waiters = new Set<() => void>();

  constructor(client: RpcClient) {
    client.onNotification((n) => {
      if (n.method === 'session.stateChanged') {
        this.states.set(n.params.sid, n.params.state);
        if (n.params.state === 'logged-in') this.#logins.set(n.params.sid, this.logins(n.params.sid) + 1);
      } else if (n.method === 'session.stats') {
        this.#commands.set(n.params.sid, n.params.commands);
      } else {
        return;
      }
      for (const wake of [...this.#waiters]) wake();
    });
  }

  /** Resolves once `predicate` holds, checked now and at each announcement; rejects after `ms`. */
  until(predicate: () => boolean, what: string, ms: number): Promise<void> {
    let check: () => void = () => {};
    const holds = new Promise<void>((resolve) => {
      check = () => predicate() && resolve();
      this.#waiters.add(check);
      check();
    });
    return within(holds, what, ms).finally(() => this.#waiters.delete(check));
  }

  logins(s: number): number {
    return this.#logins.get(s) ?? 0;
  }

  /** Resolves once the daemon has announced `n` more completed commands than now: I/O is under way. */
  async commandsFlow(s: number, n: number, ms: number): Promise<void> {
    const from = (await stats()).commands;
    await this.until(() => (this.#commands.get(s) ?? 0) >= from + n, `${n} commands through the session`, ms);
  }
}

interface FioJob {
  error: number;
  read: { io_bytes: number };
  write: { io_bytes: number };
}

interface FioRun {
  /** Exit code, fio's JSON job, stderr, and when it exited (performance.now()). */
  done: Promise<{ code: number | null; job: FioJob | undefined; stderr: string; stdout: string; exitedAt: number }>;
  exited: () => boolean;
}

/** fio on the LUN's NBD export; killed if it outlives `ms` (then `done` still settles, with its output so far). */
function fio(args: string[], ms: number): FioRun {
  const child = spawn('fio', ['--ioengine=nbd', `--uri=${uri}`, `--size=${FIO_SIZE}`, '--output-format=json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const done = new Promise<{ code: number | null; job: FioJob | undefined; stderr: string; stdout: string; exitedAt: number }>((resolve) => {
    child.once('close', (code) => {
      const exitedAt = performance.now();
      exited = true;
      clearTimeout(timer);
      let job: FioJob | undefined;
      try {
        job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: FioJob[] }).jobs[0];
      } catch {
        job = undefined;
      }
      resolve({ code, job, stderr, stdout, exitedAt });
    });
  });
  return { done, exited: () => exited };
}

/** fio's own verification: crc32c in each written block, checked while it runs (backlog) and in a pass at the end. */
const VERIFY = ['--verify=crc32c', '--do_verify=1', '--verify_backlog=256', '--verify_fatal=1', '--verify_state_save=0'];

/** Resolves at performance.now() ≥ `at`: the fault schedule's clock (the moments cuts are due, not a synchronisation). */
function at(when: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, when - performance.now())));
}

async function stats(): Promise<{ commands: number; reconnects: number; retriedCommands: number }> {
  return rpc.call('sessions.stats', { sid });
}

/** The session's LUN disk as `session -P 3` prints it. */
async function attachedDisk(): Promise<string> {
  const p3 = await iscsiadm(['session', '-P', '3']);
  expect(p3.code, p3.stderr).toBe(0);
  const found = /Attached disk: (nbd\+unix:\/\/\/\?socket=\S+)/.exec(p3.stdout)?.[1];
  expect(found, `session -P 3:\n${p3.stdout}\niscsid:\n${daemon.output()}`).toBeDefined();
  return found!;
}

async function login(): Promise<void> {
  const result = await iscsiadm(['node', '-T', TARGET, '-p', proxy.portal, '--login']);
  expect(result.code, result.stderr).toBe(0);
  const list = await rpc.call('sessions.list');
  sid = list.find((s) => s.targetName === TARGET)!.sid;
  uri = await attachedDisk();
}

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  dir = mkdtempSync(path.join(os.tmpdir(), 'hba-faults-net-'));
  backing = path.join(dir, 'lun1.img');
  writeFileSync(backing, '');
  truncateSync(backing, LUN_BYTES);
  tgt = await startTarget();
  proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
  daemon = await startIscsid({ dir, args: ['--hba', 'simulator'] });
  const sim = daemon.output().split('\n').find((l) => l.includes('started the HBA simulator'));
  if (sim !== undefined) simPids.push((JSON.parse(sim) as { pid: number }).pid);
  // tgtd's SendTargets names its own portal; a discovery portal that names the proxy instead makes the node the
  // proxy's, so every login of the session, recoveries included, crosses it.
  const discovery = await TestTarget.start({ targets: [{ name: TARGET }], advertise: { host: proxy.host, port: proxy.port } });
  try {
    const found = await iscsiadm(['discovery', '-t', 'st', '-p', `${discovery.host}:${discovery.port}`]);
    expect(found.code, found.stderr).toBe(0);
  } finally {
    await discovery.close();
  }
  rpc = await RpcClient.connect(daemon.socket);
  watch = new SessionWatch(rpc);
  await rpc.call('events.subscribe');
  await login();
}, 200_000);

afterAll(async () => {
  rpc?.close();
  // A normal shutdown stops the simulator the daemon started; only if it did not is the simulator killed here.
  if ((await daemon?.stop()) === 0) simPids.length = 0;
  for (const pid of simPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone with its daemon
    }
  }
  await proxy?.close();
  await tgt?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The target as the tests start it (again, after a restart): the same LUN backing file. */
function startTarget(): Promise<TgtdInstance> {
  // DefaultTime2Wait 0 (RFC 7143 §13.15; tgtd's default is 2 s, and the result is the larger): a cut connection is
  // replaced at once, so twenty recoveries leave most of the 60 s to fio.
  return startTgtd({ targets: [{ iqn: TARGET, luns: [{ path: backing }], params: { DefaultTime2Wait: '0' } }] });
}

describe.runIf(ready)('iscsid --hba simulator through network faults (fio on the NBD export)', () => {
  it('after a session reinstatement the first I/O is no error: the UNIT ATTENTION it raises (29h) is re-issued, as a SCSI stack does', async () => {
    // SAM-5 §6.2: the I_T nexus loss of a reinstatement (RFC 7143 §6.3.5) leaves UNIT ATTENTION 29h on each LU; tgtd
    // reports it on the next command. The bridge passes it up; the SCSI stack (here the simulator's NBD server) retries.
    const logins = watch.logins(sid);
    await within(proxy.cut({ mode: 'rst' }), 'the cut', 10_000);
    await watch.until(() => watch.logins(sid) > logins, 'the recovery', 30_000);
    const result = await fio(['--name=first-io', '--rw=read', '--bs=64k', '--size=1m'], 30_000).done;
    expect(result.job?.error, `${result.stderr}${result.stdout}`).toBe(0);
    expect(result.job?.read.io_bytes).toBe(1 << 20);
  }, 60_000);

  it(`${CUTS} connection cuts in ${CUT_RUN_S} s under fio verify: 0 errors, 0 mismatches (issue 12)`, async () => {
    const before = await stats();
    const cutsBefore = proxy.stats.cuts;
    const loginsBefore = watch.logins(sid);
    const run = fio(['--name=cuts', '--rw=randrw', '--bsrange=4k-1m', '--iodepth=32', '--time_based', `--runtime=${CUT_RUN_S}`, ...VERIFY], 150_000);
    // The cuts, spread evenly over the run, each only once the session is logged in again (a cut during a login would
    // be a failed login, not a connection cut): resets and FINs alternate (RFC 7143 §7.1.1, a connection that fails).
    const start = performance.now();
    const spacing = ((CUT_RUN_S - 5) * 1000) / CUTS;
    for (let i = 0; i < CUTS; i++) {
      await at(start + (i + 1) * spacing);
      await watch.until(() => watch.logins(sid) >= loginsBefore + i && watch.states.get(sid) === 'logged-in', `recovery ${i}`, 30_000);
      if (run.exited()) {
        const early = await run.done;
        expect.fail(`fio ended before cut ${i + 1} (exit ${early.code}): ${early.stderr}\n${JSON.stringify(early.job)}\niscsid:\n${daemon.output().slice(-4000)}`);
      }
      await within(proxy.cut({ mode: i % 2 === 0 ? 'rst' : 'fin' }), `cut ${i + 1}`, 10_000);
    }
    await watch.until(() => watch.logins(sid) >= loginsBefore + CUTS, 'the last recovery', 30_000);
    const result = await run.done;
    expect(result.job, `fio: ${result.stderr}${result.stdout}`).toBeDefined();
    // 0 errors, 0 mismatches: a verify mismatch is fatal (--verify_fatal) and would be fio's error (EILSEQ).
    expect(result.job!.error, result.stderr).toBe(0);
    expect(result.code, result.stderr).toBe(0);
    expect(result.job!.write.io_bytes).toBeGreaterThan(0);
    expect(result.job!.read.io_bytes).toBeGreaterThan(0);
    // The cuts really happened, and each was a recovery of the one session (its reconnects counter, as iscsiadm shows it).
    expect(proxy.stats.cuts - cutsBefore).toBe(CUTS);
    const shown = await iscsiadm(['session', '-r', String(sid), '-s', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { reconnects: number }).reconnects - before.reconnects).toBe(CUTS);
    // The cuts caught commands in flight, which the session re-issued on the next connection (RFC 7143 §6.3.5).
    expect((await stats()).retriedCommands).toBeGreaterThan(before.retriedCommands);
  }, 200_000);
  it('a tgtd restart mid-run: the run resumes (issue 12)', async () => {
    const before = await stats();
    const logins = watch.logins(sid);
    const run = fio(['--name=restart', '--rw=randrw', '--bsrange=4k-1m', '--iodepth=32', '--time_based', '--runtime=15', ...VERIFY], 120_000);
    await watch.commandsFlow(sid, 200, 30_000); // mid-run
    expect(run.exited(), 'fio ended before the restart').toBe(false);
    // SIGKILL (tgtd ignores SIGTERM while it has targets), then a new tgtd on the same backing file; the proxy, which
    // is the node's portal, forwards to it: to the initiator it is the same target on the same port, restarted.
    await tgt.stop();
    const atRestart = await stats();
    tgt = await startTarget();
    proxy.retarget({ host: tgt.host, port: tgt.port });
    await watch.until(() => watch.logins(sid) > logins, 'the session logged in to the new tgtd', 60_000);
    const result = await run.done;
    expect(result.job, `fio: ${result.stderr}${result.stdout}`).toBeDefined();
    expect(result.job!.error, result.stderr).toBe(0);
    expect(result.code, result.stderr).toBe(0);
    const after = await stats();
    expect(after.reconnects).toBeGreaterThan(before.reconnects);
    // The run resumed: commands completed on the new tgtd.
    expect(after.commands).toBeGreaterThan(atRestart.commands);
  }, 150_000);

  it(`replacement_timeout expiry (${REPLACEMENT_S} s): fio gets EIO within the timeout plus 5 s, no hang (issue 12)`, async () => {
    // open-iscsi's node.session.timeo.replacement_timeout, read at login: set, then log out and in again.
    const update = await iscsiadm(['node', '-T', TARGET, '-p', proxy.portal, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', String(REPLACEMENT_S)]);
    expect(update.code, update.stderr).toBe(0);
    const logout = await iscsiadm(['node', '-T', TARGET, '-p', proxy.portal, '--logout']);
    expect(logout.code, logout.stderr).toBe(0);
    await login();
    const run = fio(['--name=expiry', '--rw=randrw', '--bs=64k', '--iodepth=32', '--time_based', '--runtime=60'], 60_000);
    await watch.commandsFlow(sid, 100, 30_000);
    expect(run.exited(), 'fio ended before the cut').toBe(false);
    // The target goes away: the connection is cut and every new one refused, so the session cannot recover.
    proxy.refuse(true);
    const cutAt = performance.now();
    await within(proxy.cut({ mode: 'rst' }), 'the cut', 10_000);
    const result = await run.done;
    const elapsed = result.exitedAt - cutAt;
    expect(result.job, `fio: ${result.stderr}${result.stdout}`).toBeDefined();
    // EIO (5): the bridge failed the waiting tasks with TARGET_FAILURE, which the NBD server answers with NBD_EIO.
    expect(result.job!.error, result.stderr).toBe(5);
    expect(result.stderr).toMatch(/Input\/output error/);
    // The tasks waited for the session while it recovered, and failed once replacement_timeout had passed.
    expect(elapsed, `fio ended ${Math.round(elapsed)} ms after the cut`).toBeGreaterThanOrEqual(REPLACEMENT_S * 1000);
    expect(elapsed, `fio ended ${Math.round(elapsed)} ms after the cut`).toBeLessThanOrEqual((REPLACEMENT_S + 5) * 1000);

    // The target comes back: the session recovers and the disk works again.
    const logins = watch.logins(sid);
    proxy.refuse(false);
    await watch.until(() => watch.logins(sid) > logins, 'the recovery once the target is back', 60_000);
    const again = await fio(['--name=back', '--rw=read', '--bs=64k', '--size=1m'], 30_000).done;
    expect(again.job?.error, `${again.stderr}${again.stdout}`).toBe(0);
  }, 150_000);
});
