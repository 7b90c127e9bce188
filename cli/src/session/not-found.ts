import { RpcError } from '@iscsi-initiator/core';

/**
 * The daemon answers an unknown sid with ISCSI_BAD_ARGUMENT "no session N"; open-iscsi exits 2
 * (ISCSI_ERR_SESS_NOT_FOUND) for that, so scripts can tell "gone" from "malformed".
 */
export function isSessionNotFound(err: unknown): err is RpcError {
  return err instanceof RpcError && err.code === 'ISCSI_BAD_ARGUMENT' && /^no session \d+/.test(err.message);
}
