// Issue 13: "`ray build` runs in CI (it works offline on Linux with `-e dist` and an output folder inside the repo)."
// Raycast's own CLI (the `ray` of @raycast/api) builds every command with esbuild after its TypeScript check; then each
// bundle is looked at: it holds the RPC client and nothing of the daemon, the engine or a native module (the issue's
// "no protocol code and no native module inside it", "the extension bundles small").
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const extension = path.resolve(import.meta.dirname, '../..');
const out = path.join(extension, 'build'); // inside the repo (gitignored): ray build refuses nothing here
const require = createRequire(import.meta.url);
const ray = path.join(path.dirname(require.resolve('@raycast/api/package.json')), 'bin/run.js');
const commands = (
  JSON.parse(readFileSync(path.join(extension, 'package.json'), 'utf8')) as { commands: Array<{ name: string }> }
).commands.map((c) => c.name);

describe('ray build -e dist (offline, Linux)', () => {
  it(
    'builds every command; each bundle has the RPC client and no daemon, engine or native code',
    { timeout: 180_000 },
    async () => {
      rmSync(out, { recursive: true, force: true });
      const outcome = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [ray, 'build', '-e', 'dist', '-o', out, '--non-interactive'],
          { cwd: extension, timeout: 170_000, env: { ...process.env, CI: 'true' } },
          (_e, stdout, stderr) => resolve({ code: child.exitCode, output: `${stdout}${stderr}` }),
        );
      });
      expect(outcome.output).toContain('built extension successfully');
      expect(outcome.code).toBe(0);
      const withClient: string[] = [];
      for (const name of commands) {
        const bundle = path.join(out, `${name}.js`);
        expect(existsSync(bundle), `${name}.js`).toBe(true);
        expect(statSync(bundle).size).toBeLessThan(200 * 1024);
        const sources = (JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as { sources: string[] }).sources;
        // From core only its client entry (rpc/ and the import-free files it shares), never the engine or the daemon.
        // The maps name core's TypeScript sources (core/dist's own maps lead there) or its dist files.
        const core = sources.filter((x) => /(^|\/)core\/(src|dist)\//.test(x));
        for (const s of core)
          expect(s).toMatch(/core\/(src|dist)\/(rpc\/[a-z-]+|errors|defaults|platform-paths)\.[jt]s$/);
        for (const banned of ['pino', '/conf/', 'keyring', '@iscsi-initiator/native', 'native/']) {
          expect(
            sources.filter((x) => x.includes(banned)),
            banned,
          ).toEqual([]);
        }
        if (core.some((s) => /rpc\/client\.[jt]s$/.test(s))) withClient.push(name);
      }
      // The commands that talk to the daemon carry the typed client: at least the no-view ones, which open it.
      expect(withClient).toEqual(expect.arrayContaining(['connect-all', 'disconnect-all']));
    },
  );
});
