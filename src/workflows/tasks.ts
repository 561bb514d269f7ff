/**
 * The task library: kube-workflows' operations as steps of YOUR workflows. Each helper starts one of our workflows
 * as a child (under its canonical id, so it takes the same lock a CLI or client start would), waits for its report
 * and returns it typed, or throws a typed failure you can catch:
 *
 * ```ts
 * import { deploy, scale, isRolledBack } from 'kube-workflows/workflows';
 *
 * export async function release(input: ReleaseInput): Promise<void> {
 *   await deploy({ manifests: input.staging, namespace: 'shop', app: 'cart', cluster: 'staging' });
 *   try {
 *     await deploy({ manifests: input.prod, namespace: 'shop', app: 'cart', cluster: 'prod' });
 *   } catch (err) {
 *     if (isRolledBack(err)) return; // prod restored what it changed; staging keeps the new release
 *     throw err;
 *   }
 *   await scale({ kind: 'Deployment', name: 'cart', namespace: 'shop', cluster: 'prod', replicas: 6 });
 * }
 * ```
 *
 * Run them either in your own worker next to ours (one bundle: `export * from 'kube-workflows/workflows/registry'`
 * in your workflows file, our activities from `createKubeActivities`), or against a separate kube-workflows worker
 * by passing its task queue (`{ taskQueue: 'kube-workflows' }`): the child then runs there, with that worker's
 * credentials.
 *
 * A helper never swallows a failure: an invalid input fails your workflow with the child's `InvalidInput`; a
 * deploy that rolled back throws {@link OperationFailed} with `type` `RolledBack` and the report in `details`.
 * Pass `{ throwOnFailure: false }` to get every report back instead.
 * @module
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { canaryWorkflowId } from '../domain/canary.js';
import { DEFAULT_CLUSTER_NAME } from '../domain/clusters.js';
import { fleetWorkflowId } from '../domain/fleet.js';
import { nodeWorkflowId } from '../domain/node-maintenance.js';
import { deployWorkflowId, monitorWorkflowId, scaleWorkflowId } from '../domain/workflow-ids.js';
import type { AlertEvent } from '../schemas/alerts.js';
import type { AnalysisReport, RunAnalysisInput } from '../schemas/analysis.js';
import type { CanaryReport, CanaryRolloutInput } from '../schemas/canary.js';
import type { DeployManifestsInput, DeployReport } from '../schemas/deploy.js';
import type { FleetReport, RolloutFleetInput } from '../schemas/fleet.js';
import type { MonitorHealthInput } from '../schemas/monitor.js';
import type { NodeMaintenanceInput, NodeMaintenanceReport } from '../schemas/node.js';
import type { ScaleReport, ScaleWorkloadInput } from '../schemas/scale.js';

/** Options every task helper takes. */
export interface TaskOptions {
  /**
   * Task queue of the worker that runs the operation (default: your workflow's own queue, for one worker holding
   * both). Name a separate kube-workflows worker's queue to run it there, with that worker's credentials.
   */
  readonly taskQueue?: string;
  /** Workflow id of the child (default: the operation's canonical id, which is its lock). */
  readonly workflowId?: string;
  /** Return failed reports instead of throwing {@link OperationFailed} (default false: throw). */
  readonly throwOnFailure?: boolean;
  /** Summary shown in the Web UI for the child (default: what it does). */
  readonly summary?: string;
}

/** Failure types {@link OperationFailed} carries, one per kind of unsuccessful report. */
export const OperationFailureType = {
  /** The operation changed something, failed, and restored all of it (deploy `rolledBack`, canary `aborted`). */
  RolledBack: 'RolledBack',
  /** The operation failed and could not undo everything: the report's `left` says what stays changed. */
  RollbackFailed: 'RollbackFailed',
  /** The operation failed (nothing written, or rollback was off). */
  Failed: 'OperationFailed',
  /** An approval was rejected or timed out: nothing was written. */
  Rejected: 'Rejected',
} as const;
/** One of {@link OperationFailureType}. */
export type OperationFailureType = (typeof OperationFailureType)[keyof typeof OperationFailureType];

/**
 * The error the helpers throw for an unsuccessful report: an `ApplicationFailure` (non-retryable) whose `type` is
 * one of {@link OperationFailureType} and whose `details[0]` is the report. Thrown out of your workflow, it fails
 * it with that type; catch it to decide yourself.
 */
export type OperationFailed = ApplicationFailure;

/** The failure of a helper call, whether thrown directly or wrapped by Temporal as a child workflow failure. */
function failureOf(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure) return err.cause;
  return undefined;
}

/** True when `err` is an operation that failed and restored everything it had changed. */
export function isRolledBack(err: unknown): boolean {
  return failureOf(err)?.type === OperationFailureType.RolledBack;
}

/** True when `err` is an operation that failed and could not undo everything (its report says what is left). */
export function isRollbackFailed(err: unknown): boolean {
  return failureOf(err)?.type === OperationFailureType.RollbackFailed;
}

