// "Connect All Automatic" and "Disconnect All": one daemon call each, and one line for the HUD that says what
// happened — also when the daemon is not there.
import { DaemonUnavailableError, openDaemon, type Daemon } from '../lib/daemon';
import { socketPath } from '../lib/preferences';
import { describeError } from '../lib/status';
import { bulkMessage } from './actions';

export type BulkKind = 'connect-all' | 'disconnect-all';

/** Runs the bulk action on `daemon`; the HUD text of its outcome. */
export async function bulkOn(daemon: Daemon, kind: BulkKind): Promise<string> {
  try {
    if (kind === 'connect-all') return bulkMessage(await daemon.loginAllAutomatic(), 'Connected', 'target');
    return bulkMessage(await daemon.logoutAll(), 'Disconnected', 'session');
  } catch (e) {
    return `${kind === 'connect-all' ? 'Connect' : 'Disconnect'} failed: ${describeError(e)}`;
  }
}

/** Opens the daemon for one bulk action (the no-view commands): the HUD text, never a throw. */
export async function runBulk(kind: BulkKind, path: string = socketPath()): Promise<string> {
  let daemon: Daemon;
  try {
    daemon = await openDaemon(path);
  } catch (e) {
    return e instanceof DaemonUnavailableError ? e.problem.message : describeError(e);
  }
  try {
    return await bulkOn(daemon, kind);
  } finally {
    daemon.close();
  }
}
