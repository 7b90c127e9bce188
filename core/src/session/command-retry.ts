import { ScsiError } from '../errors.js';
import { describeSense, SenseKey } from '../scsi/sense.js';
import { ScsiStatus } from '../scsi/status.js';
import type { Sense } from '../scsi/sense.js';
import type { ScsiRequest, ScsiResult } from './scsi-task.js';

/** What SCSI users need of a session (IscsiSession provides it; tests and the bench use in-memory ones). */
export interface ScsiCommandPath {
  /** Resolves with any SCSI status; rejects on transport/protocol failure. */
  execute(request: ScsiRequest): Promise<ScsiResult>;
  /** Resolves on GOOD; other statuses become ScsiError (UNIT ATTENTION and BUSY retried first). */
  command(request: ScsiRequest): Promise<ScsiResult>;
}

/** Each pending UNIT ATTENTION condition is reported once; a few in a row (power on, then parameters changed) are normal. */
export const MAX_UNIT_ATTENTION_RETRIES = 4;

export interface RetryHooks {
  /** BUSY / TASK SET FULL retries (exponential backoff from 5 ms to 1 s). */
  readonly busyRetries: number;
  onUnitAttention(lun: number, sense: Sense): void;
  onBusyRetry(): void;
}

/**
 * What `command()` adds to `execute()`: a status other than GOOD becomes a ScsiError with the decoded sense; a UNIT
 * ATTENTION (SAM-5 §5.14: reported once per I_T nexus after login, reset or a change) is surfaced and the command
 * retried; BUSY and TASK SET FULL are retried after an exponential backoff.
 */
export async function executeWithRetries(
  execute: (request: ScsiRequest) => Promise<ScsiResult>,
  request: ScsiRequest,
  hooks: RetryHooks,
): Promise<ScsiResult> {
  let unitAttentions = 0;
  let busy = 0;
  for (;;) {
    const result = await execute(request);
    if (result.status === ScsiStatus.Good) return result;
    if (result.status === ScsiStatus.CheckCondition && result.sense?.senseKey === SenseKey.UnitAttention && unitAttentions < MAX_UNIT_ATTENTION_RETRIES) {
      unitAttentions++;
      hooks.onUnitAttention(request.lun, result.sense);
      continue;
    }
    if ((result.status === ScsiStatus.Busy || result.status === ScsiStatus.TaskSetFull) && busy < hooks.busyRetries) {
      hooks.onBusyRetry();
      await new Promise((r) => setTimeout(r, Math.min(1000, 5 * 2 ** busy++)));
      continue;
    }
    throw scsiStatusError(result);
  }
}

export function scsiStatusError(result: ScsiResult): ScsiError {
  const sense = result.sense;
  const status = `0x${result.status.toString(16).padStart(2, '0')}`;
  if (result.status === ScsiStatus.CheckCondition && sense) {
    return new ScsiError('ISCSI_SCSI_CHECK_CONDITION', `CHECK CONDITION: ${describeSense(sense)}`, {
      status: result.status,
      senseKey: sense.senseKey,
      asc: sense.asc,
      ascq: sense.ascq,
    });
  }
  return new ScsiError('ISCSI_SCSI_STATUS', `SCSI status ${status}`, { status: result.status });
}
