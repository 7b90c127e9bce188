// The menu-bar command's view under a test stand-in for `@raycast/api` (./raycast-stand-in.tsx): only the UI module
// is stood in, because Raycast itself does not run on Linux. Issue 13, Menu bar: "An icon that shows at a glance
// whether every automatic node is logged in: all up, some down, or recovering. One item per session and per
// disconnected node, to connect or disconnect. 'Log in all automatic' and 'Log out all'. Opens the Sessions command."
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MenuBarView, type MenuBarActions } from '../../src/components/menu-bar-view';
import { groups, MEDIA, NAS, nodeRow, PROBLEM, session } from './fixtures';
import { press, renderView, resetRecorded, type Rendered } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

let view: Rendered | undefined;
beforeEach(() => resetRecorded());
afterEach(() => view?.unmount());

function actions(calls: string[] = []): MenuBarActions {
  return {
    onToggleSession: (r) => calls.push(`toggle ${r.node.targetName}`),
    onLoginAllAutomatic: () => calls.push('login all'),
    onLogoutAll: () => calls.push('logout all'),
    onOpenSessions: () => calls.push('open sessions'),
    onReload: () => calls.push('reload'),
  };
}

describe('Menu bar', () => {
  it('all up: every automatic node logged in → a green icon', () => {
    view = renderView(
      <MenuBarView
        state={{
          isLoading: false,
          data: groups(nodeRow(NAS, 'p:3260', { automatic: true, session: session(1, NAS) })),
        }}
        actions={actions()}
      />,
    );
    expect(view.frame()).toContain(
      'MenuBar | icon=HardDrive/green | tooltip: iSCSI: every automatic target is connected',
    );
  });

  it('some down: an automatic node without a session → red, and it is offered under Not Connected', () => {
    const data = groups(
      nodeRow(NAS, 'p:3260', { automatic: true, session: session(1, NAS) }),
      nodeRow(MEDIA, 'p:3260', { automatic: true }),
    );
    view = renderView(<MenuBarView state={{ isLoading: false, data }} actions={actions()} />);
    expect(view.frame()).toContain('MenuBar | icon=HardDrive/red');
    expect(view.frame()).toMatch(/## Not Connected\n\s+- nas\.media \| automatic \| icon=Circle/);
  });

  it('recovering: an automatic session reconnecting → orange, the session item says so', () => {
    view = renderView(
      <MenuBarView
        state={{
          isLoading: false,
          data: groups(nodeRow(NAS, 'p:3260', { automatic: true, session: session(1, NAS, 'recovering') })),
        }}
        actions={actions()}
      />,
    );
    expect(view.frame()).toContain('MenuBar | icon=HardDrive/orange | tooltip: iSCSI: reconnecting');
    expect(view.frame()).toContain('- nas.backup | Reconnecting | icon=ArrowClockwise/orange');
  });

  it('empty: no node at all → the plain icon, "No sessions", and the bulk items', () => {
    view = renderView(<MenuBarView state={{ isLoading: false, data: [] }} actions={actions()} />);
    expect(view.frame()).toContain('MenuBar | icon=HardDrive | tooltip: iSCSI: no automatic targets');
    expect(view.frame()).toContain('- No sessions | (disabled)');
    expect(view.frame()).not.toContain('Not Connected');
  });

  it('loading and daemon unavailable', async () => {
    const calls: string[] = [];
    view = renderView(<MenuBarView state={{ isLoading: true }} actions={actions(calls)} />);
    expect(view.frame()).toContain('MenuBar | [loading]');
    view.rerender(<MenuBarView state={{ isLoading: false, problem: PROBLEM }} actions={actions(calls)} />);
    expect(view.frame()).toContain(`- iscsid is not available | ${PROBLEM.message}`);
    await press('Try Again');
    expect(calls).toEqual(['reload']);
  });

  it('each item acts: a session logs out, a disconnected node logs in, the bulk items and Open Sessions', async () => {
    const calls: string[] = [];
    const data = groups(
      nodeRow(NAS, 'p:3260', { automatic: true, session: session(1, NAS) }),
      nodeRow(MEDIA, 'p:3260'),
    );
    view = renderView(<MenuBarView state={{ isLoading: false, data }} actions={actions(calls)} />);
    await press('nas.backup');
    await press('nas.media');
    await press('Log In All Automatic');
    await press('Log Out All');
    await press('Open Sessions');
    expect(calls).toEqual([`toggle ${NAS}`, `toggle ${MEDIA}`, 'login all', 'logout all', 'open sessions']);
  });
});
