/**
 * The fleet file and the `rolloutFleet` workflow's input, operator updates, status query and report.
 *
 * A fleet sends the same manifests (with per-cluster overrides) to clusters chosen by label selectors, in ordered
 * waves; each wave deploys at most `maxParallel` clusters at once and then bakes (a minimum time AND a number of
 * passing analysis runs) before the next starts. Schemas are strict: an unknown or misspelt key is an error that
 * names it. Durations are written as `30s`, `10m`, `1h30m` or plain seconds.
 * @module
 */
import { z } from 'zod';
import { isKnownTimeZone, parseCron } from '../domain/cron.js';
import { parseLabelSelector } from '../domain/selectors.js';
import { AnalysisReport, AnalysisSpec } from './analysis.js';
import { ManifestSourceInput } from './deploy.js';
import { durationMs } from './duration.js';
import { NamespaceName } from './kube-object.js';
import { Notifications, notifySpec } from './notify.js';

/** Default {@link FleetFile} `haltPolicy`. */
export const DEFAULT_HALT_POLICY = 'rollbackWave';
/** Default time an unreachable cluster is retried before the `unreachable.then` policy applies (5 minutes). */
export const DEFAULT_UNREACHABLE_RETRY_MS = 5 * 60_000;
/** Most clusters one fleet run deploys (history stays far below Temporal's limits; see the README). */
export const MAX_FLEET_CLUSTERS = 500;
/** Longest freeze window (7 days): windows are evaluated by scanning their minutes. */
export const MAX_FREEZE_WINDOW_MS = 7 * 86_400_000;

const DAY_MS = 86_400_000;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const name = (what: string) =>
  z
    .string()
    .max(63, `${what} has at most 63 characters`)
    .regex(NAME, `${what} is lowercase letters, digits and "-", starting and ending with a letter or digit`);

