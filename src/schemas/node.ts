/**
 * Node maintenance: the input and report of `maintainNode` / `drainNode` / `uncordonNode`, the `approveBypass`
 * update, the `status` query, and the inputs and results of the node activities (`inspectNode`, `cordonNode`,
 * `removeCordon`, `evictPods`, `deletePods`, `runNodeAction`, `waitNodeReady`). Durations use the project's one
 * grammar (`durationMs`: `30s`, `10m`, `1h30m` or seconds) and arrive in the workflow as milliseconds.
 * @module
 */
import { z } from 'zod';
import { durationMs } from './duration.js';
import { Notifications, notifySpec } from './notify.js';

const DAY_MS = 86_400_000;
/** A node name: a DNS subdomain, as the API server requires. */
const NodeName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'expected a node name (DNS subdomain)');

/** Defaults of {@link NodeMaintenanceInput}, as written. */
export const NODE_MAINTENANCE_DEFAULTS = {
  drainTimeout: '1h',
  escalateAfter: '10m',
  actionTimeout: '5m',
  readyTimeout: '10m',
  maxUnavailable: 1,
} as const;

/** How a drain treats pods with an emptyDir volume (their data is lost) and pods no controller recreates. */
export const PodPolicy = z.enum(['delete', 'refuse']);

/** The action hook: a webhook that reboots / upgrades the node once it is drained. */
export const NodeActionInput = z.object({
  webhook: z.object({
    /** Receives `POST {"node","cluster","workflowId"}`; any 2xx is success. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    /** Extra request headers (they sit in workflow history: encrypt payloads for credentials). */
    headers: z.record(z.string(), z.string()).optional(),
    /** How long the request may take. */
    timeout: durationMs({ minMs: 1000, maxMs: DAY_MS }).prefault(NODE_MAINTENANCE_DEFAULTS.actionTimeout),
  }),
});

/** How the pods are taken off the node. */
export const DrainOptions = z.object({
  /** Give up (and uncordon) when pods are still on the node after this long. */
  timeout: durationMs({ minMs: 1000, maxMs: 7 * DAY_MS }).prefault(NODE_MAINTENANCE_DEFAULTS.drainTimeout),
  /** Overrides each pod's terminationGracePeriodSeconds in its eviction. */
  gracePeriodSeconds: z.number().int().min(0).optional(),
  /** `refuse` (default): a pod with an emptyDir volume stops the drain before anything is written. */
  emptyDir: PodPolicy.default('refuse'),
  /** `refuse` (default): a pod no controller owns (it would not come back) stops the drain before any write. */
  unmanagedPods: PodPolicy.default('refuse'),
  /** How long pods may stay blocked by their PodDisruptionBudget before the run alerts. */
  escalateAfter: durationMs({ minMs: 0, maxMs: 7 * DAY_MS }).prefault(NODE_MAINTENANCE_DEFAULTS.escalateAfter),
  /**
   * After escalating: `approve` (default) also waits for an `approveBypass` update that deletes the blocking pods
   * past their budget; `wait` only keeps trying within the budget until `timeout`.
   */
  onBlocked: z.enum(['wait', 'approve']).default('approve'),
});

/** What the run may override in its preflight (each is refused by default). */
export const ForceOptions = z.object({
  /** Maintain a control-plane node (label `node-role.kubernetes.io/control-plane`). */
  controlPlane: z.boolean().default(false),
  /** Go on although other nodes of the pool are NotReady. */
  degraded: z.boolean().default(false),
  /** Go on although the other nodes clearly lack room for the evicted pods' requests. */
  capacity: z.boolean().default(false),
});

