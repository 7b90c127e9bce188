/**
 * The key=value text of Login and Text PDUs (RFC 7143 §6.1): bytes ⇄ pairs, and the reassembly of text that spans
 * PDUs with the C bit (§11.10.2, §11.12.2). No negotiation rules here; duplicates are the caller's concern
 * (see checkDuplicates).
 */

import { ArgumentError, NegotiationError } from '../errors.js';
import { KEYS } from './keys.js';
import { MAX_KEY_BYTES, MAX_SIMPLE_VALUE_BYTES, clip, isValidKeyName } from './values.js';

export type TextPair = readonly [key: string, value: string];

const NUL = 0x00;
const EQUALS = 0x3d;
const COMMA = 0x2c;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a logical text data segment: NUL-terminated key=value records in UTF-8 (§6.1). Trailing zero bytes after
 * the last record are tolerated, since some targets pad text data. The returned strings are copies.
 */
export function decodeText(data: Buffer): TextPair[] {
  let end = data.length;
  while (end > 0 && data[end - 1] === NUL) end--;
  if (end === 0) return [];
  if (end === data.length) {
    // §6.1: every key=value pair, including the last, MUST be followed by one null delimiter.
    throw malformed('the text does not end with a NUL (RFC 7143 §6.1)');
  }
  const pairs: TextPair[] = [];
  let start = 0;
  while (start < end) {
    // data[end] is a NUL, so a delimiter is always found at or before it.
    const stop = data.indexOf(NUL, start);
    pairs.push(decodeRecord(data.subarray(start, stop)));
    start = stop + 1;
  }
  return pairs;
}

function decodeRecord(record: Buffer): TextPair {
  if (record.length === 0) throw malformed('an empty key=value record (two NULs in a row) (RFC 7143 §6.1)');
  const eq = record.indexOf(EQUALS);
  if (eq === -1) throw malformed(`a record without '=': ${clip(record.toString('latin1'))} (RFC 7143 §6.1)`);
  const keyBytes = record.subarray(0, eq);
  const valueBytes = record.subarray(eq + 1);
  // Keys are ASCII by definition, so a latin1 view is exact for the checks and the message.
  const key = keyBytes.toString('latin1');
  checkKey(key, keyBytes.length);
  checkValueLength(key, valueBytes);
  let value: string;
  try {
    value = utf8.decode(valueBytes);
  } catch (cause) {
    throw new NegotiationError('ISCSI_TEXT_MALFORMED', `the value of ${key} is not valid UTF-8 (RFC 7143 §6.1)`, key, {
      cause,
    });
  }
  return [key, value];
}

/** Encodes pairs as NUL-terminated key=value records. Rejects exactly what decodeText would reject. */
export function encodeText(pairs: readonly TextPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of pairs) {
    const keyBytes = Buffer.from(key, 'utf8');
    checkKey(key, keyBytes.length);
    const valueBytes = Buffer.from(value, 'utf8');
    if (valueBytes.includes(NUL)) throw malformed(`the value of ${key} contains a NUL (RFC 7143 §6.1)`, key);
    if (valueBytes.toString('utf8') !== value) {
      throw malformed(`the value of ${key} is not well-formed Unicode (RFC 7143 §6.1: UTF-8)`, key);
    }
    checkValueLength(key, valueBytes);
    parts.push(keyBytes, Buffer.from([EQUALS]), valueBytes, Buffer.from([NUL]));
  }
  return Buffer.concat(parts);
}

function checkKey(key: string, byteLength: number): void {
  if (byteLength === 0) throw malformed('a record with an empty key (RFC 7143 §6.1)');
  if (byteLength > MAX_KEY_BYTES) {
    throw new NegotiationError(
      'ISCSI_TEXT_TOO_LONG',
      `key ${clip(key)} is ${byteLength} bytes; keys are at most ${MAX_KEY_BYTES} (RFC 7143 §6.1)`,
      key,
    );
  }
  if (!isValidKeyName(key)) {
    throw malformed(`${clip(key)} is not a key name: a letter, then [A-Za-z0-9.-+@_] (RFC 7143 §6.1)`, key);
  }
}

