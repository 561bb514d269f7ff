/**
 * Worker configuration: an optional YAML file (`KUBE_WORKFLOWS_CONFIG`) overridden by environment variables,
 * validated with zod at start-up. Errors name the variable or key that is wrong.
 * @module
 */
import { DurationText } from '../schemas/duration.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  ENCRYPTION_KEY_ID_ENV,
  ENCRYPTION_KEYS_ENV,
  EncryptionConfig,
  EncryptionConfigError,
  resolveEncryptionConfig,
} from '../codec/config.js';
import { AlertChannelsConfig } from '../alerts/config.js';
import {
  DEFAULT_TASK_QUEUE,
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  type TemporalConnectionSettings,
} from '../client/connection.js';
import { DEFAULT_CLUSTER_NAME, defaultClusterName } from '../domain/clusters.js';
import { parseLabelSelector, SelectorOperator } from '../domain/selectors.js';
import { ALLOW_PLAINTEXT_SECRETS_ENV } from '../domain/secrets.js';
import { DEFAULT_BURST, DEFAULT_QPS } from '../kube/rate-limit.js';
import { DEFAULT_APPLY_CONCURRENCY } from '../activities/pool.js';
import type { ClientRateLimit } from '../kube/transport.js';
import {
  DEFAULT_POLICY,
  DEFAULT_SCALE_BOUNDS,
  type Policy,
  type ScaleBounds,
  type ScaleRule,
} from '../domain/policy.js';

export { DEFAULT_TASK_QUEUE, DEFAULT_TEMPORAL_ADDRESS, DEFAULT_TEMPORAL_NAMESPACE };
/** Default time in-flight activities get to finish on shutdown. */
export const DEFAULT_SHUTDOWN_GRACE_TIME = '30s';
/**
 * Default activity slots of a worker. Most of a deploy's activity time is a health wait on watches, which costs
 * sockets, not CPU: with the SDK's 100, 100 deploys waiting for their pods would hold every slot and the 101st could
 * not even plan until one of them finished.
 */
export const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 500;

const LABEL_KEY_RULE =
  'a label key is a name of at most 63 letters, digits, "-", "_" and "." starting and ending with a letter or ' +
  'digit, optionally after a DNS subdomain prefix and "/" (e.g. example.com/tier)';
const LABEL_VALUE_RULE =
  'a label value is empty or at most 63 letters, digits, "-", "_" and "." starting and ending with a letter or digit';

/**
 * Why `key: value` is not a valid Kubernetes label, or undefined. The API server's rules, checked through the label
 * selector parser (a key alone must parse as one `exists` requirement, `key=value` as one equality).
 */
export function clusterLabelProblem(key: string, value: string): string | undefined {
  const asKey = parseLabelSelector(key);
  const [k, ...moreKeys] = asKey.ok ? asKey.selector.requirements : [];
  if (moreKeys.length > 0 || k?.operator !== SelectorOperator.Exists || k.key !== key) return LABEL_KEY_RULE;
  const asPair = parseLabelSelector(`${key}=${value}`);
  const [pair, ...morePairs] = asPair.ok ? asPair.selector.requirements : [];
  if (morePairs.length > 0 || pair?.operator !== SelectorOperator.Equals || pair.values[0] !== value) {
    return LABEL_VALUE_RULE;
  }
  return undefined;
}

/**
 * Labels of a cluster (`env: prod`, `region: eu-1`), validated like Kubernetes labels (see
 * {@link clusterLabelProblem}); values are strings (quote numbers and booleans in YAML). Fleet rollouts choose
 * clusters by these labels.
 */
export const ClusterLabels = z
  .record(z.string(), z.string({ error: 'a label value is a string (quote numbers and booleans in YAML)' }))
  .superRefine((labels, ctx) => {
    for (const [key, value] of Object.entries(labels)) {
      const problem = clusterLabelProblem(key, value);
      if (problem)
        ctx.addIssue({ code: 'custom', path: [key], message: `invalid label "${key}: ${value}": ${problem}` });
    }
  });
/** Labels of a cluster. */
export type ClusterLabels = z.infer<typeof ClusterLabels>;

/**
 * One `clusters.entries.<name>` of the file: credentials (`kubeconfig` with an optional `context`, or
 * `inCluster: true`) and optional `labels`. One object rather than a union, so that a bad label is reported as such.
 */
