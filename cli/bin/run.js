#!/usr/bin/env node
// iscsiadm entry point: accepts open-iscsi's "-m MODE" form by turning it into the matching topic first.
import { execute } from '@oclif/core';
import { closedOutput } from '../dist/closed-output.js';
import { translateModeArgs } from '../dist/mode-args.js';

closedOutput.install(); // `iscsiadm … | head`: end quietly with the command's exit code (cli/src/closed-output.ts)
await execute({ dir: import.meta.url, args: translateModeArgs(process.argv.slice(2)) });
