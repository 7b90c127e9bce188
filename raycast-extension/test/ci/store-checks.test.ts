// Issue 13: "`ray lint` looks the author up online, so CI runs what it checks offline instead: ESLint with Raycast's
// config, Prettier …". Both run on the extension as `ray lint` would, from its own folder with its own configs.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const extension = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);

describe('the extension is lint-clean (Raycast ESLint config, Prettier)', () => {
  it(
    "ESLint with Raycast's config (@raycast/eslint-config, as `ray lint` runs it) finds nothing",
    { timeout: 60_000 },
    async () => {
      const eslint = new ESLint({ cwd: extension });
      // The config in force is Raycast's: its own plugin's rules are on for the extension's sources.
      const config = (await eslint.calculateConfigForFile(path.join(extension, 'src/lib/daemon.ts'))) as {
        rules: Record<string, unknown>;
      };
      expect(Object.keys(config.rules)).toContain('@raycast/prefer-title-case');
      const results = await eslint.lintFiles(['.']);
      expect(results.length).toBeGreaterThan(0);
      const problems = results.flatMap((r) =>
        r.messages.map((m) => `${path.relative(extension, r.filePath)}:${m.line} ${m.ruleId ?? ''} ${m.message}`),
      );
      expect(problems).toEqual([]);
    },
  );

  it('Prettier --check passes with the extension .prettierrc', { timeout: 60_000 }, async () => {
    const bin = path.join(path.dirname(require.resolve('prettier/package.json')), 'bin/prettier.cjs');
    const outcome = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [bin, '--check', '.'],
        { cwd: extension, timeout: 50_000 },
        (_e, stdout, stderr) => resolve({ code: child.exitCode, output: `${stdout}${stderr}` }),
      );
    });
    expect(outcome.output).toContain('All matched files use Prettier code style');
    expect(outcome.code).toBe(0);
  });
});
