import { createHash } from 'node:crypto';

/**
 * The ISID (RFC 7143 §11.12.5) names the initiator side of a session. It must stay the same for the same initiator
 * and target portal group so that a re-login reinstates the session instead of creating a second one (§4.4.3,
 * session reinstatement). We derive it from a hash, so it is stable across restarts without being stored.
 *
 * Format "Random" (T = 0b10, §10.12.5 of RFC 3720 / §11.12.5): T(2) A(6)=0, B(16), C(8) random, D(16) qualifier.
 */
export function deriveIsid(initiatorName: string, targetName: string, portal: string, qualifier = 0): bigint {
  const digest = createHash('sha256').update(`${initiatorName}\0${targetName}\0${portal}`).digest();
  const b = digest.readUInt16BE(0);
  const c = digest.readUInt8(2);
  const d = (digest.readUInt16BE(3) + qualifier) & 0xffff;
  return (0x80n << 40n) | (BigInt(b) << 24n) | (BigInt(c) << 16n) | BigInt(d);
}

export function formatIsid(isid: bigint): string {
  return isid.toString(16).padStart(12, '0');
}
