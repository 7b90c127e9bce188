#!/usr/bin/env node
// iscsiadm entry point: accepts open-iscsi's "-m MODE" form by turning it into the matching topic first.
import { execute } from '@oclif/core';
import { translateModeArgs } from '../dist/mode-args.js';

await execute({ dir: import.meta.url, args: translateModeArgs(process.argv.slice(2)) });
