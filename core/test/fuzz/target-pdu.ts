/**
 * Targets 1 and 2: the PduFramer fed mutated valid PDU streams and random bytes in random chunkings, and decodePdu
 * on mutated BHS + AHS + data (RFC 7143 §11). Oracles, beyond "only ProtocolError escapes":
 * - chunking does not matter: one whole push and the same bytes cut anywhere — with direct Data-In placement and the
 *   connection's read-into-the-slot path — give the same PDUs and end in the same state;
 * - an unmutated stream comes out whole, and re-encodes to exactly the bytes that went in;
 * - a failed framer stays failed with the same error; buffered bytes never exceed what was fed;
 * - every PDU decoded is one encodePdu accepts, and decodes again to itself (decoding is canonical).
 */

import type { FramerOptions, Pdu } from '../../src/index.js';
import { Finding, checkTyped, pduKey, type Core, type FuzzCase, type FuzzTarget } from './engine.js';
import { chunk, fixDigests, mutateStream, randomCuts, walk } from './mutate.js';
import { ALL_OPCODES, INITIATOR_OPCODES, TARGET_OPCODES, loadCorpus, randomPdu } from './pdus.js';
import { Rng } from './prng.js';

type Accept = FramerOptions['accept'];
type Feed = 'push' | 'place' | 'direct';

interface FramerMeta {
  accept: Accept;
  headerDigest: boolean;
  dataDigest: boolean;
  mrdsl: number;
  cuts: number[];
  feed: Feed;
  placeSeed: number;
  /** Whole PDUs expected when the stream was left valid; -1 after a mutation. */
  pdus: number;
}

interface FeedResult {
  keys: string[];
  pdus: Pdu[];
  error: unknown;
  buffered: number;
  fed: number;
}

/** A final Login Response (T=1, NSG=3, Status 0): the framer pauses after it (framer.ts, "Login boundary"). */
function finalLoginResponse(core: Core, r: Rng): Pdu {
  return {
    opcode: core.Opcode.LoginResponse, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionActive: 0,
    isid: 1n, tsih: r.range(1, 0xffff), itt: 0, statSN: r.u32(), expCmdSN: 1, maxCmdSN: 16, statusClass: 0, statusDetail: 0,
    data: Buffer.from('HeaderDigest=None\0', 'latin1'),
  };
}

