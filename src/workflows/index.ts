/**
 * Workflow entry point for the worker bundle: every exported function is a workflow type.
 * @module
 */
export { deployManifests, progressQuery } from './deploy.js';
export type { DeployPhase, DeployProgress } from './deploy.js';
