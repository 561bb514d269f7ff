/**
 * Input and report of the `detectDrift` workflow, its `approveCorrection` update and its activities (`scanDrift`,
 * `correctDrift`). The client validates with these schemas before starting; the workflow validates again in its
 * first task.
 * @module
 */
import { z } from 'zod';
import { DurationText } from './duration.js';
import { NamespaceName } from './kube-object.js';
import { ManifestSourceInput } from './deploy.js';

/** Who set a drifted field: kube-workflows, a known controller, a person's tool, or nobody we know. */
export const DriftClassName = z.enum(['us', 'controller', 'human', 'unknown']);
/** Who set a drifted field. */
export type DriftClassName = z.infer<typeof DriftClassName>;

/** What to do about a class of drift. */
export const DriftActionName = z.enum(['ignore', 'alert', 'correct']);
/** What to do about a class of drift. */
export type DriftActionName = z.infer<typeof DriftActionName>;

/**
 * The action per class. Defaults: `us` ignore (our own writes: a deploy not run yet, `scale`), `controller` ignore
 * (never fight a controller: `correct` is refused for it), `human` alert, `unknown` alert.
 */
export const DriftPolicyInput = z.object({
  us: DriftActionName.default('ignore'),
  controller: z
    .enum(['ignore', 'alert'], {
      message: 'controller drift is ignored or alerted, never corrected (never fight a controller)',
    })
    .default('ignore'),
  human: DriftActionName.default('alert'),
  unknown: DriftActionName.default('alert'),
});
/** The action per class. */
export type DriftPolicyInput = z.input<typeof DriftPolicyInput>;

/** One managedFields entry owning a drifted field. */
export const DriftFieldOwner = z.object({
  manager: z.string(),
  operation: z.string(),
  subresource: z.string().optional(),
  time: z.string().optional(),
});

/** One drifted field: its path, what we set → what it is live, who set it, what the policy does. */
export const DriftFieldReport = z.object({
  path: z.string(),
  /** The value applying the manifests gives it (truncated; `(absent)`; `(redacted)` for Secrets). */
  from: z.string(),
  /** Its live value (same rules). */
  to: z.string(),
  owners: z.array(DriftFieldOwner),
  class: DriftClassName,
  action: DriftActionName,
  /** Left to an autoscaler or `scale` by design (a deploy leaves it too): never corrected. */
  leftTo: z.string().optional(),
  /** Taken back by this run's correction: its live value is `from` again. */
  corrected: z.boolean().optional(),
});
/** One drifted field. */
export type DriftFieldReport = z.infer<typeof DriftFieldReport>;

/** What the scan found for one object. */
export const DriftObjectReport = z.object({
  subject: z.string(),
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  /** `inSync`, `drifted`, `missing` (not in the cluster), `error` (could not be scanned: `message`). */
  state: z.enum(['inSync', 'drifted', 'missing', 'error']),
  /** The live resourceVersion the result holds for (after a correction: the corrected object's). */
  resourceVersion: z.string().optional(),
  /** Fingerprint of the desired object: a changed manifest is scanned again even when the live object is not. */
  desiredHash: z.string(),
  /** True when this run dry-ran the object; false when the live object and the manifest did not change since. */
  scanned: z.boolean(),
  fields: z.array(DriftFieldReport),
  /** The API server's conflict message of the non-forced dry-run (who owns what), when there was one. */
  conflict: z.string().optional(),
  /** What the correction did: `corrected` (live values restored), `skipped` (why in `message`), `failed`. */
  correction: z.enum(['corrected', 'skipped', 'failed']).optional(),
  message: z.string().optional(),
});
/** What the scan found for one object. */
export type DriftObjectReport = z.infer<typeof DriftObjectReport>;

/**
 * The state a scan hands to the next one: per object the resourceVersion and desired fingerprint it was scanned at
 * and what it found. A report is such a state (its `objects`).
 */
export const DriftScanState = z.object({
  objects: z.array(
    z.object({
      subject: z.string(),
      resourceVersion: z.string().optional(),
      desiredHash: z.string(),
      state: z.enum(['inSync', 'drifted', 'missing', 'error']),
      fields: z.array(DriftFieldReport),
      conflict: z.string().optional(),
    }),
  ),
});
/** The state a scan hands to the next one. */
export type DriftScanState = z.infer<typeof DriftScanState>;

/** Input of `detectDrift`. Exactly one of `manifests`, `sources`, `objects`, `compressed` is given. */
export const DetectDriftInput = z
  .object({
    /** The app whose deployed objects are checked (its inventory names the set our deploys own). */
    app: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'app must be lowercase letters, digits, "-" and "."')
      .max(63),
    /** The app's namespace: where its inventory lives, and the namespace of objects that name none. */
    namespace: NamespaceName,
    /** Configured cluster name; the worker's default cluster when absent. */
    cluster: z.string().min(1).optional(),
    /** The desired manifests, as a deploy takes them: multi-document YAML or JSON text. */
    manifests: z.string().optional(),
    /** Several named texts (files). */
    sources: z.array(ManifestSourceInput).optional(),
    /** Objects given as data. */
    objects: z.array(z.unknown()).optional(),
    /** Named texts packed with gzip + base64, as the client sends large manifests. */
    compressed: z.string().optional(),
    /** The action per class of drift. */
    policy: DriftPolicyInput.default({ us: 'ignore', controller: 'ignore', human: 'alert', unknown: 'alert' }),
    /** Alert channels (configured on the worker) for drift the policy alerts or corrects; one alert per run. */
    channels: z.array(z.string().min(1)).default([]),
    /** Correct only after someone approves with the `approveCorrection` update (default false: correct at once). */
    requireApproval: z.boolean().default(false),
    /** How long a correction waits for its approval before the run ends without correcting (default 1h). */
    approvalTimeout: DurationText.default('1h'),
    /**
     * The previous scan (a previous report, or its `objects`): objects whose live resourceVersion and manifest did
     * not change since are not dry-run again. When absent, the previous run's result is used if Temporal hands one
     * over (a Schedule's or cron's last completion result, or continue-as-new).
     */
    previous: DriftScanState.optional(),
  })
  .refine((v) => [v.manifests, v.sources, v.objects, v.compressed].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of manifests (text), sources (named texts), objects (a list) or compressed',
    path: ['manifests'],
  });
