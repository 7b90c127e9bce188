// The menu-bar status: one icon for "every automatic node is up / some down / recovering", one item per session and
// per disconnected node, the bulk actions, and a way to the Sessions command.
import { Icon, MenuBarExtra } from '@raycast/api';
import type { Loadable } from '../hooks/use-daemon';
import type { NodeRow, PortalGroup } from '../lib/model';
import { menuBarStatus } from '../lib/status';
import { shortName } from '../hooks/actions';
import { menuBarIcon, menuBarTooltip, sessionStateIcon, sessionStateLabel } from './look';

export interface MenuBarActions {
  readonly onToggleSession: (row: NodeRow) => void;
  readonly onLoginAllAutomatic: () => void;
  readonly onLogoutAll: () => void;
  readonly onOpenSessions: () => void;
  readonly onReload: () => void;
}

export function MenuBarView({ state, actions }: { state: Loadable<PortalGroup[]>; actions: MenuBarActions }) {
  if (state.problem) {
    return (
      <MenuBarExtra isLoading={state.isLoading} icon={{ source: Icon.HardDrive }} tooltip={state.problem.message}>
        <MenuBarExtra.Item title="iscsid is not available" subtitle={state.problem.message} />
        <MenuBarExtra.Item title="Try Again" onAction={actions.onReload} />
      </MenuBarExtra>
    );
  }
  const groups = state.data ?? [];
  const status = menuBarStatus(groups);
  const rows = groups.flatMap((g) => g.nodes);
  const connected = rows.filter((r) => r.session !== null);
  const disconnected = rows.filter((r) => r.session === null);
  return (
    <MenuBarExtra isLoading={state.isLoading} icon={menuBarIcon(status)} tooltip={menuBarTooltip(status)}>
      {state.error ? <MenuBarExtra.Item title="Could not read the daemon" subtitle={state.error} /> : null}
      <MenuBarExtra.Section title="Sessions">
        {connected.length === 0 ? <MenuBarExtra.Item title="No sessions" /> : null}
        {connected.map((r) => (
          <MenuBarExtra.Item
            key={`${r.node.targetName}@${r.node.portal}`}
            title={shortName(r.node.targetName)}
            subtitle={sessionStateLabel(r.session!.state)}
            icon={sessionStateIcon(r.session!.state)}
            tooltip={`Log out of ${r.node.targetName} at ${r.node.portal}`}
            onAction={() => actions.onToggleSession(r)}
          />
        ))}
      </MenuBarExtra.Section>
      {disconnected.length > 0 ? (
        <MenuBarExtra.Section title="Not Connected">
          {disconnected.map((r) => (
            <MenuBarExtra.Item
              key={`${r.node.targetName}@${r.node.portal}`}
              title={shortName(r.node.targetName)}
              subtitle={r.automatic ? 'automatic' : undefined}
              icon={{ source: Icon.Circle }}
              tooltip={`Log in to ${r.node.targetName} at ${r.node.portal}`}
              onAction={() => actions.onToggleSession(r)}
            />
          ))}
        </MenuBarExtra.Section>
      ) : null}
      <MenuBarExtra.Section>
        <MenuBarExtra.Item title="Log In All Automatic" icon={Icon.Plug} onAction={actions.onLoginAllAutomatic} />
        <MenuBarExtra.Item title="Log Out All" icon={Icon.Eject} onAction={actions.onLogoutAll} />
        <MenuBarExtra.Item title="Open Sessions" icon={Icon.List} onAction={actions.onOpenSessions} />
      </MenuBarExtra.Section>
    </MenuBarExtra>
  );
}
