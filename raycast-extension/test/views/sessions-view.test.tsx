// The Sessions command's view under a test stand-in for `@raycast/api` (./raycast-stand-in.tsx): only the UI module
// is stood in, because Raycast itself does not run on Linux; the component, React and the extension's own modules are
// real. Issue 13, Sessions: "Each session shows its state and read/write throughput … Each has its LUNs with size and
// vendor, and, once the disk exists, its /dev/diskN and mount points. Actions: log out (confirm when a volume is
// mounted), rescan, show details, copy the IQN, open the volume in Finder." Checked in each state: empty, loading,
// error, sessions up, some recovering.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionsList, type SessionActions } from '../../src/components/sessions-list';
import type { SessionRow } from '../../src/lib/model';
import { lun, NAS, MEDIA, PROBLEM, session, sessionRow } from './fixtures';
import { press, recorded, renderView, resetRecorded, type Rendered } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

let view: Rendered | undefined;
beforeEach(() => resetRecorded());
afterEach(() => view?.unmount());

function actions(calls: string[] = []): SessionActions {
  return {
    onLogout: (row: SessionRow) => calls.push(`logout ${row.session.sid}`),
    onRescan: (row: SessionRow) => calls.push(`rescan ${row.session.sid}`),
    details: (row: SessionRow) => `details of ${row.session.sid}`,
    onReload: () => calls.push('reload'),
  };
}

describe('Sessions view', () => {
  it('loading: the list shows its spinner and no "No sessions" screen before the first answer', () => {
    view = renderView(<SessionsList state={{ isLoading: true }} actions={actions()} />);
    expect(view.frame()).toContain('List | [loading]');
    expect(view.frame()).not.toContain('No sessions');
  });

  it('empty: says there is no session and where to log in', () => {
    view = renderView(<SessionsList state={{ isLoading: false, data: [] }} actions={actions()} />);
    expect(view.frame()).toContain('(empty) No sessions | Log in to a target from Targets or Discover Targets.');
  });

  it('error: the last load failed — its reason, not a stack trace', () => {
    view = renderView(
      <SessionsList
        state={{ isLoading: false, error: 'ISCSI_RPC_TIMEOUT: no answer within 5000 ms' }}
        actions={actions()}
      />,
    );
    expect(view.frame()).toContain('(empty) Could not list sessions | ISCSI_RPC_TIMEOUT: no answer within 5000 ms');
    expect(view.frame()).not.toMatch(/\n\s+at /);
  });

  it('daemon unavailable: one screen saying what is wrong and how to start iscsid, with Try Again', async () => {
    const calls: string[] = [];
    view = renderView(<SessionsList state={{ isLoading: false, problem: PROBLEM }} actions={actions(calls)} />);
    const frame = view.frame();
    expect(frame).toContain('# iscsid is not available');
    expect(frame).toContain(PROBLEM.message);
    expect(frame).toContain(PROBLEM.hint);
    expect(frame).toContain('Socket: `/var/run/iscsid.sock`');
    expect(frame).not.toContain('List');
    await press('Try Again');
    expect(calls).toEqual(['reload']);
  });

  it('sessions up: state, throughput, each LUN with size, vendor, disk and mount points; every action', async () => {
    const calls: string[] = [];
    const rows = [
      sessionRow(session(1, NAS), [lun(0, '/dev/disk4', ['/Volumes/Backup']), lun(1, null)], 12_300_000, 1_500_000),
      sessionRow(session(2, MEDIA), [lun(0, '/dev/disk5')]),
    ];
    view = renderView(<SessionsList state={{ isLoading: false, data: rows }} actions={actions(calls)} />);
    const frame = view.frame();
    expect(frame).toContain(`§ ${NAS} | 192.168.1.10:3260 · sid 1`);
    expect(frame).toMatch(/• Connected \| icon=CheckCircle\/green \| \[↓ 12\.3 MB\/s {2}↑ 1\.5 MB\/s\]/);
    expect(frame).toContain(
      '• LUN 0 | 512 GiB · SYNOLOGY iSCSI Storage | icon=HardDrive | [/dev/disk4, #/Volumes/Backup]',
    );
    expect(frame).toContain('• LUN 1 | 512 GiB · SYNOLOGY iSCSI Storage | icon=HardDrive | [no disk]');
    // No throughput before two stats samples: nothing rather than a made-up zero.
    expect(frame).toMatch(
      new RegExp(`§ ${MEDIA.replace(/\./g, '\\.')}[^\n]*\n\\s+• Connected \\| icon=CheckCircle/green\n`),
    );
    for (const action of [
      '> Show Details | push',
      '> Copy IQN | copy: ' + NAS,
      '> Open /Volumes/Backup in Finder | finder: /Volumes/Backup',
      '> Rescan LUNs',
      '> Log out | (destructive)',
    ]) {
      expect(frame).toContain(action);
    }
    await press('Show Details');
    expect(recorded.pushed.at(-1)).toBe('details of 2'); // the last rendered panel wins a title: the second session's
    await press('Log out');
    await press('Rescan LUNs');
    expect(calls).toEqual(['logout 2', 'rescan 2']);
  });

  it("some recovering: the recovering session says so in orange, with the daemon's reason", () => {
    const rows = [
      sessionRow(session(1, NAS), [lun(0, '/dev/disk4')]),
      sessionRow(session(2, MEDIA, 'recovering', 'connection lost: ECONNRESET; reconnecting'), [lun(0, '/dev/disk5')]),
    ];
    view = renderView(<SessionsList state={{ isLoading: false, data: rows }} actions={actions()} />);
    expect(view.frame()).toContain(
      '• Reconnecting | connection lost: ECONNRESET; reconnecting | icon=ArrowClockwise/orange',
    );
    expect(view.frame()).toContain('• Connected | icon=CheckCircle/green');
  });

  it('a failed session shows red with its reason', () => {
    view = renderView(
      <SessionsList
        state={{ isLoading: false, data: [sessionRow(session(3, NAS, 'failed', 'replacement_timeout expired'), [])] }}
        actions={actions()}
      />,
    );
    expect(view.frame()).toContain('• Failed | replacement_timeout expired | icon=XMarkCircle/red');
  });
});
