/**
 * The pure decisions of a node maintenance (src/domain/node-maintenance.ts) on fixtures: which pods a drain
 * evicts, skips or refuses; which budgets hold a pod and when the eviction is not even asked for; the preflight
 * verdicts (control plane, last schedulable node of a pool, degraded pool, room, exhausted budgets); node
 * readiness; quantities; and how long pods stayed blocked.
 */
import { describe, expect, it } from 'vitest';
import {
  BlockedClock,
  budgetsOf,
  capacityCheck,
  cpuMillis,
  decidePod,
  evictionGate,
  memoryBytes,
  nodeReadiness,
  nodeWorkflowId,
  parseQuantity,
  planDrain,
  poolOf,
  preflight,
  type PreflightOptions,
} from '../../src/domain/node-maintenance.js';
import type { NodeFacts, PdbFacts, PodFacts } from '../../src/schemas/node.js';

const Gi = 2 ** 30;

function pod(name: string, over: Partial<PodFacts> = {}): PodFacts {
  return {
    namespace: 'shop',
    name,
    uid: `uid-${name}`,
    labels: { app: 'web' },
    controllerKind: 'ReplicaSet',
    mirror: false,
    emptyDir: false,
    ready: true,
    terminal: false,
    terminating: false,
    requests: { cpuMillis: 500, memoryBytes: Gi },
    ...over,
  };
}

function node(name: string, over: Partial<NodeFacts> = {}): NodeFacts {
  return {
    name,
    labels: { 'node.kubernetes.io/pool': 'workers' },
    unschedulable: false,
    ready: true,
    problems: [],
    allocatable: { cpuMillis: 4000, memoryBytes: 16 * Gi, pods: 110 },
    requested: { cpuMillis: 1000, memoryBytes: 2 * Gi, pods: 5 },
    ...over,
  };
}

function pdb(name: string, disruptionsAllowed: number, over: Partial<PdbFacts> = {}): PdbFacts {
  return {
    namespace: 'shop',
    name,
    selector: { matchLabels: { app: 'web' } },
    disruptionsAllowed,
    stale: false,
    ...over,
  };
}

const policies = { emptyDir: 'refuse', unmanagedPods: 'refuse' } as const;
const options: PreflightOptions = {
  ...policies,
  maxUnavailable: 1,
  force: { controlPlane: false, degraded: false, capacity: false },
};

describe('which pods a drain moves', () => {
  it('skips DaemonSet and mirror pods and evicts pods a controller recreates', () => {
    expect(decidePod(pod('ds', { controllerKind: 'DaemonSet' }), policies)).toMatchObject({ action: 'skip' });
    expect(decidePod(pod('static', { mirror: true, controllerKind: 'Node' }), policies)).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/mirror/),
    });
    expect(decidePod(pod('web-1'), policies)).toEqual({ action: 'evict' });
  });

  it('refuses unmanaged and emptyDir pods unless the policy allows deleting them', () => {
    const bare = pod('bare', { controllerKind: undefined });
    const scratch = pod('scratch', { emptyDir: true });
    expect(decidePod(bare, policies)).toMatchObject({
      action: 'refuse',
      reason: expect.stringMatching(/no controller/),
    });
    expect(decidePod(scratch, policies)).toMatchObject({ action: 'refuse', reason: expect.stringMatching(/emptyDir/) });
    const allow = { emptyDir: 'delete', unmanagedPods: 'delete' } as const;
    expect(decidePod(bare, allow)).toEqual({ action: 'evict' });
    expect(decidePod(scratch, allow)).toEqual({ action: 'evict' });
  });

  it('evicts finished pods whatever the policies: nothing is lost', () => {
    expect(decidePod(pod('job', { controllerKind: undefined, emptyDir: true, terminal: true }), policies)).toEqual({
      action: 'evict',
    });
  });

  it('planDrain splits a node’s pods and names them namespace/name', () => {
    const plan = planDrain(
      [pod('a'), pod('ds', { controllerKind: 'DaemonSet' }), pod('bare', { controllerKind: undefined })],
      policies,
    );
    expect(plan.evict.map((p) => p.name)).toEqual(['a']);
    expect(plan.skip.map((s) => s.pod)).toEqual(['shop/ds']);
    expect(plan.refuse.map((s) => s.pod)).toEqual(['shop/bare']);
  });
});

