/**
 * Turns the byte stream of one connection into whole PDUs (RFC 7143 §11.2).
 *
 * For each PDU: wait for the 48-byte BHS; with HeaderDigest on, also wait for the AHS and the digest and verify it
 * first, because a header that fails its digest has a length that cannot be trusted (§11.2.3); then check the opcode
 * and that DataSegmentLength is within MaxRecvDataSegmentLength (§13.12) *before* buffering any payload; wait for the
 * padded data segment and its digest, verify the data digest, decode.
 *
 * Aliasing: a PDU that lies entirely inside one pushed chunk is decoded in place, so its `data` is a view
 * (`subarray`) of that chunk. Only a PDU that spans chunks is copied, into a buffer the framer owns and sizes for it; that
 * buffer is never reused or compacted, so views handed out earlier stay valid. The caller must not modify a chunk
 * after pushing it.
 *
 * Data-In payload that spans chunks goes straight into the slice `placeData` names (the command's read buffer), so
 * a large read is copied once from the socket buffer to its destination.
 *
 * Login boundary: digests and MaxRecvDataSegmentLength change when the full feature phase starts, right after the
 * final Login Response (T=1, NSG=FullFeaturePhase, Status-Class 0). When `push` yields that PDU it stops there and
 * keeps any later bytes buffered, so the caller can `configure()` the negotiated values before they are parsed; the
 * next `push` (an empty Buffer is fine) continues.
 */

import { ArgumentError, ProtocolError } from '../errors.js';
import { BHS_LENGTH, BhsField, OPCODE_MASK, dataSegmentLength, getU32, padded, totalAhsBytes } from './bhs.js';
import { DataInAt, decodePdu, describeOpcode, opcodeCarriesData, opcodeSide } from './codec.js';
import { DIGEST_LENGTH, crc32c, readDigest } from './digest.js';
import { Opcode, Stage, type Pdu } from './types.js';

export interface FramerOptions {
  /** Our declared MaxRecvDataSegmentLength (§13.12); 8192 until negotiated. */
  maxRecvDataSegmentLength: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Whose opcodes may arrive: 'target' when we are the initiator. */
  accept: 'target' | 'initiator' | 'any';
  /**
   * Direct data placement for Data-In: asked, once a Data-In header is in but its data spans later chunks, for the
   * exact slice of the reader's buffer the payload belongs in (or undefined). The payload is then copied there as it
   * arrives — written once, never gathered in a framer buffer first — and the decoded PDU's `data` is that slice.
   */
  placeData?: ((itt: number, bufferOffset: number, dataLength: number) => Buffer | undefined) | undefined;
}

export const DEFAULT_FRAMER_OPTIONS: Readonly<FramerOptions> = Object.freeze({
  maxRecvDataSegmentLength: 8192,
  headerDigest: false,
  dataDigest: false,
  accept: 'target',
});

/** §13.12: MaxRecvDataSegmentLength=<numerical-value-512-to-(2**24 - 1)>. */
const MRDSL_MIN = 512;
const MRDSL_MAX = 0xffffff;

function validated(options: FramerOptions): FramerOptions {
  const m = options.maxRecvDataSegmentLength;
  if (!Number.isInteger(m) || m < MRDSL_MIN || m > MRDSL_MAX) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `maxRecvDataSegmentLength ${String(m)} is outside ${MRDSL_MIN}..${MRDSL_MAX} (RFC 7143 §13.12)`);
  }
  if (options.accept !== 'target' && options.accept !== 'initiator' && options.accept !== 'any') {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `accept must be 'target', 'initiator' or 'any', not ${String(options.accept)}`);
  }
  if (typeof options.headerDigest !== 'boolean' || typeof options.dataDigest !== 'boolean') {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'headerDigest and dataDigest must be booleans');
  }
  return options;
}

