// Our own initiator (core's IscsiSession / discoverTargets) against the test target: discovery, login with every
// authentication, data integrity across the burst/R2T configurations and digests, sense data, unit attention, task
// management, reinstatement, many sessions at once, and the runnable entry.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  discoverTargets,
  IscsiError,
  IscsiSession,
  LoginError,
  readCdb,
  ScsiError,
  SenseKey,
  TmfResponse,
  writeCdb,
  type OperationalProposal,
  type SessionOptions,
} from '@iscsi-initiator/core';
import { TestTarget } from '../src/test-target/index.js';
import { inParallel, mixedChunks } from '../src/workload.js';

const INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:test-target-tests';
const hasIpv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer();
  probe.once('error', () => resolve(false));
  probe.listen({ host: '::1', port: 0 }, () => probe.close(() => resolve(true)));
});
const BLOCK = 512;
const DATA_BYTES = 64 << 20;

let target: TestTarget;

beforeAll(async () => {
  target = await TestTarget.start({
    targets: [
      { name: 'iqn.2026-11.test.target:disk', luns: [{ size: '72M' }, { lun: 3, size: '1M', blockSize: 4096 }] },
      { name: 'iqn.2026-11.test.target:chap', chap: { incoming: { user: 'alice', secret: 'alice-secret-1' }, outgoing: { user: 'target', secret: 'target-secret-2' } } },
      { name: 'iqn.2026-11.test.target:tight', params: { maxRecvDataSegmentLength: 4096, maxBurstLength: 16384, firstBurstLength: 8192, maxOutstandingR2T: 2 } },
      { name: 'iqn.2026-11.test.target:quiet', unitAttentionOnLogin: false, cmdWindow: 4 },
    ],
  });
});

afterAll(async () => {
  await target?.close();
});

function open(targetName: string, extra: Partial<SessionOptions> = {}): Promise<IscsiSession> {
  return IscsiSession.open({ portal: target.portal, initiatorName: INITIATOR, targetName, loginTimeoutMs: 5_000, reconnect: false, ...extra });
}

async function rejection(promise: Promise<unknown>): Promise<IscsiError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(IscsiError);
    return e as IscsiError;
  }
  throw new Error('expected a rejection');
}

async function roundTrip(session: IscsiSession, bytes: number, seed: number): Promise<void> {
  const data = randomBytes(bytes);
  await inParallel(mixedChunks(bytes, seed, { maxBlocks: 4096 }), 8, async ({ offset, length }) => {
    await session.command({ lun: 0, cdb: writeCdb({ lba: offset / BLOCK, blocks: length / BLOCK }), writeData: data.subarray(offset, offset + length) });
  });
  const back = Buffer.alloc(bytes);
  await inParallel(mixedChunks(bytes, seed + 7, { maxBlocks: 4096 }), 8, async ({ offset, length }) => {
    await session.command({ lun: 0, cdb: readCdb({ lba: offset / BLOCK, blocks: length / BLOCK }), readLength: length, readBuffer: back.subarray(offset, offset + length) });
  });
  expect(back.equals(data)).toBe(true);
}

