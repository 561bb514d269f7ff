/**
 * A monitor whose worker reaches the cluster through the fault proxy (test/support/fault-proxy.ts): its watches
 * meet injected 410 Expired events, a throttled relist and dropped connections before, during and after an
 * incident, and a GENUINE 410 (etcd compacted under watches that were blind while the target broke). Each
 * incident must still alert exactly once and resolve exactly once — counted as distinct Standard Webhooks message
 * ids, as test/integration/monitor-durability.test.ts does — and the proxy's request log must show the watches
 * relisting after every 410 and resuming without a list after every drop. A table of fault-to-alert times and
 * watch requests is printed at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { MonitorHandle } from '../../src/client/index.js';
import { restartApiServer } from '../../src/dev/index.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { compactEtcd } from '../support/etcd.js';
import { FaultProxy, type ProxiedRequest } from '../support/fault-proxy.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { waitFor } from '../support/poll.js';
import { ProxiedWatches } from '../support/proxied-watches.js';
import { deploymentObject } from '../support/workloads.js';
import { useHarness } from './harness.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let proxy: FaultProxy;
/** The monitor's watches in the test namespace, through the proxy. */
let watches: ProxiedWatches;
let hooks: TestReceiver;
/** Verified webhook deliveries, in arrival order. */
const verified: { id: string; type: string; source: string; at: number }[] = [];

const h = useHarness('monfaults', {
  env: async () => {
    proxy = await FaultProxy.start({ kubeconfig: inject('stack').kubeconfig });
    watches = new ProxiedWatches(proxy, h.namespace, COLLECTIONS);
    hooks = await startReceiver((req) => {
      const p = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { source: string };
      };
      verified.push({ id: String(req.headers['webhook-id']), type: p.type, source: p.data.source, at: Date.now() });
      return { status: 204 };
    });
    const file = join(mkdtempSync(join(tmpdir(), 'kwf-monfaults-')), 'worker.yaml');
    writeFileSync(file, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    // the harness's worker reaches the cluster through the proxy; the test's own access (h.kube) does not
    return { KUBECONFIG: proxy.kubeconfig, KUBE_WORKFLOWS_CONFIG: file };
  },
});

/** One incident of the printed table. */
interface Row {
  incident: string;
  faults: string;
  faultToTriggerMs: number;
  fixToResolveMs: number;
  triggers: number;
  resolves: number;
}
const table: Row[] = [];

afterAll(async () => {
  await hooks?.close();
  const requests = proxy?.requests ?? [];
  await proxy?.close();
  const incidents = table.map(
    (r) =>
      `${r.incident.padEnd(34)} ${r.faults.padEnd(44)} ${(r.faultToTriggerMs / 1000).toFixed(1).padStart(8)}s ${(r.fixToResolveMs / 1000).toFixed(1).padStart(8)}s ${String(r.triggers).padStart(3)} ${String(r.resolves).padStart(3)}`,
  );
  const perCollection = COLLECTIONS.map((c) => {
    const mine = watches ? requests.filter((r) => r.path.includes(watches.inNamespace(c))) : [];
    const watchRequests = mine.filter((r) => r.watch);
    return `${c.slice(1).padEnd(13)} lists ${String(mine.filter((r) => !r.watch).length).padStart(3)}  watches ${String(watchRequests.length).padStart(3)}  injected 410 ${String(watchRequests.filter((w) => w.injectedErrors.includes(410)).length).padStart(3)}  genuine 410 ${String(watchRequests.filter((w) => w.upstreamErrors.includes(410)).length).padStart(2)}`;
  });
  process.stderr.write(
    `\n[monitor fault table]\n${'incident'.padEnd(34)} ${'faults'.padEnd(44)} ${'->trigger'.padStart(9)} ${'->resolve'.padStart(9)} trg res\n${incidents.join('\n')}\n[watch requests through the proxy]\n${perCollection.join('\n')}\n`,
  );
});

/**
 * The collections a monitor of Deployments watches in a namespace: the three workload kinds (the whole namespace,
 * so that a deleted workload is told from a relabelled one), and Pods and ReplicaSets for fail-fast reasons.
 */
const COLLECTIONS = ['/deployments', '/statefulsets', '/daemonsets', '/replicasets', '/pods'] as const;

function deployment(name: string, chaos?: string): KubeObject {
  const image = `registry.example/${name}:${chaos ? '2' : '1'}`;
  return deploymentObject({ name, namespace: h.namespace, labels: { app: name }, replicas: 2, image, chaos });
}

/** Distinct message ids of one type for one target. */
const distinct = (type: string, source: string): string[] => [
  ...new Set(verified.filter((v) => v.type === type && v.source === source).map((v) => v.id)),
];

