// A daemon that refuses a connection (issue 10: per-uid and global connection limits) answers one line with id null,
// then closes: the client's calls fail with that reason (ISCSI_CONNECTION_REFUSED), not a bare "connection closed".
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RpcClient, RpcError } from '../../src/rpc/client.js';

let dir: string;
let server: net.Server;
const sockets = new Set<net.Socket>();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'farewell-'));
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    // JSON-RPC 2.0 §5: "If there was an error in detecting the id … it MUST be Null."
    const error = { code: -32000, message: 'too many connections from uid 65534', data: { code: 'ISCSI_CONNECTION_REFUSED', hint: 'close some' } };
    socket.end(`${JSON.stringify({ jsonrpc: '2.0', id: null, error })}\n`);
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
});
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

it('a refusal line with id null becomes the reason every pending and later call fails with', async () => {
  const client = await RpcClient.connect(join(dir, 's.sock'));
  const pending = client.call('version');
  await expect(pending).rejects.toBeInstanceOf(RpcError);
  await expect(pending).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_REFUSED', rpcCode: -32000, hint: 'close some' });
  await expect(client.call('sessions.list')).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_REFUSED' });
  client.close();
});

it('onClose: a client that only listens hears once that the connection ended, with the refusal as the reason', async () => {
  const client = await RpcClient.connect(join(dir, 's.sock'));
  const reasons: string[] = [];
  // Registered before anything arrives: a Raycast view waiting for notifications learns that none will come.
  const closed = new Promise<void>((resolve) =>
    client.onClose((reason) => {
      reasons.push(reason);
      resolve();
    }),
  );
  await closed;
  client.close(); // closing again does not call it a second time
  await expect(client.call('version')).rejects.toMatchObject({ code: 'ISCSI_CONNECTION_REFUSED' });
  expect(reasons).toEqual(['too many connections from uid 65534']);
});
