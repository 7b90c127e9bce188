// The Targets list as it looks: the node database grouped by portal; Enter logs in or out. The command
// (targets.tsx) loads and acts.
import { Action, ActionPanel, Color, Icon, List } from '@raycast/api';
import type { ReactNode } from 'react';
import type { Loadable } from '../hooks/use-daemon';
import type { NodeRow, PortalGroup } from '../lib/model';
import { sessionStateIcon, sessionStateLabel } from './look';
import { DaemonProblemView } from './problem-view';

export interface TargetActions {
  readonly onToggleSession: (row: NodeRow) => void;
  readonly onToggleAutomatic: (row: NodeRow) => void;
  readonly onDelete: (row: NodeRow) => void;
  /** The CHAP form pushed by "Set CHAP Credentials". */
  readonly chapForm: (row: NodeRow) => ReactNode;
  /** The Discover command's form, offered when the database is empty. */
  readonly discover: () => ReactNode;
  readonly onReload: () => void;
}

export function nodeAccessories(row: NodeRow): List.Item.Accessory[] {
  return [
    ...(row.chapConfigured ? [{ icon: Icon.Key, tooltip: 'CHAP credentials set' }] : []),
    row.automatic
      ? { tag: { value: 'automatic', color: Color.Blue }, tooltip: 'Logs in when iscsid starts' }
      : { tag: 'manual', tooltip: 'Logs in only when asked' },
  ];
}

export function TargetsList({ state, actions }: { state: Loadable<PortalGroup[]>; actions: TargetActions }) {
  if (state.problem) return <DaemonProblemView problem={state.problem} onRetry={actions.onReload} />;
  const groups = state.data ?? [];
  return (
    <List isLoading={state.isLoading} searchBarPlaceholder="Filter targets by name or portal">
      {state.error ? (
        <List.EmptyView icon={Icon.ExclamationMark} title="Could not list targets" description={state.error} />
      ) : groups.length === 0 && !state.isLoading ? (
        <List.EmptyView
          icon={Icon.MagnifyingGlass}
          title="No targets yet"
          description="Discover the targets a portal offers first."
          actions={
            <ActionPanel>
              <Action.Push title="Discover Targets" icon={Icon.MagnifyingGlass} target={actions.discover()} />
            </ActionPanel>
          }
        />
      ) : null}
      {groups.map((group) => (
        <List.Section key={group.portal} title={group.portal} subtitle={`${group.nodes.length}`}>
          {group.nodes.map((row) => (
            <List.Item
              key={`${row.node.targetName}@${row.node.portal}`}
              title={row.node.targetName}
              subtitle={row.session ? sessionStateLabel(row.session.state) : 'Not connected'}
              icon={row.session ? sessionStateIcon(row.session.state) : { source: Icon.Circle }}
              keywords={[row.node.portal]}
              accessories={nodeAccessories(row)}
              actions={<NodeActionPanel row={row} actions={actions} />}
            />
          ))}
        </List.Section>
      ))}
    </List>
  );
}

function NodeActionPanel({ row, actions }: { row: NodeRow; actions: TargetActions }) {
  return (
    <ActionPanel title={row.node.targetName}>
      <Action
        title={row.session ? 'Log out' : 'Log in'}
        icon={row.session ? Icon.Eject : Icon.Plug}
        onAction={() => actions.onToggleSession(row)}
      />
      <Action
        title={row.automatic ? 'Turn off Automatic Login' : 'Turn on Automatic Login'}
        icon={Icon.Repeat}
        shortcut={{ modifiers: ['cmd'], key: 't' }}
        onAction={() => actions.onToggleAutomatic(row)}
      />
      <Action.Push
        title="Set CHAP Credentials"
        icon={Icon.Key}
        shortcut={{ modifiers: ['cmd', 'shift'], key: 'k' }}
        target={actions.chapForm(row)}
      />
      <Action.CopyToClipboard title="Copy IQN" content={row.node.targetName} />
      <Action
        title="Delete Node"
        icon={Icon.Trash}
        style={Action.Style.Destructive}
        shortcut={{ modifiers: ['ctrl'], key: 'x' }}
        onAction={() => actions.onDelete(row)}
      />
    </ActionPanel>
  );
}
