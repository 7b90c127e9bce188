/**
 * The real-target harness: starts an isolated tgtd (Debian package `tgt`, Linux SCSI target framework) on loopback
 * for integration tests, configures targets/LUNs/CHAP/parameters with tgtadm, and always cleans up.
 *
 * ```ts
 * const tgt = await startTgtd({ targets: [{ iqn: 'iqn.2024-01.test:disk' }] });
 * // … connect an initiator to tgt.host:tgt.port, LUN 1 …
 * await tgt.stop();   // or `await using tgt = await startTgtd(…)`
 * ```
 *
 * Isolation (several instances per process, several test files in parallel):
 * - iSCSI port: tgtd is started with `--iscsi portal=HOST:0`; tgtd binds port 0, so the kernel picks a free port
 *   atomically (no race between choosing and binding), and `tgtadm --mode portal --op show` reports the real port.
 *   Only the loopback address given as `host` is bound (127.0.0.0/8 or ::1).
 * - Control channel: tgtd and tgtadm speak over a Unix socket named `<base>.<controlPort>` plus a lockf(3) lock file
 *   `<base>.<controlPort>.lock`. The default base is /var/run/tgtd/socket, shared by the whole machine; this harness sets
 *   `TGT_IPC_SOCKET=<instance dir>/ipc` (honoured by both tgtd and tgtadm, see tgtd(8)), so every instance's socket and
 *   lock live in its own temp dir and can never collide with another instance or with a system tgtd. The control port
 *   is still unique in this process and avoids numbers present under /var/run/tgtd; if tgtd ever reports "another
 *   tgtd is using" the lock, the start is retried with another number. To poke an instance by hand:
 *   `TGT_IPC_SOCKET=<dir>/ipc tgtadm -C <controlPort> --mode target --op show`.
 * - Files: each instance has its own temp dir (backing files, IPC socket); `stop()` removes it.
 *
 * Hazard handled: if tgtd cannot bind the portal it was given, it silently falls back to the wildcard portal
 * 0.0.0.0:3260 + [::]:3260 (usr/iscsi/iscsi_tcp.c). The harness checks the host is bindable before starting and checks
 * the portal list after start; anything but exactly `host` fails the start (and kills tgtd).
 *
 * Clean-up, in layers: `stop()` (SIGKILL — tgtd ignores SIGTERM while it has targets — wait for exit, remove the temp
 * dir and any backing file created outside it); a synchronous process 'exit' hook that SIGKILLs every tgtd this process
 * still has running and removes their files; and tgtd is exec'd through `setpriv --pdeathsig KILL` (util-linux) when
 * available, so the kernel kills it even if this process dies by a signal (no JS runs then).
 *
 * LUN numbering: tgtd creates LUN 0 itself on every target, a SCSI "storage array controller" (peripheral device type
 * 0x0C) with no storage. The LUNs in `TgtdTarget.luns` become LUN 1, 2, … in order; `targets[i].luns` lists them.
 * Targets get TIDs 1, 2, … in the order given.
 *
 * iSCSI keys tgtd lets you set per target (`setTargetParam`, `TgtdTarget.params`; tgt 1.0.85 usr/iscsi/param.c and
 * target.c). Names are matched case-insensitively; booleans are exactly `Yes`/`No`; an unknown name or an out-of-range
 * value makes tgtadm fail ("invalid request"). Values are what tgtd declares/accepts in login negotiation:
 *   MaxRecvDataSegmentLength  8192    512..16777215   (RFC 7143 §13.12) the target's receive limit
 *   MaxBurstLength            262144  512..16777215   (§13.13) result = min
 *   FirstBurstLength          65536   512..16777215   (§13.14) result = min
 *   InitialR2T                Yes     Yes|No          (§13.10) result = OR
 *   ImmediateData             Yes     Yes|No          (§13.11) result = AND
 *   MaxOutstandingR2T         1       1..65535        (§13.17) result = min
 *   HeaderDigest, DataDigest  None    None|CRC32C|CRC32C,None (§13.1) tgt's parser always adds None, so it never
 *                                     forces a digest: CRC32C is chosen only if the initiator offers it
 *   DataPDUInOrder, DataSequenceInOrder  Yes  Yes|No  (§13.18, §13.19) result = OR
 *   ErrorRecoveryLevel        0       0..2            (§13.20) result = min
 *   DefaultTime2Wait          2       0..3600         (§13.15) result = max
 *   DefaultTime2Retain        20      0..3600         (§13.16) result = min
 *   MaxConnections            1       1..65535        (§13.2)  result = min
 *   IFMarker, OFMarker, IFMarkInt, OFMarkInt — settable, but markers are gone from RFC 7143; tgt answers No/Reject
 *   RDMAExtensions, TargetRecvDataSegmentLength, InitiatorRecvDataSegmentLength, MaxOutstandingUnexpectedPDUs — iSER
 *   MaxQueueCmd               128     1..512   local, never sent: tgt grants MaxCmdSN = ExpCmdSN + MaxQueueCmd, i.e. a
 *                                              command window of MaxQueueCmd + 1 (RFC 7143 §4.2.2.1)
 *   MaxXmitDataSegmentLength  local: tgt's copy of the initiator's MaxRecvDataSegmentLength — do not set
 *   Not keys but also set this way: nop_interval / nop_count (target-sent NOP-In pings, seconds / misses before the
 *   connection is dropped), RedirectAddress / RedirectPort / RedirectReason (Temporary|Permanent) / RedirectCallback
 *   (the target answers logins with a redirect, RFC 7143 §11.13.5 status class 1).
 * `tgtadm --mode target --op show --tid N` prints the current values.
 *
 * CHAP (RFC 7143 §12.1.3) in tgt: CHAP_A=5 (MD5) and CHAP_A=7, which tgt implements as **SHA-1** (20-byte digest).
 * That clashes with the IANA PPP registry used by Linux LIO and open-iscsi (6 = SHA-1, 7 = SHA-256, 8 = SHA3-256):
 * an initiator offering 7 meaning SHA-256 gets 7 accepted by tgt and then fails authentication. tgt does not accept 6
 * or 8. Against tgt, offer CHAP_A=5. Mutual CHAP: tgt answers the initiator's CHAP_I/CHAP_C only when an outgoing
 * account is bound; an initiator that sends no challenge still logs in with one-way CHAP. Discovery sessions never
 * use the per-target accounts (so SendTargets works without credentials).
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { accessSync, constants as fsConstants, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TgtdLun {
  /** Default 64 MiB. A multiple of `blockSize`. Not allowed with `backing: 'null'` (tgtd's null store is 1 TiB). */
  sizeBytes?: number;
  /** 'file' (default): a sparse file; 'null': tgtd's null backing store (reads zeros, discards writes, 1 TiB). */
  backing?: 'file' | 'null';
  /** Directory for the backing file (e.g. '/dev/shm' for benchmarks); default the instance temp dir. */
  dir?: string;
  /**
   * An existing backing file to serve (its size is the LUN's): the harness neither creates nor deletes it, so a tgtd
   * killed and started again serves the same data (recovery tests).
   */
  path?: string;
  /** Logical block size, a power of two ≥ 512; default 512 (tgtadm --blocksize). */
  blockSize?: number;
}

