/**
 * Configuration of alert channels: the `alerts` key of the worker's configuration file, a map from channel name
 * to one channel's settings and credentials. Credentials stay in the worker; workflows name channels only.
 *
 * URLs that are bearer secrets (Slack webhook URLs, the PagerDuty endpoint that receives routing keys) must use
 * https, except on a loopback address (local test receivers).
 * @module
 */
import { z } from 'zod';
import { AlertSeverity } from '../schemas/alerts.js';

/** Default time one delivery attempt may take. */
export const DEFAULT_ALERT_TIMEOUT_MS = 10_000;

/**
 * Longest accepted per-channel `timeoutMs`: the delivery activity may run for one minute (start-to-close), so an
 * attempt that outlived it would be abandoned by Temporal while still in flight.
 */
export const MAX_ALERT_TIMEOUT_MS = 50_000;
/** Default PagerDuty Events API base URL. */
export const DEFAULT_PAGERDUTY_URL = 'https://events.pagerduty.com';
/** Default {@link AlertChannelConfig} `minSeverity`: every event. */
export const DEFAULT_MIN_SEVERITY: AlertSeverity = 'info';
/** Fewest bytes a Standard Webhooks secret must decode to (the specification's recommended minimum). */
export const MIN_WEBHOOK_SECRET_BYTES = 24;

/** Header names the generic webhook sets itself; configured headers may not replace them. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

/** An https URL, or http on a loopback address. */
const secretBearingUrl = httpUrl.refine((raw) => {
  const url = new URL(raw);
  return url.protocol === 'https:' || LOOPBACK_HOSTS.has(url.hostname);
}, 'must use https (plain http is accepted only on a loopback address): the URL or what is sent to it is a secret');

const channelCommon = {
  /** Only events at or above this severity reach the channel (default {@link DEFAULT_MIN_SEVERITY}). */
  minSeverity: AlertSeverity.optional(),
  /**
   * Timeout of one attempt in milliseconds (default {@link DEFAULT_ALERT_TIMEOUT_MS}); at most
   * {@link MAX_ALERT_TIMEOUT_MS}, which keeps one attempt inside the delivery activity's one-minute limit.
   */
  timeoutMs: z.int().min(100).max(MAX_ALERT_TIMEOUT_MS).optional(),
};

/** A generic webhook signed with Standard Webhooks. */
export const WebhookChannelConfig = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  /** `whsec_` followed by base64 of at least {@link MIN_WEBHOOK_SECRET_BYTES} random bytes. */
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'a Standard Webhooks secret: whsec_ followed by base64')
    .refine(
      (s) => Buffer.from(s.slice('whsec_'.length), 'base64').length >= MIN_WEBHOOK_SECRET_BYTES,
      `the secret must decode to at least ${MIN_WEBHOOK_SECRET_BYTES} bytes`,
    ),
  /** Extra headers (for example an API gateway key); the signature and content headers cannot be replaced. */
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name'), z.string())
    .refine(
      (h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())),
      `may not set ${[...RESERVED_HEADERS].join(', ')}`,
    )
    .optional(),
  ...channelCommon,
});
/** Settings of a generic webhook channel. */
export type WebhookChannelConfig = z.infer<typeof WebhookChannelConfig>;

/** A Slack incoming webhook. */
export const SlackChannelConfig = z.strictObject({
  type: z.literal('slack'),
  /** `https://hooks.slack.com/services/…`: the whole URL is the credential. */
  webhookUrl: secretBearingUrl,
  ...channelCommon,
});
/** Settings of a Slack channel. */
export type SlackChannelConfig = z.infer<typeof SlackChannelConfig>;

/** An Alertmanager (API v2). */
export const AlertmanagerChannelConfig = z.strictObject({
  type: z.literal('alertmanager'),
  /** Base URL, for example `http://127.0.0.1:9093` (a path prefix such as `/alertmanager` is kept). */
  url: httpUrl,
  /** `generatorURL` of alerts whose event has no `url` of its own (for example the Temporal UI). */
  generatorURL: httpUrl.optional(),
  ...channelCommon,
});
/** Settings of an Alertmanager channel. */
export type AlertmanagerChannelConfig = z.infer<typeof AlertmanagerChannelConfig>;

/** A PagerDuty service integration (Events API v2). */
export const PagerDutyChannelConfig = z.strictObject({
  type: z.literal('pagerduty'),
  /** The 32-character integration key. A secret. */
  routingKey: z.string().regex(/^\S{32}$/, 'the 32-character integration (routing) key'),
  /** Events API base URL (default {@link DEFAULT_PAGERDUTY_URL}). */
  url: secretBearingUrl.optional(),
  ...channelCommon,
});
/** Settings of a PagerDuty channel. */
export type PagerDutyChannelConfig = z.infer<typeof PagerDutyChannelConfig>;

/** One channel's settings, told apart by `type`. */
export const AlertChannelConfig = z.discriminatedUnion('type', [
  WebhookChannelConfig,
  SlackChannelConfig,
  AlertmanagerChannelConfig,
  PagerDutyChannelConfig,
]);
/** One channel's settings. */
export type AlertChannelConfig = z.infer<typeof AlertChannelConfig>;

/** Channel names: lowercase letters, digits and dashes, as cluster names. */
export const AlertChannelName = z.string().regex(/^[a-z0-9][-a-z0-9]*$/, 'lowercase letters, digits and dashes');

/** The `alerts` section: channel name → settings. */
export const AlertChannelsConfig = z.record(AlertChannelName, AlertChannelConfig);
/** The `alerts` section. */
export type AlertChannelsConfig = z.infer<typeof AlertChannelsConfig>;
