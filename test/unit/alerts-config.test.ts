import { describe, expect, it } from 'vitest';
import {
  AlertChannelsConfig,
  AlertConfigError,
  DEFAULT_ALERT_TIMEOUT_MS,
  createAlertChannel,
  createAlertChannels,
  routeBySeverity,
  severityAtLeast,
  type AlertChannelConfig,
  type AlertSeverity,
} from '../../src/alerts/index.js';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
const SLACK_URL = 'https://hooks.slack.com/services/T0SECRET1/B0SECRET2/tokentokentokentoken';

const config: AlertChannelsConfig = {
  pager: { type: 'pagerduty', routingKey: ROUTING_KEY, minSeverity: 'critical' },
  chat: { type: 'slack', webhookUrl: SLACK_URL, minSeverity: 'warning' },
  am: { type: 'alertmanager', url: 'http://127.0.0.1:9093' },
  hooks: { type: 'webhook', url: 'https://hooks.example/alerts', secret: SECRET, minSeverity: 'error' },
};

describe('severity routing', () => {
  it('orders severities critical > error > warning > info', () => {
    expect(severityAtLeast('critical', 'error')).toBe(true);
    expect(severityAtLeast('error', 'error')).toBe(true);
    expect(severityAtLeast('warning', 'error')).toBe(false);
    expect(severityAtLeast('info', 'info')).toBe(true);
  });

  it.each<[AlertSeverity, string[]]>([
    ['critical', ['pager', 'chat', 'am', 'hooks']],
    ['error', ['chat', 'am', 'hooks']],
    ['warning', ['chat', 'am']],
    ['info', ['am']],
  ])('sends a %s event only to channels whose minSeverity it reaches', (severity, names) => {
    const channels = createAlertChannels(config);
    expect(routeBySeverity(channels, severity).map((c) => c.name)).toEqual(names);
    expect(routeBySeverity([...channels.values()], severity).map((c) => c.name)).toEqual(names);
  });

  it('gives a channel without minSeverity every event', () => {
    expect(createAlertChannel('am', { type: 'alertmanager', url: 'http://127.0.0.1:9093' }).minSeverity).toBe('info');
  });
});

describe('alert channel configuration', () => {
  it('accepts one channel of each type and builds each with its name and type', () => {
    expect(AlertChannelsConfig.safeParse(config).success).toBe(true);
    const channels = createAlertChannels(config);
    expect([...channels].map(([name, c]) => [name, c.name, c.type])).toEqual([
      ['pager', 'pager', 'pagerduty'],
      ['chat', 'chat', 'slack'],
      ['am', 'am', 'alertmanager'],
      ['hooks', 'hooks', 'webhook'],
    ]);
  });

  it('exports the default timeout of one attempt', () => {
    expect(DEFAULT_ALERT_TIMEOUT_MS).toBe(10_000);
  });

  const bad: [string, unknown, string][] = [
    ['an unknown type', { type: 'email', to: 'a@b' }, 'type'],
    ['a webhook secret without the whsec_ prefix', { type: 'webhook', url: 'http://h/', secret: 'abc' }, 'secret'],
    ['a webhook secret under 24 bytes', { type: 'webhook', url: 'http://h/', secret: 'whsec_AAAA' }, '24 bytes'],
    [
      'a webhook header that would replace the signature',
      { type: 'webhook', url: 'http://h/', secret: SECRET, headers: { 'Webhook-Signature': 'x' } },
      'headers',
    ],
    ['a Slack URL over plain http', { type: 'slack', webhookUrl: 'http://hooks.slack.com/services/x' }, 'https'],
    ['a routing key that is not 32 characters', { type: 'pagerduty', routingKey: 'short' }, 'routingKey'],
    ['a misspelt key', { type: 'alertmanager', url: 'http://127.0.0.1:9093', minSeverty: 'info' }, 'minSeverty'],
    ['an unknown severity', { type: 'alertmanager', url: 'http://127.0.0.1:9093', minSeverity: 'page' }, 'minSeverity'],
    ['a timeout of zero', { type: 'alertmanager', url: 'http://127.0.0.1:9093', timeoutMs: 0 }, 'timeoutMs'],
    [
      'a timeout longer than the delivery activity may run',
      { type: 'alertmanager', url: 'http://127.0.0.1:9093', timeoutMs: 120_000 },
      'timeoutMs',
    ],
  ];
  it.each(bad)('rejects %s with an AlertConfigError naming the field', (_case, channelConfig, field) => {
    const err = (() => {
      try {
        createAlertChannel('broken', channelConfig as AlertChannelConfig);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AlertConfigError);
    expect((err as Error).message).toContain('alert channel "broken"');
    expect((err as Error).message).toContain(field);
  });

  it('accepts plain http for secret-bearing URLs on a loopback address (local receivers)', () => {
    expect(() =>
      createAlertChannel('chat', { type: 'slack', webhookUrl: 'http://127.0.0.1:8080/services/x' }),
    ).not.toThrow();
  });

  it('never quotes a rejected secret in the error', () => {
    const leaked = 'http://hooks.slack.com/services/T0SECRET1/B0SECRET2/tokentokentoken';
    expect(() => createAlertChannel('chat', { type: 'slack', webhookUrl: leaked })).toThrow(AlertConfigError);
    try {
      createAlertChannel('chat', { type: 'slack', webhookUrl: leaked });
    } catch (e) {
      expect(String(e)).not.toContain('tokentokentoken');
    }
  });

  it('rejects a channel name that is not lowercase letters, digits and dashes', () => {
    expect(() => createAlertChannel('Ops Slack', { type: 'slack', webhookUrl: SLACK_URL })).toThrow(AlertConfigError);
    expect(AlertChannelsConfig.safeParse({ 'Ops Slack': config.chat }).success).toBe(false);
  });
});
