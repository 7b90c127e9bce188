// iscsiadm session / initiator against a real iscsid (startIscsid) logged in to a real tgtd: the built bin spawned
// as a user runs it. Sessions are made through the daemon's RPC directly (RpcClient), not through `iscsiadm node`.
import path from 'node:path';
import { RpcClient } from '@iscsi-initiator/core/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIscsid, type IscsidInstance } from '../../test/src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';
import { runCli, type Run } from './run-cli.js';

const TARGET = 'iqn.2026-11.test.cli:session';
const LUN_BYTES = 32 << 20;


let tgt: TgtdInstance;
let daemon: IscsidInstance;
let sid: number;

function iscsiadm(args: string[]): Promise<Run> {
  return runCli([...args, '--socket', daemon.socket]);
}

async function rpc<T>(method: string, params?: Record<string, unknown>): Promise<T> {
  const client = await RpcClient.connect(daemon.socket);
  try {
    return (await client.callUnchecked(method, params)) as T;
  } finally {
    client.close();
  }
}

function expectOneLineError(run: Run): void {
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iscsiadm: /);
}

beforeAll(async () => {
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: LUN_BYTES }], params: { MaxBurstLength: '131072' } }] });
  daemon = await startIscsid();
  await rpc('discovery.sendTargets', { portal: tgt.portal });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
  await tgt?.stop();
}, 30_000);

