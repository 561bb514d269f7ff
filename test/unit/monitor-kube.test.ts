/**
 * The monitor's view of kube targets (src/activities/monitor-kube.ts) over watch caches built from the health
 * fixtures (objects read from a real API server): which collections are watched, missing and deleted objects,
 * relabelled objects, kinds whose deletion is routine, CronJobs judged by their runs, resource thresholds with their
 * own window. Plus the per-target `for` window of the incident machine and the kube target schema's errors.
 * The watches themselves run against the real cluster in test/integration/monitor-breadth.test.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeAssessor, kubeWatchTargets, type MetricsRead } from '../../src/activities/monitor-kube.js';
import { nextDeadline, observe, restoreIncidents, tick } from '../../src/domain/incidents.js';
import type { LiveObject, WatchedState } from '../../src/kube/index.js';
import type { z } from 'zod';
import { MonitorTarget, type KubeTarget } from '../../src/schemas/monitor.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/health/', import.meta.url));
const NOW = new Date('2025-09-15T10:15:00Z');

function docs(name: string): LiveObject[] {
  return parseAllDocuments(readFileSync(`${FIXTURES}${name}`, 'utf8')).map((d) => d.toJS() as LiveObject);
}

/** A watch cache holding these objects. */
function cache(...objects: LiveObject[]): WatchedState {
  return new Map(objects.map((o) => [`${o.apiVersion}|${o.kind}|${o.metadata.namespace ?? ''}|${o.metadata.name}`, o]));
}

function kube(spec: Omit<Partial<z.input<typeof KubeTarget>>, 'type'>): Extract<MonitorTarget, { type: 'kube' }> {
  const t = MonitorTarget.parse({ type: 'kube', ...spec });
  if (t.type !== 'kube') throw new Error('not a kube target');
  return t;
}

const cart = docs('deployment-available.yaml')[0] as LiveObject; // shop/cart, labels part-of=shop
const relabelled = { ...cart, metadata: { ...cart.metadata, labels: { 'app.kubernetes.io/part-of': 'other' } } };
const noMetrics = new Map<string, MetricsRead>();

function observations(a: KubeAssessor, state: WatchedState, metrics = noMetrics) {
  return Object.fromEntries(a.assess(state, NOW, metrics).observations.map((o) => [o.key, o]));
}

describe('KubeAssessor: missing and deleted objects', () => {
  const bySelectorSpec = {
    namespace: 'shop',
    selector: 'app.kubernetes.io/part-of=shop',
    kinds: ['Deployment' as const],
  };
  const bySelector = kube(bySelectorSpec);

  it('a selected Deployment that is deleted stays a target, unhealthy, saying it was deleted', () => {
    const a = new KubeAssessor([bySelector], {});
    expect(observations(a, cache(cart))['Deployment/shop/cart']).toMatchObject({ healthy: true });
    expect(observations(a, cache())['Deployment/shop/cart']).toEqual({
      key: 'Deployment/shop/cart',
      healthy: false,
      message: 'NotFound Deleted: Deployment/shop/cart was deleted',
    });
    // it comes back: an ordinary observation again
    expect(observations(a, cache(cart))['Deployment/shop/cart']).toMatchObject({ healthy: true });
  });

  it('an object the workflow knew, gone before this observation started, counts as deleted', () => {
    const a = new KubeAssessor([bySelector], { 'Deployment/shop/cart': true, 'http:site': true });
    expect(observations(a, cache())['Deployment/shop/cart']?.message).toBe(
      'NotFound Deleted: Deployment/shop/cart was deleted',
    );
  });

  it('an object relabelled out of the selector is no longer a target: the user took it out', () => {
    const a = new KubeAssessor([bySelector], {});
    observations(a, cache(cart));
    expect(observations(a, cache(relabelled))).toEqual({});
  });

  it('a deleted object is claimed by the target that matched it, not by another of its kind and namespace', () => {
    const other = kube({ namespace: 'shop', selector: 'app.kubernetes.io/part-of=other', kinds: ['Deployment'] });
    const quiet = kube({ ...bySelectorSpec, ignoreDeletions: true });
    const a = new KubeAssessor([quiet, other], {});
    expect(Object.keys(observations(a, cache(cart)))).toEqual(['Deployment/shop/cart']);
    expect(observations(a, cache())).toEqual({});
  });

  it('with ignoreDeletions a deleted object is forgotten', () => {
    const a = new KubeAssessor(
      [kube({ namespace: 'shop', selector: 'app.kubernetes.io/part-of=shop', ignoreDeletions: true })],
      {},
    );
    observations(a, cache(cart));
    expect(observations(a, cache())).toEqual({});
  });

  it('a named object that never existed is missing; once seen and gone, deleted', () => {
    const a = new KubeAssessor([kube({ namespace: 'shop', names: ['cart', 'ghost'], kinds: ['Deployment'] })], {});
    const first = observations(a, cache(cart));
    expect(first['Deployment/shop/ghost']).toMatchObject({
      healthy: false,
      message: 'NotFound Missing: Deployment/shop/ghost does not exist',
    });
    expect(observations(a, cache())['Deployment/shop/cart']?.message).toBe(
      'NotFound Deleted: Deployment/shop/cart was deleted',
    );
  });

  it('Pods, Jobs and Nodes matched by a selector come and go by design: their deletion is forgotten', () => {
    const [pod] = docs('pod-ready.yaml') as [LiveObject];
    const target = kube({ namespace: pod.metadata.namespace ?? '', kinds: ['Pod'] });
    const a = new KubeAssessor([target], {});
    const key = `Pod/${pod.metadata.namespace}/${pod.metadata.name}`;
    expect(observations(a, cache(pod))[key]).toMatchObject({ healthy: true });
    expect(observations(a, cache())).toEqual({});
  });
});