export class PduFramer {
  private options: FramerOptions;
  /** Bytes kept across pushes, owned by us: [accStart, accEnd) of `acc`. Never compacted (see aliasing above). */
  private acc: Buffer | null = null;
  private accStart = 0;
  private accEnd = 0;
  /** Bytes needed from accStart before parsing is worth retrying; 0 = try now. */
  private need = 0;
  /** A Data-In whose payload is being placed directly: its header copy, destination, and padding/digest bytes. */
  private direct: { header: Buffer; headerEnd: number; headerLength: number; dest: Buffer; filled: number; trailer: Buffer; trailerFilled: number } | null = null;
  /** The last PDU completed was directly placed (a large transfer is streaming). */
  private afterDirect = false;
  /** Set after a final Login Response: stop parsing until the next push. */
  private paused = false;
  private failure: unknown = undefined;
  private failed = false;

  constructor(options: Partial<FramerOptions> = {}) {
    this.options = validated({ ...DEFAULT_FRAMER_OPTIONS, ...options });
  }

  /** Changes limits and digests for the bytes not yet parsed (e.g. after login, §13.1, §13.12). */
  configure(options: Partial<FramerOptions>): void {
    this.options = validated({ ...this.options, ...options });
    this.need = 0; // lengths computed under the old settings no longer hold
  }

  /** Bytes received but not yet returned as PDUs. */
  get bufferedBytes(): number {
    // headerLength, not header.length: the header digest was received too, though only BHS + AHS are kept.
    const direct = this.direct === null ? 0 : this.direct.headerLength + this.direct.filled + this.direct.trailerFilled;
    return (this.acc === null ? 0 : this.accEnd - this.accStart) + direct;
  }

  /**
   * Feeds bytes; returns the PDUs they complete, in order. Throws ProtocolError on malformed input; after that every
   * later call throws the same error: the stream cannot be resynchronised, so the connection must end.
   */
  push(chunk: Buffer): Pdu[] {
    if (this.failed) throw this.failure;
    try {
      return this.consume(chunk);
    } catch (e) {
      this.failed = true;
      this.failure = e;
      this.acc = null;
      this.direct = null;
      throw e;
    }
  }

  private consume(chunk: Buffer): Pdu[] {
    const out: Pdu[] = [];
    this.paused = false;
    if (chunk.length > 0) this.afterDirect = false;
    let off = 0;

    // 0. A Data-In payload being placed directly takes the chunk's first bytes.
    if (this.direct !== null) {
      off = this.feedDirect(chunk, 0, out);
      if (this.direct !== null) return out;
    }

    // 1. Finish what earlier pushes left, copying from the chunk only the bytes that PDU still needs.
    while (this.acc !== null && !this.paused) {
      const have = this.accEnd - this.accStart;
      if (have >= this.need) {
        const size = this.parseOne(this.acc, this.accStart, have, out);
        if (size > 0) {
          this.accStart += size;
          this.need = 0;
          if (this.accStart === this.accEnd) this.acc = null;
        } else {
          this.need = -size;
        }
        continue;
      }
      if (off === chunk.length) return out;
      const take = Math.min(this.need - have, chunk.length - off);
      this.keep(chunk, off, take);
      off += take;
    }
    if (this.direct !== null) {
      // The kept bytes completed a Data-In header and moved into direct placement; the chunk continues it.
      off = this.feedDirect(chunk, off, out);
      if (this.direct !== null) return out;
    }

    // 2. Decode in place while whole PDUs lie in the chunk.
    while (off < chunk.length && !this.paused) {
      const size = this.parseOne(chunk, off, chunk.length - off, out);
      if (size < 0) {
        this.need = -size;
        break;
      }
      off += size;
      if (this.direct !== null) return out; // the rest of the chunk went to a directly placed payload
    }

    // 3. Keep the rest: a partial PDU, or everything after a final Login Response.
    if (off < chunk.length) this.keep(chunk, off, chunk.length - off);
    return out;
  }

  /** Appends chunk[off, off+len) to the kept bytes, allocating room for the whole pending PDU when it is known. */
  private keep(chunk: Buffer, off: number, len: number): void {
    const have = this.acc === null ? 0 : this.accEnd - this.accStart;
    if (this.acc === null || this.acc.length - this.accEnd < len) {
      const grown = Buffer.allocUnsafe(Math.max(this.need, have + len));
      if (this.acc !== null) this.acc.copy(grown, 0, this.accStart, this.accEnd);
      this.acc = grown;
      this.accStart = 0;
      this.accEnd = have;
    }
    chunk.copy(this.acc, this.accEnd, off, off + len);
    this.accEnd += len;
  }

