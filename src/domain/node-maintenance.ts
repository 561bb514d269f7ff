/**
 * The decisions of a node maintenance, as pure functions over facts the activities read: which pods a drain
 * evicts, skips or refuses (`kubectl drain`'s filters: DaemonSet and mirror pods stay, emptyDir and unmanaged pods
 * by policy), which PodDisruptionBudgets hold a pod, the preflight verdict (never a control-plane node unless
 * forced, never the last Ready schedulable node of its pool, not while other nodes of the pool are NotReady, not
 * when the other nodes clearly lack room), node readiness with its problem conditions, quantities, and the
 * bookkeeping of how long pods stayed blocked. Deterministic: the workflow and the activities both use it.
 * @module
 */
import type { NodeFacts, PdbFacts, PodFacts } from '../schemas/node.js';
import { matches, SelectorOperator, type LabelRequirement, type LabelSelector } from './selectors.js';

/** Annotation our cordon writes (the run's workflow id): a retried cordon knows the node is ours to uncordon. */
export const CORDONED_BY_ANNOTATION = 'kube-workflows.dev/cordoned-by';

/** Labels that name a node's pool, tried in this order when the input names none (generic, GKE, EKS, AKS, Karpenter). */
export const POOL_LABELS: readonly string[] = [
  'node.kubernetes.io/pool',
  'cloud.google.com/gke-nodepool',
  'eks.amazonaws.com/nodegroup',
  'kubernetes.azure.com/agentpool',
  'agentpool',
  'karpenter.sh/nodepool',
];

/** Label of control-plane nodes (kubeadm and most distributions). */
export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';

/** Node conditions that must be False for a node to take pods again (Ready must be True). */
export const PROBLEM_CONDITIONS: readonly string[] = [
  'MemoryPressure',
  'DiskPressure',
  'PIDPressure',
  'NetworkUnavailable',
];

/** `namespace/name` of a pod: how reports, queries and updates name it. */
export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

// --- which pods leave ---------------------------------------------------------------------------------------------

/** The drain's pod policies. */
export interface PodPolicies {
  emptyDir: 'delete' | 'refuse';
  unmanagedPods: 'delete' | 'refuse';
}

/** What a drain does with one pod. */
export type PodDecision =
  { action: 'evict' } | { action: 'skip'; reason: string } | { action: 'refuse'; reason: string };

/** Decides one pod: skip DaemonSet and mirror pods, refuse emptyDir / unmanaged pods unless allowed, evict the rest. */
export function decidePod(pod: PodFacts, policy: PodPolicies): PodDecision {
  if (pod.mirror) return { action: 'skip', reason: 'mirror pod (static, managed by the kubelet)' };
  if (pod.controllerKind === 'DaemonSet') return { action: 'skip', reason: 'DaemonSet pod (tolerates the cordon)' };
  if (pod.terminal) return { action: 'evict' }; // finished: nothing is lost, nothing counts against a budget
  if (!pod.controllerKind && policy.unmanagedPods === 'refuse')
    return { action: 'refuse', reason: 'no controller owns it: it would not be recreated (unmanagedPods: delete)' };
  if (pod.emptyDir && policy.emptyDir === 'refuse')
    return { action: 'refuse', reason: 'it has an emptyDir volume whose data would be lost (emptyDir: delete)' };
  return { action: 'evict' };
}

/** The pods of a node split by decision. */
export interface DrainPlan {
  evict: PodFacts[];
  skip: { pod: string; reason: string }[];
  refuse: { pod: string; reason: string }[];
}

/** Splits a node's pods into those to evict, skip and refuse. */
export function planDrain(pods: readonly PodFacts[], policy: PodPolicies): DrainPlan {
  const plan: DrainPlan = { evict: [], skip: [], refuse: [] };
  for (const pod of pods) {
    const d = decidePod(pod, policy);
    if (d.action === 'evict') plan.evict.push(pod);
    else plan[d.action].push({ pod: podKey(pod), reason: d.reason });
  }
  return plan;
}

// --- budgets ------------------------------------------------------------------------------------------------------

