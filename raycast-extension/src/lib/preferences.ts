// The extension's one preference (package.json `preferences`): where iscsid's socket is.
import { getPreferenceValues } from '@raycast/api';
import { DEFAULT_SOCKET_PATH } from '@iscsi-initiator/core/rpc';

interface Preferences {
  readonly socketPath?: string;
}

/** The socket path from the preferences; the daemon's default when the field is empty. */
export function socketPath(): string {
  const value = getPreferenceValues<Preferences>().socketPath?.trim();
  return value === undefined || value === '' ? DEFAULT_SOCKET_PATH : value;
}