/** Input of `maintainNode` (and, without `action`, of `drainNode`). */
export const NodeMaintenanceInput = z.object({
  /** Configured cluster name; the worker's default when absent. */
  cluster: z.string().min(1).optional(),
  node: NodeName,
  /** Reboot / upgrade hook, called once the node is drained. */
  action: NodeActionInput.optional(),
  drain: DrainOptions.prefault({}),
  /** After the action: wait for the node Ready with no pressure / network condition. */
  afterAction: z
    .object({
      waitReady: z.boolean().default(true),
      timeout: durationMs({ minMs: 1000, maxMs: DAY_MS }).prefault(NODE_MAINTENANCE_DEFAULTS.readyTimeout),
    })
    .prefault({}),
  /**
   * Leave the node cordoned instead of uncordoning it: after a failure (`onFailure`), or after success
   * (`onSuccess`, what `drainNode` does: the node stays drained for work done by hand). The reason is recorded
   * and alerted.
   */
  keepCordoned: z
    .object({
      onFailure: z.boolean().default(false),
      onSuccess: z.boolean().default(false),
      reason: z.string().max(500).optional(),
    })
    .optional(),
  /** Alert channels (configured on the worker) told about escalations and nodes kept cordoned. */
  channels: z.array(z.string().min(1)).default([]),
  /**
   * Alert channels told ONCE when the run ends (default: when it fails), with the reason, the pods left on the node
   * and their Events, and the run's Web UI link; see `schemas/notify`.
   */
  notify: notifySpec(['succeeded', 'failed']).optional(),
  /** Nodes of the cluster that may be in maintenance at once (lock slots); 1 = one maintenance per cluster. */
  maxUnavailable: z.number().int().min(1).max(100).default(NODE_MAINTENANCE_DEFAULTS.maxUnavailable),
  /** Node label naming the node's pool (default: the first of the well-known pool labels the node has). */
  poolLabel: z.string().min(1).optional(),
  force: ForceOptions.prefault({}),
});
/** Input of `maintainNode` as callers write it. */
export type NodeMaintenanceInput = z.input<typeof NodeMaintenanceInput>;
/** Input of `maintainNode` after defaults (durations in milliseconds). */
export type NodeMaintenanceOptions = z.output<typeof NodeMaintenanceInput>;

/** Input of `uncordonNode`. */
export const UncordonNodeInput = z.object({
  cluster: z.string().min(1).optional(),
  node: NodeName,
});
/** Input of `uncordonNode`. */
export type UncordonNodeInput = z.input<typeof UncordonNodeInput>;

/** Input of the `approveBypass` update: who allows deleting the blocking pods past their budget, and why. */
export const ApproveBypassInput = z.object({
  by: z.string().min(1, 'say who approves (by)').max(200),
  reason: z.string().min(1, 'say why the budget may be bypassed (reason)').max(500),
  /** `namespace/name` of the pods to delete (default: every pod blocking now). */
  pods: z.array(z.string().min(3)).optional(),
});
/** Input of the `approveBypass` update. */
export type ApproveBypassInput = z.infer<typeof ApproveBypassInput>;

/** One pod a PodDisruptionBudget keeps on the node. */
export const BlockingPod = z.object({
  /** `namespace/name`. */
  pod: z.string(),
  /** `namespace/name` of the budgets that refuse it. */
  pdbs: z.array(z.string()),
  message: z.string(),
});
/** One pod a PodDisruptionBudget keeps on the node. */
export type BlockingPod = z.infer<typeof BlockingPod>;

/** Phases of a maintenance, in order. */
export const NodeMaintenancePhase = z.enum([
  'locking',
  'preflight',
  'cordoning',
  'draining',
  'awaitingBypass',
  'action',
  'waitingReady',
  'uncordoning',
  'done',
]);
/** One of {@link NodeMaintenancePhase}. */
export type NodeMaintenancePhase = z.infer<typeof NodeMaintenancePhase>;

/** A pod deleted past its budget, with the approval that allowed it. */
export const BypassedPod = z.object({ pod: z.string(), by: z.string(), reason: z.string() });

