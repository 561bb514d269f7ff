/**
 * Watches against the real kube-apiserver of the local stack, through the fault proxy (test/support/fault-proxy.ts):
 * waitForHealth survives an injected 410, a dropped connection, a stall and a throttled relist, and still sees
 * its Deployment become ready; and a GENUINE 410 (etcd compacted under a watch) makes watchKinds relist and
 * converge.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeployActivities } from '../../src/activities/deploy.js';
import type { HealthResult } from '../../src/activities/types.js';
import { readStackState } from '../../src/dev/index.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { createKubeGateway, isKubeApiError, type KubeGateway } from '../../src/kube/index.js';
import { watchKinds, type WatchedState } from '../../src/kube/watch.js';
import { FaultProxy, type ProxiedRequest } from '../support/fault-proxy.js';
import { useHarness } from './harness.js';

const h = useHarness('watch-faults');
let proxy: FaultProxy;
/** A gateway through the proxy that gives up on a silent watch after 1.5 s (the default is 90 s). */
let proxied: KubeGateway;

beforeAll(async () => {
  proxy = await FaultProxy.start({ kubeconfig: h.kubeconfig });
  proxied = await createKubeGateway('proxied', { kubeconfig: proxy.kubeconfig }, { watchIdleTimeoutMs: 1_500 });
});

afterAll(async () => {
  proxied?.close();
  await proxy?.close();
});

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 50, message: `timed out waiting for ${what}` }).toBe(true);
}

const TEST_LABEL = 'kube-workflows.dev/watch-faults';
const COLLECTIONS = ['/deployments', '/replicasets', '/pods'] as const;

/** A path prefix in the test namespace. */
const inNamespace = (suffix: string): string => `/namespaces/${h.namespace}${suffix}`;

/** The proxy's requests for one collection of the test namespace. */
function requestsFor(collection: string, watch: boolean): ProxiedRequest[] {
  return proxy.matching({ path: inNamespace(collection), watch });
}

/** True when each of the three collections waitForHealth watches has exactly one open, unstalled watch. */
function watchingAll(): boolean {
  return COLLECTIONS.every((c) => proxy.openWatches({ path: inNamespace(c) }).filter((w) => !w.stalled).length === 1);
}

const listCounts = (): number[] => COLLECTIONS.map((c) => requestsFor(c, false).length);

