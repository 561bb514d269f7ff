/**
 * Health assessment: is a Kubernetes object where its spec says it should be, still getting there, or stuck?
 *
 * Contract:
 * - Pure functions over plain objects as the API server returns them (JSON). No I/O, no Node builtins, no clock
 *   except `options.now` (which defaults to `new Date()`, deterministic inside Temporal workflows). Safe to bundle
 *   into workflow code.
 * - Every field is read defensively: a missing or mistyped field never throws, it is treated as absent.
 * - {@link assessHealth} implements the kstatus rules (`sigs.k8s.io/cli-utils/pkg/kstatus`, see HEALTH.md) in their
 *   order — deletionTimestamp, generation vs observedGeneration, `Reconciling`/`Stalled` conditions, the per-kind
 *   rule, then the generic `Ready` condition — plus our rules: a workload that is InProgress fails fast when one of
 *   its current pods is known to be broken (crash loop, image pull error, failed, unschedulable for too long,
 *   restarting too often), a paused Deployment is reported as `Paused` instead of being waited on silently, and Jobs
 *   are waited on until Complete only when the caller asks.
 * - Statuses use the kstatus names. {@link HealthStatus.NotFound} and read errors ({@link HealthStatus.Unknown}) are
 *   decided by the caller that reads the object; {@link assessHealth} only returns Unknown for a Pod in phase
 *   `Unknown` or for input that is not an object.
 * - Messages are for people: they name pods as `pod namespace/name` and containers by name, in Pulumi's style
 *   (`pod shop/cart-7d9f-abcde container app: [CrashLoopBackOff] back-off 5m0s restarting failed container`).
 *   {@link describeBlockers} says, pod by pod, what keeps a workload from being Current, for timeout messages.
 * - Kinds kstatus leaves Current whatever their status says get rules of their own: a HorizontalPodAutoscaler that
 *   cannot scale fails after a grace, an APIService waits for `Available`, a LoadBalancer Service for an address.
 * - Time is an input: a rule with a duration (unschedulable for longer than a threshold, an HPA unable to scale for
 *   longer than its grace, a CronJob without a successful run for longer than its limit) can flip while no object changes, so {@link healthRecheckAt} tells the caller when to assess again; callers re-assess then as well as
 *   on every watch event.
 * @module
 */
import { HealthStatus as HealthStatusSchema } from '../schemas/health.js';
import { formatDuration } from './duration.js';
import { PROBLEM_CONDITIONS } from './node-maintenance.js';

/**
 * The health statuses by name (`HealthStatus.Current`, …): the values of the one definition, the `HealthStatus`
 * schema of `schemas/health` (kstatus names; what each means is documented there).
 */
export const HealthStatus = HealthStatusSchema.enum;
/** One of {@link HealthStatus}. */
export type HealthStatus = HealthStatusSchema;

/** The result of assessing one object. */
export interface HealthAssessment {
  /** Where the object stands. */
  status: HealthStatus;
  /**
   * A short CamelCase word saying why: `ReplicasUpdating`, `CrashLoopBackOff`, `ProgressDeadlineExceeded`, `Paused`,
   * `Available`, … Condition reasons written by controllers are passed through when the status comes from a condition.
   */
  reason: string;
  /** A sentence for people, e.g. `2 of 3 updated` or `pod shop/cart-x container app: [ImagePullBackOff] …`. */
  message: string;
}

/** An object to assess and the subject naming it (`Kind/namespace/name`, see `formatSubject`). */
export interface SubjectHealth {
  /** `Kind/namespace/name` of the object. */
  subject: string;
  /** Its latest assessment. */
  assessment: HealthAssessment;
  /**
   * What holds it back, one line each, from {@link describeBlockers}: its pods that are not ready and why. Listed
   * after the assessment by {@link formatPending}.
   */
  details?: readonly string[] | undefined;
}

/**
 * Any Kubernetes object, as JSON from the API server or as a typed client model. Only the fields below are typed;
 * everything else (ownerReferences, conditions, timestamps, …) is read defensively. There is deliberately no index
 * signature, so interfaces and client classes (e.g. `V1Deployment`) are assignable too.
 */
export interface KubeLike {
  /** `group/version`, or `v1` for the core group. When absent, built-in kinds are matched by kind alone. */
  apiVersion?: string | undefined;
  /** The object's kind, e.g. `Deployment`. */
  kind?: string | undefined;
  /** Object metadata; name, namespace, uid, generation, labels, annotations, ownerReferences are read from it. */
  metadata?: { name?: string | undefined; namespace?: string | undefined; uid?: string | undefined } | undefined;
  /** The desired state. */
  spec?: unknown;
  /** The observed state. */
  status?: unknown;
}

/** Objects related to the one being assessed, used to fail fast from pods. */
export interface RelatedObjects {
  /** Pods in the workload's namespace (others are ignored); only the workload's current pods are looked at. */
  pods?: readonly KubeLike[] | undefined;
  /** ReplicaSets in the Deployment's namespace; needed to find a Deployment's current pods. */
  replicaSets?: readonly KubeLike[] | undefined;
  /** Jobs in the CronJob's namespace; its runs, read when {@link AssessOptions.cronJobRuns} is given. */
  jobs?: readonly KubeLike[] | undefined;
}

/** How a CronJob is judged by its runs ({@link AssessOptions.cronJobRuns}). */
export interface CronJobRunsOptions {
  /**
   * Failed when the last successful run (`status.lastSuccessfulTime`, else the newest Complete Job's completion,
   * else the CronJob's creation) is more than this many seconds ago. Default: no limit.
   */
  maxSinceSuccessSeconds?: number | undefined;
}

/** Default for {@link AssessOptions.unschedulableAfterSeconds}: how long a pod may stay unschedulable. */
export const DEFAULT_UNSCHEDULABLE_AFTER_SECONDS = 60;
/** Default for {@link AssessOptions.maxRestarts}: how many container restarts are tolerated during a rollout. */
export const DEFAULT_MAX_RESTARTS = 5;
/**
 * Default for {@link AssessOptions.autoscalerGraceSeconds}: how long a HorizontalPodAutoscaler may report that it
 * cannot scale (`AbleToScale=False` or `ScalingActive=False`) before it counts as Failed. A new HPA reports
 * `ScalingActive=False FailedGetResourceMetric` until metrics-server has two samples of its pods (metrics-server
 * scrapes every 15 s, the HPA controller syncs every 15 s), and a target created in the same deploy may not exist
 * for its first sync: two minutes covers both with room, and still fails a deploy whose HPA can never scale.
 */
export const DEFAULT_AUTOSCALER_GRACE_SECONDS = 120;
/**
 * The longest a waiter goes without re-assessing, even when no watch event arrives and no rule of ours is due
 * (see {@link recheckDelayMs}): controllers apply durations of their own (progress deadline, minReadySeconds), and
 * the timestamps our rules count from are written by other clocks than the waiter's, so an instant missed for
 * either reason is caught within this bound.
 */
export const MAX_RECHECK_INTERVAL_MS = 5_000;
/** The shortest delay {@link recheckDelayMs} returns, so a rule due right now cannot spin a waiter. */
export const MIN_RECHECK_DELAY_MS = 250;
/** How many blocking pods {@link describeBlockers} names per workload; the rest are counted. */
export const MAX_PODS_DESCRIBED = 5;

