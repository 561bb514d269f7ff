/**
 * canaryRollout on the real local stack (KWOK pods, the real Deployment/ReplicaSet/EndpointSlice controllers): a
 * Deployment web (4 replicas, selector app=web,track=stable) behind Service web (selector app=web). A canary at
 * 25 % then 50 %, an HTTP analysis that passes, then promotion — at each step the ready pods of each ReplicaSet are
 * counted and the Service's EndpointSlices are checked to hold canary pods. Then a canary whose analysis fails
 * aborts: the canary Deployment is gone, the stable template is unchanged (hash), its generation moved only by the
 * two replica writes (down, then back), and its 4 pods are Ready again. The analysis answers come from a local
 * HTTP server (the Prometheus path is covered by the analysis tests).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryHandle } from '../../src/client/index.js';
import type { LiveObject } from '../../src/kube/index.js';
import type { CanaryStatus } from '../../src/schemas/canary.js';
import { closeNow, listenLocal } from '../support/local-http.js';
import { pollUntil } from '../support/poll.js';
import { recordHistory, useHarness } from './harness.js';

const h = useHarness('canary');
let metrics: Server;
let metricsUrl = '';
/** What the metrics endpoint reports as the canary's error rate. */
let errorRate = 0.01;

const podTemplate = (image: string) => ({
  metadata: { labels: { app: 'web', track: 'stable' } },
  spec: { containers: [{ name: 'app', image }] },
});

beforeAll(async () => {
  metrics = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errorRate }));
  });
  metricsUrl = await listenLocal(metrics);
  await h.kube.apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: h.namespace },
    spec: { replicas: 4, selector: { matchLabels: { app: 'web', track: 'stable' } }, template: podTemplate('web:1') },
  });
  await h.kube.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: h.namespace },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await pollUntil(readyPods, (r) => r.stable === 4 && r.canary === 0);
});

afterAll(async () => {
  if (metrics) await closeNow(metrics);
});

function analysis() {
  return {
    name: 'error-rate',
    provider: { http: { url: `${metricsUrl}/rate/{{args.canary}}`, jsonPath: '$.errorRate' } },
    successCondition: 'result < 0.05',
  };
}

