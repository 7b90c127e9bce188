/**
 * Serial number arithmetic (RFC 1982, SERIAL_BITS = 32), which RFC 7143 §4.2.2.1 requires for CmdSN, StatSN,
 * DataSN and R2TSN comparisons so that the numbers may wrap around 2^32.
 */

const HALF = 0x80000000;

/** a + n modulo 2^32. */
export function serialAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** RFC 1982 §3.2: a < b when the distance from a to b, modulo 2^32, is in (0, 2^31). */
export function serialLt(a: number, b: number): boolean {
  const d = (b - a) >>> 0;
  return d !== 0 && d < HALF;
}

export function serialLte(a: number, b: number): boolean {
  return a === b || serialLt(a, b);
}

export function serialGt(a: number, b: number): boolean {
  return serialLt(b, a);
}

/** Distance from a forward to b modulo 2^32 (b - a), as a non-negative number. */
export function serialDistance(a: number, b: number): number {
  return (b - a) >>> 0;
}
