import { describe, expect, it } from 'vitest';
import { ArgumentError, NegotiationError } from '../../src/errors.js';
import {
  TextAssembler,
  checkDuplicates,
  decodeText,
  encodeText,
  splitText,
  type TextPair,
} from '../../src/text/text-codec.js';
import { expectError, text } from './helpers.js';

// A typical operational-stage offer: "key=value" records, each followed by one NUL (RFC 7143 §6.1).
const GOLDEN_PAIRS: TextPair[] = [
  ['HeaderDigest', 'CRC32C,None'],
  ['MaxRecvDataSegmentLength', '262144'],
  ['TargetAlias', 'Bob’s Disk'],
  ['SendTargets', ''],
];
const GOLDEN = Buffer.from(
  [
    '4865616465724469676573743d4352433332432c4e6f6e6500', // HeaderDigest=CRC32C,None\0
    '4d617852656376446174615365676d656e744c656e6774683d32363231343400', // MaxRecvDataSegmentLength=262144\0
    '546172676574416c6961733d426f62e2809973204469736b00', // TargetAlias=Bob’s Disk\0 (’ is e2 80 99 in UTF-8)
    '53656e64546172676574733d00', // SendTargets=\0 — an empty value is a valid text-value
  ].join(''),
  'hex',
);

describe('encodeText / decodeText golden bytes (RFC 7143 §6.1)', () => {
  it('encodes each pair as key=value followed by one NUL, values in UTF-8', () => {
    expect(encodeText(GOLDEN_PAIRS).toString('hex')).toBe(GOLDEN.toString('hex'));
  });

  it('decodes the same bytes back to the same pairs, in order', () => {
    expect(decodeText(GOLDEN)).toEqual(GOLDEN_PAIRS);
  });

  it('no pairs is no bytes, and no bytes is no pairs', () => {
    expect(encodeText([])).toEqual(Buffer.alloc(0));
    expect(decodeText(Buffer.alloc(0))).toEqual([]);
  });

  it('"a value is whatever follows the first =": later = signs belong to the value', () => {
    expect(decodeText(text('X-com.example.a=b=c|'))).toEqual([['X-com.example.a', 'b=c']]);
    expect(encodeText([['X-com.example.a', 'b=c']])).toEqual(text('X-com.example.a=b=c|'));
  });

  it.each([1, 2, 3, 7])('tolerates %i trailing zero padding bytes after the last NUL', (n) => {
    const padded = Buffer.concat([GOLDEN, Buffer.alloc(n)]);
    expect(decodeText(padded)).toEqual(GOLDEN_PAIRS);
  });

  it('a data segment of only zero padding holds no pairs', () => {
    expect(decodeText(Buffer.alloc(4))).toEqual([]);
  });

  it('accepts the key forms of §6.1 and §13.22: standard labels, X- private and X# public extension keys', () => {
    const pairs: TextPair[] = [
      ['X-com.example.do_something', '1'],
      ['X#NodeArchitecture', 'ExampleOS/1.0'],
      ['A.b-c+d@e_f9', 'x'],
      ['iSCSIProtocolLevel', '1'], // §13.24's own key starts in lower case, despite §6.1's "capital letter"
    ];
    expect(decodeText(encodeText(pairs))).toEqual(pairs);
  });

  it('keeps a leading byte order mark in a value rather than silently dropping it', () => {
    expect(decodeText(text('TargetAlias=\u{feff}x|'))).toEqual([['TargetAlias', '\u{feff}x']]);
  });
});

