// The full feature phase against a real target (tgtd): data integrity across every burst/R2T configuration,
// CmdSN wraparound, digests, sense data, many commands in flight and the command window.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeReadCapacity16,
  IscsiSession,
  readCapacity16,
  readCdb,
  ScsiError,
  SenseKey,
  writeCdb,
  type OperationalProposal,
  type SessionOptions,
} from '../../core/src/index.js';
import { startTgtd, type TgtdInstance, type TgtdTarget } from '../src/tgtd.js';
import { inParallel, mixedChunks } from '../src/workload.js';

const BLOCK = 512;
const LUN_BYTES = 80 << 20;
const DATA_BYTES = 64 << 20;

// Each target's parameters are what tgtd declares; our proposal is per test. tgt's defaults are InitialR2T=Yes,
// ImmediateData=Yes, MaxRecvDataSegmentLength=8192, MaxBurstLength=256 KiB, FirstBurstLength=64 KiB, MaxOutstandingR2T=1.
const fast = { MaxRecvDataSegmentLength: '262144', MaxBurstLength: '1048576', FirstBurstLength: '262144', InitialR2T: 'No', MaxOutstandingR2T: '8' };
const targets: Record<string, TgtdTarget> = {
  fast: { iqn: 'iqn.2026-11.test.data:fast', luns: [{ sizeBytes: LUN_BYTES }], params: fast },
  digest: { iqn: 'iqn.2026-11.test.data:digest', luns: [{ sizeBytes: LUN_BYTES }], params: { ...fast, HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' } },
  r2t: { iqn: 'iqn.2026-11.test.data:r2t', luns: [{ sizeBytes: LUN_BYTES }], params: { ...fast, InitialR2T: 'Yes' } },
  tiny: {
    iqn: 'iqn.2026-11.test.data:tiny',
    luns: [{ sizeBytes: 24 << 20 }],
    params: { MaxRecvDataSegmentLength: '4096', MaxBurstLength: '16384', FirstBurstLength: '8192', InitialR2T: 'No', MaxOutstandingR2T: '4' },
  },
  deep: { iqn: 'iqn.2026-11.test.data:deep', luns: [{ sizeBytes: 16 << 20 }], params: fast },
  narrow: { iqn: 'iqn.2026-11.test.data:narrow', luns: [{ sizeBytes: 16 << 20 }], params: { ...fast, MaxQueueCmd: '1' } },
};

let tgt: TgtdInstance;

beforeAll(async () => {
  tgt = await startTgtd({ targets: Object.values(targets) });
}, 60_000);

afterAll(async () => {
  await tgt?.stop();
});

function open(target: TgtdTarget, extra: Partial<SessionOptions> = {}): Promise<IscsiSession> {
  return IscsiSession.open({
    portal: { host: tgt.host, port: tgt.port },
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:data-path',
    targetName: target.iqn,
    ...extra,
  });
}

/**
 * 64 MiB of random data written in mixed sizes and read back in other mixed sizes; every byte must match.
 */
async function roundTrip(session: IscsiSession, bytes = DATA_BYTES, seed = 1): Promise<void> {
  const data = randomBytes(bytes);
  await inParallel(mixedChunks(bytes, seed), 8, async ({ offset, length }) => {
    await session.command({ lun: 1, cdb: writeCdb({ lba: offset / BLOCK, blocks: length / BLOCK }), writeData: data.subarray(offset, offset + length) });
  });
  const back = Buffer.alloc(bytes);
  await inParallel(mixedChunks(bytes, seed + 99), 8, async ({ offset, length }) => {
    // Data-In lands straight in our buffer (readBuffer): no copy after the socket's.
    const r = await session.command({ lun: 1, cdb: readCdb({ lba: offset / BLOCK, blocks: length / BLOCK }), readLength: length, readBuffer: back.subarray(offset, offset + length) });
    expect(r.data.buffer).toBe(back.buffer);
  });
  const firstDiff = data.findIndex((b, i) => b !== back[i]);
  expect(firstDiff).toBe(-1);
}

describe('64 MiB mixed-size writes read back identical (RFC 7143 §13.10-§13.14 burst rules, issue 3)', () => {
  const proposals: Array<[string, keyof typeof targets, OperationalProposal, Partial<SessionOptions>]> = [
    ['fast defaults (ImmediateData=Yes, InitialR2T=No), first CmdSN just below 2^32 so it wraps', 'fast', {}, { initialCmdSN: 0xffffffff - 40 }],
    ['header and data digests on (CRC32C)', 'digest', { headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] }, {}],
    ['InitialR2T=Yes, ImmediateData=Yes', 'r2t', { initialR2T: true, immediateData: true }, {}],
    ['InitialR2T=Yes, ImmediateData=No (every byte by R2T)', 'r2t', { initialR2T: true, immediateData: false }, {}],
    ['InitialR2T=No, ImmediateData=No (unsolicited Data-Out only)', 'fast', { initialR2T: false, immediateData: false }, {}],
  ];
  for (const [name, target, proposal, extra] of proposals) {
    it(name, async () => {
      const session = await open(targets[target]!, { proposal, ...extra });
      try {
        const p = session.parameters;
        expect(p.initialR2T).toBe(proposal.initialR2T ?? false);
        expect(p.immediateData).toBe(proposal.immediateData ?? true);
        await roundTrip(session);
        if (extra.initialCmdSN !== undefined) expect(session.numbering.cmdSN).toBeLessThan(0x1000); // wrapped past 0
      } finally {
        await session.logout();
      }
    }, 120_000);
  }

  it('a target with MaxRecvDataSegmentLength 4096 and MaxBurstLength 16 KiB: many PDUs and R2Ts per command (16 MiB)', async () => {
    const session = await open(targets.tiny!, { proposal: { maxRecvDataSegmentLength: 4096, initialR2T: false } });
    try {
      // §13.12: what we send is bounded by the target's declaration; §13.13/§13.14: bursts by the negotiated minimum.
      expect(session.parameters).toMatchObject({ maxXmitDataSegmentLength: 4096, maxRecvDataSegmentLength: 4096, maxBurstLength: 16384, firstBurstLength: 8192 });
      await roundTrip(session, 16 << 20, 7);
    } finally {
      await session.logout();
    }
  }, 120_000);
});

describe('SCSI status and sense (SPC-4 §4.5)', () => {
  it('a read past the end fails with CHECK CONDITION, ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h)', async () => {
    const session = await open(targets.fast!);
    try {
      const capacity = decodeReadCapacity16((await session.command({ lun: 1, cdb: readCapacity16(32), readLength: 32 })).data);
      const error = await session.command({ lun: 1, cdb: readCdb({ lba: capacity.lastLba, blocks: 2 }), readLength: 1024 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ScsiError);
      expect(error).toMatchObject({ code: 'ISCSI_SCSI_CHECK_CONDITION', status: 2, senseKey: SenseKey.IllegalRequest, asc: 0x21, ascq: 0 });
      expect((error as Error).message).toMatch(/LOGICAL BLOCK ADDRESS OUT OF RANGE/);
    } finally {
      await session.logout();
    }
  });
});

describe('commands in flight (RFC 7143 §4.2.2.1 command window; queue depth)', () => {
  it('256 commands issued at once: as many on the wire as the target window allows, the rest queued, all answered', async () => {
    const session = await open(targets.deep!, { queueDepth: 256 });
    try {
      const pattern = randomBytes(256 * 4096);
      await session.command({ lun: 1, cdb: writeCdb({ lba: 0, blocks: pattern.length / BLOCK }), writeData: pattern });
      const { maxCmdSN, cmdSN } = session.numbering;
      const window = ((maxCmdSN - cmdSN) >>> 0) + 1; // tgtd grants ExpCmdSN + 128, whatever MaxQueueCmd says
      const reads = Array.from({ length: 256 }, (_, i) => session.command({ lun: 1, cdb: readCdb({ lba: i * 8, blocks: 8 }), readLength: 4096 }));
      expect(session.inFlight).toBe(Math.min(256, window));
      expect(session.inFlight + session.queued).toBe(256);
      const results = await Promise.all(reads);
      results.forEach((r, i) => expect(r.data.equals(pattern.subarray(i * 4096, (i + 1) * 4096))).toBe(true));
    } finally {
      await session.logout();
    }
  });

  it('queue depth caps what is in flight; the rest wait in order and flow as slots free', async () => {
    const session = await open(targets.deep!, { queueDepth: 32 });
    try {
      // The login response grants a window of two; the first answer opens it to 129.
      await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: 512 });
      const reads = Array.from({ length: 100 }, (_, i) => session.command({ lun: 1, cdb: readCdb({ lba: i, blocks: 1 }), readLength: 512 }));
      expect(session.inFlight).toBe(32);
      expect(session.queued).toBe(68);
      await Promise.all(reads);
      expect(session.inFlight + session.queued).toBe(0);
    } finally {
      await session.logout();
    }
  });

  it('a narrow target window (MaxQueueCmd 1): commands wait while it is closed and flow as it opens', async () => {
    const session = await open(targets.narrow!, { queueDepth: 64 });
    try {
      await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: 512 });
      const { maxCmdSN, expCmdSN } = session.numbering;
      const window = ((maxCmdSN - expCmdSN) >>> 0) + 1;
      expect(window).toBe(2); // MaxCmdSN = ExpCmdSN + MaxQueueCmd (1)
      const reads = Array.from({ length: 50 }, (_, i) => session.command({ lun: 1, cdb: readCdb({ lba: i, blocks: 1 }), readLength: 512 }));
      expect(session.inFlight).toBe(window);
      await Promise.all(reads);
      expect(session.counters.commands).toBeGreaterThanOrEqual(50);
    } finally {
      await session.logout();
    }
  });
});

describe('task management against tgtd (RFC 7143 §11.5)', () => {
  it('LUN RESET completes, the UNIT ATTENTION it causes is absorbed, and I/O goes on', async () => {
    const session = await open(targets.fast!);
    try {
      expect(await session.lunReset(1)).toBe(0); // function complete
      const r = await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 });
      expect(r.data.length).toBe(4096);
      expect(session.counters.unitAttentions).toBeGreaterThanOrEqual(1);
    } finally {
      await session.logout();
    }
  });

  it('ABORT TASK SET on an idle LUN completes; ABORT TASK for a finished task says "task does not exist" or completes', async () => {
    const session = await open(targets.fast!);
    try {
      expect(await session.abortTaskSet(1)).toBe(0);
      const response = await session.taskManagement(1, 1, 0x7777, session.numbering.cmdSN);
      expect([0, 1]).toContain(response);
    } finally {
      await session.logout();
    }
  });
});
