import { defineConfig } from 'vitest/config';

// Projects: `unit` (pure logic, no servers, seconds), `workflows` (Temporal's time-skipping server, no cluster),
// `integration` and `integration-faults` (one real local stack EACH: Temporal dev server + kube-apiservers with KWOK
// nodes, started by test/global-setup.ts under a name of their own and always torn down) and `browser`. Files of one
// integration project run one at a time (they share its stack); npm test runs the two projects side by side, in two
// vitest processes, since the fault files spend most of their time waiting for heartbeat timeouts and restarts.
/**
 * Integration files that run on a stack of their own (project integration-faults; npm test runs it beside the rest): the
 * longest fault files (worker SIGKILLs, API server and Temporal restarts), whose faults must never reach the others,
 * and the files that start an extra stack with metrics-server (they only need the project's Temporal server).
 */
const FAULT_FILES = [
  'test/integration/kill-matrix.test.ts',
  'test/integration/scale-faults.test.ts',
  'test/integration/durability.test.ts',
  'test/integration/apiserver-restart.test.ts',
  'test/integration/autoscaler.test.ts',
  'test/integration/monitor-resources.test.ts',
];

export default defineConfig({
  test: {
    // Unit and workflow files run three at a time (vitest's default on this 2-core machine is one worker). Files of
    // the projects with fileParallelism false (integration, integration-faults, browser) all go into ONE sequential
    // queue whatever this says, so `npm test` (scripts/test.sh) runs integration-faults in a second vitest process,
    // side by side with the rest.
    maxWorkers: 3,
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
          exclude: FAULT_FILES,
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
      {
        // the longest fault files (worker kills, API server and Temporal restarts) on a stack of their own, beside
        // the integration project: their faults never reach the other files, and the suite takes minutes less
        test: {
          name: 'integration-faults',
          include: FAULT_FILES,
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
