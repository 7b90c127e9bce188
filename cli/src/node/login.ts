import { isIscsiError, type IscsiError, type RpcClient, type SessionInfo } from '@iscsi-initiator/core/rpc';

export type { SessionInfo };
import { exitCodeFor } from '../exit-codes.js';

export interface NodeRef {
  readonly targetName: string;
  readonly portal: string;
}

export interface LoginOutcome {
  readonly sessions: SessionInfo[];
  /** One per node that did not log in, in order; the first decides the exit code. */
  readonly failures: Array<{ readonly node: NodeRef; readonly error: IscsiError }>;
}

/** iscsid refuses a second session to a node with ISCSI_SESSION_EXISTS (docs/api.md, sessions.login). */
export function isSessionExists(error: unknown): boolean {
  return isIscsiError(error) && error.code === 'ISCSI_SESSION_EXISTS';
}

/** open-iscsi's line for a target × portal. */
export function describeNode(node: NodeRef): string {
  return `[target: ${node.targetName}, portal: ${node.portal}]`;
}

/**
 * Logs in to each node in turn (sessions.login). One node failing does not stop the others; typed failures are
 * collected, anything else (a bug, a lost daemon) is thrown at once.
 */
export async function loginNodes(client: RpcClient, nodes: readonly NodeRef[], log: (line: string) => void): Promise<LoginOutcome> {
  const sessions: SessionInfo[] = [];
  const failures: Array<{ node: NodeRef; error: IscsiError }> = [];
  for (const node of nodes) {
    try {
      sessions.push(await client.call('sessions.login', { targetName: node.targetName, portal: node.portal }));
      log(`Login to ${describeNode(node)} successful.`);
    } catch (error) {
      if (!isIscsiError(error)) throw error;
      failures.push({ node, error });
    }
  }
  return { sessions, failures };
}

/** open-iscsi's exit code for a failed login: 15 when the node already has a session, else by the error's code. */
export function loginExitCode(error: IscsiError): number {
  return exitCodeFor(error.code);
}

/** One line a person can act on for a node that did not log in. */
export function loginFailureLine(node: NodeRef, error: IscsiError): string {
  const message = error.message.split('\n')[0]!.trim();
  const hint = error.hint && !isSessionExists(error) && !message.includes(error.hint) ? ` (${error.hint})` : '';
  return `iscsiadm: could not log in to ${describeNode(node)}: ${message}${hint}`;
}
