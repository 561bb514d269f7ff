/**
 * The worker process as operators run it (`kube-workflows worker`): /healthz, /readyz (polling and every
 * cluster reachable), /metrics with our counters, the Temporal runtime's Prometheus exporter, JSON logs, and
 * readiness failing (naming the cluster) when an API server is unreachable.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createKubeWorkflowsClient } from '../../src/client/index.js';
import { freePort } from '../support/daemon.js';
import { useChildWorkers, useHarness } from './harness.js';

const h = useHarness('ops');
const workers = useChildWorkers();
const worker = (env: Record<string, string>, logs: string[]) => workers.start(env, logs);

async function get(url: string): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
}

describe('kube-workflows worker operations', () => {
  it('serves /healthz, /readyz and /metrics, exports runtime metrics and logs JSON', async () => {
    const stack = inject('stack');
    const [healthPort, metricsPort] = [await freePort(), await freePort()];
    const taskQueue = `${h.taskQueue}-ops`;
    const logs: string[] = [];
    worker(
      {
        KUBECONFIG: stack.kubeconfig,
        TEMPORAL_TASK_QUEUE: taskQueue,
        KUBE_WORKFLOWS_HEALTH_PORT: String(healthPort),
        KUBE_WORKFLOWS_RUNTIME_METRICS: `127.0.0.1:${metricsPort}`,
      },
      logs,
    );
    const base = `http://127.0.0.1:${healthPort}`;
    await expect
      .poll(() => get(`${base}/readyz`), { timeout: 60_000, interval: 250 })
      .toEqual({ status: 200, text: 'ready\n' });
    expect((await get(`${base}/healthz`)).status).toBe(200);

    const client = await createKubeWorkflowsClient({
      address: stack.temporalAddress,
      namespace: stack.temporalNamespace,
      taskQueue,
      encryption: false,
    });
    const report = await (
      await client.deploy({
        manifests: `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ops, namespace: ${h.namespace} }\ndata: { a: b }\n`,
        app: 'ops',
      })
    ).result();
    await client.close();
    expect(report.outcome).toBe('succeeded');

    const metrics = (await get(`${base}/metrics`)).text;
    expect(metrics).toMatch(/# TYPE kube_workflows_objects_applied_total counter/);
    expect(metrics).toMatch(/kube_workflows_objects_applied_total\{cluster="local"\} [1-9]/);
    // what the worker costs the API server; the stack's API server runs API Priority and Fairness, as production
    // ones do, so client-side limiting has stopped (nothing waited for it after the first answer)
    expect(metrics).toMatch(/kube_workflows_kube_requests_total\{cluster="local"\} [1-9]/);
    expect(metrics).toMatch(/# TYPE kube_workflows_kube_watches_open gauge/);
    expect(metrics).toMatch(/kube_workflows_kube_watch_opens_total\{cluster="local"\} \d+/);
    expect(metrics).toMatch(/kube_workflows_kube_server_flow_control\{cluster="local"\} 1/);
    expect(metrics).toMatch(/kube_workflows_kube_client_delayed_total\{cluster="local"\} 0/);
    const runtime = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(runtime.text).toMatch(/temporal_/);
    // SDK logs are JSON lines (our own start-up lines are plain text)
    const json = logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(json.length).toBeGreaterThan(0);
    expect(json.every((l) => typeof l.level === 'string' && typeof l.msg === 'string')).toBe(true);
  });

  it('reports not ready, naming the cluster, when its API server is unreachable', async () => {
    const stack = inject('stack');
    const dead = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'kwf-ops-'));
    const kubeconfig = join(dir, 'dead.yaml');
    writeFileSync(
      kubeconfig,
      readFileSync(stack.kubeconfig, 'utf8').replace(/server: https:\/\/[^\s]+/, `server: https://127.0.0.1:${dead}`),
    );
    const healthPort = await freePort();
    worker(
      {
        KUBECONFIG: kubeconfig,
        TEMPORAL_TASK_QUEUE: `${h.taskQueue}-dead`,
        KUBE_WORKFLOWS_HEALTH_PORT: String(healthPort),
      },
      [],
    );
    const base = `http://127.0.0.1:${healthPort}`;
    await expect.poll(() => get(`${base}/healthz`), { timeout: 60_000, interval: 250 }).toMatchObject({ status: 200 });
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/cluster local: cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1/);
  });
});
