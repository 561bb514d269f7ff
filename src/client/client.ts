/**
 * The public client: typed starters that validate input with the workflows' own zod schemas before anything
 * starts, handles to follow and control runs, and the workflow id conventions.
 * @module
 */
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { DataConverter, UpdateDefinition } from '@temporalio/common';
import { z } from 'zod';
import { createDataConverter, loadEncryptionConfig, type EncryptionConfig } from '../codec/index.js';
import { ALLOW_PLAINTEXT_SECRETS_ENV } from '../domain/secrets.js';
import type { DeployManifestsInput, ApprovalInput, DecideAnalysisInput, DeployReport } from '../schemas/deploy.js';
import type { RolloutFleetInput } from '../schemas/fleet.js';
import { ScaleWorkloadInput, type ScaleReport } from '../schemas/scale.js';
import { MonitorHealthInput, type MonitorStatus, type MonitorTarget } from '../schemas/monitor.js';
import {
  approveUpdate,
  decideAnalysisUpdate,
  progressQuery,
  rejectUpdate,
  type AnalysisDecisionResult,
  type ApprovalResult,
  type DeployProgress,
} from '../workflows/deploy-definitions.js';
import {
  addTargetsUpdate,
  monitorStatusQuery,
  removeTargetsUpdate,
  setPausedUpdate,
} from '../workflows/monitor-definitions.js';
import type { CanaryRolloutInput } from '../schemas/canary.js';
import { canaryHandle, startCanary, type CanaryHandle, type CanaryOptions } from './canary.js';
import { resolveDefaultCluster } from './clusters.js';
import {
  DEFAULT_TASK_QUEUE,
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  temporalConnectionOptions,
  temporalSettingsFromEnv,
  type TemporalTlsSettings,
} from './connection.js';
import { prepareDeployStart } from './deploy-start.js';
import { getFleetHandle, startFleetRollout, type FleetHandle } from './fleet.js';
import { InvalidInputError, LockHeldError } from './errors.js';
import { monitorWorkflowId, scaleWorkflowId } from './ids.js';
import { KubeSchedules } from './schedules.js';
import { KubeNodes } from './node.js';
import { KubeDrift } from './drift.js';
import type { KubeWorkflows, KubeWorkflowType } from './workflow-types.js';

export { COMPRESS_ABOVE_BYTES } from './deploy-start.js';

export { DEFAULT_TASK_QUEUE } from './connection.js';

/** How long connecting to Temporal may take before the client gives up (the CLI then exits 3). */
export const CONNECT_TIMEOUT = '10s';

/** How to reach Temporal. Every field falls back to the `TEMPORAL_*` environment variables, then defaults. */
export interface KubeWorkflowsClientOptions {
  /** `host:port` (default `TEMPORAL_ADDRESS` or `127.0.0.1:7233`). */
  address?: string;
  /** Temporal namespace (default `TEMPORAL_NAMESPACE` or `default`). */
  namespace?: string;
  /** Task queue the worker polls (default `TEMPORAL_TASK_QUEUE` or `kube-workflows`). */
  taskQueue?: string;
  /** API key (Temporal Cloud), default `TEMPORAL_API_KEY`. Implies TLS. */
  apiKey?: string;
  /** TLS files for mTLS or a private CA (default `TEMPORAL_TLS_CERT` / `_KEY` / `_CA` / `_SERVER_NAME`). */
  tls?: TemporalTlsSettings;
  /** Use an existing connection instead (it is not closed by {@link KubeWorkflowsClient.close}). */
  connection?: Connection;
  /**
   * Payload encryption (AES-256-GCM; must match the worker's keys). Default: `KUBE_WORKFLOWS_ENCRYPTION_KEYS` /
   * `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID`, else the `encryption` section of the `KUBE_WORKFLOWS_CONFIG` file, else off.
   * `false` turns it off whatever the environment says. Search attributes are never encrypted.
   */
  encryption?: EncryptionConfig | false;
  /**
   * A data converter of your own; replaces {@link KubeWorkflowsClientOptions.encryption}. Any payload codec in it
   * counts as encryption for the refusal of Secrets without encryption.
   */
  dataConverter?: DataConverter;
  /**
   * Name of the worker's default cluster, used in workflow ids (the lock) when an input names no cluster. Default:
   * resolved the way the worker resolves it from the same configuration — the `KUBE_WORKFLOWS_CONFIG` file's
   * `clusters.default`, else with `KUBECONFIG` set `KUBE_WORKFLOWS_CLUSTER` (default `default`), else the file's
   * first cluster. Set it when this process does not share the worker's configuration.
   */
  defaultCluster?: string;
  /**
   * Start deploys that contain Secrets even though payloads are not encrypted: their values then sit readable in
   * workflow history (the start input; the worker must opt out too, or its plan refuses). Default
   * `KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS=true`, else false: such deploys throw {@link InvalidInputError}.
   */
  allowPlaintextSecrets?: boolean;
}

