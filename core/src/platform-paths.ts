/**
 * Where iscsid keeps its files, per platform: the one place the daemon, its --help, the CLI and the docs read them
 * from. Plain constants and one pure function, no imports: the CLI and client bundles may read this file.
 *
 *                 macOS                                             Linux
 *   state dir     /Library/Application Support/iscsi-initiator     /var/lib/iscsi-initiator
 *   secrets dir   /Library/Application Support/iscsi-initiator/secrets   /etc/iscsi-initiator/secrets
 *   log file      /Library/Logs/iscsi-initiator/iscsid.log          /var/log/iscsi-initiator/iscsid.log
 *
 * The secrets dir is used only where there is no Keychain; it is never the state dir (docs/security.md).
 */

export interface DaemonPaths {
  /** The node database (nodes.json), including the initiator name. */
  readonly stateDir: string;
  /** secrets.json where there is no Keychain. */
  readonly secretsDir: string;
  /** Where the service definition (launchd, systemd) sends iscsid's output, or `iscsid --log-file`. */
  readonly logFile: string;
}

const DARWIN: DaemonPaths = Object.freeze({
  stateDir: '/Library/Application Support/iscsi-initiator',
  secretsDir: '/Library/Application Support/iscsi-initiator/secrets',
  logFile: '/Library/Logs/iscsi-initiator/iscsid.log',
});

const OTHER: DaemonPaths = Object.freeze({
  stateDir: '/var/lib/iscsi-initiator',
  secretsDir: '/etc/iscsi-initiator/secrets',
  logFile: '/var/log/iscsi-initiator/iscsid.log',
});

/** The default paths of a platform (process.platform's by default). */
export function defaultDaemonPaths(platform: string = process.platform): DaemonPaths {
  return platform === 'darwin' ? DARWIN : OTHER;
}

/** $ISCSID_STATE_DIR overrides the state dir for the daemon and for the CLI reading the initiator name from it. */
export const STATE_DIR_ENV = 'ISCSID_STATE_DIR';
/** $ISCSID_SOCKET overrides the socket path for the daemon and every client. */
export const SOCKET_ENV = 'ISCSID_SOCKET';

/** The node database's file in the state dir (`nodes.json`); it also holds the initiator name. */
export const NODE_DB_FILE_NAME = 'nodes';
