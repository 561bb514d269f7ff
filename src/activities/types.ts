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
  /** Set when the server could not validate it yet (its namespace or CRD is created by this deploy). */
  validatedLater?: boolean;
  /**
   * Fingerprint (`liveFingerprint` of domain/changes) of the live object at plan time (absent for objects to create): after an approval the
   * deploy re-plans and compares, so a plan approved after the cluster moved is never applied as it was.
   */
  fingerprint?: string;
}

/**
 * Where an activity gets the objects it works on: inline, or by reference to the deploy workflow's own start
 * input (large manifests: the history then holds them once), narrowed to some positions of the prepared list.
 */
export type ObjectSource =
  { objects: KubeObject[] } | { workflowInput: { workflowId: string; runId: string }; indexes?: number[] | undefined };

/** Input of `planDeploy`. */
export interface PlanDeployInput {
  /** Configured cluster name; empty for the worker's default. */
  cluster: string;
  source: ObjectSource;
  force: boolean;
}

/** Result of `planDeploy`. */
export interface DeployPlan {
  /** The resolved cluster name. */
  cluster: string;
  entries: PlanEntry[];
  /**
   * The live state of every configured object before the deploy (server fields stripped), packed with gzip +
   * base64 (`packJson`); the workflow hands it back to `restoreObjects` without reading it.
   */
  rollbackState?: string;
}

/** Input of `applyObjects`. */
export interface ApplyObjectsInput {
  cluster: string;
  source: ObjectSource;
  force: boolean;
}

/**
 * Details of an `applyObjects` failure (the first entry of `ApplicationFailure.details`): what the saga's ledger
 * needs to know about each object of the call.
 */
export interface ApplyFailureDetails {
  /** Written: the API server confirmed them. */
  applied: string[];
  /** Refused by the API server with a 4xx answer (conflict, invalid, forbidden, denied by admission): unchanged. */
  refused: string[];
  /** Unknown: the request failed in a way that does not prove it was not written (5xx, network, timeout). */
  uncertain: string[];
}

/** Input of `restoreObjects`. */
export interface RestoreObjectsInput {
  cluster: string;
  /** `DeployPlan.rollbackState`. */
  rollbackState: string;
  /** Restore only these subjects (the configured objects that were applied). */
  subjects: string[];
}

/** Input of `recordInventory`. */
export interface RecordInventoryInput {
  cluster: string;
  app: string;
  /** Namespace holding the inventory ConfigMap. */
  namespace: string;
  /** Every object of the new set. */
  objects: ObjectRefWithSubject[];
  /** Delete objects of the previous inventory that left the set. */
  prune: boolean;
}

/** Result of `recordInventory`. */
export interface InventoryResult {
  /** Objects deleted because they left the set. */
  pruned: string[];
  /** Stale objects left alone (no longer carrying this app's label, or already gone). */
  skipped: string[];
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