describe('KubeAssessor: more kinds', () => {
  it('a Node target is cluster-scoped, keyed Node/<name>, unhealthy when NotReady', () => {
    const [node] = docs('node-not-ready.yaml') as [LiveObject];
    const a = new KubeAssessor([kube({ kinds: ['Node'], names: ['spare-1'] })], {});
    expect(observations(a, cache(node))['Node/spare-1']).toEqual({
      key: 'Node/spare-1',
      healthy: false,
      message: 'Failed NodeNotReady: Ready=False KubeletNotReady: container runtime is down',
    });
  });

  it('a CronJob is judged by its runs, and maxSinceSuccess sets when it is due again', () => {
    const objects = docs('cronjob-succeeded.yaml');
    const a = new KubeAssessor([kube({ namespace: 'shop', kinds: ['CronJob'], maxSinceSuccess: '10m' })], {});
    const assessed = a.assess(cache(...objects), NOW, noMetrics);
    expect(assessed.observations).toEqual([
      {
        key: 'CronJob/shop/report',
        healthy: true,
        message: 'Current LastRunSucceeded: last successful run at 2025-09-15T10:12:01.000Z',
      },
    ]);
    expect(assessed.recheckAt?.toISOString()).toBe('2025-09-15T10:22:01.001Z');
    const failed = new KubeAssessor([kube({ namespace: 'shop', kinds: ['CronJob'] })], {});
    expect(observations(failed, cache(...docs('cronjob-last-run-failed.yaml')))['CronJob/shop/billing']).toMatchObject({
      healthy: false,
      message: expect.stringMatching(/^Failed LastRunFailed: last run Job shop\/billing-29932032 failed/),
    });
  });

  it('a Pending PVC is unhealthy (the for window decides when it alerts)', () => {
    const [pvc] = docs('pvc-pending.yaml') as [LiveObject];
    const a = new KubeAssessor(
      [kube({ namespace: pvc.metadata.namespace ?? '', kinds: ['PersistentVolumeClaim'] })],
      {},
    );
    const key = `PersistentVolumeClaim/${pvc.metadata.namespace}/${pvc.metadata.name}`;
    expect(observations(a, cache(pvc))[key]).toMatchObject({
      healthy: false,
      message: expect.stringMatching(/^InProgress NotBound/),
    });
  });

  it('a resource threshold is one more target per workload, with its own window; unreadable metrics are unhealthy', () => {
    const objects = docs('resource-usage-web.yaml');
    const pods = objects.filter((o) => o.kind === 'Pod');
    const samples = objects.filter((o) => o.kind === ('PodMetrics' as string));
    const owner = pods[0]?.metadata as { ownerReferences?: { uid: string; name: string }[] };
    const rs = owner.ownerReferences?.[0];
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop', uid: 'dep-uid' },
      spec: { replicas: 2 },
      status: { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
    } as unknown as LiveObject;
    const replicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rs?.name,
        namespace: 'shop',
        uid: rs?.uid,
        ownerReferences: [{ uid: 'dep-uid', kind: 'Deployment', name: 'web' }],
      },
    } as unknown as LiveObject;
    const target = kube({
      namespace: 'shop',
      names: ['web'],
      kinds: ['Deployment'],
      resources: { cpu: { above: '80%', for: '2m' } },
    });
    const a = new KubeAssessor([target], {});
    const state = cache(deployment, replicaSet, ...pods);
    expect(observations(a, state)['cpu:Deployment/shop/web']).toBeUndefined(); // metrics not read yet
    const read = new Map<string, MetricsRead>([['shop', { samples: samples }]]);
    expect(observations(a, state, read)['cpu:Deployment/shop/web']).toMatchObject({
      healthy: false,
      forSeconds: 120,
      message: expect.stringMatching(/^cpu at 300% of requests \(600m of 200m, 2 pods;/),
    });
    const broken = new Map<string, MetricsRead>([
      ['shop', { error: 'the server could not find the requested resource' }],
    ]);
    expect(observations(a, state, broken)['cpu:Deployment/shop/web']).toMatchObject({
      healthy: false,
      message: 'cannot read PodMetrics: the server could not find the requested resource',
    });
  });
});

