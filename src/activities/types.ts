/**
 * Inputs and results of the deploy activities. Plain JSON: they travel through Temporal's history.
 * @module
 */
import type { KubeObject } from '../schemas/kube-object.js';
import type { HealthStatus } from '../domain/health.js';

/** Reference to one object, with its formatted subject. */
export interface ObjectRefWithSubject {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  subject: string;
}

/** One object in a plan. */
export interface PlanEntry extends ObjectRefWithSubject {
  /** What applying it would do. */
  action: 'created' | 'configured' | 'unchanged';
  /** Changed field paths, for configured objects. */
  changes?: string[];
  /** Cluster-scoped kinds are false. */
  namespaced: boolean;
  /** The live object before the deploy (server fields stripped), kept for rollback of configured objects. */
  previous?: KubeObject;
  /** Set when the server could not validate it yet (its namespace or CRD is created by this deploy). */
  validatedLater?: boolean;
}

/** Input of `planDeploy`. */
export interface PlanDeployInput {
  cluster: string;
  objects: KubeObject[];
  force: boolean;
}

/** Result of `planDeploy`. */
export interface DeployPlan {
  cluster: string;
  entries: PlanEntry[];
}

/** Input of `applyObjects`. */
export interface ApplyObjectsInput {
  cluster: string;
  objects: KubeObject[];
  force: boolean;
}

/** One applied object. */
export interface AppliedObject {
  subject: string;
  uid?: string | undefined;
  generation?: number | undefined;
}

/** Input of `waitForHealth`. */
export interface WaitForHealthInput {
  cluster: string;
  objects: ObjectRefWithSubject[];
  /** Absolute deadline (epoch ms, from workflow time) shared by every attempt. */
  deadlineMs: number;
  /** Seconds the deadline stands for, for messages. */
  timeoutSeconds: number;
}

/** Health of one object. */
export interface ObjectHealth {
  subject: string;
  status: HealthStatus;
  reason: string;
  message: string;
}

/** Result of `waitForHealth`: Current, Failed (fail fast) or TimedOut. */
export interface HealthResult {
  outcome: 'Current' | 'Failed' | 'TimedOut';
  objects: ObjectHealth[];
  /** One line for people: what failed, or every object still pending. */
  message: string;
}

/** Input of `deleteObjects`. */
export interface DeleteObjectsInput {
  cluster: string;
  objects: ObjectRefWithSubject[];
}
