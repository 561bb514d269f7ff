import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import {
  AlertDeliveryError,
  DEFAULT_ALERTNAME,
  PAGERDUTY_MAX_BODY_BYTES,
  PAGERDUTY_MAX_SUMMARY_CHARS,
  SLACK_LIMITS,
  alertmanagerAlertsUrl,
  alertmanagerLabelName,
  buildAlertmanagerAlerts,
  buildPagerDutyEvent,
  buildSlackMessage,
  buildWebhookPayload,
  createAlertChannel,
  webhookMessageId,
  type AlertEvent,
  type AlertmanagerAlert,
  type ChannelDeps,
  type PagerDutyEvent,
  type SlackMessage,
  type WebhookPayload,
} from '../../src/alerts/index.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
const WORKFLOW_URL = 'http://127.0.0.1:8233/namespaces/default/workflows/deploy-shop-cart';

const trigger: AlertEvent = {
  action: 'trigger',
  dedupKey: 'deploy-shop-cart/Deployment/shop/cart/1',
  summary: 'Deployment/shop/cart is not healthy: CrashLoopBackOff',
  source: 'Deployment/shop/cart',
  severity: 'critical',
  startsAt: '2026-03-01T11:58:00.000Z',
  labels: { cluster: 'prod', 'app.kubernetes.io/name': 'cart' },
  details: { reason: 'CrashLoopBackOff', restarts: '7' },
  url: WORKFLOW_URL,
};
const resolve: AlertEvent = { ...trigger, action: 'resolve', endsAt: '2026-03-01T11:59:30.000Z' };

interface Captured {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

/** A fetch that records the request and answers `status`. */
function recordingFetch(status = 200): { deps: ChannelDeps; calls: Captured[] } {
  const calls: Captured[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    calls.push({
      url: input instanceof Request ? input.url : input.toString(),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : '',
    });
    return Promise.resolve(new Response(status === 204 ? null : 'ok', { status }));
  };
  return { deps: { fetch, now: () => NOW }, calls };
}

describe('generic webhook request', () => {
  it('is a JSON POST of the {type, timestamp, data} envelope to the configured URL', async () => {
    const { deps, calls } = recordingFetch(204);
    const channel = createAlertChannel(
      'hooks',
      { type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: SECRET, headers: { 'x-api-key': 'k' } },
      deps,
    );
    await expect(channel.send(trigger)).resolves.toEqual({ channel: 'hooks', status: 204 });
    const [call] = calls;
    expect(call?.method).toBe('POST');
    expect(call?.url).toBe('http://127.0.0.1:9/hook');
    expect(call?.headers.get('content-type')).toBe('application/json');
    expect(call?.headers.get('x-api-key')).toBe('k');
    expect(JSON.parse(call?.body ?? '')).toEqual({
      type: 'alert.triggered',
      timestamp: trigger.startsAt,
      data: trigger,
    } satisfies WebhookPayload);
  });

  it('carries Standard Webhooks headers that the standardwebhooks verifier accepts', async () => {
    const { deps, calls } = recordingFetch(204);
    const channel = createAlertChannel(
      'hooks',
      { type: 'webhook', url: 'http://127.0.0.1:9/', secret: SECRET },
      {
        ...deps,
        now: Date.now,
      },
    );
    await channel.send(trigger);
    const call = calls[0]!;
    expect(call.headers.get('webhook-id')).toBe(webhookMessageId(trigger));
    expect(call.headers.get('webhook-timestamp')).toMatch(/^\d+$/);
    expect(call.headers.get('webhook-signature')).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verified = new Webhook(SECRET).verify(call.body, Object.fromEntries(call.headers.entries()));
    expect(verified).toEqual(JSON.parse(call.body));
  });

  it('keeps the webhook-id of an event across sends and changes it with the action or the dedup key', () => {
    const reworded: AlertEvent = { ...trigger, summary: 'changed wording' };
    expect(webhookMessageId(trigger)).toBe(webhookMessageId(reworded));
    expect(webhookMessageId(trigger)).not.toBe(webhookMessageId(resolve));
    expect(webhookMessageId(trigger)).not.toBe(webhookMessageId({ ...trigger, dedupKey: 'other' }));
    expect(webhookMessageId(trigger)).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it('dates a resolve by its endsAt, or by the sending time when it has none', () => {
    expect(buildWebhookPayload(resolve, NOW)).toMatchObject({ type: 'alert.resolved', timestamp: resolve.endsAt });
    const { endsAt: _, ...open } = resolve;
    expect(buildWebhookPayload(open, NOW).timestamp).toBe(new Date(NOW).toISOString());
  });
});

describe('Slack message', () => {
  const blocksOf = (m: SlackMessage): string[] => m.blocks.map((b) => b.type);

  it('opens with a header of the severity emoji and the summary, then source and severity fields', () => {
    const message = buildSlackMessage(trigger, NOW);
    expect(blocksOf(message)).toEqual(['header', 'section', 'section', 'context', 'actions']);
    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: `🔴 ${trigger.summary}`, emoji: true },
    });
    const fields = message.blocks[1]?.type === 'section' ? (message.blocks[1].fields ?? []) : [];
    expect(fields.map((f) => f.text)).toEqual(
      expect.arrayContaining(['*Source*\nDeployment/shop/cart', '*Severity*\ncritical', '*Status*\nFiring']),
    );
    expect(message.text).toContain(trigger.summary);
  });

  it('shows the details, the dedup key in a context line and a button to the url', () => {
    const message = buildSlackMessage(trigger, NOW);
    expect(message.blocks[2]).toEqual({
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*reason*\nCrashLoopBackOff' },
        { type: 'mrkdwn', text: '*restarts*\n7' },
      ],
    });
    expect(message.blocks[3]).toMatchObject({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: expect.stringContaining(`Dedup key: \`${trigger.dedupKey}\``) }],
    });
    expect(message.blocks[4]).toMatchObject({
      type: 'actions',
      elements: [{ type: 'button', url: trigger.url, text: { type: 'plain_text', text: 'View details' } }],
    });
  });

  it('says resolved, with a check mark, when the incident is resolved', () => {
    const message = buildSlackMessage(resolve, NOW);
    expect(message.blocks[0]).toMatchObject({ text: { text: `✅ Resolved: ${trigger.summary}` } });
    expect(message.text).toMatch(/RESOLVED/);
    expect(JSON.stringify(message.blocks[1])).toContain('*Status*\\nResolved');
  });

  it('has no button without a url, and cuts a long summary to the header limit', () => {
    const { url: _, ...noUrl } = trigger;
    const message = buildSlackMessage({ ...noUrl, summary: 'x'.repeat(500) }, NOW);
    expect(blocksOf(message)).not.toContain('actions');
    const header = message.blocks[0]?.type === 'header' ? message.blocks[0].text.text : '';
    expect(header.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    expect(header.endsWith('…')).toBe(true);
  });

  it('escapes the characters Slack treats as markup', () => {
    const message = buildSlackMessage({ ...trigger, source: 'a<b>&c', details: {} }, NOW);
    expect(JSON.stringify(message.blocks[1])).toContain('a&lt;b&gt;&amp;c');
  });

  it('is posted as JSON to the webhook URL', async () => {
    const { deps, calls } = recordingFetch(200);
    const channel = createAlertChannel(
      'ops',
      { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX' },
      deps,
    );
    await expect(channel.send(trigger)).resolves.toEqual({ channel: 'ops', status: 200 });
    expect(calls[0]?.url).toBe('https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX');
    expect(calls[0]?.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(calls[0]?.body ?? '')).toEqual(buildSlackMessage(trigger, NOW));
  });
});

