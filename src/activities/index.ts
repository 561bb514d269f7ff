/**
 * Activities: `createActivities(deps)` builds every activity from adapter interfaces. Workflows see only the
 * {@link Activities} type (`import type`).
 * @module
 */
import { createAnalysisActivities } from './analysis.js';
import { createCanaryActivities } from './canary.js';
import { createCompensationActivities } from './compensate.js';
import { createDeployActivities, type DeployActivityDeps } from './deploy.js';
import { createDriftActivities } from './drift.js';
import { createFailureContextActivities, type FailureContextDeps } from './failure-context.js';
import { createFleetActivities, type FleetActivityDeps } from './fleet.js';
import { createMonitorActivities, type MonitorActivityDeps } from './monitor.js';
import { createNodeActivities } from './node.js';
import { createScaleActivities } from './scale.js';

/** Everything activities need; built by the worker (the composition root). */
export type ActivityDeps = DeployActivityDeps & MonitorActivityDeps & FleetActivityDeps & FailureContextDeps;

/** Builds all activities. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDeployActivities(deps),
    ...createCompensationActivities(deps),
    ...createScaleActivities(deps),
    ...createMonitorActivities(deps),
    ...createFleetActivities(deps),
    ...createCanaryActivities(deps),
    ...createAnalysisActivities(deps),
    ...createNodeActivities(deps),
    ...createDriftActivities(deps),
    ...createFailureContextActivities(deps),
  };
}

/** The activity functions, as workflows see them. */
export type Activities = ReturnType<typeof createActivities>;

export type * from './types.js';
export type { CompensateObjectsInput } from './compensate.js';
export { toApplicationFailure } from './failures.js';
export { DEFAULT_APPLY_CONCURRENCY } from './pool.js';
export type { WorkloadRef } from './scale.js';
export type {
  DeliverAlertInput,
  Observation,
  ObservationBatch,
  ObserveHealthInput,
  ObserveHealthResult,
} from './monitor.js';
export { matchesSelector } from './monitor.js';
