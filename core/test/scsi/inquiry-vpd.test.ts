import { describe, expect, it } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import {
  decodeBlockLimits,
  decodeDeviceIdentification,
  decodeLogicalBlockProvisioning,
  decodeStandardInquiry,
  decodeSupportedVpdPages,
  decodeUnitSerialNumber,
  vpdPageLength,
} from '../../src/scsi/index.js';

const hb = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

function badData(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ScsiError);
  expect((caught as ScsiError).code).toBe('ISCSI_SCSI_BAD_DATA');
}

/** A VPD page: [0] qualifier/type 00h, [1] PAGE CODE, [2..3] PAGE LENGTH, then the body (SPC-4 §7.8.1). */
function vpd(page: number, bodyHex: string): Buffer {
  const body = hb(bodyHex);
  const head = Buffer.alloc(4);
  head[1] = page;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}

describe('standard INQUIRY data — SPC-4 §6.6.2', () => {
  // 96 bytes, as LIO returns them: ADDITIONAL LENGTH 5Bh, RMB, VERSION 6 (SPC-4), HISUP + format 2, TPGS 1 + 3PC,
  // MULTIP, CMDQUE, "LIO-ORG " / "disk0" / "4.0 ", version descriptors SPC-4 (0460h), iSCSI (0960h), SBC-3 (04C0h).
  const STANDARD = hb(
    '00 80 06 12 5b 18 10 02' +
      ascii('LIO-ORG ') +
      ascii('disk0'.padEnd(16)) +
      ascii('4.0 ') +
      '00'.repeat(22) + // [36..57] vendor specific / reserved
      '0460 0960 04c0' +
      '00'.repeat(96 - 64),
  );

  it('decodes qualifier/type, flags, version and the trimmed identification strings', () => {
    expect(STANDARD.length).toBe(96);
    expect(decodeStandardInquiry(STANDARD)).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      deviceTypeName: 'direct access block device',
      removable: true,
      version: 6,
      versionName: 'SPC-4',
      normaca: false,
      hisup: true,
      responseDataFormat: 2,
      additionalLength: 0x5b,
      sccs: false,
      acc: false,
      tpgs: 1,
      thirdPartyCopy: true,
      protect: false,
      encserv: false,
      multip: true,
      cmdque: true,
      vendor: 'LIO-ORG',
      product: 'disk0',
      revision: '4.0',
      versionDescriptors: [0x0460, 0x0960, 0x04c0],
    });
  });

  it('qualifier 3 / type 1Fh: no logical unit here', () => {
    const none = Buffer.from(STANDARD);
    none[0] = 0x7f;
    const d = decodeStandardInquiry(none);
    expect([d.peripheralQualifier, d.peripheralDeviceType, d.deviceTypeName]).toEqual([3, 0x1f, 'unknown or no device type']);
  });

  it('36 bytes (the SPC minimum) decode without version descriptors; 35 are truncated', () => {
    const d = decodeStandardInquiry(STANDARD.subarray(0, 36));
    expect(d.product).toBe('disk0');
    expect(d.versionDescriptors).toEqual([]);
    badData(() => decodeStandardInquiry(STANDARD.subarray(0, 35)));
  });
});

