/**
 * Input and report of the `deployManifests` workflow. The client validates with these schemas before starting;
 * the workflow validates again in its first task.
 * @module
 */
import { z } from 'zod';
import { AnalysisArgs, AnalysisReport, AnalysisSpec } from './analysis.js';
import { DurationText } from './duration.js';
import { HealthStatus } from './health.js';
import { NamespaceName } from './kube-object.js';
import { Notifications, notifySpec } from './notify.js';

/** Default time allowed for objects to become healthy, in seconds. */
export const DEFAULT_DEPLOY_TIMEOUT_SECONDS = 300;

/** One named manifest text (a file), so problems can name it. */
export const ManifestSourceInput = z.object({
  name: z.string().optional(),
  text: z.string(),
});

/** Input of `deployManifests`. Exactly one of `manifests`, `sources`, `objects` is given. */
export const DeployManifestsInput = z
  .object({
    /** Multi-document YAML or JSON text. */
    manifests: z.string().optional(),
    /** Several named texts (files). */
    sources: z.array(ManifestSourceInput).optional(),
    /** Objects given as data. */
    objects: z.array(z.unknown()).optional(),
    /**
     * Named texts packed with gzip + base64 (a JSON array of `{ name?, text }`): how the client sends large
     * manifests (CRD bundles) so the start payload stays far below Temporal's 2 MB limit.
     */
    compressed: z.string().optional(),
    /**
     * Objects packed with gzip + base64 (a JSON array, as `objects`): how the client sends large manifests it has
     * already parsed and validated, so neither the workflow nor the worker parses the YAML again (a 4.6 MB CRD
     * bundle takes seconds to parse, its JSON a tenth of that to unpack).
     */
    packedObjects: z.string().optional(),
    /** Namespace for objects that name none. */
    namespace: NamespaceName.optional(),
    /** Configured cluster name; the worker's default cluster when absent. */
    cluster: z.string().min(1).optional(),
    /** Application name (inventory, workflow id, search attribute). */
    app: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'app must be lowercase letters, digits, "-" and "."')
      .max(63)
      .optional(),
    /** Plan (server-side dry-run) and stop: nothing is written. */
    dryRun: z.boolean().default(false),
    /** Take over fields owned by other field managers instead of failing on conflicts. */
    force: z.boolean().default(false),
    /** Wait for the applied objects to become healthy (default true). */
    wait: z.boolean().default(true),
    /** On failed or timed-out health, restore what the deploy changed (default true). */
    rollback: z.boolean().default(true),
    /**
     * After a healthy deploy, delete objects of this app's previous inventory that are no longer in the set
     * (default false). Needs `app`.
     */
    prune: z.boolean().default(false),
    /** Stop after the plan until someone approves it with the `approve` update (default false). */
    requireApproval: z.boolean().default(false),
    /** Seconds to wait for an approval before failing without writing anything (default 1 hour). */
    approvalTimeoutSeconds: z
      .number()
      .int()
      .positive()
      .max(30 * 86_400)
      .default(3_600),
    /** Seconds allowed for objects to become healthy. */
    timeoutSeconds: z.number().int().positive().max(86_400).default(DEFAULT_DEPLOY_TIMEOUT_SECONDS),
    /**
     * An analysis run (a child `runAnalysis`) after the objects are healthy, before the inventory is recorded:
     * `failed` rolls the deploy back (outcome `rolledBack`, the analysis' reason in `failure`); `inconclusive` waits
     * for the `decideAnalysis` update (`promote` or `rollback`) until `analysisDecisionTimeout`, then rolls back.
     * `{{cluster}}` is the deploy's cluster; `{{args.app}}` and `{{args.namespace}}` are the deploy's app and
     * namespace unless `analysisArgs` says otherwise.
     */
    analysis: AnalysisSpec.optional(),
    /** Values of the analysis' `{{args.NAME}}` placeholders (over the defaults `app` and `namespace`). */
    analysisArgs: AnalysisArgs.optional(),
    /** How long an inconclusive analysis waits for `decideAnalysis` before the deploy rolls back (default 1h). */
    analysisDecisionTimeout: DurationText.default('1h'),
    /** Alert channels told when the run ends (default: on every outcome that is not a success); see `schemas/notify`. */
    notify: notifySpec(['succeeded', 'planned', 'failed', 'rolledBack', 'rollbackFailed', 'rejected']).optional(),
  })
  .refine(
    (v) =>
      [v.manifests, v.sources, v.objects, v.compressed, v.packedObjects].filter((x) => x !== undefined).length === 1,
    {
      message:
        'give exactly one of manifests (text), sources (named texts), objects (a list), compressed or packedObjects',
      path: ['manifests'],
    },
  );
/** Input of `deployManifests` as callers write it (defaults optional). */
export type DeployManifestsInput = z.input<typeof DeployManifestsInput>;
/** Input of `deployManifests` after defaults are applied. */
export type DeployManifestsOptions = z.output<typeof DeployManifestsInput>;

