// Vitest config of the chaos suite: the root config excludes test/chaos/ from `npm test`, so the suite
// runs with this one: `vitest run --config test/chaos/vitest.config.ts`. One scenario at a time:
// scenarios measure timing and kill processes, parallel files would disturb each other.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
