import { launchCommand, LaunchType, showHUD } from '@raycast/api';
import { MenuBarView } from './components/menu-bar-view';
import { toggleNodeSession } from './hooks/actions';
import { bulkOn } from './hooks/bulk';
import { useDaemonData } from './hooks/use-daemon';

/** The menu-bar status: is every automatic node up? One item per session and per disconnected node. */
export default function Command() {
  const state = useDaemonData((d) => d.nodeGroups());
  const { daemon, reload } = state;
  return (
    <MenuBarView
      state={state}
      actions={{
        onToggleSession: (row) => {
          if (daemon) void toggleNodeSession(daemon, row).then(reload);
        },
        onLoginAllAutomatic: () => {
          if (daemon) void bulkOn(daemon, 'connect-all').then(showHUD).then(reload);
        },
        onLogoutAll: () => {
          if (daemon) void bulkOn(daemon, 'disconnect-all').then(showHUD).then(reload);
        },
        onOpenSessions: () => void launchCommand({ name: 'sessions', type: LaunchType.UserInitiated }),
        onReload: reload,
      }}
    />
  );
}
