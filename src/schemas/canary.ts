/**
 * Input, updates, status and report of the `canaryRollout` workflow: a canary of a Deployment behind a Service,
 * without a service mesh. Traffic follows pods: a `<name>-canary` Deployment whose pods the Service also selects
 * gets a share of the requests in proportion to its share of the ready pods (the replica ratio).
 * @module
 */
import { z } from 'zod';
import { AnalysisSpec } from './analysis.js';
import { DurationText } from './duration.js';
import { NamespaceName } from './kube-object.js';

const Labels = z.record(z.string(), z.string());

/** A pod template (`spec.template` of a Deployment): labels, annotations and a pod spec with containers. */
export const PodTemplate = z.looseObject({
  metadata: z.looseObject({ labels: Labels.optional(), annotations: Labels.optional() }).optional(),
  spec: z.looseObject({
    containers: z
      .array(z.looseObject({ name: z.string().min(1, 'a container needs a name') }), {
        error: 'spec.containers must be a list of containers',
      })
      .min(1, 'a pod template needs at least one container'),
  }),
});
/** A pod template. */
export type PodTemplate = z.infer<typeof PodTemplate>;

/** A full Deployment manifest: only its `spec.template` is used (replicas, selector and strategy stay the stable's). */
export const DeploymentManifest = z.looseObject({
  apiVersion: z.literal('apps/v1', { error: 'a Deployment manifest has apiVersion apps/v1' }),
  kind: z.literal('Deployment'),
  metadata: z.looseObject({ name: z.string().min(1).optional(), namespace: z.string().optional() }).optional(),
  spec: z.looseObject({ template: PodTemplate }),
});
/** A full Deployment manifest. */
export type DeploymentManifest = z.infer<typeof DeploymentManifest>;

/**
 * The new version: a pod template, or a whole Deployment manifest of the stable Deployment (same name) of which
 * only `spec.template` is taken.
 */
export const CanaryTemplate = z.union([DeploymentManifest, PodTemplate], {
  error: 'template must be a pod template ({ metadata, spec: { containers } }) or a Deployment manifest',
});
/** The new version: a pod template or a Deployment manifest. */
export type CanaryTemplate = z.infer<typeof CanaryTemplate>;

/** Step: send `setWeight` percent of the pods (so, of the traffic) to the canary. */
export const SetWeightStep = z.strictObject({
  setWeight: z
    .number({ error: 'setWeight is a percentage, 0 to 100' })
    .int('setWeight is a whole percentage')
    .min(0, 'setWeight is at least 0')
    .max(100, 'setWeight is at most 100'),
});
/** Step: wait `duration` (`30s`, `10m`, seconds), or without one until the `promote` update. */
export const PauseStep = z.strictObject({ pause: z.strictObject({ duration: DurationText.optional() }) });
/** Step: run an analysis (child `runAnalysis` over the canary); failed aborts the canary. */
export const AnalysisStep = z.strictObject({ analysis: AnalysisSpec });

/** One canary step. */
export const CanaryStep = z.union([SetWeightStep, PauseStep, AnalysisStep], {
  error: 'a step is { setWeight: 0..100 }, { pause: { duration? } } or { analysis: <analysis spec> }',
});
/** One canary step (after defaults). */
export type CanaryStep = z.infer<typeof CanaryStep>;
/** One canary step as callers write it. */
export type CanaryStepInput = z.input<typeof CanaryStep>;

/** What a `newRevision` update does while a canary runs. */
export const NewRevisionPolicy = z.enum(['restart', 'supersede', 'refuse']);
/** What a `newRevision` update does while a canary runs. */
export type NewRevisionPolicy = z.infer<typeof NewRevisionPolicy>;

/** Default seconds each replica change may take to become healthy. */
export const DEFAULT_CANARY_TIMEOUT_SECONDS = 300;
/** Default seconds an inconclusive analysis waits for an operator's `promote` or `abort` before aborting. */
export const DEFAULT_DECISION_TIMEOUT_SECONDS = 3_600;

/** Input of `canaryRollout`. */
export const CanaryRolloutInput = z.object({
  /** Configured cluster name; the worker's default when absent. */
  cluster: z.string().min(1).optional(),
  namespace: NamespaceName,
  /** Name of the stable Deployment (behind a Service whose selector matches its pods). */
  deployment: z.string().min(1).max(240, 'the Deployment name has at most 240 characters (the canary adds -canary)'),
  /** The Service to canary behind; default: every Service of the namespace that selects the stable pods. */
  service: z.string().min(1).optional(),
  template: CanaryTemplate,
  steps: z.array(CanaryStep).min(1, 'give at least one step').max(100, 'at most 100 steps'),
  /** What a `newRevision` update does: restart the steps, supersede the canary's template, or refuse (default). */
  onNewRevision: NewRevisionPolicy.default('refuse'),
  /** Seconds each replica change (and the promotion) may take to become healthy. */
  timeoutSeconds: z.number().int().positive().max(86_400).default(DEFAULT_CANARY_TIMEOUT_SECONDS),
  /** Seconds an inconclusive analysis waits for `promote` (go on) or `abort`; then the canary aborts. */
  decisionTimeoutSeconds: z.number().int().positive().max(604_800).default(DEFAULT_DECISION_TIMEOUT_SECONDS),
  /** Alert channels (configured on the worker) told when the canary aborts or its promotion fails. */
  channels: z.array(z.string().min(1)).default([]),
});
/** Input of `canaryRollout` as callers write it. */
export type CanaryRolloutInput = z.input<typeof CanaryRolloutInput>;
/** Input of `canaryRollout` after defaults. */
export type CanaryRolloutOptions = z.output<typeof CanaryRolloutInput>;

