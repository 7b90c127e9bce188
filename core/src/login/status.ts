import { LoginError, type IscsiErrorCode } from '../errors.js';

/** Login Response status classes (RFC 7143 §11.13.5). */
export const StatusClass = { Success: 0, Redirection: 1, InitiatorError: 2, TargetError: 3 } as const;

interface StatusInfo {
  readonly name: string;
  readonly code: IscsiErrorCode;
  readonly hint: string;
}

/** §11.13.5 status class/detail table, named as in the RFC, with what a person can do about each. */
const STATUS: ReadonlyMap<number, StatusInfo> = new Map([
  [0x0200, { name: 'Initiator error', code: 'ISCSI_LOGIN_INITIATOR_ERROR', hint: 'the target rejected the login request; check the target name and settings' }],
  [0x0201, { name: 'Authentication failure', code: 'ISCSI_LOGIN_AUTH_FAILED', hint: 'authentication failed: check the CHAP user name and secret' }],
  [0x0202, { name: 'Authorization failure', code: 'ISCSI_LOGIN_AUTHORIZATION_FAILED', hint: 'this initiator is not allowed to access the target: check the target\'s ACL for this initiator name or address' }],
  [0x0203, { name: 'Not found', code: 'ISCSI_LOGIN_TARGET_NOT_FOUND', hint: 'no such target at this portal: run discovery to see the targets it offers' }],
  [0x0204, { name: 'Target removed', code: 'ISCSI_LOGIN_TARGET_REMOVED', hint: 'the target was removed from this portal' }],
  [0x0205, { name: 'Unsupported version', code: 'ISCSI_LOGIN_UNSUPPORTED_VERSION', hint: 'the target does not speak iSCSI version 0 (RFC 7143)' }],
  [0x0206, { name: 'Too many connections', code: 'ISCSI_LOGIN_TOO_MANY_CONNECTIONS', hint: 'the target refuses more connections: log out other sessions to it' }],
  [0x0207, { name: 'Missing parameter', code: 'ISCSI_LOGIN_MISSING_PARAMETER', hint: 'the target expected a key we did not send' }],
  [0x0208, { name: 'Can\'t include in session', code: 'ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION', hint: 'the target cannot add this connection to the session' }],
  [0x0209, { name: 'Session type not supported', code: 'ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED', hint: 'the target does not support this session type' }],
  [0x020a, { name: 'Session does not exist', code: 'ISCSI_LOGIN_SESSION_DOES_NOT_EXIST', hint: 'the session to reinstate no longer exists on the target' }],
  [0x020b, { name: 'Invalid during login', code: 'ISCSI_LOGIN_INVALID_DURING_LOGIN', hint: 'the target saw a request that is invalid during login' }],
  [0x0300, { name: 'Target error', code: 'ISCSI_LOGIN_TARGET_ERROR', hint: 'the target failed; try again later or check its logs' }],
  [0x0301, { name: 'Service unavailable', code: 'ISCSI_LOGIN_SERVICE_UNAVAILABLE', hint: 'the target is temporarily unavailable; try again later' }],
  [0x0302, { name: 'Out of resources', code: 'ISCSI_LOGIN_OUT_OF_RESOURCES', hint: 'the target is out of resources; try again later' }],
]);

/** The typed error for a Login Response whose status class is 2 (initiator error) or 3 (target error). */
export function loginStatusError(statusClass: number, statusDetail: number): LoginError {
  const status = { statusClass, statusDetail };
  const value = (statusClass << 8) | statusDetail;
  const hex = `0x${value.toString(16).padStart(4, '0')}`;
  const known = STATUS.get(value);
  if (known) return new LoginError(known.code, `login failed: ${known.name} (${hex})`, status, { hint: known.hint });
  // Unknown details fall back to their class (§11.13.5: the class alone says who is at fault).
  const target = statusClass === StatusClass.TargetError;
  return new LoginError(
    target ? 'ISCSI_LOGIN_TARGET_ERROR' : 'ISCSI_LOGIN_INITIATOR_ERROR',
    `login failed: ${target ? 'Target error' : 'Initiator error'} (${hex})`,
    status,
  );
}

/** A readable name for any status value, for logs and events. */
export function loginStatusName(statusClass: number, statusDetail: number): string {
  const value = (statusClass << 8) | statusDetail;
  if (value === 0) return 'Success';
  if (value === 0x0101) return 'Target moved temporarily';
  if (value === 0x0102) return 'Target moved permanently';
  return STATUS.get(value)?.name ?? `status 0x${value.toString(16).padStart(4, '0')}`;
}
