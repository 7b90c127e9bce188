import { SessionDetailView } from './components/details-view';
import { SessionsList, type SessionActions } from './components/sessions-list';
import { logOutSession, mountedVolumes, withToast, shortName } from './hooks/actions';
import { useDaemonData } from './hooks/use-daemon';

/** Sessions: every session with its state, live throughput and disks; log out, rescan, details, copy, open. */
export default function Command() {
  const state = useDaemonData((d) => d.sessionRows());
  const { daemon, reload } = state;
  const actions: SessionActions = {
    onLogout: (row) => {
      if (daemon) void logOutSession(daemon, row.session, mountedVolumes(row)).then(reload);
    },
    onRescan: (row) => {
      const name = shortName(row.session.targetName);
      if (daemon)
        void withToast(`Rescanning ${name}…`, `Rescanned ${name}`, () => daemon.rescan(row.session.sid)).then(reload);
    },
    details: (row) => <SessionDetails sid={row.session.sid} targetName={row.session.targetName} />,
    onReload: reload,
  };
  return <SessionsList state={state} actions={actions} />;
}

function SessionDetails({ sid, targetName }: { sid: number; targetName: string }) {
  const state = useDaemonData((d) => d.detailsMarkdown(sid));
  return <SessionDetailView state={state} targetName={targetName} />;
}