describe('discovery and login (RFC 7143 §6, §12, §13.3)', () => {
  it('SendTargets=All lists every target with TargetAddress host:port,tpgt (§13.3)', async () => {
    const found = await discoverTargets({ portal: target.portal, initiatorName: INITIATOR });
    expect(found.map((t) => t.targetName)).toEqual(target.targetNames);
    for (const t of found) expect(t.portals).toEqual([{ host: target.host, port: target.port, portalGroupTag: 1 }]);
  });

  it('AuthMethod=None: a TSIH is assigned and the keys we offered come back by their result functions (§6.2, §11.13)', async () => {
    const session = await open('iqn.2026-11.test.target:disk', { proposal: { maxBurstLength: 65536, firstBurstLength: 16384, initialR2T: true } });
    try {
      expect(session.tsih).toBeGreaterThan(0);
      expect(session.login.authenticated).toBe('None');
      expect(session.parameters.maxBurstLength).toBe(65536);
      expect(session.parameters.initialR2T).toBe(true);
      expect(session.parameters.maxXmitDataSegmentLength).toBe(262144); // the target's declaration (§13.12)
    } finally {
      await session.logout();
    }
  });

  it.each([5, 6, 7, 8])('one-way CHAP with CHAP_A=%i, and mutual CHAP (§12.1.3)', async (algorithm) => {
    const credentials = { username: 'alice', secret: Buffer.from('alice-secret-1') };
    const oneWay = await open('iqn.2026-11.test.target:chap', { auth: { method: 'CHAP', chap: { credentials, algorithms: [algorithm] } } });
    expect(oneWay.login.authenticated).toBe('CHAP');
    await oneWay.logout();
    const mutual = await open('iqn.2026-11.test.target:chap', {
      auth: { method: 'CHAP', chap: { credentials, algorithms: [algorithm], targetCredentials: { username: 'target', secret: Buffer.from('target-secret-2') } } },
    });
    expect(mutual.login.authenticated).toBe('Mutual CHAP');
    await mutual.logout();
  });

  it('a wrong CHAP secret, or no CHAP where it is required, fails with 0x0201 (§11.13.5)', async () => {
    const wrong = await rejection(open('iqn.2026-11.test.target:chap', { auth: { method: 'CHAP', chap: { credentials: { username: 'alice', secret: Buffer.from('nope') } } } }));
    expect(wrong).toBeInstanceOf(LoginError);
    expect([(wrong as LoginError).statusClass, (wrong as LoginError).statusDetail]).toEqual([2, 1]);
    const none = await rejection(open('iqn.2026-11.test.target:chap'));
    expect(none.code).toBe('ISCSI_LOGIN_AUTH_FAILED');
    expect(target.stats.loginFailures.filter((f) => f.status === 0x0201).length).toBeGreaterThanOrEqual(2);
  });

  it('mutual CHAP with a wrong target secret is caught by the initiator (§12.1.3)', async () => {
    const e = await rejection(
      open('iqn.2026-11.test.target:chap', {
        auth: { method: 'CHAP', chap: { credentials: { username: 'alice', secret: Buffer.from('alice-secret-1') }, targetCredentials: { username: 'target', secret: Buffer.from('not-the-one') } } },
      }),
    );
    expect(e.code).toBe('ISCSI_CHAP_TARGET_AUTH_FAILED');
  });

  it('an unknown target name fails with 0x0203 (§11.13.5)', async () => {
    const e = await rejection(open('iqn.2026-11.test.target:nope'));
    expect(e.code).toBe('ISCSI_LOGIN_TARGET_NOT_FOUND');
    expect([(e as LoginError).statusClass, (e as LoginError).statusDetail]).toEqual([2, 3]);
  });

  it('a new leading login with the same ISID and TSIH 0 reinstates: the old session is ended (§6.3.5)', async () => {
    const before = target.stats.reinstatements;
    const first = await open('iqn.2026-11.test.target:quiet');
    const closed = new Promise<void>((resolve) => first.on((e) => e.type === 'closed' && resolve()));
    const second = await open('iqn.2026-11.test.target:quiet'); // same initiator, target, portal: same ISID
    await closed;
    expect(first.isClosed).toBe(true);
    expect(target.stats.reinstatements).toBe(before + 1);
    expect(second.tsih).not.toBe(first.tsih);
    await second.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
    await second.logout();
  });

  it('serves many sessions at once, each with its own TSIH and CmdSN window (§4.2.2.1)', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 8 }, (_, i) => open('iqn.2026-11.test.target:quiet', { initiatorName: `${INITIATOR}-${i}` })),
    );
    try {
      expect(new Set(sessions.map((s) => s.tsih)).size).toBe(8);
      // cmdWindow 4: MaxCmdSN = ExpCmdSN + 3.
      for (const s of sessions) expect((s.numbering.maxCmdSN - s.numbering.expCmdSN) >>> 0).toBe(3);
      await Promise.all(sessions.map((s, i) => s.command({ lun: 0, cdb: writeCdb({ lba: i, blocks: 1 }), writeData: Buffer.alloc(BLOCK, i) })));
      const reads = await Promise.all(sessions.map((s, i) => s.command({ lun: 0, cdb: readCdb({ lba: i, blocks: 1 }), readLength: BLOCK })));
      reads.forEach((r, i) => expect(r.data.every((b) => b === i)).toBe(true));
    } finally {
      await Promise.all(sessions.map((s) => s.logout()));
    }
  });
});

