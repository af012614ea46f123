import { defineConfig } from 'vitest/config';

// Tiers by file suffix (STYLE.md): unit (no I/O), int (real PostgreSQL/Redis), e2e (real sockets).
// Every int/e2e file creates its own database and Redis key prefix, so files run in parallel.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['**/*.unit.test.ts'], exclude: ['node_modules/**'] } },
      { extends: true, test: { name: 'int', include: ['**/*.int.test.ts'], exclude: ['node_modules/**'] } },
      { extends: true, test: { name: 'e2e', include: ['**/*.e2e.test.ts'], exclude: ['node_modules/**', 'test/browser/**'] } },
      // Real Chromium (playwright-core, test/browser/helpers.ts): one browser file at a time (each
      // starts a browser and a server; the machine is small), tests serial within a file as always.
      {
        extends: true,
        test: {
          name: 'browser', include: ['test/browser/**/*.e2e.test.ts'], exclude: ['node_modules/**'],
          fileParallelism: false, testTimeout: 90_000, hookTimeout: 180_000,
        },
      },
    ],
  },
});
