/** Standard INQUIRY data (SPC-4 §6.6.2). */
import { asciiField, hex2, need } from './bytes.js';

/** SPC-4 §6.6.2 table 148 PERIPHERAL DEVICE TYPE. */
export const PeripheralDeviceType = {
  DirectAccessBlock: 0x00,
  SequentialAccess: 0x01,
  Printer: 0x02,
  Processor: 0x03,
  WriteOnce: 0x04,
  CdDvd: 0x05,
  OpticalMemory: 0x07,
  MediaChanger: 0x08,
  StorageArrayController: 0x0c,
  EnclosureServices: 0x0d,
  SimplifiedDirectAccess: 0x0e,
  OpticalCard: 0x0f,
  BridgeController: 0x10,
  ObjectStorage: 0x11,
  AutomationDriveInterface: 0x12,
  HostManagedZoned: 0x14,
  WellKnownLogicalUnit: 0x1e,
  Unknown: 0x1f,
} as const;

const DEVICE_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, 'direct access block device'],
  [0x01, 'sequential access device'],
  [0x02, 'printer device'],
  [0x03, 'processor device'],
  [0x04, 'write-once device'],
  [0x05, 'CD/DVD device'],
  [0x06, 'scanner device'],
  [0x07, 'optical memory device'],
  [0x08, 'media changer device'],
  [0x09, 'communications device'],
  [0x0c, 'storage array controller device'],
  [0x0d, 'enclosure services device'],
  [0x0e, 'simplified direct-access device'],
  [0x0f, 'optical card reader/writer device'],
  [0x10, 'bridge controller device'],
  [0x11, 'object-based storage device'],
  [0x12, 'automation/drive interface'],
  [0x13, 'security manager device'],
  [0x14, 'host managed zoned block device'],
  [0x1e, 'well known logical unit'],
  [0x1f, 'unknown or no device type'],
]);

export function deviceTypeName(type: number): string {
  return DEVICE_TYPE_NAMES.get(type) ?? `reserved device type ${hex2(type)}`;
}

/** SPC-4 §6.6.2 PERIPHERAL QUALIFIER. */
export const PeripheralQualifier = {
  /** A device of the reported type is connected to this LUN. */
  Connected: 0,
  /** The LUN could host such a device, but none is connected now. */
  NotConnected: 1,
  /** The LUN can never host a device. */
  NotSupported: 3,
} as const;

const VERSION_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, 'no standard claimed'],
  [0x03, 'SPC'],
  [0x04, 'SPC-2'],
  [0x05, 'SPC-3'],
  [0x06, 'SPC-4'],
  [0x07, 'SPC-5'],
]);

export function versionName(version: number): string {
  return VERSION_NAMES.get(version) ?? `version ${hex2(version)}`;
}

export interface StandardInquiry {
  readonly peripheralQualifier: number;
  readonly peripheralDeviceType: number;
  readonly deviceTypeName: string;
  /** RMB: removable medium. */
  readonly removable: boolean;
  readonly version: number;
  readonly versionName: string;
  readonly normaca: boolean;
  /** HISUP: hierarchical LUN addressing. */
  readonly hisup: boolean;
  readonly responseDataFormat: number;
  readonly additionalLength: number;
  readonly sccs: boolean;
  readonly acc: boolean;
  /** TPGS: 0 no ALUA, 1 implicit, 2 explicit, 3 both. */
  readonly tpgs: number;
  readonly thirdPartyCopy: boolean;
  readonly protect: boolean;
  readonly encserv: boolean;
  readonly multip: boolean;
  readonly cmdque: boolean;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** Non-zero VERSION DESCRIPTORs (bytes 58..73) that were returned. */
  readonly versionDescriptors: readonly number[];
}

/** SPC-4 §6.6.2: standard INQUIRY data is at least 36 bytes. */
export const STANDARD_INQUIRY_MIN_LENGTH = 36;

/**
 * SPC-4 §6.6.2 standard INQUIRY data:
 *   [0] bits 7-5 PERIPHERAL QUALIFIER, bits 4-0 PERIPHERAL DEVICE TYPE  [1] bit7 RMB  [2] VERSION
 *   [3] bit5 NORMACA, bit4 HISUP, bits 3-0 RESPONSE DATA FORMAT  [4] ADDITIONAL LENGTH (n-4)
 *   [5] bit7 SCCS, bit6 ACC, bits 5-4 TPGS, bit3 3PC, bit0 PROTECT  [6] bit6 ENCSERV, bit4 MULTIP
 *   [7] bit1 CMDQUE  [8..15] T10 VENDOR IDENTIFICATION  [16..31] PRODUCT IDENTIFICATION
 *   [32..35] PRODUCT REVISION LEVEL  [58..73] VERSION DESCRIPTOR 1..8
 */
export function decodeStandardInquiry(buf: Buffer): StandardInquiry {
  need(buf, STANDARD_INQUIRY_MIN_LENGTH, 'standard INQUIRY data');
  const b0 = buf[0]!;
  const b3 = buf[3]!;
  const b5 = buf[5]!;
  const b6 = buf[6]!;
  const additionalLength = buf[4]!;
  const end = Math.min(buf.length, 5 + additionalLength);
  const versionDescriptors: number[] = [];
  for (let at = 58; at + 2 <= end && at < 74; at += 2) {
    const d = buf.readUInt16BE(at);
    if (d !== 0) versionDescriptors.push(d);
  }
  return {
    peripheralQualifier: b0 >> 5,
    peripheralDeviceType: b0 & 0x1f,
    deviceTypeName: deviceTypeName(b0 & 0x1f),
    removable: (buf[1]! & 0x80) !== 0,
    version: buf[2]!,
    versionName: versionName(buf[2]!),
    normaca: (b3 & 0x20) !== 0,
    hisup: (b3 & 0x10) !== 0,
    responseDataFormat: b3 & 0x0f,
    additionalLength,
    sccs: (b5 & 0x80) !== 0,
    acc: (b5 & 0x40) !== 0,
    tpgs: (b5 >> 4) & 0x03,
    thirdPartyCopy: (b5 & 0x08) !== 0,
    protect: (b5 & 0x01) !== 0,
    encserv: (b6 & 0x40) !== 0,
    multip: (b6 & 0x10) !== 0,
    cmdque: (buf[7]! & 0x02) !== 0,
    vendor: asciiField(buf, 8, 16),
    product: asciiField(buf, 16, 32),
    revision: asciiField(buf, 32, 36),
    versionDescriptors,
  };
}
