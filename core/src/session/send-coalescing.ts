/**
 * Opt-in (SessionOptions.coalesce, `lun bench --coalesce`). Measured against tgtd on loopback (2 cores, 4 KiB random
 * reads at QD32): the initiator's user+sys CPU per I/O falls by about 30%, but IOPS fell 6-18%, because tgtd then
 * sometimes runs out of work while responses wait in our socket; so it is off by default.
 *
 * Send coalescing under load, the initiator's counterpart of an HBA's interrupt coalescing. At a deep queue each
 * completion frees one slot, and sending its replacement at once costs one socket write (and one read at the target)
 * per command: on loopback that kernel work is most of the CPU an I/O costs. While the target still holds plenty of
 * our commands, a freed command may wait for a few more and leave with them in one write; the target never runs dry,
 * because it is only done while at least `lowWater` commands are already there.
 */
export interface SendCoalescing {
  /** Hold new commands only while at least this many are at the target. */
  readonly lowWater: number;
  /** Hold at most this many; the next one sends them all. */
  readonly batch: number;
}

/** Queue depths below this gain little and would trade latency for it: no coalescing. */
const MIN_QUEUE_DEPTH = 8;

/** The policy for a queue depth: hold while half the queue is at the target, in batches of a quarter of it. */
export function sendCoalescingFor(queueDepth: number): SendCoalescing | undefined {
  if (queueDepth < MIN_QUEUE_DEPTH) return undefined;
  return { lowWater: queueDepth >> 1, batch: queueDepth >> 2 };
}
