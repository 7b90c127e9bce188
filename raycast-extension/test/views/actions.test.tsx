// The action flows' dialogs and toasts under a test stand-in for `@raycast/api` (./raycast-stand-in.tsx): only the
// UI module is stood in, because Raycast itself does not run on Linux. The daemon here is a stand-in too, because a
// busy volume (ISCSI_VOLUME_BUSY) cannot be produced on cue in a view test; the data layer's own tests
// (test/lib/daemon.test.ts) run the same calls against a real iscsid and tgtd.
// Issue 13: "log out (confirm when a volume is mounted)"; "a toast that says what happened"; no-view commands "each
// ending with a HUD message".
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { bulkMessage, logOutSession, shortName, toggleNodeSession } from '../../src/hooks/actions';
import type { Daemon } from '../../src/lib/daemon';
import { lun, NAS, nodeRow, session, sessionRow } from './fixtures';
import { recorded, resetRecorded } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

beforeEach(() => resetRecorded());

/** Only what these flows call; each answer scripted. */
function daemonAnswering(logout: (force: boolean) => Promise<void>, calls: string[]): Daemon {
  return {
    logout: (sid: number, options?: { force?: boolean }) => (
      calls.push(`logout ${sid}${options?.force ? ' force' : ''}`),
      logout(options?.force === true)
    ),
    login: async (t: string, p: string) => (calls.push(`login ${t} ${p}`), session(9, t)),
    sessionRows: async () => [sessionRow(session(1, NAS), [lun(0, '/dev/disk4', ['/Volumes/Backup'])])],
  } as unknown as Daemon;
}
const busy = Object.assign(new Error('/Volumes/Backup (disk4s1) is in use by Finder'), { code: 'ISCSI_VOLUME_BUSY' });

describe('Log out', () => {
  it('no volume mounted: no question asked; a success toast names the target', async () => {
    const calls: string[] = [];
    expect(
      await logOutSession(
        daemonAnswering(async () => undefined, calls),
        session(1, NAS),
        [],
      ),
    ).toBe(true);
    expect(recorded.alerts).toEqual([]);
    expect(calls).toEqual(['logout 1']);
    expect(recorded.toasts).toEqual([{ style: 'success', title: 'Logged out of nas.backup' }]);
  });

  it('a volume mounted: confirm first, naming it; declined → nothing is logged out', async () => {
    const calls: string[] = [];
    recorded.alertAnswers = [false];
    expect(
      await logOutSession(
        daemonAnswering(async () => undefined, calls),
        session(1, NAS),
        ['/Volumes/Backup'],
      ),
    ).toBe(false);
    expect(recorded.alerts).toEqual([
      { title: 'Log out of nas.backup?', message: '/Volumes/Backup will be unmounted first.' },
    ]);
    expect(calls).toEqual([]);
  });

  it('the volume is busy: the daemon refuses, the user is asked about a forced unmount, and yes forces it', async () => {
    const calls: string[] = [];
    recorded.alertAnswers = [true, true];
    const daemon = daemonAnswering(async (force) => (force ? undefined : Promise.reject(busy)), calls);
    expect(await logOutSession(daemon, session(1, NAS), ['/Volumes/Backup'])).toBe(true);
    expect(calls).toEqual(['logout 1', 'logout 1 force']);
    expect(recorded.alerts[1]?.title).toBe('A volume is in use');
    expect(recorded.alerts[1]?.message).toContain('/Volumes/Backup (disk4s1) is in use by Finder');
    expect(recorded.toasts.at(-1)).toEqual({ style: 'success', title: 'Logged out of nas.backup' });
  });

  it('the volume is busy and the user keeps it: still logged in, and a toast says why', async () => {
    const calls: string[] = [];
    recorded.alertAnswers = [true, false];
    const daemon = daemonAnswering(async () => Promise.reject(busy), calls);
    expect(await logOutSession(daemon, session(1, NAS), ['/Volumes/Backup'])).toBe(false);
    expect(calls).toEqual(['logout 1']);
    expect(recorded.toasts.at(-1)).toMatchObject({ style: 'failure', title: 'Still logged in to nas.backup' });
  });

  it("any other refusal: a failure toast with the daemon's reason", async () => {
    const calls: string[] = [];
    const gone = Object.assign(new Error('no session 1'), { code: 'ISCSI_SESSION_NOT_FOUND' });
    expect(
      await logOutSession(
        daemonAnswering(async () => Promise.reject(gone), calls),
        session(1, NAS),
        [],
      ),
    ).toBe(false);
    expect(recorded.toasts.at(-1)).toMatchObject({ style: 'failure', title: 'Logout of nas.backup failed' });
    expect(recorded.toasts.at(-1)?.message).toContain('no session 1');
  });
});

describe('Enter on a node', () => {
  it('logs in when there is no session, with a toast saying so', async () => {
    const calls: string[] = [];
    expect(
      await toggleNodeSession(
        daemonAnswering(async () => undefined, calls),
        nodeRow(NAS, 'p:3260'),
      ),
    ).toBe(true);
    expect(calls).toEqual([`login ${NAS} p:3260`]);
    expect(recorded.toasts).toEqual([{ style: 'success', title: 'Logged in to nas.backup' }]);
  });

  it('logs out a connected node, confirming first when its disk has a mounted volume (as in Sessions)', async () => {
    const calls: string[] = [];
    recorded.alertAnswers = [false];
    const row = nodeRow(NAS, 'p:3260', { session: session(1, NAS) });
    expect(
      await toggleNodeSession(
        daemonAnswering(async () => undefined, calls),
        row,
      ),
    ).toBe(false);
    expect(recorded.alerts).toEqual([
      { title: 'Log out of nas.backup?', message: '/Volumes/Backup will be unmounted first.' },
    ]);
    expect(calls).toEqual([]);
  });
});

describe('HUD lines of the no-view commands', () => {
  it('say what succeeded and name the first failure', () => {
    expect(bulkMessage({ succeeded: 2, failed: [] }, 'Connected', 'target')).toBe('Connected 2 targets');
    expect(bulkMessage({ succeeded: 1, failed: [] }, 'Disconnected', 'session')).toBe('Disconnected 1 session');
    expect(bulkMessage({ succeeded: 0, failed: [] }, 'Connected', 'target')).toBe('No automatic target to connect');
    expect(bulkMessage({ succeeded: 0, failed: [] }, 'Disconnected', 'session')).toBe('No session to disconnect');
    expect(
      bulkMessage(
        {
          succeeded: 1,
          failed: [
            { name: NAS, error: 'ISCSI_LOGIN_AUTH_FAILED' },
            { name: 'x', error: 'y' },
          ],
        },
        'Connected',
        'target',
      ),
    ).toBe('Connected 1 of 3; nas.backup: ISCSI_LOGIN_AUTH_FAILED (+1 more)');
    expect(shortName('iqn.2000-01.com.synology:nas.backup')).toBe('nas.backup');
    expect(shortName('eui.0123456789abcdef')).toBe('eui.0123456789abcdef');
  });
});
