import { ArgumentError } from '@iscsi-initiator/core';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * A byte size as fio and dd write it: `512`, `4k`, `128K`, `1m`, `4MiB`, `2g`, `1.5m`. Every unit is binary (k = 1024),
 * as for block sizes nobody means 1000; an optional `i`/`b`/`ib` suffix is accepted. The result is a whole number of
 * bytes no larger than Number.MAX_SAFE_INTEGER.
 */
export function parseSize(text: string, what = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} "${text}" is not a size (examples: 512, 4k, 128k, 1m, 4MiB)`);
  const bytes = Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${what} "${text}" is not a whole number of bytes below 8 PiB`);
  return bytes;
}

/** The shortest exact form of a byte count: 4096 → "4KiB", 1536 → "1536B", 1048576 → "1MiB". */
export function formatSize(bytes: number): string {
  for (const [unit, name] of [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${name}`;
  }
  return `${bytes}B`;
}
