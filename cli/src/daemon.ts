import type net from 'node:net';
import { Flags } from '@oclif/core';
import { DEFAULT_SOCKET_PATH, RpcClient, SOCKET_ENV, TransportError } from '@iscsi-initiator/core/rpc';

export const daemonFlags = {
  socket: Flags.string({ description: 'iscsid socket', env: SOCKET_ENV, default: DEFAULT_SOCKET_PATH, helpGroup: 'DAEMON' }),
};

/**
 * Before iscsiadm sends anything — a CHAP secret above all — it checks who serves the socket (docs/security.md,
 * "Clients"): root, or the user iscsiadm runs as (a daemon of your own holds nothing you could not read yourself).
 * Anyone else may have bound the path first; they get no byte. The credentials come from the native addon
 * (SO_PEERCRED / getpeereid on our end of the socket), loaded only once there is a daemon to check so that short
 * commands start fast; if it cannot tell, the server is not trusted.
 */
export function trustedDaemon(path: string): (socket: net.Socket) => Promise<void> {
  return (socket) => verifyDaemonPeer(socket, path);
}

async function verifyDaemonPeer(socket: net.Socket, where: string): Promise<void> {
  const refuse = (why: string) =>
    new TransportError('ISCSI_DAEMON_NOT_TRUSTED', `not talking to the server on ${where}: ${why}`, {
      hint: 'iscsid runs as root; something else holds this socket path: stop it, check the socket folder, restart iscsid',
    });
  const { peerCredentials } = await import('@iscsi-initiator/native');
  // node:net keeps the descriptor on its internal handle; a connected Unix socket on macOS or Linux has one.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const peer = typeof fd === 'number' ? peerCredentials(fd) : undefined;
  if (peer === undefined) throw refuse('its credentials cannot be read (is the native addon built?)');
  const self = process.getuid?.();
  if (peer.uid !== 0 && peer.uid !== self) throw refuse(`it runs as uid ${peer.uid}, not root`);
}

/**
 * Connects to iscsid, checks who it is (verifyDaemonPeer) and that it speaks our protocol. When no daemon runs, the
 * error says so in one line and how to start it (issue: "every daemon-backed command says so in one line").
 */
export function connectDaemon(socket: string): Promise<RpcClient> {
  return RpcClient.open(socket, { verifyPeer: trustedDaemon(socket) });
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
