/**
 * Valid PDUs of every opcode (RFC 7143 §11), built from the fuzzer's PRNG — the same field domains as the fast-check
 * arbitraries of core/test/pdu/arbitraries.ts, adapted to a plain generator — and the golden PDU fixtures of
 * core/test/fixtures/pdu/ as a seed corpus. Mutations start from these, so they get past the first checks.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DigestOptions, Pdu } from '../../src/index.js';
import type { Core } from './engine.js';
import type { Rng } from './prng.js';

export const INITIATOR_OPCODES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10] as const;
export const TARGET_OPCODES = [0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f] as const;
export const ALL_OPCODES = [...INITIATOR_OPCODES, ...TARGET_OPCODES] as const;

const u8 = (r: Rng) => r.int(0x100);
const u16 = (r: Rng) => (r.bool(0.3) ? r.pick([0, 1, 0xffff]) : r.int(0x10000));
const u32 = (r: Rng) => r.interestingU32();
const lun = (r: Rng): bigint => (r.bool(0.5) ? r.pick([0n, 0x0001000000000000n, 0x4001000000000000n, 0xffffffffffffffffn]) : r.bytes(8).readBigUInt64BE(0));
const isid = (r: Rng): bigint => BigInt(r.bytes(6).readUIntBE(0, 6));
const stage = (r: Rng) => r.pick([0, 1, 3] as const);
/** §11.12.2 / §11.10.2: the C bit only with T (or F) clear. */
const tc = (r: Rng): [boolean, boolean] => r.pick([[false, false], [true, false], [false, true]] as const).slice() as [boolean, boolean];

/** A data segment: mostly short, sometimes spanning pad boundaries or a large read. */
export function dataOf(r: Rng, max: number): Buffer {
  const n = r.weighted<number>([
    [4, 0],
    [6, r.int(Math.min(max, 70) + 1)],
    [2, Math.min(max, r.pick([1, 2, 3, 4, 5, 47, 48, 49, 511, 512, 513]))],
    [1, r.int(max + 1)],
  ]);
  return r.bytes(n);
}

/** A valid PDU of `opcode` whose data segment is at most `maxData` bytes. */
export function randomPdu(core: Core, r: Rng, opcode: number, maxData = 600): Pdu {
  const O = core.Opcode;
  const data = () => dataOf(r, maxData);
  switch (opcode) {
    case O.NopOut:
      return { opcode, immediate: r.bool(), lun: lun(r), itt: u32(r), ttt: u32(r), cmdSN: u32(r), expStatSN: u32(r), data: data() };
    case O.ScsiCommand: {
      // 16 CDB bytes travel in the BHS; longer CDBs add an Extended CDB AHS (§11.2.2.3), at most 1020 AHS bytes.
      const cdb = r.bytes(r.bool(0.8) ? 16 : r.range(17, 260));
      const pdu = {
        opcode, immediate: r.bool(), final: r.bool(), read: r.bool(), write: r.bool(), attribute: r.int(8), lun: lun(r),
        itt: u32(r), expectedDataTransferLength: u32(r), cmdSN: u32(r), expStatSN: u32(r), cdb, data: data(),
      } as const;
      return r.bool(0.2) ? { ...pdu, bidiReadLength: u32(r) } : pdu;
    }
    case O.ScsiResponse:
      return {
        opcode, bidiOverflow: r.bool(), bidiUnderflow: r.bool(), overflow: r.bool(), underflow: r.bool(), response: u8(r), status: u8(r),
        itt: u32(r), snackTag: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), expDataSN: u32(r),
        bidiReadResidualCount: u32(r), residualCount: u32(r), data: data(),
      };
    case O.TaskMgmtRequest:
      return {
        opcode, immediate: r.bool(), function: r.int(128), lun: lun(r), itt: u32(r), referencedTaskTag: u32(r), cmdSN: u32(r),
        expStatSN: u32(r), refCmdSN: u32(r), expDataSN: u32(r),
      };
    case O.TaskMgmtResponse:
      return { opcode, response: u8(r), itt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r) };
    case O.LoginRequest: {
      const [transit, cont] = tc(r);
      const a = u8(r);
      const b = u8(r);
      return {
        opcode, immediate: true, transit, continue: cont, csg: stage(r), nsg: stage(r), versionMax: Math.max(a, b), versionMin: Math.min(a, b),
        isid: isid(r), tsih: u16(r), itt: u32(r), cid: u16(r), cmdSN: u32(r), expStatSN: u32(r), data: data(),
      };
    }
    case O.LoginResponse: {
      const [transit, cont] = tc(r);
      const a = u8(r);
      const b = u8(r);
      return {
        opcode, transit, continue: cont, csg: stage(r), nsg: stage(r), versionMax: Math.max(a, b), versionActive: Math.min(a, b),
        isid: isid(r), tsih: u16(r), itt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), statusClass: u8(r),
        statusDetail: u8(r), data: data(),
      };
    }
    case O.TextRequest: {
      const [final, cont] = tc(r);
      return { opcode, immediate: r.bool(), final, continue: cont, lun: lun(r), itt: u32(r), ttt: u32(r), cmdSN: u32(r), expStatSN: u32(r), data: data() };
    }
    case O.TextResponse: {
      const [final, cont] = tc(r);
      return { opcode, final, continue: cont, lun: lun(r), itt: u32(r), ttt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), data: data() };
    }
    case O.DataOut:
      return {
        opcode, final: r.bool(), lun: lun(r), itt: u32(r), ttt: u32(r), expStatSN: u32(r), dataSN: u32(r), bufferOffset: u32(r), data: data(),
      };
    case O.DataIn:
      return {
        opcode, final: r.bool(), acknowledge: r.bool(), overflow: r.bool(), underflow: r.bool(), statusPresent: r.bool(), status: u8(r),
        lun: lun(r), itt: u32(r), ttt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), dataSN: u32(r),
        bufferOffset: u32(r), residualCount: u32(r), data: data(),
      };
    case O.LogoutRequest:
      return { opcode, immediate: r.bool(), reasonCode: r.int(128), itt: u32(r), cid: u16(r), cmdSN: u32(r), expStatSN: u32(r) };
    case O.LogoutResponse:
      return {
        opcode, response: u8(r), itt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), time2Wait: u16(r), time2Retain: u16(r),
      };
    case O.SnackRequest:
      return { opcode, type: r.int(16), lun: lun(r), itt: u32(r), ttt: u32(r), expStatSN: u32(r), begRun: u32(r), runLength: u32(r) };
    case O.R2T:
      return {
        opcode, lun: lun(r), itt: u32(r), ttt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), r2tSN: u32(r),
        bufferOffset: u32(r), desiredDataTransferLength: u32(r),
      };
    case O.AsyncMessage:
      return {
        opcode, lun: lun(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), asyncEvent: u8(r), asyncVCode: u8(r),
        parameter1: u16(r), parameter2: u16(r), parameter3: u16(r), data: data(),
      };
    case O.NopIn:
      return { opcode, lun: lun(r), itt: u32(r), ttt: u32(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), data: data() };
    case O.Reject:
      return { opcode, reason: u8(r), statSN: u32(r), expCmdSN: u32(r), maxCmdSN: u32(r), dataSN: u32(r), data: data() };
    default:
      throw new RangeError(`randomPdu: no generator for opcode 0x${opcode.toString(16)}`);
  }
}

