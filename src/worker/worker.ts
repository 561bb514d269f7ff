/**
 * The composition root: configuration → Temporal connection → cluster gateways → `createActivities(deps)` →
 * Worker. Only this module builds credentials.
 * @module
 */
import { parseDuration } from '../domain/duration.js';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createDataConverter, workflowCodeWithFailureConverter } from '../codec/index.js';
import { createAlertChannels } from '../alerts/index.js';
import { temporalConnectionOptions } from '../client/connection.js';
import { createKubeGateway, type KubeGateway } from '../kube/index.js';
import type { WorkerConfig } from './config.js';
import { createCounters, installRuntime, startOpsServer, type Counters } from './ops.js';
import { workflowCodeOption, workflowsPath } from './workflow-code.js';
import { workflowInputReader } from './workflow-input.js';

/** Longest interval between two heartbeats sent to Temporal (see `maxHeartbeatThrottleInterval`). */
export const HEARTBEAT_THROTTLE = '1s';
/** A running worker and what to close after it. */
export interface KubeWorker {
  worker: Worker;
  gateways: Map<string, KubeGateway>;
  /** Closes gateways and (when this module opened it) the Temporal connection. Call after `worker.run()` ends. */
  close(): Promise<void>;
}

/** Options of {@link createKubeWorker}. */
export interface CreateKubeWorkerOptions {
  config: WorkerConfig;
  /** An existing connection (tests); otherwise one is opened from `config.temporal`. */
  connection?: NativeConnection;
  /** Bundle workflows from source even when a prebuilt bundle exists. */
  workflowsFromSource?: boolean;
  /** Counters the activities increment, exported at /metrics by the ops server (default: fresh ones). */
  counters?: Counters;
  /** Use this prebuilt workflow bundle (tests build one per run). */
  bundlePath?: string;
}

/** Connection options (address, TLS, API key): the one builder, shared with the client. */
export { temporalConnectionOptions };

/** Opens the worker's Temporal connection described by the configuration (TLS / API key when given). */
export async function connectTemporal(config: WorkerConfig['temporal']): Promise<NativeConnection> {
  return NativeConnection.connect(await temporalConnectionOptions(config));
}

/** Options of {@link createKubeActivities}. */
export interface CreateKubeActivitiesOptions {
  /** Counters the activities increment, exported at /metrics by the ops server (default: fresh ones). */
  counters?: Counters;
}

/**
 * Our activities built from a configuration, for a worker of yours that runs our workflows next to your own (one
 * bundle: re-export `kube-workflows/workflows/registry` from your workflows file). Holds the cluster credentials.
 *
 * ```ts
 * const kube = await createKubeActivities(loadWorkerConfig());
 * const worker = await Worker.create({
 *   connection, taskQueue: 'releases', workflowsPath: require.resolve('./workflows'),
 *   activities: { ...kube.activities, ...myActivities },
 *   ...kube.workerOptions, // heartbeat throttle our apply activities rely on; the codec when encryption is on
 * });
 * kube.attach(worker); // long-running observations hand over at once when this worker shuts down
 * await worker.run();
 * await kube.close();
 * ```
 */
export interface KubeActivities {
  /** Every kube-workflows activity, to spread into your worker's `activities`. */
  activities: ReturnType<typeof createActivities>;
  /** Worker options our activities and workflows need (`maxHeartbeatThrottleInterval`, `dataConverter`). */
  workerOptions: Pick<WorkerOptions, 'maxHeartbeatThrottleInterval' | 'dataConverter'>;
  /** The cluster gateways, by configured name. */
  gateways: Map<string, KubeGateway>;
  /** Tells the activities which worker runs them (they check whether it is shutting down). */
  attach(worker: Worker): void;
  /** Closes the gateways and the client connection the activities use. Call after your worker stopped. */
  close(): Promise<void>;
}

