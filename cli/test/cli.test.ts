// iscsiadm run as a user runs it: the built bin spawned with real arguments against a real tgtd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';
import { translateModeArgs } from '../src/mode-args.js';
import { runCli, type Run } from './run-cli.js';

const PLAIN = 'iqn.2026-11.test.cli:plain';
const CHAP = 'iqn.2026-11.test.cli:chap';
const SECRET = 'cli-secret-never-shown';
const TARGET_SECRET = 'cli-target-secret-x';


function iscsiadm(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { env: { ISCSI_INITIATOR_NAME: 'iqn.2026-11.io.github.iscsi-initiator:cli-test', ...env } });
}

/** One line a person can act on: no stack frames, no multi-line dumps (issue 2, CLI failures). */
function expectOneLineError(run: Run): void {
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iscsiadm: /);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

let tgt: TgtdInstance;

beforeAll(async () => {
  tgt = await startTgtd({
    targets: [
      { iqn: PLAIN, luns: [{ sizeBytes: 32 << 20 }] },
      { iqn: CHAP, chap: { incoming: [{ user: 'cli-user', secret: SECRET }], outgoing: { user: 'cli-target', secret: TARGET_SECRET } } },
    ],
  });
});

afterAll(async () => {
  await tgt?.stop();
});

describe('open-iscsi\'s -m form is the topic form', () => {
  it('rewrites "-m discovery -t st -p host" to "discovery -t st -p host", leaving other arguments in order', () => {
    expect(translateModeArgs(['-m', 'discovery', '-t', 'st', '-p', 'h'])).toEqual(['discovery', '-t', 'st', '-p', 'h']);
    expect(translateModeArgs(['--mode=node', '-T', 'iqn.x', '--login'])).toEqual(['node', '-T', 'iqn.x', '--login']);
    expect(translateModeArgs(['-p', 'h', '-m', 'session'])).toEqual(['session', '-p', 'h']);
    expect(translateModeArgs(['lun', 'inquiry', 'iscsi://h/t/1'])).toEqual(['lun', 'inquiry', 'iscsi://h/t/1']);
  });
});

describe('iscsiadm discovery', () => {
  it('prints open-iscsi\'s "PORTAL,TPGT IQN" lines, the same in topic and -m form', async () => {
    const topic = await iscsiadm(['discovery', '-p', tgt.portal]);
    const mode = await iscsiadm(['-m', 'discovery', '-t', 'st', '-p', tgt.portal]);
    expect(topic.code).toBe(0);
    expect(mode.code).toBe(0);
    expect(topic.stdout.trim().split('\n').sort()).toEqual([`${tgt.portal},1 ${CHAP}`, `${tgt.portal},1 ${PLAIN}`]);
    expect(mode.stdout).toBe(topic.stdout);
  });

  it('--json prints only JSON', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.targets.map((t: { targetName: string }) => t.targetName).sort()).toEqual([CHAP, PLAIN]);
    expect(result.targets[0].portals[0]).toEqual({ address: '127.0.0.1', port: tgt.port, portalGroupTag: 1 });
  });

  it('a closed port exits 4 (transport error) with one line naming the problem', async () => {
    const run = await iscsiadm(['discovery', '-p', `127.0.0.1:${await freePort()}`]);
    expect(run.code).toBe(4);
    expectOneLineError(run);
    expect(run.stderr).toMatch(/connection refused/);
  });

  it('a malformed portal exits 7 (invalid argument)', async () => {
    const run = await iscsiadm(['discovery', '-p', '[::1']);
    expect(run.code).toBe(7);
    expectOneLineError(run);
  });

  it('an unknown flag exits 7 with one line', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal, '--no-such-flag']);
    expect(run.code).toBe(7);
    expectOneLineError(run);
  });
});

