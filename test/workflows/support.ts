/**
 * Set-up shared by the workflow tests that run the real workflows with scripted activities on Temporal's
 * time-skipping test server.
 * @module
 */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { ensureToolchain } from '../../src/dev/index.js';
import { workflowsPath } from '../../src/worker/workflow-code.js';

/** The search attributes our workflows upsert (all keywords). */
const SEARCH_ATTRIBUTES = ['KubeCluster', 'KubeNamespace', 'KubeApp', 'KubeOutcome'];

/** What a test file gets. Fields are filled in `beforeAll`. */
export interface TimeSkippingWorker {
  /** The test server and its clients (`env.client` skips time while it waits for a result). */
  env: TestWorkflowEnvironment;
  /** The running worker: our workflows, the file's scripted activities. */
  worker: Worker;
}

/** Options of {@link useTimeSkippingWorker}. */
export interface TimeSkippingWorkerOptions {
  taskQueue: string;
  /** The scripted activities, built in `beforeAll`. */
  activities: () => object;
  /** Workflows module to bundle (default: ours, `src/workflows/index.ts`); a fixture may add workflows to ours. */
  workflowsPath?: string;
}

/** How many times {@link startTimeSkippingServer} tries to start the server. */
const SERVER_START_ATTEMPTS = 3;

/**
 * Starts the time-skipping test server (the toolchain's wrapper around Temporal's Java test server). The SDK waits
 * only 5 s for it to listen, which a JVM starting beside other test files on two cores can miss: a start that
 * timed out is tried again (the second JVM starts faster, its classes in the page cache).
 */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const toolchain = await ensureToolchain({ only: ['temporalTestServer'] });
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: toolchain.temporalTestServer } },
      });
    } catch (err) {
      if (attempt >= SERVER_START_ATTEMPTS || !/did not start within/.test(String(err))) throw err;
    }
  }
}

/**
 * Registers a `beforeAll` that starts the time-skipping test server (with our search attributes, which it does not
 * have) and a worker of the workflows on `taskQueue`, and an `afterAll` that stops both. The worker's log is kept to
 * errors: the scripted activities fail on purpose.
 */
export function useTimeSkippingWorker(options: TimeSkippingWorkerOptions): TimeSkippingWorker {
  const t = {} as TimeSkippingWorker;
  let running: Promise<void> | undefined;
  beforeAll(async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // already installed in this process
    }
    t.env = await startTimeSkippingServer();
    await t.env.connection.operatorService.addSearchAttributes({
      namespace: t.env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.map((name) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    t.worker = await Worker.create({
      connection: t.env.nativeConnection,
      taskQueue: options.taskQueue,
      workflowsPath: options.workflowsPath ?? workflowsPath(),
      activities: options.activities(),
    });
    running = t.worker.run();
  }, 180_000);
  afterAll(async () => {
    if (running) {
      t.worker.shutdown();
      await running;
    }
    await t.env?.teardown();
  });
  return t;
}
