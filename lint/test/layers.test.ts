// The layer rule of shared/STYLE.md (issue 9 §4: "a lower layer cannot import a higher one"), run through ESLint's Node
// API with the repo's own eslint.config.js on fixture strings placed at virtual paths.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: root });

/** The layer-rule messages ESLint reports for `code` as if it were the file at `filePath`. */
async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, filePath) });
  if (result === undefined) throw new Error('ESLint returned no result');
  return result.messages.filter((m) => m.ruleId === 'iscsi/layers').map((m) => m.message);
}

describe('iscsi/layers: imports only point downwards (shared/STYLE.md)', () => {
  it('pdu/ importing net/ is an error that names both layers', async () => {
    const errors = await layerErrors('core/src/pdu/x.ts', "import { IscsiSession } from '../net/session.js';\nexport const s = IscsiSession;\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/core\/src\/pdu\/ may not import net\/ \('\.\.\/net\/session\.js'\)/);
  });

  it.each([
    ['core/src/pdu/x.ts', "export * from '../text/keys.js';"],
    ['core/src/text/x.ts', "export { login } from '../login/auth.js';"],
    ['core/src/login/x.ts', "export { connect } from '../net/connection.js';"],
    ['core/src/session/x.ts', "export { x } from '../daemon/session-manager.js';"],
    ['core/src/net/x.ts', "export { x } from '../daemon/rpc-server.js';"],
    ['core/src/scsi/x.ts', "export { x } from '../pdu/types.js';"],
    ['core/src/errors.ts', "export { x } from './pdu/types.js';"],
    ['core/src/session/x.ts', "export { x } from '../index.js';"],
    ['core/src/pdu/sub/deeper.ts', "export { x } from '../../session/serial.js';"],
    ['core/src/text/x.ts', "export const m = () => import('../net/session.js');"],
    ['core/src/rpc/x.ts', "export { x } from '../net/connection.js';"],
    ['core/src/rpc/x.ts', "export { x } from '../daemon/rpc-server.js';"],
    ['core/src/rpc/x.ts', "export { x } from '../portal.js';"],
    // hba/ (issue 11: the bridge to the virtual HBA's rings) sits under daemon/ and beside rpc/.
    ['core/src/hba/x.ts', "export { x } from '../daemon/session-manager.js';"],
    ['core/src/hba/x.ts', "export { x } from '../rpc/methods.js';"],
    ['core/src/net/x.ts', "export { x } from '../hba/abi.js';"],
  ])('%s: %s is refused', async (file, code) => {
    expect(await layerErrors(file, code)).toHaveLength(1);
  });

  it.each([
    ['core/src/rpc/x.ts', "import native from '@iscsi-initiator/native';\nexport default native;"],
    ['core/src/rpc/x.ts', "import pino from 'pino';\nexport default pino;"],
  ])('the RPC contract may not pull in a daemon package: %s', async (file, code) => {
    expect(await layerErrors(file, code)).toEqual([expect.stringMatching(/RPC client must bundle without/)]);
  });

  it.each([
    ['cli/src/commands/x.ts', "export { x } from '../../../core/src/net/session.js';"],
    ['cli/src/x.ts', "export { x } from '@iscsi-initiator/core/dist/net/session.js';"],
    ['cli/src/x.ts', "export { x } from '@iscsi-initiator/core/src/net/session.js';"],
    ['raycast-extension/src/x.ts', "export { x } from '@iscsi-initiator/core';"],
  ])('clients reach core only through its entry points: %s: %s is refused', async (file, code) => {
    expect(await layerErrors(file, code)).toHaveLength(1);
  });

  it.each([
    ['core/src/pdu/x.ts', "export { ProtocolError } from '../errors.js';"],
    ['core/src/text/x.ts', "export { x } from '../pdu/types.js';"],
    ['core/src/login/x.ts', "export { serialAdd } from '../session/serial.js';"],
    ['core/src/session/x.ts', "export { x } from '../scsi/sense.js';"],
    ['core/src/net/x.ts', "export { x } from '../login/auth.js';"],
    ['core/src/daemon/x.ts', "export { x } from '../net/session.js';\nexport { y } from '../rpc/methods.js';"],
    ['core/src/rpc/x.ts', "export { x } from '../errors.js';\nexport { y } from '../defaults.js';\nexport { z } from './client.js';\nimport net from 'node:net';\nexport { net };"],
    ['core/src/index.ts', "export * from './daemon/index.js';"],
    ['core/src/hba/x.ts', "export { x } from './abi.js';\nexport { y } from '../net/session.js';\nexport { z } from '../scsi/sense.js';\nexport { e } from '../errors.js';"],
    ['core/src/daemon/x.ts', "export { HbaSelector } from '../hba/abi.js';"],
    ['cli/src/x.ts', "export { x } from '@iscsi-initiator/core';\nexport { y } from '@iscsi-initiator/core/rpc';\nexport { z } from './y.js';"],
    ['raycast-extension/src/x.ts', "export { x } from '@iscsi-initiator/core/rpc';"],
  ])('%s: allowed imports pass', async (file, code) => {
    expect(await layerErrors(file, code)).toEqual([]);
  });
});
