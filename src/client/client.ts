/**
 * The public client: typed starters that validate input with the workflows' own zod schemas before anything
 * starts, handles to follow and control runs, and the workflow id conventions.
 * @module
 */
import { readFile } from 'node:fs/promises';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type ConnectionOptions,
  type WorkflowHandle,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { z } from 'zod';
import { createDataConverter, loadEncryptionConfig, type EncryptionConfig } from '../codec/index.js';
import { prepareObjects } from '../domain/deploy-input.js';
import { formatProblems } from '../domain/manifests.js';
import { inferAppName } from '../domain/subject.js';
import { packJson } from '../domain/compression.js';
import { DeployManifestsInput, type ApprovalInput, type DeployReport } from '../schemas/deploy.js';
import { ScaleWorkloadInput, type ScaleReport } from '../schemas/scale.js';
import { MonitorHealthInput, type MonitorStatus, type MonitorTarget } from '../schemas/monitor.js';
import type { ApprovalResult, DeployProgress } from '../workflows/deploy.js';
import { InvalidInputError } from './errors.js';
import { deployWorkflowId, monitorWorkflowId, scaleWorkflowId } from './ids.js';
import { KubeSchedules } from './schedules.js';

/** Default task queue (DESIGN.md contract). */
export const DEFAULT_TASK_QUEUE = 'kube-workflows';

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
  /** TLS files for mTLS (default `TEMPORAL_TLS_CERT` / `_KEY` / `_CA`). */
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  /** Use an existing connection instead (it is not closed by {@link KubeWorkflowsClient.close}). */
  connection?: Connection;
  /**
   * Payload encryption (AES-256-GCM; must match the worker's keys). Default: `KUBE_WORKFLOWS_ENCRYPTION_KEYS` /
   * `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID`, else the `encryption` section of the `KUBE_WORKFLOWS_CONFIG` file, else off.
   * `false` turns it off whatever the environment says. Search attributes are never encrypted.
   */
  encryption?: EncryptionConfig | false;
  /** A data converter of your own; replaces {@link KubeWorkflowsClientOptions.encryption}. */
  dataConverter?: DataConverter;
}

export { InvalidInputError } from './errors.js';

/** What to do when a deploy of the same app is already running. */
export type DeployConflict = 'reject' | 'latestWins';

/** Options of {@link KubeWorkflowsClient.deploy}. */
export interface DeployOptions {
  /** Override the conventional id `deploy/<cluster>/<namespace>/<app>`. */
  workflowId?: string;
  /** `reject` (default) fails when one is running; `latestWins` cancels it (it rolls back) and then starts. */
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
  /** Requests cancellation: the deploy stops and rolls back what it changed. */
  cancel(): Promise<void>;
  /** Approves the plan named by `planId` (from {@link DeployHandle.progress}); refused when stale or not waiting. */
  approve(approval: ApprovalInput): Promise<ApprovalResult>;
  /** Rejects the plan: the deploy ends with outcome `rejected`, nothing written. */
  reject(approval: ApprovalInput): Promise<ApprovalResult>;
  /** The underlying Temporal handle. */
  raw: WorkflowHandle;
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

  constructor(
    /** The Temporal client. */
    readonly temporal: Client,
    /** Task queue the workflows are started on. */
    readonly taskQueue: string,
    private readonly ownConnection: Connection | undefined,
  ) {
    this.schedules = new KubeSchedules(temporal, taskQueue);
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
    const workflowId = options.workflowId ?? scaleWorkflowId(v);
    const handle = await this.temporal.workflow.start('scaleWorkload', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `scale ${v.kind}/${v.namespace}/${v.name} ${v.replicas !== undefined ? `to ${v.replicas}` : `by ${v.delta}`}`,
    });
    return { workflowId, result: () => handle.result() as Promise<ScaleReport>, raw: handle };
  }

  /**
   * Validates and starts a deploy. Throws {@link InvalidInputError} (nothing started) when the input or any
   * manifest is invalid.
   * @example
   * const client = await createKubeWorkflowsClient();
   * const handle = await client.deploy({ manifests: yamlText, namespace: 'shop', app: 'cart' });
   * const report = await handle.result(); // { outcome: 'succeeded', objects: [...] }
   */
  async deploy(input: DeployManifestsInput, options: DeployOptions = {}): Promise<DeployHandle> {
    const parsed = DeployManifestsInput.safeParse(input);
    if (!parsed.success) throw new InvalidInputError(`invalid deploy input:\n${z.prettifyError(parsed.error)}`);
    const v = parsed.data;
    // The same preparation the workflow runs in its first task: what passes here passes there.
    const objects = prepareObjects(v, undefined);
    if (!objects.ok) throw new InvalidInputError(formatProblems(objects.problems));
    if (!objects.objects.length) throw new InvalidInputError('the manifests contain no objects');
    if (v.prune && !v.app)
      throw new InvalidInputError('prune needs an explicit app name (--app): it deletes what left that app');
    const app = v.app ?? inferAppName(objects.objects) ?? 'app';
    const namespace = v.namespace ?? objects.objects.find((o) => o.metadata.namespace)?.metadata.namespace;
    const workflowId = options.workflowId ?? deployWorkflowId({ cluster: v.cluster, namespace, app });
    const args = [packLarge({ ...input, app })] as [DeployManifestsInput];
    const start = () =>
      this.temporal.workflow.start('deployManifests', {
        taskQueue: this.taskQueue,
        workflowId,
        args,
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `deploy ${app} (${objects.objects.length} objects) to ${v.cluster ?? 'default cluster'}${namespace ? `/${namespace}` : ''}${v.dryRun ? ' — dry run' : ''}`,
      });
    let handle: WorkflowHandle;
    try {
      handle = await start();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || options.onConflict !== 'latestWins') throw err;
      const running = this.temporal.workflow.getHandle(workflowId);
      await running.cancel();
      await running.result().catch(() => undefined); // it rolls back, then ends
      handle = await start();
    }
    return wrapDeploy(handle);
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
    const handle = await this.temporal.workflow.start('monitorHealth', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `monitor ${v.name}: ${v.targets.length} target spec(s), alerts to ${v.channels.join(', ') || 'no channel'} after ${v.forSeconds}s`,
    });
    return wrapMonitor(handle);
  }

  /** A handle to a running monitor by name. */
  getMonitor(name: string): MonitorHandle {
    return wrapMonitor(this.temporal.workflow.getHandle(monitorWorkflowId(name)));
  }

  /** A handle to an existing deploy by workflow id. */
  getDeploy(workflowId: string, runId?: string): DeployHandle {
    return wrapDeploy(this.temporal.workflow.getHandle(workflowId, runId));
  }

  /** Closes the connection when this client opened it. */
  async close(): Promise<void> {
    await this.ownConnection?.close();
  }
}

