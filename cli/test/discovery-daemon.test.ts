// `iscsiadm discovery` with and without iscsid: the built bin spawned against a real iscsid and a real tgtd.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIscsid, type IscsidInstance } from '../../test/src/iscsid.js';
import { freePort, startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';
import { runCli, type Run } from './run-cli.js';

const DISK1 = 'iqn.2026-11.test.discovery:disk1';
const DISK2 = 'iqn.2026-11.test.discovery:disk2';


function iscsiadm(args: string[]): Promise<Run> {
  return runCli(args, { env: { ISCSID_SOCKET: '', ISCSI_INITIATOR_NAME: 'iqn.2026-11.io.github.iscsi-initiator:discovery-test' } });
}

let tgt: TgtdInstance;
let iscsid: IscsidInstance;
let noDaemonDir: string;
let noDaemonSocket: string;

beforeAll(async () => {
  tgt = await startTgtd({ targets: [{ iqn: DISK1, luns: [{ sizeBytes: 8 << 20 }] }, { iqn: DISK2, luns: [{ sizeBytes: 8 << 20 }] }] });
  iscsid = await startIscsid();
  noDaemonDir = mkdtempSync(path.join(os.tmpdir(), 'no-iscsid-'));
  noDaemonSocket = path.join(noDaemonDir, 'iscsid.sock');
});

afterAll(async () => {
  await iscsid?.stop();
  await tgt?.stop();
  if (noDaemonDir) rmSync(noDaemonDir, { recursive: true, force: true });
});

const expectedLines = (): string[] => [`${tgt.portal},1 ${DISK1}`, `${tgt.portal},1 ${DISK2}`];

describe('iscsiadm discovery with iscsid', () => {
  it('RFC 7143 §4.3 SendTargets=All through iscsid: same lines as direct discovery, and the nodes are recorded', async () => {
    const run = await iscsiadm(['-m', 'discovery', '-t', 'st', '-p', tgt.portal, '--socket', iscsid.socket]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim().split('\n').sort()).toEqual(expectedLines());
    const nodes = await iscsiadm(['node', '--socket', iscsid.socket]);
    expect(nodes.stdout.trim().split('\n').sort()).toEqual(expectedLines());
  });

  it('--json reports how many node records were written', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal, '--socket', iscsid.socket, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { recorded: number; targets: Array<{ targetName: string; portals: unknown[] }> };
    expect(result.recorded).toBe(2);
    expect(result.targets.map((t) => t.targetName).sort()).toEqual([DISK1, DISK2]);
    expect(result.targets[0]!.portals[0]).toEqual({ address: '127.0.0.1', port: tgt.port, portalGroupTag: 1 });
  });

  it('-l logs in to every discovered node', async () => {
    const run = await iscsiadm(['discovery', '-t', 'st', '-p', tgt.portal, '-l', '--socket', iscsid.socket]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('Login to ['))).toHaveLength(2);
    expect(await tgt.connections(DISK1)).toBe(1);
    expect(await tgt.connections(DISK2)).toBe(1);
    // Again: every node already has a session — open-iscsi's exit 15.
    const again = await iscsiadm(['discovery', '-p', tgt.portal, '-l', '--socket', iscsid.socket]);
    expect(again.code).toBe(15);
    expect((await iscsiadm(['node', '-U', 'all', '--socket', iscsid.socket])).code).toBe(0);
    expect(await tgt.connections(DISK1)).toBe(0);
  });

  it('a closed port through iscsid exits 4 (transport error) with one line', async () => {
    const run = await iscsiadm(['discovery', '-p', `127.0.0.1:${await freePort()}`, '--socket', iscsid.socket]);
    expect(run.code).toBe(4);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('iscsiadm discovery without iscsid', () => {
  it('discovers directly and says, in one stderr line, that nothing was recorded', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal, '--socket', noDaemonSocket]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').sort()).toEqual(expectedLines());
    expect(run.stderr).toBe('iscsid is not running: discovered directly, nothing recorded\n');
  });

  it('-l needs iscsid: exit 20 with one line', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal, '-l', '--socket', noDaemonSocket]);
    expect(run.code).toBe(20);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^iscsiadm: iscsid is not running/);
  });

  it('the default socket has no daemon in this test environment, so cli.test.ts discovers directly', async () => {
    const run = await iscsiadm(['discovery', '-p', tgt.portal]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('iscsid is not running: discovered directly, nothing recorded\n');
  });
});
