/**
 * Alert channels against receivers that check the documented request contract (PROTOCOLS.md "Alert channels"):
 * local HTTP receivers playing Slack and PagerDuty, a generic webhook receiver that verifies signatures with the
 * independent `standardwebhooks` verifier, and a real Alertmanager (Debian `prometheus-alertmanager`).
 * Retries are the caller's job: these tests send again themselves, as the Temporal activity would.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlertDeliveryError,
  createAlertChannel,
  webhookMessageId,
  type AlertChannel,
  type AlertEvent,
} from '../../src/alerts/index.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { json, startReceiver, type ReceivedRequest, type Reply, type TestReceiver } from '../support/http-receiver.js';

/** A fresh event per test, with a dedup key no other test uses. */
function incident(overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    action: 'trigger',
    dedupKey: `it-${randomBytes(6).toString('hex')}/Deployment/shop/cart/1`,
    summary: 'Deployment/shop/cart is not healthy: 0/3 replicas available',
    source: 'Deployment/shop/cart',
    severity: 'critical',
    startsAt: new Date().toISOString(),
    labels: { cluster: 'local', namespace: 'shop' },
    details: { reason: 'ProgressDeadlineExceeded' },
    url: 'http://127.0.0.1:8233/namespaces/default/workflows/deploy-shop',
    ...overrides,
  };
}

/** What `promise` rejected with, or a failure if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}

const parse = (req: ReceivedRequest): Record<string, unknown> => JSON.parse(req.body) as Record<string, unknown>;

describe('Slack incoming webhook (local receiver playing Slack)', () => {
  const slackPath = '/services/T0LOCAL01/B0LOCAL02/localSlackToken0123456789';
  let slack: TestReceiver;
  let channel: AlertChannel;

  /** Slack's contract: a JSON POST with `text` or `blocks`; more than one message per second gets 429. */
  function playSlack(req: ReceivedRequest, index: number): Reply {
    if (req.method !== 'POST' || req.path !== slackPath) return { status: 404, body: 'no_service' };
    if (!req.headers['content-type']?.startsWith('application/json')) return { status: 400, body: 'invalid_payload' };
    const body = parse(req);
    if (!Array.isArray(body.blocks) && typeof body.text !== 'string') return { status: 400, body: 'no_text' };
    if (index === 0) return { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' };
    return { status: 200, body: 'ok' };
  }

  beforeAll(async () => {
    slack = await startReceiver(playSlack);
    channel = createAlertChannel('team-chat', { type: 'slack', webhookUrl: `${slack.url}${slackPath}` });
  });
  afterAll(() => slack.close());

  it('throws a retryable error asking for 1 s on 429, then delivers when sent again after that', async () => {
    const event = incident();
    const err = await rejectionOf(channel.send(event));
    expect(err).toBeInstanceOf(AlertDeliveryError);
    expect(err).toMatchObject({ channel: 'team-chat', status: 429, retryable: true, retryAfterSeconds: 1 });
    expect(String(err)).not.toContain(slackPath);
    expect(String(err)).not.toContain('localSlackToken0123456789');

    await sleep(1_000);
    await expect(channel.send(event)).resolves.toEqual({ channel: 'team-chat', status: 200 });

    expect(slack.requests).toHaveLength(2);
    const delivered = parse(slack.requests[1]!);
    expect(delivered.blocks).toEqual(
      expect.arrayContaining([
        { type: 'header', text: { type: 'plain_text', text: `🔴 ${event.summary}`, emoji: true } },
      ]),
    );
    expect(JSON.stringify(delivered.blocks)).toContain(event.dedupKey);
  });

  it('posts a resolve as a message that says resolved', async () => {
    const event = incident({ action: 'resolve', endsAt: new Date().toISOString() });
    await expect(channel.send(event)).resolves.toMatchObject({ status: 200 });
    const message = parse(slack.requests.at(-1)!);
    expect(message.text).toMatch(/RESOLVED/);
    expect(JSON.stringify(message.blocks)).toContain(`✅ Resolved: ${event.summary}`);
  });
});

