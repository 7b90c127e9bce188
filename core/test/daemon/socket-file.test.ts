// socket-file.ts mechanics (issue 10, "A safe socket"): the mode is right from the bind (no chmod window, whatever the
// umask), the process umask is given back, unsafe folders are refused, and only a socket nobody listens on is replaced.
import { chmodSync, linkSync, lstatSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError, StorageError } from '../../src/errors.js';
import { listenOnSocketFile } from '../../src/daemon/socket-file.js';
import { requireRoot } from '../../../test/src/require-tool.js';

let dir: string;
let servers: net.Server[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'socket-file-'));
  chmodSync(dir, 0o755);
  servers = [];
});
afterEach(async () => {
  for (const s of servers) await new Promise<void>((done) => s.close(() => done()));
  rmSync(dir, { recursive: true, force: true });
});

function server(): net.Server {
  const s = net.createServer((socket) => socket.end());
  servers.push(s);
  return s;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('listenOnSocketFile', () => {
  it('under umask 000 the socket is already 0660 when it starts listening, and the umask is given back', async () => {
    const path = join(dir, 'd.sock');
    const s = server();
    let modeAtListening: number | undefined;
    // The first moment anyone could connect; the old code chmod-ed only after this, leaving 0777 until then.
    s.once('listening', () => (modeAtListening = lstatSync(path).mode & 0o777));
    const previous = process.umask(0);
    try {
      await listenOnSocketFile(s, path);
      expect(process.umask()).toBe(0);
    } finally {
      process.umask(previous);
    }
    expect(modeAtListening).toBe(0o660);
    expect(lstatSync(path).mode & 0o777).toBe(0o660);
  });

  it('takes the mode it is given, exactly', async () => {
    const path = join(dir, 'm.sock');
    await listenOnSocketFile(server(), path, { mode: 0o600 });
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses a folder others or its group may write (ISCSI_STORAGE_UNSAFE), and binds nothing there', async () => {
    for (const mode of [0o777, 0o1777]) {
      chmodSync(dir, mode);
      const e = await rejection(listenOnSocketFile(server(), join(dir, 'x.sock')));
      expect(e).toBeInstanceOf(StorageError);
      expect(e).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
    }
    expect(() => lstatSync(join(dir, 'x.sock'))).toThrow(/ENOENT/);
  });

  it.runIf(requireRoot('chown a folder to another user'))('as root: refuses a folder another user owns; a system group (gid 1) may write it', async () => {
    const { chownSync } = await import('node:fs');
    chownSync(dir, 65534, 65534);
    expect(await rejection(listenOnSocketFile(server(), join(dir, 'x.sock')))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/belongs to uid 65534/) });
    chownSync(dir, 0, 65534);
    chmodSync(dir, 0o775);
    expect(await rejection(listenOnSocketFile(server(), join(dir, 'x.sock')))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/writable by its group/) });
    chownSync(dir, 0, 1); // macOS's /var/run: root:daemon 0775
    await listenOnSocketFile(server(), join(dir, 'ok.sock'));
    expect(lstatSync(join(dir, 'ok.sock')).isSocket()).toBe(true);
  });

  it('never follows or replaces a symlink or a plain file at the path', async () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'x');
    symlinkSync(target, join(dir, 'link.sock'));
    expect(await rejection(listenOnSocketFile(server(), join(dir, 'link.sock')))).toBeInstanceOf(ArgumentError);
    expect(await rejection(listenOnSocketFile(server(), target))).toBeInstanceOf(ArgumentError);
    expect(lstatSync(join(dir, 'link.sock')).isSymbolicLink()).toBe(true);
    expect(lstatSync(target).mode & 0o777).not.toBe(0o660);
  });

  it('replaces a socket nobody listens on; refuses one that answers (ISCSI_DAEMON_ALREADY_RUNNING)', async () => {
    const path = join(dir, 's.sock');
    const first = server();
    await listenOnSocketFile(first, path);
    const e = await rejection(listenOnSocketFile(server(), path));
    expect(e).toMatchObject({ code: 'ISCSI_DAEMON_ALREADY_RUNNING', message: expect.stringMatching(/another iscsid is already running .*accepts connections/) });
    // A crashed daemon's file: a second name for the socket's inode outlives the server (close unlinks only the first).
    linkSync(path, join(dir, 'stale.sock'));
    await new Promise<void>((done) => first.close(() => done()));
    servers = servers.filter((s) => s !== first);
    renameSync(join(dir, 'stale.sock'), path);
    expect(lstatSync(path).isSocket()).toBe(true);
    await listenOnSocketFile(server(), path);
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  it('a bind that fails is a StorageError and gives the umask back', async () => {
    const before = process.umask();
    const e = await rejection(listenOnSocketFile(server(), join(dir, `${'x'.repeat(200)}.sock`)));
    expect(e).toBeInstanceOf(StorageError);
    expect(process.umask()).toBe(before);
  });
});
