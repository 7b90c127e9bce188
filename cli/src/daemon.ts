import { Flags } from '@oclif/core';
import { DEFAULT_SOCKET_PATH, RPC_PROTOCOL_VERSION, RpcClient, TransportError } from '@iscsi-initiator/core';

/** Where iscsid listens: --socket, else $ISCSID_SOCKET, else the default (docs/api.md). */
export const DEFAULT_SOCKET = DEFAULT_SOCKET_PATH;

export const daemonFlags = {
  socket: Flags.string({ description: 'iscsid socket', env: 'ISCSID_SOCKET', default: DEFAULT_SOCKET, helpGroup: 'DAEMON' }),
};

/**
 * Connects to iscsid and checks it speaks our protocol. When no daemon runs, the error says so in one line and how to
 * start it (issue: "every daemon-backed command says so in one line").
 */
export async function connectDaemon(socket: string): Promise<RpcClient> {
  const client = await RpcClient.connect(socket);
  const version = await client.call<{ protocol: number }>('version');
  if (version.protocol !== RPC_PROTOCOL_VERSION) {
    client.close();
    throw new TransportError('ISCSI_CONNECTION_FAILED', `iscsid speaks protocol ${version.protocol}; this iscsiadm speaks ${RPC_PROTOCOL_VERSION}`, {
      hint: 'use the iscsiadm that came with the running iscsid',
    });
  }
  return client;
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
