/**
 * Zod schemas for every workflow and activity input and result, and the alert and health contracts they share.
 * @module
 */
export { KubeObject, ObjectMeta, ObjectRef, NamespaceName } from './kube-object.js';
export {
  ApprovalInput,
  DEFAULT_DEPLOY_TIMEOUT_SECONDS,
  DeployManifestsInput,
  DeployOutcome,
  DeployReport,
  HealthStatusName,
  ManifestSourceInput,
  ObjectAction,
  ObjectReport,
} from './deploy.js';
export type { DeployManifestsOptions } from './deploy.js';
export {
  ApproveCorrectionInput,
  CorrectDriftInput,
  CorrectedObject,
  DetectDriftInput,
  DriftActionName,
  DriftClassName,
  DriftFieldReport,
  DriftObjectReport,
  DriftOutcome,
  DriftPolicyInput,
  DriftReport,
  DriftScanState,
  ScanDriftInput,
  ScanDriftResult,
} from './drift.js';
export type { DetectDriftOptions } from './drift.js';
export {
  AppliedObject,
  ApplyFailureDetails,
  ApplyObjectsInput,
  CompensateObjectsInput,
  DeleteObjectsInput,
  DeployPlan,
  HealthResult,
  InventoryResult,
  ObjectHealth,
  ObjectRefWithSubject,
  ObjectSource,
  PlanDeployInput,
  PlanEntry,
  ReadScaleResult,
  RecordInventoryInput,
  RestoreObjectsInput,
  SetScaleInput,
  SetScaleResult,
  WaitForHealthInput,
  WorkflowRunRef,
  WorkloadRef,
} from './activities.js';
export { AlertEvent, AlertSeverity, MAX_DEDUP_KEY_LENGTH } from './alerts.js';
export { HealthStatus } from './health.js';
export { ScaleReport, ScaleWorkloadInput } from './scale.js';
export {
  DEFAULT_FOR_SECONDS,
  DEFAULT_KEEPALIVE_SECONDS,
  HttpTarget,
  KubeTarget,
  MonitorHealthInput,
  MonitorTarget,
  PrometheusTarget,
  Severity,
  TargetState,
} from './monitor.js';
export type { AlertEventData, MonitorStatus } from './monitor.js';
export { catalogWorkflowTypes, WORKFLOW_CATALOG, workflowJsonSchema } from './catalog.js';
export type { CatalogEntry, JsonSchema } from './catalog.js';