/** A `metav1.LabelSelector` as a parsed selector; undefined (a null selector) selects nothing. */
export function selectorFromSpec(spec: PdbFacts['selector']): LabelSelector | undefined {
  if (!spec) return undefined;
  const requirements: LabelRequirement[] = Object.entries(spec.matchLabels ?? {}).map(([key, value]) => ({
    key,
    operator: SelectorOperator.Equals,
    values: [value],
  }));
  for (const e of spec.matchExpressions ?? []) {
    const operator = (
      { In: SelectorOperator.In, NotIn: SelectorOperator.NotIn, Exists: SelectorOperator.Exists } as Record<
        string,
        LabelRequirement['operator']
      >
    )[e.operator];
    requirements.push({
      key: e.key,
      operator: operator ?? SelectorOperator.DoesNotExist,
      values: [...(e.values ?? [])].sort(),
    });
  }
  return { requirements };
}

/** The budgets of the pod's namespace whose selector matches it. */
export function budgetsOf(pod: PodFacts, pdbs: readonly PdbFacts[]): PdbFacts[] {
  return pdbs.filter((b) => {
    if (b.namespace !== pod.namespace) return false;
    const selector = selectorFromSpec(b.selector);
    return selector !== undefined && matches(selector, pod.labels);
  });
}

/** Whether to ask the API server for an eviction now, or report the pod blocked without asking. */
export type EvictionGate = { ask: true } | { ask: false; pdbs: string[]; message: string };

/**
 * Asks only when the API server could say yes: a Ready pod whose budget allows no disruption (and whose status is
 * current) would get 429, so it is reported blocked without the call; a pod with two budgets is refused by the
 * API server whatever they allow. A pod that is not Ready is always asked for: the API server may evict it
 * (unhealthy pods do not count against a budget that is met).
 */
export function evictionGate(pod: PodFacts, pdbs: readonly PdbFacts[]): EvictionGate {
  const budgets = budgetsOf(pod, pdbs);
  const names = budgets.map(podKey);
  if (budgets.length > 1)
    return { ask: false, pdbs: names, message: `more than one PodDisruptionBudget selects it (the API refuses)` };
  const budget = budgets[0];
  if (budget && pod.ready && !pod.terminal && !budget.stale && budget.disruptionsAllowed <= 0)
    return { ask: false, pdbs: names, message: `${podKey(budget)} allows 0 disruptions now` };
  return { ask: true };
}

// --- preflight ----------------------------------------------------------------------------------------------------

/** The node's pool (the value of the pool label), or undefined when it has none. */
export function poolOf(
  node: Pick<NodeFacts, 'labels'>,
  poolLabel?: string,
): { label: string; value: string } | undefined {
  for (const label of poolLabel ? [poolLabel] : POOL_LABELS) {
    const value = node.labels[label];
    if (value !== undefined) return { label, value };
  }
  return undefined;
}

/** Options of {@link preflight}. */
export interface PreflightOptions extends PodPolicies {
  poolLabel?: string | undefined;
  maxUnavailable: number;
  force: { controlPlane: boolean; degraded: boolean; capacity: boolean };
}

/** Room on the other nodes for the pods that leave, in the scheduler's units. */
export interface CapacityCheck {
  needed: { cpuMillis: number; memoryBytes: number; pods: number };
  free: { cpuMillis: number; memoryBytes: number; pods: number };
  /** Nodes counted as room: Ready, schedulable, same pool. */
  nodes: string[];
}

/** The preflight verdict: refusals stop the run before any write; warnings go into the report. */
export interface PreflightVerdict {
  refusals: string[];
  warnings: string[];
  plan: DrainPlan;
  capacity: CapacityCheck;
  /** `namespace/name` of the budgets that allow no disruption now. */
  exhaustedBudgets: string[];
}

/**
 * Judges whether maintaining `node` is safe now. Refuses a control-plane node (unless forced), the last Ready
 * schedulable node of its pool, a pool with more NotReady nodes than `maxUnavailable` leaves room for (unless
 * forced), pods the policies refuse, and a drain whose pods' requests clearly exceed the room left on the pool's
 * other Ready schedulable nodes (unless forced). Budgets that allow no disruption are warnings: the drain waits for
 * them, then escalates.
 */
