// The addon's flock(2) (native/src/flock.cc) and the daemon's instance lock built on it (issue 10: "a single-instance
// lock (flock on a lock file in the state folder)"). Needs the built addon, hence the integration project.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, flock } from '@iscsi-initiator/native';
import { acquireInstanceLock } from '../../core/src/daemon/instance-lock.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'flock-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native flock', () => {
  it('LOCK_EX|LOCK_NB: a second open file cannot take it (false, no wait); it is free once the first descriptor closes', () => {
    expect(available).toBe(true);
    const file = path.join(dir, 'a.lock');
    const first = openSync(file, 'w');
    const second = openSync(file, 'r');
    try {
      expect(flock(first, true, true)).toBe(true);
      expect(flock(second, true, true)).toBe(false);
      expect(flock(second, false, true)).toBe(false); // nor shared
      closeSync(first);
      expect(flock(second, true, true)).toBe(true);
    } finally {
      closeSync(second);
    }
  });

  it('bad descriptors throw with the errno name; a bad call is a TypeError', () => {
    expect(() => flock(100_000, true, true)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => flock(-1, true, true)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('another process holding the lock keeps us out until it exits (the kernel drops it with the process)', async () => {
    const file = path.join(dir, 'b.lock');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { openSync } from 'node:fs'; import { flock } from '@iscsi-initiator/native'; const fd = openSync(${JSON.stringify(file)}, 'w'); console.log(flock(fd, true, true)); setInterval(() => {}, 1000);`], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const said = await new Promise<string>((resolve) => holder.stdout.once('data', (d) => resolve(String(d).trim())));
    expect(said).toBe('true');
    const fd = openSync(file, 'r');
    try {
      expect(flock(fd, true, true)).toBe(false);
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      expect(flock(fd, true, true)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});

describe('acquireInstanceLock (core/src/daemon/instance-lock.ts)', () => {
  it('one holder per state folder: the second is ISCSI_DAEMON_ALREADY_RUNNING naming the pid; free again after release', () => {
    const state = path.join(dir, 'state');
    const lock = acquireInstanceLock(state);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => acquireInstanceLock(state)).toThrow(expect.objectContaining({ code: 'ISCSI_DAEMON_ALREADY_RUNNING', message: expect.stringContaining(`(pid ${process.pid})`) }));
    lock.release();
    acquireInstanceLock(state).release();
  });
});
