#!/usr/bin/env node
// iscsiadm entry point: accepts open-iscsi's "-m MODE" form by turning it into the matching topic first.
// Until the installer exists, run it with the repo's Node (`npx iscsiadm`): a `node` on PATH may be older.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`iscsiadm: needs Node.js 22 or later, this is ${process.version} (${process.execPath}); from the repo, run \`npx iscsiadm\`, which uses the repo's Node\n`);
  process.exit(1);
}
const [{ execute }, { closedOutput }, { translateModeArgs }] = await Promise.all([
  import('@oclif/core'),
  import('../dist/closed-output.js'),
  import('../dist/mode-args.js'),
]);
closedOutput.install(); // `iscsiadm … | head`: end quietly with the command's exit code (cli/src/closed-output.ts)
await execute({ dir: import.meta.url, args: translateModeArgs(process.argv.slice(2)) });
