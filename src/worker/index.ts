/**
 * Worker entry points (`kube-workflows/worker`).
 * @module
 */
export {
  createKubeActivities,
  createKubeWorker,
  connectTemporal,
  runWorker,
  temporalConnectionOptions,
} from './worker.js';
export type { CreateKubeActivitiesOptions, CreateKubeWorkerOptions, KubeActivities, KubeWorker } from './worker.js';
export {
  ConfigError,
  DEFAULT_SHUTDOWN_GRACE_TIME,
  DEFAULT_TASK_QUEUE,
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  WORKER_ENV_VARS,
  WorkerConfigFile,
  loadWorkerConfig,
} from './config.js';
export type { ClusterConfig, WorkerConfig } from './config.js';
export { WORKFLOW_BUNDLE_PATH, workflowCodeOption, workflowsPath } from './workflow-code.js';
export { workflowInputReader, WORKFLOW_INPUT_CACHE_SIZE } from './workflow-input.js';
export { Counters, createCounters, installRuntime, jsonLogLine, startOpsServer } from './ops.js';
export { WORKER_PROCESS_ENV } from './process-env.js';
export type { OpsServerOptions } from './ops.js';