/** Input of `detectDrift` as callers write it. */
export type DetectDriftInput = z.input<typeof DetectDriftInput>;
/** Input of `detectDrift` after defaults. */
export type DetectDriftOptions = z.output<typeof DetectDriftInput>;

/**
 * Outcome of a drift scan: `inSync` (nothing drifted), `drifted` (drift found and left: ignored, alerted, or its
 * correction not approved), `corrected` (every field the policy corrects was taken back), `correctionFailed`
 * (some could not be: see the objects' `correction` and `message`).
 */
export const DriftOutcome = z.enum(['inSync', 'drifted', 'corrected', 'correctionFailed']);
/** Outcome of a drift scan. */
export type DriftOutcome = z.infer<typeof DriftOutcome>;

/** The JSON report `detectDrift` returns and `kube-workflows drift -o json` prints. */
export const DriftReport = z.object({
  outcome: DriftOutcome,
  cluster: z.string(),
  app: z.string(),
  namespace: z.string(),
  objects: z.array(DriftObjectReport),
  /** Server-side dry-run requests this run sent (0 when nothing moved since the previous scan). */
  dryRuns: z.number().int(),
  /** Objects of the app's inventory that the manifests no longer hold (deployed once, not desired now). */
  notInManifests: z.array(z.string()),
  /** Objects of the manifests that the inventory does not list (never deployed as this app). */
  notInInventory: z.array(z.string()),
  /** The one alert of this run, when there was drift to alert. */
  alert: z
    .object({
      dedupKey: z.string(),
      channels: z.array(z.string()),
      summary: z.string(),
    })
    .optional(),
  /** The correction: who approved it (or that nobody did in time), and which objects it applied. */
  correction: z
    .object({
      decision: z.enum(['automatic', 'approved', 'rejected', 'timedOut']),
      by: z.string().optional(),
      comment: z.string().optional(),
      corrected: z.array(z.string()),
      failed: z.array(z.string()),
    })
    .optional(),
  message: z.string(),
});
/** The JSON report of a drift scan. */
export type DriftReport = z.infer<typeof DriftReport>;

/** Input of the `approveCorrection` update. */
export const ApproveCorrectionInput = z.object({
  /** Who decides (recorded in history and the report). */
  by: z.string().min(1).max(200),
  /** `false` rejects the correction (the drift stays, reported). Default true. */
  approve: z.boolean().default(true),
  comment: z.string().max(2_000).optional(),
});
/** Input of the `approveCorrection` update. */
export type ApproveCorrectionInput = z.input<typeof ApproveCorrectionInput>;

/** Where the drift activities read the desired objects: inline, or from the workflow's own start input. */
const DriftSource = z.union([
  z.object({ objects: z.array(z.custom<object>((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) }),
  z.object({ workflowInput: z.object({ workflowId: z.string().min(1), runId: z.string().min(1) }) }),
]);

/** Input of the `scanDrift` activity. */
export const ScanDriftInput = z.object({
  cluster: z.string(),
  app: z.string().min(1),
  namespace: z.string().min(1),
  source: DriftSource,
  policy: z.object({
    us: DriftActionName,
    controller: DriftActionName,
    human: DriftActionName,
    unknown: DriftActionName,
  }),
  previous: DriftScanState.optional(),
});
/** Input of the `scanDrift` activity. */
export type ScanDriftInput = z.infer<typeof ScanDriftInput>;

/** Result of the `scanDrift` activity. */
export const ScanDriftResult = z.object({
  cluster: z.string(),
  objects: z.array(DriftObjectReport),
  dryRuns: z.number().int(),
  notInManifests: z.array(z.string()),
  notInInventory: z.array(z.string()),
});
/** Result of the `scanDrift` activity. */
export type ScanDriftResult = z.infer<typeof ScanDriftResult>;

/** Input of the `correctDrift` activity. */
export const CorrectDriftInput = ScanDriftInput.omit({ previous: true }).extend({
  /** The objects to correct (subjects); each is read and dry-run again first, so only what still drifts is taken. */
  subjects: z.array(z.string()),
});
/** Input of the `correctDrift` activity. */
export type CorrectDriftInput = z.infer<typeof CorrectDriftInput>;

/** What the correction did to one object. */
export const CorrectedObject = z.object({
  subject: z.string(),
  result: z.enum(['corrected', 'skipped', 'failed']),
  /** The fields taken back (paths) when corrected. */
  fields: z.array(z.string()),
  resourceVersion: z.string().optional(),
  message: z.string().optional(),
});
/** What the correction did to one object. */
export type CorrectedObject = z.infer<typeof CorrectedObject>;