export function framerTarget(core: Core): FuzzTarget {
  const corpus = loadCorpus(core);

  function opcodesFor(accept: Accept): readonly number[] {
    return accept === 'target' ? TARGET_OPCODES : accept === 'initiator' ? INITIATOR_OPCODES : ALL_OPCODES;
  }

  function validStream(r: Rng, accept: Accept, digests: { headerDigest: boolean; dataDigest: boolean }, mrdsl: number): { bytes: Buffer; count: number } {
    const parts: Buffer[] = [];
    const n = r.range(1, 6);
    // Mostly short data; sometimes a payload large enough to span many chunks (direct Data-In placement).
    const maxData = r.bool(0.06) ? Math.min(mrdsl, 70_000) : Math.min(mrdsl, 600);
    for (let i = 0; i < n; i++) {
      const pdu = accept !== 'initiator' && r.bool(0.08) ? finalLoginResponse(core, r) : randomPdu(core, r, r.pick(opcodesFor(accept)), maxData);
      parts.push(core.encodePduToBuffer(pdu, digests));
    }
    return { bytes: Buffer.concat(parts), count: n };
  }

  function generate(r: Rng): FuzzCase {
    const accept = r.weighted<Accept>([
      [5, 'target'],
      [4, 'initiator'],
      [1, 'any'],
    ]);
    let headerDigest = r.bool(0.35);
    let dataDigest = r.bool(0.35);
    const mrdsl = r.bool(0.6) ? r.pick([512, 1024, 4096, 8192, r.range(512, 8192)]) : r.pick([65536, 262144, 0xffffff, r.range(8193, 0xffffff)]);
    let bytes: Buffer;
    let pdus = -1;
    const source = r.weighted<'generated' | 'corpus' | 'random'>([
      [14, 'generated'],
      [3, 'corpus'],
      [2, 'random'],
    ]);
    if (source === 'random') {
      bytes = r.bytes(r.int(r.bool(0.8) ? 300 : 3000));
      if (bytes.length >= 48 && r.bool(0.7)) {
        // A plausible BHS first: a known opcode and small lengths, so random bytes get past the first checks.
        bytes[0] = r.pick(ALL_OPCODES);
        bytes[4] = r.int(3);
        bytes.writeUIntBE(r.int(400), 5, 3);
      }
    } else {
      if (source === 'corpus') {
        const entry = r.pick(corpus);
        headerDigest = entry.digests.headerDigest;
        dataDigest = entry.digests.dataDigest;
        bytes = entry.bytes;
      } else {
        // Mostly PDUs encoded for this framer's digests; sometimes for the other setting (a digest mismatch).
        const encodeWith = r.bool(0.9) ? { headerDigest, dataDigest } : { headerDigest: !headerDigest, dataDigest: r.bool() };
        const valid = validStream(r, accept, encodeWith, mrdsl);
        bytes = valid.bytes;
        if (encodeWith.headerDigest === headerDigest && encodeWith.dataDigest === dataDigest) pdus = valid.count;
      }
      const mutations = source === 'corpus' ? r.range(0, 3) : r.weighted<number>([
        [3, 0],
        [5, 1],
        [2, 2],
        [1, 3],
      ]);
      const ctx = { headerDigest, dataDigest, mrdsl, other: validStream(r, accept, { headerDigest, dataDigest }, mrdsl).bytes };
      for (let i = 0; i < mutations; i++) {
        bytes = mutateStream(r, bytes, ctx).bytes;
        pdus = -1;
      }
      // Recompute digests after a mutation, most of the time, so it is judged on its fields, not on its CRC.
      if (mutations > 0 && r.bool(0.7)) bytes = fixDigests(core, bytes, headerDigest, dataDigest);
    }
    const meta: FramerMeta = {
      accept: source === 'corpus' && r.bool(0.5) ? 'any' : accept,
      headerDigest,
      dataDigest,
      mrdsl,
      cuts: randomCuts(r, bytes.length, walk(bytes, headerDigest, dataDigest)),
      feed: r.pick(['push', 'place', 'direct'] as const),
      placeSeed: r.u32(),
      pdus,
    };
    // A valid count holds only when the framer accepts what was generated (and everything fits MRDSL).
    if (meta.accept !== accept) meta.pdus = -1;
    return { target: 'framer', meta: meta as unknown as Record<string, unknown>, payload: bytes };
  }

  /** Feeds chunks the way `feed` says; never throws (the error is returned), except a Finding for untyped errors. */
  function feed(options: Partial<FramerOptions>, chunks: readonly Buffer[], mode: Feed, placeSeed: number): FeedResult {
    const placeRng = new Rng(placeSeed);
    const placeData =
      mode === 'push'
        ? undefined
        : (_itt: number, _offset: number, length: number): Buffer | undefined =>
            placeRng.weighted<() => Buffer | undefined>([
              [7, () => Buffer.alloc(length)],
              [1, () => Buffer.alloc(length + 1)],
              [1, () => (length > 0 ? Buffer.alloc(length - 1) : undefined)],
              [2, () => undefined],
            ])();
    const framer = new core.PduFramer({ ...options, placeData });
    const out: FeedResult = { keys: [], pdus: [], error: undefined, buffered: 0, fed: 0 };
    const take = (pdus: Pdu[]) => {
      for (const p of pdus) {
        out.pdus.push(p);
        out.keys.push(pduKey(p));
      }
    };
    try {
      for (const c of chunks) {
        out.fed += c.length;
        if (mode !== 'direct') {
          take(framer.push(c));
          continue;
        }
        // The connection's read loop: a read lands in the payload slot when the framer offers one, else only the
        // next header's bytes after a placed payload, else the whole chunk.
        let rest = c;
        while (rest.length > 0) {
          const slot = framer.directSlot(1 + placeRng.int(64));
          if (slot !== undefined) {
            const n = Math.min(slot.length, rest.length);
            rest.copy(slot, 0, 0, n);
            take(framer.advanceDirect(n));
            rest = rest.subarray(n);
            continue;
          }
          const header = framer.headerReadLength();
          const n = header === undefined ? rest.length : Math.min(header, rest.length);
          take(framer.push(rest.subarray(0, n)));
          rest = rest.subarray(n);
        }
      }
      // Step past login pauses: an empty push continues after a final Login Response.
      for (let i = 0; ; i++) {
        const more = framer.push(Buffer.alloc(0));
        if (more.length === 0) break;
        take(more);
        if (i > 100_000) throw new Finding('empty pushes keep producing PDUs');
      }
    } catch (e) {
      checkTyped(core, 'PduFramer', e, core.ProtocolError);
      out.error = e;
      // §11: the stream cannot be resynchronised; a failed framer keeps failing with the same error.
      try {
        framer.push(Buffer.alloc(1));
        throw new Finding('a failed PduFramer accepted more bytes');
      } catch (again) {
        if (again instanceof Finding) throw again;
        if (again !== e) throw new Finding(`a failed PduFramer threw a different error: ${String(again)}`);
      }
      return out;
    }
    out.buffered = framer.bufferedBytes;
    if (out.buffered > out.fed) throw new Finding(`bufferedBytes ${out.buffered} exceeds the ${out.fed} bytes fed`);
    return out;
  }

  function state(f: FeedResult): string {
    return f.error === undefined ? `pending ${f.buffered}` : `error ${(f.error as { code: string }).code}`;
  }

  function run(c: FuzzCase): string {
    const m = c.meta as unknown as FramerMeta;
    const options: Partial<FramerOptions> = {
      accept: m.accept,
      headerDigest: m.headerDigest,
      dataDigest: m.dataDigest,
      maxRecvDataSegmentLength: m.mrdsl,
    };
    const whole = feed(options, [c.payload], 'push', m.placeSeed);
    const cut = feed(options, chunk(c.payload, m.cuts), m.feed, m.placeSeed);
    // A push that throws returns none of the PDUs it completed before the bad one, so after an error each side has
    // delivered a prefix of the same sequence; without an error both must have delivered all of it.
    const shorter = Math.min(whole.keys.length, cut.keys.length);
    const differ = whole.keys.findIndex((k, i) => i < shorter && k !== cut.keys[i]);
    const lengthsMustMatch = whole.error === undefined && cut.error === undefined;
    if (differ >= 0 || (lengthsMustMatch && whole.keys.length !== cut.keys.length)) {
      throw new Finding(`chunking changed the PDUs: ${whole.keys.length} whole vs ${cut.keys.length} cut (${m.feed}), first difference at #${differ}`);
    }
    // The same error, or the same number of bytes still buffered (a payload being placed directly included).
    if (state(whole) !== state(cut)) throw new Finding(`chunking changed the end state: ${state(whole)} whole vs ${state(cut)} cut (${m.feed})`);
    const digests = { headerDigest: m.headerDigest, dataDigest: m.dataDigest };
    for (const pdu of whole.pdus) {
      try {
        core.encodePduToBuffer(pdu, digests);
      } catch (e) {
        throw new Finding(`a decoded ${core.describeOpcode(pdu.opcode)} cannot be encoded again: ${String(e)}`, { cause: e });
      }
    }
    if (m.pdus >= 0) {
      // An unmutated stream: every PDU out, nothing left, and the same bytes when encoded again (§11 layouts).
      if (whole.error !== undefined) throw new Finding(`a valid stream failed: ${String(whole.error)}`);
      if (whole.pdus.length !== m.pdus || whole.buffered !== 0) throw new Finding(`a valid stream of ${m.pdus} PDUs gave ${whole.pdus.length}, ${whole.buffered} bytes left`);
      const again = Buffer.concat(whole.pdus.map((p) => core.encodePduToBuffer(p, digests)));
      if (!again.equals(c.payload)) throw new Finding('valid PDUs did not re-encode to the bytes they came from');
    }
    return whole.error === undefined ? (whole.buffered > 0 ? 'pending' : 'pdus') : (whole.error as { code: string }).code;
  }

  return { name: 'framer', generate, run };
}

