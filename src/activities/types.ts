/**
 * Inputs and results of the deploy, compensation and scale activities: the types of their zod schemas
 * (`schemas/activities`, the one definition), which each activity parses its input with ({@link parseInput}).
 * @module
 */
export type {
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
  WorkloadRef,
} from '../schemas/activities.js';
