/**
 * Slack incoming-webhook channel: one Block Kit message per event, readable on a phone: a header with a status
 * emoji and the summary, the source and severity as fields, the event's details, a context line with the dedup
 * key, and a button to the event's `url`. A resolve is a new message that says "Resolved" (incoming webhooks
 * cannot edit earlier messages).
 *
 * The webhook URL is the credential: it never appears in an error, only its host does. Slack allows about one
 * message per second per webhook and answers 429 with `Retry-After` beyond that; the caller's retry honours it.
 * @module
 */
import { DEFAULT_ALERT_TIMEOUT_MS, DEFAULT_MIN_SEVERITY, type SlackChannelConfig } from './config.js';
import { checkEvent, hostOf, postJson, resolveDeps, type ChannelDeps, type ChannelIdentity } from './http.js';
import type { AlertChannel, AlertEvent, AlertSeverity, DeliveryResult, SendOptions } from './types.js';

/** Block Kit limits (api.slack.com/reference/block-kit/blocks) the builder truncates to. */
export const SLACK_LIMITS = {
  /** Characters of a header block's text. */
  headerText: 150,
  /** Fields of one section block. */
  sectionFields: 10,
  /** Characters of one section field. */
  fieldText: 2000,
  /** Characters of a context element. */
  contextText: 3000,
  /** Characters of a button's label. */
  buttonText: 75,
  /** Characters of a button's URL. */
  buttonUrl: 3000,
} as const;

/** The emoji that opens a message: the severity's colour while firing, a check mark once resolved. */
export const SLACK_STATUS_EMOJI: Record<AlertSeverity | 'resolved', string> = {
  critical: '🔴',
  error: '🟠',
  warning: '🟡',
  info: '🔵',
  resolved: '✅',
};

/** A Block Kit text object. */
export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

/** The Block Kit blocks the channel uses. */
export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | {
      type: 'actions';
      elements: { type: 'button'; text: SlackText; url: string; style?: 'primary' | 'danger'; action_id: string }[];
    };

/** The JSON body posted to the incoming webhook. */
export interface SlackMessage {
  /** Plain-text fallback, shown in notifications. */
  text: string;
  blocks: SlackBlock[];
}

/** Builds the message for an event; `nowMs` dates a resolve that has no `endsAt`. */
export function buildSlackMessage(event: AlertEvent, nowMs: number): SlackMessage {
  const resolved = event.action === 'resolve';
  const emoji = SLACK_STATUS_EMOJI[resolved ? 'resolved' : event.severity];
  const title = resolved ? `Resolved: ${event.summary}` : event.summary;
  const facts: SlackText[] = [
    mrkdwn(`*Source*\n${escapeMrkdwn(event.source)}`),
    mrkdwn(`*Severity*\n${event.severity}`),
    mrkdwn(`*Status*\n${resolved ? 'Resolved' : 'Firing'}`),
    mrkdwn(`*Started*\n${slackDate(event.startsAt)}`),
  ];
  if (resolved) facts.push(mrkdwn(`*Ended*\n${slackDate(event.endsAt ?? new Date(nowMs).toISOString())}`));

  const blocks: SlackBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(`${emoji} ${title}`, SLACK_LIMITS.headerText), emoji: true },
    },
    { type: 'section', fields: facts },
  ];
  const details = Object.entries(event.details ?? {});
  if (details.length > 0) {
    blocks.push({
      type: 'section',
      fields: details
        .slice(0, SLACK_LIMITS.sectionFields)
        .map(([k, v]) => mrkdwn(truncate(`*${escapeMrkdwn(k)}*\n${escapeMrkdwn(v)}`, SLACK_LIMITS.fieldText))),
    });
  }
  const labels = Object.entries(event.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const context = [`Dedup key: \`${escapeMrkdwn(event.dedupKey).replaceAll('`', "'")}\``];
  if (labels.length > 0) context.push(`Labels: ${escapeMrkdwn(labels.join(', '))}`);
  blocks.push({ type: 'context', elements: [mrkdwn(truncate(context.join('  ·  '), SLACK_LIMITS.contextText))] });
  if (event.url && event.url.length <= SLACK_LIMITS.buttonUrl) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'View details', emoji: false },
          url: event.url,
          action_id: 'open-alert-url',
          ...(resolved ? {} : { style: 'danger' as const }),
        },
      ],
    });
  }
  const fallback = `${emoji} ${resolved ? 'RESOLVED' : `FIRING ${event.severity}`}: ${event.summary} (${event.source})`;
  return { text: fallback, blocks };
}

/** Posts alerts to a Slack channel through an incoming webhook. */
export class SlackChannel implements AlertChannel {
  readonly type = 'slack';
  readonly minSeverity: AlertSeverity;
  private readonly who: ChannelIdentity;
  private readonly deps: Required<ChannelDeps>;
  private readonly secrets: string[];

  constructor(
    readonly name: string,
    private readonly config: SlackChannelConfig,
    deps: ChannelDeps = {},
  ) {
    this.minSeverity = config.minSeverity ?? DEFAULT_MIN_SEVERITY;
    this.who = { name, type: this.type, host: hostOf(config.webhookUrl) };
    this.deps = resolveDeps(deps);
    // /services/T…/B…/<token>: the whole path is the credential, and so is each of its ids.
    const path = new URL(config.webhookUrl).pathname;
    this.secrets = [
      config.webhookUrl,
      path,
      ...path.split('/').filter((segment) => segment.length >= 8 && segment !== 'services'),
    ];
  }

  /** Posts one message. */
  async send(event: AlertEvent, options: SendOptions = {}): Promise<DeliveryResult> {
    checkEvent(event, this.who);
    const status = await postJson(
      this.who,
      {
        url: this.config.webhookUrl,
        body: JSON.stringify(buildSlackMessage(event, this.deps.now())),
        timeoutMs: this.config.timeoutMs ?? DEFAULT_ALERT_TIMEOUT_MS,
        secrets: this.secrets,
        signal: options.signal,
      },
      this.deps,
    );
    return { channel: this.name, status };
  }
}

function mrkdwn(text: string): SlackText {
  return { type: 'mrkdwn', text };
}

/** Slack's three control characters in mrkdwn (`&`, `<`, `>`); anything else is shown as typed. */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A date Slack renders in the reader's time zone, with the ISO text as fallback. */
function slackDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time_secs}|${escapeMrkdwn(iso)}>`;
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never cut an emoji (a surrogate pair) in half.
  return `${text.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '')}…`;
}
