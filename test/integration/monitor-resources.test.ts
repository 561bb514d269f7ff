/**
 * A monitor's CPU threshold on a stack of its own with metrics-server (`startStack({ metricsServer: true })`): KWOK
 * simulates each pod's CPU use from its `kwok.x-k8s.io/usage-cpu` annotation, metrics-server scrapes it every 10 s,
 * and the monitor reads PodMetrics once per namespace per probe interval. Use above 80% of requests for the
 * threshold's window raises one incident (a signed webhook to a real receiver); use brought down resolves it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { CPU_USAGE_ANNOTATION } from '../../src/dev/index.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { useMetricsStack } from '../support/metrics-stack.js';

const NS = 'shop';
const REPLICAS = 4;
const PROBE_INTERVAL_SECONDS = 2;
const secret = `whsec_${randomBytes(32).toString('base64')}`;
let hooks: TestReceiver;
const received: { type: string; target: string; summary: string }[] = [];

const metrics = useMetricsStack({
  name: 'monitor-resources',
  namespace: NS,
  before: async () => {
    hooks = await startReceiver((req) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { labels?: Record<string, string>; summary?: string };
      };
      received.push({
        type: payload.type,
        target: payload.data.labels?.target ?? '',
        summary: payload.data.summary ?? '',
      });
      return { status: 204 };
    });
  },
  env: (dir) => {
    const configFile = join(dir, 'worker.yaml');
    writeFileSync(configFile, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    return { KUBE_WORKFLOWS_CONFIG: configFile };
  },
  after: async () => {
    await hooks?.close();
  },
});

/** Sets the simulated CPU use of every pod of web (KWOK reads the annotation at each scrape). */
async function setCpuUse(quantity: string): Promise<void> {
  const { items } = await metrics.kube.list('v1', 'Pod', { namespace: NS, labelSelector: 'app=web' });
  for (const pod of items) {
    await metrics.kube.mergePatch(
      { apiVersion: 'v1', kind: 'Pod', namespace: NS, name: pod.metadata.name },
      { metadata: { annotations: { [CPU_USAGE_ANNOTATION]: quantity } } },
    );
  }
}

describe('monitorHealth: resource thresholds from the metrics API', () => {
  it('CPU above 80% of requests for the threshold window raises one incident; use brought down resolves it', async () => {
    await metrics.kube.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { [CPU_USAGE_ANNOTATION]: '300m' } },
          spec: {
            containers: [{ name: 'web', image: 'registry.example/web:1', resources: { requests: { cpu: '100m' } } }],
          },
        },
      },
    });
    const key = `cpu:Deployment/${NS}/web`;
    const requestsBefore = metrics.worker.gateways.get('local')?.stats.requests ?? NaN;
    const started = Date.now();
    const m = await metrics.client.monitor({
      name: 'web-cpu',
      targets: [
        {
          type: 'kube',
          namespace: NS,
          names: ['web'],
          kinds: ['Deployment'],
          resources: { cpu: { above: '80%', of: 'requests', for: '5s' } },
        },
      ],
      channels: ['hook'],
      forSeconds: 1,
      probeIntervalSeconds: PROBE_INTERVAL_SECONDS,
    });
    const target = async () => (await m.status()).targets.find((t) => t.key === key);
    // metrics-server needs a scrape or two of the new pods first
    await expect.poll(async () => (await target())?.state, { timeout: 120_000, interval: 500 }).toBe('degraded');
    // about 300% (metrics-server's samples round: 1199m of 400m was seen), over the pods metrics-server has sampled
    // so far: the incident can open before the last of the REPLICAS new pods has a sample (600m of 200m, 2 pods,
    // was seen), and the message is the one of the observation that opened it
    const firing = (await target())?.message ?? '';
    const parts = new RegExp(
      `^cpu at (29\\d|30\\d)% of requests \\((\\d+)m of (\\d+)m, (\\d) pods; hottest ${NS}/web-\\S+ (29\\d|30\\d)m\\), above 80%$`,
    ).exec(firing);
    expect(parts, firing).not.toBeNull();
    const pods = Number(parts?.[4]);
    expect(pods).toBeGreaterThanOrEqual(1);
    expect(pods).toBeLessThanOrEqual(REPLICAS);
    expect(Number(parts?.[3])).toBe(pods * 100); // requests: 100m a pod
    expect(Number(parts?.[2])).toBeGreaterThanOrEqual(pods * 290); // use: about 300m a pod
    expect((await target())?.forSeconds).toBe(5);
    await expect
      .poll(() => received.filter((r) => r.target === key).map((r) => r.type), { timeout: 30_000 })
      .toEqual(['alert.triggered']);
    expect(received.find((r) => r.target === key)?.summary).toMatch(
      /^cpu:Deployment\/shop\/web is degraded: cpu at 300%/,
    );

    await setCpuUse('20m');
    await expect.poll(async () => (await target())?.state, { timeout: 90_000, interval: 500 }).toBe('healthy');
    expect((await target())?.message).toMatch(/^cpu at 20% of requests \(80m of 400m, 4 pods; .*\), threshold 80%$/);
    await expect
      .poll(() => received.filter((r) => r.target === key).map((r) => r.type), { timeout: 30_000 })
      .toEqual(['alert.triggered', 'alert.resolved']);
    expect((await m.status()).targets.find((t) => t.key === `Deployment/${NS}/web`)?.state).toBe('healthy');

    // One LIST of PodMetrics per namespace per interval, not one per pod: over the whole run the worker sent about
    // one request per interval besides its few lists and watches (per-pod reads would be REPLICAS per interval).
    const seconds = (Date.now() - started) / 1000;
    const requests = (metrics.worker.gateways.get('local')?.stats.requests ?? NaN) - requestsBefore;
    console.log(
      `monitor-resources: ${requests} requests in ${seconds.toFixed(1)} s (interval ${PROBE_INTERVAL_SECONDS} s)`,
    );
    expect(requests).toBeLessThanOrEqual(Math.ceil(seconds / PROBE_INTERVAL_SECONDS) + 15);
    await m.stop();
    await m.raw.result().catch(() => undefined);
  });
});
