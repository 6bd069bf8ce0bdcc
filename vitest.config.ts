import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests use free ports (port 0) and temporary folders, so files run in parallel safely.
    fileParallelism: true,
  },
});
