/**
 * Inputs and results of the deploy, compensation and scale activities. Plain JSON: they travel through Temporal's
 * history. Each activity parses its input with these schemas first (`parseInput` in src/activities), so a
 * malformed argument fails at once as a non-retryable `InvalidInput` naming the field, instead of as a retried
 * `TypeError` deep inside.
 *
 * Kept cheap on purpose: object lists (up to several MB of manifests) are checked to be arrays of objects, never
 * deep-validated here; the workflow validated the manifests and the API server validates each object.
 * @module
 */
import { z } from 'zod';
import { AnalysisProvider } from './analysis.js';
import { HealthStatus } from './health.js';
import type { KubeObject } from './kube-object.js';
import { AutoscalerBounds, AutoscalerRef } from './scale.js';

/** A Kubernetes object passed through as it is: only checked to be a JSON object (the cheap check). */
const PassedObject = z.custom<KubeObject>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  'expected a Kubernetes object',
);

/** Reference to one object, with its formatted subject. */
export const ObjectRefWithSubject = z.object({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  /** `Kind/namespace/name`, as every message and report names it. */
  subject: z.string().min(1),
});
/** Reference to one object, with its formatted subject. */
export type ObjectRefWithSubject = z.infer<typeof ObjectRefWithSubject>;

/** One object in a plan. */
export const PlanEntry = ObjectRefWithSubject.extend({
  /** What applying it would do. */
  action: z.enum(['created', 'configured', 'unchanged']),
  /** Changed field paths, for configured objects. */
  changes: z.array(z.string()).optional(),
  /**
   * The same changes with old → new values (`{ path, from, to }`, values truncated to 80 characters, a Secret's
   * values `(redacted)`): `changedValues` of domain/changes.
   */
  changedFields: z.array(z.object({ path: z.string(), from: z.string(), to: z.string() })).optional(),
  /** Cluster-scoped kinds are false. */
  namespaced: z.boolean(),
  /** Set when the server could not validate it yet (its namespace or CRD is created by this deploy). */
  validatedLater: z.boolean().optional(),
  /**
   * Fingerprint (`liveFingerprint` of domain/changes) of the live object at plan time (absent for objects to
   * create): after an approval the deploy re-plans and compares, so a plan approved after the cluster moved is never
   * applied as it was.
   */
  fingerprint: z.string().optional(),
  /**
   * What the apply does about counts others own (domain/autoscaler): `replicas left to HorizontalPodAutoscaler
   * shop/web (2–10)`, `minReplicas kept at 4 (set by scale; …)`. One sentence each.
   */
  notes: z.array(z.string()).optional(),
});
/** One object in a plan. */
export type PlanEntry = z.infer<typeof PlanEntry>;

/** A workflow run, by id and run id. */
export const WorkflowRunRef = z.object({ workflowId: z.string().min(1), runId: z.string().min(1) });
/** A workflow run, by id and run id. */
export type WorkflowRunRef = z.infer<typeof WorkflowRunRef>;

/**
 * Where an activity gets the objects it works on: inline, or by reference to the deploy workflow's own start
 * input (large manifests: the history then holds them once), narrowed to some positions of the prepared list.
 */
export const ObjectSource = z.union([
  z.object({ objects: z.array(PassedObject) }),
  z.object({
    workflowInput: WorkflowRunRef,
    /** Positions in the prepared object list; all of them when absent. */
    indexes: z.array(z.number().int().min(0)).optional(),
  }),
]);
/** Where an activity gets the objects it works on. */
export type ObjectSource = z.infer<typeof ObjectSource>;

/** A configured cluster name; empty for the worker's default. */
const ClusterName = z.string();

/** Input of `planDeploy`. */
export const PlanDeployInput = z.object({
  /** Configured cluster name; empty for the worker's default. */
  cluster: ClusterName,
  source: ObjectSource,
  force: z.boolean(),
});
/** Input of `planDeploy`. */
export type PlanDeployInput = z.infer<typeof PlanDeployInput>;

