/**
 * Golden PDUs: each object next to the hex file hand-built from its RFC 7143 layout (core/test/fixtures/pdu/).
 * Hex files are whitespace-separated bytes; `#` starts a comment.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DigestOptions } from '../../src/pdu/digest.js';
import { Opcode, type Pdu } from '../../src/pdu/types.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/pdu');

export function parseHex(text: string): Buffer {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join(' ')
    .trim();
  if (digits === '') return Buffer.alloc(0);
  const bytes = digits.split(/\s+/);
  for (const b of bytes) if (!/^[0-9a-fA-F]{2}$/.test(b)) throw new Error(`bad hex byte ${JSON.stringify(b)}`);
  return Buffer.from(bytes.join(''), 'hex');
}

export function readHex(file: string): Buffer {
  return parseHex(readFileSync(join(FIXTURE_DIR, file), 'utf8'));
}

export function listFixtureFiles(subdir: string): string[] {
  return readdirSync(join(FIXTURE_DIR, subdir)).filter((f) => f.endsWith('.hex')).sort();
}

export interface Golden {
  readonly file: string;
  readonly digests: DigestOptions;
  readonly pdu: Pdu;
}

const OFF: DigestOptions = { headerDigest: false, dataDigest: false };
const ON: DigestOptions = { headerDigest: true, dataDigest: true };
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const text = (s: string) => Buffer.from(s, 'latin1');

export const GOLDEN: readonly Golden[] = [
  {
    file: 'nop-out.hex',
    digests: OFF,
    pdu: { opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 0x10, ttt: 0xffffffff, cmdSN: 5, expStatSN: 3, data: text('hello') },
  },
  {
    file: 'scsi-command.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attribute: 1,
      lun: 0x0001000000000000n,
      itt: 0x1a,
      expectedDataTransferLength: 4096,
      cmdSN: 7,
      expStatSN: 3,
      // Decoding gives back the 16 CDB bytes of the BHS, zero padding included (§11.3.5).
      cdb: hex('28000000 12340000 08000000 00000000'),
      data: Buffer.alloc(0),
    },
  },
  {
    file: 'scsi-command-ahs.hex',
    digests: ON,
    pdu: {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: true,
      read: true,
      write: true,
      attribute: 1,
      lun: 0n,
      itt: 0x2b,
      expectedDataTransferLength: 512,
      cmdSN: 0x10,
      expStatSN: 0x20,
      cdb: hex('7f000000 00000018 00090000 00000000 00000000 00001000 00000000 00000008'),
      bidiReadLength: 4096,
      data: hex('010203040506'),
    },
  },
  {
    file: 'task-mgmt-request.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.TaskMgmtRequest,
      immediate: true,
      function: 1,
      lun: 0x0001000000000000n,
      itt: 0x30,
      referencedTaskTag: 0x1a,
      cmdSN: 8,
      expStatSN: 4,
      refCmdSN: 7,
      expDataSN: 0,
    },
  },
  {
    file: 'task-mgmt-response.hex',
    digests: OFF,
    pdu: { opcode: Opcode.TaskMgmtResponse, response: 0, itt: 0x30, statSN: 9, expCmdSN: 9, maxCmdSN: 0x28 },
  },
  {
    file: 'login-request.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.LoginRequest,
      immediate: true,
      transit: true,
      continue: false,
      csg: 0,
      nsg: 1,
      versionMax: 0,
      versionMin: 0,
      isid: 0x80123456789an,
      tsih: 0,
      itt: 1,
      cid: 2,
      cmdSN: 1,
      expStatSN: 0,
      data: text('InitiatorName=iqn.2024-01.test:init\0SessionType=Normal\0AuthMethod=None\0'),
    },
  },
  {
    file: 'login-response.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.LoginResponse,
      transit: true,
      continue: false,
      csg: 0,
      nsg: 1,
      versionMax: 0,
      versionActive: 0,
      isid: 0x80123456789an,
      tsih: 0x0102,
      itt: 1,
      statSN: 1,
      expCmdSN: 1,
      maxCmdSN: 0x21,
      statusClass: 0,
      statusDetail: 0,
      data: text('AuthMethod=None\0TargetPortalGroupTag=1\0'),
    },
  },
  {
    file: 'text-request.hex',
    digests: ON,
    pdu: {
      opcode: Opcode.TextRequest,
      immediate: false,
      final: true,
      continue: false,
      lun: 0n,
      itt: 0x40,
      ttt: 0xffffffff,
      cmdSN: 0x0a,
      expStatSN: 0x0b,
      data: text('SendTargets=All\0'),
    },
  },
  {
    file: 'text-response.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.TextResponse,
      final: true,
      continue: false,
      lun: 0n,
      itt: 0x40,
      ttt: 0xffffffff,
      statSN: 0x0b,
      expCmdSN: 0x0b,
      maxCmdSN: 0x2a,
      data: text('TargetName=iqn.2024-01.test:disk1\0TargetAddress=192.0.2.10:3260,1\0'),
    },
  },
  {
    file: 'data-out.hex',
    digests: ON,
    pdu: {
      opcode: Opcode.DataOut,
      final: true,
      lun: 0x0001000000000000n,
      itt: 0x1b,
      ttt: 0x100,
      expStatSN: 0x0c,
      dataSN: 0,
      bufferOffset: 0x2000,
      data: hex('deadbeef 00112233 4455'),
    },
  },
  {
    file: 'data-in.hex',
    digests: ON,
    pdu: {
      opcode: Opcode.DataIn,
      final: true,
      acknowledge: false,
      overflow: false,
      underflow: true,
      statusPresent: true,
      status: 0,
      lun: 0n,
      itt: 0x1a,
      ttt: 0xffffffff,
      statSN: 0x0d,
      expCmdSN: 0x0e,
      maxCmdSN: 0x2d,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 4083,
      data: hex('00010203 04050607 08090a0b 0c'),
    },
  },
  {
    file: 'logout-request.hex',
    digests: OFF,
    pdu: { opcode: Opcode.LogoutRequest, immediate: true, reasonCode: 0, itt: 0x50, cid: 1, cmdSN: 0x0f, expStatSN: 0x0e },
  },
  {
    file: 'logout-response.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.LogoutResponse,
      response: 0,
      itt: 0x50,
      statSN: 0x0f,
      expCmdSN: 0x10,
      maxCmdSN: 0x2f,
      time2Wait: 2,
      time2Retain: 20,
    },
  },
  {
    file: 'snack-request.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.SnackRequest,
      type: 0,
      lun: 0x0001000000000000n,
      itt: 0x1a,
      ttt: 0xffffffff,
      expStatSN: 0x10,
      begRun: 3,
      runLength: 1,
    },
  },
  {
    file: 'nop-in.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.NopIn,
      lun: 0n,
      itt: 0xffffffff,
      ttt: 0x77,
      statSN: 0x10,
      expCmdSN: 0x11,
      maxCmdSN: 0x30,
      data: Buffer.alloc(0),
    },
  },
  {
    file: 'scsi-response.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.ScsiResponse,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: true,
      response: 0,
      status: 0x02,
      itt: 0x1a,
      snackTag: 0,
      statSN: 0x11,
      expCmdSN: 0x12,
      maxCmdSN: 0x31,
      expDataSN: 1,
      bidiReadResidualCount: 0,
      residualCount: 512,
      data: hex('0012 70000500 0000000a 00000000 24000000 0000'),
    },
  },
  {
    file: 'r2t.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.R2T,
      lun: 0x0001000000000000n,
      itt: 0x1b,
      ttt: 0x100,
      statSN: 0x12,
      expCmdSN: 0x13,
      maxCmdSN: 0x32,
      r2tSN: 0,
      bufferOffset: 0x2000,
      desiredDataTransferLength: 0x2000,
    },
  },
  {
    file: 'async-message.hex',
    digests: OFF,
    pdu: {
      opcode: Opcode.AsyncMessage,
      lun: 0n,
      statSN: 0x13,
      expCmdSN: 0x14,
      maxCmdSN: 0x33,
      asyncEvent: 1,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 20,
      data: hex('0000'),
    },
  },
  {
    file: 'reject.hex',
    digests: ON,
    pdu: {
      opcode: Opcode.Reject,
      reason: 0x04,
      statSN: 0x14,
      expCmdSN: 0x15,
      maxCmdSN: 0x34,
      dataSN: 0,
      data: hex(
        '40800000 00000005 00000000 00000000 00000010 ffffffff 00000005 00000003 00000000 00000000 00000000 00000000',
      ),
    },
  },
];