describe('Alertmanager alert', () => {
  it('is an array of one alert with identity labels, the summary and details as annotations', () => {
    expect(buildAlertmanagerAlerts(trigger, { nowMs: NOW })).toEqual([
      {
        labels: {
          alertname: DEFAULT_ALERTNAME,
          dedup_key: trigger.dedupKey,
          severity: 'critical',
          source: 'Deployment/shop/cart',
          cluster: 'prod',
          app_kubernetes_io_name: 'cart',
        },
        annotations: { summary: trigger.summary, reason: 'CrashLoopBackOff', restarts: '7' },
        startsAt: trigger.startsAt,
        generatorURL: WORKFLOW_URL,
      },
    ] satisfies AlertmanagerAlert[]);
  });

  it('resolves with the same labels and an endsAt in the past', () => {
    const [fired] = buildAlertmanagerAlerts(trigger, { nowMs: NOW });
    const [resolved] = buildAlertmanagerAlerts(resolve, { nowMs: NOW });
    expect(resolved?.labels).toEqual(fired?.labels);
    expect(resolved?.endsAt).toBe(resolve.endsAt);
    const { endsAt: _, ...noEnd } = resolve;
    expect(buildAlertmanagerAlerts(noEnd, { nowMs: NOW })[0]?.endsAt).toBe(new Date(NOW).toISOString());
    const future = { ...resolve, endsAt: '2030-01-01T00:00:00.000Z' };
    expect(buildAlertmanagerAlerts(future, { nowMs: NOW })[0]?.endsAt).toBe(new Date(NOW).toISOString());
  });

  it('never lets event labels replace dedup_key, severity or source, but lets them name the alert', () => {
    const labels = { alertname: 'RolloutStuck', dedup_key: 'x', severity: 'info', source: 'y' };
    expect(buildAlertmanagerAlerts({ ...trigger, labels }, { nowMs: NOW })[0]?.labels).toEqual({
      alertname: 'RolloutStuck',
      dedup_key: trigger.dedupKey,
      severity: 'critical',
      source: trigger.source,
    });
  });

  it('turns keys into valid label names and uses the configured generatorURL when the event has no url', () => {
    expect(alertmanagerLabelName('app.kubernetes.io/name')).toBe('app_kubernetes_io_name');
    expect(alertmanagerLabelName('9lives')).toBe('_9lives');
    const { url: _, ...noUrl } = trigger;
    expect(buildAlertmanagerAlerts(noUrl, { nowMs: NOW, generatorURL: 'http://ui/' })[0]?.generatorURL).toBe(
      'http://ui/',
    );
  });

  it('is posted to /api/v2/alerts under the base URL, keeping a path prefix', async () => {
    expect(alertmanagerAlertsUrl('http://127.0.0.1:9093')).toBe('http://127.0.0.1:9093/api/v2/alerts');
    expect(alertmanagerAlertsUrl('http://am.local/alertmanager/')).toBe('http://am.local/alertmanager/api/v2/alerts');
    const { deps, calls } = recordingFetch(200);
    await createAlertChannel('am', { type: 'alertmanager', url: 'http://127.0.0.1:9093' }, deps).send(trigger);
    expect(calls[0]?.method).toBe('POST');
    expect(calls[0]?.url).toBe('http://127.0.0.1:9093/api/v2/alerts');
    expect(JSON.parse(calls[0]?.body ?? '')).toEqual(buildAlertmanagerAlerts(trigger, { nowMs: NOW }));
  });
});

