// The Sessions list as it looks: each session with its state and live throughput, its LUNs with size, vendor, disk
// and mount points. It only shows what it is given; the command (sessions.tsx) loads and acts.
import { Action, ActionPanel, Icon, List, Keyboard } from '@raycast/api';
import type { ReactNode } from 'react';
import type { Loadable } from '../hooks/use-daemon';
import type { LunRow, SessionRow } from '../lib/model';
import { formatBytes, formatRate } from '../lib/status';
import { sessionStateIcon, sessionStateLabel } from './look';
import { DaemonProblemView } from './problem-view';

export interface SessionActions {
  readonly onLogout: (row: SessionRow) => void;
  readonly onRescan: (row: SessionRow) => void;
  /** The Detail view pushed by "Show Details" (what `session -P 3` shows). */
  readonly details: (row: SessionRow) => ReactNode;
  readonly onReload: () => void;
}

export function throughputText(row: SessionRow): string {
  if (row.readBps === null && row.writeBps === null) return '';
  return `↓ ${formatRate(row.readBps)}  ↑ ${formatRate(row.writeBps)}`;
}

export function lunSubtitle(l: LunRow): string {
  const what = [l.lun.vendor, l.lun.product]
    .map((s) => s.trim())
    .filter(Boolean)
    .join(' ');
  return [formatBytes(l.lun.sizeBytes), what].filter(Boolean).join(' · ');
}

export function SessionsList({ state, actions }: { state: Loadable<SessionRow[]>; actions: SessionActions }) {
  if (state.problem) return <DaemonProblemView problem={state.problem} onRetry={actions.onReload} />;
  const rows = state.data ?? [];
  return (
    <List isLoading={state.isLoading} searchBarPlaceholder="Filter sessions by target or disk">
      {state.error ? (
        <List.EmptyView icon={Icon.ExclamationMark} title="Could not list sessions" description={state.error} />
      ) : rows.length === 0 && !state.isLoading ? (
        <List.EmptyView
          icon={Icon.HardDrive}
          title="No sessions"
          description="Log in to a target from Targets or Discover Targets."
        />
      ) : null}
      {rows.map((row) => (
        <List.Section
          key={row.session.sid}
          title={row.session.targetName}
          subtitle={`${row.session.portal} · sid ${row.session.sid}`}
        >
          <List.Item
            title={sessionStateLabel(row.session.state)}
            subtitle={row.session.state === 'logged-in' ? '' : row.session.reason}
            icon={sessionStateIcon(row.session.state)}
            keywords={[row.session.targetName, row.session.portal]}
            accessories={[{ text: throughputText(row) }]}
            actions={<SessionActionPanel row={row} actions={actions} />}
          />
          {row.luns.map((l) => (
            <List.Item
              key={`${row.session.sid}-${l.lun.lun}`}
              title={`LUN ${l.lun.lun}`}
              subtitle={lunSubtitle(l)}
              icon={Icon.HardDrive}
              keywords={[row.session.targetName, l.disk ?? '', ...l.mountPoints]}
              accessories={[
                ...(l.disk ? [{ text: l.disk, tooltip: 'Disk' }] : [{ text: 'no disk', tooltip: 'No disk attached' }]),
                ...l.mountPoints.map((m) => ({ tag: m, tooltip: 'Mounted volume' })),
              ]}
              actions={<SessionActionPanel row={row} actions={actions} lun={l} />}
            />
          ))}
        </List.Section>
      ))}
    </List>
  );
}

function SessionActionPanel({ row, actions, lun }: { row: SessionRow; actions: SessionActions; lun?: LunRow }) {
  const volumes = lun ? lun.mountPoints : row.luns.flatMap((l) => l.mountPoints);
  return (
    <ActionPanel title={row.session.targetName}>
      <Action.Push title="Show Details" icon={Icon.Sidebar} target={actions.details(row)} />
      {volumes.map((m) => (
        <Action.ShowInFinder key={m} title={`Open ${m} in Finder`} path={m} />
      ))}
      <Action.CopyToClipboard title="Copy IQN" content={row.session.targetName} />
      <Action
        title="Rescan LUNs"
        icon={Icon.ArrowClockwise}
        shortcut={Keyboard.Shortcut.Common.Refresh}
        onAction={() => actions.onRescan(row)}
      />
      <Action
        title="Log out"
        icon={Icon.Eject}
        style={Action.Style.Destructive}
        shortcut={{ modifiers: ['ctrl'], key: 'x' }}
        onAction={() => actions.onLogout(row)}
      />
    </ActionPanel>
  );
}
