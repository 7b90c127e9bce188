// The test target's runnable entry (test/dist/test-target/main.js, `npm run target`), spawned as a user runs it: it
// needs the build, so it runs with the integration tests, not in `npm run test:unit`.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { discoverTargets } from '@iscsi-initiator/core';

const INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:test-target-tests';

describe('the runnable entry (test/dist/test-target/main.js)', () => {
  it('prints its portal and target, serves discovery, and exits 0 on SIGTERM', async () => {
    const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/test-target/main.js');
    const child = spawn(process.execPath, [main, '--port', '0', '--target', 'iqn.2026-11.test.target:main', '--lun-size', '8M'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    try {
      const portal = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no portal line: ${out}`)), 10_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /^portal (\S+),1$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const [host, port] = [portal.slice(0, portal.lastIndexOf(':')), Number(portal.slice(portal.lastIndexOf(':') + 1))];
      const found = await discoverTargets({ portal: { host, port }, initiatorName: INITIATOR });
      expect(found.map((t) => t.targetName)).toEqual(['iqn.2026-11.test.target:main']);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses --chap-user without the secret in the environment (exit 7)', async () => {
    const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/test-target/main.js');
    const env = { ...process.env };
    delete env['TEST_TARGET_CHAP_SECRET'];
    const child = spawn(process.execPath, [main, '--port', '0', '--chap-user', 'u'], { stdio: 'ignore', env });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(7);
  });
});