/** Tuning for {@link assessHealth}. */
export interface AssessOptions {
  /** The current time, for the unschedulable threshold. Default: `new Date()`. */
  now?: Date | undefined;
  /**
   * A pod that has been unschedulable (`PodScheduled=False/Unschedulable`) for longer than this many seconds fails its
   * workload. Default {@link DEFAULT_UNSCHEDULABLE_AFTER_SECONDS} (kstatus uses 15 s for bare pods; the cluster
   * autoscaler needs longer to add a node).
   */
  unschedulableAfterSeconds?: number | undefined;
  /** A container that restarted more than this many times fails its workload. Default {@link DEFAULT_MAX_RESTARTS}. */
  maxRestarts?: number | undefined;
  /** Report a running Job as InProgress until it is Complete (Helm's `--wait-for-jobs`). Default `false`. */
  waitForJobs?: boolean | undefined;
  /**
   * A HorizontalPodAutoscaler whose `AbleToScale` or `ScalingActive` condition has been False for longer than this
   * many seconds (counted from the condition's `lastTransitionTime`) is Failed; before that it is InProgress.
   * Default {@link DEFAULT_AUTOSCALER_GRACE_SECONDS}.
   */
  autoscalerGraceSeconds?: number | undefined;
  /**
   * Judge CronJobs by their runs, as a monitor does: Failed when the newest finished run (a Job it owns, from
   * `related.jobs`) failed, or when no run succeeded for longer than `maxSinceSuccessSeconds`. Without it a CronJob
   * is always Current (kstatus: a deploy has nothing to wait for).
   */
  cronJobRuns?: CronJobRunsOptions | undefined;
}

/**
 * Container waiting reasons that mean the container will not start without a change. A current pod of a workload
 * with a container waiting for one of these reasons makes the workload Failed.
 */
export const FAILING_CONTAINER_REASONS: readonly string[] = [
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'InvalidImageName',
];

/**
 * Pod `status.reason` values for pods that failed because they were displaced (evicted, preempted, node shut down),
 * not because of their own spec. The owning controller replaces such pods, so they do not fail a workload.
 */
const DISPLACED_POD_REASONS: ReadonlySet<string> = new Set([
  'Evicted',
  'Preempting',
  'NodeShutdown',
  'Shutdown',
  'Terminated',
]);

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const DAEMONSET_TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';
const POD_TEMPLATE_GENERATION_LABEL = 'pod-template-generation';
const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
const CRONJOB_SCHEDULED_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** The value the Deployment controller treats as "no progress deadline". */
const MAX_INT32 = 2147483647;

// ---------------------------------------------------------------------------------------------------------------
// Defensive readers
// ---------------------------------------------------------------------------------------------------------------

type Dict = Readonly<Record<string, unknown>>;

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function get(value: unknown, ...path: readonly string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (!isDict(current)) return undefined;
    current = current[key];
  }
  return current;
}

function str(value: unknown, ...path: readonly string[]): string | undefined {
  const v = get(value, ...path);
  return typeof v === 'string' ? v : undefined;
}

function int(value: unknown, ...path: readonly string[]): number | undefined {
  const v = get(value, ...path);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function bool(value: unknown, ...path: readonly string[]): boolean {
  return get(value, ...path) === true;
}

function list(value: unknown, ...path: readonly string[]): readonly unknown[] {
  const v = get(value, ...path);
  return Array.isArray(v) ? (v as readonly unknown[]) : [];
}

function stringMap(value: unknown, ...path: readonly string[]): Readonly<Record<string, string>> {
  const v = get(value, ...path);
  if (!isDict(v)) return {};
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(v)) if (typeof item === 'string') out[key] = item;
  return out;
}

/** Milliseconds since the epoch of an RFC 3339 string or a Date (typed clients turn timestamps into Dates). */
function timeOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === 'string' && value !== '') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

function timeText(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  return typeof value === 'string' && value !== '' ? value : undefined;
}

interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: unknown;
}

function conditionsOf(obj: unknown): Condition[] {
  const out: Condition[] = [];
  for (const c of list(obj, 'status', 'conditions')) {
    const type = str(c, 'type');
    if (type === undefined) continue;
    out.push({
      type,
      status: str(c, 'status') ?? '',
      reason: str(c, 'reason') ?? '',
      message: str(c, 'message') ?? '',
      lastTransitionTime: get(c, 'lastTransitionTime'),
    });
  }
  return out;
}

