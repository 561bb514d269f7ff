/**
 * Node maintenance on the real stack. The test makes its own pool of three KWOK nodes (tainted, so no other test's
 * pods land there; the kwok controller runs them) and a Deployment of 4 pods (2 on the first node) with a
 * PodDisruptionBudget of minAvailable 3:
 * - draining the node with 2 pods evicts them one at a time within the budget (a watch on the pods proves at no
 *   point were fewer than 3 available), the pods land on the other nodes, the action webhook gets the node name,
 *   and the node ends uncordoned;
 * - an action webhook answering 500 fails the maintenance and the node is still uncordoned;
 * - with the budget exhausted (minAvailable = replicas) the drain escalates after `escalateAfter` with one signed
 *   alert to a local webhook receiver, the status names the blocking pods and their budget, and an `approveBypass`
 *   deletes them: the run succeeds, uncordoned, and the alert is resolved;
 * - a worker (a `kube-workflows worker` child process) SIGKILLed while the drain waits on the budget: another worker
 *   resumes the eviction round once its heartbeat times out, the drain finishes and the node ends uncordoned.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveObject, WatchEvent } from '../../src/kube/index.js';
import type { NodeMaintenanceHandle } from '../../src/client/index.js';
import type { NodeMaintenanceReport } from '../../src/schemas/node.js';
import { startReceiver, type ReceivedRequest, type TestReceiver } from '../support/http-receiver.js';
import { pollUntil } from '../support/poll.js';
import { recordHistory, useHarness, useKillableWorkers } from './harness.js';

const suffix = randomBytes(3).toString('hex');
const POOL = `drain-${suffix}`;
const NODES = [0, 1, 2].map((i) => `${POOL}-${i}`);
const TAINT = { key: 'kube-workflows.dev/test', value: 'drain', effect: 'NoSchedule' };
const secret = `whsec_${randomBytes(32).toString('base64')}`;

let hooks: TestReceiver;
let actions: TestReceiver;
let actionStatus = 200;
const alerts: { type: string; summary: string; labels: Record<string, string> }[] = [];

const h = useHarness('drain', {
  env: async () => {
    hooks = await startReceiver((req: ReceivedRequest) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { summary: string; labels?: Record<string, string> };
      };
      alerts.push({ type: payload.type, summary: payload.data.summary, labels: payload.data.labels ?? {} });
      return { status: 204 };
    });
    actions = await startReceiver(() => ({ status: actionStatus, body: actionStatus === 200 ? 'rebooted' : 'boom' }));
    const file = join(mkdtempSync(join(tmpdir(), 'kwf-drain-')), 'worker.yaml');
    writeFileSync(file, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    return { KUBE_WORKFLOWS_CONFIG: file, KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true' };
  },
});

const podsOf = async (): Promise<LiveObject[]> =>
  (await h.kube.list('v1', 'Pod', { namespace: h.namespace, labelSelector: 'app=web' })).items;
const nodeOf = (p: LiveObject): string => (p as { spec?: { nodeName?: string } }).spec?.nodeName ?? '';
const available = (p: LiveObject): boolean =>
  !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp &&
  !!(p.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );
const schedulable = async (name: string): Promise<boolean> =>
  !((await h.kube.get({ apiVersion: 'v1', kind: 'Node', name })) as { spec?: { unschedulable?: boolean } }).spec
    ?.unschedulable;
const perNode = async (): Promise<Record<string, number>> => {
  const out: Record<string, number> = {};
  for (const p of (await podsOf()).filter(available)) out[nodeOf(p)] = (out[nodeOf(p)] ?? 0) + 1;
  return out;
};

async function addNode(name: string): Promise<void> {
  await h.kube.apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
      labels: { 'kubernetes.io/hostname': name, 'node.kubernetes.io/pool': POOL, type: 'kwok' },
    },
    spec: { taints: [TAINT] },
  });
  await pollUntil(
    async () => {
      const n = await h.kube.get({ apiVersion: 'v1', kind: 'Node', name });
      return (n?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
    },
    (conditions) => conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    30_000,
  );
}

async function applyWeb(replicas: number): Promise<void> {
  await h.kube.apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: h.namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          nodeSelector: { 'node.kubernetes.io/pool': POOL },
          tolerations: [{ key: TAINT.key, operator: 'Exists', effect: 'NoSchedule' }],
          containers: [
            { name: 'app', image: 'registry.example/web:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          ],
        },
      },
    },
  });
}

async function setBudget(minAvailable: number): Promise<void> {
  await h.kube.apply({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web', namespace: h.namespace },
    spec: { minAvailable, selector: { matchLabels: { app: 'web' } } },
  });
  // the disruption controller has counted the pods under this spec
  await pollUntil(
    () => h.kube.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespace: h.namespace, name: 'web' }),
    (b) => {
      const st = b?.status as
        { observedGeneration?: number; currentHealthy?: number; desiredHealthy?: number } | undefined;
      return (
        st?.observedGeneration === b?.metadata.generation &&
        st?.desiredHealthy === minAvailable &&
        st?.currentHealthy === 4
      );
    },
    30_000,
  );
}

/** Watches the app's pods and keeps the lowest number available at any event (what the budget promises). */
function watchAvailability(): { min: () => number; stop: () => void } {
  const pods = new Map<string, LiveObject>();
  let min = Number.POSITIVE_INFINITY;
  const abort = new AbortController();
  void (async () => {
    const list = await h.kube.list('v1', 'Pod', { namespace: h.namespace, labelSelector: 'app=web' });
    for (const p of list.items) pods.set(p.metadata.name, p);
    min = [...pods.values()].filter(available).length;
    await h.kube.watch(
      'v1',
      'Pod',
      { namespace: h.namespace, labelSelector: 'app=web', resourceVersion: list.resourceVersion },
      (e: WatchEvent) => {
        if (e.type === 'BOOKMARK' || e.type === 'ERROR') return;
        if (e.type === 'DELETED') pods.delete(e.object.metadata.name);
        else pods.set(e.object.metadata.name, e.object);
        min = Math.min(min, [...pods.values()].filter(available).length);
      },
      abort.signal,
    );
  })();
  return { min: () => min, stop: () => abort.abort() };
}

