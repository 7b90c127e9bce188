// iscsiadm's entry in the single executable (installer/sea/package.mjs bundles it; cli/bin/run.js is the checkout's).
// oclif finds a CLI and its plugins on disk from package roots; here there is no disk: each one's package.json and
// manifest come from the bundle, with a plugin whose commands load from the bundle one module at a time, on demand
// (a command's code runs only when that command runs: `--version` and `--help` load none).
import path from 'node:path';
import { execute, Plugin } from '@oclif/core';
import bundled from 'sea:iscsiadm-plugins';
import { closedOutput } from '../../cli/dist/closed-output.js';
import { translateModeArgs } from '../../cli/dist/mode-args.js';

/** A plugin whose manifest and command modules are in the bundle. */
class BundledPlugin extends Plugin {
  #manifest;
  #commands;

  constructor(options, manifest, commands) {
    super(options);
    this.#manifest = manifest;
    this.#commands = commands;
  }

  async _manifest() {
    this.commandIDs = Object.keys(this.#manifest.commands);
    this.hasManifest = true;
    return this.#manifest;
  }

  async findCommand(id, options = {}) {
    const load = this.#commands[id];
    if (load === undefined) {
      if (options.must) throw new Error(`command ${id} not found`);
      return undefined;
    }
    const module = await load();
    const command = [module.default, ...Object.values(module)].find((value) => typeof value?.run === 'function');
    if (command === undefined) throw new Error(`command ${id}: its module exports no command class`);
    command.id = id;
    command.plugin = this;
    return command;
  }
}

// The bundle is CommonJS (Node 24's single executables take no ES module main), so no top-level await.
async function main() {
  const root = path.dirname(process.execPath);
  // The CLI first: oclif takes the first plugin at `root` as the root plugin. The others are core plugins.
  const plugins = new Map();
  for (const [i, { pjson, manifest, commands }] of bundled.entries()) {
    const plugin = new BundledPlugin({ root, pjson: structuredClone(pjson), isRoot: true, type: i === 0 ? undefined : 'core' }, manifest, commands);
    await plugin.load();
    plugins.set(plugin.name, plugin);
  }
  closedOutput.install(); // as cli/bin/run.js: `iscsiadm … | head` ends quietly
  await execute({ loadOptions: { root, plugins }, args: translateModeArgs(process.argv.slice(2)) });
}

main().catch((error) => {
  process.stderr.write(`iscsiadm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