/** Result of `planDeploy`. */
export const DeployPlan = z.object({
  /** The resolved cluster name. */
  cluster: z.string(),
  entries: z.array(PlanEntry),
  /**
   * The live state of every configured object before the deploy (server fields stripped), packed with gzip +
   * base64 (`packJson`); the workflow hands it back to `restoreObjects` without reading it.
   */
  rollbackState: z.string().optional(),
});
/** Result of `planDeploy`. */
export type DeployPlan = z.infer<typeof DeployPlan>;

/** Input of `applyObjects`. */
export const ApplyObjectsInput = z.object({
  cluster: ClusterName,
  source: ObjectSource,
  force: z.boolean(),
});
/** Input of `applyObjects`. */
export type ApplyObjectsInput = z.infer<typeof ApplyObjectsInput>;

/**
 * Details of an `applyObjects` failure (the first entry of `ApplicationFailure.details`): what the saga's ledger
 * needs to know about each object of the call.
 */
export const ApplyFailureDetails = z.object({
  /** Written: the API server confirmed them. */
  applied: z.array(z.string()),
  /** Refused by the API server with a 4xx answer (conflict, invalid, forbidden, denied by admission): unchanged. */
  refused: z.array(z.string()),
  /** Unknown: the request failed in a way that does not prove it was not written (5xx, network, timeout). */
  uncertain: z.array(z.string()),
});
/** Details of an `applyObjects` failure. */
export type ApplyFailureDetails = z.infer<typeof ApplyFailureDetails>;

/** Input of `restoreObjects`. */
export const RestoreObjectsInput = z.object({
  cluster: ClusterName,
  /** `DeployPlan.rollbackState`. */
  rollbackState: z.string().min(1),
  /** Restore only these subjects (the configured objects that were applied). */
  subjects: z.array(z.string()),
});
/** Input of `restoreObjects`. */
export type RestoreObjectsInput = z.infer<typeof RestoreObjectsInput>;

/** Input of `recordInventory`. */
export const RecordInventoryInput = z.object({
  cluster: ClusterName,
  app: z.string().min(1),
  /** Namespace holding the inventory ConfigMap. */
  namespace: z.string().min(1),
  /** Every object of the new set. */
  objects: z.array(ObjectRefWithSubject),
  /** Delete objects of the previous inventory that left the set. */
  prune: z.boolean(),
});
/** Input of `recordInventory`. */
export type RecordInventoryInput = z.infer<typeof RecordInventoryInput>;

/** Result of `recordInventory`. */
export const InventoryResult = z.object({
  /** Objects deleted because they left the set. */
  pruned: z.array(z.string()),
  /** Stale objects left alone (no longer carrying this app's label, or already gone). */
  skipped: z.array(z.string()),
});
/** Result of `recordInventory`. */
export type InventoryResult = z.infer<typeof InventoryResult>;

/** One applied object. */
export const AppliedObject = z.object({
  subject: z.string(),
  uid: z.string().optional(),
  generation: z.number().optional(),
});
/** One applied object. */
export type AppliedObject = z.infer<typeof AppliedObject>;

/** Input of `waitForHealth`. */
export const WaitForHealthInput = z.object({
  cluster: ClusterName,
  objects: z.array(ObjectRefWithSubject),
  /** Absolute deadline (epoch ms, from workflow time) shared by every attempt. */
  deadlineMs: z.number(),
  /** Seconds the deadline stands for, for messages. */
  timeoutSeconds: z.number().min(0),
});
/** Input of `waitForHealth`. */
export type WaitForHealthInput = z.infer<typeof WaitForHealthInput>;

/** Health of one object. */
export const ObjectHealth = z.object({
  subject: z.string(),
  status: HealthStatus,
  reason: z.string(),
  message: z.string(),
});
/** Health of one object. */
export type ObjectHealth = z.infer<typeof ObjectHealth>;

