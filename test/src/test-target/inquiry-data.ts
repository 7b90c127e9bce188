/**
 * INQUIRY data of a RAM-backed direct-access block device: the standard page (SPC-4 §6.6.2) and the VPD pages
 * (SPC-4 §7.8, SBC-3 §6.5) the test target supports. Pure functions of the unit's identity and geometry.
 */
import { createHash } from 'node:crypto';

export interface UnitIdentity {
  readonly targetName: string;
  readonly lun: number;
  /** T10 VENDOR IDENTIFICATION (8 ASCII characters, space padded). */
  readonly vendor: string;
  /** PRODUCT IDENTIFICATION (16). */
  readonly product: string;
  /** PRODUCT REVISION LEVEL (4). */
  readonly revision: string;
  readonly serial: string;
  /** A 16-byte NAA IEEE Registered Extended designator (NAA 6), SPC-4 §7.8.6.6.5. */
  readonly naa: Buffer;
}

export interface UnitGeometry {
  readonly blockSize: number;
  readonly blocks: number;
  /** Block Limits (SBC-3 §6.5.3), in logical blocks. */
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  readonly maxWriteSameBlocks: number;
  /** MAXIMUM COMPARE AND WRITE LENGTH (≤ 255). */
  readonly maxCompareAndWriteBlocks: number;
}

/** The VPD pages we serve, in ascending order (SPC-4 §7.8.14 lists them so). */
export const SUPPORTED_VPD_PAGES = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2] as const;

/** SPC-4 §6.6.2 VERSION DESCRIPTORS: SAM-5, iSCSI (RFC 7143), SPC-4, SBC-3. */
const VERSION_DESCRIPTORS = [0x00a0, 0x0960, 0x0460, 0x04c0];

/** A fixed made-up IEEE company id for our NAA designators (the test target is no product). */
const COMPANY_ID = 0x0e0f10;

/** The identity of `lun` of `targetName`: serial and NAA derive from both, so they are stable and unique. */
export function unitIdentity(targetName: string, lun: number, overrides: { vendor?: string; product?: string; serial?: string } = {}): UnitIdentity {
  const hash = createHash('sha256').update(`${targetName}\0${lun}`).digest();
  const naa = Buffer.alloc(16);
  // NAA 6 (bits 7-4 of byte 0), IEEE COMPANY_ID (24 bits), VENDOR SPECIFIC IDENTIFIER (36 bits) + EXTENSION (64 bits).
  naa[0] = 0x60 | (COMPANY_ID >> 20);
  naa.writeUIntBE(((COMPANY_ID & 0xfffff) << 4) | (hash[0]! & 0x0f), 1, 3);
  hash.copy(naa, 4, 1, 13);
  return {
    targetName,
    lun,
    vendor: overrides.vendor ?? 'ISCSITST',
    product: overrides.product ?? 'RAM DISK',
    revision: '0001',
    serial: overrides.serial ?? hash.subarray(16, 24).toString('hex'),
    naa,
  };
}

function ascii(text: string, length: number): Buffer {
  return Buffer.from(text.padEnd(length, ' ').slice(0, length), 'latin1');
}

/**
 * SPC-4 §6.6.2 standard INQUIRY data, 96 bytes:
 *   [0] PERIPHERAL QUALIFIER 000b / DEVICE TYPE 00h (direct access)  [2] VERSION 06h (SPC-4)
 *   [3] HISUP | RESPONSE DATA FORMAT 2  [4] ADDITIONAL LENGTH  [7] CMDQUE  [8..15] T10 VENDOR  [16..31] PRODUCT
 *   [32..35] REVISION  [58..73] VERSION DESCRIPTORS
 */
export function standardInquiry(id: UnitIdentity): Buffer {
  const data = Buffer.alloc(96);
  data[0] = 0x00;
  data[2] = 0x06;
  data[3] = 0x10 | 0x02;
  data[4] = data.length - 5;
  data[7] = 0x02; // CMDQUE: full task management model
  ascii(id.vendor, 8).copy(data, 8);
  ascii(id.product, 16).copy(data, 16);
  ascii(id.revision, 4).copy(data, 32);
  VERSION_DESCRIPTORS.forEach((d, i) => data.writeUInt16BE(d, 58 + 2 * i));
  return data;
}

