import { defineConfig } from 'vitest/config';

// Projects: `unit` (pure logic, no servers, seconds), `workflows` (Temporal's time-skipping server, no cluster),
// `integration` and `integration-faults` (one real local stack EACH: Temporal dev server + kube-apiservers with KWOK
// nodes, started by test/global-setup.ts under a name of their own and always torn down) and `browser`. Files of one
// integration project run one at a time (they share its stack); the two projects run side by side, since the fault
// files spend most of their time waiting for heartbeat timeouts and restarts while the machine is idle.
/**
 * Integration files that run on a stack of their own (project integration-faults), in parallel with the others: the
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
    // vitest's default on this 2-core machine is ONE worker for all projects, which ran every file one after the
    // other; the integration files mostly wait on servers, so three files at a time: one per integration project
    // (each still runs its own files one at a time) and one unit, workflow or browser file.
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
