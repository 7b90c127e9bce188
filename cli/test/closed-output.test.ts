// Issue 9: "Piping any command into `head` prints 'Warning: Detected unsettled top-level await' and loses the exit
// code. A closed stdout must end the command quietly, as git or ls do." Each command is spawned as a user runs it,
// with its stdout a pipe whose reader is gone before the command writes (`iscsiadm … | head -c 0`).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin, type Run } from './run-cli.js';

function withClosedStdout(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone: every write the command makes fails with EPIPE
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: '', stderr });
    });
  });
}

describe('a closed stdout ends the command quietly with its own exit code', () => {
  const HELP = [['--help'], ['node', '--help'], ['session', '--help'], ['lun', 'inquiry', '--help'], ['-m', 'discovery', '--help']];
  it.each(HELP.map((args) => [args.join(' '), args] as const))('iscsiadm %s | head: exit 0, nothing on stderr', async (_name, args) => {
    const r = await withClosedStdout(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a command that fails keeps its exit code: --json error to a closed stdout, no daemon → exit 20', async () => {
    const r = await withClosedStdout(['session', '--json', '--socket', path.join('/nonexistent', 'iscsid.sock')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(20);
  });
});