describe('decodeText rejects malformed text (RFC 7143 §6.1)', () => {
  const cases: Array<[string, Buffer, 'ISCSI_TEXT_MALFORMED' | 'ISCSI_TEXT_TOO_LONG']> = [
    ['a record without "=" (a key=value pair needs the equal sign)', text('HeaderDigest|'), 'ISCSI_TEXT_MALFORMED'],
    ['an empty key ("A key-name is whatever precedes the first =")', text('=None|'), 'ISCSI_TEXT_MALFORMED'],
    ['a key starting with a digit (a standard-label begins with a letter)', text('9Key=1|'), 'ISCSI_TEXT_MALFORMED'],
    ['a key starting with an underscore', text('_Key=1|'), 'ISCSI_TEXT_MALFORMED'],
    ['a "#" in a key other than the X# prefix', text('A#B=1|'), 'ISCSI_TEXT_MALFORMED'],
    ['a space in a key (not a standard-label character)', text('Header Digest=None|'), 'ISCSI_TEXT_MALFORMED'],
    ['a non-ASCII key', text('Ärger=1|'), 'ISCSI_TEXT_MALFORMED'],
    ['a missing final NUL ("including the last ... MUST be followed by one null")', Buffer.from('HeaderDigest=None'), 'ISCSI_TEXT_MALFORMED'],
    ['a missing final NUL after complete records', text('A=1|B=2'), 'ISCSI_TEXT_MALFORMED'],
    ['an empty record between two pairs (only trailing padding is tolerated)', text('A=1||B=2|'), 'ISCSI_TEXT_MALFORMED'],
    ['a leading NUL', text('|A=1|'), 'ISCSI_TEXT_MALFORMED'],
    ['invalid UTF-8 (a stray continuation byte)', Buffer.from([0x41, 0x3d, 0x80, 0x00]), 'ISCSI_TEXT_MALFORMED'],
    ['invalid UTF-8 (an overlong "/")', Buffer.from([0x41, 0x3d, 0xc0, 0xaf, 0x00]), 'ISCSI_TEXT_MALFORMED'],
    ['invalid UTF-8 (an encoded surrogate)', Buffer.from([0x41, 0x3d, 0xed, 0xa0, 0x80, 0x00]), 'ISCSI_TEXT_MALFORMED'],
    ['invalid UTF-8 (a truncated sequence)', Buffer.from([0x41, 0x3d, 0xe2, 0x80, 0x00]), 'ISCSI_TEXT_MALFORMED'],
    ['a 64-byte key ("must not exceed 63 characters")', text(`K${'e'.repeat(63)}=1|`), 'ISCSI_TEXT_TOO_LONG'],
    ['a 256-byte simple value ("maximum length of a simple-value ... is 255 bytes")', text(`TargetAlias=${'a'.repeat(256)}|`), 'ISCSI_TEXT_TOO_LONG'],
    ['a 256-byte value of an unknown key', text(`X-com.example.k=${'a'.repeat(256)}|`), 'ISCSI_TEXT_TOO_LONG'],
    ['a 256-byte item in a list-of-values', text(`HeaderDigest=None,${'C'.repeat(256)}|`), 'ISCSI_TEXT_TOO_LONG'],
    ['CHAP_C longer than 1024 bytes of binary (§12.1.3)', text(`CHAP_C=0x${'ab'.repeat(1025)}|`), 'ISCSI_TEXT_TOO_LONG'],
  ];

  it.each(cases)('%s', (_name, bytes, code) => {
    expectError(() => decodeText(bytes), code, { type: NegotiationError });
  });

  it('names the offending key in the error', () => {
    expectError(() => decodeText(text(`TargetAlias=${'a'.repeat(300)}|`)), 'ISCSI_TEXT_TOO_LONG', { key: 'TargetAlias' });
    expectError(() => decodeText(Buffer.from([0x41, 0x3d, 0xff, 0x00])), 'ISCSI_TEXT_MALFORMED', { key: 'A' });
  });
});