/** Report of `maintainNode`, `drainNode` and `uncordonNode`. */
export const NodeMaintenanceReport = z.object({
  outcome: z.enum(['succeeded', 'failed']),
  cluster: z.string(),
  node: z.string(),
  /** The node was cordoned before this run (by someone else): it is left cordoned. */
  wasCordoned: z.boolean(),
  /** Pods evicted through the Eviction API (`namespace/name`). */
  evicted: z.array(z.string()),
  /** Pods deleted past their budget after an `approveBypass`. */
  bypassed: z.array(BypassedPod),
  /** Pods left on the node on purpose (DaemonSet, mirror pods) with the reason. */
  skipped: z.array(z.object({ pod: z.string(), reason: z.string() })),
  /** Pods that were blocked by a budget at some point, and for how long in all. */
  blocked: z.array(z.object({ pod: z.string(), pdbs: z.array(z.string()), forMs: z.number() })),
  /** When pods stayed blocked past `escalateAfter`: the channels alerted. */
  escalated: z.object({ afterMs: z.number(), channels: z.array(z.string()) }).optional(),
  action: z.object({ status: z.enum(['succeeded', 'failed', 'none']), message: z.string() }),
  ready: z.object({ ready: z.boolean(), message: z.string() }).optional(),
  uncordoned: z.boolean(),
  /** Why the node is left cordoned (policy, or it was cordoned before the run). */
  keptCordoned: z.string().optional(),
  failure: z.object({ type: z.string(), message: z.string() }).optional(),
  /** Preflight findings that did not stop the run (budgets at zero, tight capacity). */
  warnings: z.array(z.string()),
  /** What each `notify` channel answered to this run's alert (absent when no alert was due). */
  notifications: Notifications,
  durationsMs: z.record(z.string(), z.number()),
  message: z.string(),
});
/** Report of `maintainNode`. */
export type NodeMaintenanceReport = z.infer<typeof NodeMaintenanceReport>;

// --- activities --------------------------------------------------------------------------------------------------

/** A pod as the drain decisions need it. */
export const PodFacts = z.object({
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
  labels: z.record(z.string(), z.string()),
  /** Kind of the controller owner reference, if any (`ReplicaSet`, `DaemonSet`, `StatefulSet`, `Job`, `Node`…). */
  controllerKind: z.string().optional(),
  /** A static pod's API mirror (annotation `kubernetes.io/config.mirror`). */
  mirror: z.boolean(),
  emptyDir: z.boolean(),
  ready: z.boolean(),
  /** Succeeded / Failed: nothing runs any more. */
  terminal: z.boolean(),
  /** Already being deleted. */
  terminating: z.boolean(),
  /** Sum of the containers' requests (init containers: the max, as the scheduler counts). */
  requests: z.object({ cpuMillis: z.number(), memoryBytes: z.number() }),
});
/** A pod as the drain decisions need it. */
export type PodFacts = z.infer<typeof PodFacts>;

/** A PodDisruptionBudget as the drain decisions need it. */
export const PdbFacts = z.object({
  namespace: z.string(),
  name: z.string(),
  /** `spec.selector` as the API gives it (`matchLabels`, `matchExpressions`); absent: selects nothing. */
  selector: z
    .object({
      matchLabels: z.record(z.string(), z.string()).optional(),
      matchExpressions: z
        .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }))
        .optional(),
    })
    .optional(),
  disruptionsAllowed: z.number().int(),
  /** `status.observedGeneration` is behind `metadata.generation`: the controller has not counted yet. */
  stale: z.boolean(),
});
/** A PodDisruptionBudget as the drain decisions need it. */
export type PdbFacts = z.infer<typeof PdbFacts>;

/** A node as the preflight needs it. */
export const NodeFacts = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  unschedulable: z.boolean(),
  /** The workflow id in our cordon annotation, when a maintenance run cordoned it. */
  cordonedBy: z.string().optional(),
  ready: z.boolean(),
  /** Conditions that are not as they should be (`Ready=False`, `MemoryPressure=True`, …). */
  problems: z.array(z.string()),
  allocatable: z.object({ cpuMillis: z.number(), memoryBytes: z.number(), pods: z.number() }),
  /** Requests of the non-terminal pods bound to it. */
  requested: z.object({ cpuMillis: z.number(), memoryBytes: z.number(), pods: z.number() }),
});
/** A node as the preflight needs it. */
export type NodeFacts = z.infer<typeof NodeFacts>;

/** Input of `inspectNode`. */
export const InspectNodeInput = z.object({ cluster: z.string(), node: z.string().min(1) });
/** Input of `inspectNode`. */
export type InspectNodeInput = z.infer<typeof InspectNodeInput>;