describe('PagerDuty Events v2 (local receiver playing PagerDuty)', () => {
  const routingKey = 'PDLOCALKEY0123456789abcdefghijkl';
  let pagerduty: TestReceiver;

  /** The Events v2 contract: routing key, action, dedup key (<= 255) and, for a trigger, a complete payload. */
  function playPagerDuty(req: ReceivedRequest): Reply {
    if (req.method !== 'POST' || req.path !== '/v2/enqueue') return { status: 404, body: 'not found' };
    const invalid = (error: string): Reply =>
      json(400, { status: 'invalid event', message: 'Event object is invalid', errors: [error] });
    const body = parse(req);
    if (body.routing_key !== routingKey) return invalid('Invalid routing key');
    if (!['trigger', 'acknowledge', 'resolve'].includes(String(body.event_action))) return invalid('event_action');
    if (typeof body.dedup_key !== 'string' || body.dedup_key.length === 0 || body.dedup_key.length > 255) {
      return invalid('dedup_key');
    }
    if (body.event_action === 'trigger') {
      const payload = body.payload as Record<string, unknown> | undefined;
      if (typeof payload?.summary !== 'string' || payload.summary.length > 1024) return invalid('payload.summary');
      if (typeof payload.source !== 'string' || payload.source === '') return invalid('payload.source');
      if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity))) {
        return invalid('payload.severity');
      }
      if (
        payload.timestamp !== undefined &&
        (typeof payload.timestamp !== 'string' || Number.isNaN(Date.parse(payload.timestamp)))
      ) {
        return invalid('payload.timestamp');
      }
    }
    return json(202, { status: 'success', message: 'Event processed', dedup_key: body.dedup_key });
  }

  beforeAll(async () => {
    pagerduty = await startReceiver(playPagerDuty);
  });
  afterAll(() => pagerduty.close());

  it('gets 202 for a trigger and for its resolve, both carrying the same dedup key', async () => {
    const channel = createAlertChannel('oncall', { type: 'pagerduty', routingKey, url: pagerduty.url });
    const event = incident();
    await expect(channel.send(event)).resolves.toEqual({ channel: 'oncall', status: 202 });
    await expect(channel.send({ ...event, action: 'resolve' })).resolves.toEqual({ channel: 'oncall', status: 202 });

    const [triggered, resolved] = pagerduty.requests.slice(-2).map(parse);
    expect(triggered).toMatchObject({
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: event.dedupKey,
      payload: { summary: event.summary, source: event.source, severity: 'critical', timestamp: event.startsAt },
    });
    expect(resolved).toMatchObject({ routing_key: routingKey, event_action: 'resolve', dedup_key: event.dedupKey });
  });

  it('turns a 400 answer into a non-retryable error that does not reveal the routing key', async () => {
    const wrongKey = 'PDWRONGKEY0123456789abcdefghijkl';
    const channel = createAlertChannel('oncall', { type: 'pagerduty', routingKey: wrongKey, url: pagerduty.url });
    const err = await rejectionOf(channel.send(incident()));
    expect(err).toBeInstanceOf(AlertDeliveryError);
    expect(err).toMatchObject({ status: 400, retryable: false });
    expect((err as Error).message).toContain('Invalid routing key');
    expect(String(err)).not.toContain(wrongKey);
  });
});

describe('generic webhook verified by the independent standardwebhooks verifier', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let receiver: TestReceiver;
  const verified: unknown[] = [];

  /** A consumer as its documentation tells it to be: verify the raw body and headers, or answer 401. */
  function consume(req: ReceivedRequest): Reply {
    try {
      verified.push(new Webhook(secret).verify(req.body, req.headers as Record<string, string>));
      return { status: 204 };
    } catch (err) {
      if (err instanceof WebhookVerificationError) return { status: 401, body: err.message };
      throw err;
    }
  }

  beforeAll(async () => {
    receiver = await startReceiver(consume);
  });
  afterAll(() => receiver.close());

  it('is accepted by a receiver holding the same secret', async () => {
    const channel = createAlertChannel('audit', { type: 'webhook', url: `${receiver.url}/alerts`, secret });
    const event = incident();
    await expect(channel.send(event)).resolves.toEqual({ channel: 'audit', status: 204 });
    expect(verified.at(-1)).toEqual({ type: 'alert.triggered', timestamp: event.startsAt, data: event });
  });

  it('is rejected when the body is tampered with on the way', async () => {
    const channel = createAlertChannel('audit', { type: 'webhook', url: `${receiver.url}/alerts`, secret });
    await channel.send(incident({ severity: 'warning' }));
    const original = receiver.requests.at(-1)!;
    const tampered = original.body.replace('"severity":"warning"', '"severity":"info"');
    expect(tampered).not.toBe(original.body);

    const replay = await fetch(`${receiver.url}/alerts`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': String(original.headers['webhook-id']),
        'webhook-timestamp': String(original.headers['webhook-timestamp']),
        'webhook-signature': String(original.headers['webhook-signature']),
      },
      body: tampered,
    });
    expect(replay.status).toBe(401);
    expect(await replay.text()).toMatch(/signature/i);
  });

  it('is rejected, as non-retryable, by a receiver holding another secret', async () => {
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    const channel = createAlertChannel('audit', { type: 'webhook', url: `${receiver.url}/alerts`, secret: other });
    const err = await rejectionOf(channel.send(incident()));
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect(String(err)).not.toContain(other.slice('whsec_'.length));
  });

  it('carries the same webhook-id when the same event is sent twice', async () => {
    const channel = createAlertChannel('audit', { type: 'webhook', url: `${receiver.url}/alerts`, secret });
    const event = incident();
    await channel.send(event);
    await channel.send(event);
    const [first, second] = receiver.requests.slice(-2);
    expect(first?.headers['webhook-id']).toBe(webhookMessageId(event));
    expect(second?.headers['webhook-id']).toBe(first?.headers['webhook-id']);
    await channel.send({ ...event, action: 'resolve' });
    expect(receiver.requests.at(-1)?.headers['webhook-id']).not.toBe(first?.headers['webhook-id']);
  });
});