/** When the first message of a type for a target arrived. */
const firstAt = (type: string, source: string): number =>
  verified.find((v) => v.type === type && v.source === source)?.at ?? NaN;

/**
 * Adds incident `key` to the printed table: its trigger timed from `faultAt`, its resolve from `fixedAt`, and how
 * many distinct trigger and resolve messages it sent.
 */
function tabulate(row: Pick<Row, 'incident' | 'faults'>, key: string, faultAt: number, fixedAt: number): void {
  table.push({
    ...row,
    faultToTriggerMs: firstAt('alert.triggered', key) - faultAt,
    fixToResolveMs: firstAt('alert.resolved', key) - fixedAt,
    triggers: distinct('alert.triggered', key).length,
    resolves: distinct('alert.resolved', key).length,
  });
}

async function stateOf(m: MonitorHandle, key: string): Promise<string | undefined> {
  return (await m.status()).targets.find((t) => t.key === key)?.state;
}

async function monitorOf(name: string): Promise<{ key: string; m: MonitorHandle }> {
  const key = `Deployment/${h.namespace}/${name}`;
  await h.kube.apply(deployment(name));
  const m = await h.client.monitor({
    name: `${name}-${h.namespace}`,
    targets: [{ type: 'kube', namespace: h.namespace, selector: `app=${name}` }],
    channels: ['hook'],
    forSeconds: 2,
    keepAliveSeconds: 30,
  });
  await expect.poll(() => stateOf(m, key), { timeout: 60_000, interval: 250 }).toBe('healthy');
  await waitFor(watches.watchingAll, 'a watch on every collection', 60_000);
  return { key, m };
}

/**
 * The attempt of every observation the monitor has scheduled and not finished: one observation, on its first
 * attempt, means the watch faults never failed it (a failed attempt would be retried, with a full re-report).
 */
async function observationAttempts(m: MonitorHandle): Promise<number[]> {
  const events = (await m.raw.fetchHistory()).events ?? [];
  const scheduled = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'observeHealth',
  );
  expect(scheduled).toHaveLength(1);
  const pending = (await m.raw.describe()).raw.pendingActivities ?? [];
  return pending.filter((a) => a.activityType?.name === 'observeHealth').map((a) => a.attempt ?? 0);
}

/** Stops a monitor and waits until its watches are closed, so the next test's watches are the only ones. */
async function stop(m: MonitorHandle): Promise<void> {
  await m.stop();
  await m.raw.result().catch(() => undefined); // cancelled
  await waitFor(() => proxy.openWatches({ path: watches.inNamespace('/') }).length === 0, 'the watches to close');
}

