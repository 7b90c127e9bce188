// The Targets command's view under a test stand-in for `@raycast/api` (./raycast-stand-in.tsx): only the UI module
// is stood in, because Raycast itself does not run on Linux. Issue 13, Targets: "a list of the node database, grouped
// by portal. Log in and log out by pressing Enter on a node … Toggle automatic login. Set CHAP credentials in a form.
// The secret goes to the daemon's secret store through the API, never to Raycast's preferences or logs. Delete a node."
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChapForm, validateChap } from '../../src/components/chap-form';
import { TargetsList, type TargetActions } from '../../src/components/targets-list';
import type { NodeRow } from '../../src/lib/model';
import { groups, MEDIA, NAS, nodeRow, PROBLEM, session } from './fixtures';
import { press, recorded, renderView, resetRecorded, type Rendered } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

let view: Rendered | undefined;
beforeEach(() => resetRecorded());
afterEach(() => view?.unmount());

function actions(calls: string[] = []): TargetActions {
  const name = (r: NodeRow) => r.node.targetName.split(':')[1];
  return {
    onToggleSession: (r) => calls.push(`toggle ${name(r)}`),
    onToggleAutomatic: (r) => calls.push(`automatic ${name(r)}`),
    onDelete: (r) => calls.push(`delete ${name(r)}`),
    chapForm: (r) => `chap form of ${name(r)}`,
    discover: () => 'discover form',
    onReload: () => calls.push('reload'),
  };
}

describe('Targets view', () => {
  it('loading: a spinner, no empty screen yet', () => {
    view = renderView(<TargetsList state={{ isLoading: true }} actions={actions()} />);
    expect(view.frame()).toContain('List | [loading]');
    expect(view.frame()).not.toContain('No targets yet');
  });

  it('empty: no node yet — offers Discover Targets', async () => {
    view = renderView(<TargetsList state={{ isLoading: false, data: [] }} actions={actions()} />);
    expect(view.frame()).toContain('(empty) No targets yet | Discover the targets a portal offers first.');
    await press('Discover Targets');
    expect(recorded.pushed).toEqual(['discover form']);
  });

  it('error and daemon unavailable: a reason, or the one screen on starting iscsid', () => {
    view = renderView(
      <TargetsList
        state={{ isLoading: false, error: 'ISCSI_RPC_CLOSED: the daemon closed the connection' }}
        actions={actions()}
      />,
    );
    expect(view.frame()).toContain(
      '(empty) Could not list targets | ISCSI_RPC_CLOSED: the daemon closed the connection',
    );
    view.rerender(<TargetsList state={{ isLoading: false, problem: PROBLEM }} actions={actions()} />);
    expect(view.frame()).toContain('# iscsid is not available');
    expect(view.frame()).toContain(PROBLEM.hint);
  });

  it('nodes grouped by portal, each with its session state, automatic tag and CHAP key', () => {
    const data = groups(
      nodeRow(NAS, '192.168.1.10:3260', { automatic: true, chap: true, session: session(1, NAS) }),
      nodeRow(MEDIA, '192.168.1.10:3260'),
      nodeRow('iqn.2003-01.org.linux-iscsi.lab:scratch', '[fd00::5]:3260', {
        session: session(2, 'iqn.2003-01.org.linux-iscsi.lab:scratch', 'recovering', 'reconnecting'),
      }),
    );
    view = renderView(<TargetsList state={{ isLoading: false, data }} actions={actions()} />);
    const frame = view.frame();
    expect(frame).toContain('§ 192.168.1.10:3260 | 2');
    expect(frame).toContain('§ [fd00::5]:3260 | 1');
    expect(frame).toContain(`• ${NAS} | Connected | icon=CheckCircle/green | [icon=Key, #automatic]`);
    expect(frame).toContain(`• ${MEDIA} | Not connected | icon=Circle | [#manual]`);
    expect(frame).toContain(
      '• iqn.2003-01.org.linux-iscsi.lab:scratch | Reconnecting | icon=ArrowClockwise/orange | [#manual]',
    );
  });

  it('Enter (the first action) logs out a connected node and logs in a disconnected one; the other actions are there', async () => {
    const calls: string[] = [];
    view = renderView(
      <TargetsList
        state={{ isLoading: false, data: groups(nodeRow(NAS, 'p:3260', { session: session(1, NAS) })) }}
        actions={actions(calls)}
      />,
    );
    const first = /> ([^\n|]+)/.exec(view.frame())?.[1]?.trim();
    expect(first).toBe('Log out');
    await press('Log out');
    view.rerender(
      <TargetsList
        state={{ isLoading: false, data: groups(nodeRow(NAS, 'p:3260', { automatic: true })) }}
        actions={actions(calls)}
      />,
    );
    expect(/> ([^\n|]+)/.exec(view.frame())?.[1]?.trim()).toBe('Log in');
    await press('Log in');
    await press('Turn off Automatic Login');
    await press('Delete Node');
    await press('Set CHAP Credentials');
    expect(calls).toEqual(['toggle nas.backup', 'toggle nas.backup', 'automatic nas.backup', 'delete nas.backup']);
    expect(recorded.pushed).toEqual(['chap form of nas.backup']);
    expect(view.frame()).toContain('> Delete Node | (destructive)');
  });
});

