/**
 * CRC32C digests (RFC 7143 §11.2.3, §13.1) over the hardware-accelerated @node-rs/crc32.
 *
 * Wire byte order: the CRC register is sent least-significant byte first. RFC 3720 appendix B.4 lists the digest of
 * 32 zero bytes as the byte sequence "aa 36 91 8a", i.e. the value 0x8a9136aa written little-endian; libiscsi writes
 * and reads the header and data digests the same way. So `writeDigest` is a little-endian write, unlike every other
 * multi-byte iSCSI field (which is big-endian).
 */

import { createRequire } from 'node:module';
import { requireBesideExecutable } from '../single-executable.js';

type Crc32c = (input: Buffer, initial?: number) => number;
/** Loaded on the first digest, not at import: a command whose connections use no digest never pays for the dlopen. */
let crc32cNative: Crc32c | undefined;
function native(): Crc32c {
  // A single executable ships the addon's .node file beside the binary (installer/sea).
  crc32cNative ??= (requireBesideExecutable<{ crc32c: Crc32c }>('crc32.node') ?? (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c: Crc32c })).crc32c;
  return crc32cNative;
}

export interface DigestOptions {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
}

/** Both digests off: the state of every connection during the Login Phase (§13.1). */
export const NO_DIGESTS: DigestOptions = Object.freeze({ headerDigest: false, dataDigest: false });

export const DIGEST_LENGTH = 4;

/** CRC32C of the concatenation of `bufs`, computed without concatenating them. */
export function crc32c(...bufs: Buffer[]): number {
  const f = crc32cNative ?? native();
  let crc = 0;
  for (const b of bufs) crc = f(b, crc);
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