describe('value length limits (RFC 7143 §6.1, §12.1.3)', () => {
  it('a 63-byte key is the longest accepted', () => {
    const key = `K${'e'.repeat(62)}`;
    expect(decodeText(text(`${key}=1|`))).toEqual([[key, '1']]);
  });

  it('255 bytes is the longest simple value, counted in UTF-8 bytes, not characters', () => {
    expect(decodeText(text(`TargetAlias=${'a'.repeat(255)}|`))[0]?.[1]).toHaveLength(255);
    // 85 three-byte characters = 255 bytes; one more ASCII byte makes 256.
    expect(decodeText(text(`TargetAlias=${'’'.repeat(85)}|`))[0]?.[1]).toHaveLength(85);
    expectError(() => decodeText(text(`TargetAlias=${'’'.repeat(85)}a|`)), 'ISCSI_TEXT_TOO_LONG');
  });

  it('CHAP_C and CHAP_R carry up to 1024 bytes of binary: 0x + 2048 hex digits', () => {
    const hex = `0x${'ab'.repeat(1024)}`;
    expect(decodeText(text(`CHAP_C=${hex}|CHAP_R=${hex}|`))).toEqual([
      ['CHAP_C', hex],
      ['CHAP_R', hex],
    ]);
  });

  it('CHAP_R may be 1024 bytes of binary in base64 (0b + 1368 characters)', () => {
    const b64 = `0b${Buffer.alloc(1024, 0x5a).toString('base64')}`;
    expect(decodeText(text(`CHAP_R=${b64}|`))).toEqual([['CHAP_R', b64]]);
  });

  it('a list-of-values may exceed 255 bytes in total while each value is at most 255', () => {
    const items = ['a', 'b', 'c'].map((c) => `X-${c.repeat(250)}`).join(',');
    expect(decodeText(text(`HeaderDigest=${items}|`))).toEqual([['HeaderDigest', items]]);
  });

  it('TargetAddress holds a 255-byte domain name plus :port,tag (§13.8), and no more', () => {
    const address = `${'h'.repeat(251)}.com:65535,65535`;
    expect(decodeText(text(`TargetAddress=${address}|`))).toEqual([['TargetAddress', address]]);
    expectError(() => decodeText(text(`TargetAddress=${address}5|`)), 'ISCSI_TEXT_TOO_LONG');
  });
});

describe('encodeText rejects what decodeText would (RFC 7143 §6.1)', () => {
  it.each<[string, TextPair, string]>([
    ['a NUL inside a value', ['TargetAlias', 'a\0b'], 'ISCSI_TEXT_MALFORMED'],
    ['a lone surrogate (not encodable as UTF-8)', ['TargetAlias', 'a\ud800b'], 'ISCSI_TEXT_MALFORMED'],
    ['an empty key', ['', 'x'], 'ISCSI_TEXT_MALFORMED'],
    ['an "=" in a key', ['A=B', 'x'], 'ISCSI_TEXT_MALFORMED'],
    ['a key starting with a dot', ['.key', 'x'], 'ISCSI_TEXT_MALFORMED'],
    ['a 64-byte key', [`K${'e'.repeat(63)}`, 'x'], 'ISCSI_TEXT_TOO_LONG'],
    ['a 256-byte value', ['InitiatorAlias', 'a'.repeat(256)], 'ISCSI_TEXT_TOO_LONG'],
  ])('%s', (_name, pair, code) => {
    expectError(() => encodeText([pair]), code as 'ISCSI_TEXT_MALFORMED', { type: NegotiationError });
  });
});

describe('checkDuplicates (RFC 7143 §6.2: a key may not be sent twice)', () => {
  it('passes distinct keys', () => {
    expect(() => checkDuplicates(GOLDEN_PAIRS)).not.toThrow();
  });

  it('names the first repeated key', () => {
    expectError(
      () => checkDuplicates([['A', '1'], ['MaxBurstLength', '512'], ['B', '2'], ['MaxBurstLength', '1024']]),
      'ISCSI_NEGOTIATION_DUPLICATE_KEY',
      { key: 'MaxBurstLength' },
    );
  });
});

