// Why the daemon cannot be reached, as one screen's worth of text: the connect failures of RpcClient (docs/api.md,
// "A client that cannot reach the daemon at all") mapped to DaemonProblem, never a stack trace.
import { existsSync } from 'node:fs';
import type { DaemonProblem } from './model';

/** How to get a daemon going: the installed launchd job (docs/install.md), the package, or a checkout. */
const START_HINT =
  'Installed: start it with `sudo launchctl kickstart system/io.github.iscsi-initiator.iscsid`. ' +
  'Not installed: install the iscsi-initiator package (docs/install.md), or from a checkout run ' +
  '`npm install && npm run build`, then `sudo npx iscsid`. ' +
  'If it listens elsewhere, set **Daemon Socket** in the extension preferences.';

/** The problem an error from connecting (or from a connection that then closed) means; undefined when it is not one. */
export function problemFrom(error: unknown, socketPath: string): DaemonProblem | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case 'ISCSI_DAEMON_NOT_RUNNING':
      // RpcClient says the same for "no such file" and "nobody listening": the socket file tells them apart.
      return existsSync(socketPath)
        ? {
            kind: 'refused',
            socketPath,
            message: `iscsid's socket ${socketPath} exists but refuses connections: the daemon stopped or crashed.`,
            hint: `${START_HINT} A new iscsid replaces the stale socket file.`,
          }
        : {
            kind: 'not-running',
            socketPath,
            message: `iscsid is not running (no socket at ${socketPath}).`,
            hint: START_HINT,
          };
    case 'ISCSI_CONNECTION_CLOSED':
      return {
        kind: 'not-running',
        socketPath,
        message: 'iscsid closed the connection: the daemon stopped.',
        hint: START_HINT,
      };
    case 'ISCSI_CONNECTION_REFUSED':
      return {
        kind: 'refused',
        socketPath,
        message: 'iscsid refused the connection: it has as many clients as it allows.',
        hint: 'Close other iscsiadm or Raycast commands that are watching it, then try again.',
      };
    case 'ISCSI_TIMEOUT':
      return {
        kind: 'refused',
        socketPath,
        message: `iscsid did not answer on ${socketPath}.`,
        hint: 'The daemon may be stuck: restart it (`sudo npx iscsid` after stopping the old one).',
      };
    case 'ISCSI_NOT_PERMITTED':
      return {
        kind: 'permission',
        socketPath,
        message: `You may not use iscsid's socket ${socketPath}.`,
        hint: 'Start iscsid with `--group` naming a group you are in (the socket is mode 0660), or run it as your user with its own `--socket`.',
      };
    default:
      return undefined;
  }
}

/** A daemon that answers but speaks another protocol, or is not iscsid at all. */
export function incompatible(socketPath: string, what: string): DaemonProblem {
  return {
    kind: 'incompatible',
    socketPath,
    message: `The daemon on ${socketPath} ${what}.`,
    hint: 'Update the extension and iscsid together: both come from the same checkout of iscsi-initiator.',
  };
}