/** One golden or crasher fixture as a byte stream, with the framer settings it was written for. */
export interface CorpusEntry {
  readonly name: string;
  readonly bytes: Buffer;
  readonly digests: DigestOptions;
}

const PDU_FIXTURES = fileURLToPath(new URL('../fixtures/pdu/', import.meta.url));

function parseHex(text: string): Buffer {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(digits, 'hex');
}

let corpusCache: CorpusEntry[] | undefined;

/**
 * The .hex fixtures under core/test/fixtures/pdu (golden PDUs) and its crashers/ folder. A golden file's digest
 * settings are found by framing it: the one setting under which it is exactly one whole PDU.
 */
export function loadCorpus(core: Core): CorpusEntry[] {
  if (corpusCache !== undefined) return corpusCache;
  const entries: CorpusEntry[] = [];
  const read = (dir: string): string[] => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.hex')).sort();
    } catch {
      return [];
    }
  };
  for (const file of read(PDU_FIXTURES)) {
    const bytes = parseHex(readFileSync(join(PDU_FIXTURES, file), 'utf8'));
    let digests: DigestOptions = core.NO_DIGESTS;
    for (const d of [core.NO_DIGESTS, { headerDigest: true, dataDigest: true }, { headerDigest: true, dataDigest: false }, { headerDigest: false, dataDigest: true }]) {
      try {
        const framer = new core.PduFramer({ ...d, accept: 'any', maxRecvDataSegmentLength: 0xffffff });
        if (framer.push(bytes).length === 1 && framer.bufferedBytes === 0) {
          digests = d;
          break;
        }
      } catch {
        // not this setting
      }
    }
    entries.push({ name: file, bytes, digests });
  }
  const crashers = join(PDU_FIXTURES, 'crashers');
  for (const file of read(crashers)) {
    const text = readFileSync(join(crashers, file), 'utf8');
    const options = JSON.parse(/^# framer: (.*)$/m.exec(text)?.[1] ?? '{}') as Partial<DigestOptions>;
    entries.push({
      name: `crashers/${file}`,
      bytes: parseHex(text),
      digests: { headerDigest: options.headerDigest === true, dataDigest: options.dataDigest === true },
    });
  }
  corpusCache = entries;
  return entries;
}
