/**
 * monitorHealth with a `prometheus` target against a real Prometheus server, which scrapes a gauge the test
 * serves every second: below the threshold the target is healthy; above it, once Prometheus has scraped the new
 * value and the `for` window has passed, it is degraded and exactly one signed trigger webhook arrives (verified
 * independently with the `standardwebhooks` package); back below, it resolves with exactly one resolve webhook.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import type { MonitorHandle } from '../../src/client/index.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { useHarness } from './harness.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const GAUGE = 'demo_queue_depth';
let prom: RunningPrometheus;
let hooks: TestReceiver;
const verified: { id: string; type: string; target: string; summary: string }[] = [];

const h = useHarness('prometheus', {
  createNamespace: false,
  env: async () => {
    prom = await startPrometheus();
    hooks = await startReceiver((req) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { summary?: string; labels?: Record<string, string> };
      };
      verified.push({
        id: String(req.headers['webhook-id']),
        type: payload.type,
        target: payload.data.labels?.target ?? '',
        summary: payload.data.summary ?? '',
      });
      return { status: 204 };
    });
    const dir = mkdtempSync(join(tmpdir(), 'kwf-prometheus-worker-'));
    const file = join(dir, 'worker.yaml');
    writeFileSync(file, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    return { KUBE_WORKFLOWS_CONFIG: file };
  },
});

afterAll(async () => {
  await hooks?.close();
  await prom?.stop();
});

async function waitForStatus(m: MonitorHandle, key: string, state: string): Promise<void> {
  await expect
    .poll(async () => (await m.status()).targets.find((t) => t.key === key)?.state, { timeout: 60_000, interval: 250 })
    .toBe(state);
}

/** Sets the gauge and waits until Prometheus has scraped the new value. */
async function setGauge(value: number): Promise<void> {
  prom.metrics.set(GAUGE, value);
  await expect.poll(() => prom.query(GAUGE), { timeout: 30_000, interval: 200 }).toEqual([value]);
}

const sent = (key: string, type: string): number => verified.filter((v) => v.target === key && v.type === type).length;

describe('monitorHealth with a Prometheus target', () => {
  it('a query above its threshold for the for window fires one webhook; back below resolves it with one', async () => {
    const key = 'prom:queue';
    await setGauge(5);
    const m = await h.client.monitor({
      name: `prom-${h.namespace}`,
      targets: [{ type: 'prometheus', id: 'queue', url: prom.url, query: GAUGE, op: '>', threshold: 10 }],
      channels: ['hook'],
      forSeconds: 2,
      probeIntervalSeconds: 1,
    });
    await waitForStatus(m, key, 'healthy');
    expect((await m.status()).targets.find((t) => t.key === key)?.message).toBe(`${GAUGE}: 1 series within threshold`);

    await setGauge(50);
    await waitForStatus(m, key, 'degraded');
    await expect.poll(() => sent(key, 'alert.triggered'), { timeout: 30_000 }).toBe(1);
    expect(verified.find((v) => v.target === key)?.summary).toBe(`${key} is degraded: ${GAUGE} = 50 > 10`);

    await setGauge(5);
    await waitForStatus(m, key, 'healthy');
    await expect.poll(() => sent(key, 'alert.resolved'), { timeout: 30_000 }).toBe(1);
    // exactly one of each, whatever the retries: one webhook id per action
    const forTarget = verified.filter((v) => v.target === key);
    expect(forTarget.map((v) => v.type)).toEqual(['alert.triggered', 'alert.resolved']);
    expect(new Set(forTarget.map((v) => v.id)).size).toBe(2);
    expect((await m.status()).targets.find((t) => t.key === key)?.incidents).toBe(1);
    await m.stop();
  });
});
