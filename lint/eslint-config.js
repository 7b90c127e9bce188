// The repo's flat ESLint config: typescript-eslint's recommended rules (syntax only, not type-aware: see README's
// Development section) and the layer rule of shared/STYLE.md.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import layers from './layers.js';

/** @param {string} root the repository root (the layer rule judges paths relative to it) */
export function config(root) {
  return tseslint.config(
    { ignores: ['**/node_modules/**', '**/dist/**', 'native/build/**', 'installer/build/**', 'core/test/fixtures/**', '**/*.d.ts', 'lint/node_modules/**'] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
      files: ['**/*.{ts,tsx,js,mjs,cjs}'],
      // tsconfigRootDir: with a second config in the tree (raycast-extension/) typescript-eslint cannot infer it.
      languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node, parserOptions: { tsconfigRootDir: root } },
      plugins: { iscsi: layers },
      rules: {
        'iscsi/layers': ['error', { root }],
        // `_`-prefixed names are deliberately unused (a positional parameter, a destructured rest).
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
        // Off: here a control character in a regex is always meant (rejecting NUL..US in names and secrets, ANSI escapes).
        'no-control-regex': 'off',
      },
    },
    {
      files: ['**/*.cjs'],
      languageOptions: { sourceType: 'commonjs' },
      rules: { '@typescript-eslint/no-require-imports': 'off' },
    },
  );
}