describe('TextAssembler: text spanning PDUs with the C bit (RFC 7143 §6.1, §11.10.2, §11.12.2)', () => {
  it('a single PDU with C=0 is the whole text', () => {
    expect(new TextAssembler().push(GOLDEN, false)).toEqual(GOLDEN_PAIRS);
  });

  it('reassembles a text split into two PDUs at every byte offset ("key=value pairs may span PDU boundaries")', () => {
    const assembler = new TextAssembler();
    for (let at = 0; at <= GOLDEN.length; at++) {
      expect(assembler.push(GOLDEN.subarray(0, at), true)).toBeUndefined();
      expect(assembler.push(GOLDEN.subarray(at), false), `split at ${at}`).toEqual(GOLDEN_PAIRS);
    }
  });

  it('reassembles a text split into three PDUs at every pair of offsets', () => {
    const assembler = new TextAssembler();
    for (let i = 0; i <= GOLDEN.length; i++) {
      for (let j = i; j <= GOLDEN.length; j++) {
        assembler.push(GOLDEN.subarray(0, i), true);
        assembler.push(GOLDEN.subarray(i, j), true);
        expect(assembler.push(GOLDEN.subarray(j), false)).toEqual(GOLDEN_PAIRS);
      }
    }
  });

  it('reassembles one byte per PDU', () => {
    const assembler = new TextAssembler();
    for (let i = 0; i < GOLDEN.length - 1; i++) expect(assembler.push(GOLDEN.subarray(i, i + 1), true)).toBeUndefined();
    expect(assembler.push(GOLDEN.subarray(GOLDEN.length - 1), false)).toEqual(GOLDEN_PAIRS);
  });

  it('copies what it is given: the caller may reuse its buffer after push', () => {
    const assembler = new TextAssembler();
    const first = Buffer.from(GOLDEN.subarray(0, 10));
    assembler.push(first, true);
    first.fill(0x41);
    expect(assembler.push(GOLDEN.subarray(10), false)).toEqual(GOLDEN_PAIRS);
  });

  it('caps the total at maxBytes: exactly maxBytes is fine, one more byte is ISCSI_TEXT_TOO_LONG', () => {
    const exact = new TextAssembler(GOLDEN.length);
    expect(exact.push(GOLDEN, false)).toEqual(GOLDEN_PAIRS);
    const small = new TextAssembler(GOLDEN.length - 1);
    small.push(GOLDEN.subarray(0, 5), true);
    expectError(() => small.push(GOLDEN.subarray(5), false), 'ISCSI_TEXT_TOO_LONG');
  });

  it('defaults to 64 KiB ("at least 64 kilobytes" with long authentication items)', () => {
    const assembler = new TextAssembler();
    const chunk = Buffer.alloc(16 * 1024, 0x41);
    for (let i = 0; i < 4; i++) assembler.push(chunk, true);
    expectError(() => assembler.push(Buffer.from([0]), false), 'ISCSI_TEXT_TOO_LONG');
  });

  it('is empty again after an error or a reset', () => {
    const assembler = new TextAssembler(8);
    expectError(() => assembler.push(Buffer.alloc(9, 0x41), true), 'ISCSI_TEXT_TOO_LONG');
    expect(assembler.push(text('A=1|'), false)).toEqual([['A', '1']]);
    assembler.push(text('B=2|G'), true);
    assembler.reset();
    expect(assembler.push(text('C=3|'), false)).toEqual([['C', '3']]);
  });

  it('reports malformed text once the last PDU arrives', () => {
    const assembler = new TextAssembler();
    expect(assembler.push(Buffer.from('NoEquals'), true)).toBeUndefined();
    expectError(() => assembler.push(Buffer.from([0]), false), 'ISCSI_TEXT_MALFORMED');
  });

  it('rejects a negative or fractional cap', () => {
    expectError(() => new TextAssembler(-1), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
    expectError(() => new TextAssembler(1.5), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
  });
});

describe('splitText: chunks for sending with the C bit', () => {
  it('cuts at maxSegment bytes, anywhere, and the pieces reassemble', () => {
    for (const max of [1, 2, 7, 48, GOLDEN.length - 1, GOLDEN.length, GOLDEN.length + 1]) {
      const segments = splitText(GOLDEN, max);
      expect(segments.every((s) => s.length > 0 && s.length <= max)).toBe(true);
      expect(Buffer.concat(segments)).toEqual(GOLDEN);
      expect(segments).toHaveLength(Math.ceil(GOLDEN.length / max));
      const assembler = new TextAssembler();
      const results = segments.map((s, i) => assembler.push(s, i < segments.length - 1));
      expect(results.at(-1)).toEqual(GOLDEN_PAIRS);
    }
  });

  it('sends empty text as one empty segment', () => {
    expect(splitText(Buffer.alloc(0), 100)).toEqual([Buffer.alloc(0)]);
  });

  it('rejects a segment size below 1', () => {
    expectError(() => splitText(GOLDEN, 0), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
    expectError(() => splitText(GOLDEN, Number.NaN), 'ISCSI_BAD_ARGUMENT', { type: ArgumentError });
  });
});
