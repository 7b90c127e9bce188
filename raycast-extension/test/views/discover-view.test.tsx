// The Discover command's form and result list under a test stand-in for `@raycast/api` (./raycast-stand-in.tsx):
// only the UI module is stood in, because Raycast itself does not run on Linux. Issue 13, Discover: "A portal, with
// optional discovery CHAP. The targets it offers, each with a log-in action."
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiscoveredList, DiscoverForm, validatePortal, type DiscoverValues } from '../../src/components/discover-form';
import { MEDIA, NAS } from './fixtures';
import { press, renderView, resetRecorded, type Rendered } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

let view: Rendered | undefined;
beforeEach(() => resetRecorded());
afterEach(() => view?.unmount());

describe('Discover form', () => {
  it('asks for a portal and offers discovery CHAP behind a checkbox', () => {
    view = renderView(<DiscoverForm isLoading={false} onSubmit={async () => undefined} />);
    expect(view.frame()).toContain('[field portal] Portal | placeholder: nas.local or 192.168.1.10:3260');
    expect(view.frame()).toContain('[checkbox useChap] The portal asks for CHAP | value: false');
    expect(view.frame()).not.toContain('[password secret]');
    expect(view.frame()).toContain('> Discover | submit');
  });

  it('RFC 7143 §13.7 portal forms: host, host:port, [IPv6]:port; a bad one is refused in the form, not sent', async () => {
    expect(validatePortal('nas.local')).toBeUndefined();
    expect(validatePortal('192.168.1.10:3260')).toBeUndefined();
    expect(validatePortal('[fd00::5]:3260')).toBeUndefined();
    expect(validatePortal('')).toMatch(/required/);
    expect(validatePortal('nas local')).toBe('A portal has no spaces');
    expect(validatePortal('nas:70000')).toBe('The port must be 1–65535');
    const sent: DiscoverValues[] = [];
    view = renderView(<DiscoverForm isLoading={false} onSubmit={async (v) => void sent.push(v)} />);
    await press('submit:Discover', { portal: 'nas:0', useChap: false });
    await vi.waitFor(() => expect(view!.frame()).toContain('error: The port must be 1–65535'));
    expect(sent).toEqual([]);
    await press('submit:Discover', { portal: ' nas.local ', useChap: false });
    expect(sent).toEqual([{ portal: 'nas.local', useChap: false, username: '', secret: '' }]);
  });

  it('a second submit while the portal is being asked does not ask again (issue 13: each action once)', async () => {
    let calls = 0;
    let finish!: () => void;
    view = renderView(
      <DiscoverForm isLoading={false} onSubmit={() => (calls++, new Promise<void>((resolve) => (finish = resolve)))} />,
    );
    const first = press('submit:Discover', { portal: 'nas.local', useChap: false });
    const second = press('submit:Discover', { portal: 'nas.local', useChap: false });
    expect(calls).toBe(1);
    finish();
    await Promise.all([first, second]);
  });

  it('shows the discovered targets, one item per portal, IPv6 in brackets, each with Log in', async () => {
    const logins: string[] = [];
    const targets = [
      {
        targetName: NAS,
        portals: [
          { address: '192.168.1.10', port: 3260, portalGroupTag: 1 },
          { address: 'fd00::5', port: 3260, portalGroupTag: 1 },
        ],
      },
      { targetName: MEDIA, portals: [{ address: '192.168.1.10', port: 3261, portalGroupTag: 2 }] },
    ];
    view = renderView(
      <DiscoveredList portal="nas.local" targets={targets} onLogin={(t, p) => logins.push(`${t} ${p}`)} />,
    );
    const frame = view.frame();
    expect(frame).toContain('List | Targets at nas.local');
    expect(frame).toContain(`§ ${NAS}`);
    expect(frame).toContain(`• [fd00::5]:3260 | ${NAS} | icon=HardDrive | [TPGT 1]`);
    expect(frame).toContain(`• 192.168.1.10:3261 | ${MEDIA} | icon=HardDrive | [TPGT 2]`);
    await press('Log in');
    expect(logins).toEqual([`${MEDIA} 192.168.1.10:3261`]);
  });

  it('a portal that offers nothing says so', () => {
    view = renderView(<DiscoveredList portal="nas.local" targets={[]} onLogin={() => undefined} />);
    expect(view.frame()).toContain('(empty) No targets | nas.local offers no targets to this initiator.');
  });
});
