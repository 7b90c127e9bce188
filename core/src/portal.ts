import { ArgumentError } from './errors.js';

/** The IANA-assigned iSCSI port (RFC 7143 §13.2.4 defaults TargetAddress to it). */
export const ISCSI_DEFAULT_PORT = 3260;

/** A DNS name is at most 253 characters (RFC 1035 §2.3.4, without the final dot); addresses are shorter. */
const MAX_HOST_LENGTH = 253;

export interface Portal {
  /** A host name, an IPv4 address or an IPv6 address (without brackets). */
  readonly host: string;
  readonly port: number;
  /** Target portal group tag, when the text carried one (",tpgt" in SendTargets/TargetAddress, §13.8). */
  readonly portalGroupTag?: number | undefined;
}

/**
 * Parses "host[:port][,tpgt]" where host may be a DNS name, an IPv4 address, or an IPv6 address in brackets
 * (RFC 7143 §13.8: TargetAddress=domainname[:port][,portal-group-tag], IPv6 as in RFC 3986 "[addr]").
 * A bare IPv6 address without brackets is accepted too when it cannot be confused with a port.
 */
export function parsePortal(text: string, defaultPort = ISCSI_DEFAULT_PORT): Portal {
  const input = text.trim();
  if (input === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'empty portal address');
  let rest = input;
  let portalGroupTag: number | undefined;
  const comma = rest.lastIndexOf(',');
  if (comma >= 0) {
    portalGroupTag = parseInteger(rest.slice(comma + 1), 0, 0xffff, 'portal group tag', input);
    rest = rest.slice(0, comma);
  }
  let host: string;
  let port = defaultPort;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad(input, 'unclosed "[" in IPv6 address');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(input, 'expected ":port" after "]"');
      port = parseInteger(after.slice(1), 1, 0xffff, 'port', input);
    }
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    host = rest; // bare IPv6, no port
  } else {
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    if (colon >= 0) port = parseInteger(rest.slice(colon + 1), 1, 0xffff, 'port', input);
  }
  // Control characters (NUL above all) would reach the resolver and fail there as an internal error.
  if (host === '' || /[\s/@?#\u0000-\u001f\u007f]/.test(host)) throw bad(input, 'missing or invalid host');
  if (host.length > MAX_HOST_LENGTH) throw bad(input, `host longer than ${MAX_HOST_LENGTH} characters`);
  return portalGroupTag === undefined ? { host, port } : { host, port, portalGroupTag };
}

/** "host:port" with IPv6 in brackets, as iscsiadm and TargetAddress print it. */
export function formatPortal(portal: Portal, withTag = false): string {
  const host = portal.host.includes(':') ? `[${portal.host}]` : portal.host;
  const tag = withTag && portal.portalGroupTag !== undefined ? `,${portal.portalGroupTag}` : '';
  return `${host}:${portal.port}${tag}`;
}

function parseInteger(text: string, min: number, max: number, what: string, input: string): number {
  if (!/^\d{1,5}$/.test(text)) throw bad(input, `invalid ${what} "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw bad(input, `${what} ${n} out of range ${min}..${max}`);
  return n;
}

function bad(input: string, why: string): ArgumentError {
  // JSON-quoted and clipped: the message stays one short printable line whatever the input holds.
  return new ArgumentError('ISCSI_BAD_ARGUMENT', `bad portal ${JSON.stringify(input.length > 64 ? `${input.slice(0, 64)}…` : input)}: ${why}`);
}
