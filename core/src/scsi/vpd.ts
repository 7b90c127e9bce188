/**
 * Vital product data pages (SPC-4 §7.8, SBC-3 §6.5) returned by INQUIRY with EVPD=1.
 *
 * Every page starts with the same header (SPC-4 §7.8.1):
 *   [0] bits 7-5 PERIPHERAL QUALIFIER, bits 4-0 PERIPHERAL DEVICE TYPE  [1] PAGE CODE  [2..3] PAGE LENGTH (n-3)
 * A page shorter than its PAGE LENGTH says throws ISCSI_SCSI_BAD_DATA: re-issue INQUIRY with the allocation length
 * `vpdPageLength()` reports.
 */
import { asciiField, badData, hex2, need } from './bytes.js';

export const VpdPage = {
  SupportedPages: 0x00,
  UnitSerialNumber: 0x80,
  DeviceIdentification: 0x83,
  BlockLimits: 0xb0,
  BlockDeviceCharacteristics: 0xb1,
  LogicalBlockProvisioning: 0xb2,
} as const;

/** The total length of the page (header included) as the device reports it; needs the 4-byte header. */
export function vpdPageLength(buf: Buffer): number {
  need(buf, 4, 'VPD page header');
  return 4 + buf.readUInt16BE(2);
}

/** Checks the header and returns the page body (a view into `buf`). */
function vpdBody(buf: Buffer, page: number, name: string): Buffer {
  need(buf, 4, `${name} VPD page`);
  if (buf[1] !== page) throw badData(`expected VPD page ${hex2(page)} (${name}), got ${hex2(buf[1]!)}`);
  const total = vpdPageLength(buf);
  if (buf.length < total) throw badData(`${name} VPD page truncated: ${buf.length} of ${total} bytes`);
  return buf.subarray(4, total);
}

/** SPC-4 §7.8.14 Supported VPD Pages: [4..n] SUPPORTED VPD PAGE LIST, one page code per byte. */
export function decodeSupportedVpdPages(buf: Buffer): number[] {
  return [...vpdBody(buf, VpdPage.SupportedPages, 'Supported VPD Pages')];
}

/** SPC-4 §7.8.15 Unit Serial Number: [4..n] PRODUCT SERIAL NUMBER (ASCII, space padded). */
export function decodeUnitSerialNumber(buf: Buffer): string {
  const body = vpdBody(buf, VpdPage.UnitSerialNumber, 'Unit Serial Number');
  return asciiField(body, 0, body.length);
}

export const DesignatorType = {
  VendorSpecific: 0x0,
  T10VendorId: 0x1,
  Eui64: 0x2,
  Naa: 0x3,
  RelativeTargetPort: 0x4,
  TargetPortGroup: 0x5,
  LogicalUnitGroup: 0x6,
  Md5LogicalUnitIdentifier: 0x7,
  ScsiNameString: 0x8,
  ProtocolSpecificPort: 0x9,
  Uuid: 0xa,
} as const;

const DESIGNATOR_TYPE_NAMES: readonly string[] = [
  'vendor specific',
  'T10 vendor ID',
  'EUI-64',
  'NAA',
  'relative target port',
  'target port group',
  'logical unit group',
  'MD5 logical unit identifier',
  'SCSI name string',
  'protocol specific port identifier',
  'UUID',
];

const CODE_SET_NAMES: ReadonlyMap<number, 'binary' | 'ascii' | 'utf-8'> = new Map([
  [1, 'binary'],
  [2, 'ascii'],
  [3, 'utf-8'],
] as const);

const ASSOCIATION_NAMES = ['logical unit', 'target port', 'target device', 'reserved'] as const;

/** SPC-4 §7.6.1 PROTOCOL IDENTIFIER. */
const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0, 'Fibre Channel'],
  [0x1, 'parallel SCSI'],
  [0x2, 'SSA'],
  [0x3, 'IEEE 1394'],
  [0x4, 'SRP'],
  [0x5, 'iSCSI'],
  [0x6, 'SAS'],
  [0x7, 'ADT'],
  [0x8, 'ATA'],
  [0x9, 'UAS'],
  [0xa, 'SOP'],
  [0xb, 'PCIe'],
  [0xf, 'no specific protocol'],
]);

export interface Designator {
  readonly codeSet: number;
  readonly codeSetName: 'binary' | 'ascii' | 'utf-8' | 'reserved';
  readonly association: number;
  readonly associationName: (typeof ASSOCIATION_NAMES)[number];
  readonly type: number;
  readonly typeName: string;
  /** Only when PIV is set and the association is a target port or target device (SPC-4 §7.8.6.1). */
  readonly protocolIdentifier?: number;
  readonly protocolName?: string;
  /** Text for the ASCII/UTF-8 code sets (trailing NULs and spaces removed), lower-case hex for binary. */
  readonly value: string;
  /** The 16-bit identifier of a relative target port, target port group or logical unit group designator. */
  readonly id?: number;
  /** NAA designators: the NAA field (the high nibble of the first byte). */
  readonly naa?: number;
  /** The designator bytes (a copy). */
  readonly data: Buffer;
}

