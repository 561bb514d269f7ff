/**
 * Alert channel adapters: a generic webhook signed with Standard Webhooks, Slack incoming webhooks,
 * Alertmanager v2 and PagerDuty Events v2, behind one {@link AlertChannel} interface. Each `send` makes one HTTP
 * attempt and throws a classified {@link AlertDeliveryError}; the Temporal activity that calls it retries, honouring
 * `retryAfterSeconds`. Build channels from the worker's `alerts` configuration with {@link createAlertChannels}
 * and pick the ones an event goes to with {@link routeBySeverity}.
 * @module
 */
import { z } from 'zod';
import { AlertmanagerChannel } from './alertmanager.js';
import { AlertChannelConfig, AlertChannelName, type AlertChannelsConfig } from './config.js';
import type { ChannelDeps } from './http.js';
import { PagerDutyChannel } from './pagerduty.js';
import { SlackChannel } from './slack.js';
import { severityAtLeast, type AlertChannel, type AlertSeverity } from './types.js';
import { WebhookChannel } from './webhook.js';

export {
  ALERT_SEVERITIES,
  AlertChannelType,
  AlertDeliveryError,
  AlertSeverity,
  MAX_DEDUP_KEY_LENGTH,
  MAX_ERROR_BODY_CHARS,
  isAlertDeliveryError,
  severityAtLeast,
} from './types.js';
export type { AlertChannel, AlertEvent, DeliveryResult, SendOptions } from './types.js';
export {
  AlertChannelConfig,
  AlertChannelName,
  AlertChannelsConfig,
  AlertmanagerChannelConfig,
  DEFAULT_ALERT_TIMEOUT_MS,
  MAX_ALERT_TIMEOUT_MS,
  DEFAULT_MIN_SEVERITY,
  DEFAULT_PAGERDUTY_URL,
  MIN_WEBHOOK_SECRET_BYTES,
  PagerDutyChannelConfig,
  SlackChannelConfig,
  WebhookChannelConfig,
} from './config.js';
export { ALERTS_USER_AGENT, isRetryableStatus, parseRetryAfter } from './http.js';
export type { ChannelDeps } from './http.js';
export { WebhookChannel, buildWebhookPayload, signWebhook, webhookMessageId } from './webhook.js';
export type { WebhookPayload, WebhookSignatureHeaders } from './webhook.js';
export { SLACK_LIMITS, SLACK_STATUS_EMOJI, SlackChannel, buildSlackMessage } from './slack.js';
export type { SlackBlock, SlackMessage, SlackText } from './slack.js';
export {
  AlertmanagerChannel,
  DEFAULT_ALERTNAME,
  alertmanagerAlertsUrl,
  alertmanagerLabelName,
  buildAlertmanagerAlerts,
} from './alertmanager.js';
export type { AlertmanagerAlert, AlertmanagerBuildOptions } from './alertmanager.js';
export {
  PAGERDUTY_CLIENT,
  PAGERDUTY_MAX_BODY_BYTES,
  PAGERDUTY_MAX_SUMMARY_CHARS,
  PagerDutyChannel,
  buildPagerDutyEvent,
} from './pagerduty.js';
export type { PagerDutyEvent } from './pagerduty.js';

/** An alert channel's configuration is invalid. The message names the channel and the field, never a value. */
export class AlertConfigError extends Error {
  override readonly name = 'AlertConfigError';
}

/**
 * Builds one channel, validating its configuration first (a hand-built configuration gets the same checks as
 * the configuration file). Throws {@link AlertConfigError}.
 */
export function createAlertChannel(name: string, config: AlertChannelConfig, deps: ChannelDeps = {}): AlertChannel {
  const validName = AlertChannelName.safeParse(name);
  if (!validName.success) {
    throw new AlertConfigError(`alert channel name "${name}": ${z.prettifyError(validName.error)}`);
  }
  const parsed = AlertChannelConfig.safeParse(config);
  if (!parsed.success) throw new AlertConfigError(`alert channel "${name}": ${z.prettifyError(parsed.error)}`);
  const valid = parsed.data;
  switch (valid.type) {
    case 'webhook':
      return new WebhookChannel(name, valid, deps);
    case 'slack':
      return new SlackChannel(name, valid, deps);
    case 'alertmanager':
      return new AlertmanagerChannel(name, valid, deps);
    case 'pagerduty':
      return new PagerDutyChannel(name, valid, deps);
  }
}

/** Builds every configured channel, keyed by name. Throws {@link AlertConfigError} for the first invalid one. */
export function createAlertChannels(config: AlertChannelsConfig, deps: ChannelDeps = {}): Map<string, AlertChannel> {
  const channels = new Map<string, AlertChannel>();
  for (const [name, channelConfig] of Object.entries(config)) {
    channels.set(name, createAlertChannel(name, channelConfig, deps));
  }
  return channels;
}

/** The channels an event of `severity` goes to: those whose `minSeverity` it reaches, in their given order. */
export function routeBySeverity(
  channels: Iterable<AlertChannel> | ReadonlyMap<string, AlertChannel>,
  severity: AlertSeverity,
): AlertChannel[] {
  const all = isChannelMap(channels) ? [...channels.values()] : [...channels];
  return all.filter((channel) => severityAtLeast(severity, channel.minSeverity));
}

function isChannelMap(
  channels: Iterable<AlertChannel> | ReadonlyMap<string, AlertChannel>,
): channels is ReadonlyMap<string, AlertChannel> {
  return channels instanceof Map;
}