function isReady(p: LiveObject): boolean {
  const status = p.status as { conditions?: { type: string; status: string }[] } | undefined;
  const deleting = (p.metadata as { deletionTimestamp?: string }).deletionTimestamp;
  return !deleting && !!status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Ready pods of the stable and the canary, told apart by the canary label. */
async function readyPods(): Promise<{ stable: number; canary: number }> {
  const pods = (await h.kube.list('v1', 'Pod', { namespace: h.namespace, labelSelector: 'app=web' })).items;
  const ready = pods.filter(isReady);
  const canary = ready.filter((p) => p.metadata.labels?.['kube-workflows.io/canary'] === 'true').length;
  return { stable: ready.length - canary, canary };
}

/** Ready replicas of the ReplicaSets each Deployment owns (its current ones: spec.replicas > 0). */
async function replicaSets(): Promise<Record<string, number>> {
  const sets = (await h.kube.list('apps/v1', 'ReplicaSet', { namespace: h.namespace })).items;
  const out: Record<string, number> = {};
  for (const rs of sets) {
    const owner = (rs.metadata as { ownerReferences?: { name: string }[] }).ownerReferences?.[0]?.name ?? '?';
    const ready = (rs.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0;
    out[owner] = (out[owner] ?? 0) + ready;
  }
  return out;
}

/** Names of the pods in the Service's EndpointSlices that are ready. */
async function endpointPods(): Promise<string[]> {
  const slices = await h.kube.list('discovery.k8s.io/v1', 'EndpointSlice', {
    namespace: h.namespace,
    labelSelector: 'kubernetes.io/service-name=web',
  });
  return slices.items.flatMap((s) =>
    ((s as { endpoints?: { targetRef?: { name: string }; conditions?: { ready?: boolean } }[] }).endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .map((e) => e.targetRef?.name ?? ''),
  );
}

async function stable(): Promise<{ generation: number; templateHash: string; replicas: number; image: string }> {
  const d = (await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' })) as
    (LiveObject & { spec: { replicas: number; template: ReturnType<typeof podTemplate> } }) | undefined;
  if (!d) throw new Error('Deployment web is gone');
  return {
    generation: d.metadata.generation ?? 0,
    templateHash: createHash('sha256').update(JSON.stringify(d.spec.template)).digest('hex'),
    replicas: d.spec.replicas,
    image: d.spec.template.spec.containers[0]?.image ?? '',
  };
}

const canaryExists = async (): Promise<boolean> =>
  (await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web-canary' })) !==
  undefined;

async function pausedAt(canary: CanaryHandle, stepIndex: number): Promise<CanaryStatus> {
  await expect
    .poll(async () => ((s) => `${s.phase}@${s.stepIndex}`)(await canary.status()), { timeout: 60_000, interval: 200 })
    .toBe(`paused@${stepIndex}`);
  return canary.status();
}

describe('canaryRollout on the local stack', () => {
  it('25 % → 50 % → passing analysis → promoted: replica ratios and endpoints at each step', async () => {
    errorRate = 0.01;
    const canary = await h.client.canary({
      namespace: h.namespace,
      deployment: 'web',
      template: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: { template: podTemplate('web:2') },
      },
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }, { analysis: analysis() }],
      timeoutSeconds: 60,
    });
    for (const [step, ratio] of [
      [1, { stable: 3, canary: 1 }],
      [3, { stable: 2, canary: 2 }],
    ] as const) {
      expect((await pausedAt(canary, step)).replicas).toEqual(ratio);
      await expect.poll(() => readyPods(), { timeout: 30_000, interval: 200 }).toEqual(ratio);
      expect(await replicaSets()).toMatchObject({ web: ratio.stable, 'web-canary': ratio.canary });
      await expect
        .poll(async () => (await endpointPods()).filter((n) => n.startsWith('web-canary-')).length, {
          timeout: 30_000,
          interval: 200,
        })
        .toBe(ratio.canary);
      expect(await endpointPods()).toHaveLength(4);
      await canary.promote();
    }
    const report = await canary.result();
    expect(report).toMatchObject({
      outcome: 'promoted',
      created: [`Deployment/${h.namespace}/web-canary`],
      deleted: [`Deployment/${h.namespace}/web-canary`],
      analyses: [{ outcome: 'successful' }],
    });
    await recordHistory('canary-promoted', canary.raw);
    expect(await stable()).toMatchObject({ image: 'web:2', replicas: 4 });
    expect(await canaryExists()).toBe(false);
    await expect.poll(() => readyPods(), { timeout: 30_000, interval: 200 }).toEqual({ stable: 4, canary: 0 });
  });

  it('a failing analysis aborts: canary gone, stable template untouched, its 4 replicas restored', async () => {
    errorRate = 0.5;
    const before = await stable();
    const canary = await h.client.canary({
      namespace: h.namespace,
      deployment: 'web',
      template: podTemplate('web:3'),
      steps: [{ setWeight: 50 }, { analysis: analysis() }, { setWeight: 100 }],
      timeoutSeconds: 60,
    });
    const report = await canary.result();
    expect(report).toMatchObject({
      outcome: 'aborted',
      reason: expect.stringMatching(/^analysis error-rate: failed/),
      deleted: [`Deployment/${h.namespace}/web-canary`],
      restored: [{ subject: `Deployment/${h.namespace}/web`, from: 2, to: 4 }],
    });
    await recordHistory('canary-aborted', canary.raw);
    expect(await canaryExists()).toBe(false);
    const after = await stable();
    expect(after).toMatchObject({ templateHash: before.templateHash, image: 'web:2', replicas: 4 });
    // only the replica count moved: scaled 4 → 2 for the canary, then back to 4 (one generation each)
    expect(after.generation).toBe(before.generation + 2);
    await expect.poll(() => readyPods(), { timeout: 30_000, interval: 200 }).toEqual({ stable: 4, canary: 0 });
  });
});
