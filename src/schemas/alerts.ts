/**
 * The alert contract shared by the monitor workflow, its `deliverAlert` activity and every alert channel: how bad
 * an alert is, and the one event a channel turns into a request. Plain JSON, so an event travels through Temporal
 * history as an activity argument.
 * @module
 */
import { z } from 'zod';

/** How bad an alert is, from worst to mildest. The names are PagerDuty's; Slack and Alertmanager reuse them. */
export const AlertSeverity = z.enum(['critical', 'error', 'warning', 'info']);
/** One of {@link AlertSeverity}. */
export type AlertSeverity = z.infer<typeof AlertSeverity>;

/** Longest accepted {@link AlertEvent} `dedupKey` (PagerDuty's limit, the strictest receiver). */
export const MAX_DEDUP_KEY_LENGTH = 255;

/** An ISO 8601 time, as `Date.parse` reads it. */
const IsoTime = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'expected an ISO 8601 time');

/**
 * One alert state change.
 *
 * A `resolve` must repeat the `dedupKey`, `source`, `severity` and `labels` of the `trigger` it closes:
 * Alertmanager identifies an alert by its label set, which is built from them.
 */
export const AlertEvent = z.object({
  /** Open (or re-send) the incident, or close it. */
  action: z.enum(['trigger', 'resolve']),
  /**
   * Stable identity of the incident, at most {@link MAX_DEDUP_KEY_LENGTH} characters. Callers derive it from the
   * workflow id, the target and the incident number, so a retried activity never opens a second incident.
   */
  dedupKey: z.string().min(1).max(MAX_DEDUP_KEY_LENGTH),
  /** One line a person reads first. */
  summary: z.string(),
  /** What the alert is about, as `Kind/namespace/name` (for example `Deployment/shop/cart`). */
  source: z.string(),
  severity: AlertSeverity,
  /** When the problem started (ISO 8601). */
  startsAt: IsoTime,
  /** When it ended (ISO 8601); for `resolve`. Defaults to the time of sending. */
  endsAt: IsoTime.optional(),
  /** Identifying key/value pairs (Alertmanager labels; keep them the same between trigger and resolve). */
  labels: z.record(z.string(), z.string()).optional(),
  /** Descriptive key/value pairs (Alertmanager annotations, PagerDuty custom details, Slack fields). */
  details: z.record(z.string(), z.string()).optional(),
  /** A link for people, for example the workflow in the Temporal UI. */
  url: z.string().optional(),
});
/** One alert state change. */
export type AlertEvent = z.infer<typeof AlertEvent>;
