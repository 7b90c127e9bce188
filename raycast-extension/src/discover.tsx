import { showToast, Toast, useNavigation } from '@raycast/api';
import { useState } from 'react';
import { DiscoveredList, DiscoverForm } from './components/discover-form';
import { DaemonProblemView } from './components/problem-view';
import { shortName, withToast } from './hooks/actions';
import { useDaemonData } from './hooks/use-daemon';
import { describeError } from './lib/status';

/** Discover Targets: ask a portal what it offers (SendTargets, RFC 7143 §12.3), then log in to what it lists. */
export default function Command() {
  const state = useDaemonData(async () => true, { live: false });
  const { push } = useNavigation();
  const [busy, setBusy] = useState(false);
  if (state.problem) return <DaemonProblemView problem={state.problem} onRetry={state.reload} />;
  const daemon = state.daemon;
  return (
    <DiscoverForm
      isLoading={state.isLoading || busy}
      onSubmit={async (values) => {
        if (!daemon) return;
        setBusy(true);
        const toast = await showToast({ style: Toast.Style.Animated, title: `Asking ${values.portal}…` });
        try {
          const chap = values.useChap ? { username: values.username, secret: values.secret } : undefined;
          const targets = await daemon.discover(values.portal, chap);
          toast.style = Toast.Style.Success;
          toast.title = `${targets.length} target${targets.length === 1 ? '' : 's'} at ${values.portal}`;
          push(
            <DiscoveredList
              portal={values.portal}
              targets={targets}
              onLogin={(targetName, portal) =>
                void withToast(`Logging in to ${shortName(targetName)}…`, `Logged in to ${shortName(targetName)}`, () =>
                  daemon.login(targetName, portal),
                )
              }
            />,
          );
        } catch (e) {
          toast.style = Toast.Style.Failure;
          toast.title = `Discovery at ${values.portal} failed`;
          toast.message = describeError(e);
        } finally {
          setBusy(false);
        }
      }}
    />
  );
}
