/**
 * `notify`: the alert an operation sends when its run ends. One optional field of the `deployManifests`,
 * `scaleWorkload`, `rolloutFleet` and `maintainNode` / `drainNode` inputs, built here once per workflow from that
 * workflow's outcomes ({@link notifySpec}), so `notify.on` only accepts outcomes the workflow can have and errors
 * name the field (`notify.on[1]: Invalid option: expected one of …`).
 *
 * A run sends at most ONE alert per channel: at its end, when the outcome is one of `on` (default: every outcome
 * that is not a success, see {@link SUCCESS_OUTCOMES}). The alert carries the reason, what was done and undone, the
 * failing pods' last log lines and recent Events, and the run's link in the Temporal Web UI. Channels are named
 * here and configured (with their credentials) on the worker; a channel the worker does not have fails the run at
 * its start with `InvalidInput`, before any write. What each channel answered is in the report's `notifications`.
 * @module
 */
import { z } from 'zod';

/** Outcomes that are a success: not alerted unless `on` names them. */
export const SUCCESS_OUTCOMES: readonly string[] = ['succeeded', 'unchanged', 'planned'];

/** The outcome of a run that ended cancelled (it has no report): any workflow's `on` may name it. */
export const CANCELLED_OUTCOME = 'cancelled';

/** Most channels one `notify` may name. */
export const MAX_NOTIFY_CHANNELS = 10;

/** Log lines read per failing container, by default. */
export const DEFAULT_NOTIFY_LOG_LINES = 20;

/** Most log lines per failing container `logLines` may ask for (the alert must stay small). */
export const MAX_NOTIFY_LOG_LINES = 100;

/** A configured alert channel's name, as the worker's `alerts` section spells it. */
const ChannelName = z.string().regex(/^[a-z0-9][-a-z0-9]*$/, 'an alert channel name: lowercase letters, digits, "-"');

/**
 * The `notify` schema of a workflow whose report outcomes are `outcomes` (plus {@link CANCELLED_OUTCOME}).
 * Each workflow input calls it once; the shape is the same everywhere.
 */
export function notifySpec<const O extends readonly [string, ...string[]]>(outcomes: O) {
  return z.strictObject({
    /** Alert channels configured on the worker (`alerts.<name>`), each told at most once per run. */
    channels: z
      .array(ChannelName)
      .min(1, 'name at least one alert channel')
      .max(MAX_NOTIFY_CHANNELS, `at most ${MAX_NOTIFY_CHANNELS} channels`)
      .refine((names) => new Set(names).size === names.length, 'a channel is named twice'),
    /** Outcomes that send the alert (default: every outcome that is not a success). */
    on: z
      .array(z.enum([...outcomes, CANCELLED_OUTCOME]))
      .min(1, 'name at least one outcome, or leave on out')
      .optional(),
    /** Last log lines read per failing container (0: none). */
    logLines: z.number().int().min(0).max(MAX_NOTIFY_LOG_LINES).default(DEFAULT_NOTIFY_LOG_LINES),
  });
}

/** `notify` after defaults, whatever the workflow. */
export interface NotifyOptions {
  channels: string[];
  on?: string[] | undefined;
  logLines: number;
}

/** Whether a run that ended with `outcome` sends its alert under `notify`. */
export function notifiesOn(notify: Pick<NotifyOptions, 'on'>, outcome: string): boolean {
  return notify.on ? notify.on.includes(outcome) : !SUCCESS_OUTCOMES.includes(outcome);
}

/** What one channel answered to a run's alert: its report's `notifications`. */
export const NotificationResult = z.object({
  channel: z.string(),
  /** `sent` (2xx), `skipped` (below the channel's minSeverity) or `failed` (after retries; see `error`). */
  status: z.enum(['sent', 'skipped', 'failed']),
  /** The receiver's HTTP status, when it answered. */
  httpStatus: z.number().int().optional(),
  error: z.string().optional(),
  /** The alert's dedup key: the same for every retry of this run's alert. */
  dedupKey: z.string(),
});
/** What one channel answered to a run's alert. */
export type NotificationResult = z.infer<typeof NotificationResult>;

