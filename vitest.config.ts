import { defineConfig } from 'vitest/config';

// One run for the whole repo: unit tests next to each package, integration tests (real tgtd) under test/.
export default defineConfig({
  test: {
    include: ['lint/test/**/*.test.ts', 'core/test/**/*.test.ts', 'cli/test/**/*.test.ts', 'test/test/**/*.test.ts', 'test/integration/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    pool: 'forks',
  },
});