/**
 * §6.1: a simple-value is at most 255 bytes unless its key says otherwise (CHAP_C/CHAP_R and other large binaries);
 * for lists, and for keys we do not know, the limit applies to each comma-separated item.
 */
function checkValueLength(key: string, value: Buffer): void {
  const def = KEYS.get(key);
  const limit = def?.maxValueBytes ?? MAX_SIMPLE_VALUE_BYTES;
  const perItem = def === undefined || def.valueType === 'list-of-values';
  let longest = value.length;
  if (perItem) {
    longest = 0;
    let start = 0;
    while (start <= value.length) {
      let stop = value.indexOf(COMMA, start);
      if (stop === -1) stop = value.length;
      longest = Math.max(longest, stop - start);
      start = stop + 1;
    }
  }
  if (longest > limit) {
    throw new NegotiationError(
      'ISCSI_TEXT_TOO_LONG',
      `the value of ${key} has ${perItem ? 'an item of ' : ''}${longest} bytes; at most ${limit} (RFC 7143 §6.1)`,
      key,
    );
  }
}

function malformed(message: string, key?: string): NegotiationError {
  return new NegotiationError('ISCSI_TEXT_MALFORMED', message, key);
}

/**
 * §6.2: a key may appear only once in a negotiation. Throws ISCSI_NEGOTIATION_DUPLICATE_KEY naming the first key
 * seen twice. (SendTargets responses, where TargetName/TargetAddress repeat by design, are not checked with this.)
 */
export function checkDuplicates(pairs: readonly TextPair[]): void {
  const seen = new Set<string>();
  for (const [key] of pairs) {
    if (seen.has(key)) {
      throw new NegotiationError('ISCSI_NEGOTIATION_DUPLICATE_KEY', `${key} appears more than once (RFC 7143 §6.2)`, key);
    }
    seen.add(key);
  }
}

/**
 * Reassembles text that spans PDUs (§6.1: the data segments of PDUs with C=1 and the following PDU with C=0 form
 * one logical text data segment). A key=value may be split at any byte. After a complete text or an error the
 * assembler is empty again.
 */
export class TextAssembler {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #total = 0;

  /** §6.1 requires at least 8192 bytes (64 KiB when long authentication items are in use); 64 KiB by default. */
  constructor(maxBytes = 64 * 1024) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `TextAssembler maxBytes must be a non-negative integer, not ${maxBytes}`);
    }
    this.#maxBytes = maxBytes;
  }

  push(data: Buffer, continues: boolean): TextPair[] | undefined {
    if (this.#total + data.length > this.#maxBytes) {
      const total = this.#total + data.length;
      this.reset();
      throw new NegotiationError(
        'ISCSI_TEXT_TOO_LONG',
        `the text spans more than ${this.#maxBytes} bytes (${total} so far) (RFC 7143 §6.1)`,
      );
    }
    // A whole text in one PDU decodes in place (decodeText returns copies); parts are copied, since the PDU layer
    // hands us views into socket chunks that are reused once we return.
    if (!continues && this.#chunks.length === 0) return decodeText(data);
    this.#chunks.push(Buffer.from(data));
    this.#total += data.length;
    if (continues) return undefined;
    const whole = Buffer.concat(this.#chunks, this.#total);
    this.reset();
    return decodeText(whole);
  }

  reset(): void {
    this.#chunks = [];
    this.#total = 0;
  }
}

/**
 * Splits encoded text into data segments of at most maxSegment bytes for sending with the C bit on all but the last
 * (§11.10.2, §11.12.2). Empty text gives one empty segment. The segments are views into `text`.
 */
export function splitText(text: Buffer, maxSegment: number): Buffer[] {
  if (!Number.isSafeInteger(maxSegment) || maxSegment < 1) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `cannot split text into segments of ${maxSegment} bytes`);
  }
  if (text.length === 0) return [text.subarray(0, 0)];
  const segments: Buffer[] = [];
  for (let offset = 0; offset < text.length; offset += maxSegment) {
    segments.push(text.subarray(offset, offset + maxSegment));
  }
  return segments;
}