/** Update `promote`: end the current pause (default) or, with `full`, skip every remaining step and promote now. */
export const PromoteInput = z.strictObject({ full: z.boolean().default(false) });
/** Update `promote`. */
export type PromoteInput = z.input<typeof PromoteInput>;

/** Update `abort`: remove the canary at once and restore the stable replica count. */
export const AbortInput = z.strictObject({ reason: z.string().min(1, 'give a reason').max(1_000) });
/** Update `abort`. */
export type AbortInput = z.infer<typeof AbortInput>;

/** Update `newRevision`: a newer template, handled as the run's `onNewRevision` says. */
export const NewRevisionInput = z.strictObject({ template: CanaryTemplate });
/** Update `newRevision`. */
export type NewRevisionInput = z.infer<typeof NewRevisionInput>;

/** Phases of a canary. */
export const CanaryPhase = z.enum([
  'validating',
  'preflight',
  'shifting',
  'paused',
  'analysing',
  'awaitingDecision',
  'promoting',
  'aborting',
  'done',
]);
/** A phase of a canary. */
export type CanaryPhase = z.infer<typeof CanaryPhase>;

/** Stable and canary replica counts (spec.replicas as the canary set them). */
export const ReplicaCounts = z.object({ stable: z.number().int().min(0), canary: z.number().int().min(0) });
/** Stable and canary replica counts. */
export type ReplicaCounts = z.infer<typeof ReplicaCounts>;

/** One analysis run of a canary. */
export const CanaryAnalysisResult = z.object({
  step: z.number().int(),
  revision: z.number().int(),
  outcome: z.string(),
  message: z.string(),
  /** The child workflow's id (its report holds every measurement). */
  workflowId: z.string(),
});
/** One analysis run of a canary. */
export type CanaryAnalysisResult = z.infer<typeof CanaryAnalysisResult>;

/** One executed step, as the report and the status show it. */
export const CanaryStepReport = z.object({
  index: z.number().int(),
  /** `setWeight 20`, `pause 1m`, `pause (until promoted)`, `analysis`. */
  step: z.string(),
  /** Which template revision it ran against (1 = the start input's; each accepted `newRevision` adds one). */
  revision: z.number().int(),
  result: z.enum(['done', 'promoted', 'skipped', 'interrupted', 'failed', 'inconclusive']),
  startedAt: z.string(),
  durationMs: z.number(),
  weight: z.number().int().optional(),
  replicas: ReplicaCounts.optional(),
  message: z.string().optional(),
});
/** One executed step. */
export type CanaryStepReport = z.infer<typeof CanaryStepReport>;

/** What the `status` query returns. */
export const CanaryStatus = z.object({
  phase: CanaryPhase,
  /** Index of the current step (steps.length once past the last). */
  stepIndex: z.number().int(),
  stepCount: z.number().int(),
  /** The weight last set (0 before the first setWeight). */
  weight: z.number().int(),
  /** The total replica count T (the stable's spec.replicas at start). */
  total: z.number().int(),
  replicas: ReplicaCounts,
  revision: z.number().int(),
  steps: z.array(CanaryStepReport),
  analyses: z.array(CanaryAnalysisResult),
  message: z.string(),
});
/** What the `status` query returns. */
export type CanaryStatus = z.infer<typeof CanaryStatus>;

/** Outcomes of a canary. */
export const CanaryOutcome = z.enum(['promoted', 'aborted', 'promotionFailed']);
/** An outcome of a canary. */
export type CanaryOutcome = z.infer<typeof CanaryOutcome>;

/** Report of `canaryRollout`. */
export const CanaryReport = z.object({
  /**
   * `promoted`: the stable Deployment runs the new template with T replicas and the canary is gone. `aborted`: the
   * canary is gone and the stable Deployment is back at T replicas, its template never touched. `promotionFailed`:
   * the new template was applied to the stable Deployment but it did not become healthy; the canary is left serving.
   */
  outcome: CanaryOutcome,
  cluster: z.string(),
  /** The stable Deployment, `Deployment/ns/name`. */
  subject: z.string(),
  /** The canary Deployment, `Deployment/ns/name-canary`. */
  canary: z.string(),
  total: z.number().int(),
  revision: z.number().int(),
  steps: z.array(CanaryStepReport),
  analyses: z.array(CanaryAnalysisResult),
  /** Objects this run created (the canary Deployment). */
  created: z.array(z.string()),
  /** Objects this run deleted (the canary Deployment, at promotion or abort). */
  deleted: z.array(z.string()),
  /** Replica counts put back at abort (`{ subject, from, to }`). */
  restored: z.array(z.object({ subject: z.string(), from: z.number().int(), to: z.number().int() })),
  /** Set when the stable Deployment got the new template. */
  promoted: z.object({ subject: z.string(), generation: z.number().int().optional() }).optional(),
  /** What the abort could not undo (its activity kept failing), and why. */
  left: z.array(z.string()).optional(),
  /** Why it aborted (or why the promotion failed). */
  reason: z.string().optional(),
  /** Alert deliveries made at the end (channel and HTTP status, or the error). */
  alerts: z.array(z.object({ channel: z.string(), status: z.number().optional(), error: z.string().optional() })),
  durationsMs: z.record(z.string(), z.number()),
  message: z.string(),
});
/** Report of `canaryRollout`. */
export type CanaryReport = z.infer<typeof CanaryReport>;
