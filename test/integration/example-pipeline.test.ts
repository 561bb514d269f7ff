/**
 * examples/release-pipeline on the real stack, as a user would run it: their own worker (createKubeActivities +
 * their workflows file, which re-exports kube-workflows/workflows/registry) on their own task queue, and their
 * pipeline written with the task library: deploy to staging (cluster `local`) → analysis of the staging workloads'
 * health → a person's approval (signal) → deploy to prod (`local-2`) → scale up → start a monitor.
 */
import { randomBytes } from 'node:crypto';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadWorkerConfig } from '../../src/worker/index.js';
import type { ReleaseInput, ReleaseResult } from '../../examples/release-pipeline/release.js';
import { useHarness } from './harness.js';

const h = useHarness('release', { clusters: true });
const releaseQueue = `release-${randomBytes(3).toString('hex')}`;
let release: { worker: Worker; close(): Promise<void> } | undefined;
let connection: NativeConnection | undefined;
let running: Promise<void> | undefined;

beforeAll(async () => {
  const stack = inject('stack');
  connection = await NativeConnection.connect({ address: stack.temporalAddress });
  const config = loadWorkerConfig({
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    TEMPORAL_TASK_QUEUE: releaseQueue,
    KUBE_WORKFLOWS_CONFIG: stack.workerConfigFile,
  });
  const modulePath = '../../examples/release-pipeline/worker.mjs'; // plain JS, as a user runs it with node
  const { createReleaseWorker } = (await import(modulePath)) as {
    createReleaseWorker: (
      c: typeof config,
      conn: NativeConnection,
    ) => Promise<{ worker: Worker; close(): Promise<void> }>;
  };
  release = await createReleaseWorker(config, connection);
  running = release.worker.run();
}, 240_000);

afterAll(async () => {
  release?.worker.shutdown();
  await running;
  await release?.close();
  await connection?.close();
});

const manifests = (ns: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${ns}, labels: { app.kubernetes.io/part-of: rel } }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "registry.example/web:1" }] }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: web-config, namespace: ${ns}, labels: { app.kubernetes.io/part-of: rel } }
data: { release: "1" }
`;

describe('examples/release-pipeline', () => {
  it('staging → check → approval → prod → scale → monitor, each on the right cluster', async () => {
    const input: ReleaseInput = {
      manifests: manifests(h.namespace),
      namespace: h.namespace,
      app: 'rel',
      selector: 'app.kubernetes.io/part-of=rel',
      deployment: 'web',
      stagingCluster: 'local',
      prodCluster: 'local-2',
      prodReplicas: 3,
    };
    const handle = await h.client.temporal.workflow.start('releasePipeline', {
      taskQueue: releaseQueue,
      workflowId: `release/${h.namespace}`,
      args: [input],
    });
    await expect
      .poll(() => handle.query<string[]>('releaseSteps'), { timeout: 120_000, interval: 250 })
      .toContain('waiting for approval');
    // staging is deployed, prod untouched until someone approves
    expect(
      await h.kubeOf('local').get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'web-config' }),
    ).toBeTruthy();
    expect(
      await h
        .kubeOf('local-2')
        .get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'web-config' }),
    ).toBeUndefined();

    await handle.signal('approveRelease', { by: 'test' });
    const result = (await handle.result()) as ReleaseResult;
    expect(result).toMatchObject({ outcome: 'released', monitor: 'monitor/rel-local-2' });
    expect(result.steps).toEqual([
      'staging: succeeded',
      'check: successful',
      'waiting for approval',
      'approved by test',
      'prod: succeeded',
      'prod scaled 1 → 3',
      'monitor: monitor/rel-local-2',
    ]);
    const prodWeb = (await h
      .kubeOf('local-2')
      .get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' })) as unknown as {
      spec: { replicas: number };
    };
    expect(prodWeb.spec.replicas).toBe(3);
    const stagingWeb = (await h
      .kubeOf('local')
      .get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' })) as unknown as {
      spec: { replicas: number };
    };
    expect(stagingWeb.spec.replicas).toBe(1);
    // the operations ran as children under their canonical ids (their locks), the monitor outlives the pipeline
    const children = ['deploy/local', 'deploy/local-2'].map((c) => `${c}/${h.namespace}/rel`);
    for (const id of children) {
      expect((await h.client.temporal.workflow.getHandle(id).describe()).status.name).toBe('COMPLETED');
    }
    const monitor = h.client.temporal.workflow.getHandle('monitor/rel-local-2');
    expect((await monitor.describe()).status.name).toBe('RUNNING');
    await monitor.terminate('test over');
  });
});