describe('iscsiadm lun inquiry / capacity (direct, libiscsi URL)', () => {
  it('inquiry --json gives the standard INQUIRY and VPD 0x80/0x83 data', async () => {
    const run = await iscsiadm(['lun', 'inquiry', `iscsi://${tgt.portal}/${PLAIN}/1`, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ vendor: 'IET', product: 'VIRTUAL-DISK', deviceType: 'direct access block device' });
    expect(result.supportedVpdPages).toEqual(expect.arrayContaining([0x00, 0x80, 0x83]));
    expect(result.serialNumber).toMatch(/\S/);
    expect(result.designators.length).toBeGreaterThan(0);
  });

  it('capacity prints the size from READ CAPACITY 16', async () => {
    const run = await iscsiadm(['lun', 'capacity', `iscsi://${tgt.portal}/${PLAIN}/1`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Blocks:\s+65536 × 512 bytes/);
    expect(run.stdout).toMatch(/Size:\s+33554432 bytes \(32\.0 MiB\)/);
  });

  it('capacity with header and data digests from the URL query', async () => {
    const run = await iscsiadm(['lun', 'capacity', `iscsi://${tgt.portal}/${PLAIN}/1?header_digest=none&data_digest=none`, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ sizeBytes: String(32 << 20), blockLength: 512 });
  });

  it('mutual CHAP with secrets from the environment; the secrets never appear in the output', async () => {
    const env = { ISCSI_CHAP_USERNAME: 'cli-user', ISCSI_CHAP_SECRET: SECRET, ISCSI_CHAP_TARGET_USERNAME: 'cli-target', ISCSI_CHAP_TARGET_SECRET: TARGET_SECRET };
    const run = await iscsiadm(['lun', 'capacity', `iscsi://${tgt.portal}/${CHAP}/1`, '--json'], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).blockLength).toBe(512);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(run.stdout + run.stderr).not.toContain(TARGET_SECRET);
  });

  it('a wrong secret exits 24 (authentication failure) with the hint, and does not echo the secret', async () => {
    const run = await iscsiadm(['lun', 'capacity', `iscsi://${tgt.portal}/${CHAP}/1`], { ISCSI_CHAP_USERNAME: 'cli-user', ISCSI_CHAP_SECRET: 'wrong-secret-value' });
    expect(run.code).toBe(24);
    expectOneLineError(run);
    expect(run.stderr).toMatch(/authentication failed: check the CHAP user name and secret/);
    expect(run.stderr).not.toContain('wrong-secret-value');
  });

  it('a secret in the URL is accepted but never printed, even in an error', async () => {
    const run = await iscsiadm(['lun', 'capacity', `iscsi://cli-user%url-secret-zz@${tgt.portal}/${CHAP}/1`, '--json']);
    expect(run.code).toBe(24);
    expect(run.stdout + run.stderr).not.toContain('url-secret-zz');
    expect(JSON.parse(run.stdout).error.code).toBe('ISCSI_LOGIN_AUTH_FAILED');
  });

  it('an unknown target exits 19 (non-retryable login failure) and says to run discovery', async () => {
    const run = await iscsiadm(['lun', 'inquiry', `iscsi://${tgt.portal}/iqn.2026-11.test.cli:missing/1`]);
    expect(run.code).toBe(19);
    expectOneLineError(run);
    expect(run.stderr).toMatch(/Not found.*discovery/);
  });

  it('a URL without a LUN exits 7 (invalid argument) and names what is missing', async () => {
    const run = await iscsiadm(['lun', 'inquiry', `iscsi://${tgt.portal}/${PLAIN}`]);
    expect(run.code).toBe(7);
    expectOneLineError(run);
    expect(run.stderr).toMatch(/missing the LUN/);
  });
});

describe('help', () => {
  it('every command documents its examples and the exit codes', async () => {
    for (const command of [['discovery'], ['lun', 'inquiry'], ['lun', 'capacity']]) {
      const run = await iscsiadm([...command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/EXAMPLES/);
      expect(run.stdout).toMatch(/24 authentication failed/);
    }
  });
});
