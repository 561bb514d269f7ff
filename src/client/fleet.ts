/**
 * Fleet rollouts from the client: a typed starter that validates the input (the fleet file plus manifests) with
 * the workflow's own schema before anything starts, and a handle to follow and steer a running fleet.
 * @module
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { z } from 'zod';
import { fleetWorkflowId } from '../domain/fleet.js';
import {
  RolloutFleetInput,
  type AbortFleetInput,
  type FleetReport,
  type FleetStatus,
  type PauseFleetInput,
  type PromoteFleetInput,
  type SkipClusterInput,
} from '../schemas/fleet.js';
import {
  abortFleetUpdate,
  fleetStatusQuery,
  pauseFleetUpdate,
  promoteFleetUpdate,
  resumeFleetUpdate,
  skipClusterUpdate,
} from '../workflows/fleet-definitions.js';
import { InvalidInputError, LockHeldError } from './errors.js';
import type { KubeWorkflows } from './workflow-types.js';

export { fleetWorkflowId };

/** An operator update the running fleet refused (it does not apply now, or its input is malformed). */
export class FleetUpdateRefusedError extends Error {
  override readonly name = 'FleetUpdateRefusedError';
}

/** A started (or looked-up) fleet rollout. */
export interface FleetHandle {
  /** `fleet/<name>`. */
  workflowId: string;
  /** Waits for the report. Rejects with `WorkflowFailedError` when the workflow failed (bad input). */
  result(): Promise<FleetReport>;
  /** The wave × cluster matrix, the current wave, pause / freeze state and the next timer. */
  status(): Promise<FleetStatus>;
  /** No new cluster deploy or wave starts until {@link FleetHandle.resume}. */
  pause(input?: PauseFleetInput): Promise<FleetStatus>;
  /** Resumes a paused fleet (after an inconclusive analysis: repeats the analysis run). */
  resume(): Promise<FleetStatus>;
  /** Skips a cluster that has not started deploying (pending, or unreachable and being retried). */
  skip(input: SkipClusterInput): Promise<FleetStatus>;
  /** Ends the current wave's bake now (`wave`, when given, must be the baking one). */
  promote(input?: PromoteFleetInput): Promise<FleetStatus>;
  /** Stops the fleet and rolls back `none`, the current `wave` or `all` clusters done so far. */
  abort(input: AbortFleetInput): Promise<FleetStatus>;
  /** The underlying Temporal handle. */
  raw: WorkflowHandle;
}

/**
 * Validates and starts `rolloutFleet` under `fleet/<name>` (one rollout per fleet at a time). Throws
 * {@link InvalidInputError} for bad input (nothing started) and {@link LockHeldError} when a rollout of the same
 * fleet is running.
 */
export async function startFleetRollout(
  temporal: Client,
  taskQueue: string,
  input: RolloutFleetInput,
): Promise<FleetHandle> {
  const parsed = RolloutFleetInput.safeParse(input);
  if (!parsed.success) throw new InvalidInputError(`invalid fleet input:\n${z.prettifyError(parsed.error)}`);
  const v = parsed.data;
  const workflowId = fleetWorkflowId(v.name);
  const waves = v.waves.map((w) => w.name).join(' → ');
  try {
    const handle = await temporal.workflow.start<KubeWorkflows['rolloutFleet']>('rolloutFleet', {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `roll out ${v.app} to fleet ${v.name}: ${waves} (halt policy ${v.haltPolicy})`,
    });
    return fleetHandle(handle);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    throw new LockHeldError(
      `a rollout of fleet ${v.name} is already running (${workflowId}): nothing was started; wait for it, or abort ` +
        `it (kube-workflows rollout abort ${workflowId} --reason …)`,
      workflowId,
      workflowId,
      { cause: err },
    );
  }
}

/** A handle to a fleet by name (`shop`) or workflow id (`fleet/shop`). */
export function getFleetHandle(temporal: Client, nameOrId: string): FleetHandle {
  const id = nameOrId.startsWith('fleet/') ? nameOrId : fleetWorkflowId(nameOrId);
  return fleetHandle(temporal.workflow.getHandle(id));
}

function fleetHandle(handle: WorkflowHandle): FleetHandle {
  return {
    workflowId: handle.workflowId,
    result: () => handle.result() as Promise<FleetReport>,
    status: () => handle.query(fleetStatusQuery),
    pause: (input = {}) => refusable(handle.executeUpdate(pauseFleetUpdate, { args: [input] })),
    resume: () => refusable(handle.executeUpdate(resumeFleetUpdate)),
    skip: (input) => refusable(handle.executeUpdate(skipClusterUpdate, { args: [input] })),
    promote: (input = {}) => refusable(handle.executeUpdate(promoteFleetUpdate, { args: [input] })),
    abort: (input) => refusable(handle.executeUpdate(abortFleetUpdate, { args: [input] })),
    raw: handle,
  };
}

/** An update's answer, or {@link FleetUpdateRefusedError} with the fleet's reason when its validator refused it. */
async function refusable(update: Promise<FleetStatus>): Promise<FleetStatus> {
  try {
    return await update;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new FleetUpdateRefusedError(err.cause?.message ?? err.message, { cause: err });
    throw err;
  }
}