describe('a monitor whose watches go through the fault proxy', () => {
  it('injected 410s, a throttled relist and dropped connections before, during and after an incident: one trigger, one resolve', async () => {
    const { key, m } = await monitorOf('web');
    const listsAtStart = watches.listCounts();

    // healthy: faults alone never alert
    await watches.expireEvery();
    await watches.dropEvery();

    // the break, with the watches expired (the Deployments' relist throttled once) and dropped as it degrades
    const brokeAt = Date.now();
    await h.kube.apply(deployment('web', 'crash'));
    proxy.add({
      match: { method: 'GET', watch: false, path: watches.inNamespace('/deployments') },
      fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      times: 1,
    });
    await watches.expireEvery();
    await watches.dropEvery();
    await expect.poll(() => distinct('alert.triggered', key).length, { timeout: 60_000, interval: 250 }).toBe(1);
    expect(await stateOf(m, key)).toBe('degraded');

    // while the incident is open: relists and resumes must not re-fire it
    await watches.expireEvery();
    await watches.dropEvery();

    // the fix, with faults while it recovers
    const fixedAt = Date.now();
    await h.kube.apply(deployment('web'));
    await watches.expireEvery();
    await watches.dropEvery();
    await expect.poll(() => distinct('alert.resolved', key).length, { timeout: 60_000, interval: 250 }).toBe(1);
    await expect.poll(() => stateOf(m, key), { timeout: 30_000, interval: 250 }).toBe('healthy');

    const status = (await m.status()).targets.find((t) => t.key === key);
    expect(status?.incidents).toBe(1); // a re-fire would have opened a second incident
    expect(verified.filter((v) => v.source === key && v.at < brokeAt)).toEqual([]);
    expect(distinct('alert.triggered', key), JSON.stringify(verified)).toHaveLength(1);
    expect(distinct('alert.resolved', key), JSON.stringify(verified)).toHaveLength(1);
    // 4 rounds of 410s: every collection relisted at least 4 times, and every 410 was an injected one
    watches.listCounts().forEach((n, i) => expect(n - (listsAtStart[i] ?? 0)).toBeGreaterThanOrEqual(4));
    for (const c of COLLECTIONS) {
      const collectionWatches = watches.requestsFor(c, true);
      expect(collectionWatches.filter((w) => w.injectedErrors.includes(410)).length).toBeGreaterThanOrEqual(4);
    }
    expect(watches.requestsFor('/deployments', false).filter((r) => r.status === 429)).toHaveLength(1);
    expect(await observationAttempts(m)).toEqual([1]); // the observation rode it all out, never failed
    tabulate(
      { incident: 'web: crash loop, then fixed', faults: '4× (410 on every watch, drop every watch)' },
      key,
      brokeAt,
      fixedAt,
    );
    await stop(m);
  });

  it('a break made while the watches were blind arrives through a genuine 410 (etcd compacted, kube-apiserver restarted) and a relist: one trigger, one resolve', async () => {
    const { key, m } = await monitorOf('api');
    const blind = COLLECTIONS.map((c) => proxy.openWatches({ path: watches.inNamespace(c) })[0]);
    expect(proxy.stallWatches({ path: watches.inNamespace('/') })).toBe(COLLECTIONS.length);

    // the watches hear nothing from here on; meanwhile the target breaks and etcd forgets the history
    const brokeAt = Date.now();
    await h.kube.apply(deployment('api', 'crash'));
    await expect
      .poll(
        async () => {
          const pods = await h.kube.list('v1', 'Pod', { namespace: h.namespace, labelSelector: 'app=api' });
          return pods.items.filter((p) => JSON.stringify(p.status ?? {}).includes('CrashLoopBackOff')).length;
        },
        { timeout: 30_000, interval: 250 },
      )
      .toBeGreaterThanOrEqual(1); // the rollout stops at its first crash-looping pod (maxUnavailable 0)
    const compactedTo = await compactEtcd(inject('stack').dir);
    // Compaction alone expires nothing here: kube-apiserver serves these collections from its watch cache, which
    // still holds the events (the watches would resume and replay them). A restart rebuilds the cache from etcd at
    // its current revision, so the real server now refuses the watches' versions with 410.
    await restartApiServer(inject('stack'), { downMs: 1_000 });
    expect(verified.filter((v) => v.source === key)).toEqual([]); // blind: nothing seen, nothing sent

    // the connections drop (those the restart did not end): each watch resumes from the version it held, meets
    // the real 410, relists
    const listsBefore = COLLECTIONS.map((c) => watches.requestsFor(c, false).filter((r) => r.status === 200).length);
    const healedAt = Date.now();
    proxy.dropConnections({ watch: true, path: watches.inNamespace('/') });
    await expect.poll(() => distinct('alert.triggered', key).length, { timeout: 60_000, interval: 250 }).toBe(1);
    await waitFor(watches.watchingAll, 'the watches after the relist');
    COLLECTIONS.forEach((c, i) => {
      const collectionWatches = watches.requestsFor(c, true);
      const held = Number(blind[i]?.query.get('resourceVersion'));
      const after = collectionWatches.slice(collectionWatches.indexOf(blind[i] as ProxiedRequest) + 1);
      const expired = after.find((w) => w.upstreamErrors.includes(410));
      expect(expired, `${c}: ${JSON.stringify(after.map((w) => [w.status, w.upstreamErrors]))}`).toBeDefined();
      expect(Number(expired?.query.get('resourceVersion')), c).toBeGreaterThanOrEqual(held);
      expect(Number(expired?.query.get('resourceVersion')), c).toBeLessThan(compactedTo);
      expect(expired?.injectedErrors, c).toEqual([]);
      // one successful relist per collection, after which it watches from a version past the compaction
      expect(watches.requestsFor(c, false).filter((r) => r.status === 200).length, c).toBe((listsBefore[i] ?? 0) + 1);
      expect(Number(watches.requestsFor(c, true).at(-1)?.query.get('resourceVersion')), c).toBeGreaterThanOrEqual(
        compactedTo,
      );
    });

    const fixedAt = Date.now();
    await h.kube.apply(deployment('api'));
    await expect.poll(() => distinct('alert.resolved', key).length, { timeout: 60_000, interval: 250 }).toBe(1);
    await expect.poll(() => stateOf(m, key), { timeout: 30_000, interval: 250 }).toBe('healthy');
    expect((await m.status()).targets.find((t) => t.key === key)?.incidents).toBe(1);
    expect(distinct('alert.triggered', key), JSON.stringify(verified)).toHaveLength(1);
    expect(distinct('alert.resolved', key), JSON.stringify(verified)).toHaveLength(1);
    expect(await observationAttempts(m)).toEqual([1]);
    tabulate(
      { incident: 'api: crash loop while blind, fixed', faults: 'blind, etcd compacted, apiserver restart' },
      key,
      healedAt,
      fixedAt,
    );
    expect(firstAt('alert.triggered', key)).toBeGreaterThan(brokeAt);
    await stop(m);
  });
});
