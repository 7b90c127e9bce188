import { decodeReadCapacity16 } from './capacity.js';
import { inquiry, readCapacity16, reportLuns } from './cdb.js';
import type { ScsiCommander } from './commander.js';
import { decodeStandardInquiry } from './inquiry.js';
import { decodeReportLuns } from './report-luns.js';
import { decodeUnitSerialNumber } from './vpd.js';

/** One disk a target offers: what INQUIRY, the unit serial number page and READ CAPACITY (16) say about it. */
export interface ScannedLun {
  readonly lun: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** VPD page 80h (SPC-4 §7.8.15); null when the LUN has none. */
  readonly serial: string | null;
  readonly sizeBytes: bigint;
  readonly blockLength: number;
}

/**
 * REPORT LUNS (SPC-4 §6.33), then for each LUN: standard INQUIRY (only connected direct-access block devices are
 * kept: peripheral qualifier 0, device type 0), the unit serial number, and READ CAPACITY (16) (SBC-3 §5.16).
 */
export async function scanLuns(session: ScsiCommander): Promise<ScannedLun[]> {
  const report = await session.command({ lun: 0, cdb: reportLuns(4096), readLength: 4096 });
  const luns: ScannedLun[] = [];
  for (const lun of decodeReportLuns(report.data)) {
    const std = decodeStandardInquiry((await session.command({ lun, cdb: inquiry({ allocationLength: 96 }), readLength: 96 })).data);
    if (std.peripheralQualifier !== 0 || std.peripheralDeviceType !== 0) continue;
    const serial = await session
      .command({ lun, cdb: inquiry({ evpd: true, page: 0x80, allocationLength: 255 }), readLength: 255 })
      .then((r) => decodeUnitSerialNumber(r.data))
      .catch(() => null);
    const capacity = decodeReadCapacity16((await session.command({ lun, cdb: readCapacity16(32), readLength: 32 })).data);
    luns.push({ lun, vendor: std.vendor, product: std.product, revision: std.revision, serial, sizeBytes: capacity.sizeBytes, blockLength: capacity.blockLength });
  }
  return luns;
}
