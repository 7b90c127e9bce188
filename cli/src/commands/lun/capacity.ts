import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { CREDENTIALS_HELP, directFlags, readCapacity, withLun } from '../../target-options.js';

export interface CapacityResult {
  readonly blocks: string;
  readonly blockLength: number;
  readonly sizeBytes: string;
  readonly lastLba: string;
  readonly physicalBlockLength: number;
  readonly thinProvisioned: boolean;
  readonly unmappedReadsZero: boolean;
  readonly protection: number;
}

export default class LunCapacity extends BaseCommand {
  static override summary = 'Show a LUN\'s size and block geometry (READ CAPACITY 16)';
  static override description = `Logs in to the target, sends READ CAPACITY (16), prints the number of blocks, block size, total size, physical block size and thin-provisioning bits, and logs out. No daemon is involved.
${CREDENTIALS_HELP}

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> lun capacity iscsi://192.168.1.20/iqn.2005-10.org.freenas.ctl:vol1/0',
    '<%= config.bin %> lun capacity iscsi://[::1]:3260/iqn.2026-11.test:disk/1 --json',
  ];
  static override args = { url: Args.string({ description: 'iscsi://host[:port]/target-iqn/lun', required: true }) };
  static override flags = { ...directFlags };

  async run(): Promise<CapacityResult> {
    const { args, flags } = await this.parse(LunCapacity);
    const c = await withLun(args.url, flags, readCapacity);
    // Sizes are bigints; JSON carries them as decimal strings so no precision is lost.
    const result: CapacityResult = {
      blocks: c.blocks.toString(),
      blockLength: c.blockLength,
      sizeBytes: c.sizeBytes.toString(),
      lastLba: c.lastLba.toString(),
      physicalBlockLength: c.physicalBlockLength,
      thinProvisioned: c.lbpme,
      unmappedReadsZero: c.lbprz,
      protection: c.protection.type,
    };
    this.log(`Blocks:         ${result.blocks} × ${result.blockLength} bytes`);
    this.log(`Size:           ${result.sizeBytes} bytes (${humanSize(c.sizeBytes)})`);
    this.log(`Physical block: ${result.physicalBlockLength} bytes`);
    this.log(`Thin:           ${result.thinProvisioned ? 'yes' : 'no'}${result.thinProvisioned ? `, unmapped blocks read ${result.unmappedReadsZero ? 'zeros' : 'undefined'}` : ''}`);
    if (result.protection) this.log(`Protection:     type ${result.protection}`);
    return result;
  }
}

function humanSize(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 2 : value < 100 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}
