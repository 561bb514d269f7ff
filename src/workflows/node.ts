/**
 * Node maintenance: `maintainNode` (drain, action hook, wait for Ready, uncordon), `drainNode` (drain and leave the
 * node cordoned, as `kubectl drain` does; uncordoned when the drain fails) and `uncordonNode`.
 *
 * ```
 * validate → slot (one of the cluster's maxUnavailable) → preflight → cordon → drain → action → Ready → finish
 *                                                          refuses:   evict within budgets, 429 → retry
 *                                                          control-   blocked ≥ escalateAfter → alert
 *                                                          plane,     onBlocked approve → approveBypass
 *                                                          last node,   deletes the blocking pods
 *                                                          degraded,  timeout → failed
 *                                                          no room                      finish: uncordon ALWAYS
 *                                                                                        (failure, cancel too),
 *                                                                                        unless keepCordoned
 * ```
 * Every write is idempotent (cordon/uncordon are merge patches carrying the run's id; an eviction of a pod that is
 * gone is success), so a worker killed anywhere resumes where it was. The steps live in {@link NodeRun}.
 * @module
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { nodeAlertFacts } from '../domain/op-alert-facts.js';
import { UncordonNodeInput, type NodeMaintenanceInput, type NodeMaintenanceReport } from '../schemas/node.js';
import { NodeRun } from './node-run.js';
import { OutcomeAlert } from './notify-outcome.js';
import { KubeCluster, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

export { approveBypassUpdate, nodeMaintenanceQuery } from './node-definitions.js';
export type { ApproveBypassResult, NodeMaintenanceStatus } from './node-definitions.js';

/**
 * Maintains a node: drains it within its pods' budgets, calls the action hook, waits for the node Ready, and
 * uncordons it — also when a step fails or the run is cancelled, unless `keepCordoned` says otherwise.
 */
export async function maintainNode(rawInput: NodeMaintenanceInput): Promise<NodeMaintenanceReport> {
  return runMaintenance(new NodeRun('maintain'), rawInput);
}

/** Drains a node and leaves it cordoned (`kubectl drain`); a drain that fails uncordons it. No action hook. */
export async function drainNode(rawInput: NodeMaintenanceInput): Promise<NodeMaintenanceReport> {
  return runMaintenance(new NodeRun('drain'), rawInput);
}

async function runMaintenance(run: NodeRun, rawInput: NodeMaintenanceInput): Promise<NodeMaintenanceReport> {
  const input = run.validate(rawInput); // first workflow task: bad input fails here, nothing has run
  // `notify`: channels checked before the cordon; one alert when the run ends (default: when it fails)
  const alert = new OutcomeAlert(input.notify, nodeAlertFacts);
  const node = { kind: 'Node', name: input.node };
  return alert.around(
    () => maintenanceSteps(run),
    () => ({
      cluster: input.cluster,
      done: [],
      undone: [],
      evidence: [{ cluster: input.cluster ?? '', objects: [node] }],
    }),
  );
}

async function maintenanceSteps(run: NodeRun): Promise<NodeMaintenanceReport> {
  const slot = await run.takeSlot(); // one maintenance per cluster (or maxUnavailable)
  try {
    await run.preflight(); // refusals end the run here: nothing was written
    let failure: unknown;
    try {
      await run.cordon();
      await run.drain(); // within budgets; escalate; bypass on approval
      await run.act(); // action hook, then Ready with no problem condition
    } catch (err) {
      failure = err;
    }
    return await run.finish(failure); // uncordon unless kept (never cancelled), report
  } finally {
    await slot.release();
  }
}

const { removeCordon } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
});

/** Uncordons a node whoever cordoned it (and removes our cordon annotation). */
export async function uncordonNode(rawInput: z.input<typeof UncordonNodeInput>): Promise<NodeMaintenanceReport> {
  const started = Date.now();
  const parsed = UncordonNodeInput.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid uncordon input:\n${z.prettifyError(parsed.error)}`,
      FailureType.InvalidInput,
    );
  }
  const { cluster = '', node } = parsed.data;
  const r = await removeCordon({ cluster, node, owner: workflowInfo().workflowId, force: true });
  const outcome = r.uncordoned ? 'succeeded' : 'failed';
  upsertKubeAttributes([
    ...(cluster ? [{ key: KubeCluster, value: cluster }] : []),
    { key: KubeOutcome, value: outcome },
  ]);
  return {
    outcome,
    cluster,
    node,
    wasCordoned: true,
    evicted: [],
    bypassed: [],
    skipped: [],
    blocked: [],
    action: { status: 'none', message: 'no action hook' },
    uncordoned: r.uncordoned,
    warnings: [],
    durationsMs: { total: Date.now() - started },
    message: `Node/${node}: ${r.message}`,
  };
}