beforeAll(async () => {
  // The first node alone takes the first two pods; the others then take the next two.
  await addNode(NODES[0] as string);
  await applyWeb(2);
  await pollUntil(perNode, (n) => n[NODES[0] as string] === 2, 30_000);
  await addNode(NODES[1] as string);
  await addNode(NODES[2] as string);
  await applyWeb(4);
  await pollUntil(perNode, (n) => Object.values(n).reduce((a, b) => a + b, 0) === 4, 30_000);
  await setBudget(3);
});

afterAll(async () => {
  await hooks?.close();
  await actions?.close();
  for (const name of NODES) await h.kube?.delete({ apiVersion: 'v1', kind: 'Node', name }).catch(() => undefined);
});

const k = useKillableWorkers(h, { env: () => ({ KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true' }) });

/** The run's report; after `ms` a failure that shows where the run is (its status query). */
async function reportOf(handle: NodeMaintenanceHandle, ms = 90_000): Promise<NodeMaintenanceReport> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void handle.status().then(
        (s) => reject(new Error(`no report after ${ms} ms; status: ${JSON.stringify(s)}`)),
        (e: unknown) => reject(new Error(`no report after ${ms} ms; status query failed: ${String(e)}`)),
      );
    }, ms);
  });
  try {
    return await Promise.race([handle.result(), late]);
  } finally {
    clearTimeout(timer);
  }
}

const maintain = async (node: string, input: Record<string, unknown> = {}): Promise<NodeMaintenanceReport> =>
  reportOf(await h.client.nodes.maintain({ node, poolLabel: 'node.kubernetes.io/pool', ...input }));