  /**
   * Parses the PDU starting at buf[off] with `avail` bytes present. Returns its wire size and appends it to `out`
   * when complete, or minus the number of bytes (from `off`) needed before the next step can run.
   */
  private parseOne(buf: Buffer, off: number, avail: number, out: Pdu[]): number {
    if (avail < BHS_LENGTH) return -BHS_LENGTH;
    const { headerDigest, dataDigest, maxRecvDataSegmentLength, accept } = this.options;
    const bhs = buf.subarray(off, off + BHS_LENGTH);
    const headerEnd = BHS_LENGTH + totalAhsBytes(bhs);
    const headerLength = headerEnd + (headerDigest ? DIGEST_LENGTH : 0);

    if (headerDigest) {
      // §11.2.3: verify before trusting any length or opcode in the header.
      if (avail < headerLength) return -headerLength;
      const expected = readDigest(buf, off + headerEnd);
      const actual = crc32c(buf.subarray(off, off + headerEnd));
      if (expected !== actual) {
        throw new ProtocolError(
          'ISCSI_PDU_HEADER_DIGEST',
          `header digest mismatch: received 0x${hex(expected)}, computed 0x${hex(actual)} (RFC 7143 §11.2.3)`,
        );
      }
    }

    const opcode = bhs[BhsField.opcode]! & OPCODE_MASK;
    const side = opcodeSide(opcode);
    if (side === undefined) {
      throw new ProtocolError('ISCSI_PDU_UNKNOWN_OPCODE', `${describeOpcode(opcode)} is not an opcode we know (RFC 7143 §11.2.1.2)`);
    }
    if (accept !== 'any' && side !== accept) {
      throw new ProtocolError('ISCSI_PDU_UNEXPECTED', `${describeOpcode(opcode)} is an ${side} opcode; only ${accept} PDUs may arrive here (RFC 7143 §11.2.1.2)`);
    }
    const dsl = dataSegmentLength(bhs);
    if (dsl > maxRecvDataSegmentLength) {
      throw new ProtocolError(
        'ISCSI_PDU_SEGMENT_TOO_LONG',
        `${describeOpcode(opcode)}: DataSegmentLength ${dsl} exceeds MaxRecvDataSegmentLength ${maxRecvDataSegmentLength} (RFC 7143 §13.12)`,
      );
    }
    if (dsl > 0 && !opcodeCarriesData(opcode)) {
      throw new ProtocolError('ISCSI_PDU_BAD_FIELD', `${describeOpcode(opcode)}: DataSegmentLength is ${dsl} but this PDU has no data segment`);
    }

    const paddedData = padded(dsl);
    // §11.2.3: a PDU without a data segment has no data digest.
    const total = headerLength + paddedData + (dataDigest && dsl > 0 ? DIGEST_LENGTH : 0);
    if (avail < total) {
      if (opcode === Opcode.DataIn && dsl > 0 && avail >= headerLength && this.options.placeData !== undefined) {
        const dest = this.options.placeData(getU32(bhs, BhsField.itt), getU32(bhs, DataInAt.bufferOffset), dsl);
        if (dest !== undefined && dest.length === dsl) {
          this.startDirect(buf, off, avail, headerEnd, headerLength, dest, total - headerLength - dsl);
          return avail;
        }
      }
      return -total;
    }

    const dataStart = off + headerLength;
    if (dataDigest && dsl > 0) {
      const expected = readDigest(buf, dataStart + paddedData);
      // §13.1: the padding is covered by the data digest.
      const actual = crc32c(buf.subarray(dataStart, dataStart + paddedData));
      if (expected !== actual) {
        throw new ProtocolError(
          'ISCSI_PDU_DATA_DIGEST',
          `${describeOpcode(opcode)}: data digest mismatch: received 0x${hex(expected)}, computed 0x${hex(actual)} (RFC 7143 §11.2.3)`,
        );
      }
    }

    const pdu = decodePdu(bhs, buf.subarray(off + BHS_LENGTH, off + headerEnd), buf.subarray(dataStart, dataStart + dsl));
    out.push(pdu);
    if (pdu.opcode === Opcode.LoginResponse && pdu.transit && pdu.nsg === Stage.FullFeature && pdu.statusClass === 0) {
      this.paused = true;
    }
    return total;
  }