describe('64 MiB written in mixed sizes reads back identical (§13.10-§13.14 burst rules, §13.1 digests)', () => {
  const cases: Array<[string, string, OperationalProposal]> = [
    ['ImmediateData=Yes, InitialR2T=No (unsolicited Data-Out)', 'iqn.2026-11.test.target:disk', {}],
    ['InitialR2T=Yes, ImmediateData=Yes', 'iqn.2026-11.test.target:disk', { initialR2T: true, immediateData: true }],
    ['InitialR2T=Yes, ImmediateData=No (every byte by R2T)', 'iqn.2026-11.test.target:disk', { initialR2T: true, immediateData: false }],
    ['InitialR2T=No, ImmediateData=No', 'iqn.2026-11.test.target:disk', { initialR2T: false, immediateData: false }],
    ['a small MaxBurstLength (16 KiB), MaxOutstandingR2T 2, 4 KiB segments', 'iqn.2026-11.test.target:tight', { initialR2T: true }],
    ['header and data digests (CRC32C)', 'iqn.2026-11.test.target:disk', { headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] }],
  ];
  it.each(cases)('%s', async (_name, targetName, proposal) => {
    const violations = target.stats.violations.length;
    const session = await open(targetName, { proposal });
    try {
      if (proposal.headerDigest) expect([session.parameters.headerDigest, session.parameters.dataDigest]).toEqual([true, true]);
      if (targetName.endsWith('tight')) {
        expect(session.parameters.maxBurstLength).toBe(16384);
        expect(session.parameters.maxXmitDataSegmentLength).toBe(4096);
      }
      // The 1 MiB LUN of 'tight' is too small: its own LUN 0 is 64 MiB by default.
      await roundTrip(session, DATA_BYTES, proposal.immediateData === false ? 3 : 5);
      expect(target.stats.violations.length).toBe(violations); // our initiator kept every rule
    } finally {
      await session.logout();
    }
  });
});

describe('SCSI status and sense on the wire (SPC-4 §4.5, SAM-5 §5.14)', () => {
  let session: IscsiSession;
  beforeAll(async () => {
    session = await open('iqn.2026-11.test.target:disk');
  });
  afterAll(async () => {
    await session?.logout();
  });

  it('the first command of a new I_T nexus sees UNIT ATTENTION 29h/00h once (retried by the initiator)', async () => {
    const unitAttentions: number[] = [];
    session.on((e) => e.type === 'unit-attention' && unitAttentions.push(e.sense.asc));
    await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
    await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
    expect(unitAttentions).toEqual([0x29]);
  });

  it('a read past the end: CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE 21h/00h', async () => {
    const e = (await rejection(session.command({ lun: 0, cdb: readCdb({ lba: (72 << 20) / BLOCK - 1, blocks: 2 }), readLength: 2 * BLOCK }))) as ScsiError;
    expect([e.senseKey, e.asc, e.ascq]).toEqual([SenseKey.IllegalRequest, 0x21, 0x00]);
  });

  it('an unknown opcode is 20h/00h, an invalid CDB field 24h/00h, a missing LUN 25h/00h', async () => {
    const opcode = (await rejection(session.command({ lun: 0, cdb: Buffer.from([0xc7, 0, 0, 0, 0, 0]) }))) as ScsiError;
    expect([opcode.senseKey, opcode.asc]).toEqual([SenseKey.IllegalRequest, 0x20]);
    const field = (await rejection(session.command({ lun: 0, cdb: Buffer.from([0x12, 0x01, 0x42, 0, 255, 0]), readLength: 255 }))) as ScsiError;
    expect([field.senseKey, field.asc]).toEqual([SenseKey.IllegalRequest, 0x24]);
    const lun = (await rejection(session.command({ lun: 9, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK }))) as ScsiError;
    expect([lun.senseKey, lun.asc]).toEqual([SenseKey.IllegalRequest, 0x25]);
  });

  it('a 4096-byte-block LUN reads and writes in its own blocks', async () => {
    const data = randomBytes(3 * 4096);
    await session.command({ lun: 3, cdb: writeCdb({ lba: 5, blocks: 3 }), writeData: data });
    const back = await session.command({ lun: 3, cdb: readCdb({ lba: 5, blocks: 3 }), readLength: data.length });
    expect(back.data.equals(data)).toBe(true);
  });
});

