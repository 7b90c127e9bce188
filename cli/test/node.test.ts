// `iscsiadm node` as a user runs it: the built bin spawned against a real iscsid (startIscsid) and a real tgtd.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIscsid, type IscsidInstance } from '../../test/src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/run.js');
const PLAIN = 'iqn.2026-11.test.node:plain';
const CHAP = 'iqn.2026-11.test.node:chap';
const CHAP_USER = 'node-user';
const SECRET = 'node-chap-secret-never-shown';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function iscsiadm(args: string[], options: { stdin?: string; detached?: boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args, '--socket', iscsid.socket], {
      env: { ...process.env, ISCSID_SOCKET: '' },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // A new session has no controlling terminal, so /dev/tty cannot be opened (the no-prompt path).
      detached: options.detached ?? false,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (options.stdin !== undefined) child.stdin!.end(options.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Both spellings: the oclif topic (`node …`) and open-iscsi's (`-m node …`) must behave the same. */
const FORMS: Array<[string, (args: string[]) => string[]]> = [
  ['node …', (args) => ['node', ...args]],
  ['-m node …', (args) => ['-m', 'node', ...args]],
];

function psArgs(): Promise<string> {
  return new Promise((resolve, reject) => execFile('ps', ['-eo', 'args'], (error, stdout) => (error ? reject(error) : resolve(stdout))));
}

/** Runs iscsiadm while sampling every process's argv until it exits; resolves the run and the samples. */
async function runSamplingPs(args: string[], stdin?: string): Promise<{ run: Run; samples: string[] }> {
  const samples: string[] = [];
  let done = false;
  const sampler = (async () => {
    do samples.push(await psArgs());
    while (!done);
  })();
  const run = await iscsiadm(args, stdin === undefined ? {} : { stdin });
  done = true;
  await sampler;
  return { run, samples };
}

let tgt: TgtdInstance;
let iscsid: IscsidInstance;

beforeAll(async () => {
  tgt = await startTgtd({
    targets: [{ iqn: PLAIN, luns: [{ sizeBytes: 8 << 20 }] }, { iqn: CHAP, luns: [{ sizeBytes: 8 << 20 }], chap: { incoming: [{ user: CHAP_USER, secret: SECRET }] } }],
  });
  iscsid = await startIscsid();
});

afterAll(async () => {
  await iscsid?.stop();
  await tgt?.stop();
});

describe('iscsiadm node', () => {
  it.each(FORMS)('an empty node database exits 21 (no records found) — %s', async (_name, form) => {
    const run = await iscsiadm(form([]));
    expect(run.code).toBe(21);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('iscsiadm: no records found\n');
  });

  it('discovery through iscsid records the nodes (RFC 7143 §4.3 SendTargets=All)', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
  });

  it.each(FORMS)('lists nodes one per line as "PORTAL,TPGT IQN" — %s', async (_name, form) => {
    const run = await iscsiadm(form([]));
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').sort()).toEqual([`${tgt.portal},1 ${CHAP}`, `${tgt.portal},1 ${PLAIN}`]);
    const json = await iscsiadm(form(['--json']));
    const records = JSON.parse(json.stdout) as Array<{ targetName: string; portal: string; portalGroupTag: number; settings: Record<string, string> }>;
    expect(records.map((r) => r.targetName).sort()).toEqual([CHAP, PLAIN]);
    expect(records[0]!.settings['node.startup']).toBe('manual');
  });

  it.each(FORMS)('-o show prints every setting as "key = value" — %s', async (_name, form) => {
    const run = await iscsiadm(form(['-T', PLAIN, '-p', tgt.portal, '-o', 'show']));
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe(`node.name = ${PLAIN}`);
    expect(lines).toContain('node.tpgt = 1');
    expect(lines).toContain(`node.conn[0].port = ${tgt.port}`);
    expect(lines).toContain('node.startup = manual');
    expect(lines).toContain('node.session.auth.password = <empty>');
    for (const line of lines) expect(line).toMatch(/^\S+ = \S/);
  });

  it('an unknown node exits 21', async () => {
    const run = await iscsiadm(['node', '-T', 'iqn.2026-11.test.node:missing', '-o', 'show']);
    expect(run.code).toBe(21);
  });

  it.each(FORMS)('-o update -n KEY -v VALUE stores the canonical value — %s', async (_name, form) => {
    const run = await iscsiadm(form(['-T', PLAIN, '-o', 'update', '-n', 'node.conn[0].iscsi.HeaderDigest', '-v', 'crc32c,none']));
    expect(run.code).toBe(0);
    const show = await iscsiadm(form(['-T', PLAIN, '-o', 'show']));
    expect(show.stdout).toContain('node.conn[0].iscsi.HeaderDigest = CRC32C,None');
    const reset = await iscsiadm(form(['-T', PLAIN, '-o', 'update', '-n', 'node.conn[0].iscsi.HeaderDigest', '-v', 'None']));
    expect(reset.code).toBe(0);
  });

  it('a bad value exits 7 with one line', async () => {
    const run = await iscsiadm(['node', '-T', PLAIN, '-o', 'update', '-n', 'node.startup', '-v', 'sometimes']);
    expect(run.code).toBe(7);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each(FORMS)('--login opens a session, a second one exits 15 (session exists), --logout closes it — %s', async (_name, form) => {
    const login = await iscsiadm(form(['-T', PLAIN, '-p', tgt.portal, '--login']));
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe(`Login to [target: ${PLAIN}, portal: ${tgt.portal}] successful.\n`);
    expect(await tgt.connections(PLAIN)).toBe(1);
    const again = await iscsiadm(form(['-T', PLAIN, '-p', tgt.portal, '--login']));
    expect(again.code).toBe(15);
    expect(again.stderr).toMatch(/^iscsiadm: could not log in to .*already logged in/);
    expect(await tgt.connections(PLAIN)).toBe(1);
    const logout = await iscsiadm(form(['-T', PLAIN, '-p', tgt.portal, '--logout']));
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout).toMatch(/^Logout of \[sid: \d+, target: iqn\.2026-11\.test\.node:plain, portal: .*\] successful\.\n$/);
    expect(await tgt.connections(PLAIN)).toBe(0);
    const none = await iscsiadm(form(['-T', PLAIN, '--logout']));
    expect(none.code).toBe(21);
  });

  it('a secret is never taken from -v: exit 7 and nothing stored', async () => {
    for (const key of ['node.session.auth.password', 'node.session.auth.password_in']) {
      const run = await iscsiadm(['node', '-T', CHAP, '-o', 'update', '-n', key, '-v', 'argv-secret-zz']);
      expect(run.code).toBe(7);
      expect(run.stderr).toMatch(/^iscsiadm: secrets are never taken from the command line/);
      expect(run.stdout + run.stderr).not.toContain('argv-secret-zz');
    }
    const show = await iscsiadm(['node', '-T', CHAP, '-o', 'show']);
    expect(show.stdout).toContain('node.session.auth.password = <empty>');
  });

  it('without a terminal and without --password-stdin the secret update exits 7', async () => {
    const run = await iscsiadm(['node', '-T', CHAP, '-o', 'update', '-n', 'node.session.auth.password'], { detached: true });
    expect(run.code).toBe(7);
    expect(run.stderr).toMatch(/^iscsiadm: no terminal.*--password-stdin/);
  });

  it('CHAP (RFC 7143 §12.1.3): the password from --password-stdin logs in; it never shows in output or in ps', async () => {
    for (const [key, value] of [
      ['node.session.auth.authmethod', 'CHAP'],
      ['node.session.auth.username', CHAP_USER],
    ] as const) {
      expect((await iscsiadm(['node', '-T', CHAP, '-o', 'update', '-n', key, '-v', value])).code).toBe(0);
    }
    // With CHAP on and no secret stored yet, iscsid refuses to start the login.
    const early = await iscsiadm(['node', '-T', CHAP, '--login']);
    expect(early.code).toBe(24); // ISCSI_CHAP_MISSING_CREDENTIALS: an authentication failure, open-iscsi's 24
    expect(early.stderr).toMatch(/uses CHAP but has no secret stored/);
    expect(await tgt.connections(CHAP)).toBe(0);

    const store = await runSamplingPs(['node', '-T', CHAP, '-o', 'update', '-n', 'node.session.auth.password', '--password-stdin'], `${SECRET}\nignored second line\n`);
    expect(store.run.code, store.run.stderr).toBe(0);
    const show = await iscsiadm(['node', '-T', CHAP, '-o', 'show']);
    expect(show.stdout).toContain('node.session.auth.password = ********');

    const login = await runSamplingPs(['-m', 'node', '-T', CHAP, '-p', tgt.portal, '--login']);
    expect(login.run.code, login.run.stderr).toBe(0);
    expect(await tgt.connections(CHAP)).toBe(1);

    expect(login.samples.length).toBeGreaterThan(0);
    for (const out of [store.run, login.run, show]) expect(out.stdout + out.stderr).not.toContain(SECRET);
    for (const sample of [...store.samples, ...login.samples]) expect(sample).not.toContain(SECRET);
    expect(iscsid.output()).not.toContain(SECRET);
    expect((await iscsiadm(['node', '-T', CHAP, '--logout'])).code).toBe(0);
    // -S (issue 6: "shows secrets only to root"): this test runs as root, so iscsid reveals it on explicit request.
    const shown = await iscsiadm(['node', '-T', CHAP, '-o', 'show', '-S']);
    expect(shown.stdout).toContain(`node.session.auth.password = ${SECRET}`);
  });

  it.each(FORMS)('-L all logs in to every node, -U all logs out every session — %s', async (_name, form) => {
    const login = await iscsiadm(form(['-L', 'all']));
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout.trim().split('\n')).toHaveLength(2);
    expect(await tgt.connections(PLAIN)).toBe(1);
    expect(await tgt.connections(CHAP)).toBe(1);
    const logout = await iscsiadm(form(['-U', 'all']));
    expect(logout.code, logout.stderr).toBe(0);
    expect(logout.stdout.trim().split('\n')).toHaveLength(2);
    expect(await tgt.connections(PLAIN)).toBe(0);
    expect(await tgt.connections(CHAP)).toBe(0);
    expect((await iscsiadm(form(['-U', 'all']))).code).toBe(21);
  });

  it('-L automatic logs in only to nodes with node.startup = automatic', async () => {
    expect((await iscsiadm(['node', '-L', 'automatic'])).code).toBe(21);
    expect((await iscsiadm(['node', '-T', PLAIN, '-o', 'update', '-n', 'node.startup', '-v', 'automatic'])).code).toBe(0);
    const run = await iscsiadm(['node', '-L', 'automatic', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { sessions: Array<{ targetName: string }>; failures: unknown[] };
    expect(result.sessions.map((s) => s.targetName)).toEqual([PLAIN]);
    expect(await tgt.connections(CHAP)).toBe(0);
    expect((await iscsiadm(['node', '-U', 'all'])).code).toBe(0);
  });

  it.each(FORMS)('-o delete forgets the node — %s', async (_name, form) => {
    const run = await iscsiadm(form(['-T', PLAIN, '-p', tgt.portal, '-o', 'delete', '--json']));
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ deleted: 1 });
    expect((await iscsiadm(form(['-T', PLAIN, '-o', 'show']))).code).toBe(21);
    // Put it back for the other form.
    expect((await iscsiadm(['discovery', '-p', tgt.portal])).code).toBe(0);
  });
});

describe('the hidden prompt on a real terminal (util-linux script gives the command a pty)', () => {
  it('a secret typed at the prompt is stored, and never echoed to the terminal', async () => {
    const typed = 'typed-at-the-prompt-42';
    const command = [process.execPath, bin, 'node', '-T', CHAP, '-o', 'update', '-n', 'node.session.auth.password_in', '--socket', iscsid.socket]
      .map((a) => `'${a}'`)
      .join(' ');
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      // Type the secret once the prompt is on the screen.
      const typeWhenPrompted = setInterval(() => {
        if (out.includes('node.session.auth.password_in')) {
          clearInterval(typeWhenPrompted);
          child.stdin.write(`${typed}\r`);
        }
      }, 20);
      child.on('close', (code) => {
        clearTimeout(timer);
        clearInterval(typeWhenPrompted);
        resolve({ code, out });
      });
    });
    expect(run.code, run.out).toBe(0);
    expect(run.out).not.toContain(typed); // the terminal's echo was off while typing
    const shown = await iscsiadm(['node', '-T', CHAP, '-o', 'show', '-S']);
    expect(shown.stdout).toContain(`node.session.auth.password_in = ${typed}`);
  });
});
