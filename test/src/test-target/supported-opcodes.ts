/**
 * REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35): the commands the logical unit serves, each with its CDB USAGE
 * DATA — the CDB bits the device server evaluates (a field we refuse when non-zero, like RDPROTECT, counts as
 * unused). The opcode table is the one logical-unit.ts dispatches on; keep the two in step.
 */
import { allocationLength, SA_READ_CAPACITY_16, SA_REPORT_SUPPORTED_OPCODES, ScsiOp } from './block-cdb.js';

interface Supported {
  readonly opcode: number;
  /** Set for the commands distinguished by a service action (SERVACTV). */
  readonly serviceAction?: number;
  /** CDB USAGE DATA: byte 0 the opcode, then the evaluated bits of each byte. */
  readonly usage: readonly number[];
}

const F = 0xff;
const rw10 = (op: number, flags: number) => [op, flags, F, F, F, F, 0, F, F, 0];
const rw12 = (op: number, flags: number) => [op, flags, F, F, F, F, F, F, F, F, 0, 0];
const rw16 = (op: number, flags: number) => [op, flags, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0];
const DPO_FUA = 0x18;
const DPO_BYTCHK = 0x16;

const SUPPORTED: readonly Supported[] = [
  { opcode: ScsiOp.TestUnitReady, usage: [0x00, 0, 0, 0, 0, 0] },
  { opcode: ScsiOp.RequestSense, usage: [0x03, 0x01, 0, 0, F, 0] },
  { opcode: ScsiOp.Read6, usage: [0x08, 0x1f, F, F, F, 0] },
  { opcode: ScsiOp.Write6, usage: [0x0a, 0x1f, F, F, F, 0] },
  { opcode: ScsiOp.Inquiry, usage: [0x12, 0x01, F, F, F, 0] },
  { opcode: ScsiOp.ModeSense6, usage: [0x1a, 0x08, F, F, F, 0] },
  { opcode: ScsiOp.StartStopUnit, usage: [0x1b, 0, 0, 0, 0, 0] },
  { opcode: ScsiOp.ReadCapacity10, usage: [0x25, 0, F, F, F, F, 0, 0, 0x01, 0] },
  { opcode: ScsiOp.Read10, usage: rw10(0x28, DPO_FUA) },
  { opcode: ScsiOp.Write10, usage: rw10(0x2a, DPO_FUA) },
  { opcode: ScsiOp.WriteAndVerify10, usage: rw10(0x2e, DPO_BYTCHK) },
  { opcode: ScsiOp.Verify10, usage: rw10(0x2f, DPO_BYTCHK) },
  { opcode: ScsiOp.SynchronizeCache10, usage: rw10(0x35, 0) },
  { opcode: ScsiOp.WriteSame10, usage: rw10(0x41, 0x08) },
  { opcode: ScsiOp.Unmap, usage: [0x42, 0, 0, 0, 0, 0, 0, F, F, 0] },
  { opcode: ScsiOp.ModeSense10, usage: [0x5a, 0x08, F, F, 0, 0, 0, F, F, 0] },
  { opcode: ScsiOp.Read16, usage: rw16(0x88, DPO_FUA) },
  { opcode: ScsiOp.CompareAndWrite, usage: [0x89, DPO_FUA, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0, 0] },
  { opcode: ScsiOp.Write16, usage: rw16(0x8a, DPO_FUA) },
  { opcode: ScsiOp.WriteAndVerify16, usage: rw16(0x8e, DPO_BYTCHK) },
  { opcode: ScsiOp.Verify16, usage: rw16(0x8f, DPO_BYTCHK) },
  { opcode: ScsiOp.SynchronizeCache16, usage: rw16(0x91, 0) },
  { opcode: ScsiOp.WriteSame16, usage: rw16(0x93, 0x09) },
  { opcode: ScsiOp.ServiceActionIn16, serviceAction: SA_READ_CAPACITY_16, usage: [0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0] },
  { opcode: ScsiOp.ReportLuns, usage: [0xa0, 0, F, 0, 0, 0, F, F, F, F, 0, 0] },
  { opcode: ScsiOp.MaintenanceIn, serviceAction: SA_REPORT_SUPPORTED_OPCODES, usage: [0xa3, 0x1f, 0x87, F, F, F, F, F, F, F, 0, 0] },
  { opcode: ScsiOp.Read12, usage: rw12(0xa8, DPO_FUA) },
  { opcode: ScsiOp.Write12, usage: rw12(0xaa, DPO_FUA) },
  { opcode: ScsiOp.WriteAndVerify12, usage: rw12(0xae, DPO_BYTCHK) },
  { opcode: ScsiOp.Verify12, usage: rw12(0xaf, DPO_BYTCHK) },
];

/** SPC-4 §6.35.4 command timeouts descriptor: length 0Ah, no timeouts specified. */
function timeouts(): Buffer {
  const d = Buffer.alloc(12);
  d.writeUInt16BE(0x0a, 0);
  return d;
}

/**
 * The parameter data for a REPORT SUPPORTED OPERATION CODES CDB, or 'invalid' (INVALID FIELD IN CDB, byte 2) when
 * the REPORTING OPTIONS do not fit the requested command. Cut to the ALLOCATION LENGTH by the caller.
 */
export function reportSupportedOpcodes(cdb: Buffer): { data: Buffer; allocation: number } | 'invalid' {
  const allocation = allocationLength(cdb, 6, 4);
  if (allocation === undefined) return 'invalid';
  const rctd = ((cdb[2] ?? 0) & 0x80) !== 0;
  const options = (cdb[2] ?? 0) & 0x07;
  const opcode = cdb[3] ?? 0;
  const serviceAction = cdb.readUInt16BE(4);
  if (options === 0) {
    // §6.35.2: all commands — 8-byte descriptors (+ 12-byte timeouts with RCTD: CTDP set).
    const descriptors = SUPPORTED.map((c) => {
      const d = Buffer.alloc(8);
      d[0] = c.opcode;
      d.writeUInt16BE(c.serviceAction ?? 0, 2);
      d[5] = (rctd ? 0x02 : 0) | (c.serviceAction !== undefined ? 0x01 : 0);
      d.writeUInt16BE(c.usage.length, 6);
      return rctd ? Buffer.concat([d, timeouts()]) : d;
    });
    const body = Buffer.concat(descriptors);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    return { data: Buffer.concat([header, body]), allocation };
  }
  const withActions = SUPPORTED.some((c) => c.opcode === opcode && c.serviceAction !== undefined);
  // §6.35.1: 001b names an opcode without service actions, 010b one with them; 011b either.
  if ((options === 1 && withActions) || (options === 2 && !withActions) || options > 3) return 'invalid';
  const bySa = options === 2 || (options === 3 && withActions);
  const found = SUPPORTED.find((c) => c.opcode === opcode && (!bySa || c.serviceAction === serviceAction));
  // §6.35.3 one-command format: [1] CTDP bit 7, SUPPORT bits 2-0 (011b supported, 001b not); [2..3] CDB SIZE.
  const header = Buffer.alloc(4);
  if (!found) {
    header[1] = 0x01;
    return { data: header, allocation };
  }
  header[1] = (rctd ? 0x80 : 0) | 0x03;
  header.writeUInt16BE(found.usage.length, 2);
  const parts: Buffer[] = [header, Buffer.from(found.usage)];
  if (rctd) parts.push(timeouts());
  return { data: Buffer.concat(parts), allocation };
}
