// Starts a real iscsid process for tests: its own socket, state dir and secrets dir under a temp dir; stop() sends
// SIGTERM (clean logouts) and waits, SIGKILL after 15 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const daemonBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../core/bin/iscsid.js');

export interface IscsidInstance {
  readonly socket: string;
  readonly dir: string;
  readonly child: ChildProcess;
  /** Everything the daemon printed so far (its logs). */
  output(): string;
  /** SIGTERM and wait for the exit code; the temp dir is removed unless `keepDir`. */
  stop(options?: { keepDir?: boolean }): Promise<number | null>;
}

export interface StartIscsidOptions {
  dir?: string;
  args?: string[];
  /** Instead of `<dir>/iscsid.sock`, `<dir>/state`, `<dir>/secrets`. */
  socket?: string;
  stateDir?: string;
  secretsDir?: string;
  /** The umask the daemon starts under (set by a shell before it execs node); default: the test's. */
  umask?: number;
  /** A command the daemon runs under, e.g. `['strace', '-f', …]`. */
  prefix?: string[];
  /** How long the start may take; default 10 s. */
  startTimeoutMs?: number;
  /** A self-contained iscsid (installer/sea) run instead of `node core/bin/iscsid.js`. */
  executable?: string;
  /** The daemon's whole environment; default the test's. */
  env?: NodeJS.ProcessEnv;
}

/** The daemon's argv and how to spawn it, for tests that expect it to refuse to start (see iscsid-files.test.ts). */
export function iscsidCommand(options: StartIscsidOptions & { dir: string }): { file: string; args: string[] } {
  const argv = [
    '--socket',
    options.socket ?? path.join(options.dir, 'iscsid.sock'),
    '--state-dir',
    options.stateDir ?? path.join(options.dir, 'state'),
    '--secrets-dir',
    options.secretsDir ?? path.join(options.dir, 'secrets'),
    ...(options.args ?? []),
  ];
  const daemon = options.executable === undefined ? [process.execPath, daemonBin] : [options.executable];
  const command = options.umask === undefined ? [...daemon, ...argv] : ['/bin/sh', '-c', `umask ${options.umask.toString(8).padStart(3, '0')}; exec "$0" "$@"`, ...daemon, ...argv];
  const [file, ...args] = [...(options.prefix ?? []), ...command];
  return { file: file!, args };
}

export async function startIscsid(options: StartIscsidOptions = {}): Promise<IscsidInstance> {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'iscsid-'));
  chmodSync(dir, 0o711); // others may reach the socket file: its own 0660 mode is what keeps them out
  const socket = options.socket ?? path.join(dir, 'iscsid.sock');
  const command = iscsidCommand({ ...options, dir, socket });
  const child = spawn(command.file, command.args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    const poll = () => {
      if (output.includes('iscsid listening')) resolve();
      else if (child.exitCode !== null || Date.now() > deadline) reject(new Error(`iscsid did not start: ${output}`));
      else setTimeout(poll, 20);
    };
    poll();
  });
  return {
    socket,
    dir,
    child,
    output: () => output,
    stop: (stopOptions = {}) =>
      new Promise((resolve) => {
        const finish = (code: number | null) => {
          if (!stopOptions.keepDir && !options.dir) rmSync(dir, { recursive: true, force: true });
          resolve(code);
        };
        // Stopped already (a test stopped it, keeping its dir): stopping again only cleans up.
        if (child.exitCode !== null || child.signalCode !== null) return finish(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          finish(code);
        });
        child.kill('SIGTERM');
      }),
  };
}