/** The report field listing what each channel answered (absent when no alert was due). */
export const Notifications = z.array(NotificationResult).optional();

// --- the activities of end-of-run alerts ---------------------------------------------------------------------------

/** Most objects one `gatherFailureContext` looks at. */
export const MAX_CONTEXT_OBJECTS = 20;

/** An object whose failure the alert explains: a workload (its pods are read), a Pod, a Node, or any other kind. */
export const FailingObjectRef = z.object({
  /** Default: `apps/v1` for Deployment / StatefulSet / DaemonSet / ReplicaSet, `batch/v1` for Job, `v1` otherwise. */
  apiVersion: z.string().min(1).optional(),
  kind: z.string().min(1),
  /** Absent for cluster-scoped kinds (Node). */
  namespace: z.string().min(1).optional(),
  name: z.string().min(1),
});
/** An object whose failure the alert explains. */
export type FailingObjectRef = z.infer<typeof FailingObjectRef>;

/** Input of `gatherFailureContext`. */
export const GatherFailureContextInput = z.strictObject({
  /** Configured cluster name ('' or absent: the worker's default). */
  cluster: z.string().optional(),
  objects: z.array(FailingObjectRef).max(MAX_CONTEXT_OBJECTS),
  /** Last log lines per failing container (0: read no logs). */
  logLines: z.number().int().min(0).max(MAX_NOTIFY_LOG_LINES).default(DEFAULT_NOTIFY_LOG_LINES),
});
/** Input of `gatherFailureContext` as workflows write it. */
export type GatherFailureContextInput = z.input<typeof GatherFailureContextInput>;

/** One container of a failing pod: its state, and its last log lines or why there are none. */
export const ContainerContext = z.object({
  name: z.string(),
  /** `waiting: CrashLoopBackOff`, `running, not ready`, `terminated: Error (exit 1)`. */
  state: z.string(),
  restarts: z.number().int(),
  /** The log lines (oldest first), from the previous instance when `previous`. */
  log: z.array(z.string()).optional(),
  previous: z.boolean().optional(),
  /** Why there is no log (`logs unavailable: …`). */
  logUnavailable: z.string().optional(),
});
/** One container of a failing pod. */
export type ContainerContext = z.infer<typeof ContainerContext>;

/** A pod that is not Ready (crash-looping, pending, failed), with what is wrong. */
export const PodContext = z.object({
  /** `Pod/ns/name`. */
  subject: z.string(),
  phase: z.string(),
  /** One line: `CrashLoopBackOff: container app restarted 3 times`, `Pending: Unschedulable: 0/3 nodes …`. */
  problem: z.string(),
  containers: z.array(ContainerContext),
});
/** A pod that is not Ready, with what is wrong. */
export type PodContext = z.infer<typeof PodContext>;

/** One Event about a failing object. */
export const EventContext = z.object({
  /** `Kind/ns/name` of the involved object. */
  subject: z.string(),
  type: z.string(),
  reason: z.string(),
  message: z.string(),
  count: z.number().int(),
  /** When it was last seen (ISO 8601). */
  lastSeen: z.string(),
});
/** One Event about a failing object. */
export type EventContext = z.infer<typeof EventContext>;

/** Result of `gatherFailureContext`: the evidence an alert carries, bounded in size. */
export const FailureContext = z.object({
  /** The run's page in the Temporal Web UI, when the worker knows the UI's address. */
  link: z.string().optional(),
  /** Failing pods, worst first (at most a few). */
  pods: z.array(PodContext),
  /** Recent Events of the objects and their failing pods, newest first (Warnings kept first when capped). */
  events: z.array(EventContext),
  /** What could not be read, and why (an object gone, a list refused). */
  notes: z.array(z.string()),
});
/** Result of `gatherFailureContext`. */
export type FailureContext = z.infer<typeof FailureContext>;

/** Input of `checkAlertChannels`. */
export const CheckAlertChannelsInput = z.strictObject({ channels: z.array(z.string()).min(1) });
/** Input of `checkAlertChannels`. */
export type CheckAlertChannelsInput = z.infer<typeof CheckAlertChannelsInput>;
