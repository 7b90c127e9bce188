// Issue 9: "The README says to run `sudo node core/bin/iscsid.js`. That runs whatever `node` is on PATH (Node 20 here),
// not the repo's. Give commands that use the repo's Node." The README's commands are run here as written, with a PATH
// on which `node` is the machine's, and the bins refuse an old Node in one line instead of half-working.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const systemNode = ['/usr/local/bin/node', '/usr/bin/node'].find((p) => existsSync(p));
const systemMajor = systemNode === undefined ? undefined : Number(execFileSync(systemNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
const docs = ['README.md', 'docs/api.md', 'docs/security.md', 'bench/README.md'].map((f) => [f, readFileSync(path.join(root, f), 'utf8')] as const);

describe('the documented commands run the repo\'s Node', () => {
  it('no document tells anyone to run a bin with the `node` on PATH', () => {
    for (const [file, text] of docs) expect(text, file).not.toMatch(/\bnode (core|cli)\/bin\//);
    expect(readFileSync(path.join(root, 'README.md'), 'utf8')).toMatch(/sudo npx iscsid/);
  });

  it('`npx iscsid --help` and `npm run iscsid -- --help`, with the machine\'s PATH, start iscsid under Node ≥ 22', () => {
    for (const [cmd, args] of [['npx', ['iscsid', '--help']], ['npm', ['run', '--silent', 'iscsid', '--', '--help']]] as const) {
      const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, PATH: SYSTEM_PATH }, encoding: 'utf8', timeout: 20_000 });
      expect(r.stderr, `${cmd} ${args.join(' ')}`).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: iscsid .*--secrets-dir DIR/);
    }
  });

  it.runIf(systemMajor !== undefined && systemMajor < 22)('an older Node is refused in one line that says what to run (this machine: /usr/bin/node < 22)', () => {
    for (const [bin, fix] of [['core/bin/iscsid.js', 'sudo npx iscsid'], ['cli/bin/run.js', 'npx iscsiadm']] as const) {
      const r = spawnSync(systemNode!, [path.join(root, bin), '--help'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(fix);
    }
  });
});
