// The one screen for a daemon that is not there, refuses us or speaks another protocol: what is wrong and how to
// start or install it — never a stack trace.
import { Action, ActionPanel, Detail } from '@raycast/api';
import type { DaemonProblem } from '../lib/model';

export function problemMarkdown(problem: DaemonProblem): string {
  return [
    `# iscsid is not available`,
    '',
    problem.message,
    '',
    problem.hint,
    '',
    `Socket: \`${problem.socketPath}\``,
  ].join('\n');
}

export function DaemonProblemView({ problem, onRetry }: { problem: DaemonProblem; onRetry?: () => void }) {
  return (
    <Detail
      markdown={problemMarkdown(problem)}
      actions={
        <ActionPanel>
          {onRetry ? <Action title="Try Again" onAction={onRetry} /> : null}
          <Action.CopyToClipboard title="Copy Socket Path" content={problem.socketPath} />
        </ActionPanel>
      }
    />
  );
}
