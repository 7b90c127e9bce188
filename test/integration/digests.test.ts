// Digest negotiation as a user meets it (issue 9 §6; RFC 7143 §13.1: the responder picks the first value of the
// originator's list that it supports). `iscsiadm lun inquiry` is spawned as a user runs it, against tgtd with its
// default HeaderDigest/DataDigest=None (no digests); core's own session against tgtd and against the test target
// configured to require CRC32C.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeReadCapacity16, IscsiSession, readCapacity16 } from '@iscsi-initiator/core';
import { runCli, type Run } from '../../cli/test/run-cli.js';
import { TestTarget } from '../src/test-target/index.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const IQN = 'iqn.2026-12.test.digests:no-digests';
const INITIATOR = 'iqn.2026-12.io.github.iscsi-initiator:digests-test';

let tgt: TgtdInstance;

beforeAll(async () => {
  // tgtd's default for both digests is None (test/src/tgtd.ts): a target that offers no digests.
  tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 << 20 }] }] });
});

afterAll(async () => {
  await tgt?.stop();
});

function inquiry(query: string, json = false): Promise<Run> {
  return runCli(['lun', 'inquiry', `iscsi://${tgt.portal}/${IQN}/1${query}`, ...(json ? ['--json'] : [])], { env: { ISCSI_INITIATOR_NAME: INITIATOR } });
}

describe('iscsiadm lun inquiry against a target without digests (tgtd)', () => {
  it('?header_digest=crc32c is refused in one line that says the target has no header digests and what to do (exit 4)', async () => {
    const run = await inquiry('?header_digest=crc32c');
    expect(run.code).toBe(4); // a negotiation failure: open-iscsi's "connection or protocol error"
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^iscsiadm: the target does not support header digests: we offered only HeaderDigest=CRC32C and it answered HeaderDigest=None/);
    expect(lines[0]).toMatch(/header_digest=none in a URL.*crc32c,none.*enable CRC32C header digests on the target/);
    expect(run.stdout).toBe('');
  });

  it('--json carries the typed code and the key, for a program to branch on', async () => {
    const run = await inquiry('?data_digest=crc32c', true);
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'ISCSI_NEGOTIATION_REJECTED', key: 'DataDigest', hint: expect.stringContaining('data_digest=none') } });
  });

  it('?header_digest=crc32c,none&data_digest=crc32c,none (a list, as libiscsi and open-iscsi take it) works: no digests', async () => {
    const run = await inquiry('?header_digest=crc32c,none&data_digest=crc32c,none', true);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ deviceType: expect.stringMatching(/direct/i) });
  });
});

describe('the default offer None,CRC32C (as libiscsi)', () => {
  it('tgtd, which does not require digests, negotiates None for both', async () => {
    const session = await IscsiSession.open({ portal: { host: tgt.host, port: tgt.port }, initiatorName: INITIATOR, targetName: IQN });
    try {
      expect(session.parameters).toMatchObject({ headerDigest: false, dataDigest: false });
    } finally {
      await session.logout();
    }
  });

  it('the test target configured to require CRC32C negotiates CRC32C for both, and I/O runs with them', async () => {
    await using target = await TestTarget.start({ targets: [{ params: { headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] } }] });
    const session = await IscsiSession.open({ portal: target.portal, initiatorName: INITIATOR, targetName: target.targetName });
    try {
      expect(session.parameters).toMatchObject({ headerDigest: true, dataDigest: true });
      // A READ CAPACITY(16) round trip with both digests on: the target checks ours, we check its.
      const capacity = decodeReadCapacity16((await session.command({ lun: 0, cdb: readCapacity16(32), readLength: 32 })).data);
      expect(capacity.blockLength).toBe(512);
    } finally {
      await session.logout();
    }
  });
});
