/**
 * Public client API (`kube-workflows/client`).
 * @module
 */
export {
  ApprovalRefusedError,
  ClientConfigError,
  COMPRESS_ABOVE_BYTES,
  createKubeWorkflowsClient,
  DEFAULT_TASK_QUEUE,
  InvalidInputError,
  KubeWorkflowsClient,
  LockHeldError,
} from './client.js';
export type {
  DeployConflict,
  DeployHandle,
  DeployOptions,
  DeployStatus,
  KubeWorkflowsClientOptions,
  KubeWorkflowsClientSettings,
  MonitorHandle,
  ScaleHandle,
} from './client.js';
export { canaryHandle, CanaryUpdateRefusedError, prepareCanaryStart } from './canary.js';
export type { CanaryHandle, CanaryOptions } from './canary.js';
export { canaryWorkflowId } from '../domain/canary.js';
export type {
  CanaryReport,
  CanaryRolloutInput,
  CanaryStatus,
  CanaryStepInput,
  CanaryTemplate,
} from '../schemas/canary.js';
export { resolveDefaultCluster } from './clusters.js';
export {
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  temporalConnectionOptions,
  temporalSettingsFromEnv,
} from './connection.js';
export type { TemporalConnectionOptions, TemporalConnectionSettings, TemporalTlsSettings } from './connection.js';
export { deployWorkflowId, monitorWorkflowId, scaleWorkflowId } from './ids.js';
export { ALLOW_PLAINTEXT_SECRETS_ENV } from '../domain/secrets.js';
export type { MonitorHealthInput, MonitorStatus, MonitorTarget } from '../schemas/monitor.js';
export { KubeNodes } from './node.js';
export { KubeDrift, prepareDriftStart } from './drift.js';
export type { DriftClientContext, DriftHandle, PreparedDriftStart } from './drift.js';
export { driftWorkflowId } from '../domain/drift.js';
export type {
  ApproveCorrectionInput,
  DetectDriftInput,
  DriftFieldReport,
  DriftObjectReport,
  DriftOutcome,
  DriftReport,
} from '../schemas/drift.js';
export type { ApproveCorrectionResult, DriftPhase, DriftStatus } from '../workflows/drift-definitions.js';
export type { NodeClientContext, NodeMaintenanceHandle } from './node.js';
export { nodeWorkflowId } from '../domain/node-maintenance.js';
export type {
  ApproveBypassInput,
  NodeMaintenanceInput,
  NodeMaintenanceReport,
  UncordonNodeInput,
} from '../schemas/node.js';
export type { ApproveBypassResult, NodeMaintenanceStatus } from '../workflows/node-definitions.js';
export { DEFAULT_CATCHUP_WINDOW, DEFAULT_OVERLAP, KubeSchedules } from './schedules.js';
export type { OverlapPolicy, ScheduleCommonOptions } from './schedules.js';
export type { ScaleReport, ScaleWorkloadInput } from '../schemas/scale.js';
export type { ScheduledDeployInput, ScheduledRunSkipped, ScheduledScaleInput } from '../schemas/scheduled.js';
export type {
  ApprovalInput,
  DeployManifestsInput,
  DeployReport,
  ObjectReport,
  DeployOutcome,
} from '../schemas/deploy.js';
export type { ApprovalResult, DeployProgress, DeployPhase } from '../workflows/deploy-definitions.js';
export type { AnalysisDecisionResult } from '../workflows/deploy-definitions.js';
export type { DecideAnalysisInput } from '../schemas/deploy.js';
export type { AnalysisOutcome, AnalysisReport, AnalysisSpec, RunAnalysisInput } from '../schemas/analysis.js';
export type { KubeWorkflowType, KubeWorkflows } from './workflow-types.js';
export { FleetUpdateRefusedError, fleetWorkflowId } from './fleet.js';
export type { FleetHandle } from './fleet.js';
export type { AbortFleetInput, FleetFile, FleetReport, FleetStatus, RolloutFleetInput } from '../schemas/fleet.js';
