import { Args } from '@oclif/core';
import {
  decodeDeviceIdentification,
  decodeStandardInquiry,
  decodeSupportedVpdPages,
  decodeUnitSerialNumber,
  inquiry,
  VpdPage,
  type ScsiCommandPath,
} from '@iscsi-initiator/core';
import { BaseCommand } from '../../base-command.js';
import { CREDENTIALS_HELP, directFlags, withLun } from '../../target-options.js';

export interface InquiryResult {
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly deviceType: string;
  readonly peripheralQualifier: number;
  readonly removable: boolean;
  readonly version: string;
  readonly commandQueueing: boolean;
  readonly supportedVpdPages: number[];
  readonly serialNumber: string | null;
  readonly designators: Array<{ type: string; association: string; codeSet: string; value: string }>;
}

export default class LunInquiry extends BaseCommand {
  static override summary = 'Show a LUN\'s identity: standard INQUIRY, unit serial number and device identifiers';
  static override description = `Logs in to the target, sends INQUIRY (standard data, then VPD pages 0x00, 0x80 and 0x83 when the LUN supports them), prints what it learned and logs out. No daemon is involved.
URL: iscsi://[user[%secret]@]host[:port]/target-iqn/lun[?header_digest=crc32c|none&data_digest=…&auth=md5,sha-256,…].
${CREDENTIALS_HELP}

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> lun inquiry iscsi://192.168.1.20/iqn.2004-04.com.qnap:ts-453:iscsi.disk1/0',
    'ISCSI_CHAP_SECRET=… <%= config.bin %> lun inquiry "iscsi://me@nas.local/iqn.2000-01.com.synology:nas.target-1/1?header_digest=crc32c" --json',
  ];
  static override args = { url: Args.string({ description: 'iscsi://host[:port]/target-iqn/lun', required: true }) };
  static override flags = { ...directFlags };

  async run(): Promise<InquiryResult> {
    const { args, flags } = await this.parse(LunInquiry);
    const result = await withLun(args.url, flags, (session, lun) => collect(session, lun));
    this.log(`Vendor:    ${result.vendor}`);
    this.log(`Product:   ${result.product}`);
    this.log(`Revision:  ${result.revision}`);
    this.log(`Type:      ${result.deviceType}${result.removable ? ' (removable)' : ''}`);
    this.log(`Version:   ${result.version}`);
    this.log(`Serial:    ${result.serialNumber ?? '(none)'}`);
    for (const d of result.designators) this.log(`Designator: ${d.type} (${d.association}, ${d.codeSet}): ${d.value}`);
    return result;
  }
}

async function collect(session: ScsiCommandPath, lun: number): Promise<InquiryResult> {
  const standard = decodeStandardInquiry((await session.command({ lun, cdb: inquiry({ allocationLength: 255 }), readLength: 255 })).data);
  const vpd = async (page: number) => (await session.command({ lun, cdb: inquiry({ evpd: true, page, allocationLength: 1024 }), readLength: 1024 })).data;
  // SPC-4 §7.8.1: page 0x00 lists the pages a LUN has; ask only for those.
  const supported = decodeSupportedVpdPages(await vpd(VpdPage.SupportedPages));
  const serialNumber = supported.includes(VpdPage.UnitSerialNumber) ? decodeUnitSerialNumber(await vpd(VpdPage.UnitSerialNumber)) : null;
  const designators = supported.includes(VpdPage.DeviceIdentification) ? decodeDeviceIdentification(await vpd(VpdPage.DeviceIdentification)) : [];
  return {
    vendor: standard.vendor,
    product: standard.product,
    revision: standard.revision,
    deviceType: standard.deviceTypeName,
    peripheralQualifier: standard.peripheralQualifier,
    removable: standard.removable,
    version: standard.versionName,
    commandQueueing: standard.cmdque,
    supportedVpdPages: supported,
    serialNumber,
    designators: designators.map((d) => ({ type: d.typeName, association: d.associationName, codeSet: d.codeSetName, value: d.value })),
  };
}