const ClusterEntry = z
  .strictObject({
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    inCluster: z.literal(true).optional(),
    labels: ClusterLabels.optional(),
  })
  .superRefine((entry, ctx) => {
    if ((entry.kubeconfig === undefined) === (entry.inCluster === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected either kubeconfig (with an optional context) or inCluster: true',
      });
    } else if (entry.inCluster && entry.context !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['context'], message: 'context goes with kubeconfig, not with inCluster' });
    }
  })
  .transform((entry): FileClusterEntry => {
    const labels = entry.labels === undefined ? {} : { labels: entry.labels };
    if (entry.kubeconfig === undefined) return { inCluster: true, ...labels };
    return { kubeconfig: entry.kubeconfig, ...(entry.context ? { context: entry.context } : {}), ...labels };
  });

/** A file's cluster entry after validation. */
type FileClusterEntry = ({ kubeconfig: string; context?: string } | { inCluster: true }) & { labels?: ClusterLabels };

/** Environment variable with the labels of the `KUBECONFIG` cluster: `k=v,k2=v2`. */
export const CLUSTER_LABELS_ENV = 'KUBE_WORKFLOWS_CLUSTER_LABELS';

/** Environment variable naming this worker's Worker Deployment (overrides `worker.deployment.name`). */
export const DEPLOYMENT_NAME_ENV = 'KUBE_WORKFLOWS_DEPLOYMENT_NAME';
/** Environment variable with this worker's build id (overrides `worker.deployment.buildId`). */
export const BUILD_ID_ENV = 'KUBE_WORKFLOWS_BUILD_ID';

// Conservative: no '.' or ':' in a deployment name, since the server writes a version as `name.buildId` (API) and
// `name:buildId` (the TemporalWorkerDeploymentVersion search attribute); no blanks in either.
const DeploymentName = z
  .string()
  .regex(/^[A-Za-z0-9][-A-Za-z0-9_]{0,254}$/, 'letters, digits, "-" and "_" (at most 255), e.g. kube-workflows');
const BuildId = z
  .string()
  .regex(
    /^[A-Za-z0-9][-A-Za-z0-9_.+]{0,254}$/,
    'letters, digits, "-", "_", "." and "+" (at most 255), e.g. 1.4.0 or a git commit',
  );