describe('no sessions', () => {
  it('exits 21 (open-iscsi ISCSI_ERR_NO_OBJS_FOUND) with one line, and --json prints []', async () => {
    const run = await iscsiadm(['session']);
    expect(run.code).toBe(21);
    expect(run.stdout).toBe('');
    expectOneLineError(run);
    expect(run.stderr).toMatch(/No active sessions/);
    const json = await iscsiadm(['-m', 'session', '--json']);
    expect(json.code).toBe(21);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('a daemon that is not there exits 20 with one line', async () => {
    const run = await runCli(['session', '--socket', path.join(daemon.dir, 'nobody.sock')]);
    expect(run.code).toBe(20);
    expectOneLineError(run);
  });
});

describe('with a session', () => {
  beforeAll(async () => {
    ({ sid } = await rpc<{ sid: number }>('sessions.login', { targetName: TARGET }));
  }, 30_000);

  it('lists one line per session, tcp: [SID] PORTAL,TPGT IQN (non-flash), the same in topic and -m form', async () => {
    const topic = await iscsiadm(['session']);
    const mode = await iscsiadm(['-m', 'session']);
    expect(topic.code).toBe(0);
    expect(topic.stdout).toBe(`tcp: [${sid}] ${tgt.portal},1 ${TARGET} (non-flash)\n`);
    expect(mode).toEqual(topic);
  });

  it('--json prints only the daemon\'s sessions.list result', async () => {
    const run = await iscsiadm(['session', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([expect.objectContaining({ sid, targetName: TARGET, portal: tgt.portal, state: 'logged-in' })]);
  });

  it('-P 1 adds state, ISID (RFC 7143 §11.12.5, 12 hex digits) and TSIH (§11.12.4, non-zero once logged in)', async () => {
    const run = await iscsiadm(['-m', 'session', '-P', '1']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Target: ${TARGET} (non-flash)\n\tCurrent Portal: ${tgt.portal},1\n`);
    expect(run.stdout).toMatch(/\t\tiSCSI Connection State: LOGGED IN\n/);
    expect(run.stdout).toMatch(/\t\tiSCSI Session State: LOGGED_IN\n/);
    expect(run.stdout).toMatch(/\t\tISID: [0-9a-f]{12}\n/);
    expect(run.stdout).toMatch(/\t\tTSIH: [1-9]\d*\n/);
    expect(run.stdout).toMatch(/Iface Initiatorname: iqn\./);
    expect(run.stdout).not.toMatch(/Negotiated iSCSI params/);
  });

  it('-P 2 adds the negotiated keys: MaxBurstLength is the minimum of both offers (RFC 7143 §13.13), and timeouts', async () => {
    const run = await iscsiadm(['session', '-P', '2']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Negotiated iSCSI params:/);
    expect(run.stdout).toMatch(/\t\tMaxBurstLength: 131072\n/);
    expect(run.stdout).toMatch(/\t\tHeaderDigest: None\n/);
    expect(run.stdout).toMatch(/\t\tRecovery Timeout: \d+\n/);
    expect(run.stdout).not.toMatch(/Attached SCSI devices/);
  });

  it('-P 3 adds each LUN: number, vendor, model, serial, size in human units and bytes, block length', async () => {
    const run = await iscsiadm(['session', '-r', String(sid), '-P', '3']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Attached SCSI devices:/);
    // tgtd's LUN 0 is a controller (not a disk); the configured disk is LUN 1.
    expect(run.stdout).toMatch(/\t\tLun: 1\n\t\t\tVendor: IET\s+Model: VIRTUAL-DISK\s+Rev: \S+\n\t\t\tSerial: \S+\n/);
    expect(run.stdout).toContain(`Size: 32.0 MiB (${LUN_BYTES} bytes), block length 512`);
    // Issue 12: an "Attached disk:" line per LUN; this daemon runs with no HBA (--hba none off macOS), so no disk.
    expect(run.stdout).toContain('\t\t\tAttached disk: (none)\n');
  });

  it('-P 3 --json is the daemon\'s sessions.get result, with parameters and luns', async () => {
    const run = await iscsiadm(['session', '-P', '3', '--json']);
    expect(run.code).toBe(0);
    const [s] = JSON.parse(run.stdout);
    expect(s.parameters.MaxBurstLength).toBe('131072');
    expect(s.luns).toEqual([expect.objectContaining({ lun: 1, vendor: 'IET', product: 'VIRTUAL-DISK', blockLength: 512 })]);
    expect(String(s.luns[0].sizeBytes)).toBe(String(LUN_BYTES));
    expect(s.luns[0].disk).toBeNull(); // issue 12: `disk` per LUN, null without an HBA
  });

  it('-r SID -s prints key: value statistics; --json is sessions.stats', async () => {
    await rpc('sessions.rescan', { sid }); // at least the scan's commands are counted
    const run = await iscsiadm(['-m', 'session', '-r', String(sid), '-s']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Stats for session \\[sid: ${sid}, target: ${TARGET.replace(/\./g, '\\.')}, portal: `));
    expect(run.stdout).toMatch(/\tscsicmd_pdus: [1-9]\d*\n/);
    expect(run.stdout).toMatch(/\trxdata_octets: [1-9]\d*\n/);
    expect(run.stdout).toMatch(/\tdigest_err: 0\n/);
    const json = await iscsiadm(['session', '-r', String(sid), '-s', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ sid, digestErrors: 0, commands: expect.any(Number) });
  });

  it('-r SID -R rescans (REPORT LUNS, INQUIRY, READ CAPACITY) and lists the LUNs, no spinner on a pipe', async () => {
    const run = await iscsiadm(['session', '-r', String(sid), '-R']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Rescanning session \[sid: /);
    expect(run.stdout).toMatch(/\tLun: 1\n\t\tVendor: IET/);
    expect(run.stderr).toBe('');
    const json = await iscsiadm(['session', '-r', String(sid), '-R', '--json']);
    expect(JSON.parse(json.stdout).luns).toEqual([expect.objectContaining({ lun: 1, blockLength: 512 })]);
  });

  it('an unknown SID exits 2 (open-iscsi ISCSI_ERR_SESS_NOT_FOUND) with one line, for every action', async () => {
    for (const action of [[], ['-s'], ['-R'], ['-u'], ['-P', '3']]) {
      const run = await iscsiadm(['session', '-r', '999', ...action]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expectOneLineError(run);
      expect(run.stderr).toMatch(/session not found/);
    }
    const json = await iscsiadm(['-m', 'session', '-r', '999', '-s', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error.code).toBe('ISCSI_SESSION_NOT_FOUND');
  });

  it('-s with -R is refused as an invalid argument (exit 7)', async () => {
    const run = await iscsiadm(['session', '-r', String(sid), '-s', '-R']);
    expect(run.code).toBe(7);
    expectOneLineError(run);
    // The charter: "bad input gets a clear, typed error" — the line says which flags clash, not only that something did.
    expect(run.stderr).toMatch(/--stats=.*cannot also be provided when using --rescan|--rescan=.*cannot also be provided when using --stats/);
  });

  it('--force without -u is refused as an invalid argument (exit 7), the line naming what it needs', async () => {
    const run = await iscsiadm(['session', '-r', String(sid), '--force']);
    expect(run.code).toBe(7);
    expectOneLineError(run);
    expect(run.stderr).toContain('--logout');
    const json = await iscsiadm(['session', '-r', String(sid), '--force', '--json']);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'ISCSI_BAD_ARGUMENT', message: expect.stringContaining('--logout') });
  });

  it('-r SID -u logs out (RFC 7143 §11.14): the target sees no connection, and the list is empty again', async () => {
    expect(await tgt.connections(TARGET)).toBe(1);
    const run = await iscsiadm(['-m', 'session', '-r', String(sid), '-u']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Logout of [sid: ${sid}, target: ${TARGET}, portal: ${tgt.portal},1] successful.`);
    expect(await tgt.connections(TARGET)).toBe(0);
    expect((await iscsiadm(['session'])).code).toBe(21);
  });

  it('-u without -r logs out every session; --json is sessions.logout\'s result', async () => {
    await rpc('sessions.login', { targetName: TARGET });
    const run = await iscsiadm(['session', '-u', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ loggedOut: 1 });
    expect(await tgt.connections(TARGET)).toBe(0);
  });
});

describe('iscsiadm initiator', () => {
  it('shows the name the daemon generated, in initiatorname.iscsi form', async () => {
    const run = await iscsiadm(['initiator']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^InitiatorName=iqn\.\S+\n$/);
  });

  it('--name/--alias set them (stored lower-case, RFC 7143 §4.2.7); --alias alone keeps the name; --json is the result', async () => {
    const set = await iscsiadm(['initiator', '--name', 'iqn.2026-11.com.Example:Studio', '--alias', 'studio', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ name: 'iqn.2026-11.com.example:studio', alias: 'studio' });
    const alias = await iscsiadm(['initiator', '--alias', 'desk']);
    expect(alias.stdout).toBe('InitiatorName=iqn.2026-11.com.example:studio\nInitiatorAlias=desk\n');
    const removed = await iscsiadm(['initiator', '--alias', '', '--json']);
    expect(JSON.parse(removed.stdout)).toEqual({ name: 'iqn.2026-11.com.example:studio' });
    expect(JSON.parse((await iscsiadm(['initiator', '--json'])).stdout)).toEqual({ name: 'iqn.2026-11.com.example:studio' });
  });

  it('an invalid name exits 7 with one line', async () => {
    const run = await iscsiadm(['initiator', '--name', 'not-an-iscsi-name']);
    expect(run.code).toBe(7);
    expectOneLineError(run);
  });
});
