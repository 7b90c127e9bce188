// Shared workload shapes for integration tests against any target.

/**
 * Splits [0, total) into chunks of 1 … maxBlocks blocks on a log scale — mostly small and odd sizes, sometimes large —
 * deliberately not aligned to any burst size. Seeded, so a failure replays.
 */
export function mixedChunks(total: number, seed: number, options: { blockSize?: number; maxBlocks?: number } = {}): Array<{ offset: number; length: number }> {
  const blockSize = options.blockSize ?? 512;
  const maxBlocks = options.maxBlocks ?? 8192;
  const scale = Math.log2(maxBlocks) * 100;
  let x = seed >>> 0 || 1;
  const next = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0), x);
  const chunks: Array<{ offset: number; length: number }> = [];
  for (let offset = 0; offset < total; ) {
    const blocks = Math.max(1, Math.min(maxBlocks, Math.round(2 ** ((next() % scale) / 100))));
    const length = Math.min(blocks * blockSize, total - offset);
    chunks.push({ offset, length });
    offset += length;
  }
  return chunks;
}

/** Runs `fn` over the items with `depth` of them in flight at once. */
export async function inParallel<T>(items: readonly T[], depth: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: depth }, worker));
}