describe('Alertmanager v2 (real prometheus-alertmanager)', () => {
  let am: RunningAlertmanager;
  let channel: AlertChannel;

  /** The alerts Alertmanager currently lists (by default: active, silenced and inhibited ones, not resolved). */
  async function listed(dedupKey: string): Promise<{ labels: Record<string, string>; status: { state: string } }[]> {
    const filter = encodeURIComponent(`dedup_key="${dedupKey}"`);
    const res = await fetch(`${am.url}/api/v2/alerts?filter=${filter}`);
    expect(res.status).toBe(200);
    return (await res.json()) as { labels: Record<string, string>; status: { state: string } }[];
  }

  beforeAll(async () => {
    am = await startAlertmanager();
    process.stderr.write(`[alerts test] Alertmanager ${am.version} at ${am.url} (pid ${am.pid})\n`);
    channel = createAlertChannel('am', { type: 'alertmanager', url: am.url });
  });
  afterAll(() => am?.stop());

  it('lists exactly one active alert with our labels after a trigger, and none active after its resolve', async () => {
    const event = incident({ labels: { cluster: 'local', 'app.kubernetes.io/name': 'cart' } });
    await expect(channel.send(event)).resolves.toEqual({ channel: 'am', status: 200 });

    const firing = await listed(event.dedupKey);
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({
      labels: {
        alertname: 'KubeWorkflowsAlert',
        dedup_key: event.dedupKey,
        severity: 'critical',
        source: 'Deployment/shop/cart',
        cluster: 'local',
        app_kubernetes_io_name: 'cart',
      },
      annotations: { summary: event.summary, reason: 'ProgressDeadlineExceeded' },
      generatorURL: event.url,
      status: { state: 'active' },
    });
    const all = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as unknown[];
    expect(all).toHaveLength(1);

    await expect(channel.send({ ...event, action: 'resolve' })).resolves.toMatchObject({ status: 200 });
    const deadline = Date.now() + 15_000;
    let stillActive = firing.filter((a) => a.status.state === 'active');
    while (stillActive.length > 0 && Date.now() < deadline) {
      await sleep(200);
      stillActive = (await listed(event.dedupKey)).filter((a) => a.status.state === 'active');
    }
    expect(stillActive).toEqual([]);
  });

  it('keeps one alert when a firing alert is re-sent (same labels, same alert)', async () => {
    const event = incident();
    await channel.send(event);
    await channel.send({ ...event, summary: `${event.summary} (still)` });
    const firing = await listed(event.dedupKey);
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({ annotations: { summary: `${event.summary} (still)` } });
  });

  it('rejects an alert whose generatorURL is not a URL with 422, a non-retryable error quoting its reason', async () => {
    const err = await rejectionOf(channel.send(incident({ url: 'not a url' })));
    expect(err).toBeInstanceOf(AlertDeliveryError);
    expect(err).toMatchObject({ status: 422, retryable: false });
    expect((err as Error).message).toContain('generatorURL');
  });
});
