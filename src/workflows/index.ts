/**
 * Workflow entry point for the worker bundle: every exported function is a workflow type.
 * @module
 */
export { approveUpdate, deployManifests, INLINE_OBJECTS_LIMIT, progressQuery, rejectUpdate } from './deploy.js';
export type { ApprovalResult, DeployPhase, DeployProgress } from './deploy.js';
export { scaleProgressQuery, scaleWorkload } from './scale.js';
export type { ScaleProgress } from './scale.js';
export {
  addTargetsUpdate,
  monitorHealth,
  monitorStatusQuery,
  removeTargetsUpdate,
  setPausedUpdate,
} from './monitor.js';
export { holdDeployLock, releaseDeployLockSignal } from './locks.js';
export { abortUpdate, canaryRollout, canaryStatusQuery, newRevisionUpdate, promoteUpdate } from './canary.js';
export { scheduledDeploy, scheduledScale } from './scheduled.js';
export {
  abortFleetUpdate,
  fleetStatusQuery,
  pauseFleetUpdate,
  promoteFleetUpdate,
  resumeFleetUpdate,
  rolloutFleet,
  skipClusterUpdate,
} from './fleet.js';
export { analysisStatusQuery, runAnalysis } from './analysis.js';
export type { AnalysisStatus } from './analysis.js';
export { approveBypassUpdate, drainNode, maintainNode, nodeMaintenanceQuery, uncordonNode } from './node.js';
export { approveCorrectionUpdate, detectDrift, driftStatusQuery } from './drift.js';
