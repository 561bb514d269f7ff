import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no servers, seconds) and `integration` (one real local stack for the whole
// run: Temporal dev server + kube-apiserver with KWOK nodes, started by test/global-setup.ts and always torn
// down). Integration test files run one at a time: the machine has 2 cores and they share one stack.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        // workflow tests on Temporal's time-skipping test server (long timers in milliseconds); no cluster
        test: {
          name: 'workflows',
          include: ['test/workflows/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
      {
        // the Temporal Web UI in Chromium (playwright-core): its own Temporal dev server with a codec endpoint,
        // the shared cluster from the integration global setup
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
    ],
  },
});