export interface ChapAccount {
  user: string;
  secret: string;
}

export interface TgtdTarget {
  iqn: string;
  /** Default [{}]: one 64 MiB file-backed LUN, numbered 1 (LUN 0 is tgtd's controller). */
  luns?: TgtdLun[];
  /** incoming: the initiator authenticates to the target; outgoing: the target to the initiator (mutual CHAP). */
  chap?: { incoming?: ChapAccount[]; outgoing?: ChapAccount };
  /** Target iSCSI params, each via `tgtadm --mode target --op update --name K --value V` (see the table above). */
  params?: Record<string, string>;
  /** Initiator-address ACL (`--op bind --initiator-address`), default 'ALL'. */
  allow?: string;
}

export interface StartTgtdOptions {
  targets: TgtdTarget[];
  /** A loopback address: default '127.0.0.1'; '::1' for IPv6. */
  host?: string;
  /** Bound on the whole start (spawn, readiness, configuration); default 10 s. */
  startTimeoutMs?: number;
}

export interface TgtdInstance {
  readonly host: string;
  readonly port: number;
  /** host:port, IPv6 in brackets: '127.0.0.1:41234' or '[::1]:41234'. */
  readonly portal: string;
  readonly controlPort: number;
  readonly pid: number;
  readonly dir: string;
  /** What the harness configured; backingFiles[i] belongs to luns[i] ('' for a null-backed LUN). */
  readonly targets: ReadonlyArray<{ tid: number; iqn: string; luns: number[]; backingFiles: string[] }>;
  /** Runs tgtadm against this instance (adds -C and --lld iscsi); resolves stdout, rejects with stderr. */
  tgtadm(args: string[]): Promise<string>;
  setTargetParam(iqn: string, name: string, value: string): Promise<void>;
  /** `tgtadm --mode target --op show` output. */
  showTarget(): Promise<string>;
  /** Connections currently logged in to that target (summed over its I_T nexuses). */
  connections(iqn: string): Promise<number>;
  /** Idempotent: SIGKILL, wait for exit, remove the temp dir (with the control socket) and backing files. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Everything the harness rejects with; `output` is tgtadm's stderr and/or tgtd's log when there is one. */
export class TgtdError extends Error {
  /** The one-line reason, without the output appended to `message`. */
  readonly reason: string;
  readonly output: string;
  constructor(reason: string, output = '') {
    super(output.trim() === '' ? reason : `${reason}\n--- output ---\n${output.trim()}`);
    this.name = 'TgtdError';
    this.reason = reason;
    this.output = output;
  }
}

const DEFAULT_LUN_SIZE = 64 * 1024 * 1024;
const DEFAULT_START_TIMEOUT_MS = 10_000;
const TGTADM_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;
const LOG_LIMIT = 64 * 1024;
const SYSTEM_IPC_DIR = '/var/run/tgtd';
// tgtd stores the control port in a C short.
const CONTROL_PORT_MIN = 1024;
const CONTROL_PORT_MAX = 32767;
// sizeof(sockaddr_un.sun_path) - 1 on Linux.
const SUN_PATH_MAX = 107;
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** The path of executable `name` on PATH (or in sbin, which a non-root PATH may leave out), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const d of dirs) {
    const candidate = path.join(d, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** True when both tgtd and tgtadm are on PATH or in the usual sbin directories. */
export function tgtdInstalled(): boolean {
  return findBinary('tgtd') !== undefined && findBinary('tgtadm') !== undefined;
}

/** A TCP port that was free on `host` a moment ago (the OS picks it). Rejects if `host` cannot be bound. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err) => reject(new TgtdError(`cannot bind a TCP port on ${host}: ${err.message}`)));
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Process bookkeeping for the synchronous exit hook.

interface Tracked {
  readonly child: ChildProcess;
  readonly dir: string;
  /** Backing files created outside `dir`. */
  readonly extraFiles: string[];
  readonly controlPort: number;
}

const tracked = new Set<Tracked>();
const controlPortsInUse = new Set<number>();
let exitHookInstalled = false;

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function killAllSync(): void {
  for (const t of tracked) {
    if (isRunning(t.child)) {
      try {
        t.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    removeFilesSync(t);
  }
  tracked.clear();
}

function removeFilesSync(t: Tracked): void {
  for (const f of t.extraFiles) rmSync(f, { force: true });
  rmSync(t.dir, { recursive: true, force: true });
}

function track(t: Tracked): void {
  if (!exitHookInstalled) {
    // 'exit' listeners must be synchronous: kill + rmSync only.
    process.on('exit', killAllSync);
    exitHookInstalled = true;
  }
  tracked.add(t);
  controlPortsInUse.add(t.controlPort);
}

function untrack(t: Tracked): void {
  tracked.delete(t);
  controlPortsInUse.delete(t.controlPort);
}

// ---------------------------------------------------------------------------------------------------------------
// tgtadm

interface TgtadmContext {
  readonly tgtadmPath: string;
  readonly ipcBase: string;
  readonly controlPort: number;
}

/** Argument lists as shown in errors: CHAP secrets never leave the process in a message. */
function redact(args: readonly string[]): string {
  return args.map((a, i) => (args[i - 1] === '--password' ? '***' : a)).join(' ');
}

function runTgtadm(ctx: TgtadmContext, args: readonly string[], timeoutMs = TGTADM_TIMEOUT_MS): Promise<string> {
  const hasLld = args.some((a) => a === '--lld' || a === '-L' || a.startsWith('--lld='));
  const full = ['-C', String(ctx.controlPort), ...(hasLld ? [] : ['--lld', 'iscsi']), ...args];
  return new Promise<string>((resolve, reject) => {
    execFile(
      ctx.tgtadmPath,
      full,
      { env: { ...process.env, TGT_IPC_SOCKET: ctx.ipcBase }, timeout: Math.max(1, timeoutMs), encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed (${err.code ?? err.message})`;
          reject(new TgtdError(`tgtadm ${redact(args)} ${why}`, stderr));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Option checks (before anything is spawned)

interface PlannedLun {
  readonly lun: number;
  readonly backing: 'file' | 'null';
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly dir: string | undefined;
  readonly path: string | undefined;
}

function isLoopback(host: string): boolean {
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

function planLuns(target: TgtdTarget): PlannedLun[] {
  const luns = target.luns ?? [{}];
  return luns.map((l, i) => {
    const backing = l.backing ?? 'file';
    const blockSize = l.blockSize ?? 512;
    if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
      throw new TgtdError(`target ${target.iqn} LUN ${i + 1}: blockSize ${blockSize} is not a power of two ≥ 512`);
    }
    if (backing === 'null' && l.sizeBytes !== undefined) {
      throw new TgtdError(`target ${target.iqn} LUN ${i + 1}: tgtd's null backing store is always 1 TiB; drop sizeBytes`);
    }
    const sizeBytes = l.sizeBytes ?? DEFAULT_LUN_SIZE;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % blockSize !== 0) {
      throw new TgtdError(`target ${target.iqn} LUN ${i + 1}: sizeBytes ${sizeBytes} is not a positive multiple of ${blockSize}`);
    }
    return { lun: i + 1, backing, sizeBytes, blockSize, dir: l.dir, path: l.path };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Start

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pickControlPort(): number {
  const systemTaken = new Set<number>();
  try {
    for (const name of readdirSync(SYSTEM_IPC_DIR)) {
      const m = /^socket\.(\d+)(?:\.lock)?$/.exec(name);
      if (m?.[1] !== undefined) systemTaken.add(Number(m[1]));
    }
  } catch {
    // no system tgtd directory: nothing to avoid
  }
  for (;;) {
    const n = randomInt(CONTROL_PORT_MIN, CONTROL_PORT_MAX + 1);
    if (!systemTaken.has(n) && !controlPortsInUse.has(n)) return n;
  }
}

interface PortalEntry {
  readonly address: string;
  readonly port: number;
}

function parsePortals(out: string): PortalEntry[] {
  const portals: PortalEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^Portal: (?:\[([^\]]+)\]|([^:\s]+)):(\d+),\d+$/.exec(line.trim());
    const address = m?.[1] ?? m?.[2];
    if (m?.[3] !== undefined && address !== undefined) portals.push({ address, port: Number(m[3]) });
  }
  return portals;
}

function tcpAccepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(Math.max(1, timeoutMs), () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Starts an isolated tgtd on loopback with `options.targets` configured; see the file comment. */
export async function startTgtd(options: StartTgtdOptions): Promise<TgtdInstance> {
  const tgtdPath = findBinary('tgtd');
  const tgtadmPath = findBinary('tgtadm');
  if (tgtdPath === undefined || tgtadmPath === undefined) {
    throw new TgtdError("tgtd not found: install Debian's `tgt` (apt-get install tgt)");
  }
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new TgtdError(`host ${host} is not a loopback address (127.0.0.0/8 or ::1): the harness binds loopback only`);
  }
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const plans = options.targets.map((t) => {
    if (typeof t.iqn !== 'string' || t.iqn === '') throw new TgtdError('every target needs an iqn');
    return planLuns(t);
  });
  // tgtd would fall back to 0.0.0.0:3260 if it could not bind `host`; refuse before that can happen.
  await freePort(host);

  const deadline = Date.now() + startTimeoutMs;
  const maxAttempts = 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options.targets, plans, host, tgtdPath, tgtadmPath, deadline, startTimeoutMs);
    } catch (err) {
      // Only a lost race for the control lock is worth another try.
      const lockRace = err instanceof TgtdError && err.output.includes('another tgtd is using');
      if (!lockRace || attempt >= maxAttempts) throw err;
    }
  }
}

async function startOnce(
  targets: readonly TgtdTarget[],
  plans: readonly PlannedLun[][],
  host: string,
  tgtdPath: string,
  tgtadmPath: string,
  deadline: number,
  startTimeoutMs: number,
): Promise<TgtdInstance> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tgtd-'));
  const controlPort = pickControlPort();
  const ipcBase = path.join(dir, 'ipc');
  if (Buffer.byteLength(`${ipcBase}.${controlPort}`) > SUN_PATH_MAX) {
    await rm(dir, { recursive: true, force: true });
    throw new TgtdError(`temp dir ${dir} is too long for tgtd's control socket path (max ${SUN_PATH_MAX} bytes)`);
  }

  const portalArg = net.isIPv6(host) ? `portal=[${host}]:0` : `portal=${host}:0`;
  const tgtdArgs = ['-f', '-C', String(controlPort), '--iscsi', portalArg];
  const setpriv = findBinary('setpriv');
  // setpriv execs tgtd (same pid) with PR_SET_PDEATHSIG=SIGKILL: tgtd dies with us even if we are SIGKILLed.
  const command = setpriv ?? tgtdPath;
  const args = setpriv === undefined ? tgtdArgs : ['--pdeathsig', 'KILL', tgtdPath, ...tgtdArgs];
  const child = spawn(command, args, {
    env: { ...process.env, TGT_IPC_SOCKET: ipcBase },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let log = '';
  const append = (chunk: string): void => {
    log = (log + chunk).slice(-LOG_LIMIT);
  };
  // Always drain both pipes: a full pipe would block tgtd.
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  let exitInfo: string | undefined;
  const closed = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      exitInfo ??= `could not be started: ${err.message}`;
      resolve();
    });
    child.once('close', (code, signal) => {
      exitInfo ??= signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      resolve();
    });
  });

  const extraFiles: string[] = [];
  const t: Tracked = { child, dir, extraFiles, controlPort };
  track(t);
  const ctx: TgtadmContext = { tgtadmPath, ipcBase, controlPort };

  const waitUntilReady = async (): Promise<number> => {
    for (;;) {
      if (exitInfo !== undefined) throw new TgtdError(`tgtd ${exitInfo} before it was ready`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TgtdError(`tgtd did not become ready within ${startTimeoutMs} ms`);
      let portals: PortalEntry[] | undefined;
      try {
        const out = await runTgtadm(ctx, ['--mode', 'portal', '--op', 'show'], Math.min(remaining, TGTADM_TIMEOUT_MS));
        portals = parsePortals(out);
      } catch {
        // the control socket is not up yet; poll again
      }
      if (portals !== undefined) {
        const only = portals.length === 1 ? portals[0] : undefined;
        if (only === undefined || only.address !== host) {
          const list = portals.map((p) => `${p.address}:${p.port}`).join(', ') || 'none';
          throw new TgtdError(`tgtd did not bind exactly ${host}: its portals are ${list}`);
        }
        if (await tcpAccepts(host, only.port, Math.max(1, deadline - Date.now()))) return only.port;
      }
      await Promise.race([closed, delay(POLL_INTERVAL_MS)]);
    }
  };

  try {
    const port = await waitUntilReady();
    const configured = await configureTargets(ctx, targets, plans, dir, extraFiles, deadline);
    if (child.pid === undefined) throw new TgtdError('tgtd has no pid');
    return new TgtdProcess(t, ctx, host, port, child.pid, configured, closed, () => log);
  } catch (err) {
    const diedOnItsOwn = exitInfo;
    if (isRunning(child)) child.kill('SIGKILL');
    await Promise.race([closed, delay(STOP_TIMEOUT_MS)]);
    for (const f of extraFiles) await rm(f, { force: true });
    await rm(dir, { recursive: true, force: true });
    if (!isRunning(child)) untrack(t);
    if (!(err instanceof TgtdError)) throw err;
    // tgtd explains on its stderr what tgtadm only calls "invalid request"; add its log to every failure.
    const reason =
      err.reason.startsWith('tgtd ') || diedOnItsOwn === undefined ? err.reason : `${err.reason} (tgtd ${diedOnItsOwn})`;
    throw new TgtdError(reason, [err.output.trim(), log.trim() === '' ? '' : `tgtd log:\n${log.trim()}`].filter((x) => x !== '').join('\n'));
  }
}