export function preflight(
  facts: { node: NodeFacts; others: readonly NodeFacts[]; pods: readonly PodFacts[]; pdbs: readonly PdbFacts[] },
  options: PreflightOptions,
): PreflightVerdict {
  const { node } = facts;
  const refusals: string[] = [];
  const warnings: string[] = [];
  if (CONTROL_PLANE_LABEL in node.labels && !options.force.controlPlane)
    refusals.push(`${node.name} is a control-plane node (force.controlPlane to maintain it)`);
  const pool = poolOf(node, options.poolLabel);
  const peers = facts.others.filter((n) => {
    if (!pool) return !(CONTROL_PLANE_LABEL in n.labels) || CONTROL_PLANE_LABEL in node.labels;
    return n.labels[pool.label] === pool.value;
  });
  const poolName = pool ? `pool ${pool.label}=${pool.value}` : 'the cluster';
  const room = peers.filter((n) => n.ready && !n.unschedulable);
  if (room.length === 0)
    refusals.push(`${node.name} is the last Ready schedulable node of ${poolName}: its pods would have nowhere to go`);
  const notReady = peers.filter((n) => !n.ready).map((n) => n.name);
  if (notReady.length + 1 > options.maxUnavailable) {
    const text = `${poolName} is already degraded: ${notReady.join(', ')} NotReady (maxUnavailable ${options.maxUnavailable})`;
    if (notReady.length && !options.force.degraded) refusals.push(`${text} (force.degraded to go on)`);
    else if (notReady.length) warnings.push(text);
  }
  const plan = planDrain(facts.pods, options);
  for (const r of plan.refuse) refusals.push(`pod ${r.pod}: ${r.reason}`);
  const capacity = capacityCheck(plan.evict, room);
  const short = shortfall(capacity);
  if (short.length) {
    const text = `the other Ready nodes of ${poolName} lack room for the evicted pods: ${short.join('; ')}`;
    if (options.force.capacity) warnings.push(text);
    else refusals.push(`${text} (force.capacity to go on)`);
  }
  const exhaustedBudgets = [
    ...new Set(
      plan.evict.flatMap((p) =>
        budgetsOf(p, facts.pdbs)
          .filter((b) => b.disruptionsAllowed <= 0)
          .map(podKey),
      ),
    ),
  ].sort();
  if (exhaustedBudgets.length)
    warnings.push(`PodDisruptionBudgets allowing 0 disruptions now: ${exhaustedBudgets.join(', ')} (the drain waits)`);
  if (node.unschedulable && node.cordonedBy === undefined)
    warnings.push(`${node.name} was already cordoned before this run: it stays cordoned afterwards`);
  return { refusals, warnings, plan, capacity, exhaustedBudgets };
}

/** Requests of the pods that leave vs free allocatable of the nodes that may take them. */
export function capacityCheck(leaving: readonly PodFacts[], room: readonly NodeFacts[]): CapacityCheck {
  const moving = leaving.filter((p) => !p.terminal && !p.terminating);
  const needed = {
    cpuMillis: sum(moving.map((p) => p.requests.cpuMillis)),
    memoryBytes: sum(moving.map((p) => p.requests.memoryBytes)),
    pods: moving.length,
  };
  const free = {
    cpuMillis: sum(room.map((n) => Math.max(0, n.allocatable.cpuMillis - n.requested.cpuMillis))),
    memoryBytes: sum(room.map((n) => Math.max(0, n.allocatable.memoryBytes - n.requested.memoryBytes))),
    pods: sum(room.map((n) => Math.max(0, n.allocatable.pods - n.requested.pods))),
  };
  return { needed, free, nodes: room.map((n) => n.name) };
}

/** What the room lacks, per resource (empty when everything fits in sum). */
export function shortfall(c: CapacityCheck): string[] {
  const out: string[] = [];
  if (c.needed.cpuMillis > c.free.cpuMillis) out.push(`cpu ${c.needed.cpuMillis}m needed, ${c.free.cpuMillis}m free`);
  if (c.needed.memoryBytes > c.free.memoryBytes)
    out.push(`memory ${formatBytes(c.needed.memoryBytes)} needed, ${formatBytes(c.free.memoryBytes)} free`);
  if (c.needed.pods > c.free.pods) out.push(`${c.needed.pods} pods need room, ${c.free.pods} pod slots free`);
  return out;
}

