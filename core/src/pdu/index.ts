// The PDU layer (RFC 7143 §11): types, codec, digests, framing. No I/O.
export * from './types.js';
export {
  BHS_LENGTH,
  decodePdu,
  describeOpcode,
  encodePdu,
  encodePduToBuffer,
  opcodeCarriesData,
  opcodeName,
  opcodeSide,
  type Side,
} from './codec.js';
export { DIGEST_LENGTH, NO_DIGESTS, crc32c, readDigest, writeDigest, type DigestOptions } from './digest.js';
export { DEFAULT_FRAMER_OPTIONS, PduFramer, type FramerOptions } from './framer.js';
export { parseAhsList, type AhsSegment } from './ahs.js';