describe('CHAP form', () => {
  it('shows the node and the stored user name; the secret field starts empty and says where it is kept', () => {
    const row = nodeRow(NAS, '192.168.1.10:3260', { chap: true });
    view = renderView(<ChapForm node={row.node} onSubmit={async () => true} />);
    const frame = view.frame();
    expect(frame).toContain(`[text] Target | ${NAS} / 192.168.1.10:3260`);
    expect(frame).toContain('[field username] User Name | placeholder: CHAP user name | value: alice');
    expect(frame).toContain('[password secret] Secret | placeholder: Stored by iscsid, never by Raycast');
  });

  it('refuses an empty user name or secret in the form, and hands a valid pair to the daemon call unchanged', async () => {
    expect(validateChap({ username: ' ', secret: '' })).toEqual({
      username: 'A user name is required',
      secret: 'A secret is required',
    });
    const submitted: unknown[] = [];
    const row = nodeRow(NAS, 'p:3260');
    view = renderView(<ChapForm node={row.node} onSubmit={async (v) => (submitted.push(v), true)} />);
    await press('submit:Save Credentials', { username: '', secret: '' });
    await vi.waitFor(() => expect(view!.frame()).toContain('error: A user name is required'));
    expect(view.frame()).toContain('error: A secret is required');
    await press('submit:Save Credentials', { username: ' alice ', secret: 's3cret-s3cret' });
    expect(submitted).toEqual([{ username: 'alice', secret: 's3cret-s3cret' }]);
    // The secret is never shown back: not in the frame, not in a toast.
    expect(view.frame()).not.toContain('s3cret');
    expect(JSON.stringify(recorded.toasts)).not.toContain('s3cret');
  });

  it('a second submit while saving does not save again (issue 13: each action once)', async () => {
    let calls = 0;
    let finish!: (ok: boolean) => void;
    const row = nodeRow(NAS, 'p:3260');
    view = renderView(
      <ChapForm node={row.node} onSubmit={() => (calls++, new Promise<boolean>((resolve) => (finish = resolve)))} />,
    );
    const values = { username: 'alice', secret: 's3cret-s3cret' };
    const first = press('submit:Save Credentials', values);
    const second = press('submit:Save Credentials', values);
    expect(calls).toBe(1);
    finish(true);
    await Promise.all([first, second]);
    // Once that save has ended, the form saves again when asked.
    const third = press('submit:Save Credentials', values);
    expect(calls).toBe(2);
    finish(true);
    await third;
  });
});
