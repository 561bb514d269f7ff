/**
 * observeHealth probes (HTTP and Prometheus, against local HTTP receivers) in a MockActivityEnvironment, and the
 * label selector matcher. Kubernetes watching is covered by the integration tests on the real cluster.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMonitorActivities, matchesSelector, type ObserveHealthResult } from '../../src/activities/monitor.js';
import { MonitorTarget } from '../../src/schemas/monitor.js';
import { json, startReceiver, type TestReceiver } from '../support/http-receiver.js';

let site: TestReceiver;
let prom: TestReceiver;
let promValue = '3';

beforeAll(async () => {
  site = await startReceiver((req) => ({ status: req.path === '/down' ? 503 : 200 }));
  prom = await startReceiver(() =>
    json(200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, promValue] }] } }),
  );
});
afterAll(async () => {
  await site.close();
  await prom.close();
});

const noCluster = (): never => {
  throw new Error('no cluster in this test');
};

async function observe(
  targets: unknown[],
  known: Record<string, boolean> = {},
  maxDurationSeconds = 5,
): Promise<ObserveHealthResult> {
  const activities = createMonitorActivities({ gateway: noCluster });
  const input = {
    cluster: '',
    targets: targets.map((t) => MonitorTarget.parse(t)),
    known,
    maxDurationSeconds,
    probeIntervalSeconds: 1,
  };
  return new MockActivityEnvironment().run((i: typeof input) => activities.observeHealth(i), input);
}

describe('observeHealth probes', () => {
  it('reports a new HTTP target as changed with its health', async () => {
    const r = await observe([{ type: 'http', id: 'up', url: `${site.url}/up` }]);
    expect(r.changed).toEqual(['http:up']);
    expect(r.observations).toEqual([{ key: 'http:up', healthy: true, message: 'HTTP 200' }]);
  });

  it('an unexpected status is unhealthy, naming both statuses', async () => {
    const r = await observe([{ type: 'http', id: 'down', url: `${site.url}/down` }]);
    expect(r.observations[0]).toMatchObject({ healthy: false, message: 'HTTP 503, expected 200' });
  });

  it('returns with no changes at the max duration when reality matches what the workflow knows', async () => {
    const r = await observe([{ type: 'http', id: 'up', url: `${site.url}/up` }], { 'http:up': true }, 1);
    expect(r.changed).toEqual([]);
  });

  it('a known target that is no longer observed is reported as changed', async () => {
    const r = await observe([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      'http:up': true,
      'http:gone': true,
    });
    expect(r.changed).toEqual(['http:gone']);
  });

  it('a Prometheus query over its threshold is unhealthy; under it, healthy', async () => {
    promValue = '12';
    const over = await observe([
      { type: 'prometheus', id: 'errors', url: prom.url, query: 'rate(errors[5m])', op: '>', threshold: 10 },
    ]);
    expect(over.observations[0]).toMatchObject({
      key: 'prom:errors',
      healthy: false,
      message: 'rate(errors[5m]) = 12 > 10',
    });
    promValue = '3';
    const under = await observe([
      { type: 'prometheus', id: 'errors', url: prom.url, query: 'rate(errors[5m])', op: '>', threshold: 10 },
    ]);
    expect(under.observations[0]).toMatchObject({ healthy: true });
    expect(prom.requests.at(-1)?.path).toBe(`/api/v1/query?query=${encodeURIComponent('rate(errors[5m])')}`);
  });
});

describe('matchesSelector', () => {
  it.each([
    ['app=web', { app: 'web' }, true],
    ['app=web', { app: 'api' }, false],
    ['app==web,tier=front', { app: 'web', tier: 'front' }, true],
    ['app!=web', { app: 'api' }, true],
    ['app', { app: 'x' }, true],
    ['!app', { app: 'x' }, false],
    ['', { app: 'x' }, true],
  ])('%s on %j is %s', (selector, labels, expected) => {
    expect(matchesSelector(labels, selector)).toBe(expected);
  });
});
