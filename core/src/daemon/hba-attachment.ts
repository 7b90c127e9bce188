// iscsid's side of the HBA (issue 12 item 3): attach to the dext or the simulator (starting one if none answers),
// wrap it in the bridge, give each logged-in session its target, and name each LUN's disk.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Hba, openHba } from '@iscsi-initiator/native';
import { HBA_CALL_TIMEOUT_MS } from '../defaults.js';
import { ArgumentError, type IscsiError, TransportError } from '../errors.js';
import { HbaBridge } from '../hba/bridge.js';
import type { HbaSession } from '../hba/platform.js';
import type { HbaStats } from '../rpc/types.js';
import { besideExecutable } from '../single-executable.js';

export type HbaKind = 'dext' | 'simulator' | 'none';
export const HBA_KINDS: readonly HbaKind[] = ['dext', 'simulator', 'none'];
/** Overrides where iscsid finds the simulator's binary. */
export const HBA_SIM_ENV = 'ISCSI_HBA_SIM';

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface HbaAttachOptions {
  readonly kind: HbaKind;
  /** The simulator's control socket. */
  readonly socketPath: string;
  /** Where the simulator puts its NBD exports (t<target>-lun<n>.sock). */
  readonly nbdDir: string;
  /** The simulator's binary; default driver/build/sim/iscsi-hba-sim in this repository. */
  readonly simBinary?: string | undefined;
  readonly log: Log;
}

/**
 * The simulator's binary as `make -C driver sim` builds it, relative to this file (core/dist/daemon or core/src/daemon);
 * beside the binary for a single executable (installer/sea), which ships no simulator: --hba-sim or $ISCSI_HBA_SIM.
 */
export function defaultSimBinary(): string {
  return besideExecutable('iscsi-hba-sim') ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../driver/build/sim/iscsi-hba-sim');
}

/** The dext or the simulator, attached, with the bridge over it. */
export class DaemonHba {
  private constructor(
    private readonly hba: Hba,
    readonly bridge: HbaBridge,
    private readonly nbdDir: string | undefined,
    /** The simulator this daemon started: stopped on a normal shutdown (a crashed daemon leaves it, as a dext stays). */
    private readonly started: ChildProcess | undefined,
  ) {}

