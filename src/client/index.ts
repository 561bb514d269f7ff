/**
 * Public client API (`kube-workflows/client`).
 * @module
 */
export { createKubeWorkflowsClient, DEFAULT_TASK_QUEUE, InvalidInputError, KubeWorkflowsClient } from './client.js';
export type { DeployConflict, DeployHandle, DeployOptions, KubeWorkflowsClientOptions } from './client.js';
export { deployWorkflowId } from './ids.js';
export type { DeployManifestsInput, DeployReport, ObjectReport, DeployOutcome } from '../schemas/deploy.js';
export type { DeployProgress, DeployPhase } from '../workflows/deploy.js';
