/**
 * Value syntax of iSCSI text keys (RFC 7143 §6.1): key names, numbers, booleans, lists, and the constants that §6.2
 * reserves for answers. Pure functions; every failure is a NegotiationError naming the key.
 */

import { NegotiationError } from '../errors.js';

/** §6.2: answer-only constants. Proposing one of them is a protocol error. */
export const NOT_UNDERSTOOD = 'NotUnderstood';
export const IRRELEVANT = 'Irrelevant';
export const REJECT = 'Reject';
/** §6.2.1: "None" is reserved too, but it is a legitimate list item (no function selected). */
export const NONE = 'None';

export const RESERVED_ANSWERS: ReadonlySet<string> = new Set([NOT_UNDERSTOOD, IRRELEVANT, REJECT]);

/** §6.1: a key-name is a standard-label of at most 63 characters. */
export const MAX_KEY_BYTES = 63;
/** §6.1: unless a key says otherwise, a simple-value (and each list item) is at most 255 bytes. */
export const MAX_SIMPLE_VALUE_BYTES = 255;

// §6.1 standard-label: letters, digits, dot, minus, plus, commercial at, underscore, "MUST begin with a capital
// letter" — yet §13.24 itself names iSCSIProtocolLevel, so any letter may start a key we accept.
// X- private keys (§13.22) fit this pattern; X#<IANA-registered-string> public extension keys add the '#'.
const STANDARD_LABEL = /^[A-Za-z][A-Za-z0-9.\-+@_]*$/;
const PUBLIC_EXTENSION = /^X#[A-Za-z0-9.\-+@_]+$/;

export function isValidKeyName(key: string): boolean {
  return STANDARD_LABEL.test(key) || PUBLIC_EXTENSION.test(key);
}

/** §13.22: X- (private) and X# (public) extension keys. */
export function isExtensionKey(key: string): boolean {
  return key.startsWith('X-') || key.startsWith('X#');
}

const DECIMAL = /^[0-9]+$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;
const BASE64 = /^0[bB](?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TWO_TO_64 = 1n << 64n;

export interface NumericRange {
  readonly min: number;
  readonly max: number;
}

/**
 * §6.1 numerical-value: a decimal-constant or hex-constant below 2**64; binary-values (e.g. TargetPortalGroupTag)
 * may also be a base64-constant. Leading zeros in decimals are tolerated (a peer's quirk, not ambiguity).
 * The result must lie in `range`, which always fits a JS safe integer for the keys we parse.
 */
export function parseNumericalValue(
  key: string,
  value: string,
  range: NumericRange,
  options: { allowBase64?: boolean } = {},
): number {
  let n: bigint;
  if (DECIMAL.test(value)) {
    n = BigInt(value);
  } else if (HEX.test(value)) {
    n = BigInt(`0x${value.slice(2)}`);
  } else if (options.allowBase64 === true && value.length > 2 && BASE64.test(value)) {
    const bytes = Buffer.from(value.slice(2), 'base64');
    n = bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
  } else {
    throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', `${key}=${clip(value)} is not a number (RFC 7143 §6.1)`, key);
  }
  if (n >= TWO_TO_64) {
    throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', `${key}=${clip(value)} is not below 2**64 (RFC 7143 §6.1)`, key);
  }
  if (n < BigInt(range.min) || n > BigInt(range.max)) {
    throw new NegotiationError(
      'ISCSI_NEGOTIATION_BAD_VALUE',
      `${key}=${clip(value)} is outside ${range.min}..${range.max} (RFC 7143 §13)`,
      key,
    );
  }
  return Number(n);
}

/** §6.1 boolean-value: exactly "Yes" or "No" (case-sensitive). */
export function parseBoolean(key: string, value: string): boolean {
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', `${key}=${clip(value)} is not Yes or No (RFC 7143 §6.1)`, key);
}

export function formatBoolean(value: boolean): 'Yes' | 'No' {
  return value ? 'Yes' : 'No';
}

/** §6.1 list-of-values: text-values separated by commas. */
export function splitList(value: string): string[] {
  return value.split(',');
}

/** Values can be long or binary; keep error messages to one readable line. */
export function clip(value: string): string {
  const printable = JSON.stringify(value);
  return printable.length > 80 ? `${printable.slice(0, 77)}..."` : printable;
}