describe('watches through the fault proxy', () => {
  it('waitForHealth survives an injected 410, a throttled relist, a dropped connection and a stall, then sees the Deployment ready', async () => {
    const activities = createDeployActivities({ gateway: () => proxied, policy: DEFAULT_POLICY });
    const subject = `Deployment/${h.namespace}/web`;
    const waiting: Promise<HealthResult> = new MockActivityEnvironment().run(
      (input: Parameters<typeof activities.waitForHealth>[0]) => activities.waitForHealth(input),
      {
        cluster: 'proxied',
        objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web', subject }],
        deadlineMs: Date.now() + 150_000,
        timeoutSeconds: 150,
      },
    );
    await waitFor(watchingAll, 'a watch on Deployments, ReplicaSets and Pods');

    // 1. 410 Expired on every open watch; the Deployments relist first meets a 429 with Retry-After. (With a
    // 1.5 s idle timeout the quiet watches also resume on their own between bookmarks, so a collection whose watch
    // was being resumed at the instant of the injection gets it on its next watch.)
    proxy.add({
      match: { method: 'GET', watch: false, path: inNamespace('/deployments') },
      fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      times: 1,
    });
    const before410 = listCounts();
    await waitFor(() => {
      const lists = listCounts();
      COLLECTIONS.forEach((c, i) => {
        if (lists[i] === before410[i]) proxy.injectWatchError({ code: 410, match: { path: inNamespace(c) } });
      });
      return lists.every((n, i) => n > (before410[i] ?? 0)) && watchingAll();
    }, 'a relist of every collection after its 410');
    for (const c of COLLECTIONS) expect(requestsFor(c, true).some((w) => w.injectedErrors.includes(410))).toBe(true);
    expect(
      requestsFor('/deployments', false)
        .slice(-2)
        .map((r) => r.status),
    ).toEqual([429, 200]);

    // 2. Dropped connections: each watch resumes from the resourceVersion it had, without a list.
    await waitFor(watchingAll, 'the watches');
    const beforeDrop = listCounts();
    const dropped = COLLECTIONS.map((c) => proxy.openWatches({ path: inNamespace(c) })[0]);
    expect(proxy.dropConnections({ watch: true, path: inNamespace('/') })).toBe(3);
    await waitFor(
      () => watchingAll() && COLLECTIONS.every((c, i) => requestsFor(c, true).at(-1) !== dropped[i]),
      'resumed watches',
    );
    COLLECTIONS.forEach((c, i) => {
      const resumed = Number(requestsFor(c, true).at(-1)?.query.get('resourceVersion'));
      expect(resumed).toBeGreaterThanOrEqual(Number(dropped[i]?.query.get('resourceVersion')));
    });
    expect(listCounts()).toEqual(beforeDrop);

    // 3. Stalls: the client gives up on the silent watches after 1.5 s and resumes them, still without a list.
    await waitFor(watchingAll, 'the watches');
    const beforeStall = listCounts();
    const stalled = COLLECTIONS.map((c) => proxy.openWatches({ path: inNamespace(c) })[0]);
    expect(proxy.stallWatches({ path: inNamespace('/') })).toBe(3);
    await waitFor(() => stalled.every((w) => w?.closed) && watchingAll(), 'the stalled watches to be replaced');
    expect(listCounts()).toEqual(beforeStall);

    // Only now does the Deployment exist: everything it takes to become ready arrives through the healed watches.
    await h.kube.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: h.namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example/web:1.0.0' }] },
        },
      },
    });
    const result = await waiting;
    expect(result.outcome).toBe('Current');
    expect(result.objects).toEqual([expect.objectContaining({ subject, status: 'Current' })]);
  });

  it('a genuine 410 (etcd compacted under a watch) makes watchKinds relist and converge', async () => {
    // Events have no watch cache in kube-apiserver: their watches read etcd, so compaction expires them for real.
    const event = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: h.namespace, labels: { [TEST_LABEL]: 'genuine-410' } },
      involvedObject: { kind: 'ConfigMap', name: 'watched', namespace: h.namespace, apiVersion: 'v1' },
      reason: 'WatchFaultTest',
      message: `event ${name}`,
      type: 'Normal',
    });
    await h.kube.apply(event('first'));
    await h.kube.apply(event('second'));

    const stop = new AbortController();
    let seen: string[] = [];
    let synced = false;
    const watching = watchKinds(
      proxied,
      // The Deployment of the other test makes controllers write Events here too: watch only this test's.
      [{ apiVersion: 'v1', kind: 'Event', namespace: h.namespace, labelSelector: `${TEST_LABEL}=genuine-410` }],
      (state: WatchedState, isSynced) => {
        seen = [...state.values()].map((o) => o.metadata.name).sort();
        synced = isSynced;
      },
      stop.signal,
      { idleTimeoutMs: 120_000 }, // this watch must only resume when the test drops it
    );
    try {
      const eventsPath = inNamespace('/events');
      await waitFor(() => synced && proxy.openWatches({ path: eventsPath }).length === 1, 'the Events list+watch');
      expect(seen).toEqual(['first', 'second']);
      const [open] = proxy.openWatches({ path: eventsPath });
      const heldVersion = open?.query.get('resourceVersion') ?? '';

      // The watch hears nothing more; meanwhile the collection changes and etcd forgets its history.
      proxy.stallWatches({ path: eventsPath });
      await h.kube.delete({ apiVersion: 'v1', kind: 'Event', namespace: h.namespace, name: 'first' });
      await h.kube.apply(event('third'));
      const compactedTo = await compactEtcd();
      expect(compactedTo).toBeGreaterThan(Number(heldVersion));

      // The real API server now refuses that resourceVersion with 410 (an ERROR event on the watch stream).
      const direct = await h.kube
        .watch(
          'v1',
          'Event',
          { namespace: h.namespace, resourceVersion: heldVersion, timeoutSeconds: 5 },
          () => undefined,
          new AbortController().signal,
        )
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(isKubeApiError(direct) && direct.status).toBe(410);

      // Drop the stalled watch: watchKinds resumes from the version it holds, meets the genuine 410, relists.
      const listsBefore = proxy.matching({ path: eventsPath, watch: false }).length;
      proxy.dropConnections({ path: eventsPath, watch: true });
      await waitFor(() => JSON.stringify(seen) === JSON.stringify(['second', 'third']), 'convergence after the relist');
      const watches = proxy.matching({ path: eventsPath, watch: true });
      const resumed = watches[1];
      expect(resumed?.query.get('resourceVersion')).toBe(heldVersion);
      expect(resumed?.upstreamErrors).toEqual([410]);
      expect(resumed?.injectedErrors).toEqual([]);
      expect(proxy.matching({ path: eventsPath, watch: false })).toHaveLength(listsBefore + 1);
      await waitFor(() => proxy.openWatches({ path: eventsPath }).length === 1, 'the watch after the relist');
      expect(Number(proxy.openWatches({ path: eventsPath })[0]?.query.get('resourceVersion'))).toBeGreaterThanOrEqual(
        compactedTo,
      );
    } finally {
      stop.abort();
      await watching;
    }
  });
});

/**
 * Compacts the stack's etcd to its current revision through etcd's v3 HTTP gateway (kwokctl runs etcd on plain
 * http on 127.0.0.1) and returns that revision.
 */
async function compactEtcd(): Promise<number> {
  const state = readStackState(inject('stack').dir);
  if (!state) throw new Error('no stack state file: cannot find etcd');
  const etcd = `http://127.0.0.1:${state.clusterPorts.etcd}`;
  const post = async (path: string, body: unknown): Promise<{ header?: { revision?: string } }> => {
    const res = await fetch(`${etcd}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  // Any key will do: the answer's header carries the store's current revision.
  const { header } = await post('/v3/kv/range', { key: Buffer.from('kube-workflows-test').toString('base64') });
  const revision = Number(header?.revision);
  if (!Number.isFinite(revision) || revision <= 0) throw new Error(`etcd gave no revision: ${JSON.stringify(header)}`);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
