import { defineConfig } from 'vitest/config';

// Benchmarks (`npm run bench`): long single runs against the bench's own local stack, printed as tables with
// ratios against kubectl measured in the same run. Not part of `npm test`; never a timed assertion.
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    // Empties the run's results folder first, prints issue 12's table from it after the last file (bench/summary.ts).
    globalSetup: ['bench/summary.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 3_600_000,
    hookTimeout: 900_000,
    teardownTimeout: 300_000,
    // Print the result tables as they are, not under vitest's per-test console headers.
    disableConsoleIntercept: true,
  },
});
