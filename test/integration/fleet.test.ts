/**
 * `rolloutFleet` on the real stack: three real clusters (`local` env=staging, `local-2` and `local-3` env=prod),
 * real `kube-workflows worker` processes that hold all three, real child deploys and a real Kubernetes-health
 * analysis. Shown here only what the time-skipping tests cannot show: wave 1 bakes (time + analysis) before wave 2
 * starts, a worker SIGKILLed mid-wave does not make the fleet deploy a finished cluster again, and a stopped cluster
 * is retried, skipped and alerted about without hanging the fleet.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster, stopCluster } from '../../src/dev/index.js';
import type { FleetHandle } from '../../src/client/index.js';
import type { FleetReport, FleetStatus, RolloutFleetInput } from '../../src/schemas/fleet.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { appManifests } from '../support/workloads.js';
import { useHarness, useKillableWorkers } from './harness.js';

const h = useHarness('fleet', { clusters: true });
let receiver: TestReceiver;
const secret = `whsec_${randomBytes(32).toString('base64')}`;
// The workers hold every cluster of the stack (its clusters.json) and one alert channel.
const k = useKillableWorkers(h, {
  config: () => {
    const clusters = JSON.parse(readFileSync(inject('stack').workerConfigFile, 'utf8')) as object;
    return JSON.stringify({ ...clusters, alerts: { oncall: { type: 'webhook', url: receiver.url, secret } } });
  },
});

let stopped = false;
beforeAll(async () => {
  receiver = await startReceiver(() => ({ status: 204 }));
});
afterAll(async () => {
  if (stopped) await startCluster(inject('stack'), 'local-3');
  await receiver?.close();
});

const healthy = {
  name: 'healthy',
  provider: { kubernetes: { namespace: '{{args.namespace}}', selector: 'app.kubernetes.io/name={{args.app}}' } },
  successCondition: 'result.healthy == true',
};

function fleet(app: string, over: Partial<RolloutFleetInput>): RolloutFleetInput {
  return {
    name: app,
    app,
    namespace: h.namespace,
    manifests: appManifests(h.namespace, app, {
      config: '{ GREETING: hello }',
      container: 'web',
      image: 'registry.example/web:2',
      replicas: 1,
    }),
    waves: [],
    alerts: { channels: ['oncall'] },
    deploy: { timeoutSeconds: 60 },
    ...over,
  };
}

async function until(f: FleetHandle, check: (s: FleetStatus) => boolean): Promise<void> {
  await expect
    .poll(async () => check(await f.status().catch(() => ({ waves: [] }) as unknown as FleetStatus)), {
      timeout: 60_000,
      interval: 250,
    })
    .toBe(true);
}

const ms = (iso?: string) => Date.parse(iso ?? '');
const wave = (r: FleetStatus, name: string) => r.waves.find((w) => w.name === name);

/** Per wave: seconds deploying, baking, and the rest (holds, probes, scheduling): the overhead beyond the bake. */
function timings(r: FleetReport): string {
  return r.waves
    .map((w) => {
      const total = ms(w.finishedAt) - ms(w.startedAt);
      const bake = ms(w.bake.endedAt) - ms(w.bake.startedAt);
      const deploy = ms(w.deployedAt) - ms(w.startedAt);
      return `${w.name}: total ${total} ms, deploying ${deploy} ms, bake ${bake} ms, overhead beyond the bake ${total - bake} ms`;
    })
    .join('; ');
}

async function runsOf(workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of k.client.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

describe('rolloutFleet on three real clusters', () => {
  it('bakes wave 1 (time + analysis) before wave 2, and a worker killed mid-wave never deploys a finished cluster again', async () => {
    k.workers.start();
    const app = `fleet-a-${randomBytes(2).toString('hex')}`;
    const f = await k.client.rolloutFleet(
      fleet(app, {
        waves: [
          { name: 'staging', clusters: 'env=staging', bake: { minTime: '8s', analysis: healthy } },
          { name: 'prod', clusters: 'env=prod', maxParallel: 2 },
        ],
      }),
    );
    await until(f, (s) => wave(s, 'staging')?.phase === 'baking');
    await k.workers.killAll(); // mid-wave: local is deployed, its bake runs
    k.workers.start();
    const report = await f.result();
    console.log(`fleet timings (worker killed in the staging bake): ${timings(report)}`);
    expect(report.outcome).toBe('succeeded');
    const staging = wave(report, 'staging');
    const prod = wave(report, 'prod');
    expect(ms(staging?.bake.endedAt) - ms(staging?.bake.startedAt)).toBeGreaterThanOrEqual(8_000);
    expect(staging?.cells[0]?.analysis.map((a) => a.outcome)).toEqual(['successful']);
    expect(ms(prod?.startedAt)).toBeGreaterThanOrEqual(ms(staging?.bake.endedAt));
    expect(prod?.cells.map((c) => [c.cluster, c.phase])).toEqual([
      ['local-2', 'succeeded'],
      ['local-3', 'succeeded'],
    ]);
    for (const cluster of ['local', 'local-2', 'local-3']) {
      const d = await h
        .kubeOf(cluster)
        .get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: app });
      expect(JSON.stringify(d)).toContain('registry.example/web:2');
      // one deploy per cluster: the kill did not make the fleet start a finished cluster's deploy again
      expect(await runsOf(`deploy/${cluster}/${h.namespace}/${app}`)).toBe(1);
    }
    await k.workers.killAll();
  }, 120_000);

  it('a stopped cluster is retried for retryFor, then skipped with an alert; the fleet finishes', async () => {
    k.workers.start();
    stopped = true;
    await stopCluster(inject('stack'), 'local-3');
    const app = `fleet-b-${randomBytes(2).toString('hex')}`;
    const started = Date.now();
    const f = await k.client.rolloutFleet(
      fleet(app, {
        waves: [{ name: 'prod', clusters: ['local-2', 'local-3'], maxParallel: 2 }],
        unreachable: { retryFor: '12s', then: 'skip' },
      }),
    );
    const report = await f.result();
    expect(report.outcome).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(60_000); // bounded: never hangs on the stopped cluster
    const skipped = wave(report, 'prod')?.cells.find((c) => c.cluster === 'local-3');
    expect(skipped?.phase).toBe('skipped');
    expect(skipped?.probes).toBeGreaterThanOrEqual(2);
    expect(skipped?.skipReason).toMatch(/unreachable after \d+ probes/);
    expect(wave(report, 'prod')?.cells.find((c) => c.cluster === 'local-2')?.phase).toBe('succeeded');
    const alert = receiver.requests.map((r) => JSON.parse(r.body) as { summary?: string; severity?: string });
    expect(alert.some((a) => /cluster local-3 skipped/.test(JSON.stringify(a)))).toBe(true);
    expect(report.alerts).toEqual([expect.objectContaining({ channel: 'oncall', ok: true })]);
    await startCluster(inject('stack'), 'local-3');
    stopped = false;
  }, 120_000);
});
