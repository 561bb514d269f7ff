/**
 * PagerDuty channel (Events API v2): `POST /v2/enqueue` with the routing key, `trigger` or `resolve`, and the
 * event's dedup key, so a re-sent trigger updates the same incident instead of opening a new one. PagerDuty
 * answers 202; 400 means the event is invalid (never retried); 429 and 5xx are retried by the caller.
 *
 * The routing key is a secret: it never appears in an error message. Events over PagerDuty's 512 KB limit are
 * rejected before sending, as non-retryable.
 * @module
 */
import {
  DEFAULT_ALERT_TIMEOUT_MS,
  DEFAULT_MIN_SEVERITY,
  DEFAULT_PAGERDUTY_URL,
  type PagerDutyChannelConfig,
} from './config.js';
import {
  checkEvent,
  hostOf,
  postJson,
  rejectedBeforeSending,
  resolveDeps,
  type ChannelDeps,
  type ChannelIdentity,
} from './http.js';
import type { AlertChannel, AlertEvent, AlertSeverity, DeliveryResult, SendOptions } from './types.js';

/** Largest body PagerDuty accepts, in bytes. */
export const PAGERDUTY_MAX_BODY_BYTES = 512 * 1024;
/** Longest `payload.summary` PagerDuty accepts; longer summaries are cut. */
export const PAGERDUTY_MAX_SUMMARY_CHARS = 1024;
/** The `client` shown on the incident. */
export const PAGERDUTY_CLIENT = 'kube-workflows';

/** An Events API v2 event (developer.pagerduty.com/docs/events-api-v2/trigger-events). */
export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  /** Sent with triggers only: a resolve needs nothing but the routing and dedup keys. */
  payload?: {
    summary: string;
    source: string;
    severity: AlertSeverity;
    /** ISO 8601. */
    timestamp: string;
    custom_details?: Record<string, string>;
  };
  client?: string;
  client_url?: string;
  links?: { href: string; text: string }[];
}

/** Builds the body for an event. `custom_details` holds the labels, then the details (details win on a clash). */
export function buildPagerDutyEvent(event: AlertEvent, routingKey: string): PagerDutyEvent {
  const base = { routing_key: routingKey, event_action: event.action, dedup_key: event.dedupKey };
  if (event.action === 'resolve') return base;
  const customDetails = { ...event.labels, ...event.details };
  return {
    ...base,
    payload: {
      summary:
        event.summary.length > PAGERDUTY_MAX_SUMMARY_CHARS
          ? `${event.summary.slice(0, PAGERDUTY_MAX_SUMMARY_CHARS - 1)}…`
          : event.summary,
      source: event.source,
      severity: event.severity,
      timestamp: event.startsAt,
      ...(Object.keys(customDetails).length > 0 ? { custom_details: customDetails } : {}),
    },
    client: PAGERDUTY_CLIENT,
    ...(event.url ? { client_url: event.url, links: [{ href: event.url, text: 'Workflow' }] } : {}),
  };
}

/** Opens and resolves PagerDuty incidents. */
export class PagerDutyChannel implements AlertChannel {
  readonly type = 'pagerduty';
  readonly minSeverity: AlertSeverity;
  private readonly who: ChannelIdentity;
  private readonly deps: Required<ChannelDeps>;
  private readonly endpoint: string;

  constructor(
    readonly name: string,
    private readonly config: PagerDutyChannelConfig,
    deps: ChannelDeps = {},
  ) {
    const base = config.url ?? DEFAULT_PAGERDUTY_URL;
    this.minSeverity = config.minSeverity ?? DEFAULT_MIN_SEVERITY;
    this.who = { name, type: this.type, host: hostOf(base) };
    this.deps = resolveDeps(deps);
    this.endpoint = new URL('v2/enqueue', base.endsWith('/') ? base : `${base}/`).toString();
  }

  /** Enqueues the event once. */
  async send(event: AlertEvent, options: SendOptions = {}): Promise<DeliveryResult> {
    checkEvent(event, this.who);
    const body = JSON.stringify(buildPagerDutyEvent(event, this.config.routingKey));
    const bytes = Buffer.byteLength(body);
    if (bytes > PAGERDUTY_MAX_BODY_BYTES) {
      throw rejectedBeforeSending(
        this.who,
        'PayloadTooLarge',
        `the event is ${bytes} bytes, over PagerDuty's ${PAGERDUTY_MAX_BODY_BYTES}-byte limit: send fewer or shorter details`,
      );
    }
    const status = await postJson(
      this.who,
      {
        url: this.endpoint,
        body,
        timeoutMs: this.config.timeoutMs ?? DEFAULT_ALERT_TIMEOUT_MS,
        secrets: [this.config.routingKey],
        signal: options.signal,
      },
      this.deps,
    );
    return { channel: this.name, status };
  }
}