function conditionOf(obj: unknown, type: string): Condition | undefined {
  return conditionsOf(obj).find((c) => c.type === type);
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function result(status: HealthStatus, reason: string, message: string): HealthAssessment {
  return { status, reason, message };
}

const current = (reason: string, message: string): HealthAssessment => result(HealthStatus.Current, reason, message);
const inProgress = (reason: string, message: string): HealthAssessment =>
  result(HealthStatus.InProgress, reason, message);
const failed = (reason: string, message: string): HealthAssessment => result(HealthStatus.Failed, reason, message);

interface ResolvedOptions {
  readonly now: number;
  readonly unschedulableAfterSeconds: number;
  readonly maxRestarts: number;
  readonly waitForJobs: boolean;
  readonly autoscalerGraceSeconds: number;
  readonly cronJobRuns: CronJobRunsOptions | undefined;
}

function resolveOptions(options: AssessOptions): ResolvedOptions {
  return {
    now: (options.now ?? new Date()).getTime(),
    unschedulableAfterSeconds: options.unschedulableAfterSeconds ?? DEFAULT_UNSCHEDULABLE_AFTER_SECONDS,
    maxRestarts: options.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    waitForJobs: options.waitForJobs ?? false,
    autoscalerGraceSeconds: options.autoscalerGraceSeconds ?? DEFAULT_AUTOSCALER_GRACE_SECONDS,
    cronJobRuns: options.cronJobRuns,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Generic rules (kstatus steps 1–3 and 5)
// ---------------------------------------------------------------------------------------------------------------

function terminating(obj: unknown, since: string): HealthAssessment {
  const parts = [`deletion requested at ${since}`];
  const finalizers = list(obj, 'metadata', 'finalizers').filter((f): f is string => typeof f === 'string');
  if (finalizers.length > 0) parts.push(`waiting for finalizers: ${finalizers.join(', ')}`);
  for (const type of ['NamespaceContentRemaining', 'NamespaceFinalizersRemaining']) {
    const c = conditionOf(obj, type);
    if (c?.status === 'True' && c.message !== '') parts.push(c.message);
  }
  return result(HealthStatus.Terminating, 'Terminating', parts.join('; '));
}

function generationNotObserved(generation: number, observed: number | undefined): HealthAssessment {
  const seen = observed === undefined ? 'none observed yet' : `observed ${observed}`;
  return inProgress(
    'LatestGenerationNotObserved',
    `waiting for the controller to observe generation ${generation} (${seen})`,
  );
}

function readyCondition(obj: unknown): HealthAssessment {
  const ready = conditionOf(obj, 'Ready');
  if (ready === undefined) return current('NoReadyCondition', 'no Ready condition: assumed current');
  if (ready.status === 'True') return current(ready.reason || 'Ready', ready.message || 'Ready');
  return inProgress(ready.reason || 'NotReady', ready.message || `Ready is ${ready.status || 'not set'}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Per-kind rules (kstatus step 4)
// ---------------------------------------------------------------------------------------------------------------

type KindRule = (obj: KubeLike, opts: ResolvedOptions, related: RelatedObjects) => HealthAssessment;

function alwaysCurrent(obj: KubeLike): HealthAssessment {
  return current('AlwaysReady', `${obj.kind ?? 'object'} has no rollout to wait for`);
}

/** The replica arithmetic of a Deployment (kstatus), or undefined when it is rolled out. */
function deploymentProgress(obj: KubeLike): HealthAssessment | undefined {
  const spec = int(obj, 'spec', 'replicas') ?? 1;
  const replicas = int(obj, 'status', 'replicas') ?? 0;
  const updated = int(obj, 'status', 'updatedReplicas') ?? 0;
  const ready = int(obj, 'status', 'readyReplicas') ?? 0;
  const available = int(obj, 'status', 'availableReplicas') ?? 0;
  if (spec > replicas) return inProgress('ReplicasCreating', `${replicas} of ${spec} created`);
  if (spec > updated) return inProgress('ReplicasUpdating', `${updated} of ${spec} updated`);
  if (replicas > spec) {
    return inProgress('ReplicasTerminating', `${plural(replicas - spec, 'old replica')} pending termination`);
  }
  if (updated > available) return inProgress('ReplicasUnavailable', `${available} of ${updated} updated available`);
  if (spec > ready) return inProgress('ReplicasNotReady', `${ready} of ${spec} ready`);
  return undefined;
}

function deploymentRule(obj: KubeLike): HealthAssessment {
  const progressing = conditionOf(obj, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return failed('ProgressDeadlineExceeded', progressing.message || 'progress deadline exceeded');
  }
  if (bool(obj, 'spec', 'paused')) {
    const spec = int(obj, 'spec', 'replicas') ?? 1;
    const updated = int(obj, 'status', 'updatedReplicas') ?? 0;
    return inProgress(
      'Paused',
      `Deployment is paused: the rollout does not progress until it is resumed (${updated} of ${spec} updated)`,
    );
  }
  const progress = deploymentProgress(obj);
  if (progress) return progress;

  const deadline = int(obj, 'spec', 'progressDeadlineSeconds') ?? MAX_INT32;
  const newReplicaSetAvailable = progressing?.status === 'True' && progressing.reason === 'NewReplicaSetAvailable';
  if (deadline !== MAX_INT32 && !newReplicaSetAvailable) {
    const detail = progressing?.message ? `: ${progressing.message}` : '';
    return inProgress('NewReplicaSetNotAvailable', `waiting for the new ReplicaSet to become available${detail}`);
  }
  const availableCondition = conditionOf(obj, 'Available');
  if (availableCondition?.status !== 'True') {
    return inProgress('DeploymentNotAvailable', availableCondition?.message || 'Deployment is not Available');
  }
  const spec = int(obj, 'spec', 'replicas') ?? 1;
  return current('Available', `${int(obj, 'status', 'availableReplicas') ?? 0} of ${spec} available`);
}

function replicaSetRule(obj: KubeLike): HealthAssessment {
  const failure = conditionOf(obj, 'ReplicaFailure');
  if (failure?.status === 'True') return inProgress('ReplicaFailure', failure.message || 'replica failure');
  const spec = int(obj, 'spec', 'replicas') ?? 1;
  const replicas = int(obj, 'status', 'replicas') ?? 0;
  const labeled = int(obj, 'status', 'fullyLabeledReplicas') ?? 0;
  const available = int(obj, 'status', 'availableReplicas') ?? 0;
  const ready = int(obj, 'status', 'readyReplicas') ?? 0;
  if (spec > labeled) return inProgress('ReplicasNotLabeled', `${labeled} of ${spec} fully labeled`);
  if (spec > available) return inProgress('ReplicasUnavailable', `${available} of ${spec} available`);
  if (spec > ready) return inProgress('ReplicasNotReady', `${ready} of ${spec} ready`);
  if (replicas > spec) {
    return inProgress('ReplicasTerminating', `${plural(replicas - spec, 'surplus replica')} pending termination`);
  }
  return current('Available', `${available} of ${spec} available`);
}

function statefulSetRule(obj: KubeLike): HealthAssessment {
  if (str(obj, 'spec', 'updateStrategy', 'type') === 'OnDelete') {
    return current('OnDelete', 'StatefulSet uses the OnDelete update strategy: pods are updated only when deleted');
  }
  const spec = int(obj, 'spec', 'replicas') ?? 1;
  const replicas = int(obj, 'status', 'replicas') ?? 0;
  const ready = int(obj, 'status', 'readyReplicas') ?? 0;
  const currentReplicas = int(obj, 'status', 'currentReplicas') ?? 0;
  const updated = int(obj, 'status', 'updatedReplicas') ?? 0;
  const partition = int(obj, 'spec', 'updateStrategy', 'rollingUpdate', 'partition') ?? 0;
  if (spec > replicas) return inProgress('ReplicasCreating', `${replicas} of ${spec} created`);
  if (spec > ready) return inProgress('ReplicasNotReady', `${ready} of ${spec} ready`);
  if (replicas > spec) {
    return inProgress('ReplicasTerminating', `${plural(replicas - spec, 'surplus replica')} pending termination`);
  }
  // The API server defaults the partition to 0; only a positive partition is a staged rollout.
  if (partition > 0) {
    const wanted = Math.max(spec - partition, 0);
    if (updated < wanted) {
      return inProgress('ReplicasUpdating', `${updated} of ${wanted} updated (partition ${partition})`);
    }
    return current('PartitionRolledOut', `${updated} of ${spec} updated, the rest held back by partition ${partition}`);
  }
  const revision = str(obj, 'status', 'updateRevision') ?? '';
  if (spec > currentReplicas || (str(obj, 'status', 'currentRevision') ?? '') !== revision) {
    const at = revision === '' ? '' : ` to revision ${revision}`;
    return inProgress('ReplicasUpdating', `${updated} of ${spec} updated${at}`);
  }
  return current('Ready', `${ready} of ${spec} ready`);
}

function daemonSetRule(obj: KubeLike): HealthAssessment {
  const generation = int(obj, 'metadata', 'generation');
  const observed = int(obj, 'status', 'observedGeneration');
  if (generation === undefined || observed === undefined) {
    return inProgress('LatestGenerationNotObserved', 'waiting for the DaemonSet controller to observe the DaemonSet');
  }
  const desired = int(obj, 'status', 'desiredNumberScheduled');
  if (desired === undefined) return inProgress('NoDesiredNumber', 'waiting for the number of nodes to schedule on');
  const scheduled = int(obj, 'status', 'currentNumberScheduled') ?? 0;
  const updated = int(obj, 'status', 'updatedNumberScheduled') ?? 0;
  const available = int(obj, 'status', 'numberAvailable') ?? 0;
  const ready = int(obj, 'status', 'numberReady') ?? 0;
  if (desired > scheduled) return inProgress('ReplicasScheduling', `${scheduled} of ${desired} scheduled`);
  if (desired > updated) return inProgress('ReplicasUpdating', `${updated} of ${desired} updated`);
  if (desired > available) return inProgress('ReplicasUnavailable', `${available} of ${desired} available`);
  if (desired > ready) return inProgress('ReplicasNotReady', `${ready} of ${desired} ready`);
  return current('Available', `${available} of ${desired} available`);
}

function jobRule(obj: KubeLike, opts: ResolvedOptions): HealthAssessment {
  const parallelism = int(obj, 'spec', 'parallelism') ?? 1;
  const completions = int(obj, 'spec', 'completions') ?? parallelism;
  const succeeded = int(obj, 'status', 'succeeded') ?? 0;
  const active = int(obj, 'status', 'active') ?? 0;
  const failedPods = int(obj, 'status', 'failed') ?? 0;
  for (const c of conditionsOf(obj)) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return current('Complete', `Job completed: ${succeeded} of ${completions} succeeded`);
    // FailureTarget=True is set first and always ends in Failed=True: no need to wait for the pods to terminate.
    if (c.type === 'Failed' || c.type === 'FailureTarget') {
      const why = c.message || 'Job failed';
      return failed(c.reason || 'JobFailed', `${why} (${plural(failedPods, 'failed pod')})`);
    }
  }
  if (bool(obj, 'spec', 'suspend')) return current('Suspended', 'Job is suspended');
  if (timeText(get(obj, 'status', 'startTime')) === undefined) return inProgress('JobNotStarted', 'Job not started');
  const message = `Job running: ${succeeded} of ${completions} succeeded, ${active} active, ${failedPods} failed`;
  return opts.waitForJobs ? inProgress('JobRunning', message) : current('JobRunning', message);
}

function podRule(obj: KubeLike, opts: ResolvedOptions): HealthAssessment {
  const phase = str(obj, 'status', 'phase') ?? '';
  if (phase === 'Succeeded') return current('Succeeded', 'pod completed successfully');
  if (phase === 'Running' && conditionOf(obj, 'Ready')?.status === 'True') return current('Ready', 'pod is ready');
  // A bare pod has nobody to replace it: it fails even when it was evicted.
  const failure = podFailure(obj, opts, 'always');
  if (failure) return failed(failure.reason, failure.message);
  if (phase === 'Unknown')
    return result(HealthStatus.Unknown, 'PodUnknown', 'the pod phase is Unknown: its node is not reporting');
  if (phase === 'Pending') {
    const scheduled = conditionOf(obj, 'PodScheduled');
    if (scheduled?.status === 'False') {
      return inProgress(scheduled.reason || 'PodNotScheduled', scheduled.message || 'pod is not scheduled yet');
    }
    const waiting = firstWaitingContainer(obj);
    return inProgress('PodPending', waiting ?? 'pod is Pending');
  }
  if (phase === 'Running') {
    const ready = conditionOf(obj, 'Ready');
    return inProgress('PodNotReady', `pod is running but not ready${ready?.message ? `: ${ready.message}` : ''}`);
  }
  return inProgress('PodNotObserved', 'pod phase not reported yet');
}

function pvcRule(obj: KubeLike): HealthAssessment {
  const phase = str(obj, 'status', 'phase') ?? 'unknown';
  if (phase === 'Bound') {
    const volume = str(obj, 'spec', 'volumeName');
    return current('Bound', volume ? `bound to PersistentVolume ${volume}` : 'PVC is Bound');
  }
  // A Lost claim's volume is gone: nothing will bind it again (Argo CD: Degraded).
  if (phase === 'Lost') return failed('Lost', 'the PersistentVolume bound to this claim no longer exists');
  return inProgress('NotBound', `PVC is not Bound (phase ${phase})`);
}

function serviceRule(obj: KubeLike): HealthAssessment {
  const type = str(obj, 'spec', 'type') ?? 'ClusterIP';
  if (type !== 'LoadBalancer') return current('Ready', `${type} Service is ready`);
  if (!str(obj, 'spec', 'clusterIP')) {
    return inProgress('NoClusterIP', 'cluster IP not assigned yet (Service type LoadBalancer)');
  }
  // Unlike kstatus (and like Argo CD and Helm), a LoadBalancer Service is not Current until its load balancer has
  // an address: until then nothing outside the cluster can reach it, which is what the Service is for.
  const addresses = list(obj, 'status', 'loadBalancer', 'ingress')
    .map((i) => str(i, 'ip') ?? str(i, 'hostname'))
    .filter((a): a is string => a !== undefined && a !== '');
  if (addresses.length === 0) {
    return inProgress(
      'NoLoadBalancerIngress',
      'waiting for the load balancer to get an address (status.loadBalancer.ingress is empty)',
    );
  }
  return current('LoadBalancerReady', `load balancer at ${addresses.join(', ')}`);
}

/**
 * The first instant (epoch ms) at which a HorizontalPodAutoscaler that cannot scale counts as Failed: one
 * millisecond past the grace, counted from when its `AbleToScale` or `ScalingActive` condition turned False (the
 * earlier of the two). Undefined when neither is False (or `ScalingActive` is False only because the target was
 * scaled to zero on purpose), or when the controller gave no transition time.
 */
function autoscalerFailsAt(obj: unknown, opts: ResolvedOptions): number | undefined {
  let since: number | undefined;
  for (const c of blockingAutoscalerConditions(obj)) {
    const at = timeOf(c.lastTransitionTime);
    if (at !== undefined && (since === undefined || at < since)) since = at;
  }
  return since === undefined ? undefined : since + opts.autoscalerGraceSeconds * 1000 + 1;
}

/** The `AbleToScale` / `ScalingActive` conditions of an HPA that say it cannot scale, AbleToScale first. */
function blockingAutoscalerConditions(obj: unknown): Condition[] {
  return ['AbleToScale', 'ScalingActive']
    .map((type) => conditionOf(obj, type))
    .filter((c): c is Condition => c?.status === 'False' && c.reason !== 'ScalingDisabled');
}

/**
 * HorizontalPodAutoscaler (kstatus has no rule: an HPA is Current whatever it says). `AbleToScale=False` (its target
 * is missing or cannot be scaled) or `ScalingActive=False` (no metrics: metrics-server missing, pods without
 * requests, an invalid selector) is InProgress for `autoscalerGraceSeconds` after the condition turned False, then
 * Failed, with the controller's reason and message: an HPA that cannot scale leaves its workload at whatever count
 * it has, which is a broken deploy, not a slow one. `ScalingActive=False ScalingDisabled` (the target was scaled to
 * zero on purpose) is Current. No conditions yet: InProgress until the controller's first sync.
 */
function autoscalerRule(obj: KubeLike, opts: ResolvedOptions): HealthAssessment {
  const min = int(obj, 'spec', 'minReplicas') ?? 1;
  const max = int(obj, 'spec', 'maxReplicas');
  const range = max === undefined ? `min ${min}` : `${min}–${max}`;
  const blocking = blockingAutoscalerConditions(obj)[0];
  if (blocking !== undefined) {
    const failsAt = autoscalerFailsAt(obj, opts);
    const text = `${blocking.type}=False: ${blocking.message || blocking.reason || 'cannot scale'}`;
    if (failsAt !== undefined && opts.now >= failsAt) {
      return failed(
        blocking.reason || `Not${blocking.type}`,
        `${text} (for more than ${opts.autoscalerGraceSeconds}s)`,
      );
    }
    return inProgress(blocking.reason || `Not${blocking.type}`, text);
  }
  if (conditionsOf(obj).length === 0) {
    return inProgress('NotObserved', 'waiting for the HorizontalPodAutoscaler controller to observe it');
  }
  const disabled = conditionOf(obj, 'ScalingActive');
  if (disabled?.status === 'False') return current('ScalingDisabled', disabled.message || 'scaling is disabled');
  const currentReplicas = int(obj, 'status', 'currentReplicas') ?? 0;
  const desired = int(obj, 'status', 'desiredReplicas') ?? currentReplicas;
  return current('ScalingActive', `${currentReplicas} current, ${desired} desired replicas (${range})`);
}

/**
 * APIService (kstatus: generic Ready condition, absent, so Current; Argo CD: Progressing until Available). An
 * aggregated API (metrics-server's `v1beta1.metrics.k8s.io`, a custom metrics adapter) whose `Available` condition
 * is not True is InProgress with the aggregator's reason (`ServiceNotFound`, `MissingEndpoints`,
 * `FailedDiscoveryCheck`): every client of that API group fails until it is.
 */
function apiServiceRule(obj: KubeLike): HealthAssessment {
  const available = conditionOf(obj, 'Available');
  if (available === undefined) return inProgress('NotObserved', 'waiting for the aggregator to check the API');
  if (available.status === 'True') return current(available.reason || 'Available', available.message || 'available');
  return inProgress(available.reason || 'NotAvailable', available.message || `Available is ${available.status}`);
}

function crdRule(obj: KubeLike): HealthAssessment {
  const names = conditionOf(obj, 'NamesAccepted');
  if (names?.status === 'False')
    return failed(names.reason || 'NamesNotAccepted', names.message || 'names not accepted');
  const established = conditionOf(obj, 'Established');
  if (established?.status === 'False' && established.reason !== 'Installing') {
    return failed(established.reason || 'NotEstablished', established.message || 'CRD not established');
  }
  if (established?.status === 'True') return current('Established', 'CRD is established');
  return inProgress('Installing', established?.message || 'CRD is being installed');
}

/**
 * Node (kstatus has no rule: the generic Ready condition). `Ready` not True is Failed (`NodeNotReady`, or
 * `NodeStatusUnknown` when the node controller stopped hearing from the kubelet): its pods are not served and new
 * ones are not placed there. A problem condition True (`MemoryPressure`, `DiskPressure`, `PIDPressure`,
 * `NetworkUnavailable`) is Failed with that condition as the reason: the kubelet is evicting pods or refusing new
 * ones. A cordoned node (`spec.unschedulable`) is Current: cordoning is a decision, not a fault; the message says so.
 */
function nodeRule(obj: KubeLike): HealthAssessment {
  const ready = conditionOf(obj, 'Ready');
  if (ready === undefined) return inProgress('NotObserved', 'waiting for the kubelet to report the node conditions');
  if (ready.status !== 'True') {
    const reason = ready.status === 'Unknown' ? 'NodeStatusUnknown' : 'NodeNotReady';
    return failed(reason, conditionText(ready));
  }
  for (const type of PROBLEM_CONDITIONS) {
    const c = conditionOf(obj, type);
    if (c?.status === 'True') return failed(type, conditionText(c));
  }
  const cordoned = bool(obj, 'spec', 'unschedulable') ? ' (cordoned: no new pods are placed on it)' : '';
  return current('Ready', `node is Ready${cordoned}`);
}

/** When a Job finished (its Complete or Failed condition), or undefined while it runs. */
function jobOutcome(job: unknown): { condition: Condition; succeeded: boolean } | undefined {
  for (const c of conditionsOf(job)) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { condition: c, succeeded: true };
    if (c.type === 'Failed') return { condition: c, succeeded: false };
  }
  return undefined;
}

/** When a CronJob's run was due: the CronJob controller's scheduled-time annotation, else the Job's creation. */
function scheduledAt(job: unknown): number {
  const annotated = stringMap(job, 'metadata', 'annotations')[CRONJOB_SCHEDULED_ANNOTATION];
  return timeOf(annotated) ?? timeOf(get(job, 'metadata', 'creationTimestamp')) ?? 0;
}

/** A CronJob's finished runs among `jobs` (the Jobs it owns), newest first. */
function finishedRuns(
  cronJob: KubeLike,
  jobs: readonly KubeLike[],
): { job: KubeLike; succeeded: boolean; c: Condition }[] {
  return jobs
    .filter((j) => isOwnedBy(j, cronJob))
    .map((job) => ({ job, outcome: jobOutcome(job) }))
    .filter((r): r is { job: KubeLike; outcome: NonNullable<ReturnType<typeof jobOutcome>> } => r.outcome !== undefined)
    .sort((a, b) => scheduledAt(b.job) - scheduledAt(a.job))
    .map(({ job, outcome }) => ({ job, succeeded: outcome.succeeded, c: outcome.condition }));
}

/** The last successful run of a CronJob (epoch ms): its status, else its newest Complete Job, else undefined. */
function lastSuccessOf(cronJob: KubeLike, jobs: readonly KubeLike[]): number | undefined {
  const recorded = timeOf(get(cronJob, 'status', 'lastSuccessfulTime'));
  const completed = finishedRuns(cronJob, jobs)
    .filter((r) => r.succeeded)
    .map((r) => timeOf(get(r.job, 'status', 'completionTime')) ?? timeOf(r.c.lastTransitionTime) ?? 0);
  const newest = Math.max(recorded ?? 0, ...completed);
  return newest > 0 ? newest : undefined;
}

/**
 * The first instant (epoch ms) at which a CronJob counts as having gone too long without a successful run: one
 * millisecond past `maxSinceSuccessSeconds` after its last success (or its creation). Undefined without the limit,
 * when suspended, or when no time is known.
 */
function cronJobFailsAt(obj: KubeLike, opts: ResolvedOptions, related: RelatedObjects): number | undefined {
  const max = opts.cronJobRuns?.maxSinceSuccessSeconds;
  if (max === undefined || bool(obj, 'spec', 'suspend')) return undefined;
  const since = lastSuccessOf(obj, related.jobs ?? []) ?? timeOf(get(obj, 'metadata', 'creationTimestamp'));
  return since === undefined ? undefined : since + max * 1000 + 1;
}

/**
 * CronJob. kstatus (and a deploy) treat it as always Current. Judged by its runs ({@link AssessOptions.cronJobRuns},
 * what a monitor asks): suspended is Current (`Suspended`); the newest finished run failed is Failed
 * (`LastRunFailed`, naming the Job and the Job controller's reason); no successful run for longer than
 * `maxSinceSuccessSeconds` is Failed (`NoRecentSuccess`); otherwise Current, saying when it last succeeded.
 */
function cronJobRule(obj: KubeLike, opts: ResolvedOptions, related: RelatedObjects): HealthAssessment {
  if (opts.cronJobRuns === undefined) return alwaysCurrent(obj);
  if (bool(obj, 'spec', 'suspend')) return current('Suspended', 'CronJob is suspended: no run is scheduled');
  const jobs = related.jobs ?? [];
  const last = finishedRuns(obj, jobs)[0];
  if (last !== undefined && !last.succeeded) {
    const name = str(last.job, 'metadata', 'name') ?? '(unnamed)';
    const namespace = str(last.job, 'metadata', 'namespace');
    const why = `[${last.c.reason || 'Failed'}] ${last.c.message || 'Job failed'}`;
    return failed('LastRunFailed', `last run Job ${namespace ? `${namespace}/` : ''}${name} failed: ${why}`);
  }
  const lastSuccess = lastSuccessOf(obj, jobs);
  const failsAt = cronJobFailsAt(obj, opts, related);
  const max = opts.cronJobRuns.maxSinceSuccessSeconds ?? 0;
  if (failsAt !== undefined && opts.now >= failsAt) {
    const created = timeText(get(obj, 'metadata', 'creationTimestamp')) ?? 'an unknown time';
    const when =
      lastSuccess === undefined
        ? `none since it was created at ${created}`
        : `the last succeeded at ${new Date(lastSuccess).toISOString()}`;
    return failed('NoRecentSuccess', `no successful run for more than ${formatDuration(max * 1000)}: ${when}`);
  }
  if (lastSuccess === undefined) return current('NoRunYet', 'no run has succeeded yet');
  return current('LastRunSucceeded', `last successful run at ${new Date(lastSuccess).toISOString()}`);
}

function namespaceRule(obj: KubeLike): HealthAssessment {
  if (str(obj, 'status', 'phase') === 'Terminating') {
    return result(HealthStatus.Terminating, 'Terminating', 'Namespace is terminating');
  }
  return current('Active', 'Namespace is active');
}

/** Built-in kinds with their own rule: kind -> API groups that serve it, and the rule. */
const KIND_RULES: Readonly<Record<string, { readonly groups: readonly string[]; readonly rule: KindRule }>> = {
  Secret: { groups: [''], rule: alwaysCurrent },
  ConfigMap: { groups: [''], rule: alwaysCurrent },
  CronJob: { groups: ['batch'], rule: cronJobRule },
  PodDisruptionBudget: { groups: ['policy'], rule: alwaysCurrent },
  Deployment: { groups: ['apps', 'extensions'], rule: deploymentRule },
  ReplicaSet: { groups: ['apps', 'extensions'], rule: replicaSetRule },
  StatefulSet: { groups: ['apps'], rule: statefulSetRule },
  DaemonSet: { groups: ['apps', 'extensions'], rule: daemonSetRule },
  Pod: { groups: [''], rule: podRule },
  Job: { groups: ['batch'], rule: jobRule },
  PersistentVolumeClaim: { groups: [''], rule: pvcRule },
  Service: { groups: [''], rule: serviceRule },
  CustomResourceDefinition: { groups: ['apiextensions.k8s.io'], rule: crdRule },
  Namespace: { groups: [''], rule: namespaceRule },
  HorizontalPodAutoscaler: { groups: ['autoscaling'], rule: autoscalerRule },
  APIService: { groups: ['apiregistration.k8s.io'], rule: apiServiceRule },
  Node: { groups: [''], rule: nodeRule },
};

function kindRuleOf(obj: KubeLike): KindRule | undefined {
  const kind = obj.kind;
  if (kind === undefined || !Object.hasOwn(KIND_RULES, kind)) return undefined;
  const entry = KIND_RULES[kind];
  if (entry === undefined) return undefined;
  // Items of a List come without apiVersion: then a built-in kind name is enough.
  if (obj.apiVersion !== undefined && !entry.groups.includes(groupOf(obj.apiVersion))) return undefined;
  return entry.rule;
}

/** Workload kinds whose pods are looked at to fail fast (the health rules' and the deploy wait's one list). */
export const POD_OWNING_KINDS: ReadonlySet<string> = new Set([
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
]);

// ---------------------------------------------------------------------------------------------------------------
// Pods: fail fast
// ---------------------------------------------------------------------------------------------------------------

interface PodFailure {
  readonly reason: string;
  readonly message: string;
}

/** Whether a pod in phase Failed counts: always (bare pod), unless displaced (replicated workloads), never (Jobs). */
type FailedPhasePolicy = 'always' | 'unlessDisplaced' | 'never';

function podName(pod: unknown): string {
  const name = str(pod, 'metadata', 'name') ?? '(unnamed)';
  const namespace = str(pod, 'metadata', 'namespace');
  return namespace ? `pod ${namespace}/${name}` : `pod ${name}`;
}

interface ContainerStatus {
  readonly label: string;
  readonly status: unknown;
}

function containerStatuses(pod: unknown): ContainerStatus[] {
  const out: ContainerStatus[] = [];
  const add = (field: string, word: string): void => {
    for (const status of list(pod, 'status', field)) {
      out.push({ label: `${word} ${str(status, 'name') ?? '(unnamed)'}`, status });
    }
  };
  add('initContainerStatuses', 'init container');
  add('containerStatuses', 'container');
  return out;
}

function terminationText(terminated: unknown): string | undefined {
  if (!isDict(terminated)) return undefined;
  const code = int(terminated, 'exitCode');
  const reason = str(terminated, 'reason');
  const exit = code === undefined ? '' : `exit code ${code}`;
  if (reason && exit) return `${reason} (${exit})`;
  return reason || exit || undefined;
}

function lastTermination(status: unknown): string {
  const text = terminationText(get(status, 'lastState', 'terminated'));
  return text ? `; last terminated: ${text}` : '';
}

function firstWaitingContainer(pod: unknown): string | undefined {
  for (const { label, status } of containerStatuses(pod)) {
    const reason = str(status, 'state', 'waiting', 'reason');
    if (reason) return `${label} waiting: ${reason}`;
  }
  return undefined;
}

/**
 * The first instant (epoch ms) at which an unschedulable pod counts as broken: one millisecond past the threshold,
 * since the rule is "for longer than". Undefined when the pod is not unschedulable or the scheduler gave no time.
 */
function unschedulableFailsAt(pod: unknown, opts: ResolvedOptions): number | undefined {
  const scheduled = conditionOf(pod, 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') return undefined;
  const since = timeOf(scheduled.lastTransitionTime);
  return since === undefined ? undefined : since + opts.unschedulableAfterSeconds * 1000 + 1;
}

/** Why a pod is broken beyond waiting, or undefined when it may still come up. */
function podFailure(pod: unknown, opts: ResolvedOptions, failedPhase: FailedPhasePolicy): PodFailure | undefined {
  const who = podName(pod);
  const statuses = containerStatuses(pod);

  for (const { label, status } of statuses) {
    const reason = str(status, 'state', 'waiting', 'reason');
    if (reason === undefined || !FAILING_CONTAINER_REASONS.includes(reason)) continue;
    const message = str(status, 'state', 'waiting', 'message');
    const detail = message ? ` ${message}` : '';
    return { reason, message: `${who} ${label}: [${reason}]${detail}${lastTermination(status)}` };
  }

  if (str(pod, 'status', 'phase') === 'Failed' && failedPhase !== 'never') {
    const podReason = str(pod, 'status', 'reason');
    if (failedPhase === 'always' || podReason === undefined || !DISPLACED_POD_REASONS.has(podReason)) {
      for (const { label, status } of statuses) {
        const terminated = get(status, 'state', 'terminated');
        const code = int(terminated, 'exitCode');
        if (code !== undefined && code !== 0) {
          const why = str(terminated, 'reason');
          return {
            reason: 'PodFailed',
            message: `${who} ${label} terminated (exit code ${code})${why ? `: ${why}` : ''}`,
          };
        }
      }
      const podMessage = str(pod, 'status', 'message');
      if (podReason)
        return { reason: podReason, message: `${who}: [${podReason}]${podMessage ? ` ${podMessage}` : ''}` };
      return { reason: 'PodFailed', message: `${who} failed${podMessage ? `: ${podMessage}` : ''}` };
    }
  }

  const scheduled = conditionOf(pod, 'PodScheduled');
  const failsAt = unschedulableFailsAt(pod, opts);
  if (scheduled !== undefined && failsAt !== undefined && opts.now >= failsAt) {
    const seconds = Math.floor((opts.now - (timeOf(scheduled.lastTransitionTime) ?? opts.now)) / 1000);
    const detail = scheduled.message ? ` ${scheduled.message}` : '';
    return { reason: 'Unschedulable', message: `${who}: [Unschedulable]${detail} (unschedulable for ${seconds}s)` };
  }

  for (const { label, status } of statuses) {
    const restarts = int(status, 'restartCount') ?? 0;
    if (restarts > opts.maxRestarts) {
      return {
        reason: 'TooManyRestarts',
        message: `${who} ${label} restarted ${plural(restarts, 'time')} (more than ${opts.maxRestarts})${lastTermination(status)}`,
      };
    }
  }
  return undefined;
}

function workloadPodFailure(
  workload: KubeLike,
  related: RelatedObjects,
  opts: ResolvedOptions,
): PodFailure | undefined {
  if (related.pods === undefined) return undefined;
  const pods = currentPodsOf(workload, { pods: related.pods, replicaSets: related.replicaSets ?? [] });
  // A Job retries failed pods up to its backoffLimit and says so in its own conditions.
  const policy: FailedPhasePolicy = workload.kind === 'Job' ? 'never' : 'unlessDisplaced';
  const failures = pods
    .slice()
    .sort((a, b) => (str(a, 'metadata', 'name') ?? '').localeCompare(str(b, 'metadata', 'name') ?? ''))
    .map((pod) => podFailure(pod, opts, policy))
    .filter((f): f is PodFailure => f !== undefined);
  const [first] = failures;
  if (first === undefined) return undefined;
  const more = failures.length - 1;
  return more === 0
    ? first
    : { reason: first.reason, message: `${first.message} (and ${plural(more, 'more failing pod')})` };
}

function conditionText(c: Condition): string {
  const reason = c.reason ? ` ${c.reason}` : '';
  const message = c.message ? `: ${c.message}` : '';
  return `${c.type}=${c.status || 'Unknown'}${reason}${message}`;
}

function firstWaitingDetail(pod: unknown): string | undefined {
  for (const { label, status } of containerStatuses(pod)) {
    const reason = str(status, 'state', 'waiting', 'reason');
    if (!reason) continue;
    const message = str(status, 'state', 'waiting', 'message');
    return `${label} waiting: ${reason}${message ? ` (${message})` : ''}`;
  }
  return undefined;
}

/**
 * Why one pod of a workload keeps it from being Current, or undefined when the pod is not in the way (Ready, or
 * completed). The most specific reason wins: a known failure, then scheduling, then a waiting container, then the
 * Ready condition.
 */
function podBlocker(pod: unknown, opts: ResolvedOptions): string | undefined {
  const phase = str(pod, 'status', 'phase') ?? 'Pending';
  if (phase === 'Succeeded') return undefined;
  const who = podName(pod);
  if (timeText(get(pod, 'metadata', 'deletionTimestamp')) !== undefined) return `${who} Terminating`;
  const ready = conditionOf(pod, 'Ready');
  if (phase === 'Running' && ready?.status === 'True') return undefined;
  const failure = podFailure(pod, opts, 'unlessDisplaced');
  if (failure) return failure.message;
  const scheduled = conditionOf(pod, 'PodScheduled');
  if (scheduled !== undefined && scheduled.status !== 'True') return `${who} ${phase}: ${conditionText(scheduled)}`;
  const waiting = firstWaitingDetail(pod);
  if (waiting) return `${who} ${phase}: ${waiting}`;
  if (ready !== undefined) return `${who} ${phase}: ${conditionText(ready)}`;
  return `${who} ${phase}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Owner chain
// ---------------------------------------------------------------------------------------------------------------

function isOwnedBy(child: unknown, owner: KubeLike): boolean {
  const ownerNamespace = str(owner, 'metadata', 'namespace');
  const childNamespace = str(child, 'metadata', 'namespace');
  if (ownerNamespace && childNamespace && ownerNamespace !== childNamespace) return false;
  const uid = str(owner, 'metadata', 'uid');
  const name = str(owner, 'metadata', 'name');
  return list(child, 'metadata', 'ownerReferences').some((ref) =>
    uid ? str(ref, 'uid') === uid : str(ref, 'kind') === owner.kind && name !== undefined && str(ref, 'name') === name,
  );
}

function revisionOf(obj: unknown): number {
  const text = stringMap(obj, 'metadata', 'annotations')[REVISION_ANNOTATION];
  const n = text === undefined ? Number.NaN : Number.parseInt(text, 10);
  return Number.isNaN(n) ? -1 : n;
}

function newestReplicaSet(deployment: KubeLike, replicaSets: readonly KubeLike[]): KubeLike | undefined {
  const owned = replicaSets.filter((rs) => isOwnedBy(rs, deployment));
  const wanted = stringMap(deployment, 'metadata', 'annotations')[REVISION_ANNOTATION];
  if (wanted !== undefined) {
    const match = owned.find((rs) => stringMap(rs, 'metadata', 'annotations')[REVISION_ANNOTATION] === wanted);
    if (match) return match;
  }
  let newest: KubeLike | undefined;
  for (const rs of owned) {
    if (newest === undefined) {
      newest = rs;
      continue;
    }
    const byRevision = revisionOf(rs) - revisionOf(newest);
    const created =
      (timeOf(get(rs, 'metadata', 'creationTimestamp')) ?? 0) -
      (timeOf(get(newest, 'metadata', 'creationTimestamp')) ?? 0);
    if (byRevision > 0 || (byRevision === 0 && created > 0)) newest = rs;
  }
  return newest;
}

/**
 * The pods that make up a workload's current revision, from the given pods (any order, other owners ignored):
 * - Deployment: the pods owned by its newest ReplicaSet — the owned ReplicaSet whose
 *   `deployment.kubernetes.io/revision` annotation equals the Deployment's, else the one with the highest revision.
 *   Without `replicaSets` there is no owner chain to follow and the result is empty.
 * - ReplicaSet, Job: the pods it owns (ownerReferences uid, or kind and name when the workload has no uid).
 * - StatefulSet: the pods it owns whose `controller-revision-hash` label equals `status.updateRevision` (when set).
 * - DaemonSet: the pods it owns whose `pod-template-generation` label equals the DaemonSet's
 *   `deprecated.daemonset.template.generation` annotation (when both are set).
 * - Any other kind: none.
 */
export function currentPodsOf(
  workload: KubeLike,
  related: { pods: readonly KubeLike[]; replicaSets?: readonly KubeLike[] | undefined },
): KubeLike[] {
  const owned = (owner: KubeLike): KubeLike[] => related.pods.filter((pod) => isOwnedBy(pod, owner));
  switch (workload.kind) {
    case 'Deployment': {
      const rs = newestReplicaSet(workload, related.replicaSets ?? []);
      return rs === undefined ? [] : owned(rs);
    }
    case 'ReplicaSet':
    case 'Job':
      return owned(workload);
    case 'StatefulSet': {
      const revision = str(workload, 'status', 'updateRevision');
      const pods = owned(workload);
      if (!revision) return pods;
      return pods.filter((pod) => stringMap(pod, 'metadata', 'labels')[CONTROLLER_REVISION_HASH_LABEL] === revision);
    }
    case 'DaemonSet': {
      const generation = stringMap(workload, 'metadata', 'annotations')[DAEMONSET_TEMPLATE_GENERATION_ANNOTATION];
      const pods = owned(workload);
      if (generation === undefined) return pods;
      return pods.filter((pod) => {
        const label = stringMap(pod, 'metadata', 'labels')[POD_TEMPLATE_GENERATION_LABEL];
        return label === undefined || label === generation;
      });
    }
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------------------------

/**
 * Assesses one object. Rules, in order (the first that decides wins):
 * 1. `metadata.deletionTimestamp` set -> Terminating (message names remaining finalizers).
 * 2. `metadata.generation` and `status.observedGeneration` both present and different -> InProgress
 *    (`LatestGenerationNotObserved`).
 * 3. Condition `Reconciling=True` -> InProgress; `Stalled=True` -> Failed (condition reason and message).
 * 4. The kind's rule: Deployment, ReplicaSet, StatefulSet, DaemonSet, Pod, Job, PersistentVolumeClaim, Service,
 *    CustomResourceDefinition, Namespace, HorizontalPodAutoscaler, APIService, Node; Secret, ConfigMap,
 *    PodDisruptionBudget are always Current, and so is a CronJob unless `options.cronJobRuns` asks to judge its
 *    runs (`related.jobs`).
 * 5. Otherwise the `Ready` condition: True -> Current, False/Unknown -> InProgress, absent -> Current.
 *
 * Then our rule: when a Deployment, ReplicaSet, StatefulSet, DaemonSet or Job is InProgress and `related.pods` is
 * given, its current pods ({@link currentPodsOf}) are examined and the first broken one (by name) makes it Failed:
 * a container waiting with one of {@link FAILING_CONTAINER_REASONS} (reason = the container's reason), a pod in
 * phase Failed that was not merely evicted or preempted (`PodFailed`, never for Jobs, which retry), a pod
 * unschedulable for longer than `unschedulableAfterSeconds` (`Unschedulable`), or a container restarted more than
 * `maxRestarts` times (`TooManyRestarts`). A Deployment past its progress deadline keeps reason
 * `ProgressDeadlineExceeded` and gets the pod's error appended to its message.
 *
 * A paused Deployment (`spec.paused`) is InProgress with reason `Paused`: it will not progress on its own, so
 * callers should stop waiting on it (or resume it) rather than time out. Broken pods still make it Failed.
 */
export function assessHealth(
  obj: KubeLike,
  related: RelatedObjects = {},
  options: AssessOptions = {},
): HealthAssessment {
  const input: unknown = obj;
  if (!isDict(input)) return result(HealthStatus.Unknown, 'NotAnObject', 'the object to assess is not an object');
  const opts = resolveOptions(options);

  const deletion = timeText(get(obj, 'metadata', 'deletionTimestamp'));
  if (deletion !== undefined) return terminating(obj, deletion);

  const generation = int(obj, 'metadata', 'generation');
  const observed = int(obj, 'status', 'observedGeneration');
  if (generation !== undefined && observed !== undefined && generation !== observed) {
    return generationNotObserved(generation, observed);
  }

  for (const c of conditionsOf(obj)) {
    if (c.status !== 'True') continue;
    if (c.type === 'Reconciling') return inProgress(c.reason || 'Reconciling', c.message || 'reconciling');
    if (c.type === 'Stalled') return failed(c.reason || 'Stalled', c.message || 'stalled');
  }

  const rule = kindRuleOf(obj);
  const assessment = rule ? rule(obj, opts, related) : readyCondition(obj);

  if (rule === undefined || obj.kind === undefined || !POD_OWNING_KINDS.has(obj.kind)) return assessment;
  if (assessment.status === HealthStatus.InProgress) {
    const failure = workloadPodFailure(obj, related, opts);
    if (failure) return failed(failure.reason, failure.message);
  } else if (assessment.reason === 'ProgressDeadlineExceeded') {
    const failure = workloadPodFailure(obj, related, opts);
    if (failure) return failed(assessment.reason, `${assessment.message} (${failure.message})`);
  }
  return assessment;
}

/** Kind rules with a duration of their own, as the first instant (epoch ms) at which they would fail the object. */
const OBJECT_TIMERS: ReadonlyMap<
  KindRule,
  (obj: KubeLike, opts: ResolvedOptions, related: RelatedObjects) => number | undefined
> = new Map<KindRule, (obj: KubeLike, opts: ResolvedOptions, related: RelatedObjects) => number | undefined>([
  [autoscalerRule, autoscalerFailsAt],
  [cronJobRule, cronJobFailsAt],
]);

/** Every pod rule with a duration, as the first instant (epoch ms) at which it would fail the pod. */
const POD_TIMERS: readonly ((pod: unknown, opts: ResolvedOptions) => number | undefined)[] = [unschedulableFailsAt];

/**
 * The earliest instant after `options.now` at which {@link assessHealth} of this object could change although no
 * object changed: a rule with a duration crossing its threshold (a current pod unschedulable for longer than
 * `unschedulableAfterSeconds`, a HorizontalPodAutoscaler unable to scale for longer than `autoscalerGraceSeconds`).
 * Undefined when no such rule is running. Takes the same arguments as
 * {@link assessHealth}.
 *
 * Why it exists: a waiter that re-assesses only when a watch event arrives never sees these instants — a Pending pod
 * sends no event — so it schedules a re-assessment then (see {@link recheckDelayMs}). The instant is conservative:
 * re-assessing then may find nothing changed (another rule decided first), never the other way round.
 */
export function healthRecheckAt(
  obj: KubeLike,
  related: RelatedObjects = {},
  options: AssessOptions = {},
): Date | undefined {
  const input: unknown = obj;
  if (!isDict(input) || obj.kind === undefined) return undefined;
  const rule = kindRuleOf(obj);
  if (rule === undefined) return undefined;
  const opts = resolveOptions(options);
  const objectTimer = OBJECT_TIMERS.get(rule);
  if (objectTimer !== undefined) {
    const at = objectTimer(obj, opts, related);
    return at !== undefined && at > opts.now ? new Date(at) : undefined;
  }
  let pods: readonly KubeLike[];
  if (obj.kind === 'Pod') pods = [obj];
  else if (POD_OWNING_KINDS.has(obj.kind) && related.pods !== undefined) {
    pods = currentPodsOf(obj, { pods: related.pods, replicaSets: related.replicaSets ?? [] });
  } else return undefined;
  let earliest: number | undefined;
  for (const pod of pods) {
    for (const timer of POD_TIMERS) {
      const at = timer(pod, opts);
      if (at !== undefined && at > opts.now && (earliest === undefined || at < earliest)) earliest = at;
    }
  }
  return earliest === undefined ? undefined : new Date(earliest);
}

/**
 * How long a waiter should sleep before re-assessing on its own: until `recheckAt` (from {@link healthRecheckAt},
 * the earliest over the objects awaited), but never longer than {@link MAX_RECHECK_INTERVAL_MS} nor shorter than
 * {@link MIN_RECHECK_DELAY_MS}. Watch events still trigger assessments in between.
 */
export function recheckDelayMs(recheckAt: Date | undefined, now: Date): number {
  if (recheckAt === undefined) return MAX_RECHECK_INTERVAL_MS;
  const delay = recheckAt.getTime() - now.getTime();
  return Math.min(MAX_RECHECK_INTERVAL_MS, Math.max(MIN_RECHECK_DELAY_MS, delay));
}

/**
 * What keeps a workload (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job) from being Current, one line per
 * blocker, for timeout messages: a Deployment's newest ReplicaSet that cannot create pods
 * (`ReplicaSet shop/web-6c8b: ReplicaFailure=True FailedCreate: …`), then each current pod ({@link currentPodsOf})
 * that is neither Ready nor completed, by name, with the most specific reason known:
 * `pod shop/web-6c8b-x2k4q Pending: PodScheduled=False Unschedulable: 0/3 nodes are available: …`,
 * `pod shop/web-6c8b-x2k4q Running: Ready=False ContainersNotReady: containers with unready status: [web]`,
 * `pod shop/web-6c8b-x2k4q Pending: container web waiting: ContainerCreating`, or a failure as
 * {@link assessHealth} words it. At most {@link MAX_PODS_DESCRIBED} pods are named, the rest counted. Other kinds
 * (and a Pod, whose own assessment already says why) have none.
 */
export function describeBlockers(obj: KubeLike, related: RelatedObjects = {}, options: AssessOptions = {}): string[] {
  const input: unknown = obj;
  if (!isDict(input) || obj.kind === undefined || !POD_OWNING_KINDS.has(obj.kind)) return [];
  if (kindRuleOf(obj) === undefined) return [];
  const opts = resolveOptions(options);
  const out: string[] = [];
  if (obj.kind === 'Deployment') {
    const rs = newestReplicaSet(obj, related.replicaSets ?? []);
    const failure = rs === undefined ? undefined : conditionOf(rs, 'ReplicaFailure');
    if (rs !== undefined && failure?.status === 'True') {
      const name = str(rs, 'metadata', 'name') ?? '(unnamed)';
      const namespace = str(rs, 'metadata', 'namespace');
      out.push(`ReplicaSet ${namespace ? `${namespace}/` : ''}${name}: ${conditionText(failure)}`);
    }
  }
  const blocking = currentPodsOf(obj, { pods: related.pods ?? [], replicaSets: related.replicaSets ?? [] })
    .sort((a, b) => (str(a, 'metadata', 'name') ?? '').localeCompare(str(b, 'metadata', 'name') ?? ''))
    .map((pod) => podBlocker(pod, opts))
    .filter((line): line is string => line !== undefined);
  out.push(...blocking.slice(0, MAX_PODS_DESCRIBED));
  if (blocking.length > MAX_PODS_DESCRIBED) {
    out.push(`and ${plural(blocking.length - MAX_PODS_DESCRIBED, 'more pod')} not ready`);
  }
  return out;
}

/**
 * The status of a set of objects (kstatus): any Failed -> Failed; else any Unknown -> Unknown; else all Current
 * (or no objects) -> Current; else InProgress (including Terminating and NotFound objects, which are not Current).
 */
export function summarizeHealth(items: readonly SubjectHealth[]): HealthStatus {
  if (items.some((i) => i.assessment.status === HealthStatus.Failed)) return HealthStatus.Failed;
  if (items.some((i) => i.assessment.status === HealthStatus.Unknown)) return HealthStatus.Unknown;
  if (items.every((i) => i.assessment.status === HealthStatus.Current)) return HealthStatus.Current;
  return HealthStatus.InProgress;
}

/**
 * The one timeout message for a wait over a set of objects, listing every object that is not Current with its status
 * and message (its reason when the message is empty), then its `details` (what blocks it, `; `-separated), in the
 * order given:
 * `timeout after 120s waiting for: Deployment/shop/cart InProgress (2 of 3 updated): pod shop/cart-7d9f-x2k4q Running:
 * Ready=False ContainersNotReady: containers with unready status: [app], StatefulSet/shop/db InProgress (…)`.
 */
export function formatPending(items: readonly SubjectHealth[], timeoutSeconds: number): string {
  const pending = items
    .filter((i) => i.assessment.status !== HealthStatus.Current)
    .map((i) => {
      const head = `${i.subject} ${i.assessment.status} (${i.assessment.message || i.assessment.reason})`;
      return i.details?.length ? `${head}: ${i.details.join('; ')}` : head;
    });
  const what = pending.length > 0 ? pending.join(', ') : 'nothing (all objects are Current)';
  return `timeout after ${timeoutSeconds}s waiting for: ${what}`;
}