interface DecodeMeta {
  bhs: number;
  ahs: number;
  data: number;
}

export function decodeTarget(core: Core): FuzzTarget {
  const corpus = loadCorpus(core);

  function generate(r: Rng): FuzzCase {
    let wire: Buffer;
    if (r.bool(0.15)) {
      const entry = r.pick(corpus);
      wire = Buffer.from(entry.bytes);
      if (entry.digests.headerDigest && wire.length >= 52) {
        // Drop the header digest: decodePdu takes BHS, AHS and data only.
        const ahsEnd = 48 + wire[4]! * 4;
        wire = Buffer.concat([wire.subarray(0, ahsEnd), wire.subarray(ahsEnd + 4)]);
      }
    } else {
      wire = core.encodePduToBuffer(randomPdu(core, r, r.pick(ALL_OPCODES), 300), core.NO_DIGESTS);
    }
    let bhs: Buffer = Buffer.from(wire.subarray(0, 48));
    const ahsLength = bhs.length === 48 ? bhs[4]! * 4 : 0;
    let ahs: Buffer = Buffer.from(wire.subarray(48, 48 + ahsLength));
    let data: Buffer = Buffer.from(wire.subarray(48 + ahsLength, 48 + ahsLength + (bhs.length === 48 ? bhs.readUIntBE(5, 3) : 0)));
    const mutations = r.weighted<number>([
      [1, 0],
      [5, 1],
      [3, 2],
      [1, 4],
    ]);
    for (let i = 0; i < mutations; i++) {
      switch (r.pick(['flip', 'flip', 'word', 'opcode', 'flags', 'ahs-length', 'ahs-body', 'data-length', 'bhs-length', 'random-bhs'] as const)) {
        case 'flip': {
          const at = r.int(bhs.length || 1);
          if (at < bhs.length) bhs[at] = bhs[at]! ^ (1 << r.int(8));
          break;
        }
        case 'word': {
          const at = 4 * r.range(0, 11);
          if (at + 4 <= bhs.length) bhs.writeUInt32BE(r.interestingU32(), at);
          break;
        }
        case 'opcode':
          if (bhs.length > 0) bhs[0] = (r.bool(0.7) ? r.pick(ALL_OPCODES) : r.int(64)) | (r.bool(0.3) ? 0x40 : 0);
          break;
        case 'flags':
          if (bhs.length > 1) bhs[1] = r.int(256);
          break;
        case 'ahs-length': {
          // TotalAHSLength with (most of the time) an AHS area that matches it, so the AHS parser runs.
          if (bhs.length < 5) break;
          bhs[4] = r.pick([0, 1, 2, 3, 5, 0xff, r.int(256)]);
          if (r.bool(0.8)) {
            const body = Buffer.alloc(bhs[4]! * 4);
            for (let at = 0; at + 4 <= body.length; at += 4 * r.range(1, 3)) {
              body.writeUInt16BE(r.pick([0, 1, 2, 3, 4, 5, 6, 17, 0xffff, r.int(body.length + 8)]), at);
              body[at + 2] = r.pick([1, 2, 0x41, 0x3f, r.int(256)]);
            }
            ahs = body;
          }
          break;
        }
        case 'ahs-body':
          if (ahs.length > 0) {
            const at = r.int(ahs.length);
            ahs[at] = r.bool(0.5) ? ahs[at]! ^ (1 << r.int(8)) : r.pick([0, 1, 2, 5, 0xff]);
          } else {
            ahs = r.bytes(r.pick([1, 3, 4, 8]));
          }
          break;
        case 'data-length': {
          if (bhs.length < 8) break;
          const n = r.pick([0, 1, 2, 3, 4, 5, data.length + 1, Math.max(0, data.length - 1), 600, r.int(2000)]);
          bhs.writeUIntBE(n, 5, 3);
          if (r.bool(0.8)) data = Buffer.concat([data, Buffer.alloc(Math.max(0, n - data.length))]).subarray(0, n);
          break;
        }
        case 'bhs-length':
          bhs = r.bool(0.5) ? bhs.subarray(0, r.int(48)) : Buffer.concat([bhs, r.bytes(r.range(1, 8))]);
          break;
        case 'random-bhs':
          bhs = r.bytes(48);
          ahs = Buffer.alloc(bhs[4]! * 4);
          data = r.bytes(bhs.readUIntBE(5, 3) % 1200);
          bhs.writeUIntBE(data.length, 5, 3);
          break;
      }
    }
    const meta: DecodeMeta = { bhs: bhs.length, ahs: ahs.length, data: data.length };
    return { target: 'decode', meta: meta as unknown as Record<string, unknown>, payload: Buffer.concat([bhs, ahs, data]) };
  }

  function run(c: FuzzCase): string {
    const m = c.meta as unknown as DecodeMeta;
    const bhs = c.payload.subarray(0, m.bhs);
    const ahs = c.payload.subarray(m.bhs, m.bhs + m.ahs);
    const data = c.payload.subarray(m.bhs + m.ahs, m.bhs + m.ahs + m.data);
    let pdu: Pdu;
    try {
      pdu = core.decodePdu(bhs, ahs, data);
    } catch (e) {
      checkTyped(core, 'decodePdu', e, core.ProtocolError);
      return (e as { code: string }).code;
    }
    if (pdu.opcode !== (bhs[0]! & 0x3f)) throw new Finding(`decodePdu returned opcode 0x${pdu.opcode.toString(16)} for a BHS with 0x${(bhs[0]! & 0x3f).toString(16)}`);
    if ('data' in pdu && pdu.data !== data) throw new Finding('decodePdu did not return the data segment it was given (types.ts: data is the argument itself)');
    // Canonical decoding: what decodes encodes again, and decodes to the same PDU (reserved bits dropped once).
    let wire: Buffer;
    try {
      wire = core.encodePduToBuffer(pdu, core.NO_DIGESTS);
    } catch (e) {
      throw new Finding(`a decoded ${core.describeOpcode(pdu.opcode)} cannot be encoded again: ${String(e)}`, { cause: e });
    }
    const ahsEnd = 48 + wire[4]! * 4;
    let again: Pdu;
    try {
      again = core.decodePdu(wire.subarray(0, 48), wire.subarray(48, ahsEnd), wire.subarray(ahsEnd, ahsEnd + wire.readUIntBE(5, 3)));
    } catch (e) {
      throw new Finding(`a re-encoded ${core.describeOpcode(pdu.opcode)} no longer decodes: ${String(e)}`, { cause: e });
    }
    // §11.12: a Login Request is always sent with I=1, so the encoder sets it whatever the object says.
    const expected = pdu.opcode === core.Opcode.LoginRequest ? { ...pdu, immediate: true } : pdu;
    if (pduKey(again) !== pduKey(expected)) {
      const fields = Object.keys(expected).filter((k) => pduKey({ v: (again as never)[k] }) !== pduKey({ v: (expected as never)[k] }));
      throw new Finding(`decode(encode(decode(x))) differs from decode(x) for ${core.describeOpcode(pdu.opcode)} in ${fields.join(', ')}`);
    }
    return 'decoded';
  }

  return { name: 'decode', generate, run };
}
