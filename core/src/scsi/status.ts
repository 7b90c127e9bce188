/** SCSI status codes (SAM-5 §5.3.1), carried in the SCSI Response PDU's Status field (RFC 7143 §11.4.2). */

export const ScsiStatus = {
  Good: 0x00,
  CheckCondition: 0x02,
  ConditionMet: 0x04,
  Busy: 0x08,
  ReservationConflict: 0x18,
  TaskSetFull: 0x28,
  AcaActive: 0x30,
  TaskAborted: 0x40,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

const NAMES: ReadonlyMap<number, string> = new Map([
  [ScsiStatus.Good, 'GOOD'],
  [ScsiStatus.CheckCondition, 'CHECK CONDITION'],
  [ScsiStatus.ConditionMet, 'CONDITION MET'],
  [ScsiStatus.Busy, 'BUSY'],
  [ScsiStatus.ReservationConflict, 'RESERVATION CONFLICT'],
  [ScsiStatus.TaskSetFull, 'TASK SET FULL'],
  [ScsiStatus.AcaActive, 'ACA ACTIVE'],
  [ScsiStatus.TaskAborted, 'TASK ABORTED'],
]);

/** "CHECK CONDITION", or "STATUS 0x.." for a code SAM does not define (or made obsolete). */
export function scsiStatusName(status: number): string {
  return NAMES.get(status) ?? `STATUS 0x${(status & 0xff).toString(16).padStart(2, '0')}`;
}

export function isScsiStatus(status: number): status is ScsiStatus {
  return NAMES.has(status);
}