/** How a wave picks its clusters: a label selector (full Kubernetes syntax) or a list of cluster names. */
export const WaveClusters = z.union([
  z.string().superRefine((text, ctx) => {
    const parsed = parseLabelSelector(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid label selector "${text}": ${parsed.error}` });
  }),
  z.array(z.string().min(1)).min(1, 'list at least one cluster name (or give a label selector)'),
]);

/** The bake of a wave: it ends when `minTime` has passed AND `passes` analysis runs passed on every cluster. */
export const WaveBake = z
  .strictObject({
    /** Minimum time after the last cluster of the wave is Current (default 0). */
    minTime: durationMs({ maxMs: 30 * DAY_MS }).default(0),
    /** Analysis run against each cluster of the wave (args: cluster, app, namespace). */
    analysis: AnalysisSpec.optional(),
    /** Passing analysis runs needed (default 1 when `analysis` is given). */
    passes: z.number().int().min(1).max(100).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.passes !== undefined && !b.analysis)
      ctx.addIssue({ code: 'custom', path: ['passes'], message: 'passes needs an analysis to count' });
  })
  .transform((b) => ({ ...b, passes: b.analysis ? (b.passes ?? 1) : 0 }));

/** One wave. */
export const FleetWave = z.strictObject({
  name: name('a wave name'),
  /** Label selector text (`env=prod,region in (r2,r3)`) or cluster names. */
  clusters: WaveClusters,
  /** Clusters deployed at the same time (default 1). */
  maxParallel: z.number().int().min(1).max(100).default(1),
  bake: WaveBake.default({ minTime: 0, passes: 0 }),
});

/** Per-cluster changes to the manifests. */
export const ClusterOverride = z.strictObject({
  /** Namespace of every namespaced object on this cluster. */
  namespace: NamespaceName.optional(),
  /** Container name → a tag (`2.1.0`) or a whole image (`registry.example/web:2.1.0`). */
  images: z.record(z.string().min(1), z.string().min(1)).optional(),
  /** Deployment (or StatefulSet) name → replicas. */
  replicas: z.record(z.string().min(1), z.number().int().min(0).max(10_000)).optional(),
});
/** Per-cluster changes to the manifests. */
export type ClusterOverride = z.infer<typeof ClusterOverride>;

/** A window in which no wave starts: from each time `cron` matches, for `duration`. */
export const FreezeWindow = z
  .strictObject({
    /** Five fields: minute hour day-of-month month day-of-week (ranges, steps, lists, names). */
    cron: z.string().superRefine((text, ctx) => {
      const parsed = parseCron(text);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
    duration: durationMs({ minMs: 60_000, maxMs: MAX_FREEZE_WINDOW_MS }),
    /** IANA time zone of `cron` (default UTC). */
    timezone: z.string().optional(),
  })
  .superRefine((w, ctx) => {
    if (w.timezone !== undefined && !isKnownTimeZone(w.timezone))
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone "${w.timezone}"` });
  });
/** A validated freeze window (duration in ms). */
export type FreezeWindow = z.output<typeof FreezeWindow>;

/** What a fleet does when a cluster deploy or an analysis fails. */
export const HaltPolicy = z.enum(['stop', 'rollbackWave', 'rollbackAll']);
/** What a fleet does when a cluster deploy or an analysis fails. */
export type HaltPolicy = z.infer<typeof HaltPolicy>;

/** Options passed to each cluster's child `deployManifests`. */
export const FleetDeployOptions = z.strictObject({
  timeoutSeconds: z.number().int().positive().max(86_400).optional(),
  prune: z.boolean().optional(),
  force: z.boolean().optional(),
  /** The child deploy's own saga: undo a failed cluster deploy (default true). */
  rollback: z.boolean().optional(),
});

const FleetFileShape = {
  /** Fleet name: the workflow id is `fleet/<name>` (one rollout per fleet at a time). */
  name: name('a fleet name'),
  /** Application name: each cluster's deploy is `deploy/<cluster>/<namespace>/<app>` (its lock). */
  app: name('an app name'),
  /** Manifests: one text or named texts (the CLI fills them from `-f`). */
  manifests: z.union([z.string().min(1), z.array(ManifestSourceInput).min(1)]).optional(),
  /** Namespace for objects that name none. */
  namespace: NamespaceName.optional(),
  waves: z.array(FleetWave).min(1, 'a fleet needs at least one wave'),
  /** Cluster name → overrides. */
  overrides: z.record(z.string().min(1), ClusterOverride).default({}),
  haltPolicy: HaltPolicy.default(DEFAULT_HALT_POLICY),
  unreachable: z
    .strictObject({
      retryFor: durationMs({ maxMs: DAY_MS }).default(DEFAULT_UNREACHABLE_RETRY_MS),
      then: z.enum(['skip', 'halt']).default('halt'),
    })
    .default({ retryFor: DEFAULT_UNREACHABLE_RETRY_MS, then: 'halt' }),
  freezeWindows: z.array(FreezeWindow).default([]),
  /** Alert channels (configured on the worker) told when the fleet halts, skips a cluster or is aborted. */
  alerts: z.strictObject({ channels: z.array(z.string().min(1)).min(1) }).optional(),
  /**
   * Alert channels told ONCE when the rollout ends (default: on every outcome that is not a success), with the
   * reason, the failed clusters' pods and Events, and the run's Web UI link; see `schemas/notify`.
   */
  notify: notifySpec(['succeeded', 'halted', 'rolledBack', 'aborted', 'failed']).optional(),
  deploy: FleetDeployOptions.default({}),
};

function uniqueWaveNames(v: { waves: { name: string }[] }, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  v.waves.forEach((w, i) => {
    if (seen.has(w.name))
      ctx.addIssue({ code: 'custom', path: ['waves', i, 'name'], message: `wave "${w.name}" is named twice` });
    seen.add(w.name);
  });
}

/** The fleet file (YAML or JSON) as `kube-workflows rollout --fleet` reads it. */
export const FleetFile = z.strictObject(FleetFileShape).superRefine(uniqueWaveNames);
/** The fleet file as written. */
export type FleetFile = z.input<typeof FleetFile>;

/** Input of `rolloutFleet`: the fleet file with its manifests. */
export const RolloutFleetInput = z
  .strictObject({
    ...FleetFileShape,
    manifests: z.union([z.string().min(1), z.array(ManifestSourceInput).min(1)], {
      error: 'manifests are required (the CLI fills them from -f)',
    }),
  })
  .superRefine(uniqueWaveNames);
/** Input of `rolloutFleet` as callers write it. */
export type RolloutFleetInput = z.input<typeof RolloutFleetInput>;
/** Input of `rolloutFleet` after defaults (durations in ms). */
export type RolloutFleetOptions = z.output<typeof RolloutFleetInput>;

// --- operator updates ------------------------------------------------------------------------------------------

/** Input of the `pause` update. */
export const PauseFleetInput = z.strictObject({ reason: z.string().max(500).optional(), by: z.string().optional() });
/** Input of the `pause` update. */
export type PauseFleetInput = z.infer<typeof PauseFleetInput>;
/** Input of the `skipCluster` update. */
export const SkipClusterInput = z.strictObject({ cluster: z.string().min(1), reason: z.string().max(500).optional() });
/** Input of the `skipCluster` update. */
export type SkipClusterInput = z.infer<typeof SkipClusterInput>;
/** Input of the `promote` update: end the current bake now (`wave`, when given, must be the baking wave). */
export const PromoteFleetInput = z.strictObject({ wave: z.string().optional(), by: z.string().optional() });
/** Input of the `promote` update. */
export type PromoteFleetInput = z.infer<typeof PromoteFleetInput>;
/** Input of the `abort` update: stop the fleet and roll back none, the current wave, or every cluster done. */
export const AbortFleetInput = z.strictObject({
  rollback: z.enum(['none', 'wave', 'all']),
  reason: z.string().min(1, 'say why (reason)').max(500),
});
/** Input of the `abort` update. */
export type AbortFleetInput = z.infer<typeof AbortFleetInput>;

// --- status and report ------------------------------------------------------------------------------------------

/** Phase of one cluster in the fleet. */
export const FleetClusterPhase = z.enum([
  'pending',
  'probing',
  'deploying',
  'deployed',
  'baking',
  'succeeded',
  'failed',
  'skipped',
  'notStarted',
  'cancelled',
  'rollingBack',
  'rolledBack',
  'rollbackFailed',
]);
/** Phase of one cluster in the fleet. */
export type FleetClusterPhase = z.infer<typeof FleetClusterPhase>;

/** One analysis run of one cluster during a bake. */
export const FleetAnalysisRun = z.object({
  /** 1-based run number within the bake. */
  run: z.number().int(),
  workflowId: z.string(),
  outcome: z.string(),
  report: AnalysisReport.optional(),
  message: z.string().optional(),
});
/** One analysis run of one cluster during a bake. */
export type FleetAnalysisRun = z.infer<typeof FleetAnalysisRun>;

/** One wave × cluster cell of the matrix. */
export const FleetCell = z.object({
  cluster: z.string(),
  phase: FleetClusterPhase,
  /** Short hash of the objects this cluster gets (after its overrides): what "the new revision" is. */
  revision: z.string(),
  /** The child deploy's workflow id (the app's deploy lock on that cluster). */
  deployWorkflowId: z.string(),
  /** The child deploy's outcome. */
  deployOutcome: z.string().optional(),
  /** Objects Current / objects, from the deploy report (`3/3 Current`). */
  health: z.string().optional(),
  message: z.string().optional(),
  /** Why the cluster was skipped. */
  skipReason: z.string().optional(),
  /** Reachability probes made (more than 1: it was unreachable for a while). */
  probes: z.number().int().optional(),
  analysis: z.array(FleetAnalysisRun),
  /** The rollback of this cluster, when the fleet rolled it back. */
  rollback: z.object({ outcome: z.string(), workflowId: z.string().optional(), message: z.string() }).optional(),
  startedAt: z.string().optional(),
  deployedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});
/** One wave × cluster cell of the matrix. */
export type FleetCell = z.infer<typeof FleetCell>;

/** Phase of a wave. */
export const FleetWavePhase = z.enum([
  'pending',
  'frozen',
  'paused',
  'deploying',
  'baking',
  'succeeded',
  'failed',
  'notStarted',
  'aborted',
]);
/** Phase of a wave. */
export type FleetWavePhase = z.infer<typeof FleetWavePhase>;

/** One wave of the matrix. */
export const FleetWaveStatus = z.object({
  name: z.string(),
  phase: FleetWavePhase,
  maxParallel: z.number().int(),
  cells: z.array(FleetCell),
  bake: z.object({
    minTimeMs: z.number(),
    passesRequired: z.number().int(),
    passes: z.number().int(),
    startedAt: z.string().optional(),
    endedAt: z.string().optional(),
    /** Who ended the bake early with `promote`. */
    promotedBy: z.string().optional(),
  }),
  startedAt: z.string().optional(),
  deployedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  /** Time spent waiting for freeze windows and pauses before this wave. */
  heldMs: z.number(),
});
/** One wave of the matrix. */
export type FleetWaveStatus = z.infer<typeof FleetWaveStatus>;

/** Overall outcome of a fleet rollout. */
export const FleetOutcome = z.enum(['succeeded', 'halted', 'rolledBack', 'aborted', 'failed']);
/** Overall outcome of a fleet rollout. */
export type FleetOutcome = z.infer<typeof FleetOutcome>;

/** What the `status` query returns: the wave × cluster matrix and what the fleet waits on. */
export const FleetStatus = z.object({
  fleet: z.string(),
  app: z.string(),
  workflowId: z.string(),
  phase: z.enum(['validating', 'running', 'frozen', 'paused', 'rollingBack', 'done']),
  currentWave: z.string().optional(),
  paused: z.object({ reason: z.string(), by: z.string().optional(), since: z.string() }).optional(),
  frozen: z.object({ until: z.string(), cron: z.string() }).optional(),
  /** The next durable timer and what it is for. */
  nextTimer: z.object({ purpose: z.string(), at: z.string() }).optional(),
  waves: z.array(FleetWaveStatus),
  /** Configured clusters no wave selected. */
  unassigned: z.array(z.string()),
  haltPolicy: HaltPolicy,
  message: z.string(),
  outcome: FleetOutcome.optional(),
});
/** What the `status` query returns. */
export type FleetStatus = z.infer<typeof FleetStatus>;

/** The JSON report `rolloutFleet` returns and `kube-workflows rollout --json` prints. */
export const FleetReport = FleetStatus.extend({
  outcome: FleetOutcome,
  /** Why the fleet halted or was aborted. */
  haltReason: z.string().optional(),
  /** Alerts sent, per channel. */
  alerts: z.array(z.object({ channel: z.string(), event: z.string(), ok: z.boolean(), error: z.string().optional() })),
  /** What each `notify` channel answered to this run's end-of-run alert (absent when no alert was due). */
  notifications: Notifications,
  startedAt: z.string(),
  finishedAt: z.string(),
  durationsMs: z.object({ total: z.number() }),
});
/** The JSON report of a fleet rollout. */
export type FleetReport = z.infer<typeof FleetReport>;

// --- activities -------------------------------------------------------------------------------------------------
// The fleet activities' schemas live here (not in schemas/activities.ts) so the fleet stays one module.

/** Result of `listClusters`: every configured cluster with its labels, in configuration order. */
export const ListClustersResult = z.object({
  clusters: z.array(z.object({ name: z.string(), labels: z.record(z.string(), z.string()) })),
});
/** Result of `listClusters`. */
export type ListClustersResult = z.infer<typeof ListClustersResult>;

/** Input of `probeCluster`. */
export const ProbeClusterInput = z.strictObject({ cluster: z.string().min(1) });
/** Input of `probeCluster`. */
export type ProbeClusterInput = z.infer<typeof ProbeClusterInput>;
/** Result of `probeCluster`: reachable (with the server version), or not with the reason. */
export const ProbeClusterResult = z.object({
  cluster: z.string(),
  reachable: z.boolean(),
  version: z.string().optional(),
  reason: z.string().optional(),
});
/** Result of `probeCluster`. */
export type ProbeClusterResult = z.infer<typeof ProbeClusterResult>;

/** One object to snapshot. */
const SnapshotRef = z.object({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  subject: z.string().min(1),
});

/** Input of `snapshotObjects`: the objects a fleet is about to apply to one cluster. */
export const SnapshotObjectsInput = z.strictObject({ cluster: z.string().min(1), objects: z.array(SnapshotRef) });
/** Input of `snapshotObjects`. */
export type SnapshotObjectsInput = z.infer<typeof SnapshotObjectsInput>;

/**
 * Result of `snapshotObjects`: which of the objects exist, and their live state (server fields stripped) packed as
 * a deploy's `compressed` input (gzip + base64 of `[{ name, text }]`), so a rollback re-applies it as a deploy.
 */
export const ObjectsSnapshot = z.object({
  cluster: z.string(),
  /** Subjects that existed before the fleet's deploy (restored by a rollback). */
  present: z.array(z.string()),
  /** Subjects that did not exist (deleted by a rollback). */
  absent: z.array(z.string()),
  /** The present objects, as `DeployManifestsInput.compressed`; absent when none existed. */
  compressed: z.string().optional(),
  takenAt: z.string(),
});
/** Result of `snapshotObjects`. */
export type ObjectsSnapshot = z.infer<typeof ObjectsSnapshot>;
