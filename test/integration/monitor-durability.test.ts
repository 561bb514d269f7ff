/**
 * A monitor whose worker is SIGKILLed while an incident is open: after a new worker takes over, the incident is
 * neither re-fired nor lost — exactly one firing alert in Alertmanager and one signed trigger message, and fixing
 * the Deployment resolves both once.
 *
 * Delivery is at-least-once: the kill can land after the receiver answered but before Temporal recorded the
 * activity as completed, and then the retry re-sends the SAME message (same `webhook-id`, which Standard Webhooks
 * receivers dedupe on). So the test counts distinct message ids per type; a re-fire would be a new incident with
 * a new id and fail it.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { deploymentObject } from '../support/workloads.js';
import { useHarness, useKillableWorkers } from './harness.js';

const h = useHarness('mondur');
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const verified: { id: string; type: string; source: string }[] = [];
/** Webhook deliveries for this target are held open (never answered) until the sending worker dies. */
let holdFor: string | undefined;
let held = 0;
let am: RunningAlertmanager;
let hooks: TestReceiver;
/** `kube-workflows worker` processes on the child task queue, alerting through both channels. */
const k = useKillableWorkers(h, {
  // a long grace time: the graceful-shutdown test shows the observation does not wait for it
  config: () =>
    `worker:\n  shutdownGraceTime: 120s\nalerts:\n  am: { type: alertmanager, url: "${am.url}" }\n  hook: { type: webhook, url: "${hooks.url}/a", secret: "${secret}" }\n`,
});
const workers = k.workers;

beforeAll(async () => {
  am = await startAlertmanager();
  hooks = await startReceiver((req) => {
    const p = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
      type: string;
      data: { source: string };
    };
    verified.push({ id: String(req.headers['webhook-id']), type: p.type, source: p.data.source });
    if (holdFor === p.data.source && held === 0) {
      held += 1;
      return new Promise(() => undefined);
    }
    return { status: 204 };
  });
});

afterAll(async () => {
  await hooks?.close();
  await am?.stop();
});

function deployment(chaos: boolean, name = 'api'): KubeObject {
  return deploymentObject({
    name,
    namespace: h.namespace,
    labels: { app: name },
    replicas: 1,
    container: name,
    image: `registry.example/${name}:${chaos ? 2 : 1}`,
    chaos: chaos ? 'crash' : undefined,
  });
}

/** Distinct message ids of one type for one target. */
function distinct(type: string, source: string): string[] {
  return [...new Set(verified.filter((v) => v.type === type && v.source === source).map((v) => v.id))];
}

const count = (type: string, source: string): number =>
  verified.filter((v) => v.type === type && v.source === source).length;

async function firing(target: string): Promise<number> {
  const alerts = (await (await fetch(`${am.url}/api/v2/alerts?active=true`)).json()) as {
    labels: Record<string, string>;
  }[];
  return alerts.filter((a) => a.labels.target === target).length;
}

/**
 * Deployment `name` (healthy), a first worker, and a monitor of it with the hook channel (and Alertmanager when
 * `withAm`), waited for until the Deployment shows healthy.
 */
async function monitorOne(name: string, prefix: string, withAm = true) {
  const key = `Deployment/${h.namespace}/${name}`;
  await h.kube.apply(deployment(false, name));
  const first = workers.start();
  const m = await k.client.monitor({
    name: `${prefix}-${h.namespace}`,
    targets: [{ type: 'kube', namespace: h.namespace, selector: `app=${name}` }],
    channels: withAm ? ['am', 'hook'] : ['hook'],
    forSeconds: 1,
    keepAliveSeconds: 15,
  });
  const state = async (): Promise<string | undefined> => (await m.status()).targets.find((t) => t.key === key)?.state;
  await expect.poll(state, { timeout: 60_000, interval: 250 }).toBe('healthy');
  return { key, first, m };
}

describe('a monitor whose worker is killed while an incident is open', () => {
  it('neither re-fires nor loses the incident', async () => {
    const { key, first, m } = await monitorOne('api', 'dur');
    await h.kube.apply(deployment(true));
    await expect.poll(() => count('alert.triggered', key), { timeout: 60_000 }).toBe(1);
    await expect.poll(() => firing(key), { timeout: 30_000 }).toBe(1);

    await workers.kill(first);
    const second = workers.start();

    await h.kube.apply(deployment(false));
    await expect
      .poll(() => count('alert.resolved', key), { timeout: 120_000, interval: 250 })
      .toBeGreaterThanOrEqual(1);
    await expect.poll(() => firing(key), { timeout: 30_000 }).toBe(0);
    expect(distinct('alert.triggered', key), JSON.stringify(verified)).toHaveLength(1);
    expect(distinct('alert.resolved', key), JSON.stringify(verified)).toHaveLength(1);
    expect((await m.status()).targets.find((t) => t.key === key)?.incidents).toBe(1);
    await m.stop();
    await workers.kill(second);
  });

  it('killed in the middle of a delivery: another worker re-sends the same message, then the resolve', async () => {
    holdFor = `Deployment/${h.namespace}/held`;
    const { key, first, m } = await monitorOne('held', 'held');
    await h.kube.apply(deployment(true, 'held'));
    // the trigger reached the receiver, which has not answered: the activity is in flight when the worker dies
    await expect.poll(() => count('alert.triggered', key), { timeout: 60_000 }).toBe(1);
    await workers.kill(first);
    const second = workers.start();

    await expect.poll(() => count('alert.triggered', key), { timeout: 120_000, interval: 250 }).toBe(2);
    expect(distinct('alert.triggered', key), JSON.stringify(verified)).toHaveLength(1);
    await h.kube.apply(deployment(false, 'held'));
    await expect
      .poll(() => count('alert.resolved', key), { timeout: 120_000, interval: 250 })
      .toBeGreaterThanOrEqual(1);
    await expect.poll(() => firing(key), { timeout: 30_000 }).toBe(0);
    expect(distinct('alert.resolved', key), JSON.stringify(verified)).toHaveLength(1);
    const target = (await m.status()).targets.find((t) => t.key === key);
    expect(target?.incidents).toBe(1);
    await m.stop();
    await workers.kill(second);
  });

  it('a worker shut down gracefully hands the observation to another worker at once, not after its grace time', async () => {
    const { key, first, m } = await monitorOne('handover', 'handover', false);
    const second = workers.start();

    // SIGTERM: the first worker drains. Its observation must not hold it for the 120 s grace time.
    const exited = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    first.kill('SIGTERM');
    expect(await exited).toBe(0);
    const pending = async () => {
      const raw = (await m.raw.describe()).raw;
      return raw.pendingActivities?.find((a) => a.activityType?.name === 'observeHealth');
    };
    await expect
      .poll(async () => (await pending())?.attempt ?? 0, { timeout: 30_000, interval: 250 })
      .toBeGreaterThan(1);
    const retried = await pending();
    // our hand-over (the SDK's own cancellation after the grace time says "Worker is shutting down")
    expect(retried?.lastFailure?.applicationFailureInfo?.type).toBe('WorkerShutdown');
    expect(retried?.lastFailure?.message).toContain('the observation continues on another worker');

    // the second worker observes: a break is alerted
    await h.kube.apply(deployment(true, 'handover'));
    await expect.poll(() => count('alert.triggered', key), { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    await m.stop();
    await workers.kill(second);
  });
});
