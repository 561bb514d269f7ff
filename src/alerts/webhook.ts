/**
 * Generic webhook channel signed with Standard Webhooks (standardwebhooks.com): a JSON POST whose
 * `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the configured `whsec_` secret,
 * computed by the `standardwebhooks` package.
 *
 * The `webhook-id` is derived from the event's dedup key and action, so every retry of the same event carries
 * the same id and a receiver can drop duplicates. The `webhook-timestamp` is the time of each attempt
 * (receivers reject old timestamps), so the signature differs between attempts while the body and id do not.
 * @module
 */
import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { DEFAULT_ALERT_TIMEOUT_MS, DEFAULT_MIN_SEVERITY, type WebhookChannelConfig } from './config.js';
import { checkEvent, hostOf, postJson, resolveDeps, type ChannelDeps, type ChannelIdentity } from './http.js';
import type { AlertChannel, AlertEvent, AlertSeverity, DeliveryResult, SendOptions } from './types.js';

/** The body the webhook posts: Standard Webhooks' recommended `{type, timestamp, data}` envelope. */
export interface WebhookPayload {
  /** `alert.triggered` or `alert.resolved`. */
  type: 'alert.triggered' | 'alert.resolved';
  /** When the change happened (ISO 8601): `startsAt` for a trigger, `endsAt` (or the sending time) for a resolve. */
  timestamp: string;
  /** The event as the workflow produced it. */
  data: AlertEvent;
}

/** The three headers Standard Webhooks defines. */
export interface WebhookSignatureHeaders {
  'webhook-id': string;
  /** Unix seconds. */
  'webhook-timestamp': string;
  /** `v1,<base64>`. */
  'webhook-signature': string;
}

/** The stable `webhook-id` of an event: `msg_` and 32 hex characters of SHA-256 over its action and dedup key. */
export function webhookMessageId(event: Pick<AlertEvent, 'action' | 'dedupKey'>): string {
  return `msg_${createHash('sha256').update(`${event.action}\n${event.dedupKey}`).digest('hex').slice(0, 32)}`;
}

/** Builds the body of an event; `nowMs` dates a resolve that has no `endsAt`. */
export function buildWebhookPayload(event: AlertEvent, nowMs: number): WebhookPayload {
  return {
    type: event.action === 'trigger' ? 'alert.triggered' : 'alert.resolved',
    timestamp: event.action === 'trigger' ? event.startsAt : (event.endsAt ?? new Date(nowMs).toISOString()),
    data: event,
  };
}

/** Signs a serialized body with the `standardwebhooks` package and returns the headers to send. */
export function signWebhook(signer: Webhook, messageId: string, nowMs: number, body: string): WebhookSignatureHeaders {
  const at = new Date(Math.floor(nowMs / 1000) * 1000);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(at.getTime() / 1000),
    'webhook-signature': signer.sign(messageId, at, body),
  };
}

/** Delivers alerts to any HTTP endpoint that verifies Standard Webhooks signatures. */
export class WebhookChannel implements AlertChannel {
  readonly type = 'webhook';
  readonly minSeverity: AlertSeverity;
  private readonly signer: Webhook;
  private readonly who: ChannelIdentity;
  private readonly deps: Required<ChannelDeps>;

  constructor(
    readonly name: string,
    private readonly config: WebhookChannelConfig,
    deps: ChannelDeps = {},
  ) {
    this.minSeverity = config.minSeverity ?? DEFAULT_MIN_SEVERITY;
    this.signer = new Webhook(config.secret);
    this.who = { name, type: this.type, host: hostOf(config.url) };
    this.deps = resolveDeps(deps);
  }

  /** POSTs the signed event once. */
  async send(event: AlertEvent, options: SendOptions = {}): Promise<DeliveryResult> {
    checkEvent(event, this.who);
    const now = this.deps.now();
    const body = JSON.stringify(buildWebhookPayload(event, now));
    const url = new URL(this.config.url);
    const status = await postJson(
      this.who,
      {
        url: this.config.url,
        body,
        headers: { ...this.config.headers, ...signWebhook(this.signer, webhookMessageId(event), now, body) },
        timeoutMs: this.config.timeoutMs ?? DEFAULT_ALERT_TIMEOUT_MS,
        // The URL may carry a token in its path or query; configured headers are often API keys.
        secrets: [
          this.config.secret,
          this.config.secret.slice('whsec_'.length),
          this.config.url,
          `${url.pathname}${url.search}`.length > 1 ? `${url.pathname}${url.search}` : '',
          ...Object.values(this.config.headers ?? {}),
        ],
        signal: options.signal,
      },
      this.deps,
    );
    return { channel: this.name, status };
  }
}
