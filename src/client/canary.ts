/**
 * Starting and steering canaries (`canaryRollout`): the input is validated with the workflow's own schema and step
 * checks before anything starts; the handle promotes, aborts, sends a new revision and reads the status.
 * @module
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { z } from 'zod';
import { canaryWorkflowId, checkSteps, podTemplateOf } from '../domain/canary.js';
import {
  CanaryRolloutInput,
  type CanaryReport,
  type CanaryStatus,
  type CanaryTemplate,
  type PromoteInput,
} from '../schemas/canary.js';
import {
  abortUpdate,
  canaryStatusQuery,
  newRevisionUpdate,
  promoteUpdate,
  type NewRevisionResult,
  type PromoteResult,
} from '../workflows/canary-definitions.js';
import { InvalidInputError, LockHeldError } from './errors.js';
import type { KubeWorkflows } from './workflow-types.js';

/** Options of {@link startCanary}. */
export interface CanaryOptions {
  /** Override the conventional id `canary/<cluster>/<namespace>/<deployment>` (the lock: one canary per Deployment). */
  workflowId?: string;
}

/** A running (or finished) canary. */
export interface CanaryHandle {
  workflowId: string;
  /** Waits for the report (`promoted`, `aborted` or `promotionFailed`). Rejects when the run failed or was cancelled. */
  result(): Promise<CanaryReport>;
  /** Phase, step, weight, replica counts, steps so far and analysis results. */
  status(): Promise<CanaryStatus>;
  /**
   * Ends the current pause (or the wait after an inconclusive analysis); with `{ full: true }` skips every remaining
   * step and promotes now. Throws {@link CanaryUpdateRefusedError} when the canary cannot do it (not paused, ending).
   */
  promote(options?: PromoteInput): Promise<PromoteResult>;
  /** Aborts: the canary is deleted at once, the stable count restored, the channels alerted. */
  abort(reason: string): Promise<{ reason: string }>;
  /** Sends a newer template, handled per the run's `onNewRevision` (refused with `refuse`). */
  newRevision(template: CanaryTemplate): Promise<NewRevisionResult>;
  /** Cancels the run: it aborts (canary deleted, stable restored), then ends cancelled. */
  cancel(): Promise<void>;
  raw: WorkflowHandle;
}

/** An update the canary refused (with the canary's reason). */
export class CanaryUpdateRefusedError extends Error {
  override readonly name = 'CanaryUpdateRefusedError';
}

/**
 * Validates a canary input as the workflow will (schema, template form, step checks) and returns the id it runs
 * under. Throws {@link InvalidInputError} naming the field.
 */
export function prepareCanaryStart(
  input: CanaryRolloutInput,
  defaultCluster: string,
): { workflowId: string; summary: string } {
  const parsed = CanaryRolloutInput.safeParse(input);
  if (!parsed.success) throw new InvalidInputError(`invalid canary input:\n${z.prettifyError(parsed.error)}`);
  const v = parsed.data;
  const template = podTemplateOf(v.template, v.deployment);
  if (!template.ok) throw new InvalidInputError(template.error);
  const problems = checkSteps(input.steps);
  if (problems.length) throw new InvalidInputError(`invalid canary steps:\n${problems.join('\n')}`);
  const cluster = v.cluster ?? defaultCluster;
  return {
    workflowId: canaryWorkflowId({ cluster, namespace: v.namespace, deployment: v.deployment }),
    summary: `canary of Deployment ${cluster}/${v.namespace}/${v.deployment}: ${v.steps.length} steps`,
  };
}

/**
 * Validates and starts a canary (used by `KubeWorkflowsClient.canary`). Throws {@link InvalidInputError} for bad
 * input and {@link LockHeldError} when a canary of the Deployment already runs.
 * @example
 * const canary = await client.canary({
 *   namespace: 'shop', deployment: 'web', template: newDeploymentManifest, channels: ['oncall'],
 *   steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { analysis: errorRate }, { setWeight: 50 }, { pause: {} }],
 * });
 * console.log(await canary.status()); // { phase: 'paused', weight: 50, replicas: { stable: 2, canary: 2 }, … }
 * await canary.promote();
 * const report = await canary.result(); // { outcome: 'promoted', steps: [...], … }
 */
export async function startCanary(
  temporal: Client,
  taskQueue: string,
  defaultCluster: string,
  input: CanaryRolloutInput,
  options: CanaryOptions = {},
): Promise<CanaryHandle> {
  const prepared = prepareCanaryStart(input, defaultCluster);
  const workflowId = options.workflowId ?? prepared.workflowId;
  try {
    const handle = await temporal.workflow.start<KubeWorkflows['canaryRollout']>('canaryRollout', {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: prepared.summary,
    });
    return canaryHandle(handle);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    throw new LockHeldError(
      `a canary of this Deployment is already running: ${workflowId}. One canary per Deployment at a time: ` +
        `nothing was started; promote or abort it first (kube-workflows canary status ${workflowId})`,
      workflowId,
      workflowId,
      { cause: err },
    );
  }
}

/** A handle to the canary running under `handle`'s workflow id. */
export function canaryHandle(handle: WorkflowHandle): CanaryHandle {
  async function update<R, A>(def: UpdateDefinition<R, [A]>, arg: A): Promise<R> {
    try {
      return await handle.executeUpdate(def, { args: [arg] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError)
        throw new CanaryUpdateRefusedError(err.cause?.message ?? err.message, { cause: err });
      throw err;
    }
  }
  return {
    workflowId: handle.workflowId,
    result: () => handle.result() as Promise<CanaryReport>,
    status: () => handle.query(canaryStatusQuery),
    promote: (options = {}) => update(promoteUpdate, options),
    abort: (reason) => update(abortUpdate, { reason }),
    newRevision: (template) => update(newRevisionUpdate, { template }),
    cancel: async () => {
      await handle.cancel();
    },
    raw: handle,
  };
}
