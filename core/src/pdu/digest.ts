/**
 * CRC32C digests (RFC 7143 §11.2.3, §13.1) over the hardware-accelerated @node-rs/crc32.
 *
 * Wire byte order: the CRC register is sent least-significant byte first. RFC 3720 appendix B.4 lists the digest of
 * 32 zero bytes as the byte sequence "aa 36 91 8a", i.e. the value 0x8a9136aa written little-endian; libiscsi writes
 * and reads the header and data digests the same way. So `writeDigest` is a little-endian write, unlike every other
 * multi-byte iSCSI field (which is big-endian).
 */

import { crc32c as crc32cNative } from '@node-rs/crc32';

export interface DigestOptions {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
}

/** Both digests off: the state of every connection during the Login Phase (§13.1). */
export const NO_DIGESTS: DigestOptions = Object.freeze({ headerDigest: false, dataDigest: false });

export const DIGEST_LENGTH = 4;

/** CRC32C of the concatenation of `bufs`, computed without concatenating them. */
export function crc32c(...bufs: Buffer[]): number {
  let crc = 0;
  for (const b of bufs) crc = crc32cNative(b, crc);
  return crc >>> 0;
}

/** Writes a digest in wire byte order (least-significant byte first, see above). */
export function writeDigest(value: number, target: Buffer, offset: number): void {
  target.writeUInt32LE(value >>> 0, offset);
}

/** Reads a digest written by `writeDigest`. */
export function readDigest(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset);
}
