// ESLint for the extension: Raycast's config (developers.raycast.com/information/tools/eslint) and the repo's layer rule,
// assembled in the lint workspace (lint/raycast-config.js says why it lives there).
const path = require('node:path');
const { defineConfig } = require('eslint/config');
const { raycastConfig } = require('@iscsi-initiator/lint/raycast');

module.exports = defineConfig(raycastConfig(path.resolve(__dirname, '..'), __dirname));
