// "Show Details": what `iscsiadm session -P 3` shows for one session, as a Detail view.
import { Action, ActionPanel, Detail } from '@raycast/api';
import type { Loadable } from '../hooks/use-daemon';
import { DaemonProblemView } from './problem-view';

export function SessionDetailView({ state, targetName }: { state: Loadable<string>; targetName: string }) {
  if (state.problem) return <DaemonProblemView problem={state.problem} />;
  const markdown = state.error ? `# ${targetName}\n\nCould not read the session: ${state.error}` : (state.data ?? '');
  return (
    <Detail
      isLoading={state.isLoading}
      navigationTitle={targetName}
      markdown={markdown}
      actions={
        <ActionPanel>
          <Action.CopyToClipboard title="Copy Details" content={markdown} />
          <Action.CopyToClipboard title="Copy IQN" content={targetName} />
        </ActionPanel>
      }
    />
  );
}