describe('maintainNode on the real stack', () => {
  it('evicts within the budget (never fewer than 3 available), the pods move, the action runs, the node is uncordoned', async () => {
    const target = NODES[0] as string;
    expect((await perNode())[target]).toBe(2);
    const watch = watchAvailability();
    const report = await maintain(target, { action: { webhook: { url: `${actions.url}/reboot`, timeout: '10s' } } });
    watch.stop();
    expect(report).toMatchObject({ outcome: 'succeeded', node: target, uncordoned: true, wasCordoned: false });
    expect(report.evicted).toHaveLength(2);
    expect(report.action).toEqual({ status: 'succeeded', message: 'action webhook answered 200' });
    expect(report.ready?.ready).toBe(true);
    expect(watch.min()).toBeGreaterThanOrEqual(3);
    const after = await perNode();
    expect(after[target]).toBeUndefined();
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBe(4);
    expect(await schedulable(target)).toBe(true);
    const call = actions.requests.at(-1);
    expect(JSON.parse(call?.body ?? '{}')).toMatchObject({ node: target, cluster: 'local' });
    expect(call?.headers['idempotency-key']).toMatch(/^node\/local\//);
  });

  it('a failing action webhook (500) fails the maintenance and still uncordons the node', async () => {
    const target = NODES[1] as string;
    actionStatus = 500;
    const report = await maintain(target, { action: { webhook: { url: `${actions.url}/reboot`, timeout: '10s' } } });
    actionStatus = 200;
    expect(report).toMatchObject({
      outcome: 'failed',
      action: { status: 'failed', message: 'action webhook answered 500: boom' },
      uncordoned: true,
    });
    expect(await schedulable(target)).toBe(true);
    await expect
      .poll(async () => Object.values(await perNode()).reduce((a, b) => a + b, 0), { timeout: 30_000 })
      .toBe(4);
  });

  it('with the budget exhausted: escalates with one alert, shows the blocking pods, and approveBypass finishes it', async () => {
    await setBudget(4);
    const target = Object.entries(await perNode()).find(([, n]) => n > 0)?.[0] as string;
    const handle = await h.client.nodes.maintain({
      node: target,
      poolLabel: 'node.kubernetes.io/pool',
      channels: ['hook'],
      drain: { escalateAfter: '3s', onBlocked: 'approve', timeout: '5m' },
    });
    await expect
      .poll(async () => (await handle.status()).phase, { timeout: 60_000, interval: 200 })
      .toBe('awaitingBypass');
    const status = await handle.status();
    expect(status.blocking.length).toBeGreaterThan(0);
    expect(status.blocking[0]?.pdbs).toEqual([`${h.namespace}/web`]);
    expect(alerts.filter((a) => a.type === 'alert.triggered')).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ labels: { alertname: 'NodeDrainBlocked', node: target } });
    expect(await schedulable(target)).toBe(false);
    const approved = await handle.approveBypass({ by: 'alice', reason: 'budget set to all replicas by mistake' });
    expect(approved.pods).toEqual(status.blocking.map((b) => b.pod));
    const report = await reportOf(handle);
    await recordHistory('node-maintain-bypass', handle.raw);
    expect(report).toMatchObject({ outcome: 'succeeded', uncordoned: true, escalated: { channels: ['hook'] } });
    expect(report.bypassed.map((b) => [b.pod, b.by])).toEqual(approved.pods.map((p) => [p, 'alice']));
    expect(report.blocked[0]?.forMs).toBeGreaterThanOrEqual(3000);
    expect(await schedulable(target)).toBe(true);
    expect(alerts.map((a) => a.type)).toEqual(['alert.triggered', 'alert.resolved']);
    await expect
      .poll(async () => Object.values(await perNode()).reduce((a, b) => a + b, 0), { timeout: 30_000 })
      .toBe(4);
  });

  it('a worker killed mid-drain: another worker finishes the drain and the node ends uncordoned', async () => {
    await setBudget(4); // nothing may leave: the drain stays in its eviction round until the budget changes
    const [target] = Object.entries(await perNode()).sort((a, b) => b[1] - a[1])[0] as [string, number];
    const first = k.workers.start();
    const handle = await k.client.nodes.maintain({
      node: target,
      poolLabel: 'node.kubernetes.io/pool',
      drain: { escalateAfter: '1h' },
    });
    await pollUntil(
      () => handle.status(),
      (s) => s.blocking.length > 0,
      60_000,
    );
    await k.workers.kill(first);
    expect(await schedulable(target)).toBe(false);
    k.workers.start();
    await setBudget(3);
    const report = await reportOf(handle, 120_000);
    expect(report).toMatchObject({ outcome: 'succeeded', uncordoned: true, wasCordoned: false });
    expect(report.evicted.length).toBeGreaterThan(0);
    expect(await schedulable(target)).toBe(true);
    await pollUntil(
      perNode,
      (n) => n[target] === undefined && Object.values(n).reduce((a, b) => a + b, 0) === 4,
      30_000,
    );
  });
});
