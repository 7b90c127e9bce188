#!/usr/bin/env node
// iscsiadm entry point: accepts open-iscsi's "-m MODE" form by turning it into the matching topic first.
// Until the installer exists, run it with the repo's Node (`npx iscsiadm`): a `node` on PATH may be older.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`iscsiadm: needs Node.js 22 or later, this is ${process.version} (${process.execPath}); from the repo, run \`npx iscsiadm\`, which uses the repo's Node\n`);
  process.exit(1);
}

/**
 * oclif.manifest.json (written by `npm run build`) spares oclif importing every command at start-up. In a checkout,
 * a build newer than the manifest (`tsc -b` alone) makes it stale: then oclif builds the manifest itself, as without one.
 */
function manifestIsFresh() {
  const mtime = (relative) => {
    try {
      return statSync(fileURLToPath(new URL(relative, import.meta.url))).mtimeMs;
    } catch {
      return undefined;
    }
  };
  const manifest = mtime('../oclif.manifest.json');
  if (manifest === undefined) return false;
  return ['../tsconfig.tsbuildinfo', '../../core/tsconfig.tsbuildinfo'].every((f) => (mtime(f) ?? 0) <= manifest);
}

const [{ execute }, { closedOutput }, { translateModeArgs }] = await Promise.all([
  import('@oclif/core'),
  import('../dist/closed-output.js'),
  import('../dist/mode-args.js'),
]);
closedOutput.install(); // `iscsiadm … | head`: end quietly with the command's exit code (cli/src/closed-output.ts)
await execute({
  loadOptions: { root: fileURLToPath(new URL('..', import.meta.url)), ignoreManifest: !manifestIsFresh() },
  args: translateModeArgs(process.argv.slice(2)),
});