/** Result of `waitForHealth`: Current, Failed (fail fast) or TimedOut. */
export const HealthResult = z.object({
  outcome: z.enum(['Current', 'Failed', 'TimedOut']),
  objects: z.array(ObjectHealth),
  /** One line for people: what failed, or every object still pending. */
  message: z.string(),
});
/** Result of `waitForHealth`. */
export type HealthResult = z.infer<typeof HealthResult>;

/** Input of `deleteObjects`. */
export const DeleteObjectsInput = z.object({
  cluster: ClusterName,
  objects: z.array(ObjectRefWithSubject),
});
/** Input of `deleteObjects`. */
export type DeleteObjectsInput = z.infer<typeof DeleteObjectsInput>;

/** Input of `compensateObjects`: one stage of the saga's undo. */
export const CompensateObjectsInput = z.object({
  cluster: ClusterName,
  /** `DeployPlan.rollbackState`: the pre-deploy state of every configured object. */
  rollbackState: z.string().optional(),
  /** Configured objects to restore (subjects present in `rollbackState`). */
  restore: z.array(z.string()),
  /** Created objects to delete, in this order. */
  remove: z.array(ObjectRefWithSubject),
});
/** Input of `compensateObjects`. */
export type CompensateObjectsInput = z.infer<typeof CompensateObjectsInput>;

/** Input of `measureAnalysis`: one measurement of an analysis provider (already rendered: no placeholders left). */
export const MeasureAnalysisInput = z.object({
  /** Configured cluster name (the Kubernetes provider's gateway); empty for the worker's default. */
  cluster: ClusterName,
  provider: AnalysisProvider,
  /** What a webhook provider receives (and messages name). */
  context: z.object({
    analysis: z.string().min(1),
    cluster: z.string(),
    args: z.record(z.string(), z.string()),
    /** 1-based number of this measurement in its run. */
    measurement: z.number().int().min(1),
  }),
});
/** Input of `measureAnalysis`. */
export type MeasureAnalysisInput = z.input<typeof MeasureAnalysisInput>;

/** Result of `measureAnalysis`: a value, no data, or the provider's error (errors are values: the workflow counts them). */
export const MeasureAnalysisResult = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('value'), value: z.unknown() }),
  z.object({ kind: z.literal('noData'), detail: z.string() }),
  z.object({ kind: z.literal('error'), message: z.string() }),
]);
/** Result of `measureAnalysis`. */
export type MeasureAnalysisResult = z.infer<typeof MeasureAnalysisResult>;

/** A workload to scale (input of `readScale`). */
export const WorkloadRef = z.object({
  cluster: ClusterName,
  kind: z.enum(['Deployment', 'StatefulSet']),
  namespace: z.string().min(1),
  name: z.string().min(1),
});
/** A workload to scale. */
export type WorkloadRef = z.infer<typeof WorkloadRef>;

/** Result of `readScale`: the current count, the resolved cluster name, and the app a deploy labelled it with. */
export const ReadScaleResult = z.object({
  cluster: z.string(),
  replicas: z.number().int().min(0),
  /** The `kube-workflows.dev/app` label: whose deploy lock a scale takes. */
  app: z.string().optional(),
  /** The HorizontalPodAutoscaler or KEDA ScaledObject that targets the workload, if any: it owns the count. */
  autoscaler: AutoscalerRef.optional(),
});
/** Result of `readScale`. */
export type ReadScaleResult = z.infer<typeof ReadScaleResult>;

/** Input of `setScale`: an absolute count, so a retry changes nothing. */
export const SetScaleInput = WorkloadRef.extend({ replicas: z.number().int().min(0) });
/** Input of `setScale`. */
export type SetScaleInput = z.infer<typeof SetScaleInput>;

/** Result of `setScale`. */
export const SetScaleResult = z.object({ previous: z.number().int(), replicas: z.number().int() });
/** Result of `setScale`. */
export type SetScaleResult = z.infer<typeof SetScaleResult>;

