// RpcClient's verifyPeer hook (issue 10, "Clients check the server: before sending anything"): the verdict comes
// before the first byte; a refusal closes the socket having sent nothing and rejects with the verifier's error.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { RpcClient } from '../../src/rpc/client.js';

let dir: string;
let server: net.Server;
let received: number;
let connections: number;
let closed: Promise<void>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verify-peer-'));
  received = 0;
  connections = 0;
  let markClosed: () => void = () => {};
  closed = new Promise((resolve) => (markClosed = resolve));
  server = net.createServer((socket) => {
    connections++;
    socket.on('data', (chunk) => {
      received += chunk.length;
      // A stand-in daemon: answers `version` so that open() can complete.
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const { id } = JSON.parse(line) as { id: number };
        socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { name: 'iscsid', version: '0', protocol: 1 } })}\n`);
      }
    });
    socket.on('close', () => markClosed());
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('RpcClient verifyPeer', () => {
  it('a verifier that throws: open() rejects with its error, and the server got a connection but not one byte', async () => {
    const refusal = new TransportError('ISCSI_DAEMON_NOT_TRUSTED', 'not root');
    let seen: net.Socket | undefined;
    await expect(
      RpcClient.open(join(dir, 's.sock'), {
        verifyPeer: (socket) => {
          seen = socket;
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    await closed;
    expect(seen).toBeInstanceOf(net.Socket);
    expect(connections).toBe(1);
    expect(received).toBe(0);
  });

  it('an async verifier that rejects behaves the same', async () => {
    await expect(RpcClient.connect(join(dir, 's.sock'), { verifyPeer: async () => Promise.reject(new TransportError('ISCSI_DAEMON_NOT_TRUSTED', 'no')) })).rejects.toMatchObject({
      code: 'ISCSI_DAEMON_NOT_TRUSTED',
    });
    await closed;
    expect(received).toBe(0);
  });

  it('a verifier that never decides is bounded by the connect timeout (ISCSI_TIMEOUT), and nothing is sent', async () => {
    await expect(RpcClient.connect(join(dir, 's.sock'), { timeoutMs: 50, verifyPeer: () => new Promise<void>(() => {}) })).rejects.toMatchObject({ code: 'ISCSI_TIMEOUT' });
    await closed;
    expect(received).toBe(0);
  });

  it('a verifier that accepts: the client works as without one; a number still means a timeout', async () => {
    const client = await RpcClient.open(join(dir, 's.sock'), { verifyPeer: async () => {} });
    expect(await client.call('version')).toMatchObject({ name: 'iscsid' });
    client.close();
    const plain = await RpcClient.open(join(dir, 's.sock'), 2_000);
    plain.close();
    expect(received).toBeGreaterThan(0);
  });
});
