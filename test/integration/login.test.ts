// The control half of RFC 7143 against a real target: tgtd on loopback, started by the harness.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeReadCapacity16,
  discoverTargets,
  IscsiSession,
  loginAuthFrom,
  readCapacity16,
  readCdb,
  writeCdb,
  type SessionOptions,
} from '../../core/src/index.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:integration';
const PLAIN = 'iqn.2026-11.test.login:plain';
const CHAP = 'iqn.2026-11.test.login:chap';
const MUTUAL = 'iqn.2026-11.test.login:mutual';
const DIGEST = 'iqn.2026-11.test.login:digest';
const user = { user: 'initiator-user', secret: 'initiator-secret-1' };
const target = { user: 'target-user', secret: 'target-secret-22' };

let tgt: TgtdInstance;

beforeAll(async () => {
  tgt = await startTgtd({
    targets: [
      { iqn: PLAIN, luns: [{ sizeBytes: 16 << 20 }, { sizeBytes: 8 << 20 }] },
      { iqn: CHAP, chap: { incoming: [user] } },
      { iqn: MUTUAL, chap: { incoming: [user], outgoing: target } },
      // tgt answers None unless the target itself lists CRC32C.
      { iqn: DIGEST, params: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' } },
    ],
  });
});

afterAll(async () => {
  await tgt?.stop();
});

function options(targetName: string, extra: Partial<SessionOptions> = {}): SessionOptions {
  return { portal: { host: tgt.host, port: tgt.port }, initiatorName: INITIATOR, targetName, loginTimeoutMs: 10_000, ...extra };
}

async function capacity(session: IscsiSession, lun = 1) {
  return decodeReadCapacity16((await session.command({ lun, cdb: readCapacity16(32), readLength: 32 })).data);
}

describe('discovery (RFC 7143 §13.3 SendTargets=All, Appendix C)', () => {
  it('finds all four targets with the portal and portal group tag tgtd reports', async () => {
    const found = await discoverTargets({ portal: { host: tgt.host, port: tgt.port }, initiatorName: INITIATOR });
    expect(found.map((t) => t.targetName).sort()).toEqual([CHAP, DIGEST, MUTUAL, PLAIN].sort());
    for (const t of found) expect(t.portals).toEqual([{ host: '127.0.0.1', port: tgt.port, portalGroupTag: 1 }]);
    // The discovery session logged out: tgtd holds no session for any target.
    expect(await tgt.connections(PLAIN)).toBe(0);
  });
});

describe('login and logout (RFC 7143 §6, §11.12-§11.15)', () => {
  it('logs in without authentication, negotiates, does I/O on two LUNs, and logs out so the target sees no session', async () => {
    const session = await IscsiSession.open(options(PLAIN));
    try {
      expect(session.login.authenticated).toBe('None');
      expect(session.tsih).toBeGreaterThan(0);
      expect(await tgt.connections(PLAIN)).toBe(1);
      expect((await capacity(session, 1)).sizeBytes).toBe(BigInt(16 << 20));
      expect((await capacity(session, 2)).sizeBytes).toBe(BigInt(8 << 20));
      // §13.12: tgtd declares 8192; we must never send a segment above it, so a 64 KiB write spans many Data-Outs.
      expect(session.parameters.maxXmitDataSegmentLength).toBe(8192);
      const data = randomBytes(64 * 1024);
      await session.command({ lun: 1, cdb: writeCdb({ lba: 10, blocks: 128 }), writeData: data });
      const back = await session.command({ lun: 1, cdb: readCdb({ lba: 10, blocks: 128 }), readLength: data.length });
      expect(back.data.equals(data)).toBe(true);
    } finally {
      await session.logout();
    }
    expect(session.isClosed).toBe(true);
    expect(await tgt.connections(PLAIN)).toBe(0);
  });

  it('logs in with CHAP (one-way, CHAP_A=5)', async () => {
    const session = await IscsiSession.open(options(CHAP, { auth: loginAuthFrom(user) }));
    try {
      expect(session.login.authenticated).toBe('CHAP');
      expect((await capacity(session)).blockLength).toBe(512);
    } finally {
      await session.logout();
    }
  });

  it('logs in with mutual CHAP, the target proving its own secret', async () => {
    const session = await IscsiSession.open(options(MUTUAL, { auth: loginAuthFrom({ ...user, targetUser: target.user, targetSecret: target.secret }) }));
    try {
      expect(session.login.authenticated).toBe('Mutual CHAP');
      expect((await capacity(session)).blockLength).toBe(512);
    } finally {
      await session.logout();
    }
  });

  it('a wrong secret fails with ISCSI_LOGIN_AUTH_FAILED (status 0x0201) and its hint', async () => {
    await expect(IscsiSession.open(options(CHAP, { auth: loginAuthFrom({ ...user, secret: 'not-the-secret' }) }))).rejects.toMatchObject({
      code: 'ISCSI_LOGIN_AUTH_FAILED',
      statusClass: 2,
      statusDetail: 1,
      hint: 'authentication failed: check the CHAP user name and secret',
    });
  });

  it('no credentials for a CHAP target fails with an authentication error', async () => {
    await expect(IscsiSession.open(options(CHAP))).rejects.toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
  });

  it('mutual CHAP with a wrong target secret is refused by us (§12.1.3)', async () => {
    const auth = loginAuthFrom({ ...user, targetUser: target.user, targetSecret: 'a-wrong-target-secret' });
    await expect(IscsiSession.open(options(MUTUAL, { auth }))).rejects.toMatchObject({ code: 'ISCSI_CHAP_TARGET_AUTH_FAILED' });
    expect(await tgt.connections(MUTUAL)).toBe(0);
  });

  it('an unknown target name fails with ISCSI_LOGIN_TARGET_NOT_FOUND (status 0x0203)', async () => {
    await expect(IscsiSession.open(options('iqn.2026-11.test.login:nothing-here'))).rejects.toMatchObject({ code: 'ISCSI_LOGIN_TARGET_NOT_FOUND' });
  });

  it('a closed port fails with ISCSI_CONNECTION_REFUSED', async () => {
    const { freePort } = await import('../src/tgtd.js');
    const port = await freePort();
    await expect(IscsiSession.open({ ...options(PLAIN), portal: { host: '127.0.0.1', port } })).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_REFUSED' });
  });
});

describe('digests (RFC 7143 §13.1, CRC32C on the wire)', () => {
  for (const [header, data] of [
    ['CRC32C', 'None'],
    ['None', 'CRC32C'],
    ['CRC32C', 'CRC32C'],
  ] as const) {
    it(`HeaderDigest=${header} DataDigest=${data}: negotiated, and 256 KiB written and read back intact`, async () => {
      const session = await IscsiSession.open(options(DIGEST, { proposal: { headerDigest: [header], dataDigest: [data] } }));
      try {
        expect(session.parameters.headerDigest).toBe(header === 'CRC32C');
        expect(session.parameters.dataDigest).toBe(data === 'CRC32C');
        const bytes = randomBytes(256 * 1024);
        await session.command({ lun: 1, cdb: writeCdb({ lba: 2048, blocks: 512 }), writeData: bytes });
        const back = await session.command({ lun: 1, cdb: readCdb({ lba: 2048, blocks: 512 }), readLength: bytes.length });
        expect(back.data.equals(bytes)).toBe(true);
      } finally {
        await session.logout();
      }
    });
  }
});

describe('target NOP-In pings (RFC 7143 §11.19: answer with a NOP-Out echoing TTT and LUN)', () => {
  it('keeps a session alive while tgtd pings it every second and drops sessions that do not answer', async () => {
    const pinger = await startTgtd({ targets: [{ iqn: 'iqn.2026-11.test.login:pinger', params: { nop_interval: '1', nop_count: '2' } }] });
    try {
      const session = await IscsiSession.open({ ...options('iqn.2026-11.test.login:pinger'), portal: { host: pinger.host, port: pinger.port } });
      try {
        const deadline = Date.now() + 10_000;
        while (session.counters.nopInAnswered < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        // Four pings answered is past nop_count=2 unanswered intervals: tgtd would have dropped us otherwise.
        expect(session.counters.nopInAnswered).toBeGreaterThanOrEqual(4);
        expect(session.isClosed).toBe(false);
        expect((await capacity(session)).blockLength).toBe(512);
      } finally {
        await session.logout();
      }
    } finally {
      await pinger.stop();
    }
  });
});

describe('redirection (RFC 7143 §11.13.5 status 0x0101, §13.8 TargetAddress)', () => {
  it('follows a temporary redirect to the portal the target names and logs in there', async () => {
    const iqn = 'iqn.2026-11.test.login:moved';
    // tgt redirects only initiators whose own address differs from the redirect address, so the destination
    // listens on another loopback address than the one we connect from.
    const destination = await startTgtd({ host: '127.0.0.2', targets: [{ iqn }] });
    const origin = await startTgtd({
      targets: [{ iqn, params: { RedirectAddress: destination.host, RedirectPort: String(destination.port), RedirectReason: 'Temporary' } }],
    });
    try {
      const session = await IscsiSession.open({ ...options(iqn), portal: { host: origin.host, port: origin.port } });
      try {
        expect(session.portal).toMatchObject({ host: '127.0.0.2', port: destination.port });
        expect(await destination.connections(iqn)).toBe(1);
        expect((await capacity(session)).blockLength).toBe(512);
      } finally {
        await session.logout();
      }
    } finally {
      await origin.stop();
      await destination.stop();
    }
  });
});