/**
 * SPC-4 §7.8.6 Device Identification; each designation descriptor:
 *   [0] bits 7-4 PROTOCOL IDENTIFIER, bits 3-0 CODE SET  [1] bit7 PIV, bits 5-4 ASSOCIATION, bits 3-0 DESIGNATOR TYPE
 *   [2] reserved  [3] DESIGNATOR LENGTH (n-3)  [4..n] DESIGNATOR
 */
export function decodeDeviceIdentification(buf: Buffer): Designator[] {
  const body = vpdBody(buf, VpdPage.DeviceIdentification, 'Device Identification');
  const out: Designator[] = [];
  for (let at = 0; at < body.length; ) {
    if (at + 4 > body.length) throw badData(`designation descriptor header truncated at byte ${4 + at}`);
    const b0 = body[at]!;
    const b1 = body[at + 1]!;
    const length = body[at + 3]!;
    if (at + 4 + length > body.length) throw badData(`designation descriptor at byte ${4 + at} overruns the page`);
    const data = Buffer.from(body.subarray(at + 4, at + 4 + length));
    out.push(designator(b0, b1, data));
    at += 4 + length;
  }
  return out;
}

function designator(b0: number, b1: number, data: Buffer): Designator {
  const codeSet = b0 & 0x0f;
  const codeSetName = CODE_SET_NAMES.get(codeSet) ?? 'reserved';
  const association = (b1 >> 4) & 0x03;
  const type = b1 & 0x0f;
  const piv = (b1 & 0x80) !== 0 && (association === 1 || association === 2);
  const protocolIdentifier = b0 >> 4;
  const text = codeSetName === 'ascii' || codeSetName === 'utf-8';
  const value = text
    ? data.toString(codeSetName === 'ascii' ? 'latin1' : 'utf8').replace(/[\0 ]+$/, '')
    : data.toString('hex');
  const numbered = type === DesignatorType.RelativeTargetPort || type === DesignatorType.TargetPortGroup || type === DesignatorType.LogicalUnitGroup;
  return {
    codeSet,
    codeSetName,
    association,
    associationName: ASSOCIATION_NAMES[association]!,
    type,
    typeName: DESIGNATOR_TYPE_NAMES[type] ?? `reserved designator type ${hex2(type)}`,
    ...(piv ? { protocolIdentifier, protocolName: PROTOCOL_NAMES.get(protocolIdentifier) ?? `protocol ${hex2(protocolIdentifier)}` } : {}),
    value,
    // SPC-4 §7.8.6.6–§7.8.6.8: [0..1] reserved, [2..3] the identifier.
    ...(numbered && data.length >= 4 ? { id: data.readUInt16BE(2) } : {}),
    ...(type === DesignatorType.Naa && data.length > 0 ? { naa: data[0]! >> 4 } : {}),
    data,
  };
}

export interface BlockLimits {
  /** WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused. */
  readonly wsnz: boolean;
  readonly maximumCompareAndWriteLength: number;
  readonly optimalTransferLengthGranularity: number;
  /** In logical blocks; 0 means not reported. */
  readonly maximumTransferLength: number;
  readonly optimalTransferLength: number;
  /** The rest arrived with SBC-3 (page length 3Ch); undefined on an SBC-2 style page (page length 0Ch). */
  readonly maximumPrefetchLength?: number;
  readonly maximumUnmapLbaCount?: number;
  readonly maximumUnmapBlockDescriptorCount?: number;
  readonly optimalUnmapGranularity?: number;
  /** Only when UGAVALID is set. */
  readonly unmapGranularityAlignment?: number;
  readonly maximumWriteSameLength?: bigint;
  readonly maximumAtomicTransferLength?: number;
  readonly atomicAlignment?: number;
  readonly atomicTransferLengthGranularity?: number;
  readonly maximumAtomicTransferLengthWithAtomicBoundary?: number;
  readonly maximumAtomicBoundarySize?: number;
}

/**
 * SBC-3 §6.5.3 (and SBC-4) Block Limits, offsets from the page start:
 *   [4] bit0 WSNZ  [5] MAXIMUM COMPARE AND WRITE LENGTH  [6..7] OPTIMAL TRANSFER LENGTH GRANULARITY
 *   [8..11] MAXIMUM TRANSFER LENGTH  [12..15] OPTIMAL TRANSFER LENGTH  [16..19] MAXIMUM PREFETCH LENGTH
 *   [20..23] MAXIMUM UNMAP LBA COUNT  [24..27] MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT  [28..31] OPTIMAL UNMAP GRANULARITY
 *   [32] bit7 UGAVALID, [32..35] bits 30-0 UNMAP GRANULARITY ALIGNMENT  [36..43] MAXIMUM WRITE SAME LENGTH
 *   [44..47] MAXIMUM ATOMIC TRANSFER LENGTH  [48..51] ATOMIC ALIGNMENT  [52..55] ATOMIC TRANSFER LENGTH GRANULARITY
 *   [56..59] MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY  [60..63] MAXIMUM ATOMIC BOUNDARY SIZE
 */