/** Builds gateways for every configured cluster and the activities over them (see {@link KubeActivities}). */
export async function createKubeActivities(
  config: WorkerConfig,
  options: CreateKubeActivitiesOptions = {},
): Promise<KubeActivities> {
  const dataConverter = createDataConverter(config.encryption);
  const gateways = new Map<string, KubeGateway>();
  for (const [name, creds] of Object.entries(config.clusters.entries)) {
    gateways.set(
      name,
      await createKubeGateway(name, creds, {
        qps: config.worker.kubeQps,
        burst: config.worker.kubeBurst,
        rateLimit: config.worker.clientRateLimit,
      }),
    );
  }
  // Activities read large manifests from their workflow's start event through a client connection.
  const clientConnection = await Connection.connect(await temporalConnectionOptions(config.temporal));
  const client = new Client({
    connection: clientConnection,
    namespace: config.temporal.namespace,
    ...(dataConverter ? { dataConverter } : {}),
  });
  const attached: { worker?: Worker } = {}; // the activities ask it whether shutdown has begun
  const activities = createActivities({
    alertChannels: createAlertChannels(config.alerts),
    temporalUiUrl: config.temporal.uiUrl,
    workflowInput: workflowInputReader(client),
    signalWorkflow: (ref, signal, arg) => client.workflow.getHandle(ref.workflowId, ref.runId).signal(signal, arg),
    gateway(cluster) {
      const gw = gateways.get(cluster || config.clusters.default);
      if (!gw) throw new Error(`unknown cluster "${cluster}"; configured: ${[...gateways.keys()].join(', ')}`);
      return gw;
    },
    clusters: () => Object.entries(config.clusters.entries).map(([name, c]) => ({ name, labels: c.labels })),
    policy: config.policy,
    payloadsEncrypted: dataConverter !== undefined,
    allowPlaintextSecrets: config.policy.allowPlaintextSecrets,
    applyConcurrency: config.worker.applyConcurrency,
    counters: options.counters ?? createCounters(),
    workerStopping: () =>
      attached.worker !== undefined && !['INITIALIZED', 'RUNNING'].includes(attached.worker.getState()),
  });
  return {
    activities,
    // Apply activities report each confirmed write in their heartbeat details, and a retried attempt skips what
    // they list: send them at least every second (the default waits up to 80% of the heartbeat timeout, 16 s),
    // so a worker that dies loses at most a second of confirmations.
    workerOptions: { maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE, ...(dataConverter ? { dataConverter } : {}) },
    gateways,
    attach(worker) {
      attached.worker = worker;
    },
    async close() {
      for (const gw of gateways.values()) gw.close();
      await clientConnection.close();
    },
  };
}

/** Builds gateways for every configured cluster and a Worker on the configured task queue. */
export async function createKubeWorker(options: CreateKubeWorkerOptions): Promise<KubeWorker> {
  const { config } = options;
  // With encryption: payloads through the AES-GCM codec, failures through the encoding failure converter, also
  // inside workflow code (a prebuilt bundle without that converter is replaced by bundling the sources at start).
  let workflowCode = options.bundlePath
    ? { workflowBundle: { codePath: options.bundlePath } }
    : workflowCodeOption(options.workflowsFromSource);
  if (config.encryption) {
    const explicitBundle = options.bundlePath || process.env.KUBE_WORKFLOWS_WORKFLOW_BUNDLE;
    workflowCode = await workflowCodeWithFailureConverter(workflowCode, explicitBundle ? undefined : workflowsPath());
  }
  const kube = await createKubeActivities(config, options.counters ? { counters: options.counters } : {});
  const ownConnection = !options.connection;
  const connection = options.connection ?? (await connectTemporal(config.temporal));
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: kube.activities,
    ...workflowCode,
    ...kube.workerOptions,
    shutdownGraceTime: parseDuration(config.worker.shutdownGraceTime),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivityTaskExecutions,
    ...workerDeploymentOptions(config.worker.deployment),
  });
  kube.attach(worker);
  return {
    worker,
    gateways: kube.gateways,
    async close() {
      await kube.close();
      if (ownConnection) await connection.close();
    },
  };
}

/**
 * Worker Versioning options for a configured deployment version (none when versioning is off). Workflows without
 * their own `versioningBehavior` are PINNED: a run finishes on the build it started on.
 */
