/**
 * iSCSI names (RFC 7143 §4.2.7): "iqn." yyyy-mm "." reversed domain [":" anything], "eui." 16 hex, or "naa." 16/32 hex.
 * Names are compared case-insensitively after RFC 3722 stringprep, which maps to lower case; we insist on it.
 */
export function isValidIscsiName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > 223) return false;
  if (/^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[^\s]*)?$/.test(name)) return true;
  return /^eui\.[0-9A-F]{16}$/i.test(name) || /^naa\.([0-9A-F]{16}|[0-9A-F]{32})$/i.test(name);
}

/** The naming authority for names we generate: the project's reversed domain, dated when the name was taken. */
export const NAMING_AUTHORITY = 'iqn.2026-11.io.github.iscsi-initiator';
