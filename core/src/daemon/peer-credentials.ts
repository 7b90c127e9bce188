import type net from 'node:net';
import { peerCredentials } from '@iscsi-initiator/native';
import type { PeerCredentials } from './rpc-server.js';

/**
 * Who is at the other end of a connection to iscsid's socket (getpeereid on macOS, SO_PEERCRED on Linux), through the
 * native addon. Undefined when the addon is not built or the lookup fails: such a peer is never trusted with changes.
 */
export function socketPeerCredentials(socket: net.Socket): PeerCredentials | undefined {
  // node:net keeps the descriptor on its internal handle; a Unix socket on macOS or Linux always has one.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' ? peerCredentials(fd) : undefined;
}
