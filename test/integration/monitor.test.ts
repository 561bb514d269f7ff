/**
 * monitorHealth end to end: a monitored Deployment broken with the KWOK crash stage produces exactly one firing
 * alert in a real Alertmanager and one signed webhook (verified independently with the `standardwebhooks`
 * package); fixing it resolves the alert in Alertmanager and sends one resolve webhook. A flapping HTTP target
 * does not alert inside its `for` window and does after it. A monitor that continued-as-new keeps its incident.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import type { MonitorHandle } from '../../src/client/index.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { deploymentObject } from '../support/workloads.js';
import { recordHistory, useHarness } from './harness.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let am: RunningAlertmanager;
let hooks: TestReceiver;
let site: TestReceiver;
let siteStatus = 200;
const verified: { id: string; type: string; target: string }[] = [];

const h = useHarness('monitor', {
  env: async () => {
    am = await startAlertmanager();
    hooks = await startReceiver((req) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { labels?: Record<string, string> };
      };
      verified.push({
        id: String(req.headers['webhook-id']),
        type: payload.type,
        target: payload.data.labels?.target ?? '',
      });
      return { status: 204 };
    });
    site = await startReceiver(() => ({ status: siteStatus }));
    const dir = mkdtempSync(join(tmpdir(), 'kwf-monitor-'));
    const file = join(dir, 'worker.yaml');
    writeFileSync(
      file,
      `alerts:\n  am: { type: alertmanager, url: "${am.url}" }\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`,
    );
    return { KUBE_WORKFLOWS_CONFIG: file };
  },
});

afterAll(async () => {
  await hooks?.close();
  await site?.close();
  await am?.stop();
});

interface AmAlert {
  labels: Record<string, string>;
  status: { state: string };
}

async function activeAlerts(target: string): Promise<AmAlert[]> {
  const res = await fetch(`${am.url}/api/v2/alerts?active=true&silenced=false&inhibited=false`);
  const all = (await res.json()) as AmAlert[];
  return all.filter((a) => a.labels.target === target && a.status.state === 'active');
}

function deployment(name: string, chaos?: string): KubeObject {
  const image = `registry.example/${name}:${chaos ? '2' : '1'}`;
  return deploymentObject({ name, namespace: h.namespace, labels: { tier: 'web' }, replicas: 2, image, chaos });
}

async function waitForStatus(m: MonitorHandle, key: string, state: string): Promise<void> {
  await expect
    .poll(async () => (await m.status()).targets.find((t) => t.key === key)?.state, { timeout: 60_000, interval: 250 })
    .toBe(state);
}

describe('monitorHealth', () => {
  it('a crash-looping Deployment fires one alert in Alertmanager and one signed webhook; fixing it resolves both', async () => {
    await h.kube.apply(deployment('web'));
    const key = `Deployment/${h.namespace}/web`;
    const m = await h.client.monitor({
      name: `mon-${h.namespace}`,
      targets: [{ type: 'kube', namespace: h.namespace, selector: 'tier=web' }],
      channels: ['am', 'hook'],
      forSeconds: 2,
      keepAliveSeconds: 30,
    });
    await waitForStatus(m, key, 'healthy');
    const gateway = h.worker.gateways.get('local');
    const requestsBefore = gateway?.stats.requests ?? NaN;

    await h.kube.apply(deployment('web', 'crash'));
    await waitForStatus(m, key, 'degraded');
    await expect.poll(() => activeAlerts(key), { timeout: 30_000, interval: 250 }).toHaveLength(1);
    await expect
      .poll(() => verified.filter((v) => v.target === key && v.type === 'alert.triggered').length, { timeout: 30_000 })
      .toBe(1);

    await h.kube.apply(deployment('web'));
    await waitForStatus(m, key, 'healthy');
    await expect.poll(() => activeAlerts(key), { timeout: 30_000, interval: 250 }).toHaveLength(0);
    await expect
      .poll(() => verified.filter((v) => v.target === key && v.type === 'alert.resolved').length, { timeout: 30_000 })
      .toBe(1);
    // exactly one of each, whatever the retries: one webhook id per action
    const forTarget = verified.filter((v) => v.target === key);
    expect(new Set(forTarget.map((v) => v.id)).size).toBe(2);
    expect((await m.status()).targets.find((t) => t.key === key)?.incidents).toBe(1);

    // The watches were held through both transitions: each one reached the workflow as an `observations` signal
    // from the one observation activity, with no relist. (Restarting observation per transition would cost a
    // list and a watch per collection, 12 requests here; a watch the API server happens to end is reopened.)
    const events = (await m.raw.fetchHistory()).events ?? [];
    const observations = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'observeHealth',
    );
    const signals = events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'observations');
    expect(observations).toHaveLength(1);
    expect(signals.length).toBeGreaterThanOrEqual(3); // the initial state, degraded, recovered
    expect((gateway?.stats.requests ?? NaN) - requestsBefore).toBeLessThanOrEqual(2);
    await m.stop();
    await m.raw.result().catch(() => undefined); // cancelled
    await recordHistory('monitor-streamed', m.raw);
  });

  it('a flapping HTTP target does not alert inside its for window, and does after it', async () => {
    const key = 'http:site';
    siteStatus = 200;
    const m = await h.client.monitor({
      name: `flap-${h.namespace}`,
      targets: [{ type: 'http', id: 'site', url: `${site.url}/healthz` }],
      channels: ['hook'],
      forSeconds: 6,
      probeIntervalSeconds: 1,
    });
    await waitForStatus(m, key, 'healthy');
    siteStatus = 503;
    await waitForStatus(m, key, 'pending');
    siteStatus = 200; // back before the 6 s window ends
    await waitForStatus(m, key, 'healthy');
    expect(verified.filter((v) => v.target === key)).toHaveLength(0);
    siteStatus = 503;
    await waitForStatus(m, key, 'pending');
    await waitForStatus(m, key, 'degraded');
    await expect
      .poll(() => verified.filter((v) => v.target === key && v.type === 'alert.triggered').length, { timeout: 30_000 })
      .toBe(1);
    siteStatus = 200;
    await waitForStatus(m, key, 'healthy');
    await m.stop();
  });

  it('a monitor that continued-as-new keeps its open incident and does not alert again', async () => {
    const key = 'http:can';
    siteStatus = 503;
    const m = await h.client.monitor({
      name: `can-${h.namespace}`,
      targets: [{ type: 'http', id: 'can', url: `${site.url}/can` }],
      channels: ['hook'],
      forSeconds: 1,
      probeIntervalSeconds: 1,
      maxIterationsPerRun: 1,
    });
    await waitForStatus(m, key, 'degraded');
    const firstRun = (await m.raw.describe()).runId;
    // add and remove a target: each is an observation round, so the run continues-as-new
    await m.addTargets([{ type: 'http', id: 'extra', url: `${site.url}/extra`, expectStatus: 503, timeoutMs: 5_000 }]);
    await expect
      .poll(async () => (await h.client.temporal.workflow.getHandle(m.workflowId).describe()).runId, {
        timeout: 60_000,
      })
      .not.toBe(firstRun);
    await waitForStatus(m, 'http:extra', 'healthy');
    const status = await m.status();
    expect(status.targets.find((t) => t.key === key)).toMatchObject({ state: 'degraded', incidents: 1 });
    expect(verified.filter((v) => v.target === key && v.type === 'alert.triggered')).toHaveLength(1);
    await m.stop();
  });
});
