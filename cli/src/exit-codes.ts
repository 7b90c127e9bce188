import { isTimeoutCode, type IscsiErrorCode } from '@iscsi-initiator/core/rpc';

/**
 * open-iscsi's exit codes (its include/iscsi_err.h), reused so scripts written for Linux keep working. Listed in
 * every command's --help.
 */
export const ExitCode = {
  Success: 0,
  Generic: 1,
  SessionNotFound: 2,
  Transport: 4,
  Database: 6,
  Login: 5,
  InvalidArgument: 7,
  TransportTimeout: 8,
  Internal: 9,
  Logout: 10,
  PduTimeout: 11,
  Access: 13,
  SessionExists: 15,
  DaemonCommunication: 18,
  FatalLogin: 19,
  DaemonNotConnected: 20,
  NoObjectsFound: 21,
  AuthFailed: 24,
  Busy: 28,
} as const;

export function exitCodeFor(code: IscsiErrorCode | undefined): number {
  if (code === undefined) return ExitCode.Generic;
  if (code === 'ISCSI_DAEMON_NOT_RUNNING') return ExitCode.DaemonNotConnected;
  if (code === 'ISCSI_NOT_PERMITTED') return ExitCode.Access;
  // open-iscsi's ISCSI_ERR_ISCSID_COMM_ERR: something answers on the socket, but not a daemon we may talk to.
  if (code === 'ISCSI_DAEMON_NOT_TRUSTED') return ExitCode.DaemonCommunication;
  // open-iscsi's ISCSI_ERR_IDBM: the node database (here also the secret store) could not be used.
  if (code === 'ISCSI_STORAGE_FULL' || code === 'ISCSI_STORAGE_FAILED' || code === 'ISCSI_STORAGE_UNSAFE') return ExitCode.Database;
  if (code === 'ISCSI_SESSION_NOT_FOUND') return ExitCode.SessionNotFound;
  if (code === 'ISCSI_SESSION_EXISTS') return ExitCode.SessionExists;
  if (code === 'ISCSI_NODE_NOT_FOUND' || code === 'ISCSI_SECRET_NOT_FOUND') return ExitCode.NoObjectsFound;
  if (code === 'ISCSI_LOGIN_AUTH_FAILED' || code === 'ISCSI_LOGIN_AUTHORIZATION_FAILED' || code.startsWith('ISCSI_CHAP_')) return ExitCode.AuthFailed;
  // Every timeout kind (connect, login, NOP, command, task management, replacement, recovery without progress).
  if (isTimeoutCode(code)) return ExitCode.TransportTimeout;
  if (code === 'ISCSI_LOGIN_SERVICE_UNAVAILABLE' || code === 'ISCSI_LOGIN_OUT_OF_RESOURCES' || code === 'ISCSI_LOGIN_TARGET_ERROR') return ExitCode.Login;
  if (code.startsWith('ISCSI_LOGIN_')) return ExitCode.FatalLogin;
  if (code === 'ISCSI_BAD_URL' || code === 'ISCSI_BAD_ARGUMENT') return ExitCode.InvalidArgument;
  if (code === 'ISCSI_LOGOUT_FAILED') return ExitCode.Logout;
  // open-iscsi's ISCSI_ERR_BUSY: a device or resource in use (here a mounted volume on the session's LUNs).
  if (code === 'ISCSI_VOLUME_BUSY') return ExitCode.Busy;
  if (code.startsWith('ISCSI_CONNECTION_') || code === 'ISCSI_HOST_NOT_FOUND' || code.startsWith('ISCSI_PDU_') || code.startsWith('ISCSI_TEXT_') || code.startsWith('ISCSI_NEGOTIATION_')) {
    return ExitCode.Transport;
  }
  return ExitCode.Generic;
}

export const EXIT_CODES_HELP = [
  '0 success',
  '1 error',
  '2 no such session',
  '4 connection or protocol error',
  '6 the daemon\'s storage failed (disk full, I/O error, unsafe file or folder)',
  '5 login failed, may succeed later',
  '7 invalid argument',
  '8 timed out',
  '13 not permitted (needs root)',
  '15 already logged in (session exists)',
  '18 the socket\'s server is not a trusted iscsid (not root)',
  '19 login failed for good (no such target, not allowed)',
  '20 iscsid is not running',
  '21 no records found (no such node, no stored secret)',
  '24 authentication failed',
  '28 busy: a volume on the session\'s LUNs is in use',
]
  .map((line) => `  ${line}`)
  .join('\n');
