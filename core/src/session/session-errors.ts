import { ProtocolError, ScsiError, TransportError, type IscsiError } from '../errors.js';
import type { Pdu } from '../pdu/types.js';

/** The errors the session core ends commands with, one code per cause. */

export function unexpectedPdu(pdu: Pdu): ProtocolError {
  const itt = 'itt' in pdu ? ` for ITT 0x${pdu.itt.toString(16)}` : '';
  return new ProtocolError('ISCSI_PDU_UNEXPECTED', `unexpected PDU opcode 0x${pdu.opcode.toString(16)}${itt}`);
}

/** A command ABORT TASK ended: a timeout if it ran out its time, else an abort someone asked for. */
export function abortedError(opcode: number, timedOut: boolean, commandTimeoutMs: number, how: string): IscsiError {
  if (timedOut) return new TransportError('ISCSI_COMMAND_TIMEOUT', `SCSI command 0x${hex2(opcode)} timed out after ${commandTimeoutMs} ms and was aborted (${how})`);
  return new ScsiError('ISCSI_TASK_ABORTED', `SCSI command 0x${hex2(opcode)} was aborted (${how})`);
}

export function neverSentError(opcode: number, commandTimeoutMs: number): IscsiError {
  return new TransportError('ISCSI_COMMAND_TIMEOUT', `SCSI command 0x${hex2(opcode)} waited ${commandTimeoutMs} ms for the target's command window and was never sent`);
}

export function replacementError(replacementTimeoutMs: number): IscsiError {
  return new TransportError(
    'ISCSI_REPLACEMENT_TIMEOUT',
    replacementTimeoutMs === 0
      ? 'connection to the target lost (replacement_timeout is 0: commands fail at once)'
      : `target unreachable for ${replacementTimeoutMs / 1000} s (replacement_timeout)`,
    { hint: 'the session keeps trying to reconnect; check the network and the target' },
  );
}

export function noProgressError(relogins: number): IscsiError {
  return new TransportError(
    'ISCSI_RECOVERY_NO_PROGRESS',
    `the target accepted ${relogins} logins in a row but dropped the connection each time before any command completed`,
    { hint: 'the target fails on these commands; check its logs (the session keeps trying to reconnect)' },
  );
}

export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
