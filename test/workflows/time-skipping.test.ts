/**
 * Proves the time-skipping test server (Temporal's Java test server from Maven Central behind the toolchain's
 * wrapper script) works here: a workflow that sleeps for an hour completes in seconds of wall time, with an
 * hour of workflow time elapsed.
 */
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureToolchain } from '../../src/dev/index.js';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  const toolchain = await ensureToolchain({ only: ['temporalTestServer'] });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolchain.temporalTestServer } },
  });
});

afterAll(async () => {
  await env?.teardown();
});

describe('time-skipping test server', () => {
  it('runs a workflow that sleeps for an hour without waiting an hour', async () => {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'time-skipping',
      workflowsPath: fileURLToPath(new URL('./fixtures/timers.ts', import.meta.url)),
    });
    const result = await worker.runUntil(
      env.client.workflow.execute('sleepForAnHour', { taskQueue: 'time-skipping', workflowId: `sleep-${Date.now()}` }),
    );
    // An hour of workflow time passed; the test's own timeout (2 minutes) bounds the wall time.
    expect(result.sleptMs).toBeGreaterThanOrEqual(3_600_000);
  });
});
