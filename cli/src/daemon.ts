import { Flags } from '@oclif/core';
import { DEFAULT_SOCKET_PATH, RpcClient, SOCKET_ENV } from '@iscsi-initiator/core/rpc';

export const daemonFlags = {
  socket: Flags.string({ description: 'iscsid socket', env: SOCKET_ENV, default: DEFAULT_SOCKET_PATH, helpGroup: 'DAEMON' }),
};

/**
 * Connects to iscsid and checks it speaks our protocol. When no daemon runs, the error says so in one line and how to
 * start it (issue: "every daemon-backed command says so in one line").
 */
export function connectDaemon(socket: string): Promise<RpcClient> {
  return RpcClient.open(socket);
}

/** Runs `fn` with a daemon connection and always closes it. */
export async function withDaemon<T>(socket: string, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  const client = await connectDaemon(socket);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