/** True when `err` is a rejected or timed-out approval (nothing was written). */
export function isRejected(err: unknown): boolean {
  return failureOf(err)?.type === OperationFailureType.Rejected;
}

/** True when `err` is an input our workflows refused before doing anything (`InvalidInput`, `PolicyViolation`). */
export function isInvalidInput(err: unknown): boolean {
  const type = failureOf(err)?.type;
  return type === 'InvalidInput' || type === 'PolicyViolation';
}

/** The report carried by a helper's failure (`details[0]`), typed by the caller. */
export function reportOf<R>(err: unknown): R | undefined {
  return failureOf(err)?.details?.[0] as R | undefined;
}

/**
 * Which failure type an operation's outcome maps to; undefined for a successful one (`succeeded`, `planned`,
 * `promoted`). A canary's `aborted` restored everything (RolledBack); a fleet's `halted` or `aborted` may have left
 * clusters on the new release, per its halt policy (Failed: read the report).
 */
export function failureTypeOfOutcome(
  outcome: string,
  workflowType = 'deployManifests',
): OperationFailureType | undefined {
  switch (outcome) {
    case 'rolledBack':
      return OperationFailureType.RolledBack;
    case 'aborted':
      return workflowType === 'canaryRollout' ? OperationFailureType.RolledBack : OperationFailureType.Failed;
    case 'rollbackFailed':
      return OperationFailureType.RollbackFailed;
    case 'rejected':
      return OperationFailureType.Rejected;
    case 'failed':
    case 'halted':
    case 'promotionFailed':
      return OperationFailureType.Failed;
    default:
      return undefined;
  }
}

/** Runs `workflowType` as a child and returns its report, or throws {@link OperationFailed} per its outcome. */
async function runChild<R extends { outcome: string; message: string }>(
  workflowType: string,
  workflowId: string,
  input: unknown,
  summary: string,
  options: TaskOptions,
): Promise<R> {
  const report = (await executeChild(workflowType, {
    workflowId: options.workflowId ?? workflowId,
    args: [input],
    ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
    // a parent that is cancelled or terminated makes the operation stop the way it always stops (a deploy rolls
    // back what it changed) instead of being terminated half-done
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: options.summary ?? summary,
  })) as R;
  const type = failureTypeOfOutcome(report.outcome, workflowType);
  if (type && options.throwOnFailure !== false) {
    throw ApplicationFailure.create({ message: report.message, type, nonRetryable: true, details: [report] });
  }
  return report;
}

/**
 * Deploys manifests (the `deployManifests` workflow) as a child under `deploy/<cluster>/<namespace>/<app>` and
 * returns its report. Needs `app` (the lock and inventory name) and, unless the worker's default cluster is named
 * `default`, `cluster` (ids use the canonical cluster name).
 * @throws OperationFailed for `rolledBack`, `rollbackFailed`, `failed`, `rejected` (unless `throwOnFailure: false`)
 */
export async function deploy(input: DeployManifestsInput, options: TaskOptions = {}): Promise<DeployReport> {
  if (!input.app && !options.workflowId) {
    throw ApplicationFailure.nonRetryable(
      'deploy(): give input.app (the lock and inventory name) or options.workflowId',
      'InvalidInput',
    );
  }
  const id = deployWorkflowId({ cluster: input.cluster, namespace: input.namespace, app: input.app ?? '' });
  return runChild<DeployReport>(
    'deployManifests',
    id,
    input,
    `deploy ${input.app ?? id} to ${input.cluster ?? 'the default cluster'}`,
    options,
  );
}

/**
 * Scales a Deployment or StatefulSet (the `scaleWorkload` workflow) as a child under
 * `scale/<cluster>/<namespace>/<Kind>/<name>` and returns its report.
 * @throws OperationFailed for a `failed` scale (unless `throwOnFailure: false`)
 */
export async function scale(input: ScaleWorkloadInput, options: TaskOptions = {}): Promise<ScaleReport> {
  const id = scaleWorkflowId({
    cluster: input.cluster,
    namespace: input.namespace,
    kind: input.kind,
    name: input.name,
  });
  return runChild<ScaleReport>(
    'scaleWorkload',
    id,
    input,
    `scale ${input.kind}/${input.name} in ${input.namespace}`,
    options,
  );
}

/**
 * Rolls manifests out to a fleet of clusters in waves (the `rolloutFleet` workflow) as a child under
 * `fleet/<name>` and returns its report (the wave × cluster matrix).
 * @throws OperationFailed for `halted`, `aborted`, `rolledBack`, `failed` (unless `throwOnFailure: false`)
 */
export async function rollout(input: RolloutFleetInput, options: TaskOptions = {}): Promise<FleetReport> {
  return runChild<FleetReport>(
    'rolloutFleet',
    fleetWorkflowId(input.name),
    input,
    `roll ${input.app} out to fleet ${input.name}`,
    options,
  );
}

