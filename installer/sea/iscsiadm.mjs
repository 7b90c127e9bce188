// iscsiadm's entry in the single executable (installer/sea/package.mjs bundles it; cli/bin/run.js is the checkout's).
// oclif finds commands on disk from a package root; here there is no disk: it gets the CLI's package.json and its
// manifest from the bundle, and a root plugin whose commands load from the bundle one module at a time, on demand
// (a command's code runs only when that command runs: `--version` and `--help` load none).
import path from 'node:path';
import { execute, Plugin } from '@oclif/core';
import commands from 'sea:iscsiadm-commands';
import pjson from '../../cli/package.json' with { type: 'json' };
import manifest from '../../cli/oclif.manifest.json' with { type: 'json' };
import { closedOutput } from '../../cli/dist/closed-output.js';
import { translateModeArgs } from '../../cli/dist/mode-args.js';

/** The CLI's own commands from the bundle (the autocomplete plugin is not in the single executable). */
class BundledPlugin extends Plugin {
  async _manifest() {
    this.commandIDs = Object.keys(manifest.commands);
    this.hasManifest = true;
    return manifest;
  }

  async findCommand(id, options = {}) {
    const load = commands[id];
    if (load === undefined) {
      if (options.must) throw new Error(`command ${id} not found`);
      return undefined;
    }
    const module = await load();
    const command = Object.values(module).find((value) => typeof value?.run === 'function');
    if (command === undefined) throw new Error(`command ${id}: its module exports no command class`);
    command.id = id;
    command.plugin = this;
    return command;
  }
}

// The bundle is CommonJS (Node 24's single executables take no ES module main), so no top-level await.
async function main() {
  const root = path.dirname(process.execPath);
  const plugin = new BundledPlugin({ root, pjson: structuredClone(pjson), isRoot: true });
  await plugin.load();
  closedOutput.install(); // as cli/bin/run.js: `iscsiadm … | head` ends quietly
  await execute({
    loadOptions: { root, plugins: new Map([[plugin.name, plugin]]) },
    args: translateModeArgs(process.argv.slice(2)),
  });
}

main().catch((error) => {
  process.stderr.write(`iscsiadm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
