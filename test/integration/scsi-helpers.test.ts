// core/src/scsi helpers the daemon and the HBA bridge share, against the test target over a real session: the LUN
// scan (REPORT LUNS, INQUIRY, VPD 80h, READ CAPACITY 16), the flush (SYNCHRONIZE CACHE) and the 3Fh/0Eh check.
import { afterEach, describe, expect, it } from 'vitest';
import { flushLun, IscsiSession, isReportedLunsChanged, scanLuns } from '../../core/src/index.js';
import { TestTarget } from '../src/test-target/index.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function session(target: TestTarget): Promise<IscsiSession> {
  const s = await IscsiSession.open({
    portal: target.portal,
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:scsi-helpers',
    targetName: target.targetName,
    noopOutIntervalMs: 0,
  });
  open.push({ close: () => s.logout().catch(() => {}) });
  return s;
}

describe('scsi/ helpers over a real session', { timeout: 10_000 }, () => {
  it('scanLuns: every direct-access LUN with vendor, product, serial (VPD 80h) and size (READ CAPACITY 16, SBC-3 §5.16)', async () => {
    const target = await TestTarget.start({
      targets: [{ luns: [{ size: 4 << 20, vendor: 'ACME', product: 'DISK-A', serial: 'SER-A' }, { lun: 3, size: 8 << 20, serial: 'SER-B' }] }],
    });
    open.push(target);
    const luns = await scanLuns(await session(target));
    expect(luns.map((l) => [l.lun, l.serial, l.sizeBytes, l.blockLength])).toEqual([
      [0, 'SER-A', BigInt(4 << 20), 512],
      [3, 'SER-B', BigInt(8 << 20), 512],
    ]);
    expect(luns[0]).toMatchObject({ vendor: 'ACME', product: 'DISK-A' });
  });

  it('flushLun sends SYNCHRONIZE CACHE (10) (opcode 35h, SBC-3 §5.22) to that LUN and resolves on GOOD', async () => {
    const target = await TestTarget.start({ targets: [{ luns: [{ size: 4 << 20 }] }] });
    open.push(target);
    const s = await session(target);
    await flushLun(s, 0);
    // At least once: the first command after login may meet the power-on UNIT ATTENTION and be retried (SAM-5 §5.14).
    expect(target.stats.scsiCommands['0x35']).toBeGreaterThanOrEqual(1);
  });

  it('isReportedLunsChanged: only ASC/ASCQ 3Fh/0Eh (SPC-4 Annex D, REPORTED LUNS DATA HAS CHANGED)', () => {
    expect(isReportedLunsChanged({ asc: 0x3f, ascq: 0x0e })).toBe(true);
    expect(isReportedLunsChanged({ asc: 0x3f, ascq: 0x03 })).toBe(false);
    expect(isReportedLunsChanged({ asc: 0x29, ascq: 0x00 })).toBe(false);
    expect(isReportedLunsChanged(undefined)).toBe(false);
  });
});