/** Input of `setAutoscalerBounds`: the workload scaled (for the policy), its autoscaler and absolute new bounds. */
export const SetAutoscalerBoundsInput = WorkloadRef.extend({
  autoscaler: AutoscalerRef.pick({ apiVersion: true, kind: true, namespace: true, name: true }),
  minReplicas: z.number().int().min(1, 'minReplicas must be at least 1 (an autoscaler cannot hold a workload at 0)'),
  maxReplicas: z.number().int().min(1),
});
/** Input of `setAutoscalerBounds`. */
export type SetAutoscalerBoundsInput = z.infer<typeof SetAutoscalerBoundsInput>;

/** Result of `setAutoscalerBounds`: the bounds before and after. */
export const SetAutoscalerBoundsResult = z.object({ previous: AutoscalerBounds, bounds: AutoscalerBounds });
/** Result of `setAutoscalerBounds`. */
export type SetAutoscalerBoundsResult = z.infer<typeof SetAutoscalerBoundsResult>;

/** A stable Deployment to canary (input of `readCanaryTarget`). */
export const ReadCanaryTargetInput = z.object({
  cluster: ClusterName,
  namespace: z.string().min(1),
  deployment: z.string().min(1),
  /** The Service named in the canary's input; absent: every Service of the namespace. */
  service: z.string().min(1).optional(),
});
/** Input of `readCanaryTarget`. */
export type ReadCanaryTargetInput = z.infer<typeof ReadCanaryTargetInput>;

/** What `readCanaryTarget` found: the facts the canary preflight (`planCanary`) decides on. */
export const CanaryTargetFacts = z.object({
  /** The resolved cluster name. */
  cluster: z.string(),
  namespace: z.string(),
  name: z.string(),
  replicas: z.number().int().min(0),
  generation: z.number().int().optional(),
  selector: z.object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z
      .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }))
      .optional(),
  }),
  templateLabels: z.record(z.string(), z.string()),
  services: z.array(z.object({ name: z.string(), selector: z.record(z.string(), z.string()) })),
  serviceNamed: z.boolean(),
  autoscalers: z.array(z.string()),
  existingCanary: z.object({ ours: z.boolean() }).optional(),
  /** The `kube-workflows.dev/app` label: whose deploy lock the canary holds. */
  app: z.string().optional(),
});
/** Result of `readCanaryTarget`. */
export type CanaryTargetFacts = z.infer<typeof CanaryTargetFacts>;

/** Input of `applyCanary`: the canary Deployment, applied with server-side apply. */
export const ApplyCanaryInput = z.object({ cluster: ClusterName, deployment: PassedObject });
/** Input of `applyCanary`. */
export type ApplyCanaryInput = z.infer<typeof ApplyCanaryInput>;

/** Input of `scaleCanarySide`: an absolute count for one Deployment of a canary (a retry changes nothing). */
export const ScaleCanarySideInput = z.object({
  cluster: ClusterName,
  namespace: z.string().min(1),
  name: z.string().min(1),
  replicas: z.number().int().min(0),
});
/** Input of `scaleCanarySide`. */
export type ScaleCanarySideInput = z.infer<typeof ScaleCanarySideInput>;

/** Input of `promoteCanary`: the new template and the total count, applied to the stable Deployment. */
export const PromoteCanaryInput = z.object({
  cluster: ClusterName,
  namespace: z.string().min(1),
  name: z.string().min(1),
  template: PassedObject,
  replicas: z.number().int().min(1),
});
/** Input of `promoteCanary`. */
export type PromoteCanaryInput = z.infer<typeof PromoteCanaryInput>;

/** Input of `deleteCanary`: the stable Deployment whose canary to delete. */
export const DeleteCanaryInput = z.object({
  cluster: ClusterName,
  namespace: z.string().min(1),
  deployment: z.string().min(1),
});
/** Input of `deleteCanary`. */
export type DeleteCanaryInput = z.infer<typeof DeleteCanaryInput>;

/** The node maintenance activities' inputs and results live with the workflow's schemas. */
export * from './node.js';