export function decodeBlockLimits(buf: Buffer): BlockLimits {
  const body = vpdBody(buf, VpdPage.BlockLimits, 'Block Limits');
  if (body.length < 12) throw badData(`Block Limits VPD page too short (page length ${body.length}, need at least 12)`);
  const page = buf.subarray(0, 4 + body.length);
  const u32 = (at: number): number | undefined => (at + 4 <= page.length ? page.readUInt32BE(at) : undefined);
  const out: { -readonly [K in keyof BlockLimits]: BlockLimits[K] } = {
    wsnz: (page[4]! & 0x01) !== 0,
    maximumCompareAndWriteLength: page[5]!,
    optimalTransferLengthGranularity: page.readUInt16BE(6),
    maximumTransferLength: page.readUInt32BE(8),
    optimalTransferLength: page.readUInt32BE(12),
  };
  const optional: Array<[keyof BlockLimits, number]> = [
    ['maximumPrefetchLength', 16],
    ['maximumUnmapLbaCount', 20],
    ['maximumUnmapBlockDescriptorCount', 24],
    ['optimalUnmapGranularity', 28],
    ['maximumAtomicTransferLength', 44],
    ['atomicAlignment', 48],
    ['atomicTransferLengthGranularity', 52],
    ['maximumAtomicTransferLengthWithAtomicBoundary', 56],
    ['maximumAtomicBoundarySize', 60],
  ];
  for (const [key, at] of optional) {
    const v = u32(at);
    if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  }
  const uga = u32(32);
  if (uga !== undefined && (uga & 0x8000_0000) !== 0) out.unmapGranularityAlignment = uga & 0x7fff_ffff;
  if (page.length >= 44) out.maximumWriteSameLength = page.readBigUInt64BE(36);
  return out;
}

export const ProvisioningType = { FullOrNotReported: 0, ResourceProvisioned: 1, ThinProvisioned: 2 } as const;

export interface LogicalBlockProvisioning {
  readonly thresholdExponent: number;
  /** LBPU: UNMAP is supported. */
  readonly lbpu: boolean;
  /** LBPWS: WRITE SAME(16) with UNMAP is supported. */
  readonly lbpws: boolean;
  /** LBPWS10: WRITE SAME(10) with UNMAP is supported. */
  readonly lbpws10: boolean;
  /** LBPRZ (SBC-4: 3 bits): 0 no guarantee, 1 unmapped blocks read as zeros, 2 read as the provisioning pattern. */
  readonly lbprz: number;
  /** ANC_SUP: ANCHOR is supported. */
  readonly anchorSupported: boolean;
  /** DP: a provisioning group descriptor follows. */
  readonly dp: boolean;
  readonly minimumPercentage: number;
  readonly provisioningType: number;
  readonly provisioningTypeName: 'full or not reported' | 'resource provisioned' | 'thin provisioned' | 'reserved';
  readonly thresholdPercentage: number;
}

/**
 * SBC-3 §6.5.13 / SBC-4 Logical Block Provisioning:
 *   [4] THRESHOLD EXPONENT  [5] bit7 LBPU, bit6 LBPWS, bit5 LBPWS10, bits 4-2 LBPRZ, bit1 ANC_SUP, bit0 DP
 *   [6] bits 7-3 MINIMUM PERCENTAGE, bits 2-0 PROVISIONING TYPE  [7] THRESHOLD PERCENTAGE  [8..] provisioning group
 */
export function decodeLogicalBlockProvisioning(buf: Buffer): LogicalBlockProvisioning {
  const body = vpdBody(buf, VpdPage.LogicalBlockProvisioning, 'Logical Block Provisioning');
  if (body.length < 4) throw badData(`Logical Block Provisioning VPD page too short (page length ${body.length}, need 4)`);
  const flags = body[1]!;
  const provisioningType = body[2]! & 0x07;
  return {
    thresholdExponent: body[0]!,
    lbpu: (flags & 0x80) !== 0,
    lbpws: (flags & 0x40) !== 0,
    lbpws10: (flags & 0x20) !== 0,
    lbprz: (flags >> 2) & 0x07,
    anchorSupported: (flags & 0x02) !== 0,
    dp: (flags & 0x01) !== 0,
    minimumPercentage: body[2]! >> 3,
    provisioningType,
    provisioningTypeName: (['full or not reported', 'resource provisioned', 'thin provisioned'] as const)[provisioningType] ?? 'reserved',
    thresholdPercentage: body[3]!,
  };
}
