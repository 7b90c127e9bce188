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

export async function startIscsid(options: { dir?: string; args?: string[] } = {}): Promise<IscsidInstance> {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'iscsid-'));
  chmodSync(dir, 0o711); // others may reach the socket file: its own 0660 mode is what keeps them out
  const socket = path.join(dir, 'iscsid.sock');
  const child = spawn(
    process.execPath,
    [daemonBin, '--socket', socket, '--state-dir', path.join(dir, 'state'), '--secrets-dir', path.join(dir, 'secrets'), ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
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