/** How a client names and guards what it starts; {@link createKubeWorkflowsClient} resolves every field. */
export interface KubeWorkflowsClientSettings {
  /** See {@link KubeWorkflowsClientOptions.defaultCluster} (default `default`). */
  defaultCluster?: string;
  /** Whether payloads are encrypted (default: the Temporal client has a payload codec). */
  payloadsEncrypted?: boolean;
  /** See {@link KubeWorkflowsClientOptions.allowPlaintextSecrets} (default false). */
  allowPlaintextSecrets?: boolean;
}

export { ClientConfigError, InvalidInputError, LockHeldError } from './errors.js';

/** What to do when a deploy of the same app is already running. */
export type DeployConflict = 'reject' | 'latestWins';

/** Options of {@link KubeWorkflowsClient.deploy}. */
export interface DeployOptions {
  /** Override the conventional id `deploy/<cluster>/<namespace>/<app>`. */
  workflowId?: string;
  /**
   * `reject` (default) throws {@link LockHeldError} when a deploy of the app runs or a scale of one of its
   * workloads holds its lock; `latestWins` cancels a running deploy (it rolls back) and then starts (a lock held by a
   * scale is never taken away: {@link LockHeldError}).
   */
  onConflict?: DeployConflict;
}

/** A started deploy. */
export interface DeployHandle {
  workflowId: string;
  runId: string;
  /** Waits for the report. Rejects with `WorkflowFailedError` when the workflow failed. */
  result(): Promise<DeployReport>;
  /** The current phase and per-object status. */
  progress(): Promise<DeployProgress>;
  /** The run holding this deploy id (a deploy, or a lock holder), its Temporal status and, for a deploy, its progress. */
  describe(): Promise<DeployStatus>;
  /** Requests cancellation: the deploy stops and rolls back what it changed. */
  cancel(): Promise<void>;
  /** Approves the plan named by `planId` (from {@link DeployHandle.progress}); refused when stale or not waiting. */
  approve(approval: ApprovalInput): Promise<ApprovalResult>;
  /** Rejects the plan: the deploy ends with outcome `rejected`, nothing written. */
  reject(approval: ApprovalInput): Promise<ApprovalResult>;
  /**
   * Decides on an inconclusive analysis (the deploy's `progress` phase is `awaitingDecision`): `promote` keeps the
   * release, `rollback` undoes it. Refused ({@link ApprovalRefusedError}) when the deploy is not waiting for one.
   * @example await handle.decideAnalysis({ decision: 'promote', by: 'alice', reason: 'no traffic at night' })
   */
  decideAnalysis(decision: DecideAnalysisInput): Promise<AnalysisDecisionResult>;
  /** The underlying Temporal handle. */
  raw: WorkflowHandle;
}