/** Result of `inspectNode`: the node, every other node, the node's pods and their namespaces' budgets. */
export const NodeInspection = z.object({
  /** The resolved cluster name. */
  cluster: z.string(),
  node: NodeFacts,
  others: z.array(NodeFacts),
  pods: z.array(PodFacts),
  pdbs: z.array(PdbFacts),
});
/** Result of `inspectNode`. */
export type NodeInspection = z.infer<typeof NodeInspection>;

/** Input of `cordonNode` / `removeCordon`: `owner` is the run's workflow id, written into our cordon annotation. */
export const CordonInput = z.object({
  cluster: z.string(),
  node: z.string().min(1),
  owner: z.string().min(1),
  /** Uncordon even when the annotation names another owner or none (the `uncordonNode` entry point). */
  force: z.boolean().default(false),
});
/** Input of `cordonNode` / `removeCordon`. */
export type CordonInput = z.input<typeof CordonInput>;

/** Result of `cordonNode`. */
export const CordonResult = z.object({
  /** Cordoned before this run by someone else: this run must not uncordon it. */
  wasCordoned: z.boolean(),
});
/** Result of `cordonNode`. */
export type CordonResult = z.infer<typeof CordonResult>;

/** Result of `removeCordon`. */
export const UncordonResult = z.object({ uncordoned: z.boolean(), message: z.string() });
/** Result of `removeCordon`. */
export type UncordonResult = z.infer<typeof UncordonResult>;

/** Input of `evictPods`: one round of evictions on a cordoned node. */
export const EvictPodsInput = z.object({
  cluster: z.string(),
  node: z.string().min(1),
  emptyDir: PodPolicy,
  unmanagedPods: PodPolicy,
  gracePeriodSeconds: z.number().int().min(0).optional(),
  /** Epoch ms by which the round returns even if nothing changed (the workflow's next decision point). */
  returnBy: z.number(),
  /** `namespace/name` of the pods known blocked: a round returns early when this set changes. */
  knownBlocked: z.array(z.string()).default([]),
});
/** Input of `evictPods`. */
export type EvictPodsInput = z.input<typeof EvictPodsInput>;

/** Result of one `evictPods` round. */
export const EvictPodsResult = z.object({
  /** Evictions the API server accepted in this round (`namespace/name`). */
  evicted: z.array(z.string()),
  /** Pods still on the node that must leave (terminating ones included). */
  remaining: z.array(z.string()),
  blocked: z.array(BlockingPod),
  skipped: z.array(z.object({ pod: z.string(), reason: z.string() })),
});
/** Result of `evictPods`. */
export type EvictPodsResult = z.infer<typeof EvictPodsResult>;

/** Input of `deletePods`: the approved bypass. Each pod is deleted only if it is still that pod on that node. */
export const DeletePodsInput = z.object({
  cluster: z.string(),
  node: z.string().min(1),
  pods: z.array(z.string().min(3)),
  gracePeriodSeconds: z.number().int().min(0).optional(),
});
/** Input of `deletePods`. */
export type DeletePodsInput = z.input<typeof DeletePodsInput>;

/** Input of `runNodeAction`. */
export const RunNodeActionInput = z.object({
  cluster: z.string(),
  node: z.string().min(1),
  workflowId: z.string().min(1),
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive(),
});
/** Input of `runNodeAction`. */
export type RunNodeActionInput = z.input<typeof RunNodeActionInput>;

/** Input of `waitNodeReady`. */
export const WaitNodeReadyInput = z.object({
  cluster: z.string(),
  node: z.string().min(1),
  /** Epoch ms after which the wait gives up and reports the node not ready. */
  deadlineMs: z.number(),
});
/** Input of `waitNodeReady`. */
export type WaitNodeReadyInput = z.input<typeof WaitNodeReadyInput>;

/** Result of `waitNodeReady`. */
export const NodeReadyResult = z.object({ ready: z.boolean(), message: z.string() });
/** Result of `waitNodeReady`. */
export type NodeReadyResult = z.infer<typeof NodeReadyResult>;