/** The configuration file's schema (every key optional; environment fills in). */
export const WorkerConfigFile = z.strictObject({
  temporal: z
    .strictObject({
      address: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      taskQueue: z.string().min(1).optional(),
      apiKey: z.string().min(1).optional(),
      /** The Temporal Web UI's address (`TEMPORAL_UI_URL` overrides): operation alerts link to their run there. */
      uiUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
      tls: z
        .strictObject({
          certFile: z.string().optional(),
          keyFile: z.string().optional(),
          caFile: z.string().optional(),
          serverName: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  clusters: z
    .strictObject({
      default: z.string().min(1).optional(),
      entries: z.record(z.string().regex(/^[a-z0-9][-a-z0-9]*$/), ClusterEntry).optional(),
    })
    .optional(),
  policy: z
    .strictObject({
      namespaces: z.array(z.string().min(1)).min(1).optional(),
      allowClusterScoped: z.boolean().optional(),
      /** Let deploys put Secrets into unencrypted workflow history (default false: refused without encryption). */
      allowPlaintextSecrets: z.boolean().optional(),
      deniedKinds: z.array(z.string()).optional(),
      scale: z
        .strictObject({
          minReplicas: z.number().int().min(1).optional(),
          maxReplicas: z.number().int().min(1).optional(),
          allowZero: z.boolean().optional(),
          rules: z
            .array(
              z.strictObject({
                namespaces: z.array(z.string().min(1)).min(1),
                names: z.array(z.string().min(1)).optional(),
                minReplicas: z.number().int().min(1).default(1),
                maxReplicas: z.number().int().min(1),
                allowZero: z.boolean().default(false),
              }),
            )
            .optional(),
        })
        .optional(),
    })
    .optional(),
  /** Named alert channels (webhook, slack, alertmanager, pagerduty) with their credentials. */
  alerts: AlertChannelsConfig.optional(),
  worker: z
    .strictObject({
      /** A duration (`30s`, `2m`, `1m30s`) or plain seconds. */
      shutdownGraceTime: DurationText.transform((v) => (typeof v === 'number' ? `${v}s` : v.trim())).optional(),
      maxConcurrentActivityTaskExecutions: z.number().int().positive().optional(),
      applyConcurrency: z.number().int().min(1).max(128).optional(),
      kubeQps: z.number().positive().optional(),
      kubeBurst: z.number().int().positive().optional(),
      /** When kubeQps/kubeBurst apply: `auto` until the API server shows API Priority and Fairness, `always`, `off`. */
      clientRateLimit: z.enum(['auto', 'always', 'off']).optional(),
      healthPort: z.number().int().min(0).max(65_535).optional(),
      metricsBindAddress: z
        .string()
        .regex(/^[^\s:]+:\d+$/, 'host:port, e.g. 0.0.0.0:9464')
        .optional(),
      logFormat: z.enum(['json', 'text']).optional(),
      logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).optional(),
      /** Worker Versioning: this build's deployment name and build id (README "Upgrading workers"). */
      deployment: z.strictObject({ name: DeploymentName.optional(), buildId: BuildId.optional() }).optional(),
    })
    .optional(),
  /** Payload encryption keys (see `src/codec`); `KUBE_WORKFLOWS_ENCRYPTION_KEYS` / `_KEY_ID` override. */
  encryption: EncryptionConfig.optional(),
});
/** The configuration file as written. */
export type WorkerConfigFile = z.infer<typeof WorkerConfigFile>;

/**
 * One resolved cluster: its credentials (a kubeconfig file and optional context, or the pod's in-cluster service
 * account) and its labels (`{}` when none are configured).
 */
export type ClusterConfig = ({ kubeconfig: string; context?: string | undefined } | { inCluster: true }) & {
  labels: Record<string, string>;
};

/** The resolved worker configuration. */
export interface WorkerConfig {
  /** Where Temporal is and how to authenticate (the client's settings too), and where this worker polls. */
  temporal: TemporalConnectionSettings & {
    namespace: string;
    taskQueue: string;
    /** The Temporal Web UI's address, when known: operation alerts (`notify`) link to their run there. */
    uiUrl?: string | undefined;
  };
  /**
   * The clusters this worker can reach, by name, and the one used when a workflow names none. Entries come from the
   * file's `clusters.entries` plus the `KUBECONFIG` cluster (named `KUBE_WORKFLOWS_CLUSTER`, labelled by
   * `KUBE_WORKFLOWS_CLUSTER_LABELS`); when the file lists that same name, the file's entry wins.
   */
  clusters: { default: string; entries: Record<string, ClusterConfig> };
  /** Alert channels by name (credentials stay in the worker, never in workflow input or history). */
  alerts: AlertChannelsConfig;
  policy: Policy & {
    scale: { defaults: ScaleBounds; rules: ScaleRule[] };
    /** Deploys with Secrets may run without payload encryption (their values then sit in plaintext history). */
    allowPlaintextSecrets: boolean;
  };
  worker: {
    shutdownGraceTime: string;
    maxConcurrentActivityTaskExecutions: number;
    applyConcurrency: number;
    kubeQps: number;
    kubeBurst: number;
    /**
     * When `kubeQps`/`kubeBurst` apply (see `ClientRateLimit` in `src/kube`): `auto` by default (the API server's
     * API Priority and Fairness paces us once it shows itself), `always` when the file sets `kubeQps` or `kubeBurst`.
     */
    clientRateLimit: ClientRateLimit;
    /** Port of /healthz, /readyz and /metrics (our counters); none when undefined. */
    healthPort?: number | undefined;
    /** host:port of the Temporal runtime's Prometheus exporter; none when undefined. */
    metricsBindAddress?: string | undefined;
    logFormat: 'json' | 'text';
    logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
    /**
     * Worker Versioning: the Worker Deployment this worker belongs to and its build id. Absent (the default):
     * unversioned, every worker on the task queue takes every task. Present: the worker polls as that version;
     * deploys, scales and locks stay on the build they started on, monitors move to the current build.
     */
    deployment?: WorkerDeploymentSetting | undefined;
  };
  /** Payload encryption; absent when off. Search attributes are never encrypted. */
  encryption?: EncryptionConfig | undefined;
}

/** This worker's version in a Worker Deployment: `deploymentName` plus `buildId` (a release number, a commit). */
export interface WorkerDeploymentSetting {
  /** The Worker Deployment (one per worker fleet and task queue set), e.g. `kube-workflows`. */
  name: string;
  /** This build's id; a new id for every change of workflow code. */
  buildId: string;
}

/** Start-up configuration error: says which variable or key and what was expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Environment variables the worker reads (documented in the README's configuration reference). */
export const WORKER_ENV_VARS = [
  'KUBE_WORKFLOWS_CONFIG',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_UI_URL',
  'KUBECONFIG',
  'KUBE_CONTEXT',
  'KUBE_WORKFLOWS_CLUSTER',
  CLUSTER_LABELS_ENV,
  'KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED',
  ALLOW_PLAINTEXT_SECRETS_ENV,
  'KUBE_WORKFLOWS_NAMESPACES',
  'KUBE_WORKFLOWS_HEALTH_PORT',
  'KUBE_WORKFLOWS_RUNTIME_METRICS',
  'KUBE_WORKFLOWS_LOG_FORMAT',
  'KUBE_WORKFLOWS_LOG_LEVEL',
  ENCRYPTION_KEYS_ENV,
  ENCRYPTION_KEY_ID_ENV,
  DEPLOYMENT_NAME_ENV,
  BUILD_ID_ENV,
] as const;

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_TASK_QUEUE: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_UI_URL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. http://127.0.0.1:8233' })
    .optional(),
  KUBECONFIG: z.string().min(1).optional(),
  KUBE_CONTEXT: z.string().min(1).optional(),
  KUBE_WORKFLOWS_CLUSTER: z
    .string()
    .regex(/^[a-z0-9][-a-z0-9]*$/, 'lowercase letters, digits and "-"')
    .optional(),
  [CLUSTER_LABELS_ENV]: z
    .string()
    .transform((text, ctx) => {
      const labels = parseLabelList(text);
      if (typeof labels === 'string') {
        ctx.addIssue({ code: 'custom', message: labels });
        return z.NEVER;
      }
      return labels;
    })
    .optional(),
  KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: z.enum(['true', 'false'], { error: 'expected true or false' }).optional(),
  [ALLOW_PLAINTEXT_SECRETS_ENV]: z.enum(['true', 'false'], { error: 'expected true or false' }).optional(),
  KUBE_WORKFLOWS_NAMESPACES: z.string().min(1).optional(),
  KUBE_WORKFLOWS_HEALTH_PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'expected a port number')
    .optional(),
  KUBE_WORKFLOWS_RUNTIME_METRICS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'expected host:port, e.g. 0.0.0.0:9464')
    .optional(),
  KUBE_WORKFLOWS_LOG_FORMAT: z.enum(['json', 'text'], { error: 'expected json or text' }).optional(),
  KUBE_WORKFLOWS_LOG_LEVEL: z
    .enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'expected TRACE, DEBUG, INFO, WARN or ERROR' })
    .optional(),
  [DEPLOYMENT_NAME_ENV]: DeploymentName.optional(),
  [BUILD_ID_ENV]: BuildId.optional(),
});

