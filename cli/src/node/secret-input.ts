import { openSync } from 'node:fs';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import tty from 'node:tty';
import { ArgumentError } from '@iscsi-initiator/core/rpc';

/** The daemon takes at most 4096 bytes (docs/api.md, secrets.set); read a little more so it can say "too long". */
const MAX_SECRET_INPUT = 8192;

/**
 * A CHAP secret from the first line of stdin (`--password-stdin`) or from a no-echo prompt on the controlling
 * terminal. Never from argv or the environment: both are visible to other users (ps, /proc/PID/environ).
 */
export async function readSecret(options: { fromStdin: boolean; prompt: string }): Promise<string> {
  const secret = options.fromStdin ? await firstLineOfStdin() : await promptHidden(options.prompt);
  if (secret === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'empty secret: nothing stored');
  return secret;
}

function firstLineOfStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const stdin = process.stdin;
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      stdin.off('error', onError);
      stdin.pause();
      stdin.destroy();
      resolve(text.split('\n')[0]!.replace(/\r$/, ''));
    };
    const onData = (chunk: string): void => {
      text += chunk;
      if (text.includes('\n') || text.length > MAX_SECRET_INPUT) finish();
    };
    const onError = (e: Error): void => reject(new ArgumentError('ISCSI_BAD_ARGUMENT', `cannot read the secret from stdin: ${e.message}`));
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.once('end', finish);
    stdin.once('error', onError);
  });
}

function promptHidden(prompt: string): Promise<string> {
  let inFd: number;
  let outFd: number;
  try {
    inFd = openSync('/dev/tty', 'r');
    outFd = openSync('/dev/tty', 'w');
  } catch {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'no terminal to ask for the secret on', { hint: 'pipe it in with --password-stdin' });
  }
  const input = new tty.ReadStream(inFd);
  const output = new tty.WriteStream(outFd);
  // readline echoes what is typed to its output: give it one that drops everything, and write the prompt ourselves.
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = readline.createInterface({ input, output: muted, terminal: true });
  output.write(prompt);
  return new Promise<string>((resolve, reject) => {
    const close = (): void => {
      output.write('\n');
      rl.close();
      input.destroy();
      output.destroy();
    };
    rl.once('line', (line) => {
      close();
      resolve(line);
    });
    rl.once('SIGINT', () => {
      close();
      reject(new ArgumentError('ISCSI_BAD_ARGUMENT', 'cancelled: no secret stored'));
    });
  });
}