// --- node readiness -----------------------------------------------------------------------------------------------

/** A node condition as the API gives it. */
export interface NodeCondition {
  type: string;
  status: string;
  reason?: string | undefined;
  message?: string | undefined;
}

/** Ready=True and every {@link PROBLEM_CONDITIONS} False (a missing condition is no problem); else the problems. */
export function nodeReadiness(conditions: readonly NodeCondition[]): { ready: boolean; problems: string[] } {
  const problems: string[] = [];
  const ready = conditions.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True')
    problems.push(`Ready=${ready?.status ?? 'Unknown'}${ready?.reason ? ` (${ready.reason})` : ''}`);
  for (const c of conditions) {
    if (PROBLEM_CONDITIONS.includes(c.type) && c.status !== 'False') problems.push(`${c.type}=${c.status}`);
  }
  return { ready: problems.length === 0, problems };
}

// --- how long pods stay blocked -----------------------------------------------------------------------------------

/** Accumulates, per pod, how long it was blocked, and since when some pod has been blocked without a break. */
export class BlockedClock {
  private readonly since = new Map<string, { at: number; pdbs: string[] }>();
  private readonly totals = new Map<string, { ms: number; pdbs: string[] }>();
  /** Since when pods have been blocked without a break (undefined while none is). */
  blockedSince: number | undefined;

  /** Records the pods blocked at `now` (pods not in the list are no longer blocked). */
  observe(blocked: readonly { pod: string; pdbs: string[] }[], now: number): void {
    const current = new Set(blocked.map((b) => b.pod));
    for (const [pod, s] of this.since) {
      if (!current.has(pod)) {
        this.add(pod, s.pdbs, now - s.at);
        this.since.delete(pod);
      }
    }
    for (const b of blocked) if (!this.since.has(b.pod)) this.since.set(b.pod, { at: now, pdbs: b.pdbs });
    if (!blocked.length) this.blockedSince = undefined;
    else this.blockedSince ??= now;
  }

  /** Per pod, the total blocked time up to `now`. */
  report(now: number): { pod: string; pdbs: string[]; forMs: number }[] {
    const out = new Map([...this.totals].map(([pod, t]) => [pod, { pod, pdbs: t.pdbs, forMs: t.ms }]));
    for (const [pod, s] of this.since) {
      const prev = out.get(pod);
      out.set(pod, { pod, pdbs: s.pdbs, forMs: (prev?.forMs ?? 0) + (now - s.at) });
    }
    return [...out.values()].sort((a, b) => a.pod.localeCompare(b.pod));
  }

  private add(pod: string, pdbs: string[], ms: number): void {
    const t = this.totals.get(pod);
    this.totals.set(pod, { ms: (t?.ms ?? 0) + ms, pdbs });
  }
}

// --- quantities ---------------------------------------------------------------------------------------------------

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity (`100m`, `1.5`, `128Mi`, `1G`, `1e3`) as a number of base units; NaN when malformed. */
export function parseQuantity(text: string | number | undefined): number {
  if (text === undefined) return 0;
  if (typeof text === 'number') return text;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(text.trim());
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? '';
  return base * (BINARY[suffix] ?? DECIMAL[suffix] ?? Number.NaN);
}

/** CPU quantity in millicores (rounded up, as the scheduler does). */
export function cpuMillis(text: string | number | undefined): number {
  const v = parseQuantity(text);
  return Number.isFinite(v) && v > 0 ? Math.ceil(v * 1000 - 1e-9) : 0;
}

/** Memory quantity in bytes. */
export function memoryBytes(text: string | number | undefined): number {
  const v = parseQuantity(text);
  return Number.isFinite(v) && v > 0 ? Math.ceil(v) : 0;
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)}Gi`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)}Mi`;
  return `${n}B`;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Workflow id of a maintenance, drain or uncordon of a node: `node/<cluster>/<node>` — one operation per node at a
 * time (the cluster-wide limit is the maintenance slots). Pass the canonical cluster name.
 */
export function nodeWorkflowId(parts: { cluster: string; node: string }): string {
  return `node/${parts.cluster}/${parts.node}`;
}
