/** One set of counters per session, kept across every connection it has had (the daemon's stats, `lun bench`). */
export interface SessionCounters {
  /** Commands completed with a response (any SCSI status). */
  commands: number;
  bytesRead: number;
  bytesWritten: number;
  nopInAnswered: number;
  unitAttentions: number;
  busyRetries: number;
  /** Every timeout: command, task management, NOP-Out ping, logout, replacement. */
  timeouts: number;
  taskManagement: number;
  asyncEvents: number;
  rejects: number;
  /** Connections lost while logged in. */
  connectionFailures: number;
  /** Successful re-logins after a lost connection. */
  reconnects: number;
  /** Commands re-issued on a new connection. */
  retriedCommands: number;
  digestErrors: number;
  /** Milliseconds spent without a connection, from each loss to its re-login (or to the end of the session). */
  recoveryMs: number;
  /** Times the waiting commands were failed because re-logins made no progress. */
  noProgressFailures: number;
}

export function newSessionCounters(): SessionCounters {
  return {
    commands: 0,
    bytesRead: 0,
    bytesWritten: 0,
    nopInAnswered: 0,
    unitAttentions: 0,
    busyRetries: 0,
    timeouts: 0,
    taskManagement: 0,
    asyncEvents: 0,
    rejects: 0,
    connectionFailures: 0,
    reconnects: 0,
    retriedCommands: 0,
    digestErrors: 0,
    recoveryMs: 0,
    noProgressFailures: 0,
  };
}