/** Above this many bytes of manifest text the client sends it gzip-packed (`compressed`). */
export const COMPRESS_ABOVE_BYTES = 256 * 1024;

/** Packs large manifest text so the start payload stays far below Temporal's 2 MB limit. */
function packLarge(input: DeployManifestsInput): DeployManifestsInput {
  const sources = input.sources ?? (input.manifests !== undefined ? [{ text: input.manifests }] : undefined);
  if (!sources || sources.reduce((n, s) => n + s.text.length, 0) <= COMPRESS_ABOVE_BYTES) return input;
  const { manifests: _m, sources: _s, ...rest } = input;
  return {
    ...rest,
    compressed: packJson(sources.map((s) => (s.name ? { name: s.name, text: s.text } : { text: s.text }))),
  };
}

/** An approval or rejection the deploy refused (not waiting, stale plan id, malformed input). */
export class ApprovalRefusedError extends Error {
  override readonly name = 'ApprovalRefusedError';
}

async function decideOn(
  handle: WorkflowHandle,
  update: 'approve' | 'reject',
  a: ApprovalInput,
): Promise<ApprovalResult> {
  try {
    return await handle.executeUpdate<ApprovalResult, [ApprovalInput]>(update, { args: [a] });
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
    status: () => handle.query<MonitorStatus>('status'),
    addTargets: (targets) =>
      handle.executeUpdate<number, [{ targets: MonitorTarget[] }]>('addTargets', { args: [{ targets }] }),
    removeTargets: (targets) =>
      handle.executeUpdate<number, [{ targets: MonitorTarget[] }]>('removeTargets', { args: [{ targets }] }),
    pause: async (reason) => {
      await handle.executeUpdate('setPaused', { args: [{ paused: true, ...(reason ? { reason } : {}) }] });
    },
    resume: async () => {
      await handle.executeUpdate('setPaused', { args: [{ paused: false }] });
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
    progress: () => handle.query<DeployProgress>('progress'),
    cancel: async () => {
      await handle.cancel();
    },
    approve: (a) => decideOn(handle, 'approve', a),
    reject: (a) => decideOn(handle, 'reject', a),
    raw: handle,
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
  const namespace = options.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = options.taskQueue ?? env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
  // Before connecting: a bad key configuration fails fast (EncryptionConfigError), nothing is sent in plaintext.
  const dataConverter =
    options.dataConverter ??
    createDataConverter(options.encryption === false ? undefined : (options.encryption ?? loadEncryptionConfig(env)));
  let connection = options.connection;
  let own: Connection | undefined;
  if (!connection) {
    const apiKey = options.apiKey ?? env.TEMPORAL_API_KEY;
    const certFile = options.tls?.certFile ?? env.TEMPORAL_TLS_CERT;
    const keyFile = options.tls?.keyFile ?? env.TEMPORAL_TLS_KEY;
    const caFile = options.tls?.caFile ?? env.TEMPORAL_TLS_CA;
    const connOptions: ConnectionOptions = {
      address: options.address ?? env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
      connectTimeout: '10s',
    };
    if (apiKey) connOptions.apiKey = apiKey;
    if (certFile || caFile || apiKey) {
      connOptions.tls = {
        ...(options.tls?.serverName ? { serverNameOverride: options.tls.serverName } : {}),
        ...(caFile ? { serverRootCACertificate: await readFile(caFile) } : {}),
        ...(certFile && keyFile
          ? { clientCertPair: { crt: await readFile(certFile), key: await readFile(keyFile) } }
          : {}),
      };
    }
    connection = own = await Connection.connect(connOptions);
  }
  return new KubeWorkflowsClient(
    new Client({ connection, namespace, ...(dataConverter ? { dataConverter } : {}) }),
    taskQueue,
    own,
  );
}