  /**
   * The rest of the payload being placed, when at least `min` bytes remain: the caller may read the socket straight
   * into it and then report how much landed with advanceDirect (no copy at all).
   */
  directSlot(min: number): Buffer | undefined {
    const d = this.direct;
    if (d === null || this.failed || d.dest.length - d.filled < min) return undefined;
    return d.dest.subarray(d.filled);
  }

  /**
   * How many bytes the next read should take when a directly placed payload has just completed: only the next
   * header, so that if another large Data-In follows, none of its payload lands in a scratch buffer to be copied.
   * Undefined otherwise (read as much as is there).
   */
  headerReadLength(): number | undefined {
    if (!this.afterDirect || this.direct !== null || this.acc !== null || this.failed) return undefined;
    return BHS_LENGTH + (this.options.headerDigest ? DIGEST_LENGTH : 0);
  }

  /** `bytes` of payload were read straight into the slot directSlot returned; returns PDUs completed by that. */
  advanceDirect(bytes: number): Pdu[] {
    if (this.failed) throw this.failure;
    const d = this.direct;
    if (d === null || bytes > d.dest.length - d.filled) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'advanceDirect without a matching directSlot');
    }
    d.filled += bytes;
    // Completion (padding and digest, when there are any, still to come) goes through the common path.
    return this.push(EMPTY);
  }

  /** Copies the header aside and the payload bytes present so far into `dest`; the rest arrives via feedDirect. */
  private startDirect(buf: Buffer, off: number, avail: number, headerEnd: number, headerLength: number, dest: Buffer, trailerLength: number): void {
    const header = Buffer.from(buf.subarray(off, off + headerEnd));
    const present = avail - headerLength;
    const inData = Math.min(present, dest.length);
    buf.copy(dest, 0, off + headerLength, off + headerLength + inData);
    const trailer = Buffer.alloc(trailerLength);
    const inTrailer = present - inData;
    if (inTrailer > 0) buf.copy(trailer, 0, off + headerLength + inData, off + headerLength + inData + inTrailer);
    this.direct = { header, headerEnd, headerLength, dest, filled: inData, trailer, trailerFilled: inTrailer };
    this.need = 0;
  }

  /** Feeds chunk bytes from `off` to the directly placed payload; returns the offset after what it took. */
  private feedDirect(chunk: Buffer, off: number, out: Pdu[]): number {
    const d = this.direct!;
    const toData = Math.min(d.dest.length - d.filled, chunk.length - off);
    if (toData > 0) {
      chunk.copy(d.dest, d.filled, off, off + toData);
      d.filled += toData;
      off += toData;
    }
    const toTrailer = Math.min(d.trailer.length - d.trailerFilled, chunk.length - off);
    if (toTrailer > 0) {
      chunk.copy(d.trailer, d.trailerFilled, off, off + toTrailer);
      d.trailerFilled += toTrailer;
      off += toTrailer;
    }
    if (d.filled < d.dest.length || d.trailerFilled < d.trailer.length) return off;
    this.direct = null;
    this.afterDirect = off === chunk.length;
    const padding = padded(d.dest.length) - d.dest.length;
    if (this.options.dataDigest) {
      const expected = readDigest(d.trailer, padding);
      // §13.1: the digest covers the padding too. A mismatch fails the connection, so the command never succeeds
      // with what landed in its buffer.
      const actual = crc32c(d.dest, d.trailer.subarray(0, padding));
      if (expected !== actual) {
        throw new ProtocolError('ISCSI_PDU_DATA_DIGEST', `SCSI Data-In: data digest mismatch: received 0x${hex(expected)}, computed 0x${hex(actual)} (RFC 7143 §11.2.3)`);
      }
    }
    out.push(decodePdu(d.header.subarray(0, BHS_LENGTH), d.header.subarray(BHS_LENGTH, d.headerEnd), d.dest));
    return off;
  }
}

const EMPTY = Buffer.alloc(0);

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