/** What holds a deploy id, and how far it got (see {@link DeployHandle.describe}). */
export interface DeployStatus {
  workflowId: string;
  runId: string;
  /** Temporal's status of the run: `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TERMINATED`, … */
  status: WorkflowExecutionStatusName;
  /**
   * The workflow type holding the id: `deployManifests`, or `holdDeployLock` when a scale of one of the app's
   * workloads (or an operator's freeze) holds the app's deploy lock.
   */
  type: string;
  /** The workflow that started this run as its child (the scale holding the lock, a scheduled deploy's wrapper). */
  parent?: string;
  startTime: Date;
  closeTime?: Date;
  /** The deploy's phase and per-object status; absent for a lock holder, or when no worker answered the query. */
  progress?: DeployProgress;
}

/** A started scale. */
export interface ScaleHandle {
  workflowId: string;
  /** Waits for the report. */
  result(): Promise<ScaleReport>;
  /** The underlying Temporal handle. */
  raw: WorkflowHandle;
}

/** A running monitor. */
export interface MonitorHandle {
  workflowId: string;
  /** Every target's state (healthy / pending / degraded) and open incidents. */
  status(): Promise<MonitorStatus>;
  /** Adds targets (validated by the monitor); resolves to the number of targets. */
  addTargets(targets: MonitorTarget[]): Promise<number>;
  /** Removes targets; their open incidents are resolved. */
  removeTargets(targets: MonitorTarget[]): Promise<number>;
  /** Pauses observation and alerting; open incidents stay open. */
  pause(reason?: string): Promise<void>;
  /** Resumes a paused monitor. */
  resume(): Promise<void>;
  /** Stops the monitor (cancels the workflow). */
  stop(): Promise<void>;
  raw: WorkflowHandle;
}

/** Starts and follows kube-workflows workflows. Build with {@link createKubeWorkflowsClient}. */
export class KubeWorkflowsClient {
  /** Schedules: scheduled scaling and periodic re-apply. */
  readonly schedules: KubeSchedules;
  /** Node maintenance: drain, maintain (drain + action hook + Ready), uncordon; handles with `approveBypass`. */
  readonly nodes: KubeNodes;
  /** Drift detection: scans of an app's objects (who changed what, old → new), handles with `approveCorrection`. */
  readonly drift: KubeDrift;
  /** The default cluster's canonical name, used in workflow ids when an input names no cluster. */
  readonly defaultCluster: string;
  /** Whether this client encrypts payloads. */
  readonly payloadsEncrypted: boolean;
  /** Whether deploys with Secrets may start without encryption. */
  readonly allowPlaintextSecrets: boolean;

  constructor(
    /** The Temporal client. */
    readonly temporal: Client,
    /** Task queue the workflows are started on. */
    readonly taskQueue: string,
    private readonly ownConnection: Connection | undefined,
    settings: KubeWorkflowsClientSettings = {},
  ) {
    this.defaultCluster = settings.defaultCluster ?? 'default';
    this.payloadsEncrypted =
      settings.payloadsEncrypted ?? temporal.options.loadedDataConverter.payloadCodecs.length > 0;
    this.allowPlaintextSecrets = settings.allowPlaintextSecrets ?? false;
    this.schedules = new KubeSchedules(temporal, taskQueue, this);
    this.nodes = new KubeNodes({ temporal, taskQueue, defaultCluster: this.defaultCluster });
    this.drift = new KubeDrift({
      temporal,
      taskQueue,
      defaultCluster: this.defaultCluster,
      payloadsEncrypted: this.payloadsEncrypted,
      allowPlaintextSecrets: this.allowPlaintextSecrets,
    });
  }