async function configureTargets(
  ctx: TgtadmContext,
  targets: readonly TgtdTarget[],
  plans: readonly PlannedLun[][],
  dir: string,
  extraFiles: string[],
  deadline: number,
): Promise<Array<{ tid: number; iqn: string; luns: number[]; backingFiles: string[] }>> {
  const adm = async (args: string[]): Promise<string> => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new TgtdError(`configuring tgtd took longer than the start timeout (at: tgtadm ${redact(args)})`);
    return runTgtadm(ctx, args, Math.min(remaining, TGTADM_TIMEOUT_MS));
  };
  // Accounts are per tgtd, shared by its targets: create each user once.
  const accounts = new Map<string, string>();
  const ensureAccount = async (a: ChapAccount): Promise<void> => {
    const known = accounts.get(a.user);
    if (known === a.secret) return;
    if (known !== undefined) throw new TgtdError(`CHAP user ${a.user} is given two different secrets`);
    await adm(['--mode', 'account', '--op', 'new', '--user', a.user, '--password', a.secret]);
    accounts.set(a.user, a.secret);
  };

  const result: Array<{ tid: number; iqn: string; luns: number[]; backingFiles: string[] }> = [];
  for (const [i, target] of targets.entries()) {
    const tid = i + 1;
    const T = String(tid);
    await adm(['--mode', 'target', '--op', 'new', '--tid', T, '--targetname', target.iqn]);
    const backingFiles: string[] = [];
    for (const lun of plans[i] ?? []) {
      const L = String(lun.lun);
      if (lun.backing === 'null') {
        backingFiles.push('');
        await adm(['--mode', 'logicalunit', '--op', 'new', '--tid', T, '--lun', L, '--bstype', 'null',
          '--backing-store', 'null', '--blocksize', String(lun.blockSize)]);
        continue;
      }
      let file: string;
      if (lun.path !== undefined) {
        backingFiles.push(lun.path);
        await adm(['--mode', 'logicalunit', '--op', 'new', '--tid', T, '--lun', L, '--backing-store', lun.path,
          '--blocksize', String(lun.blockSize)]);
        continue;
      }
      if (lun.dir === undefined) {
        file = path.join(dir, `t${tid}-lun${lun.lun}.img`);
      } else {
        // Outside our dir: a name no other instance or process can pick, remembered for clean-up before creation.
        file = path.join(lun.dir, `tgtd-${process.pid}-${randomBytes(6).toString('hex')}-t${tid}-lun${lun.lun}.img`);
        extraFiles.push(file);
      }
      const fh = await open(file, 'wx');
      try {
        await fh.truncate(lun.sizeBytes); // sparse: no blocks until written
      } finally {
        await fh.close();
      }
      backingFiles.push(file);
      await adm(['--mode', 'logicalunit', '--op', 'new', '--tid', T, '--lun', L, '--backing-store', file,
        '--blocksize', String(lun.blockSize)]);
    }
    for (const account of target.chap?.incoming ?? []) {
      await ensureAccount(account);
      await adm(['--mode', 'account', '--op', 'bind', '--tid', T, '--user', account.user]);
    }
    const outgoing = target.chap?.outgoing;
    if (outgoing !== undefined) {
      await ensureAccount(outgoing);
      await adm(['--mode', 'account', '--op', 'bind', '--tid', T, '--user', outgoing.user, '--outgoing']);
    }
    for (const [name, value] of Object.entries(target.params ?? {})) {
      await adm(['--mode', 'target', '--op', 'update', '--tid', T, '--name', name, '--value', value]);
    }
    // The ACL last: the target only becomes reachable once it is fully configured.
    await adm(['--mode', 'target', '--op', 'bind', '--tid', T, '--initiator-address', target.allow ?? 'ALL']);
    result.push({ tid, iqn: target.iqn, luns: (plans[i] ?? []).map((l) => l.lun), backingFiles });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// A running instance

/** Connections per target from `tgtadm --mode target --op show`; undefined when the target is not listed. */
function countConnections(show: string, iqn: string): number | undefined {
  let inTarget = false;
  let inNexus = false;
  let found = false;
  let count = 0;
  for (const line of show.split('\n')) {
    const header = /^Target \d+: (.*)$/.exec(line);
    if (header) {
      inTarget = header[1] === iqn;
      found ||= inTarget;
      inNexus = false;
      continue;
    }
    if (!inTarget) continue;
    const trimmed = line.trim();
    if (trimmed === 'I_T nexus information:') inNexus = true;
    else if (/^[A-Z][A-Za-z ]+ information:$/.test(trimmed)) inNexus = false;
    else if (inNexus && /^Connection: \d+$/.test(trimmed)) count++;
  }
  return found ? count : undefined;
}

class TgtdProcess implements TgtdInstance {
  readonly host: string;
  readonly port: number;
  readonly portal: string;
  readonly controlPort: number;
  readonly pid: number;
  readonly dir: string;
  readonly targets: ReadonlyArray<{ tid: number; iqn: string; luns: number[]; backingFiles: string[] }>;
  readonly #tracked: Tracked;
  readonly #ctx: TgtadmContext;
  readonly #closed: Promise<void>;
  readonly #log: () => string;
  #stopping: Promise<void> | undefined;

  constructor(
    tracked: Tracked,
    ctx: TgtadmContext,
    host: string,
    port: number,
    pid: number,
    targets: Array<{ tid: number; iqn: string; luns: number[]; backingFiles: string[] }>,
    closed: Promise<void>,
    log: () => string,
  ) {
    this.#tracked = tracked;
    this.#ctx = ctx;
    this.#closed = closed;
    this.#log = log;
    this.host = host;
    this.port = port;
    this.portal = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    this.controlPort = ctx.controlPort;
    this.pid = pid;
    this.dir = tracked.dir;
    this.targets = Object.freeze(targets.map((t) => Object.freeze({ ...t })));
  }

  async tgtadm(args: string[]): Promise<string> {
    if (this.#stopping !== undefined) throw new TgtdError(`tgtd ${this.portal} is stopped`);
    try {
      return await runTgtadm(this.#ctx, args);
    } catch (err) {
      // A dead tgtd explains a failing tgtadm better than tgtadm does.
      if (!isRunning(this.#tracked.child) && err instanceof TgtdError) {
        throw new TgtdError(`${err.reason} (tgtd is no longer running)`, `${err.output}\ntgtd log:\n${this.#log()}`);
      }
      throw err;
    }
  }

  async setTargetParam(iqn: string, name: string, value: string): Promise<void> {
    await this.tgtadm(['--mode', 'target', '--op', 'update', '--tid', String(this.#tid(iqn)), '--name', name, '--value', value]);
  }

  showTarget(): Promise<string> {
    return this.tgtadm(['--mode', 'target', '--op', 'show']);
  }

  async connections(iqn: string): Promise<number> {
    const n = countConnections(await this.showTarget(), iqn);
    if (n === undefined) throw new TgtdError(`tgtd ${this.portal} has no target ${iqn}`);
    return n;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** tgtd's stdout+stderr so far (the last 64 KiB), for diagnosing a failing test. */
  get log(): string {
    return this.#log();
  }

  #tid(iqn: string): number {
    const t = this.targets.find((x) => x.iqn === iqn);
    if (t === undefined) throw new TgtdError(`no target ${iqn} was configured by this harness`);
    return t.tid;
  }

  async #stop(): Promise<void> {
    const t = this.#tracked;
    if (isRunning(t.child)) t.child.kill('SIGKILL');
    const exited = await Promise.race([this.#closed.then(() => true), delay(STOP_TIMEOUT_MS).then(() => false)]);
    for (const f of t.extraFiles) await rm(f, { force: true });
    await rm(t.dir, { recursive: true, force: true });
    if (!exited && isRunning(t.child)) {
      // Leave it tracked so the exit hook tries again.
      throw new TgtdError(`tgtd pid ${this.pid} did not exit within ${STOP_TIMEOUT_MS} ms of SIGKILL`);
    }
    untrack(t);
  }
}