export function workerDeploymentOptions(
  deployment: WorkerConfig['worker']['deployment'],
): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!deployment) return {};
  return {
    workerDeploymentOptions: {
      useWorkerVersioning: true,
      version: { deploymentName: deployment.name, buildId: deployment.buildId },
      defaultVersioningBehavior: 'PINNED',
    },
  };
}

/**
 * Exports each cluster client's request and watch counts at `/metrics` (label `cluster`): what the worker costs the
 * API servers, and whether client-side limiting still applies (see `ClientRateLimit`).
 */
export function observeKubeClients(counters: Counters, gateways: ReadonlyMap<string, KubeGateway>): void {
  const per = (read: (s: KubeGateway['stats']) => number) => (): { labels: { cluster: string }; value: number }[] =>
    [...gateways].map(([cluster, gw]) => ({ labels: { cluster }, value: read(gw.stats) }));
  counters
    .observe(
      'kube_workflows_kube_requests_total',
      'counter',
      'Requests sent to the API server (watches included).',
      per((s) => s.requests),
    )
    .observe(
      'kube_workflows_kube_throttled_total',
      'counter',
      'Answers 429 (or 503 with Retry-After) from the API server.',
      per((s) => s.throttled),
    )
    .observe(
      'kube_workflows_kube_client_delayed_total',
      'counter',
      'Requests that waited for the client-side rate limit.',
      per((s) => s.delayed),
    )
    .observe(
      'kube_workflows_kube_watch_opens_total',
      'counter',
      'Watch streams opened (reconnects included).',
      per((s) => s.watchOpens),
    )
    .observe(
      'kube_workflows_kube_watches_open',
      'gauge',
      'Watch streams open now.',
      per((s) => s.watchesOpen),
    )
    .observe(
      'kube_workflows_kube_server_flow_control',
      'gauge',
      '1 when the API server announced API Priority and Fairness (client-side limiting then stops unless configured).',
      per((s) => (s.serverFlowControl ? 1 : 0)),
    );
}

/**
 * Runs a worker until SIGINT/SIGTERM, then shuts down gracefully (in-flight activities get
 * `shutdownGraceTime` to finish) and closes connections.
 */
export async function runWorker(
  config: WorkerConfig,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<void> {
  installRuntime({
    json: config.worker.logFormat === 'json',
    logLevel: config.worker.logLevel,
    metricsBindAddress: config.worker.metricsBindAddress,
  });
  const counters = createCounters();
  const kw = await createKubeWorker({ config, counters });
  observeKubeClients(counters, kw.gateways);
  const ops =
    config.worker.healthPort === undefined
      ? undefined
      : await startOpsServer({
          port: config.worker.healthPort,
          counters,
          async readiness() {
            const reasons: string[] = [];
            if (kw.worker.getState() !== 'RUNNING') reasons.push(`worker is ${kw.worker.getState()}`);
            await Promise.all(
              [...kw.gateways.values()].map((gw) =>
                gw.ping().catch((err: unknown) => reasons.push(`cluster ${gw.cluster}: ${(err as Error).message}`)),
              ),
            );
            return reasons;
          },
        });
  if (ops) log(`health and metrics on ${ops.url}/healthz, /readyz, /metrics`);
  if (config.worker.metricsBindAddress)
    log(`Temporal runtime metrics on http://${config.worker.metricsBindAddress}/metrics`);
  const stop = (signal: string): void => {
    log(`received ${signal}: shutting down (grace time ${config.worker.shutdownGraceTime})`);
    kw.worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  log(
    `worker polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace}); ` +
      `clusters: ${[...kw.gateways.keys()].join(', ')} (default ${config.clusters.default}); ` +
      (config.worker.deployment
        ? `worker deployment "${config.worker.deployment.name}" build "${config.worker.deployment.buildId}"; `
        : '') +
      (config.encryption
        ? `payloads encrypted with key id "${config.encryption.encryptWith}"`
        : config.policy.allowPlaintextSecrets
          ? 'payload encryption off; deploys with Secrets ALLOWED in plaintext history'
          : 'payload encryption off (deploys with Secrets are refused)'),
  );
  try {
    await kw.worker.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await ops?.close();
    await kw.close();
  }
}
