#!/usr/bin/env node
// iscsid: see docs/api.md. Runs in the foreground; launchd (macOS) or systemd keeps it alive.
// Until the installer exists, run it with the repo's Node (`sudo npx iscsid`): a `node` on PATH may be older.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`iscsid: needs Node.js 22 or later, this is ${process.version} (${process.execPath}); from the repo, run \`sudo npx iscsid\`, which uses the repo's Node\n`);
  process.exit(1);
}
await import('../dist/daemon/main.js');