/**
 * Reads and validates the configuration. Throws {@link ConfigError} naming the bad variable or key. Refuses a
 * configuration without any cluster credentials: the Kubernetes client would otherwise fall back to
 * `http://localhost:8080` silently.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const emptyToUndefined = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' ? undefined : v]));
  const e = EnvSchema.safeParse(emptyToUndefined);
  if (!e.success) {
    const issue = e.error.issues[0];
    throw new ConfigError(`environment variable ${String(issue?.path[0])}: ${issue?.message}`);
  }
  const vars = e.data;
  let file: WorkerConfigFile = {};
  const path = env.KUBE_WORKFLOWS_CONFIG;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`KUBE_WORKFLOWS_CONFIG=${path}: cannot read the file (${(err as Error).message})`);
    }
    let data: unknown;
    try {
      data = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`${path}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    const parsed = WorkerConfigFile.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(`${path}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message}`);
    }
    file = parsed.data;
  }

  const entries: Record<string, ClusterConfig> = {};
  for (const [name, entry] of Object.entries(file.clusters?.entries ?? {})) {
    entries[name] = { ...entry, labels: entry.labels ?? {} };
  }
  const envCluster = vars.KUBE_WORKFLOWS_CLUSTER ?? DEFAULT_CLUSTER_NAME;
  // The file is the more specific description: when it lists the KUBECONFIG cluster's name, its entry is kept.
  if (vars.KUBECONFIG && !Object.hasOwn(entries, envCluster)) {
    // KUBECONFIG may list several files; client-node reads one: take the first.
    const kubeconfig = vars.KUBECONFIG.split(':')[0] as string;
    entries[envCluster] = {
      kubeconfig,
      ...(vars.KUBE_CONTEXT ? { context: vars.KUBE_CONTEXT } : {}),
      labels: vars[CLUSTER_LABELS_ENV] ?? {},
    };
  }
  const names = Object.keys(entries);
  if (!names.length) {
    throw new ConfigError(
      'no Kubernetes cluster configured: set KUBECONFIG (and optionally KUBE_CONTEXT), or list clusters in the ' +
        'KUBE_WORKFLOWS_CONFIG file. The worker never guesses a cluster.',
    );
  }
  const defaultCluster = defaultClusterName({
    configuredDefault: file.clusters?.default,
    configuredNames: Object.keys(file.clusters?.entries ?? {}),
    kubeconfigSet: vars.KUBECONFIG !== undefined,
    kubeconfigClusterName: vars.KUBE_WORKFLOWS_CLUSTER,
  });
  if (!entries[defaultCluster]) {
    throw new ConfigError(
      `clusters.default: "${defaultCluster}" is not one of the configured clusters (${names.join(', ')})`,
    );
  }
  const tlsFromEnv = vars.TEMPORAL_TLS_CERT || vars.TEMPORAL_TLS_KEY || vars.TEMPORAL_TLS_CA;
  if (!!vars.TEMPORAL_TLS_CERT !== !!vars.TEMPORAL_TLS_KEY) {
    throw new ConfigError(
      'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate and key)',
    );
  }
  const fileTls = file.temporal?.tls;
  if (!tlsFromEnv && fileTls && !!fileTls.certFile !== !!fileTls.keyFile) {
    throw new ConfigError(`${path}: temporal.tls.certFile and temporal.tls.keyFile must be set together`);
  }
  const deployment = workerDeployment(vars, file, path);
  let encryption: EncryptionConfig | undefined;
  try {
    encryption = resolveEncryptionConfig(file.encryption, env, path ? `${path}: encryption` : 'encryption');
  } catch (err) {
    if (err instanceof EncryptionConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return {
    temporal: {
      address: vars.TEMPORAL_ADDRESS ?? file.temporal?.address ?? DEFAULT_TEMPORAL_ADDRESS,
      namespace: vars.TEMPORAL_NAMESPACE ?? file.temporal?.namespace ?? DEFAULT_TEMPORAL_NAMESPACE,
      taskQueue: vars.TEMPORAL_TASK_QUEUE ?? file.temporal?.taskQueue ?? DEFAULT_TASK_QUEUE,
      ...(vars.TEMPORAL_UI_URL || file.temporal?.uiUrl ? { uiUrl: vars.TEMPORAL_UI_URL ?? file.temporal?.uiUrl } : {}),
      apiKey: vars.TEMPORAL_API_KEY ?? file.temporal?.apiKey,
      tls: tlsFromEnv
        ? {
            certFile: vars.TEMPORAL_TLS_CERT,
            keyFile: vars.TEMPORAL_TLS_KEY,
            caFile: vars.TEMPORAL_TLS_CA,
            serverName: vars.TEMPORAL_TLS_SERVER_NAME,
          }
        : file.temporal?.tls,
    },
    clusters: { default: defaultCluster, entries },
    alerts: file.alerts ?? {},
    policy: {
      namespaces: vars.KUBE_WORKFLOWS_NAMESPACES?.split(',').map((s) => s.trim()) ??
        file.policy?.namespaces ?? [...DEFAULT_POLICY.namespaces],
      allowClusterScoped:
        vars.KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED !== undefined
          ? vars.KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED === 'true'
          : (file.policy?.allowClusterScoped ?? DEFAULT_POLICY.allowClusterScoped),
      allowPlaintextSecrets:
        vars[ALLOW_PLAINTEXT_SECRETS_ENV] !== undefined
          ? vars[ALLOW_PLAINTEXT_SECRETS_ENV] === 'true'
          : (file.policy?.allowPlaintextSecrets ?? false),
      deniedKinds: file.policy?.deniedKinds ?? [...DEFAULT_POLICY.deniedKinds],
      scale: {
        defaults: {
          minReplicas: file.policy?.scale?.minReplicas ?? DEFAULT_SCALE_BOUNDS.minReplicas,
          maxReplicas: file.policy?.scale?.maxReplicas ?? DEFAULT_SCALE_BOUNDS.maxReplicas,
          allowZero: file.policy?.scale?.allowZero ?? DEFAULT_SCALE_BOUNDS.allowZero,
        },
        rules: file.policy?.scale?.rules ?? [],
      },
    },
    worker: {
      shutdownGraceTime: file.worker?.shutdownGraceTime ?? DEFAULT_SHUTDOWN_GRACE_TIME,
      maxConcurrentActivityTaskExecutions:
        file.worker?.maxConcurrentActivityTaskExecutions ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES,
      applyConcurrency: file.worker?.applyConcurrency ?? DEFAULT_APPLY_CONCURRENCY,
      kubeQps: file.worker?.kubeQps ?? DEFAULT_QPS,
      kubeBurst: file.worker?.kubeBurst ?? DEFAULT_BURST,
      clientRateLimit:
        file.worker?.clientRateLimit ??
        (file.worker?.kubeQps !== undefined || file.worker?.kubeBurst !== undefined ? 'always' : 'auto'),
      healthPort:
        vars.KUBE_WORKFLOWS_HEALTH_PORT !== undefined
          ? Number(vars.KUBE_WORKFLOWS_HEALTH_PORT)
          : file.worker?.healthPort,
      metricsBindAddress: vars.KUBE_WORKFLOWS_RUNTIME_METRICS ?? file.worker?.metricsBindAddress,
      logFormat: vars.KUBE_WORKFLOWS_LOG_FORMAT ?? file.worker?.logFormat ?? 'json',
      logLevel: vars.KUBE_WORKFLOWS_LOG_LEVEL ?? file.worker?.logLevel ?? 'INFO',
      ...(deployment ? { deployment } : {}),
    },
    ...(encryption ? { encryption } : {}),
  };
}

/**
 * The worker's deployment version: each field from its environment variable, else from `worker.deployment`; both
 * or neither (neither: versioning off).
 */