describe('budgets', () => {
  it('matches budgets by namespace and selector (matchLabels and matchExpressions)', () => {
    const p = pod('web-1', { labels: { app: 'web', tier: 'front' } });
    const budgets = [
      pdb('by-label', 1),
      pdb('other-ns', 1, { namespace: 'other' }),
      pdb('by-expr', 1, { selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] } }),
      pdb('no-match', 1, { selector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] } }),
      pdb('null-selector', 1, { selector: undefined }),
    ];
    expect(budgetsOf(p, budgets).map((b) => b.name)).toEqual(['by-label', 'by-expr']);
  });

  it('does not ask for a Ready pod whose budget allows no disruption, naming the budget', () => {
    expect(evictionGate(pod('web-1'), [pdb('web', 0)])).toEqual({
      ask: false,
      pdbs: ['shop/web'],
      message: 'shop/web allows 0 disruptions now',
    });
    expect(evictionGate(pod('web-1'), [pdb('web', 1)])).toEqual({ ask: true });
    expect(evictionGate(pod('web-1'), [])).toEqual({ ask: true });
  });

  it('asks anyway for an unready pod or a budget the controller has not counted yet (the API server decides)', () => {
    expect(evictionGate(pod('web-1', { ready: false }), [pdb('web', 0)])).toEqual({ ask: true });
    expect(evictionGate(pod('web-1'), [pdb('web', 0, { stale: true })])).toEqual({ ask: true });
  });

  it('reports a pod two budgets select as blocked: the API server refuses to evict it', () => {
    const gate = evictionGate(pod('web-1'), [pdb('a', 5), pdb('b', 5)]);
    expect(gate).toMatchObject({ ask: false, pdbs: ['shop/a', 'shop/b'] });
  });
});

describe('preflight', () => {
  const others = [node('n2'), node('n3')];

  it('passes a worker with room elsewhere, warning about budgets at zero', () => {
    const v = preflight({ node: node('n1'), others, pods: [pod('web-1')], pdbs: [pdb('web', 0)] }, options);
    expect(v.refusals).toEqual([]);
    expect(v.exhaustedBudgets).toEqual(['shop/web']);
    expect(v.warnings.join('\n')).toMatch(/allowing 0 disruptions now: shop\/web/);
  });

  it('refuses a control-plane node unless forced', () => {
    const cp = node('cp1', { labels: { 'node-role.kubernetes.io/control-plane': '' } });
    const peers = [node('cp2', { labels: { 'node-role.kubernetes.io/control-plane': '' } })];
    expect(preflight({ node: cp, others: peers, pods: [], pdbs: [] }, options).refusals).toEqual([
      'cp1 is a control-plane node (force.controlPlane to maintain it)',
    ]);
    const forced = { ...options, force: { ...options.force, controlPlane: true } };
    expect(preflight({ node: cp, others: peers, pods: [], pdbs: [] }, forced).refusals).toEqual([]);
  });

  it('refuses the last Ready schedulable node of its pool; nodes of other pools do not count', () => {
    const gpu = { 'node.kubernetes.io/pool': 'gpu' };
    const peers = [node('g2', { labels: gpu, unschedulable: true }), node('n2'), node('n3')];
    const v = preflight({ node: node('g1', { labels: gpu }), others: peers, pods: [], pdbs: [] }, options);
    expect(v.refusals).toEqual([
      'g1 is the last Ready schedulable node of pool node.kubernetes.io/pool=gpu: its pods would have nowhere to go',
    ]);
  });

  it('never cordons the last Ready schedulable node of a cluster without pools', () => {
    const bare = (name: string, over: Partial<NodeFacts> = {}): NodeFacts => node(name, { labels: {}, ...over });
    const v = preflight(
      { node: bare('a'), others: [bare('b', { ready: false })], pods: [], pdbs: [] },
      {
        ...options,
        force: { ...options.force, degraded: true },
      },
    );
    expect(v.refusals).toEqual([
      'a is the last Ready schedulable node of the cluster: its pods would have nowhere to go',
    ]);
  });

  it('refuses while other nodes of the pool are NotReady, unless forced or maxUnavailable leaves room', () => {
    const facts = { node: node('n1'), others: [node('n2', { ready: false }), node('n3')], pods: [], pdbs: [] };
    expect(preflight(facts, options).refusals).toEqual([
      'pool node.kubernetes.io/pool=workers is already degraded: n2 NotReady (maxUnavailable 1) (force.degraded to go on)',
    ]);
    expect(preflight(facts, { ...options, maxUnavailable: 2 }).refusals).toEqual([]);
    const forced = preflight(facts, { ...options, force: { ...options.force, degraded: true } });
    expect(forced.refusals).toEqual([]);
    expect(forced.warnings[0]).toMatch(/already degraded/);
  });

  it('refuses pods the policies refuse, naming each', () => {
    const v = preflight(
      { node: node('n1'), others, pods: [pod('bare', { controllerKind: undefined }), pod('ok')], pdbs: [] },
      options,
    );
    expect(v.refusals).toEqual([
      'pod shop/bare: no controller owns it: it would not be recreated (unmanagedPods: delete)',
    ]);
  });

  it('refuses when the other nodes clearly lack room (sum of requests vs free allocatable), unless forced', () => {
    const full = { requested: { cpuMillis: 3800, memoryBytes: 15 * Gi, pods: 20 } };
    const facts = {
      node: node('n1'),
      others: [node('n2', full), node('n3', full)],
      pods: [
        pod('a', { requests: { cpuMillis: 300, memoryBytes: Gi } }),
        pod('b', { requests: { cpuMillis: 300, memoryBytes: Gi } }),
      ],
      pdbs: [],
    };
    const v = preflight(facts, options);
    expect(v.capacity).toEqual({
      needed: { cpuMillis: 600, memoryBytes: 2 * Gi, pods: 2 },
      free: { cpuMillis: 400, memoryBytes: 2 * Gi, pods: 180 },
      nodes: ['n2', 'n3'],
    });
    expect(v.refusals).toEqual([
      'the other Ready nodes of pool node.kubernetes.io/pool=workers lack room for the evicted pods: cpu 600m needed, 400m free (force.capacity to go on)',
    ]);
    expect(preflight(facts, { ...options, force: { ...options.force, capacity: true } }).refusals).toEqual([]);
  });

  it('counts only Ready schedulable nodes as room, and not pods already leaving', () => {
    const c = capacityCheck(
      [pod('a'), pod('gone', { terminating: true }), pod('done', { terminal: true })],
      [node('n2')],
    );
    expect(c.needed).toEqual({ cpuMillis: 500, memoryBytes: Gi, pods: 1 });
    expect(c.free).toEqual({ cpuMillis: 3000, memoryBytes: 14 * Gi, pods: 105 });
  });

  it('warns that a node cordoned before the run stays cordoned', () => {
    const v = preflight({ node: node('n1', { unschedulable: true }), others, pods: [], pdbs: [] }, options);
    expect(v.warnings).toContain('n1 was already cordoned before this run: it stays cordoned afterwards');
  });

  it('finds the pool by the input’s label or the well-known ones', () => {
    expect(poolOf({ labels: { 'cloud.google.com/gke-nodepool': 'p1' } })).toEqual({
      label: 'cloud.google.com/gke-nodepool',
      value: 'p1',
    });
    expect(poolOf({ labels: { team: 'a' } }, 'team')).toEqual({ label: 'team', value: 'a' });
    expect(poolOf({ labels: {} })).toBeUndefined();
  });
});

