// What each action does, with its toast: the daemon does the work, these say what happened. A refused logout of a
// busy volume offers a forced one, after a second confirmation that names the volume.
import { Alert, confirmAlert, showToast, Toast } from '@raycast/api';
import type { Daemon } from '../lib/daemon';
import type { BulkOutcome, NodeRow, SessionInfo, SessionRow } from '../lib/model';
import { describeError } from '../lib/status';

/** The daemon's typed error code, when it has one (docs/api.md, Errors). */
function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The daemon's own first line: for a busy volume it names the volume and who holds it (docs/api.md, Errors). */
function daemonMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message.split('\n', 1)[0]! : describeError(error);
}

/** A short name for a target in toasts: the part of the IQN after the colon, or the whole name. */
export function shortName(targetName: string): string {
  const colon = targetName.lastIndexOf(':');
  return colon >= 0 && colon < targetName.length - 1 ? targetName.slice(colon + 1) : targetName;
}

/** Runs one daemon call under an animated toast that ends in success or failure. Resolves whether it succeeded. */
export async function withToast(working: string, done: string, work: () => Promise<unknown>): Promise<boolean> {
  const toast = await showToast({ style: Toast.Style.Animated, title: working });
  try {
    await work();
    toast.style = Toast.Style.Success;
    toast.title = done;
    return true;
  } catch (e) {
    toast.style = Toast.Style.Failure;
    toast.title = `${working.replace(/…$/, '')} failed`;
    toast.message = describeError(e);
    return false;
  }
}

/** Every mounted volume of a session's disks. */
export function mountedVolumes(row: SessionRow): string[] {
  return row.luns.flatMap((l) => [...l.mountPoints]);
}

/**
 * Logs a session out. With a volume mounted the user confirms first (the daemon unmounts it before logging out); a
 * volume the daemon cannot unmount (ISCSI_VOLUME_BUSY) is offered a forced unmount, confirmed again.
 */
export async function logOutSession(
  daemon: Daemon,
  session: SessionInfo,
  volumes: readonly string[],
): Promise<boolean> {
  const name = shortName(session.targetName);
  if (volumes.length > 0) {
    const ok = await confirmAlert({
      title: `Log out of ${name}?`,
      message: `${volumes.join(', ')} will be unmounted first.`,
      primaryAction: { title: 'Unmount and Log Out', style: Alert.ActionStyle.Destructive },
    });
    if (!ok) return false;
  }
  const toast = await showToast({ style: Toast.Style.Animated, title: `Logging out of ${name}…` });
  try {
    await daemon.logout(session.sid);
  } catch (e) {
    if (errorCode(e) !== 'ISCSI_VOLUME_BUSY') return fail(toast, `Logout of ${name} failed`, e);
    toast.hide();
    const force = await confirmAlert({
      title: 'A volume is in use',
      message: `${daemonMessage(e)}\n\nForce the unmount? Applications with open files on it may lose unsaved data.`,
      primaryAction: { title: 'Force Unmount and Log Out', style: Alert.ActionStyle.Destructive },
    });
    if (!force) {
      await showToast({ style: Toast.Style.Failure, title: `Still logged in to ${name}`, message: daemonMessage(e) });
      return false;
    }
    return withToast(`Logging out of ${name}…`, `Logged out of ${name}`, () =>
      daemon.logout(session.sid, { force: true }),
    );
  }
  toast.style = Toast.Style.Success;
  toast.title = `Logged out of ${name}`;
  return true;
}

function fail(toast: Toast, title: string, error: unknown): false {
  toast.style = Toast.Style.Failure;
  toast.title = title;
  toast.message = describeError(error);
  return false;
}

/** Enter on a node: log in when it has no session, log out when it has one. */
export async function toggleNodeSession(daemon: Daemon, row: NodeRow): Promise<boolean> {
  const name = shortName(row.node.targetName);
  if (row.session) {
    // The same confirmation as in Sessions when a volume is mounted: on a Mac the daemon would unmount it politely.
    const sid = row.session.sid;
    const volumes = (await daemon.sessionRows()).find((r) => r.session.sid === sid);
    return logOutSession(daemon, row.session, volumes ? mountedVolumes(volumes) : []);
  }
  return withToast(`Logging in to ${name}…`, `Logged in to ${name}`, () =>
    daemon.login(row.node.targetName, row.node.portal),
  );
}

export async function deleteNode(daemon: Daemon, row: NodeRow): Promise<boolean> {
  const name = shortName(row.node.targetName);
  const ok = await confirmAlert({
    title: `Delete ${name}?`,
    message: `The node ${row.node.targetName} at ${row.node.portal} and its settings are forgotten.`,
    primaryAction: { title: 'Delete', style: Alert.ActionStyle.Destructive },
  });
  if (!ok) return false;
  return withToast(`Deleting ${name}…`, `Deleted ${name}`, () =>
    daemon.deleteNode(row.node.targetName, row.node.portal),
  );
}

/** The HUD line after a bulk action: what succeeded, and the first failure named. */
export function bulkMessage(outcome: BulkOutcome, verb: 'Connected' | 'Disconnected', noun: string): string {
  const total = outcome.succeeded + outcome.failed.length;
  if (total === 0) return verb === 'Connected' ? `No automatic ${noun} to connect` : `No ${noun} to disconnect`;
  const plural = (n: number) => `${n} ${noun}${n === 1 ? '' : 's'}`;
  if (outcome.failed.length === 0) return `${verb} ${plural(outcome.succeeded)}`;
  const first = outcome.failed[0]!;
  const more = outcome.failed.length > 1 ? ` (+${outcome.failed.length - 1} more)` : '';
  return `${verb} ${outcome.succeeded} of ${total}; ${shortName(first.name)}: ${first.error}${more}`;
}
