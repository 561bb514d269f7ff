/**
 * Schedule wrappers: what Temporal Schedules start for scheduled re-applies (`scheduledDeploy`) and scheduled
 * scaling (`scheduledScale`). A schedule appends a timestamp to the workflow id of every run it starts, so a
 * deploy started by the schedule itself would run outside the app's lock (`deploy/<cluster>/<namespace>/<app>`).
 * The wrapper starts the real workflow as a child under the canonical id instead, and waits for it:
 *
 * - the id taken (a deploy of the app, a scale holding its lock, a manual scale of the workload): the run is
 *   skipped with a report naming the id, as any second deploy is refused (`onConflict: 'reject'`); the next
 *   scheduled run tries again;
 * - the schedule's overlap policy keeps applying to its own runs, since a wrapper lasts as long as its child;
 * - parent close policy REQUEST_CANCEL: a wrapper cancelled or terminated (overlap `cancelOther` /
 *   `terminateOther`, an operator) makes the child stop the way it always stops — a deploy rolls back what it
 *   changed — instead of being terminated half-done.
 * @module
 */
import { ApplicationFailure, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../domain/failures.js';
import type { DeployReport } from '../schemas/deploy.js';
import type { ScaleReport } from '../schemas/scale.js';
import { ScheduledDeployInput, ScheduledScaleInput, type ScheduledRunSkipped } from '../schemas/scheduled.js';
import type { deployManifests } from './deploy.js';
import type { scaleWorkload } from './scale.js';
import { KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

/** Runs a scheduled re-apply as `deployManifests` under the app's deploy id; skipped when that id is taken. */
export async function scheduledDeploy(rawInput: ScheduledDeployInput): Promise<DeployReport | ScheduledRunSkipped> {
  const input = validate(ScheduledDeployInput, rawInput, 'scheduled deploy');
  return runAsChild<typeof deployManifests>(
    'deployManifests',
    input.deployWorkflowId,
    rawInput.deploy,
    `scheduled re-apply under ${input.deployWorkflowId}`,
  );
}

/** Runs a scheduled scale as `scaleWorkload` under the workload's scale id; skipped when that id is taken. */
export async function scheduledScale(rawInput: ScheduledScaleInput): Promise<ScaleReport | ScheduledRunSkipped> {
  const input = validate(ScheduledScaleInput, rawInput, 'scheduled scale');
  return runAsChild<typeof scaleWorkload>(
    'scaleWorkload',
    input.scaleWorkflowId,
    rawInput.scale,
    `scheduled scale under ${input.scaleWorkflowId}`,
  );
}

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `invalid ${what} input:\n${z.prettifyError(parsed.error)}`,
      FailureType.InvalidInput,
    );
  return parsed.data;
}

async function runAsChild<W extends typeof deployManifests | typeof scaleWorkload>(
  workflowType: string,
  workflowId: string,
  input: Parameters<W>[0],
  summary: string,
): Promise<Awaited<ReturnType<W>> | ScheduledRunSkipped> {
  let child;
  try {
    child = await startChild<W>(workflowType, {
      workflowId,
      args: [input] as Parameters<W>,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: summary,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    upsertKubeAttributes([{ key: KubeOutcome, value: 'skipped' }]);
    return {
      outcome: 'skipped',
      workflowId,
      message:
        `skipped: ${workflowId} is taken by a running workflow (see: kube-workflows status ${workflowId}); ` +
        `nothing was written, the next scheduled run tries again`,
    };
  }
  const report = (await child.result()) as Awaited<ReturnType<W>>;
  upsertKubeAttributes([{ key: KubeOutcome, value: report.outcome }]);
  return report;
}
