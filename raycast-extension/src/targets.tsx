import { useNavigation } from '@raycast/api';
import { ChapForm } from './components/chap-form';
import { TargetsList, type TargetActions } from './components/targets-list';
import { deleteNode, shortName, toggleNodeSession, withToast } from './hooks/actions';
import { useDaemonData } from './hooks/use-daemon';
import type { Daemon } from './lib/daemon';
import type { NodeRow } from './lib/model';
import DiscoverCommand from './discover';

/** Targets: the node database grouped by portal; Enter logs in or out. */
export default function Command() {
  const state = useDaemonData((d) => d.nodeGroups());
  const { daemon, reload } = state;
  const actions: TargetActions = {
    onToggleSession: (row) => {
      if (daemon) void toggleNodeSession(daemon, row).then(reload);
    },
    onToggleAutomatic: (row) => {
      const name = shortName(row.node.targetName);
      const on = !row.automatic;
      if (daemon) {
        void withToast(
          `${on ? 'Turning on' : 'Turning off'} automatic login for ${name}…`,
          `Automatic login ${on ? 'on' : 'off'} for ${name}`,
          () => daemon.setAutomatic(row.node.targetName, row.node.portal, on),
        ).then(reload);
      }
    },
    onDelete: (row) => {
      if (daemon) void deleteNode(daemon, row).then(reload);
    },
    chapForm: (row) => (daemon ? <ChapScreen daemon={daemon} row={row} onSaved={reload} /> : null),
    discover: () => <DiscoverCommand />,
    onReload: reload,
  };
  return <TargetsList state={state} actions={actions} />;
}

function ChapScreen({ daemon, row, onSaved }: { daemon: Daemon; row: NodeRow; onSaved: () => void }) {
  const { pop } = useNavigation();
  const name = shortName(row.node.targetName);
  return (
    <ChapForm
      node={row.node}
      onSubmit={async (credentials) => {
        const ok = await withToast(`Saving CHAP credentials for ${name}…`, `CHAP credentials saved for ${name}`, () =>
          daemon.setChap(row.node.targetName, row.node.portal, credentials),
        );
        if (ok) {
          onSaved();
          pop();
        }
        return ok;
      }}
    />
  );
}
