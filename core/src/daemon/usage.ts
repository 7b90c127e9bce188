import { DEFAULT_SOCKET_PATH } from '../defaults.js';
import { defaultDaemonPaths, SOCKET_ENV, STATE_DIR_ENV } from '../platform-paths.js';

/** iscsid --help: every option, with the defaults this platform uses (core/src/platform-paths.ts). */
export function usage(platform: string = process.platform): string {
  const paths = defaultDaemonPaths(platform);
  return `usage: iscsid [--socket PATH] [--state-dir DIR] [--secrets-dir DIR] [--log-file FILE] [--log-level LEVEL] [--group GID] [--trust-socket-group] [--hba dext|simulator|none] [--hba-socket PATH] [--hba-sim BINARY]
  --socket              JSON-RPC socket (default ${DEFAULT_SOCKET_PATH}, or $${SOCKET_ENV})
  --state-dir           node database and initiator name (default ${paths.stateDir}, or $${STATE_DIR_ENV})
  --secrets-dir         CHAP secrets where there is no Keychain: a 0600 file (default ${paths.secretsDir})
  --log-file            append logs to FILE instead of stdout (the service definition uses ${paths.logFile})
  --log-level           trace, debug, info (default), warn, error
  --group               numeric group that may use the socket (mode 0660)
  --trust-socket-group  where peer credentials cannot be read, allow changes from anyone who can open the socket
  --hba                 the disks' HBA: dext (macOS's driver extension), simulator (driver/sim), none (default ${platform === 'darwin' ? 'dext' : 'none'})
  --hba-socket          the simulator's socket (default <state-dir>/hba.sock); one is started there if none answers
  --hba-sim             the simulator's binary (default driver/build/sim/iscsi-hba-sim, or $ISCSI_HBA_SIM)
`;
}
