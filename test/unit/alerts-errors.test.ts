import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  MAX_ERROR_BODY_CHARS,
  createAlertChannel,
  isAlertDeliveryError,
  type AlertChannel,
  type AlertChannelConfig,
  type AlertDeliveryError,
  type AlertEvent,
} from '../../src/alerts/index.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const SLACK_PATH = '/services/T0SECRET1/B0SECRET2/xoxTokenTokenToken42';
const SLACK_URL = `https://hooks.slack.com${SLACK_PATH}`;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefSECRET';
const WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

const event: AlertEvent = {
  action: 'trigger',
  dedupKey: 'wf-1/Deployment/shop/cart/1',
  summary: 'cart is down',
  source: 'Deployment/shop/cart',
  severity: 'error',
  startsAt: '2026-03-01T11:59:00.000Z',
};

/** A channel whose fetch answers with what `answer` returns. */
function channelAnswering(config: AlertChannelConfig, answer: () => Response | Promise<Response>): AlertChannel {
  return createAlertChannel('ops', config, { fetch: () => Promise.resolve(answer()), now: () => NOW });
}

const slack: AlertChannelConfig = { type: 'slack', webhookUrl: SLACK_URL };
const pagerduty: AlertChannelConfig = { type: 'pagerduty', routingKey: ROUTING_KEY };

/** What `send` rejected with. */
async function failureOf(channel: AlertChannel): Promise<AlertDeliveryError> {
  const err = await channel.send(event).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isAlertDeliveryError(err)) throw new Error(`expected an AlertDeliveryError, got ${String(err)}`);
  return err;
}