  /**
   * Validates and starts a scale of a Deployment or StatefulSet (one per workload at a time).
   * @example
   * const report = await (await client.scale({ kind: 'Deployment', name: 'cart', namespace: 'shop', replicas: 5 })).result();
   */
  async scale(input: ScaleWorkloadInput, options: { workflowId?: string } = {}): Promise<ScaleHandle> {
    const parsed = ScaleWorkloadInput.safeParse(input);
    if (!parsed.success) throw new InvalidInputError(`invalid scale input:\n${z.prettifyError(parsed.error)}`);
    const v = parsed.data;
    const workflowId = options.workflowId ?? scaleWorkflowId({ ...v, cluster: v.cluster ?? this.defaultCluster });
    const handle = await this.startWorkflow('scaleWorkload', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `scale ${v.kind}/${v.namespace}/${v.name} ${v.replicas !== undefined ? `to ${v.replicas}` : `by ${v.delta}`}`,
    });
    return { workflowId, result: () => handle.result(), raw: handle };
  }

  /**
   * Validates and starts a deploy. Throws {@link InvalidInputError} (nothing started) when the input or any
   * manifest is invalid, or when the manifests hold a Secret and payloads are not encrypted (unless
   * `allowPlaintextSecrets`); {@link LockHeldError} when the app's deploy lock is held (see
   * {@link DeployOptions.onConflict}).
   * @example
   * const client = await createKubeWorkflowsClient();
   * const handle = await client.deploy({ manifests: yamlText, namespace: 'shop', app: 'cart' });
   * const report = await handle.result(); // { outcome: 'succeeded', objects: [...] }
   */
  async deploy(input: DeployManifestsInput, options: DeployOptions = {}): Promise<DeployHandle> {
    const prepared = prepareDeployStart(input, this);
    const { app, namespace } = prepared;
    const workflowId = options.workflowId ?? prepared.workflowId;
    const start = () =>
      this.startWorkflow('deployManifests', {
        taskQueue: this.taskQueue,
        workflowId,
        args: [prepared.input],
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `deploy ${app} (${prepared.objectCount} objects) to ${input.cluster ?? this.defaultCluster}${namespace ? `/${namespace}` : ''}${input.dryRun ? ' — dry run' : ''}`,
      });
    let handle: WorkflowHandle;
    try {
      handle = await start();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const holder = await this.lockHolder(workflowId, err);
      if (options.onConflict !== 'latestWins' || holder.heldBy !== workflowId) throw holder;
      const running = this.temporal.workflow.getHandle(workflowId);
      await running.cancel();
      await running.result().catch(() => undefined); // it rolls back, then ends
      handle = await start();
    }
    return wrapDeploy(handle);
  }

  /** The {@link LockHeldError} for a deploy id that is taken, naming what holds it. */
  private async lockHolder(lockId: string, cause: Error): Promise<LockHeldError> {
    const desc = await this.temporal.workflow
      .getHandle(lockId)
      .describe()
      .catch(() => undefined);
    const run = desc ? `run ${desc.runId}, started ${desc.startTime.toISOString()}` : '';
    if (desc && desc.type !== DEPLOY_WORKFLOW_TYPE) {
      const parent = desc.parentExecution?.workflowId;
      const message = parent
        ? `the deploy lock ${lockId} is held by ${parent} (its ${desc.type} ${run}), which is writing a workload of ` +
          `this app: nothing was started; deploy again when it has ended`
        : `the deploy lock ${lockId} is held by a ${desc.type} run (${run}) started by hand (a freeze): nothing ` +
          `was started; deploy again once it is released (temporal workflow cancel -w ${lockId})`;
      return new LockHeldError(message, lockId, parent ?? lockId, { cause });
    }
    const by = desc?.parentExecution ? `, started by ${desc.parentExecution.workflowId}` : '';
    return new LockHeldError(
      `a deploy of this app is already running: ${lockId}${run ? ` (${run})` : ''}${by}. One deploy per app at a ` +
        `time: nothing was started; wait for it to end, or cancel it and start this one with --on-conflict ` +
        `latest-wins (client option onConflict: 'latestWins'; it rolls back first)`,
      lockId,
      lockId,
      { cause },
    );
  }

  /**
   * Validates and starts a monitor (workflow id `monitor/<name>`; one per name).
   * @example
   * const m = await client.monitor({ name: 'shop', channels: ['oncall'], forSeconds: 60,
   *   targets: [{ type: 'kube', namespace: 'shop', selector: 'app.kubernetes.io/part-of=shop' }] });
   * console.log(await m.status());
   */
  async monitor(input: MonitorHealthInput): Promise<MonitorHandle> {
    const parsed = MonitorHealthInput.safeParse(input);
    if (!parsed.success) throw new InvalidInputError(`invalid monitor input:\n${z.prettifyError(parsed.error)}`);
    const v = parsed.data;
    const workflowId = monitorWorkflowId(v.name);
    const handle = await this.startWorkflow('monitorHealth', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `monitor ${v.name}: ${v.targets.length} target spec(s), alerts to ${v.channels.join(', ') || 'no channel'} after ${v.forSeconds}s`,
    });
    return wrapMonitor(handle);
  }

  /**
   * Validates and starts a canary of a Deployment behind a Service (id `canary/<cluster>/<namespace>/<deployment>`,
   * one per Deployment). See {@link startCanary} for an example.
   */
  async canary(input: CanaryRolloutInput, options: CanaryOptions = {}): Promise<CanaryHandle> {
    return startCanary(this.temporal, this.taskQueue, this.defaultCluster, input, options);
  }

  /** A handle to a canary by workflow id (`canary/<cluster>/<namespace>/<deployment>`). */
  getCanary(workflowId: string): CanaryHandle {
    return canaryHandle(this.temporal.workflow.getHandle(workflowId));
  }

  /** A handle to a running monitor by name. */
  getMonitor(name: string): MonitorHandle {
    return wrapMonitor(this.temporal.workflow.getHandle(monitorWorkflowId(name)));
  }

  /**
   * Validates and starts a fleet rollout (`fleet/<name>`): the same manifests to many clusters in waves, each wave
   * baked before the next. Throws {@link InvalidInputError} for bad input and {@link LockHeldError} when that fleet
   * is already rolling out.
   * @example
   * const fleet = await client.rolloutFleet({
   *   name: 'shop', app: 'shop', manifests: yamlText, namespace: 'shop',
   *   waves: [
   *     { name: 'staging', clusters: 'env=staging', bake: { minTime: '10m' } },
   *     { name: 'prod', clusters: 'env=prod', maxParallel: 2 },
   *   ],
   * });
   * console.log((await fleet.status()).waves);
   * await fleet.promote(); // end the current bake now
   * const report = await fleet.result(); // { outcome: 'succeeded', waves: [...] }
   */
  rolloutFleet(input: RolloutFleetInput): Promise<FleetHandle> {
    return startFleetRollout(this.temporal, this.taskQueue, input);
  }

  /**
   * A handle to a fleet rollout by name or workflow id, to follow or steer it.
   * @example
   * await client.getFleet('shop').abort({ rollback: 'wave', reason: 'error rate up in eu' });
   */
  getFleet(nameOrId: string): FleetHandle {
    return getFleetHandle(this.temporal, nameOrId);
  }

  /** A handle to an existing deploy by workflow id. */
  getDeploy(workflowId: string, runId?: string): DeployHandle {
    return wrapDeploy(this.temporal.workflow.getHandle(workflowId, runId));
  }

  /** Closes the connection when this client opened it. */
  async close(): Promise<void> {
    await this.ownConnection?.close();
  }

  /** Starts a workflow the worker registers: the type name is checked, and the arguments typed, at compile time. */
  private startWorkflow<K extends KubeWorkflowType>(type: K, options: WorkflowStartOptions<KubeWorkflows[K]>) {
    return this.temporal.workflow.start<KubeWorkflows[K]>(type, options);
  }
}