describe('kubeWatchTargets', () => {
  it('drops the selector where deletions are tracked, keeps it where not, and adds the namespace collections', () => {
    const targets = kubeWatchTargets([
      kube({ namespace: 'shop', selector: 'tier=web', kinds: ['Deployment', 'CronJob'] }),
      kube({ namespace: 'shop', selector: 'tier=web', kinds: ['StatefulSet'], ignoreDeletions: true }),
      kube({ kinds: ['Node'], selector: 'pool=gpu' }),
    ]);
    expect(targets.map((t) => `${t.kind} ${t.namespace ?? '-'} ${t.labelSelector ?? '-'}`)).toEqual([
      'Deployment shop -',
      'CronJob shop -',
      'Pod shop -',
      'ReplicaSet shop -',
      'Job shop -',
      'StatefulSet shop tier=web',
      'Node - pool=gpu',
    ]);
  });
});

describe('a target with a for window of its own', () => {
  const rules = { workflowId: 'monitor/shop', forSeconds: 60, keepAliveSeconds: 120 };
  const T0 = Date.UTC(2026, 0, 1);

  it('stays pending for its own window, not the monitor’s, and fires once after it', () => {
    let state = observe(
      restoreIncidents(),
      { observations: [{ key: 'cpu:Deployment/shop/web', healthy: false, message: 'cpu at 300%', forSeconds: 120 }] },
      T0,
    );
    expect(nextDeadline(state, T0, rules)).toBe(120_000);
    const early = tick(state, T0 + 90_000, rules);
    expect(early.effects).toEqual([]);
    state = early.state;
    const late = tick(state, T0 + 120_000, rules);
    expect(late.effects.map((e) => `${e.kind} ${e.dedupKey}`)).toEqual([
      'trigger monitor/shop/cpu:Deployment/shop/web/1',
    ]);
  });
});

describe('kube target schema', () => {
  const error = (spec: object): string => {
    const r = MonitorTarget.safeParse({ type: 'kube', ...spec });
    return r.success ? 'valid' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };

  it('names the field that is wrong', () => {
    expect(error({ kinds: ['Deployment'] })).toBe(
      'namespace: a namespace is required for Deployment (only Nodes are cluster-scoped)',
    );
    expect(error({ namespace: 'shop', kinds: ['Node'] })).toBe(
      'kinds: Nodes are cluster-scoped: watch them in a target of their own, without namespace',
    );
    expect(error({ namespace: 'shop', maxSinceSuccess: '1h' })).toBe(
      'maxSinceSuccess: maxSinceSuccess applies to CronJobs: add CronJob to kinds',
    );
    expect(error({ namespace: 'shop', resources: { cpu: { above: '80' } } })).toBe(
      'resources.cpu.above: a percentage above 0, such as "80%"',
    );
    expect(error({ kinds: ['Node'], resources: { cpu: { above: '80%' } } })).toBe(
      'resources: resource thresholds measure pods: add one of Deployment, StatefulSet, DaemonSet, Pod, Job to kinds',
    );
    expect(error({ namespace: 'shop', resources: { cpu: { above: '80%', for: 'soon' } } })).toMatch(
      /^resources\.cpu\.for: /,
    );
  });

  it('parsing is idempotent, so continue-as-new carries targets unchanged', () => {
    const once = MonitorTarget.parse({
      type: 'kube',
      namespace: 'shop',
      kinds: ['CronJob'],
      maxSinceSuccess: '26h',
      resources: undefined,
    });
    expect(MonitorTarget.parse(once)).toEqual(once);
    const withResources = MonitorTarget.parse({
      type: 'kube',
      namespace: 'shop',
      resources: { memory: { above: '90%', for: '5m' } },
    });
    expect(MonitorTarget.parse(withResources)).toEqual(withResources);
  });
});
