// Issue 9: "A typed client, with no native, daemon or logging dependency. It must bundle to a few tens of kB; prove it
// with an esbuild test." A small client program is bundled for Node the way a Raycast extension would be.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const CLIENT_PROGRAM = `
import { DEFAULT_SOCKET_PATH, RpcClient, RPC_METHODS, isIscsiError } from '@iscsi-initiator/core/rpc';
const client = await RpcClient.open(process.env.ISCSID_SOCKET ?? DEFAULT_SOCKET_PATH);
try {
  for (const s of await client.call('sessions.list')) console.log(s.sid, s.targetName, s.state);
  client.onNotification((n) => { if (n.method === 'session.stateChanged') console.log(n.params.sid, n.params.state); });
  console.log(Object.keys(RPC_METHODS).length);
} catch (e) {
  console.error(isIscsiError(e) ? e.code : e);
} finally {
  client.close();
}
`;

describe('@iscsi-initiator/core/rpc bundles small (esbuild, platform node)', () => {
  it('a client program is under 60 kB and pulls in no daemon, engine, logging, keyring, conf or native module', async () => {
    const result = await build({
      stdin: { contents: CLIENT_PROGRAM, resolveDir: root, sourcefile: 'raycast-like-client.ts', loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const output = result.outputFiles[0]!;
    const inputs = Object.keys(result.metafile.inputs);
    // Every module in the bundle is core's own dist/rpc, or the plain, import-free files it shares with the engine.
    for (const input of inputs.filter((i) => i !== 'raycast-like-client.ts')) {
      expect(input).toMatch(/core\/dist\/(rpc\/[a-z-]+|errors|defaults|platform-paths)\.js$/);
    }
    for (const banned of ['pino', 'conf', 'keyring', 'native', 'json-rpc-2.0', 'daemon', '/net/', '/session/', '/pdu/']) {
      expect(inputs.filter((i) => i.includes(banned))).toEqual([]);
    }
    expect(output.contents.byteLength).toBeLessThan(60 * 1024);
    expect(output.contents.byteLength).toBeGreaterThan(2 * 1024); // the client really is in there
    expect(output.text).toContain('sessions.list');
  });
});