describe('PagerDuty event', () => {
  it('triggers with routing key, dedup key and a payload of summary, source, severity, timestamp and details', () => {
    expect(buildPagerDutyEvent(trigger, ROUTING_KEY)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: trigger.dedupKey,
      payload: {
        summary: trigger.summary,
        source: trigger.source,
        severity: 'critical',
        timestamp: trigger.startsAt,
        custom_details: {
          cluster: 'prod',
          'app.kubernetes.io/name': 'cart',
          reason: 'CrashLoopBackOff',
          restarts: '7',
        },
      },
      client: 'kube-workflows',
      client_url: WORKFLOW_URL,
      links: [{ href: WORKFLOW_URL, text: 'Workflow' }],
    } satisfies PagerDutyEvent);
  });

  it('resolves with only the routing key, the action and the same dedup key', () => {
    expect(buildPagerDutyEvent(resolve, ROUTING_KEY)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: trigger.dedupKey,
    });
  });

  it('cuts the summary to 1024 characters', () => {
    const summary = buildPagerDutyEvent({ ...trigger, summary: 's'.repeat(5000) }, ROUTING_KEY).payload?.summary;
    expect(summary).toHaveLength(PAGERDUTY_MAX_SUMMARY_CHARS);
  });

  it('is posted to /v2/enqueue of the default Events API', async () => {
    const { deps, calls } = recordingFetch(202);
    const channel = createAlertChannel('pd', { type: 'pagerduty', routingKey: ROUTING_KEY }, deps);
    await expect(channel.send(trigger)).resolves.toEqual({ channel: 'pd', status: 202 });
    expect(calls[0]?.url).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(JSON.parse(calls[0]?.body ?? '')).toEqual(buildPagerDutyEvent(trigger, ROUTING_KEY));
  });

  it('refuses an event over 512 KB before sending, as non-retryable', async () => {
    const { deps, calls } = recordingFetch(202);
    const channel = createAlertChannel('pd', { type: 'pagerduty', routingKey: ROUTING_KEY }, deps);
    const huge = { ...trigger, details: { log: 'x'.repeat(PAGERDUTY_MAX_BODY_BYTES) } };
    const err = await channel.send(huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlertDeliveryError);
    expect(err).toMatchObject({ retryable: false, status: 0, reason: 'PayloadTooLarge', channel: 'pd' });
    expect(calls).toHaveLength(0);
  });
});

describe('every channel', () => {
  it.each([
    ['an empty dedup key', { ...trigger, dedupKey: '' }],
    ['a dedup key over 255 characters', { ...trigger, dedupKey: 'k'.repeat(256) }],
    ['a startsAt that is not a time', { ...trigger, startsAt: 'yesterday' }],
  ])('rejects %s before sending, as non-retryable', async (_case, event) => {
    const { deps, calls } = recordingFetch(200);
    const channel = createAlertChannel('am', { type: 'alertmanager', url: 'http://127.0.0.1:9093' }, deps);
    await expect(channel.send(event)).rejects.toMatchObject({ retryable: false, reason: 'InvalidEvent' });
    expect(calls).toHaveLength(0);
  });
});