/** What a deploy did (or would do) to one object. `pruned`: removed because it left the app's set. */
export const ObjectAction = z.enum(['created', 'configured', 'unchanged', 'deleted', 'restored', 'pruned']);
/** What a deploy did to one object. */
export type ObjectAction = z.infer<typeof ObjectAction>;

/**
 * Health status names (kstatus).
 * @deprecated Use {@link HealthStatus} (`schemas/health`), the one definition; this alias will be removed.
 */
export const HealthStatusName = HealthStatus;

/** One object's line in the report. */
export const ObjectReport = z.object({
  subject: z.string(),
  action: ObjectAction,
  /** Field paths that differ from the live object (configured objects only, at most a few dozen). */
  changes: z.array(z.string()).optional(),
  /** The same changes with old → new values (`{ path, from, to }`, truncated; a Secret's values `(redacted)`). */
  changedFields: z.array(z.object({ path: z.string(), from: z.string(), to: z.string() })).optional(),
  /**
   * What the rollback did to this object, when the deploy was undone: `restored` (back to its state before the
   * deploy), `deleted` (the deploy had created it), `untouched` (nothing needed undoing: its write never reached
   * the cluster), `failed` (left as it is: see `message`).
   */
  rollback: z.enum(['restored', 'deleted', 'untouched', 'failed']).optional(),
  /** Why a count was not applied as the manifests say (an autoscaler owns it, `scale` set it): the plan's notes. */
  notes: z.array(z.string()).optional(),
  status: HealthStatus.optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
/** One object's line in the report. */
export type ObjectReport = z.infer<typeof ObjectReport>;

/**
 * Final outcome of a deploy:
 * - `succeeded`: every object applied and (with `wait`) Current;
 * - `planned`: dry run, nothing was written;
 * - `rejected`: the plan was rejected or not approved in time; nothing was written;
 * - `failed`: the deploy failed and nothing needed undoing (nothing was written, or rollback is off: then the
 *   report lists what is left changed);
 * - `rolledBack`: the deploy failed after writing, and every change was undone and is healthy again;
 * - `rollbackFailed`: the deploy failed after writing and at least one change could not be undone (`left` says
 *   which and why).
 */
export const DeployOutcome = z.enum(['succeeded', 'planned', 'failed', 'rolledBack', 'rollbackFailed', 'rejected']);
/** Final outcome of a deploy. */
export type DeployOutcome = z.infer<typeof DeployOutcome>;

/** The JSON report `deployManifests` returns and `kube-workflows deploy --json` prints. */
export const DeployReport = z.object({
  outcome: DeployOutcome,
  cluster: z.string(),
  app: z.string().optional(),
  objects: z.array(ObjectReport),
  /** Objects pruned from the previous inventory (subjects). */
  pruned: z.array(z.string()).optional(),
  /** Who approved or rejected the plan, when approval was required. */
  approval: z
    .object({
      decision: z.enum(['approved', 'rejected', 'timedOut']),
      by: z.string().optional(),
      comment: z.string().optional(),
    })
    .optional(),
  /** The analysis run's report, when the input asked for one and it ran. */
  analysis: AnalysisReport.optional(),
  /** The operator's decision on an inconclusive analysis (`timedOut`: none came in time; the deploy rolled back). */
  analysisDecision: z
    .object({
      decision: z.enum(['promote', 'rollback', 'timedOut']),
      by: z.string().optional(),
      reason: z.string().optional(),
    })
    .optional(),
  /** Why the deploy failed, when it did after writing: the failure type (closed list) and its message. */
  failure: z.object({ type: z.string(), message: z.string() }).optional(),
  /** Objects a failed rollback left changed or unhealthy, each with why (`rollbackFailed`, or `failed` without rollback). */
  left: z.array(z.string()).optional(),
  /** What each `notify` channel answered to this run's alert (absent when no alert was due). */
  notifications: Notifications,
  /** Milliseconds spent per phase. */
  durationsMs: z.record(z.string(), z.number()),
  message: z.string(),
});
/** The JSON report of a deploy. */
export type DeployReport = z.infer<typeof DeployReport>;

/** Input of the `approve` and `reject` updates of a deploy waiting for approval. */
export const ApprovalInput = z.object({
  /** The plan being approved, as shown by the `progress` query; a stale id (the plan changed) is refused. */
  planId: z.string().min(1),
  /** Who decides (recorded in history and the report). */
  by: z.string().min(1).max(200),
  /** Why. */
  comment: z.string().max(2_000).optional(),
});
/** Input of the `approve` / `reject` updates. */
export type ApprovalInput = z.infer<typeof ApprovalInput>;

/** Input of the `decideAnalysis` update of a deploy whose analysis was inconclusive. */
export const DecideAnalysisInput = z.object({
  /** `promote`: keep the release (the deploy succeeds); `rollback`: undo it. */
  decision: z.enum(['promote', 'rollback']),
  /** Why (recorded in history and the report). */
  reason: z.string().max(2_000).optional(),
  /** Who decides. */
  by: z.string().min(1).max(200).optional(),
});
/** Input of the `decideAnalysis` update. */
export type DecideAnalysisInput = z.infer<typeof DecideAnalysisInput>;