describe('task management (RFC 7143 §11.5, §11.6)', () => {
  it('ABORT TASK of a command the target left unanswered completes it; no response ever comes for the task', async () => {
    const session = await open('iqn.2026-11.test.target:quiet', { initiatorName: `${INITIATOR}-tmf` });
    try {
      const handle = target.misbehave({ kind: 'stall', target: 'iqn.2026-11.test.target:quiet' });
      const stalled = session.execute({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
      await target.waitUntil(() => handle.fired === 1);
      const itt = target.sessionList().find((s) => s.tsih === session.tsih)!.taskTags[0]!;
      expect(await session.abortTask(itt)).toBe(TmfResponse.FunctionComplete);
      expect((await rejection(stalled)).code).toBe('ISCSI_TASK_ABORTED');
      expect(target.sessionList().find((s) => s.tsih === session.tsih)?.tasks).toBe(0);
      // The session is still good.
      await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
    } finally {
      await session.logout();
    }
  });

  it('LOGICAL UNIT RESET ends the stalled tasks; every nexus, the issuer too, then sees UNIT ATTENTION 29h/03h (SAM-5 §5.9.7)', async () => {
    const a = await open('iqn.2026-11.test.target:quiet', { initiatorName: `${INITIATOR}-reset-a` });
    const b = await open('iqn.2026-11.test.target:quiet', { initiatorName: `${INITIATOR}-reset-b` });
    try {
      target.misbehave({ kind: 'stall', target: 'iqn.2026-11.test.target:quiet' });
      const stalled = a.execute({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
      await target.waitUntil(() => target.sessionList().find((s) => s.tsih === a.tsih)?.tasks === 1);
      expect(await a.lunReset(0)).toBe(TmfResponse.FunctionComplete);
      expect((await rejection(stalled)).code).toBe('ISCSI_TASK_ABORTED');
      for (const session of [a, b]) {
        const seen: number[] = [];
        session.on((e) => e.type === 'unit-attention' && seen.push(e.sense.ascq));
        await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: BLOCK });
        expect(seen).toEqual([0x03]);
      }
      expect(target.stats.taskManagement[5]).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([a.logout(), b.logout()]);
    }
  });

  it('TARGET WARM RESET completes (§11.5.1)', async () => {
    const session = await open('iqn.2026-11.test.target:quiet', { initiatorName: `${INITIATOR}-warm` });
    try {
      expect(await session.targetWarmReset()).toBe(TmfResponse.FunctionComplete);
    } finally {
      await session.logout();
    }
  });
});

describe('listening and cleaning up', () => {
  it.skipIf(!hasIpv6Loopback)('listens on ::1 and advertises [::1]:port,1 in SendTargets (§13.8)', async () => {
    await using v6 = await TestTarget.start({ host: '::1' });
    expect(v6.address).toBe(`[::1]:${v6.port}`);
    const found = await discoverTargets({ portal: v6.portal, initiatorName: INITIATOR });
    expect(found[0]!.portals).toEqual([{ host: '::1', port: v6.port, portalGroupTag: 1 }]);
  });

  it('advertise: SendTargets names another portal as TargetAddress (§13.8), e.g. a fault proxy in front of a target', async () => {
    await using t = await TestTarget.start({ advertise: { host: '127.0.0.9', port: 3261 } });
    const found = await discoverTargets({ portal: t.portal, initiatorName: INITIATOR });
    expect(found[0]!.portals).toEqual([{ host: '127.0.0.9', port: 3261, portalGroupTag: 1 }]);
    await expect(TestTarget.start({ advertise: { host: '127.0.0.9', port: 0 } })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
  });

  it('refuses a non-loopback address unless asked, and bad options, with ArgumentError', async () => {
    await expect(TestTarget.start({ host: '0.0.0.0' })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
    await expect(TestTarget.start({ targets: [{ name: 'not-an-iqn' }] })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
    await expect(TestTarget.start({ targets: [{ luns: [{ size: '1000' }] }] })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
    await expect(TestTarget.start({ targets: [{ params: { firstBurstLength: 65536, maxBurstLength: 8192 } }] })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
  });

  it('close() ends every connection and the listener, and may be called twice', async () => {
    const t = await TestTarget.start();
    const session = await IscsiSession.open({ portal: t.portal, initiatorName: INITIATOR, targetName: t.targetName, reconnect: false });
    const closed = new Promise<void>((resolve) => session.on((e) => e.type === 'closed' && resolve()));
    t.misbehave({ kind: 'nop-ping', intervalMs: 10, persistent: true }); // a timer that close() must stop
    await Promise.all([t.close(), t.close()]);
    await closed;
    const refused = await new Promise<string>((resolve) => net.connect(t.portal).once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')).once('connect', () => resolve('connected')));
    expect(refused).toBe('ECONNREFUSED');
  });
});
