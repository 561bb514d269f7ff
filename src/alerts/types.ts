/**
 * The contract every alert channel honours. A channel turns one {@link AlertEvent} into ONE HTTP request and
 * either resolves with a {@link DeliveryResult} or throws an {@link AlertDeliveryError} that says whether a retry
 * can help and how long the receiver asked us to wait. Channels never retry themselves: the Temporal activity that
 * calls them does, so a `Retry-After` reaches the retry policy (`ApplicationFailure` `nextRetryDelay`) instead of
 * being slept away inside one attempt.
 *
 * Error messages are safe to store in workflow history: they name the channel and the receiver's host, never a
 * full URL, a routing key, a signing secret or a response header, and quote at most
 * {@link MAX_ERROR_BODY_CHARS} characters of the response body (with the channel's secrets blanked out).
 * @module
 */
import { AlertSeverity as AlertSeveritySchema, MAX_DEDUP_KEY_LENGTH, type AlertEvent } from '../schemas/alerts.js';

/**
 * How bad an alert is, by name (`AlertSeverity.critical`, …): the values of the one definition, the
 * `AlertSeverity` schema of `schemas/alerts`.
 */
export const AlertSeverity = AlertSeveritySchema.enum;
/** One of {@link AlertSeverity}. */
export type AlertSeverity = AlertSeveritySchema;

/** Every severity, worst first. */
export const ALERT_SEVERITIES: readonly AlertSeverity[] = AlertSeveritySchema.options;

const SEVERITY_RANK: Record<AlertSeverity, number> = { critical: 3, error: 2, warning: 1, info: 0 };

/** True when `severity` is `min` or worse (`severityAtLeast('error', 'warning')` is true). */
export function severityAtLeast(severity: AlertSeverity, min: AlertSeverity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[min];
}

/** The kinds of channel this module implements. */
export const AlertChannelType = {
  webhook: 'webhook',
  slack: 'slack',
  alertmanager: 'alertmanager',
  pagerduty: 'pagerduty',
} as const;
/** One of {@link AlertChannelType}. */
export type AlertChannelType = (typeof AlertChannelType)[keyof typeof AlertChannelType];

export { MAX_DEDUP_KEY_LENGTH };
/** One alert state change (the `AlertEvent` schema of `schemas/alerts`, the one definition). */
export type { AlertEvent };

/** What a successful send reports. */
export interface DeliveryResult {
  /** The channel's configured name. */
  channel: string;
  /** The receiver's HTTP status (2xx). */
  status: number;
  /** Attempt number, set by callers that retry (the activity); a channel makes exactly one attempt per call. */
  attempts?: number;
}

/** Per-call options of {@link AlertChannel.send}. */
export interface SendOptions {
  /** Aborts the request (activity cancellation). An abort rejects with the signal's reason, not a delivery error. */
  signal?: AbortSignal;
}

/** A configured destination for alerts. */
export interface AlertChannel {
  /** The name the configuration gives it (`alerts.<name>`). */
  readonly name: string;
  readonly type: AlertChannelType;
  /** Only events at or above this severity are routed here ({@link AlertSeverity.info}: everything). */
  readonly minSeverity: AlertSeverity;
  /**
   * Delivers one event with exactly ONE HTTP request. Resolves on a 2xx answer; otherwise throws
   * {@link AlertDeliveryError}. Safe to call again with the same event: every channel deduplicates on
   * {@link AlertEvent.dedupKey} (or, for the generic webhook, on the `webhook-id` derived from it).
   */
  send(event: AlertEvent, options?: SendOptions): Promise<DeliveryResult>;
}

/** Most characters of a response body an {@link AlertDeliveryError} message quotes. */
export const MAX_ERROR_BODY_CHARS = 200;

/**
 * A failed delivery, classified once. `retryable` is true for 429, 5xx and network errors (including our own
 * timeout); false for every other answer and for events rejected before sending (too large, malformed).
 */
export class AlertDeliveryError extends Error {
  override readonly name = 'AlertDeliveryError';
  /** The channel's configured name. */
  readonly channel: string;
  /** HTTP status; 0 when no answer was received (network error, timeout, rejected before sending). */
  readonly status: number;
  /** Whether sending the same event again can succeed. */
  readonly retryable: boolean;
  /** Seconds the receiver asked us to wait (`Retry-After`, as seconds or an HTTP-date). */
  readonly retryAfterSeconds: number | undefined;
  /**
   * Short machine-readable cause: the HTTP reason (`TooManyRequests`, `BadRequest`, …), the network error code
   * (`ECONNREFUSED`, `ETIMEDOUT`, …), `PayloadTooLarge` or `InvalidEvent`.
   */
  readonly reason: string;

  constructor(init: {
    channel: string;
    status: number;
    retryable: boolean;
    reason: string;
    /** Must already be free of secrets. */
    message: string;
    retryAfterSeconds?: number | undefined;
  }) {
    super(init.message);
    this.channel = init.channel;
    this.status = init.status;
    this.retryable = init.retryable;
    this.reason = init.reason;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

/** Type guard for {@link AlertDeliveryError}. */
export function isAlertDeliveryError(err: unknown): err is AlertDeliveryError {
  return err instanceof AlertDeliveryError;
}