describe('delivery error classification', () => {
  it('makes 429 with Retry-After: 3 retryable after 3 seconds', async () => {
    const err = await failureOf(
      channelAnswering(slack, () => new Response('rate_limited', { status: 429, headers: { 'Retry-After': '3' } })),
    );
    expect(err).toMatchObject({ channel: 'ops', status: 429, retryable: true, retryAfterSeconds: 3 });
    expect(err.reason).toBe('TooManyRequests');
    expect(err.message).toContain('rate_limited');
  });

  it('reads Retry-After given as an HTTP-date as the seconds until then', async () => {
    const at = new Date(NOW + 120_000).toUTCString();
    const err = await failureOf(
      channelAnswering(pagerduty, () => new Response('', { status: 429, headers: { 'Retry-After': at } })),
    );
    expect(err).toMatchObject({ retryable: true, retryAfterSeconds: 120 });
  });

  it('makes 400 non-retryable', async () => {
    const err = await failureOf(channelAnswering(slack, () => new Response('invalid_payload', { status: 400 })));
    expect(err).toMatchObject({ status: 400, retryable: false, reason: 'BadRequest' });
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it.each([401, 403, 404, 410, 422])('makes %i non-retryable', async (status) => {
    const err = await failureOf(channelAnswering(pagerduty, () => new Response('no', { status })));
    expect(err).toMatchObject({ status, retryable: false });
  });

  it.each([500, 502, 503, 504])('makes %i retryable', async (status) => {
    const err = await failureOf(
      channelAnswering(pagerduty, () => new Response('down', { status, headers: { 'retry-after': '7' } })),
    );
    expect(err).toMatchObject({ status, retryable: true, retryAfterSeconds: 7 });
  });

  it('does not follow a redirect and does not retry it', async () => {
    const err = await failureOf(
      channelAnswering(slack, () => new Response(null, { status: 302, headers: { location: 'https://elsewhere/' } })),
    );
    expect(err).toMatchObject({ status: 302, retryable: false });
    expect(err.message).not.toContain('elsewhere');
  });

  it('makes a refused connection a retryable error with status 0 and the socket error code', async () => {
    const port = await closedPort();
    const channel = createAlertChannel('am', { type: 'alertmanager', url: `http://127.0.0.1:${port}` });
    const err = await failureOf(channel);
    expect(err).toMatchObject({ channel: 'am', status: 0, retryable: true, reason: 'ECONNREFUSED' });
  });

  it('makes our own timeout a retryable error with status 0', async () => {
    const channel = createAlertChannel(
      'slow',
      { type: 'alertmanager', url: 'http://127.0.0.1:9093', timeoutMs: 100 },
      { fetch: (_url, init) => never(init?.signal) },
    );
    const err = await failureOf(channel);
    expect(err).toMatchObject({ status: 0, retryable: true, reason: 'ETIMEDOUT' });
    expect(err.message).toContain('100 ms');
  });

  it('rejects with the caller’s abort reason, not a delivery error, when the caller aborts', async () => {
    const channel = createAlertChannel(
      'am',
      { type: 'alertmanager', url: 'http://127.0.0.1:9093' },
      { fetch: (_url, init) => never(init?.signal) },
    );
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    const sending = channel.send(event, { signal: controller.signal });
    controller.abort(reason);
    await expect(sending).rejects.toBe(reason);
  });

  it('quotes at most 200 characters of the response body', async () => {
    const err = await failureOf(channelAnswering(slack, () => new Response('e'.repeat(5000), { status: 400 })));
    expect(err.message.match(/e+/g)?.some((run) => run.length > MAX_ERROR_BODY_CHARS)).toBe(false);
    expect(err.message.length).toBeLessThan(400);
  });

  it('never quotes response headers', async () => {
    const err = await failureOf(
      channelAnswering(
        slack,
        () => new Response('no', { status: 403, headers: { 'x-slack-backend': 'h-cookie-123' } }),
      ),
    );
    expect(err.message).not.toMatch(/h-cookie-123|x-slack-backend/);
  });
});

describe('delivery errors never reveal secrets', () => {
  const assertHidden = (err: AlertDeliveryError, secrets: string[]): void => {
    for (const text of [err.message, String(err), err.stack ?? '']) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  };

  it('hides the Slack webhook path and token, even when the answer echoes them, and names the host', async () => {
    const err = await failureOf(
      channelAnswering(slack, () => new Response(`no_service: ${SLACK_URL} (${SLACK_PATH})`, { status: 404 })),
    );
    assertHidden(err, [SLACK_PATH, 'xoxTokenTokenToken42', 'T0SECRET1', 'B0SECRET2']);
    expect(err.message).toContain('hooks.slack.com');
    expect(err.message).toContain('[redacted]');
  });

  it('hides the PagerDuty routing key, even when the answer echoes it', async () => {
    const body = JSON.stringify({ status: 'invalid event', errors: [`unknown routing_key ${ROUTING_KEY}`] });
    const err = await failureOf(channelAnswering(pagerduty, () => new Response(body, { status: 400 })));
    assertHidden(err, [ROUTING_KEY]);
    expect(err.message).toContain('events.pagerduty.com');
  });

  it('hides the Slack URL in network errors', async () => {
    const channel = createAlertChannel('ops', slack, {
      fetch: () =>
        Promise.reject(
          new TypeError('fetch failed', {
            cause: Object.assign(new Error(`getaddrinfo ENOTFOUND while fetching ${SLACK_URL}`), { code: 'ENOTFOUND' }),
          }),
        ),
    });
    const err = await failureOf(channel);
    expect(err).toMatchObject({ status: 0, retryable: true, reason: 'ENOTFOUND' });
    assertHidden(err, [SLACK_PATH, 'xoxTokenTokenToken42']);
  });

  it('hides the webhook secret, the URL token and configured header values', async () => {
    const url = 'https://hooks.example/in?token=querytoken123';
    const channel = channelAnswering(
      { type: 'webhook', url, secret: WEBHOOK_SECRET, headers: { authorization: 'Bearer headertoken456' } },
      () => new Response(`bad ${WEBHOOK_SECRET} ${url} Bearer headertoken456`, { status: 400 }),
    );
    const err = await failureOf(channel);
    assertHidden(err, [WEBHOOK_SECRET.slice(6), 'querytoken123', 'headertoken456']);
  });
});

/** A fetch that never answers and rejects like fetch does when its signal aborts. */
function never(signal: AbortSignal | null | undefined): Promise<Response> {
  return new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason as Error));
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