/** SPC-4 §6.6.2: a LUN that does not exist — PERIPHERAL QUALIFIER 011b, DEVICE TYPE 1Fh, no more. */
export function absentUnitInquiry(): Buffer {
  const data = Buffer.alloc(36);
  data[0] = 0x7f;
  data[2] = 0x06;
  data[3] = 0x12;
  data[4] = data.length - 5;
  return data;
}

function page(code: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[1] = code;
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/** SPC-4 §7.8.6.1 designation descriptor: [0] PROTOCOL IDENTIFIER | CODE SET, [1] PIV | ASSOCIATION | TYPE, [3] length. */
function designator(codeSet: number, association: number, type: number, value: Buffer, protocol?: number): Buffer {
  const header = Buffer.alloc(4);
  header[0] = ((protocol ?? 0) << 4) | codeSet;
  header[1] = (protocol === undefined ? 0 : 0x80) | (association << 4) | type;
  header[3] = value.length;
  return Buffer.concat([header, value]);
}

/** The SCSI name string designator is NUL terminated and padded to a multiple of 4 (SPC-4 §7.8.6.11). */
function nameString(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  return Buffer.concat([bytes, Buffer.alloc(4 - (bytes.length % 4))]);
}

const ISCSI_PROTOCOL = 5;

/** The VPD page `code`, or undefined when we do not support it. */
export function vpdPage(code: number, id: UnitIdentity, geometry: UnitGeometry): Buffer | undefined {
  switch (code) {
    case 0x00:
      // SPC-4 §7.8.14 Supported VPD Pages.
      return page(code, Buffer.from(SUPPORTED_VPD_PAGES));
    case 0x80:
      // SPC-4 §7.8.15 Unit Serial Number.
      return page(code, Buffer.from(id.serial, 'latin1'));
    case 0x83: {
      // SPC-4 §7.8.6 Device Identification: the LU by NAA and T10 vendor id, the target device by its iSCSI name,
      // the target port by relative port 1.
      const relativePort = Buffer.alloc(4);
      relativePort.writeUInt16BE(1, 2);
      return page(
        code,
        Buffer.concat([
          designator(1, 0, 3, id.naa),
          designator(2, 0, 1, Buffer.concat([ascii(id.vendor, 8), Buffer.from(id.serial, 'latin1')])),
          designator(3, 2, 8, nameString(id.targetName), ISCSI_PROTOCOL),
          designator(1, 1, 4, relativePort, ISCSI_PROTOCOL),
        ]),
      );
    }
    case 0xb0: {
      // SBC-3 §6.5.3 Block Limits (page length 3Ch).
      const body = Buffer.alloc(0x3c);
      body[1] = geometry.maxCompareAndWriteBlocks;
      body.writeUInt16BE(1, 2); // OPTIMAL TRANSFER LENGTH GRANULARITY: any block
      body.writeUInt32BE(0, 4); // MAXIMUM TRANSFER LENGTH: not reported (no limit)
      body.writeUInt32BE(0, 8); // OPTIMAL TRANSFER LENGTH: not reported
      body.writeUInt32BE(geometry.maxUnmapBlocks, 16);
      body.writeUInt32BE(geometry.maxUnmapDescriptors, 20);
      body.writeUInt32BE(1, 24); // OPTIMAL UNMAP GRANULARITY
      body.writeBigUInt64BE(BigInt(geometry.maxWriteSameBlocks), 32);
      return page(code, body);
    }
    case 0xb1: {
      // SBC-3 §6.5.2 Block Device Characteristics: MEDIUM ROTATION RATE 1 = non-rotating medium.
      const body = Buffer.alloc(0x3c);
      body.writeUInt16BE(1, 0);
      return page(code, body);
    }
    case 0xb2: {
      // SBC-3 §6.5.4 Logical Block Provisioning: LBPU, LBPWS, LBPWS10, LBPRZ (unmapped reads zeros); thin.
      const body = Buffer.alloc(4);
      body[1] = 0x80 | 0x40 | 0x20 | 0x04;
      body[2] = 0x02;
      return page(code, body);
    }
    default:
      return undefined;
  }
}
