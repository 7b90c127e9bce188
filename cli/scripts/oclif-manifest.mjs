// Writes cli/oclif.manifest.json (run by `npm run build`): with it, oclif finds a command without importing every
// command module at start-up. cli/bin/run.js ignores it when any built command is newer (a stale manifest).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = await Config.load({ root, ignoreManifest: true });
const plugin = config.getPluginsList().find((p) => p.root === config.root);
if (!plugin) throw new Error('oclif-manifest: the CLI plugin was not loaded');
writeFileSync(path.join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
