import { defaultDaemonPaths, generateInitiatorName, SOCKET_ENV, STATE_DIR_ENV, storedInitiatorName } from '@iscsi-initiator/core';
import { DEFAULT_SOCKET_PATH, RpcClient } from '@iscsi-initiator/core/rpc';
import { trustedDaemon } from './daemon.js';

/** How long a direct command waits for a running iscsid to say its name before it looks elsewhere. */
const ASK_DAEMON_MS = 1_000;

/**
 * The initiator name a direct (daemon-less) command logs in with, so that one host has one IQN (issue 9, "one
 * generator and one stored name"): the one given (--initiator-name, $ISCSI_INITIATOR_NAME); else the one the running
 * iscsid logs in with (`initiator.get` on $ISCSID_SOCKET or the default socket); else the one stored in iscsid's state
 * dir ($ISCSID_STATE_DIR or the platform's, readable by root); else the name iscsid itself would generate.
 */
export async function initiatorNameForDirectUse(given?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (given !== undefined && given !== '') return given;
  const fromDaemon = await askDaemon(env[SOCKET_ENV] ?? DEFAULT_SOCKET_PATH);
  if (fromDaemon !== undefined) return fromDaemon;
  return storedInitiatorName(env[STATE_DIR_ENV] ?? defaultDaemonPaths().stateDir) ?? generateInitiatorName();
}

async function askDaemon(socket: string): Promise<string | undefined> {
  let client: RpcClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    client = await RpcClient.connect(socket, { timeoutMs: ASK_DAEMON_MS, verifyPeer: trustedDaemon(socket) });
    const answer = client.call('initiator.get');
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ASK_DAEMON_MS)));
    return (await Promise.race([answer, late]))?.name;
  } catch {
    return undefined; // no daemon, or not one we trust or may ask: the state dir or the generator decide
  } finally {
    clearTimeout(timer);
    client?.close();
  }
}
