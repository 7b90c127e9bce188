// Issue 9, "one source of truth": iscsid's --help prints the state, secrets and log locations of core/src/platform-
// paths.ts for the platform, and names every option main.ts accepts (it used to leave out --secrets-dir).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SOCKET_PATH } from '../../src/defaults.js';
import { usage } from '../../src/daemon/usage.js';
import { defaultDaemonPaths } from '../../src/platform-paths.js';

const main = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/daemon/main.ts'), 'utf8');

describe('iscsid --help', () => {
  it.each(['darwin', 'linux'])('on %s shows that platform\'s paths', (platform) => {
    const text = usage(platform);
    const paths = defaultDaemonPaths(platform);
    for (const p of [paths.stateDir, paths.secretsDir, paths.logFile, DEFAULT_SOCKET_PATH]) expect(text).toContain(p);
  });

  it('the usage line and the option list name exactly the options main.ts parses', () => {
    const parsed = [...main.matchAll(/^\s+'?([a-z-]+)'?: \{ type: '(string|boolean)'/gm)].map((m) => m[1]!).filter((o) => o !== 'help');
    const text = usage('linux');
    const [line, ...rest] = text.split('\n');
    for (const option of parsed) {
      expect(line).toContain(`--${option}`);
      expect(rest.some((l) => l.trimStart().startsWith(`--${option} `))).toBe(true);
    }
    expect(parsed.length).toBeGreaterThanOrEqual(7);
  });
});
