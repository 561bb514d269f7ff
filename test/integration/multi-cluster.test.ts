/**
 * The test stack's three clusters (`local`, `local-2`, `local-3`: own etcd and control plane each) for real: they
 * are independent, a worker configured from the stack's `stack.env` (or the harness's `clusters: true`) knows all
 * of them with their labels and deploys to the one a workflow names, and one of them can be stopped (unreachable,
 * while the others keep working) and started again with its data.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { controlPlanePids, parseEnvFile, startCluster, stopCluster } from '../../src/dev/index.js';
import { loadWorkerConfig } from '../../src/worker/index.js';
import { useHarness } from './harness.js';

const h = useHarness('multi', { clusters: true });

const configMap = (name: string, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: h.namespace },
  data,
});
const key = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name });

let stopped = false;
afterAll(async () => {
  // leave the shared stack as we found it, even when a test failed between stop and start
  if (stopped) await startCluster(inject('stack'), 'local-2');
});

describe('three local clusters', () => {
  it('are listed by the stack, cluster 1 first, each with its own API server and labels', () => {
    const stack = inject('stack');
    expect(stack.clusters.map((c) => [c.name, c.labels])).toEqual([
      ['local', { env: 'staging', region: 'r1', stack: 'local' }],
      ['local-2', { env: 'prod', region: 'r2', stack: 'local' }],
      ['local-3', { env: 'prod', region: 'r3', stack: 'local' }],
    ]);
    expect(new Set(stack.clusters.map((c) => c.apiServerUrl)).size).toBe(3);
    expect(stack.clusters[0]?.kwokName).toBe(stack.clusterName);
  });

  it('are independent: an object applied to local-2 is absent in local and local-3', async () => {
    await h.kubeOf('local-2').apply(configMap('only-on-2', { where: 'local-2' }));
    expect((await h.kubeOf('local-2').get(key('only-on-2')))?.data).toEqual({ where: 'local-2' });
    expect(await h.kubeOf('local-3').get(key('only-on-2'))).toBeUndefined();
    expect(await h.kubeOf('local').get(key('only-on-2'))).toBeUndefined();
  });

  it("are the worker's clusters, with their labels, when it is configured from stack.env", () => {
    const stack = inject('stack');
    const env = parseEnvFile(readFileSync(join(stack.dir, 'stack.env'), 'utf8'));
    const config = loadWorkerConfig(env);
    expect(config.clusters.default).toBe('local');
    expect(
      Object.fromEntries(Object.entries(config.clusters.entries).map(([name, entry]) => [name, entry.labels])),
    ).toEqual(Object.fromEntries(stack.clusters.map((c) => [c.name, c.labels])));
    expect([...h.worker.gateways.keys()].sort()).toEqual(['local', 'local-2', 'local-3']);
  });

  it('deploys to the cluster the workflow names', async () => {
    const manifests = JSON.stringify(configMap('deployed-to-3', { by: 'deployManifests' }));
    const handle = await h.client.deploy({ manifests, cluster: 'local-3', namespace: h.namespace, app: 'multi' });
    expect((await handle.result()).outcome).toBe('succeeded');
    expect((await h.kubeOf('local-3').get(key('deployed-to-3')))?.data).toEqual({ by: 'deployManifests' });
    expect(await h.kubeOf('local').get(key('deployed-to-3'))).toBeUndefined();
  });

  it('stopping local-2 makes it unreachable while local and local-3 keep working; starting it brings it back', async () => {
    const stack = inject('stack');
    const before = controlPlanePids(stack, { cluster: 'local-2' });
    const others = [controlPlanePids(stack), controlPlanePids(stack, { cluster: 'local-3' })];
    stopped = true;
    const killed = await stopCluster(stack, 'local-2');
    expect(Object.keys(killed).sort()).toEqual(Object.keys(before).sort());
    expect(controlPlanePids(stack, { cluster: 'local-2' })).toEqual({});
    await expect(h.kubeOf('local-2').ping()).rejects.toThrow();
    // the other clusters neither noticed nor lost a process
    expect([controlPlanePids(stack), controlPlanePids(stack, { cluster: 'local-3' })]).toEqual(others);
    await h.kubeOf('local').apply(configMap('while-2-is-down'));
    await h.kubeOf('local-3').apply(configMap('while-2-is-down'));
    expect(await h.kubeOf('local-3').get(key('while-2-is-down'))).toBeDefined();

    const after = await startCluster(stack, 'local-2');
    stopped = false;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(after['kube-apiserver']).not.toBe(before['kube-apiserver']);
    await expect(h.kubeOf('local-2').ping()).resolves.toBeTruthy();
    // etcd kept its data
    expect((await h.kubeOf('local-2').get(key('only-on-2')))?.data).toEqual({ where: 'local-2' });
  });
});
