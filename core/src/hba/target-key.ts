// The stable key of an HBA target (iscsi_hba_create_target_in.key): "A stable name for the session (e.g.
// "iqn.…,portal-group-tag"): NUL-padded UTF-8, at least one byte. The same key gets the same target ID, so the SCSI
// stack sees the same disk after the daemon reconnects or restarts."
import { ArgumentError } from '../errors.js';
import { HBA_CONSTANTS } from './abi.js';

/** The key of a node's session: its target name and portal group tag (RFC 7143 §4.2.1: the session's target side). */
export function hbaTargetKey(targetName: string, portalGroupTag: number): string {
  return checkHbaTargetKey(`${targetName},${portalGroupTag}`);
}

/** Refuses a key the header forbids: empty, a NUL inside (the padding), or over TARGET_KEY_SIZE bytes of UTF-8. */
export function checkHbaTargetKey(key: string): string {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0 || bytes > HBA_CONSTANTS.TARGET_KEY_SIZE || key.includes('\0')) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `HBA target key of ${bytes} bytes: 1 to ${HBA_CONSTANTS.TARGET_KEY_SIZE} bytes of UTF-8 without NUL`);
  }
  return key;
}