/**
 * Runs a canary of a Deployment behind a Service, without a mesh (the `canaryRollout` workflow), as a child under
 * `canary/<cluster>/<namespace>/<deployment>`, and returns its report.
 * @throws OperationFailed: `RolledBack` for `aborted` (canary removed, stable untouched), `OperationFailed` for
 *   `promotionFailed` (unless `throwOnFailure: false`)
 */
export async function canary(input: CanaryRolloutInput, options: TaskOptions = {}): Promise<CanaryReport> {
  return runChild<CanaryReport>(
    'canaryRollout',
    canaryWorkflowId({ cluster: input.cluster, namespace: input.namespace, deployment: input.deployment }),
    input,
    `canary of Deployment ${input.deployment} in ${input.namespace}`,
    options,
  );
}

/**
 * Cordons, drains (within PodDisruptionBudgets), runs the optional action hook on (reboot, upgrade) and uncordons a
 * node (the `maintainNode` workflow) as a child under `node/<cluster>/<node>`, and returns its report.
 * @throws OperationFailed for a `failed` maintenance (unless `throwOnFailure: false`)
 */
export async function maintain(input: NodeMaintenanceInput, options: TaskOptions = {}): Promise<NodeMaintenanceReport> {
  return nodeTask('maintainNode', input, options);
}

/**
 * Cordons and drains a node within its PodDisruptionBudgets, then uncordons it unless the input keeps it cordoned
 * (the `drainNode` workflow), as a child under `node/<cluster>/<node>`.
 * @throws OperationFailed for a `failed` drain (unless `throwOnFailure: false`)
 */
export async function drain(input: NodeMaintenanceInput, options: TaskOptions = {}): Promise<NodeMaintenanceReport> {
  return nodeTask('drainNode', input, options);
}

function nodeTask(
  type: 'maintainNode' | 'drainNode',
  input: NodeMaintenanceInput,
  options: TaskOptions,
): Promise<NodeMaintenanceReport> {
  return runChild<NodeMaintenanceReport>(
    type,
    nodeWorkflowId({ cluster: input.cluster ?? DEFAULT_CLUSTER_NAME, node: input.node }),
    input,
    `${type === 'drainNode' ? 'drain' : 'maintain'} node ${input.node}`,
    options,
  );
}

/**
 * Runs an analysis (the `runAnalysis` workflow: measurements on a timer, success/failure conditions, limits and a
 * no-data policy) as a child and returns its report. It never throws for an outcome: `successful`, `failed` and
 * `inconclusive` are the answer you asked for; decide on `report.outcome`. The default child id is
 * `<your workflow id>/analysis/<name>-<n>` (n counts calls in this run).
 */
export async function analyze(input: RunAnalysisInput, options: TaskOptions = {}): Promise<AnalysisReport> {
  analysisCalls += 1;
  const name = (input.spec as { name?: string }).name ?? 'analysis';
  return executeChild('runAnalysis', {
    workflowId: options.workflowId ?? `${workflowInfo().workflowId}/analysis/${name}-${analysisCalls}`,
    args: [input],
    ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: options.summary ?? `analysis ${name}`,
  }) as Promise<AnalysisReport>;
}
let analysisCalls = 0; // per workflow run: the workflow sandbox isolates module state per run

/** Options of {@link notify}. */
export interface NotifyOptions {
  /** Task queue of the worker holding the alert channels (default: your workflow's own). */
  readonly taskQueue?: string;
}

/**
 * Sends one alert event (trigger or resolve) to each named channel configured on the worker (webhook, Slack,
 * Alertmanager, PagerDuty), with the same retries and dedupe as monitors use. Resolves with what each channel
 * answered; a channel that refuses (4xx) fails the call with `AlertRejected`.
 */
export async function notify(
  channels: readonly string[],
  event: AlertEvent,
  options: NotifyOptions = {},
): Promise<Array<{ channel: string; status: number; skipped?: string }>> {
  const { deliverAlert } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: '10 seconds',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['AlertRejected', 'InvalidInput'] },
    ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
  });
  return Promise.all(channels.map((channel) => deliverAlert({ channel, event })));
}

/** Options of {@link startMonitor}. */
export interface StartMonitorOptions {
  /** Task queue of the worker that runs the monitor (default: your workflow's own). */
  readonly taskQueue?: string;
  /** When the monitor already runs: leave it (default) or fail. */
  readonly ifRunning?: 'keep' | 'fail';
}

/**
 * Starts a health monitor (the `monitorHealth` workflow, under `monitor/<name>`) that outlives your workflow
 * (parent close policy ABANDON: it keeps watching after your pipeline ends) and returns its workflow id. Stop it
 * with the client (`client.getMonitor(name).stop()`) or the CLI (`kube-workflows monitor stop <name>`).
 */
export async function startMonitor(input: MonitorHealthInput, options: StartMonitorOptions = {}): Promise<string> {
  const workflowId = monitorWorkflowId(input.name);
  try {
    await startChild('monitorHealth', {
      workflowId,
      args: [input],
      ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `monitor ${input.name}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError) || options.ifRunning === 'fail') throw err;
  }
  return workflowId;
}
