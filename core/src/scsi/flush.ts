import { synchronizeCache10 } from './cdb.js';
import type { ScsiCommander } from './commander.js';

/**
 * SYNCHRONIZE CACHE (10) over the whole LUN (SBC-3 §5.22: LBA 0 and 0 blocks mean "to the end of the medium"), so the
 * target has on stable storage what it acknowledged — before a logout or a detach.
 */
export async function flushLun(session: ScsiCommander, lun: number): Promise<void> {
  await session.command({ lun, cdb: synchronizeCache10({}) });
}
