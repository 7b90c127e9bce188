/**
 * Target 6: session dispatch. An IscsiSession logs in over a real loopback socket to a tiny target in this file,
 * issues a burst of requests (reads, writes, a command without data, ABORT TASK or LOGICAL UNIT RESET, a Text
 * Request), and the target answers with a conforming full-feature stream (Data-In, SCSI Response, R2T, NOP-In, Async
 * Message, Reject, TMF and Text Responses; RFC 7143 §11) in which one PDU is mutated — a field, a flag, its data, a
 * drop, a duplicate, a swap, an extra PDU, or bytes — delivered in random chunks.
 *
 * Then the target probes with a NOP-In ping (§11.19): its echo proves the initiator has dispatched everything before
 * it. Oracles: every request settles — resolved, or rejected with an IscsiError — once the session is closed (by
 * logout, or by the error the stream caused); a connection closed because a handler threw an untyped error (the
 * connection wraps it as the cause of a ProtocolError) is a finding; no unhandled rejection or uncaught exception;
 * no hang (each case is bounded); an unmutated stream gives exactly the planned results and a clean logout.
 *
 * The stored input is the meta (login settings, burst, chunk cuts) and the exact bytes the target sent after the
 * burst; replaying it needs no generator.
 */

import net from 'node:net';
import type { InitiatorPdu, IscsiSession, LoginRequest, LogoutRequest, Pdu, TargetPdu, TextPair } from '../../src/index.js';
import { Finding, type Core, type FuzzCase, type FuzzTarget } from './engine.js';
import { fixDigests, mutateStream, randomCuts, walk, chunk } from './mutate.js';
import { TARGET_OPCODES, randomPdu } from './pdus.js';
import { Rng } from './prng.js';

const RESERVED = 0xffffffff;
const PROBE_TTT = 0x7ffffffe;
const TSIH = 0x1234;
/** A case that has not settled by then is a hang. */
const CASE_DEADLINE_MS = 4000;

type Request =
  | { kind: 'read'; lun: number; length: number }
  | { kind: 'write'; lun: number; length: number }
  | { kind: 'none'; lun: number }
  | { kind: 'abort'; of: number }
  | { kind: 'lun-reset'; lun: number }
  | { kind: 'text' };

/** What an unmutated stream must produce for each request. */
type Expected =
  | { resolve: 'scsi'; status: number; data: string }
  | { resolve: 'tmf'; response: number }
  | { resolve: 'text'; pairs: TextPair[] }
  | { reject: string };

interface SessionMeta {
  headerDigest: boolean;
  dataDigest: boolean;
  initialR2T: boolean;
  immediateData: boolean;
  /** Ours (the initiator's) and the target's MaxRecvDataSegmentLength (§13.12). */
  initiatorMrdsl: number;
  targetMrdsl: number;
  maxBurstLength: number;
  firstBurstLength: number;
  cmdSN: number;
  statSN: number;
  window: number;
  requests: Request[];
  /** Write data is `writeSeed`-derived so the stored case stays small. */
  writeSeed: number;
  cuts: number[];
  mutation: string;
  expected: Expected[] | null;
  /** Numbering for the probe: what the target's next PDU carries after the planned ones. */
  probe: { statSN: number; expCmdSN: number; maxCmdSN: number };
  /** How the target answers the Logout Request (§11.15): as it should, or with one field or some bytes mutated. */
  logout: 'plain' | 'field' | 'bytes';
  logoutSeed: number;
}

function writeData(seed: number, index: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (seed + index * 31 + i * 7) & 0xff;
  return b;
}

/** SPC-4 fixed-format sense (18 bytes) behind its 2-byte SenseLength (§11.4.7.2). */
function senseSegment(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(18, 0);
  b[2] = 0x70;
  b[4] = key & 0x0f;
  b[9] = 10;
  b[14] = asc;
  b[15] = ascq;
  return b;
}

/** The numbering every planned PDU gets from (§4.2.2: StatSN advances with each status; ExpCmdSN/MaxCmdSN). */
class Numbers {
  statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  constructor(statSN: number, expCmdSN: number, window: number) {
    this.statSN = statSN >>> 0;
    this.expCmdSN = expCmdSN >>> 0;
    this.maxCmdSN = (expCmdSN + window - 1) >>> 0;
  }
  take(advance: boolean): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = this.statSN;
    if (advance) this.statSN = (this.statSN + 1) >>> 0;
    return { statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }
}

interface Plan {
  /** PDUs in planned order; numbers are filled in when the order is final. */
  steps: Array<{ owner: number; build: (n: Numbers) => TargetPdu }>;
  expected: Expected[];
}

export interface SessionTarget extends FuzzTarget {
  close(): Promise<void>;
}