  static async attach(options: HbaAttachOptions): Promise<DaemonHba | undefined> {
    if (options.kind === 'none') return undefined;
    if (options.kind === 'dext') {
      if (process.platform !== 'darwin') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `--hba dext needs macOS's driver extension; this is ${process.platform}`, { hint: 'use --hba simulator or --hba none' });
      // A Mac without the driver extension (not installed, or not yet approved) still runs sessions, without disks.
      let hba: Hba;
      try {
        hba = await openHba({ callTimeoutMs: HBA_CALL_TIMEOUT_MS });
      } catch (e) {
        options.log('error', 'the driver extension is not available: sessions will have no disks', { code: (e as { code?: string }).code, error: String(e) });
        return undefined;
      }
      return new DaemonHba(hba, DaemonHba.bridgeOver(hba, options.log), undefined, undefined);
    }
    let started: ChildProcess | undefined;
    let hba: Hba;
    try {
      hba = await openHba({ socketPath: options.socketPath, callTimeoutMs: HBA_CALL_TIMEOUT_MS });
      options.log('info', 'reattached to the running HBA simulator', { socket: options.socketPath });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw e;
      started = await startSimulator(options);
      try {
        hba = await openHba({ socketPath: options.socketPath, callTimeoutMs: HBA_CALL_TIMEOUT_MS });
      } catch (error) {
        started.kill('SIGKILL'); // the one it just started, which would serve nobody
        throw error;
      }
    }
    return new DaemonHba(hba, DaemonHba.bridgeOver(hba, options.log), options.nbdDir, started);
  }

  private static bridgeOver(hba: Hba, log: Log): HbaBridge {
    // The addon's Hba is the bridge's HbaPlatform as it is; its notices reach bridge.serviceCommands (the bridge subscribes).
    const bridge = new HbaBridge(hba, {
      onRescan: (targetId, key, reason) => log('info', 'HBA target rescan', { targetId, key, reason }),
      onError: (error: IscsiError) => log('error', 'HBA refused input', { code: error.code, error: error.message }),
    });
    hba.onDisconnect((error) => log('error', 'the HBA ended the connection', { code: error.code, error: error.message }));
    return bridge;
  }

  /** The session's HBA target (the same ID for the same key while the HBA runs). */
  async attachSession(key: string, session: HbaSession): Promise<number> {
    return (await this.bridge.attachSession(key, session)).targetId;
  }

  detachSession(targetId: number): Promise<void> {
    return this.bridge.detachSession(targetId);
  }

  /** The target's I/O for session.stats (undefined once it is detached). */
  stats(targetId: number): HbaStats | undefined {
    const s = this.bridge.stats(targetId);
    if (!s) return undefined;
    const { commands, bytesRead, bytesWritten, failures, aborts, rescans } = s;
    return { targetId, inFlight: this.bridge.inFlightOf(targetId), commands, bytesRead, bytesWritten, failures, aborts, rescans };
  }

  /** The LUN's disk: the simulator's NBD URI while its export exists; null otherwise (the dext's: from DiskArbitration). */
  disk(targetId: number, lun: number): string | null {
    const socket = this.exportSocket(targetId, lun);
    return socket === undefined ? null : `nbd+unix:///?socket=${socket}`;
  }

  /** The simulator's NBD export socket of a LUN, while it exists; undefined with the dext. */
  exportSocket(targetId: number, lun: number): string | undefined {
    if (this.nbdDir === undefined) return undefined;
    const socket = exportPath(this.nbdDir, targetId, lun);
    return existsSync(socket) ? socket : undefined;
  }

  /** Whether this is the simulator (its disks are NBD exports) rather than the dext. */
  get simulated(): boolean {
    return this.nbdDir !== undefined;
  }

  /** Waits, bounded, for the simulator to export these LUNs (its probe runs after the target is created). */
  async waitForDisks(targetId: number, luns: number[], ms: number = HBA_CALL_TIMEOUT_MS): Promise<boolean> {
    if (this.nbdDir === undefined) return false;
    const dir = this.nbdDir;
    const all = () => luns.every((lun) => existsSync(exportPath(dir, targetId, lun)));
    return waitUntil(dir, all, ms);
  }

  /** A normal shutdown: the connection closes; a simulator this daemon started is stopped and waited for (bounded). */
  async close(): Promise<void> {
    this.bridge.close();
    this.hba.close();
    const child = this.started;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM'); // it removes its control socket and exits (driver/sim/main.cc)
    const timer = setTimeout(() => child.kill('SIGKILL'), HBA_CALL_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

function exportPath(nbdDir: string, targetId: number, lun: number): string {
  return path.join(nbdDir, `t${targetId}-lun${lun}.sock`);
}

/** Resolves true once `done()` holds, re-checked on every change in `dir`; false after `ms`. */
function waitUntil(dir: string, done: () => boolean, ms: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (done()) finish(true);
    });
    const timer = setTimeout(() => finish(done()), ms);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      watcher.close();
      resolve(ok);
    };
    if (done()) finish(true); // a change between the first check and the watch
  });
}

/**
 * Starts the simulator in a session of its own (so it outlives the daemon, as a dext does), its log in the state
 * folder, and waits for its "listening on" line there.
 */
async function startSimulator(options: HbaAttachOptions): Promise<ChildProcess> {
  const binary = options.simBinary ?? process.env[HBA_SIM_ENV] ?? defaultSimBinary();
  if (!existsSync(binary)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `no HBA simulator at ${binary}`, { hint: `build it with make -C driver sim, or name it with --hba-sim or $${HBA_SIM_ENV}` });
  mkdirSync(options.nbdDir, { recursive: true, mode: 0o700 });
  const logDir = path.dirname(options.socketPath);
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const logPath = path.join(logDir, 'hba-sim.log');
  const fd = openSync(logPath, 'a');
  const from = readFileSync(logPath).length;
  const child = spawn(binary, ['--socket', options.socketPath, '--nbd-dir', options.nbdDir], { detached: true, stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  child.unref();
  const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(false)));
  const listening = waitUntil(logDir, () => readFileSync(logPath).subarray(from).includes('listening on'), HBA_CALL_TIMEOUT_MS);
  if (!(await Promise.race([listening, exited]))) {
    child.kill('SIGKILL');
    throw new TransportError('ISCSI_HBA_PROTOCOL', `the HBA simulator did not start listening on ${options.socketPath}`, { hint: `see ${logPath}` });
  }
  options.log('info', 'started the HBA simulator', { pid: child.pid, socket: options.socketPath, nbdDir: options.nbdDir, log: logPath });
  return child;
}