describe('VPD pages — SPC-4 §7.8, SBC-3 §6.5', () => {
  it('§7.8.14 Supported VPD Pages', () => {
    expect(decodeSupportedVpdPages(vpd(0x00, '00 80 83 b0 b2'))).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb2]);
  });

  it('§7.8.15 Unit Serial Number, trailing spaces trimmed', () => {
    expect(decodeUnitSerialNumber(vpd(0x80, ascii('SN1234  ')))).toBe('SN1234');
  });

  it('the header is checked: wrong page code or a page shorter than PAGE LENGTH is bad data', () => {
    badData(() => decodeUnitSerialNumber(vpd(0x83, ascii('x'))));
    const page = vpd(0x80, ascii('SERIAL'));
    expect(vpdPageLength(page)).toBe(10);
    badData(() => decodeUnitSerialNumber(page.subarray(0, 9)));
    badData(() => decodeSupportedVpdPages(hb('0000')));
  });

  it('§7.8.6 Device Identification: NAA, T10 vendor ID, SCSI name string, relative port, port group', () => {
    const page = vpd(
      0x83,
      // NAA (code set 1 binary, LU, type 3), 16 bytes, NAA 6
      '01 03 00 10 6001405f1d2e3c4b5a69788796a5b4c3' +
        // T10 vendor ID (code set 2 ASCII, LU, type 1)
        '02 01 00 0c' +
        ascii('LIO-ORG disk') +
        // SCSI name string (protocol 5 iSCSI, code set 3 UTF-8; PIV, association 2 target device, type 8), NUL padded
        '53 a8 00 20' +
        ascii('iqn.2003-01.org.linux-iscsi:t1') +
        '0000' +
        // relative target port (iSCSI, binary; PIV, association 1 target port, type 4): port 1
        '51 94 00 04 0000 0001' +
        // target port group (binary, association 1, type 5, no PIV): group 2
        '01 15 00 04 0000 0002',
    );
    const ids = decodeDeviceIdentification(page);
    expect(ids.map((d) => [d.typeName, d.associationName, d.codeSetName, d.value])).toEqual([
      ['NAA', 'logical unit', 'binary', '6001405f1d2e3c4b5a69788796a5b4c3'],
      ['T10 vendor ID', 'logical unit', 'ascii', 'LIO-ORG disk'],
      ['SCSI name string', 'target device', 'utf-8', 'iqn.2003-01.org.linux-iscsi:t1'],
      ['relative target port', 'target port', 'binary', '00000001'],
      ['target port group', 'target port', 'binary', '00000002'],
    ]);
    expect(ids[0]!.naa).toBe(6);
    expect(ids[0]!.protocolIdentifier).toBeUndefined(); // PIV applies only to port/device associations
    expect([ids[2]!.protocolIdentifier, ids[2]!.protocolName]).toEqual([5, 'iSCSI']);
    expect([ids[3]!.id, ids[3]!.protocolName]).toEqual([1, 'iSCSI']);
    expect(ids[4]!.id).toBe(2);
    expect(ids[4]!.protocolIdentifier).toBeUndefined();
  });

  it('§7.8.6 a designator overrunning the page is bad data', () => {
    badData(() => decodeDeviceIdentification(vpd(0x83, '01 03 00 10 6001405f')));
    badData(() => decodeDeviceIdentification(vpd(0x83, '01 03 00')));
  });

  it('SBC-3 §6.5.3 Block Limits (page length 3Ch)', () => {
    const page = vpd(
      0xb0,
      '01 01 0008' + // WSNZ, MAX COMPARE AND WRITE 1, OPTIMAL TRANSFER LENGTH GRANULARITY 8
        '00000800 00000100 00000000' + // MAX TRANSFER 2048, OPTIMAL TRANSFER 256, MAX PREFETCH 0
        'ffffffff 00000010 00000008' + // MAX UNMAP LBA COUNT, MAX UNMAP DESCRIPTORS 16, OPTIMAL UNMAP GRANULARITY 8
        '80000004' + // UGAVALID, alignment 4
        '0000000000010000' + // MAX WRITE SAME LENGTH
        '00000000 00000000 00000000 00000000 00000000',
    );
    expect(page.length).toBe(64);
    expect(decodeBlockLimits(page)).toEqual({
      wsnz: true,
      maximumCompareAndWriteLength: 1,
      optimalTransferLengthGranularity: 8,
      maximumTransferLength: 2048,
      optimalTransferLength: 256,
      maximumPrefetchLength: 0,
      maximumUnmapLbaCount: 0xffffffff,
      maximumUnmapBlockDescriptorCount: 16,
      optimalUnmapGranularity: 8,
      unmapGranularityAlignment: 4,
      maximumWriteSameLength: 0x10000n,
      maximumAtomicTransferLength: 0,
      atomicAlignment: 0,
      atomicTransferLengthGranularity: 0,
      maximumAtomicTransferLengthWithAtomicBoundary: 0,
      maximumAtomicBoundarySize: 0,
    });
  });

  it('SBC-2 style Block Limits (page length 0Ch) leave the later fields undefined; shorter is bad data', () => {
    const d = decodeBlockLimits(vpd(0xb0, '00 00 0001 00000400 00000080'));
    expect(d).toEqual({
      wsnz: false,
      maximumCompareAndWriteLength: 0,
      optimalTransferLengthGranularity: 1,
      maximumTransferLength: 1024,
      optimalTransferLength: 128,
    });
    badData(() => decodeBlockLimits(vpd(0xb0, '00 00 0001 00000400')));
  });

  it('SBC-3 §6.5.13 Logical Block Provisioning: LBPU/LBPWS/LBPWS10/LBPRZ, provisioning type', () => {
    expect(decodeLogicalBlockProvisioning(vpd(0xb2, '00 e4 02 00'))).toEqual({
      thresholdExponent: 0,
      lbpu: true,
      lbpws: true,
      lbpws10: true,
      lbprz: 1,
      anchorSupported: false,
      dp: false,
      minimumPercentage: 0,
      provisioningType: 2,
      provisioningTypeName: 'thin provisioned',
      thresholdPercentage: 0,
    });
    expect(decodeLogicalBlockProvisioning(vpd(0xb2, '0a 03 51 07'))).toMatchObject({
      thresholdExponent: 10,
      anchorSupported: true,
      dp: true,
      minimumPercentage: 10,
      provisioningType: 1,
      provisioningTypeName: 'resource provisioned',
      thresholdPercentage: 7,
    });
    badData(() => decodeLogicalBlockProvisioning(vpd(0xb2, '00 e4 02')));
  });
});