/** The deploy workflow's type name, as `describe` reports it. */
const DEPLOY_WORKFLOW_TYPE: KubeWorkflowType = 'deployManifests';

/** An approval or rejection the deploy refused (not waiting, stale plan id, malformed input). */
export class ApprovalRefusedError extends Error {
  override readonly name = 'ApprovalRefusedError';
}

async function decideOn<R, A>(handle: WorkflowHandle, update: UpdateDefinition<R, [A]>, a: A): Promise<R> {
  try {
    return await handle.executeUpdate(update, { args: [a] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new ApprovalRefusedError(err.cause?.message ?? err.message, { cause: err });
    }
    throw err;
  }
}

function wrapMonitor(handle: WorkflowHandle): MonitorHandle {
  return {
    workflowId: handle.workflowId,
    status: () => handle.query(monitorStatusQuery),
    addTargets: (targets) => handle.executeUpdate(addTargetsUpdate, { args: [{ targets }] }),
    removeTargets: (targets) => handle.executeUpdate(removeTargetsUpdate, { args: [{ targets }] }),
    pause: async (reason) => {
      await handle.executeUpdate(setPausedUpdate, { args: [{ paused: true, ...(reason ? { reason } : {}) }] });
    },
    resume: async () => {
      await handle.executeUpdate(setPausedUpdate, { args: [{ paused: false }] });
    },
    stop: async () => {
      await handle.cancel();
    },
    raw: handle,
  };
}

function wrapDeploy(handle: WorkflowHandle): DeployHandle {
  return {
    workflowId: handle.workflowId,
    runId: (handle as { firstExecutionRunId?: string }).firstExecutionRunId ?? '',
    result: () => handle.result() as Promise<DeployReport>,
    progress: () => handle.query(progressQuery),
    describe: () => describeDeploy(handle),
    cancel: async () => {
      await handle.cancel();
    },
    approve: (a) => decideOn(handle, approveUpdate, a),
    reject: (a) => decideOn(handle, rejectUpdate, a),
    decideAnalysis: (d) => decideOn(handle, decideAnalysisUpdate, d),
    raw: handle,
  };
}

async function describeDeploy(handle: WorkflowHandle): Promise<DeployStatus> {
  const desc = await handle.describe();
  // Only a deploy answers `progress`; a lock holder would leave the query to time out.
  const progress =
    desc.type === DEPLOY_WORKFLOW_TYPE ? await handle.query(progressQuery).catch(() => undefined) : undefined;
  return {
    workflowId: desc.workflowId,
    runId: desc.runId,
    status: desc.status.name,
    type: desc.type,
    ...(desc.parentExecution?.workflowId ? { parent: desc.parentExecution.workflowId } : {}),
    startTime: desc.startTime,
    ...(desc.closeTime ? { closeTime: desc.closeTime } : {}),
    ...(progress ? { progress } : {}),
  };
}

/**
 * Connects to Temporal and returns a {@link KubeWorkflowsClient}.
 * @example
 * const client = await createKubeWorkflowsClient({ address: 'temporal.internal:7233', namespace: 'platform' });
 */
export async function createKubeWorkflowsClient(
  options: KubeWorkflowsClientOptions = {},
): Promise<KubeWorkflowsClient> {
  const env = process.env;
  const namespace = options.namespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_TEMPORAL_NAMESPACE;
  const taskQueue = options.taskQueue ?? env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
  // Before connecting: a bad configuration fails fast (EncryptionConfigError, ClientConfigError), nothing is sent.
  const defaultCluster = options.defaultCluster ?? resolveDefaultCluster(env);
  const dataConverter =
    options.dataConverter ??
    createDataConverter(options.encryption === false ? undefined : (options.encryption ?? loadEncryptionConfig(env)));
  let connection = options.connection;
  let own: Connection | undefined;
  if (!connection) {
    const fromEnv = temporalSettingsFromEnv(env);
    const connOptions = await temporalConnectionOptions({
      address: options.address ?? fromEnv.address ?? DEFAULT_TEMPORAL_ADDRESS,
      apiKey: options.apiKey ?? fromEnv.apiKey,
      tls: options.tls ?? fromEnv.tls,
    });
    connection = own = await Connection.connect({ ...connOptions, connectTimeout: CONNECT_TIMEOUT });
  }
  const temporal = new Client({ connection, namespace, ...(dataConverter ? { dataConverter } : {}) });
  return new KubeWorkflowsClient(temporal, taskQueue, own, {
    defaultCluster,
    payloadsEncrypted: temporal.options.loadedDataConverter.payloadCodecs.length > 0,
    allowPlaintextSecrets: options.allowPlaintextSecrets ?? env[ALLOW_PLAINTEXT_SECRETS_ENV] === 'true',
  });
}
