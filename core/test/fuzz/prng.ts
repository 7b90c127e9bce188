/**
 * The fuzzer's only source of randomness: sfc32 (Chris Doty-Humphrey's Small Fast Counter), 32-bit arithmetic so it
 * is fast in JS and gives the same stream on every platform. Every case gets its own generator, seeded from
 * (run seed, target, case index), so one failing case can be regenerated alone.
 *
 * Plain erasable TypeScript only (no enums, namespaces or parameter properties): scripts/fuzz.mjs loads this file
 * with Node's type stripping.
 */

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    // splitmix32 spreads one 32-bit seed over the 128-bit state; 12 rounds mix it in.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n); n ≥ 1 and ≤ 2^32. */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in [min, max], both inclusive. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  bool(p = 0.5): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick from an empty list'); // a harness bug, not a finding
    return items[this.int(items.length)]!;
  }

  /** One of `choices`, each with its weight. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = (this.u32() / 0x100000000) * total;
    for (const [w, value] of choices) {
      if (r < w) return value;
      r -= w;
    }
    return choices[choices.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** A 32-bit value biased towards the edges that break parsers and serial arithmetic. */
  interestingU32(): number {
    return this.bool(0.6) ? this.pick(INTERESTING_U32) : this.u32();
  }

  /** A new generator whose stream does not overlap this one's in practice. */
  fork(): Rng {
    return new Rng(this.u32() ^ 0x5bd1e995);
  }
}

export const INTERESTING_U32: readonly number[] = [
  0, 1, 2, 3, 4, 7, 8, 0x0f, 0x10, 0x1f, 0x20, 0x30, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0x3ff, 0x400,
  0xfff, 0x1000, 0x2000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x40000, 0xfffff, 0xffffff, 0x1000000, 0x7fffffff,
  0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
];

/** FNV-1a over a string: stable target identifiers for seeding. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The seed of case `index` of `target` in a run seeded with `seed`: any case can be rebuilt without the others. */
export function caseSeed(seed: number, target: string, index: number): number {
  let h = (seed ^ fnv1a(target)) >>> 0;
  h = Math.imul(h ^ index, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca77);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae3d);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Parses a seed given as decimal or 0x-hex (command lines, environment variables). */
export function parseSeed(text: string): number {
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`seed ${JSON.stringify(text)} is not a 32-bit unsigned integer`);
  return n;
}
