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
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { createKubeGateway, isKubeApiError, type KubeGateway } from '../../src/kube/index.js';
import { watchKinds, type WatchedState } from '../../src/kube/watch.js';
import { compactEtcd } from '../support/etcd.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/poll.js';
import { ProxiedWatches } from '../support/proxied-watches.js';
import { deploymentObject } from '../support/workloads.js';
import { useHarness } from './harness.js';

const h = useHarness('watch-faults');
let proxy: FaultProxy;
/** A gateway through the proxy that gives up on a silent watch after 1.5 s (the default is 90 s). */
let proxied: KubeGateway;
/** The watches waitForHealth opens in the test namespace, through the proxy. */
let watches: ProxiedWatches;

const TEST_LABEL = 'kube-workflows.dev/watch-faults';
const COLLECTIONS = ['/deployments', '/replicasets', '/pods'] as const;

beforeAll(async () => {
  proxy = await FaultProxy.start({ kubeconfig: h.kubeconfig });
  proxied = await createKubeGateway('proxied', { kubeconfig: proxy.kubeconfig }, { watchIdleTimeoutMs: 1_500 });
  watches = new ProxiedWatches(proxy, h.namespace, COLLECTIONS);
});

afterAll(async () => {
  proxied?.close();
  await proxy?.close();
});

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
    await waitFor(watches.watchingAll, 'a watch on Deployments, ReplicaSets and Pods');

    // 1. 410 Expired on every open watch; the Deployments relist first meets a 429 with Retry-After. (With a
    // 1.5 s idle timeout the quiet watches also resume on their own between bookmarks, so a collection whose watch
    // was being resumed at the instant of the injection gets it on its next watch.)
    proxy.add({
      match: { method: 'GET', watch: false, path: watches.inNamespace('/deployments') },
      fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      times: 1,
    });
    await watches.expireEvery();
    for (const c of COLLECTIONS) {
      expect(watches.requestsFor(c, true).some((w) => w.injectedErrors.includes(410))).toBe(true);
    }
    expect(
      watches
        .requestsFor('/deployments', false)
        .slice(-2)
        .map((r) => r.status),
    ).toEqual([429, 200]);

    // 2. Dropped connections: each watch resumes from the resourceVersion it had, without a list.
    await watches.dropEvery();

    // 3. Stalls: the client gives up on the silent watches after 1.5 s and resumes them, still without a list.
    await waitFor(watches.watchingAll, 'the watches');
    const beforeStall = watches.listCounts();
    const stalled = COLLECTIONS.map((c) => proxy.openWatches({ path: watches.inNamespace(c) })[0]);
    expect(proxy.stallWatches({ path: watches.inNamespace('/') })).toBe(3);
    await waitFor(() => stalled.every((w) => w?.closed) && watches.watchingAll(), 'the stalled watches to be replaced');
    expect(watches.listCounts()).toEqual(beforeStall);

    // Only now does the Deployment exist: everything it takes to become ready arrives through the healed watches.
    await h.kube.apply(
      deploymentObject({
        name: 'web',
        namespace: h.namespace,
        replicas: 2,
        container: 'web',
        image: 'registry.example/web:1.0.0',
      }),
    );
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
      const eventsPath = watches.inNamespace('/events');
      await waitFor(() => synced && proxy.openWatches({ path: eventsPath }).length === 1, 'the Events list+watch');
      expect(seen).toEqual(['first', 'second']);
      const [open] = proxy.openWatches({ path: eventsPath });
      const heldVersion = open?.query.get('resourceVersion') ?? '';

      // The watch hears nothing more; meanwhile the collection changes and etcd forgets its history.
      proxy.stallWatches({ path: eventsPath });
      await h.kube.delete({ apiVersion: 'v1', kind: 'Event', namespace: h.namespace, name: 'first' });
      await h.kube.apply(event('third'));
      const compactedTo = await compactEtcd(inject('stack').dir);
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
      const eventWatches = proxy.matching({ path: eventsPath, watch: true });
      const resumed = eventWatches[1];
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
