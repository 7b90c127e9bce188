// The Raycast extension's flat ESLint config: Raycast's own (@raycast/eslint-config, what `ray lint` runs) plus the
// layer rule of shared/STYLE.md. It lives here, not in raycast-extension/, because typescript-eslint needs TypeScript
// 5's JS API and only this workspace pins TypeScript 5 (the repo builds with TS 7): installed in two workspaces, npm
// hoists typescript-eslint's helpers next to TS 7 and both linters break.
import { createRequire } from 'node:module';
import layers from './layers.js';

const require = createRequire(import.meta.url);
/** @type {import('eslint').Linter.Config[]} */
const raycast = require('@raycast/eslint-config');

/**
 * @param {string} root the repository root (the layer rule judges paths relative to it)
 * @param {string} extension the extension's folder
 */
export function raycastConfig(root, extension) {
  return [
    { ignores: ['build/**', 'dist/**', 'node_modules/**', 'raycast-env.d.ts'] },
    ...raycast,
    // typescript-eslint cannot infer its root with two configs in the tree (the repo's and this one).
    { languageOptions: { parserOptions: { tsconfigRootDir: extension } } },
    // Raycast's eslint.config.js is CommonJS (the extension's package.json has no "type": "module").
    { files: ['eslint.config.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
    {
      files: ['**/*.{ts,tsx}'],
      plugins: { iscsi: layers },
      rules: {
        'iscsi/layers': ['error', { root }],
        // As in the rest of the repo: `_`-prefixed names are deliberately unused.
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      },
    },
  ];
}