function workerDeployment(
  vars: { [DEPLOYMENT_NAME_ENV]?: string | undefined; [BUILD_ID_ENV]?: string | undefined },
  file: WorkerConfigFile,
  path: string | undefined,
): WorkerDeploymentSetting | undefined {
  const name = vars[DEPLOYMENT_NAME_ENV] ?? file.worker?.deployment?.name;
  const buildId = vars[BUILD_ID_ENV] ?? file.worker?.deployment?.buildId;
  if (name === undefined && buildId === undefined) return undefined;
  if (name !== undefined && buildId !== undefined) return { name, buildId };
  const [missingEnv, missingKey] =
    name === undefined ? [DEPLOYMENT_NAME_ENV, 'worker.deployment.name'] : [BUILD_ID_ENV, 'worker.deployment.buildId'];
  throw new ConfigError(
    `Worker Versioning needs both a deployment name and a build id: set ${missingEnv}` +
      (path ? ` or ${missingKey} in ${path}` : ` (or ${missingKey} in the KUBE_WORKFLOWS_CONFIG file)`),
  );
}

/**
 * Parses `k=v,k2=v2` (the {@link CLUSTER_LABELS_ENV} format; blanks around items are ignored, empty text is no
 * labels) into labels, or returns why it is not valid.
 */
export function parseLabelList(text: string): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return `expected key=value pairs separated by commas, e.g. env=prod,region=eu-1 (got "${item}")`;
    const [key, value] = [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
    const problem = clusterLabelProblem(key, value);
    if (problem) return `invalid label "${key}=${value}": ${problem}`;
    if (Object.hasOwn(labels, key)) return `label "${key}" is given twice`;
    labels[key] = value;
  }
  return labels;
}
