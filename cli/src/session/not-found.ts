import { isIscsiError, type IscsiError } from '@iscsi-initiator/core/rpc';

/**
 * iscsid answers an unknown sid with ISCSI_SESSION_NOT_FOUND; open-iscsi exits 2 (ISCSI_ERR_SESS_NOT_FOUND) for that,
 * so scripts can tell "gone" from "malformed".
 */
export function isSessionNotFound(err: unknown): err is IscsiError {
  return isIscsiError(err) && err.code === 'ISCSI_SESSION_NOT_FOUND';
}