export function sessionTarget(core: Core): SessionTarget {
  const O = core.Opcode;

  // ---- planning ---------------------------------------------------------------------------------------------------

  function ittsOf(requests: readonly Request[]): number[] {
    // IscsiSession allocates ITTs from 1 upwards, one per command started and per TMF or Text Request, in call order.
    return requests.map((_, i) => i + 1);
  }

  function plan(r: Rng, m: SessionMeta): Plan {
    const itts = ittsOf(m.requests);
    const commandCmdSN = new Map<number, number>();
    let cmdSN = m.cmdSN;
    m.requests.forEach((q, i) => {
      if (q.kind === 'read' || q.kind === 'write' || q.kind === 'none') commandCmdSN.set(i, cmdSN++ >>> 0);
    });
    const perRequest: Array<Array<(n: Numbers) => TargetPdu>> = m.requests.map(() => []);
    const expected: Expected[] = m.requests.map(() => ({ reject: 'unplanned' }));
    const lunOf = (i: number) => core.encodeLun((m.requests[i] as { lun?: number }).lun ?? 0);
    /** Requests whose answer another request's plan decides (ABORT TASK, LUN RESET). */
    const decided = new Set<number>();

    const scsiResponse = (i: number, status: number, data: Buffer, expDataSN: number, residual = 0): ((n: Numbers) => TargetPdu) => (n) => ({
      opcode: O.ScsiResponse, bidiOverflow: false, bidiUnderflow: false, overflow: false, underflow: residual > 0, response: 0, status,
      itt: itts[i]!, snackTag: 0, ...n.take(true), expDataSN, bidiReadResidualCount: 0, residualCount: residual, data,
    });

    const commandSteps = (i: number, q: Request): void => {
      const steps = perRequest[i]!;
      if (q.kind === 'read') {
        if (r.bool(0.15)) {
          const sense = senseSegment(3, 0x11, 0);
          steps.push(scsiResponse(i, 2, sense, 0));
          expected[i] = { resolve: 'scsi', status: 2, data: '' };
          return;
        }
        // §11.7: Data-In in DataSN order, each at most our MaxRecvDataSegmentLength; maybe fewer bytes (underflow).
        const sent = r.bool(0.2) ? r.int(q.length + 1) : q.length;
        const data = r.bytes(sent);
        const collapse = r.bool(0.6) && sent > 0;
        let dataSN = 0;
        for (let at = 0; at < sent; ) {
          const size = Math.min(sent - at, r.bool(0.5) ? m.initiatorMrdsl : r.range(1, m.initiatorMrdsl));
          const last = at + size >= sent;
          const sn = dataSN++;
          const offset = at;
          const piece = data.subarray(at, at + size);
          steps.push((n) => ({
            opcode: O.DataIn, final: last, acknowledge: false, overflow: false, underflow: last && collapse && sent < q.length,
            statusPresent: last && collapse, status: 0, lun: lunOf(i), itt: itts[i]!, ttt: RESERVED, ...n.take(last && collapse),
            dataSN: sn, bufferOffset: offset, residualCount: last && collapse ? q.length - sent : 0, data: piece,
          }));
          at += size;
        }
        if (!collapse) steps.push(scsiResponse(i, 0, Buffer.alloc(0), dataSN, q.length - sent));
        expected[i] = { resolve: 'scsi', status: 0, data: data.toString('hex') };
        return;
      }
      if (q.kind === 'write') {
        // §13.10, §13.11, §13.14: what went unsolicited; the rest is asked for by R2Ts of at most MaxBurstLength.
        const unsolicitedLimit = m.initialR2T && !m.immediateData ? 0 : Math.min(q.length, m.firstBurstLength);
        const immediate = m.immediateData ? Math.min(unsolicitedLimit, m.targetMrdsl) : 0;
        const unsolicitedEnd = m.initialR2T ? immediate : unsolicitedLimit;
        let r2tSN = 0;
        for (let at = unsolicitedEnd; at < q.length; ) {
          const size = Math.min(q.length - at, r.bool(0.5) ? m.maxBurstLength : r.range(1, m.maxBurstLength));
          const sn = r2tSN++;
          const offset = at;
          steps.push((n) => ({
            opcode: O.R2T, lun: lunOf(i), itt: itts[i]!, ttt: 0x10000 + i * 256 + sn, ...n.take(false), r2tSN: sn,
            bufferOffset: offset, desiredDataTransferLength: size,
          }));
          at += size;
        }
        const status = r.bool(0.85) ? 0 : 2;
        steps.push(scsiResponse(i, status, status === 2 ? senseSegment(5, 0x24, 0) : Buffer.alloc(0), 0));
        expected[i] = { resolve: 'scsi', status, data: '' };
        return;
      }
      if (q.kind === 'none') {
        const how = r.weighted<'good' | 'check' | 'busy' | 'reject'>([
          [5, 'good'],
          [2, 'check'],
          [1, 'busy'],
          [1, 'reject'],
        ]);
        if (how === 'reject') {
          // §11.17: the Reject carries the rejected PDU's header; its ITT names the command that fails.
          const header = Buffer.alloc(48);
          header[0] = O.ScsiCommand;
          header[1] = 0x81;
          header.writeUInt32BE(itts[i]!, 16);
          steps.push((n) => ({ opcode: O.Reject, reason: 0x04, ...n.take(true), dataSN: 0, data: header }));
          expected[i] = { reject: 'ISCSI_REJECT' };
          return;
        }
        const status = how === 'good' ? 0 : how === 'check' ? 2 : 8;
        steps.push(scsiResponse(i, status, status === 2 ? senseSegment(6, 0x29, 0) : Buffer.alloc(0), 0));
        expected[i] = { resolve: 'scsi', status, data: '' };
      }
    };

    m.requests.forEach((q, i) => {
      if (q.kind === 'read' || q.kind === 'write' || q.kind === 'none') commandSteps(i, q);
    });

    const tmfResponse = (i: number, response: number) => (n: Numbers): TargetPdu => ({ opcode: O.TaskMgmtResponse, response, itt: itts[i]!, ...n.take(true) });

    m.requests.forEach((q, i) => {
      if (q.kind === 'abort') {
        // §11.5.1 ABORT TASK: done (the command gets no answer), already gone (it was answered first), or refused
        // (the command fails here; what the target still sends for it is dropped).
        const j = q.of;
        const how = r.pick(['complete', 'gone', 'refused'] as const);
        decided.add(j);
        if (how === 'complete') {
          perRequest[j] = [];
          perRequest[i]!.push(tmfResponse(i, 0));
          expected[j] = { reject: 'ISCSI_TASK_ABORTED' };
          expected[i] = { resolve: 'tmf', response: 0 };
        } else if (how === 'gone') {
          // The command's own answer must precede the TMF response: move it into this request's sequence.
          perRequest[i] = [...perRequest[j]!, tmfResponse(i, 1)];
          perRequest[j] = [];
          expected[i] = { resolve: 'tmf', response: 1 };
        } else {
          perRequest[i] = [tmfResponse(i, 5), ...perRequest[j]!];
          perRequest[j] = [];
          expected[j] = { reject: 'ISCSI_TASK_ABORTED' };
          expected[i] = { resolve: 'tmf', response: 5 };
        }
      } else if (q.kind === 'lun-reset') {
        // §11.5.1 LOGICAL UNIT RESET: every command of that LUN still open when it completes is aborted.
        const covered = m.requests.map((c, j) => ({ c, j })).filter(({ c, j }) => (c.kind === 'read' || c.kind === 'write' || c.kind === 'none') && c.lun === q.lun && !decided.has(j) && j < i);
        const answeredFirst = covered.filter(() => r.bool(0.4));
        const seq: Array<(n: Numbers) => TargetPdu> = [];
        for (const { j } of answeredFirst) {
          seq.push(...perRequest[j]!);
          perRequest[j] = [];
          decided.add(j);
        }
        for (const { j } of covered) {
          if (answeredFirst.some((a) => a.j === j)) continue;
          perRequest[j] = [];
          decided.add(j);
          expected[j] = { reject: 'ISCSI_TASK_ABORTED' };
        }
        seq.push(tmfResponse(i, 0));
        perRequest[i] = seq;
        expected[i] = { resolve: 'tmf', response: 0 };
      } else if (q.kind === 'text') {
        const pairs: TextPair[] = [
          ['TargetName', 'iqn.2026-11.io.example:fuzz'],
          ['TargetAddress', '10.0.0.1:3260,1'],
        ];
        const text = core.encodeText(pairs);
        if (r.bool(0.3)) {
          // §11.11: a long answer spans responses (C=1, F=0, a TTT); the initiator asks on with empty requests.
          const cut = r.range(1, text.length - 1);
          perRequest[i]!.push(
            (n) => ({ opcode: O.TextResponse, final: false, continue: true, lun: 0n, itt: itts[i]!, ttt: 0x4000 + i, ...n.take(true), data: text.subarray(0, cut) }),
            (n) => ({ opcode: O.TextResponse, final: true, continue: false, lun: 0n, itt: itts[i]!, ttt: RESERVED, ...n.take(true), data: text.subarray(cut) }),
          );
        } else {
          perRequest[i]!.push((n) => ({ opcode: O.TextResponse, final: true, continue: false, lun: 0n, itt: itts[i]!, ttt: RESERVED, ...n.take(true), data: text }));
        }
        expected[i] = { resolve: 'text', pairs };
      }
    });

    // Interleave the requests' sequences (each in its own order) and a few unsolicited PDUs.
    const queues = perRequest.map((steps, owner) => steps.map((build) => ({ owner, build })));
    const extras: Array<{ owner: number; build: (n: Numbers) => TargetPdu }> = [];
    for (let k = r.weighted<number>([[5, 0], [3, 1], [2, 3]]); k > 0; k--) {
      const kind = r.pick(['nop-ping', 'nop-info', 'async-scsi', 'async-drop', 'async-renegotiate'] as const);
      extras.push({
        owner: -1,
        build: (n) => {
          switch (kind) {
            case 'nop-ping':
              return { opcode: O.NopIn, lun: 0n, itt: RESERVED, ttt: 0x2000 + k, ...n.take(false), data: Buffer.from('ping') };
            case 'nop-info':
              return { opcode: O.NopIn, lun: 0n, itt: RESERVED, ttt: RESERVED, ...n.take(false), data: Buffer.alloc(0) };
            case 'async-scsi':
              return { opcode: O.AsyncMessage, lun: core.encodeLun(1), ...n.take(true), asyncEvent: 0, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: 0, data: senseSegment(6, 0x3f, 0x0e) };
            case 'async-drop':
              return { opcode: O.AsyncMessage, lun: 0n, ...n.take(true), asyncEvent: 2, asyncVCode: 0, parameter1: 0, parameter2: 2, parameter3: 20, data: Buffer.alloc(0) };
            case 'async-renegotiate':
              return { opcode: O.AsyncMessage, lun: 0n, ...n.take(true), asyncEvent: 4, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: 0, data: Buffer.alloc(0) };
          }
        },
      });
    }
    const steps: Plan['steps'] = [];
    const heads = queues.map(() => 0);
    let remaining = queues.reduce((s, q) => s + q.length, 0) + extras.length;
    while (remaining > 0) {
      const ready = queues.map((q, i) => (heads[i]! < q.length ? i : -1)).filter((i) => i >= 0);
      if (extras.length > 0 && (ready.length === 0 || r.bool(0.2))) {
        steps.push(extras.pop()!);
      } else {
        const i = r.pick(ready);
        steps.push(queues[i]![heads[i]!++]!);
      }
      remaining--;
    }
    return { steps, expected };
  }

  // ---- mutation ---------------------------------------------------------------------------------------------------

  function mutatePdu(r: Rng, pdu: TargetPdu, itts: readonly number[]): TargetPdu {
    const fields = Object.keys(pdu).filter((k) => k !== 'opcode');
    const field = r.pick(fields);
    const old = (pdu as unknown as Record<string, unknown>)[field];
    let value: unknown;
    if (typeof old === 'boolean') value = !old;
    else if (typeof old === 'bigint') value = r.pick([0n, 1n, core.encodeLun(1), core.encodeLun(0x3fff), 0xffffffffffffffffn, 0x0002000000000000n]);
    else if (Buffer.isBuffer(old)) {
      value = r.pick([
        () => Buffer.alloc(0),
        () => old.subarray(0, r.int(old.length + 1)),
        () => Buffer.concat([old, r.bytes(r.range(1, 64))]),
        () => r.bytes(r.pick([1, 2, 3, 19, 20, 48, 300])),
        () => {
          const b = Buffer.from(old);
          if (b.length >= 2) b.writeUInt16BE(r.pick([0, 1, 17, 19, 0xffff, b.length]), 0); // SenseLength (§11.4.7.2)
          return b;
        },
      ])();
    } else if (typeof old === 'number') {
      const width = ['status', 'response', 'reason', 'asyncEvent', 'asyncVCode', 'statusClass', 'statusDetail'].includes(field)
        ? 0xff
        : ['parameter1', 'parameter2', 'parameter3', 'time2Wait', 'time2Retain', 'tsih'].includes(field)
          ? 0xffff
          : 0xffffffff;
      const candidates = [0, 1, width, old + 1, old - 1, r.interestingU32(), ...(field === 'itt' || field === 'ttt' ? [...itts, RESERVED, PROBE_TTT] : [])];
      value = (r.pick(candidates) >>> 0) % (width === 0xffffffff ? 0x100000000 : width + 1);
      if (field === 'asyncEvent') value = r.pick([0, 1, 2, 3, 4, 5, 248, 255]);
    } else {
      value = old;
    }
    const out = { ...pdu, [field]: value } as TargetPdu;
    // Keep it encodable and decodable: F and C never both set on a Text Response (§11.11.2).
    if (out.opcode === O.TextResponse && out.final && out.continue) return { ...out, continue: false };
    return out;
  }

  function generate(r: Rng): FuzzCase {
    const initiatorMrdsl = r.pick([512, 4096, 8192, 65536]);
    const maxBurstLength = r.pick([512, 4096, 65536]);
    const meta: SessionMeta = {
      headerDigest: r.bool(0.3),
      dataDigest: r.bool(0.3),
      initialR2T: r.bool(),
      immediateData: r.bool(),
      initiatorMrdsl,
      targetMrdsl: r.pick([512, 8192, 262144]),
      maxBurstLength,
      firstBurstLength: Math.min(maxBurstLength, r.pick([512, 4096, 65536])),
      cmdSN: r.interestingU32(),
      statSN: r.interestingU32(),
      window: r.pick([16, 64, 128]),
      requests: [],
      writeSeed: r.int(256),
      cuts: [],
      mutation: 'none',
      expected: null,
      probe: { statSN: 0, expCmdSN: 0, maxCmdSN: 0 },
      logout: 'plain',
      logoutSeed: r.u32(),
    };
    const commands = r.range(1, 5);
    for (let i = 0; i < commands; i++) {
      const lun = r.int(2);
      meta.requests.push(
        r.weighted<Request>([
          [4, { kind: 'read', lun, length: r.pick([0, 1, 512, 4096, r.range(1, 20_000)]) }],
          [3, { kind: 'write', lun, length: r.pick([1, 512, 4096, r.range(1, 20_000)]) }],
          [3, { kind: 'none', lun }],
        ]),
      );
    }
    if (r.bool(0.3)) meta.requests.push({ kind: 'abort', of: r.int(commands) });
    else if (r.bool(0.15)) meta.requests.push({ kind: 'lun-reset', lun: r.int(2) });
    if (r.bool(0.25)) meta.requests.push({ kind: 'text' });

    const p = plan(r, meta);
    const commandCount = meta.requests.filter((q) => q.kind === 'read' || q.kind === 'write' || q.kind === 'none').length;
    // The full feature phase starts at the StatSN after the target's two login responses (security, operational) and
    // at the ExpCmdSN after the burst's commands (TMF and Text Requests are immediate: no CmdSN of their own, §3.2.2.1).
    const numbers = new Numbers((meta.statSN + 2) >>> 0, (meta.cmdSN + commandCount) >>> 0, meta.window);
    const pdus: TargetPdu[] = p.steps.map((s) => s.build(numbers));
    meta.probe = numbers.take(false);
    const itts = ittsOf(meta.requests);
    const digests = { headerDigest: meta.headerDigest, dataDigest: meta.dataDigest };

    const mutation = r.weighted<string>([
      [2, 'none'],
      [10, 'field'],
      [3, 'data'],
      [2, 'drop'],
      [2, 'duplicate'],
      [2, 'swap'],
      [3, 'insert'],
      [3, 'bytes'],
      [1, 'two-fields'],
    ]);
    meta.mutation = mutation;
    const at = pdus.length === 0 ? 0 : r.int(pdus.length);
    switch (mutation) {
      case 'field':
      case 'data':
        if (pdus.length > 0) {
          let pdu = pdus[at]!;
          if (mutation === 'data' && 'data' in pdu) pdu = { ...pdu, data: r.bytes(r.int(pdu.data.length + 40)) } as TargetPdu;
          else pdu = mutatePdu(r, pdu, itts);
          pdus[at] = pdu;
        }
        break;
      case 'two-fields':
        for (let k = 0; k < 2 && pdus.length > 0; k++) {
          const i = r.int(pdus.length);
          pdus[i] = mutatePdu(r, pdus[i]!, itts);
        }
        break;
      case 'drop':
        pdus.splice(at, 1);
        break;
      case 'duplicate':
        if (pdus.length > 0) pdus.splice(r.int(pdus.length + 1), 0, pdus[at]!);
        break;
      case 'swap':
        if (pdus.length > 1) {
          const j = r.int(pdus.length);
          [pdus[at], pdus[j]] = [pdus[j]!, pdus[at]!];
        }
        break;
      case 'insert': {
        const extra = randomPdu(core, r, r.pick(TARGET_OPCODES), Math.min(600, meta.initiatorMrdsl)) as TargetPdu;
        const tagged = 'itt' in extra && r.bool(0.7) ? ({ ...extra, itt: r.pick(itts) } as TargetPdu) : extra;
        pdus.splice(r.int(pdus.length + 1), 0, tagged);
        break;
      }
      default:
        break;
    }
    let bytes: Buffer = Buffer.concat(pdus.map((pdu) => core.encodePduToBuffer(pdu, digests)));
    if (mutation === 'bytes') {
      bytes = mutateStream(r, bytes, { ...digests, mrdsl: meta.initiatorMrdsl }).bytes;
      if (r.bool(0.7)) bytes = fixDigests(core, bytes, meta.headerDigest, meta.dataDigest);
    }
    if (mutation === 'none') meta.expected = p.expected;
    else meta.logout = r.weighted<SessionMeta['logout']>([[8, 'plain'], [2, 'field'], [1, 'bytes']]);
    meta.cuts = randomCuts(r, bytes.length, walk(bytes, meta.headerDigest, meta.dataDigest)).slice(0, 16);
    return { target: 'session', meta: meta as unknown as Record<string, unknown>, payload: bytes };
  }

  // ---- the loopback target ---------------------------------------------------------------------------------------

  interface CaseRun {
    readonly meta: SessionMeta;
    readonly payload: Buffer;
    /** Resolves when the initiator has dispatched everything (probe echoed) or the connection is gone. */
    readonly quiet: Promise<'echo' | 'closed'>;
    settleQuiet(how: 'echo' | 'closed'): void;
    socket: net.Socket | undefined;
    errors: unknown[];
  }

  let server: net.Server | undefined;
  let port = 0;
  let current: CaseRun | undefined;

  async function ensureServer(): Promise<number> {
    if (server !== undefined) return port;
    const s = net.createServer((socket) => serve(socket));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve());
    });
    s.unref();
    server = s;
    port = (s.address() as net.AddressInfo).port;
    return port;
  }

  function serve(socket: net.Socket): void {
    const run = current;
    if (run === undefined) {
      socket.destroy();
      return;
    }
    run.socket = socket;
    const m = run.meta;
    socket.setNoDelay(true);
    const framer = new core.PduFramer({ accept: 'initiator', maxRecvDataSegmentLength: m.targetMrdsl });
    let digests = core.NO_DIGESTS;
    let statSN = m.statSN;
    let burst = m.requests.length;
    let sentPayload = false;
    const send = (pdu: TargetPdu) => {
      if (!socket.destroyed) socket.write(core.encodePduToBuffer(pdu, digests));
    };
    socket.on('error', () => {});
    socket.on('close', () => run.settleQuiet('closed'));
    socket.on('data', (chunkIn: Buffer) => {
      let pdus: Pdu[];
      try {
        pdus = framer.push(chunkIn);
      } catch (e) {
        run.errors.push(e);
        socket.destroy();
        return;
      }
      for (const pdu of pdus as InitiatorPdu[]) {
        try {
          if (pdu.opcode === O.LoginRequest) {
            const final = login(pdu, send, statSN, m);
            statSN = (statSN + 1) >>> 0;
            if (final) {
              digests = { headerDigest: m.headerDigest, dataDigest: m.dataDigest };
              framer.configure({ ...digests });
            }
          } else if (pdu.opcode === O.LogoutRequest) {
            answerLogout(run, socket, pdu, digests);
          } else if (pdu.opcode === O.NopOut && pdu.ttt === PROBE_TTT) {
            run.settleQuiet('echo');
          } else if (!sentPayload && (pdu.opcode === O.ScsiCommand || pdu.opcode === O.TaskMgmtRequest || pdu.opcode === O.TextRequest)) {
            if (--burst === 0) {
              sentPayload = true;
              sendPayload(run, socket, digests);
            }
          }
          // Everything else (Data-Out, NOP-Out answers, continuation Text Requests) needs no answer here.
        } catch (e) {
          run.errors.push(e);
          socket.destroy();
          return;
        }
      }
    });
  }

  /** The built-in login: AuthMethod=None, then each offered key answered with the value this case negotiates. */
  function login(req: LoginRequest, send: (pdu: TargetPdu) => void, statSN: number, m: SessionMeta): boolean {
    const pairs: TextPair[] = [];
    if (req.csg === 0) {
      pairs.push(['AuthMethod', 'None']);
    } else {
      for (const [key, value] of core.decodeText(req.data)) {
        if (key === 'MaxRecvDataSegmentLength') continue; // the initiator's declaration (§13.12), not answered
        pairs.push([key, value.split(',')[0]!]);
      }
      pairs.push(['MaxRecvDataSegmentLength', String(m.targetMrdsl)]);
    }
    const final = req.transit && req.nsg === 3;
    send({
      opcode: O.LoginResponse, transit: req.transit, continue: false, csg: req.csg, nsg: req.transit ? req.nsg : 0, versionMax: 0, versionActive: 0,
      isid: req.isid, tsih: final ? TSIH : 0, itt: req.itt, statSN, expCmdSN: req.cmdSN, maxCmdSN: (req.cmdSN + m.window - 1) >>> 0,
      statusClass: 0, statusDetail: 0, data: core.encodeText(pairs),
    });
    return final;
  }

  /** §11.15: the Logout Response, mutated as the case says, then the end of the connection. */
  function answerLogout(run: CaseRun, socket: net.Socket, req: LogoutRequest, digests: { headerDigest: boolean; dataDigest: boolean }): void {
    const m = run.meta;
    const r = new Rng(m.logoutSeed ?? 0);
    let response: TargetPdu = {
      opcode: O.LogoutResponse, response: 0, itt: req.itt, statSN: m.probe.statSN, expCmdSN: m.probe.expCmdSN, maxCmdSN: m.probe.maxCmdSN,
      time2Wait: 0, time2Retain: 0,
    };
    if (m.logout === 'field') response = mutatePdu(r, response, ittsOf(m.requests));
    let bytes = core.encodePduToBuffer(response, digests);
    if (m.logout === 'bytes') bytes = fixDigests(core, mutateStream(r, bytes, { ...digests, mrdsl: m.initiatorMrdsl }).bytes, digests.headerDigest, digests.dataDigest);
    // §11.15: having answered, the target closes the connection (so an answer the initiator ignores cannot stall it).
    if (!socket.destroyed) socket.end(bytes);
  }

  /** How the initiator's framer ends on `bytes`: all framed, waiting for more, or failed. */
  function framingOf(bytes: Buffer, digests: { headerDigest: boolean; dataDigest: boolean }, mrdsl: number): 'clean' | 'pending' | 'error' {
    const sim = new core.PduFramer({ accept: 'target', ...digests, maxRecvDataSegmentLength: mrdsl });
    try {
      sim.push(bytes);
      for (let more = sim.push(Buffer.alloc(0)); more.length > 0; more = sim.push(Buffer.alloc(0))) {
        // drain past login pauses
      }
      return sim.bufferedBytes > 0 ? 'pending' : 'clean';
    } catch {
      return 'error';
    }
  }

  /**
   * Sends the stored bytes in their chunks, then the probe — unless the bytes leave the initiator waiting for the
   * rest of a PDU (then we end the connection) or make it fail (it will close by itself). The initiator's framer is
   * simulated here to know which.
   */
  function sendPayload(run: CaseRun, socket: net.Socket, digests: { headerDigest: boolean; dataDigest: boolean }): void {
    for (const piece of chunk(run.payload, run.meta.cuts)) if (piece.length > 0) socket.write(piece);
    const framing = framingOf(run.payload, digests, run.meta.initiatorMrdsl);
    if (framing === 'pending') {
      // The initiator waits for the rest of a PDU that will never come: end the connection (its close is the signal).
      socket.end();
    } else if (framing === 'clean') {
      // §11.19: a NOP-In with a TTT asks for a NOP-Out echo; it carries StatSN without advancing it.
      const probe: TargetPdu = { opcode: core.Opcode.NopIn, lun: 0n, itt: RESERVED, ttt: PROBE_TTT, ...run.meta.probe, data: Buffer.alloc(0) };
      socket.write(core.encodePduToBuffer(probe, digests));
    }
  }

  // ---- running a case --------------------------------------------------------------------------------------------

  type Settled = { state: 'pending' } | { state: 'resolved'; value: unknown } | { state: 'rejected'; error: unknown };

  async function run(c: FuzzCase): Promise<string> {
    const m = c.meta as unknown as SessionMeta;
    const p = await ensureServer();
    let settleQuiet!: (how: 'echo' | 'closed') => void;
    const quiet = new Promise<'echo' | 'closed'>((resolve) => (settleQuiet = resolve));
    const caseRun: CaseRun = { meta: m, payload: c.payload, quiet, settleQuiet, socket: undefined, errors: [] };
    current = caseRun;

    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    const onUncaught = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUncaught);
    let session: IscsiSession | undefined;
    let deadline: NodeJS.Timeout | undefined;
    try {
      try {
        session = await core.IscsiSession.open({
          portal: { host: '127.0.0.1', port: p },
          initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:fuzz-session',
          targetName: 'iqn.2026-11.io.example:fuzz',
          loginTimeoutMs: 2000,
          connectTimeoutMs: 2000,
          logoutTimeoutMs: 1500,
          reconnect: false,
          noopOutIntervalMs: 0,
          commandTimeoutMs: 0,
          initialCmdSN: m.cmdSN,
          proposal: {
            headerDigest: [m.headerDigest ? 'CRC32C' : 'None'],
            dataDigest: [m.dataDigest ? 'CRC32C' : 'None'],
            maxRecvDataSegmentLength: m.initiatorMrdsl,
            initialR2T: m.initialR2T,
            immediateData: m.immediateData,
            maxBurstLength: m.maxBurstLength,
            firstBurstLength: m.firstBurstLength,
          },
        });
      } catch (e) {
        throw new Finding(`harness: a conforming login failed: ${String(e)}`, { cause: e });
      }
      const s = session;
      let closeError: unknown;
      let closed = false;
      s.on((event) => {
        if (event.type === 'closed') {
          closed = true;
          closeError = event.error;
        }
      });

      // The burst: every request's promise is observed at once, so none can be an unhandled rejection of ours.
      const itts = ittsOf(m.requests);
      const results: Settled[] = m.requests.map(() => ({ state: 'pending' }));
      const watch = (i: number, promise: Promise<unknown>) => {
        promise.then(
          (value) => (results[i] = { state: 'resolved', value }),
          (error: unknown) => (results[i] = { state: 'rejected', error }),
        );
      };
      m.requests.forEach((q, i) => {
        switch (q.kind) {
          case 'read':
            watch(i, s.execute({ lun: q.lun, cdb: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]), readLength: q.length }));
            break;
          case 'write':
            watch(i, s.execute({ lun: q.lun, cdb: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]), writeData: writeData(m.writeSeed, i, q.length) }));
            break;
          case 'none':
            watch(i, s.execute({ lun: q.lun, cdb: Buffer.alloc(6) }));
            break;
          case 'abort':
            watch(i, s.abortTask(itts[q.of]!));
            break;
          case 'lun-reset':
            watch(i, s.lunReset(q.lun));
            break;
          case 'text':
            watch(i, s.textRequest([['SendTargets', 'All']]));
            break;
        }
      });

      const timedOut = new Promise<'timeout'>((resolve) => {
        deadline = setTimeout(() => resolve('timeout'), CASE_DEADLINE_MS);
      });
      const how = await Promise.race([quiet, timedOut]);
      if (how === 'timeout') throw new Finding(`no quiescence within ${CASE_DEADLINE_MS} ms (the probe was never answered and the connection stayed open)`);

      // Close: log out if the stream left the session open (the target answers the Logout Request, maybe mutated).
      let logout = { state: 'pending' } as Settled;
      if (!s.isClosed) {
        await s.logout().then(
          (value) => (logout = { state: 'resolved', value }),
          (error: unknown) => (logout = { state: 'rejected', error }),
        );
      }
      const race = await Promise.race([waitClosed(s), timedOut]);
      if (race === 'timeout') throw new Finding(`the session did not close within ${CASE_DEADLINE_MS} ms`);
      await new Promise((resolve) => setImmediate(resolve));

      // ---- oracles ----
      if (!closed) throw new Finding('the session ended without a closed event');
      if (closeError !== undefined) checkTypedError('the error the session closed with', closeError);
      results.forEach((res, i) => {
        if (res.state === 'pending') throw new Finding(`request ${i} (${m.requests[i]!.kind}) never settled after the session closed`);
        if (res.state === 'rejected') checkTypedError(`request ${i} (${m.requests[i]!.kind}) rejection`, res.error);
      });
      if (logout.state === 'rejected') checkTypedError('logout rejection', logout.error);
      if (caseRun.errors.length > 0) {
        const e = caseRun.errors[0] as { code?: string; message?: string };
        // The initiator echoed a target ping's data past the target's MaxRecvDataSegmentLength (§13.12).
        const echo = e.code === 'ISCSI_PDU_SEGMENT_TOO_LONG' && /^NOP-Out/.test(e.message ?? '');
        throw new Finding(`the target could not frame what the initiator sent: ${String(e)}`, echo ? { known: 'nop-out-echo-over-mrdsl' } : {});
      }
      if (unhandled.length > 0) throw new Finding(`unhandled rejection or uncaught exception: ${String(unhandled[0])}`);
      if (m.expected !== null) checkExpected(m, results, closeError, logout);

      const closeCode = closeError instanceof core.IscsiError ? closeError.code : 'logout';
      const logoutMode = m.logout ?? 'plain';
      return `${m.mutation}${logoutMode === 'plain' ? '' : `+logout-${logoutMode}`}:${closeCode}`;
    } finally {
      clearTimeout(deadline);
      session?.destroy();
      caseRun.socket?.destroy();
      current = undefined;
      // Late events of this case are still this case's: give them a turn before the listeners go.
      await new Promise((resolve) => setImmediate(resolve));
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUncaught);
    }
  }

  function waitClosed(s: IscsiSession): Promise<'closed'> {
    if (s.isClosed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const off = s.on((e) => {
        if (e.type === 'closed') {
          off();
          resolve('closed');
        }
      });
    });
  }

  /**
   * Typed, and not a wrapper around an untyped throw: connection.ts turns a non-IscsiError thrown while framing or
   * handling a PDU into a ProtocolError with that error as its cause (and login.ts into a LoginError), so such a
   * cause is a crash in a handler. (A NegotiationError caused by the UTF-8 decoder, or a TransportError caused by a
   * socket error, is the designed shape, not a crash.)
   */
  function checkTypedError(what: string, e: unknown): void {
    if (!(e instanceof core.IscsiError)) throw new Finding(`${what} is not an IscsiError: ${String(e)}`, { cause: e });
    const cause = (e as { cause?: unknown }).cause;
    const wrapper = e instanceof core.ProtocolError || e instanceof core.LoginError;
    if (wrapper && cause instanceof Error && !(cause instanceof core.IscsiError)) {
      throw new Finding(`${what} wraps an untyped ${cause.name}: ${cause.message}`, { cause });
    }
  }

  function checkExpected(m: SessionMeta, results: Settled[], closeError: unknown, logout: Settled): void {
    if (closeError !== undefined) throw new Finding(`a conforming stream closed the session with ${String(closeError)}`);
    if (logout.state !== 'resolved') throw new Finding('a conforming session did not log out cleanly');
    m.expected!.forEach((want, i) => {
      const got = results[i]!;
      const label = `request ${i} (${m.requests[i]!.kind})`;
      if ('reject' in want) {
        if (got.state !== 'rejected' || (got.error as { code?: string }).code !== want.reject) {
          throw new Finding(`${label}: expected rejection ${want.reject}, got ${got.state === 'rejected' ? String(got.error) : got.state}`);
        }
        return;
      }
      if (got.state !== 'resolved') throw new Finding(`${label}: expected to resolve, got ${got.state === 'rejected' ? String(got.error) : got.state}`);
      const value = got.value as { status?: number; data?: Buffer };
      if (want.resolve === 'scsi') {
        if (value.status !== want.status || (value.data ?? Buffer.alloc(0)).toString('hex') !== want.data) {
          throw new Finding(`${label}: expected status ${want.status} with ${want.data.length / 2} bytes, got status ${String(value.status)} with ${value.data?.length ?? 0}`);
        }
      } else if (want.resolve === 'tmf') {
        if (got.value !== want.response) throw new Finding(`${label}: expected TMF response ${want.response}, got ${String(got.value)}`);
      } else if (JSON.stringify(got.value) !== JSON.stringify(want.pairs)) {
        throw new Finding(`${label}: expected text ${JSON.stringify(want.pairs)}, got ${JSON.stringify(got.value)}`);
      }
    });
  }

  async function close(): Promise<void> {
    const s = server;
    server = undefined;
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  return { name: 'session', generate, run, close };
}
