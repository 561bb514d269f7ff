/**
 * The task library (src/workflows/tasks.ts) in a user's workflow on the time-skipping server: children run under
 * the operations' canonical ids (their locks), unsuccessful reports become typed failures the user catches
 * (`isRolledBack`, `reportOf`) or that fail the user's workflow with that type, `throwOnFailure: false` returns the
 * report, and `notify` reaches the worker's alert activity. Our operations are replaced by scripted stand-ins
 * (test/workflows/fixtures/task-library.ts): their own branches are tested in their own files.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { DeliverAlertInput } from '../../src/activities/index.js';
import type { PipelineResult } from './fixtures/task-library.js';
import { useTimeSkippingWorker } from './support.js';

const taskQueue = `tasks-${randomBytes(3).toString('hex')}`;
const alerts: DeliverAlertInput[] = [];
const t = useTimeSkippingWorker({
  taskQueue,
  workflowsPath: fileURLToPath(new URL('./fixtures/task-library.ts', import.meta.url)),
  activities: () => ({
    deliverAlert: (input: DeliverAlertInput) => {
      alerts.push(input);
      return Promise.resolve({ channel: input.channel, status: 200 });
    },
  }),
});

const run = <R>(type: string, args: unknown[]): Promise<R> =>
  t.env.client.workflow.execute(type, { taskQueue, workflowId: `${type}-${randomBytes(4).toString('hex')}`, args });

describe('task library', () => {
  it('runs each step as a child under its canonical id, in order', async () => {
    const result = await run<PipelineResult>('releasePipeline', [{ prodApp: 'cart' }]);
    expect(result.steps).toEqual([
      'staging succeeded as deploy/staging/shop/cart',
      'prod succeeded as deploy/prod/shop/cart',
      'scaled 1→6 as scale/prod/shop/Deployment/cart',
    ]);
  });

  it('a rolled-back deploy is a typed failure the pipeline catches, with the report; notify reaches the channels', async () => {
    const result = await run<PipelineResult>('releasePipeline', [
      { prodApp: 'cart-as-rolledBack', channels: ['oncall'] },
    ]);
    expect(result.steps).toEqual([
      'staging succeeded as deploy/staging/shop/cart',
      'prod rolled back (rolledBack) as deploy/prod/shop/cart-as-rolledBack',
      'notified',
    ]);
    expect(alerts.at(-1)).toMatchObject({
      channel: 'oncall',
      event: { action: 'trigger', summary: 'prod deploy rolled back' },
    });
  });

  it('an uncaught failure fails the user workflow with the operation failure type and the report', async () => {
    const err = await run('releasePipeline', [{ prodApp: 'cart-as-rollbackFailed' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { type?: string; nonRetryable?: boolean; details?: unknown[] };
    expect(cause).toMatchObject({ type: 'RollbackFailed', nonRetryable: true });
    expect(cause.details?.[0]).toMatchObject({ outcome: 'rollbackFailed' });
  });

  it('throwOnFailure: false returns every report', async () => {
    expect(await run<string>('tolerantDeploy', ['web-as-failed'])).toBe('failed');
    expect(await run<string>('tolerantDeploy', ['web'])).toBe('succeeded');
  });
});
