/**
 * Autoscaling for real: a stack of its own with metrics-server (`startStack({ metricsServer: true })`), pods whose CPU
 * use KWOK simulates from an annotation, and the controller-manager's real HPA controller. One story, in order:
 * a Deployment deployed alone (our field manager owns its count) gets an HPA in the next deploy (the count is handed
 * over, not reset) and the HPA scales it up on simulated CPU; a deploy of the same manifests, `replicas: 2` included,
 * leaves the HPA's count alone and says why; `scale` moves the HPA's bounds; a deploy after that keeps them; a scale
 * to 0 is refused naming the HPA. Branches are in test/workflows/scale-hpa.test.ts and test/unit/autoscaler.test.ts.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import { CPU_USAGE_ANNOTATION } from '../../src/dev/index.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { useMetricsStack } from '../support/metrics-stack.js';

const NS = 'shop';
const m = useMetricsStack({ name: 'autoscaler', namespace: NS });

/** Deployment web: 2 replicas in the manifest, each pod using 300m of its 100m CPU request (300%). */
const web = (annotations: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: NS, annotations },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' }, annotations: { [CPU_USAGE_ANNOTATION]: '300m' } },
      spec: {
        containers: [{ name: 'web', image: 'registry.example/web:1', resources: { requests: { cpu: '100m' } } }],
      },
    },
  },
});

/** HPA web: 2–5 replicas, 50% CPU. */
const hpa = {
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: NS },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: 2,
    maxReplicas: 5,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
  },
};

async function deploy(objects: unknown[]): Promise<DeployReport> {
  return (await m.client.deploy({ objects, namespace: NS, app: 'web', timeoutSeconds: 120 })).result();
}

const replicas = async (): Promise<number | undefined> =>
  (
    (await m.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name: 'web' })) as {
      spec?: { replicas?: number };
    }
  )?.spec?.replicas;

const bounds = async (): Promise<{ minReplicas?: number; maxReplicas?: number } | undefined> =>
  (
    (await m.kube.get({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: NS,
      name: 'web',
    })) as {
      spec?: { minReplicas?: number; maxReplicas?: number };
    }
  )?.spec;

const notesOf = (report: DeployReport, subject: string): string[] =>
  report.objects.find((o) => o.subject === subject)?.notes ?? [];

describe('autoscaler-aware deploy and scale on a stack with metrics-server', () => {
  it('an HPA deployed beside a Deployment our manager owns takes its count over and scales it up on simulated CPU', async () => {
    expect((await deploy([web()])).outcome).toBe('succeeded');
    expect(await replicas()).toBe(2);

    const report = await deploy([web(), hpa]);
    // The deploy waited for the HPA to be Current: metrics-server answered with the simulated use.
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.find((o) => o.subject === `HorizontalPodAutoscaler/${NS}/web`)).toMatchObject({
      status: 'Current',
    });
    expect(notesOf(report, `Deployment/${NS}/web`)).toEqual([
      `replicas left to HorizontalPodAutoscaler ${NS}/web (2–5); handed over at 2 so dropping the field does not reset it`,
    ]);
    // 300% of the request against a 50% target: the HPA goes to its maximum.
    await expect.poll(replicas, { timeout: 60_000, interval: 500 }).toBe(5);
  });

  it('a deploy of the same manifests (replicas: 2) leaves the count the HPA holds, and the report says why', async () => {
    const report = await deploy([web({ 'example.com/revision': '2' }), hpa]);
    expect(report.outcome).toBe('succeeded');
    const line = report.objects.find((o) => o.subject === `Deployment/${NS}/web`);
    expect(line?.action).toBe('configured'); // applied (its annotation changed), without spec.replicas
    expect(line?.notes).toEqual([
      `replicas left to HorizontalPodAutoscaler ${NS}/web (2–5): it holds 5, the manifests say 2`,
    ]);
    expect(await replicas()).toBe(5);
  });

  it('scale moves the HPA bounds instead of the count, and a later deploy of the same manifests keeps them', async () => {
    const scaled = await (
      await m.client.scale({ kind: 'Deployment', name: 'web', namespace: NS, replicas: 6 })
    ).result();
    expect(scaled).toMatchObject({
      outcome: 'succeeded',
      from: 5,
      to: 6,
      autoscaler: { name: 'web', from: { minReplicas: 2, maxReplicas: 5 }, to: { minReplicas: 6, maxReplicas: 6 } },
    });
    expect(await bounds()).toMatchObject({ minReplicas: 6, maxReplicas: 6 });
    expect(await replicas()).toBe(6);

    const report = await deploy([web({ 'example.com/revision': '2' }), hpa]);
    expect(report.outcome).toBe('succeeded');
    expect(notesOf(report, `HorizontalPodAutoscaler/${NS}/web`)).toEqual([
      'minReplicas kept at 6 (set by scale; the manifests still say 2)',
      'maxReplicas kept at 6 (set by scale; the manifests still say 5)',
    ]);
    expect(await bounds()).toMatchObject({ minReplicas: 6, maxReplicas: 6 });
    expect(await replicas()).toBe(6);
  });

  it('a scale to 0 is refused naming the HPA, and nothing changes', async () => {
    const err = await (
      await m.client.scale({ kind: 'Deployment', name: 'web', namespace: NS, replicas: 0 })
    )
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(err)).toBe('PolicyViolation');
    expect(messageOf(err)).toContain(
      `Deployment/${NS}/web is autoscaled by HorizontalPodAutoscaler ${NS}/web (6–6): scaling it to 0 would switch`,
    );
    expect(await replicas()).toBe(6);
  });
});
