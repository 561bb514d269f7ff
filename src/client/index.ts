/**
 * Public client API (`kube-workflows/client`).
 * @module
 */
export {
  ApprovalRefusedError,
  COMPRESS_ABOVE_BYTES,
  createKubeWorkflowsClient,
  DEFAULT_TASK_QUEUE,
  InvalidInputError,
  KubeWorkflowsClient,
} from './client.js';
export type { DeployConflict, DeployHandle, DeployOptions, KubeWorkflowsClientOptions } from './client.js';
export { deployWorkflowId } from './ids.js';
export type {
  ApprovalInput,
  DeployManifestsInput,
  DeployReport,
  ObjectReport,
  DeployOutcome,
} from '../schemas/deploy.js';
export type { ApprovalResult, DeployProgress, DeployPhase } from '../workflows/deploy.js';