describe('node readiness', () => {
  it('is Ready=True with every pressure and network condition False', () => {
    const ok = [
      { type: 'Ready', status: 'True' },
      { type: 'MemoryPressure', status: 'False' },
      { type: 'DiskPressure', status: 'False' },
    ];
    expect(nodeReadiness(ok)).toEqual({ ready: true, problems: [] });
  });

  it('names each problem', () => {
    const bad = [
      { type: 'Ready', status: 'False', reason: 'KubeletNotReady' },
      { type: 'DiskPressure', status: 'True' },
      { type: 'NetworkUnavailable', status: 'Unknown' },
    ];
    expect(nodeReadiness(bad)).toEqual({
      ready: false,
      problems: ['Ready=False (KubeletNotReady)', 'DiskPressure=True', 'NetworkUnavailable=Unknown'],
    });
    expect(nodeReadiness([]).problems).toEqual(['Ready=Unknown']);
  });
});

describe('quantities', () => {
  it('reads CPU and memory as the API writes them', () => {
    expect(cpuMillis('100m')).toBe(100);
    expect(cpuMillis('1.5')).toBe(1500);
    expect(cpuMillis('7910m')).toBe(7910);
    expect(cpuMillis(2)).toBe(2000);
    expect(memoryBytes('128Mi')).toBe(128 * 2 ** 20);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(memoryBytes('1e3')).toBe(1000);
    expect(memoryBytes('30Gi')).toBe(30 * Gi);
    expect(cpuMillis(undefined)).toBe(0);
    expect(parseQuantity('12 cores')).toBeNaN();
  });
});

describe('BlockedClock', () => {
  it('knows since when pods are blocked without a break, and how long each was blocked in all', () => {
    const c = new BlockedClock();
    c.observe([{ pod: 'shop/a', pdbs: ['shop/web'] }], 1000);
    c.observe(
      [
        { pod: 'shop/a', pdbs: ['shop/web'] },
        { pod: 'shop/b', pdbs: [] },
      ],
      3000,
    );
    expect(c.blockedSince).toBe(1000);
    c.observe([{ pod: 'shop/b', pdbs: [] }], 6000);
    c.observe([], 7000);
    expect(c.blockedSince).toBeUndefined();
    c.observe([{ pod: 'shop/a', pdbs: ['shop/web'] }], 10_000);
    expect(c.blockedSince).toBe(10_000);
    expect(c.report(12_000)).toEqual([
      { pod: 'shop/a', pdbs: ['shop/web'], forMs: 5000 + 2000 },
      { pod: 'shop/b', pdbs: [], forMs: 4000 },
    ]);
  });
});

it('names a node operation node/<cluster>/<node>', () => {
  expect(nodeWorkflowId({ cluster: 'local', node: 'kwok-node-0' })).toBe('node/local/kwok-node-0');
});
