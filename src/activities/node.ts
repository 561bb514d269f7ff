/**
 * Node maintenance activities. Each is one retryable, idempotent unit of I/O:
 * - `inspectNode`: reads the node, the other nodes, every pod (for the requests on each node) and the budgets of
 *   the node's pods' namespaces, as compact facts for the preflight (`domain/node-maintenance`);
 * - `cordonNode` / `removeCordon`: merge patches of `spec.unschedulable` that also write / remove our annotation
 *   ({@link CORDONED_BY_ANNOTATION} = the run's workflow id), so a retried cordon tells "cordoned by us in an
 *   attempt that died" from "cordoned by someone else", and an uncordon never lifts someone else's cordon;
 * - `evictPods`: one round of evictions through the Eviction API (budgets honoured; pods a budget holds are
 *   reported blocked, with the budget's name), heartbeating, until the round's `returnBy`, until something changes
 *   or until the node is empty. A pod already gone counts as done, so a retry after a worker kill resumes;
 * - `deletePods`: the approved bypass, deleting each named pod only if it is still on the node;
 * - `runNodeAction`: the reboot / upgrade webhook (`Idempotency-Key` = the workflow id, the same on every retry);
 * - `waitNodeReady`: polls the node until Ready with no problem condition, or its deadline.
 * @module
 */
import { heartbeat, sleep as activitySleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../domain/failures.js';
import {
  budgetsOf,
  CORDONED_BY_ANNOTATION,
  cpuMillis,
  decidePod,
  evictionGate,
  memoryBytes,
  nodeReadiness,
  parseQuantity,
  podKey,
  type NodeCondition,
} from '../domain/node-maintenance.js';
import { checkPolicy, formatViolations, type Policy } from '../domain/policy.js';
import { isKubeApiError, type KubeGateway, type LiveObject } from '../kube/index.js';
import {
  CordonInput,
  DeletePodsInput,
  EvictPodsInput,
  InspectNodeInput,
  RunNodeActionInput,
  WaitNodeReadyInput,
  type BlockingPod,
  type CordonResult,
  type EvictPodsResult,
  type NodeFacts,
  type NodeInspection,
  type NodeReadyResult,
  type PdbFacts,
  type PodFacts,
  type UncordonResult,
} from '../schemas/node.js';
import { classified, parseInput } from './failures.js';

/** What the node activities need. */
export interface NodeActivityDeps {
  gateway(cluster: string): KubeGateway;
  policy: Policy;
  /** `fetch` for the action webhook (tests may inject). */
  fetch?: typeof fetch;
  /** Milliseconds between eviction attempts of blocked pods and between node polls (default 2000). */
  nodePollIntervalMs?: number;
}

const NODE = { apiVersion: 'v1', kind: 'Node' } as const;

/** Builds the node maintenance activities. */
export function createNodeActivities(deps: NodeActivityDeps) {
  const pollMs = deps.nodePollIntervalMs ?? 2000;
  const pause = (ms: number): Promise<void> => activitySleep(ms);

  return {
    /** Facts for the preflight. Refuses (PolicyViolation) when the policy forbids writing Nodes. */
    async inspectNode(raw: InspectNodeInput): Promise<NodeInspection> {
      const input = parseInput(InspectNodeInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        assertNodeWritable(deps.policy, input.node);
        const [nodes, pods] = await Promise.all([
          gw.list('v1', 'Node'),
          gw.list('v1', 'Pod', { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }),
        ]);
        const target = nodes.items.find((n) => n.metadata.name === input.node);
        if (!target) {
          throw ApplicationFailure.nonRetryable(`Node/${input.node} does not exist`, FailureType.KubeNotFound);
        }
        const onNode = (await gw.list('v1', 'Pod', { fieldSelector: `spec.nodeName=${input.node}` })).items;
        const namespaces = [...new Set(onNode.map((p) => p.metadata.namespace ?? ''))];
        const pdbs = (
          await Promise.all(namespaces.map((ns) => gw.list('policy/v1', 'PodDisruptionBudget', { namespace: ns })))
        ).flatMap((l) => l.items.map(pdbFacts));
        const requested = requestsByNode(pods.items);
        const facts = (n: LiveObject): NodeFacts => nodeFacts(n, requested.get(n.metadata.name));
        return {
          cluster: gw.cluster,
          node: facts(target),
          others: nodes.items.filter((n) => n !== target).map(facts),
          pods: onNode.map(podFacts),
          pdbs,
        };
      });
    },

    /** Cordons the node with our annotation; `wasCordoned` when someone else had cordoned it. Idempotent. */
    async cordonNode(raw: CordonInput): Promise<CordonResult> {
      const input = parseInput(CordonInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        assertNodeWritable(deps.policy, input.node);
        const node = await requireNode(gw, input.node);
        const by = node.metadata.annotations?.[CORDONED_BY_ANNOTATION];
        if (unschedulable(node) && by !== input.owner) return { wasCordoned: true };
        if (!unschedulable(node) || by !== input.owner) {
          await gw.mergePatch(
            { ...NODE, name: input.node },
            { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: input.owner } }, spec: { unschedulable: true } },
          );
        }
        return { wasCordoned: false };
      });
    },

    /**
     * Uncordons the node if our annotation names `owner` (or with `force`). A node someone else cordoned is left
     * as it is and said so. Idempotent: a node already schedulable is success.
     */
    async removeCordon(raw: CordonInput): Promise<UncordonResult> {
      const input = parseInput(CordonInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const node = await gw.get({ ...NODE, name: input.node });
        if (!node) return { uncordoned: false, message: `Node/${input.node} no longer exists` };
        const by = node.metadata.annotations?.[CORDONED_BY_ANNOTATION];
        if (!unschedulable(node) && by === undefined) return { uncordoned: true, message: 'schedulable' };
        if (unschedulable(node) && by !== input.owner && !input.force) {
          return { uncordoned: false, message: `left cordoned: cordoned by ${by ?? 'someone else'}, not by this run` };
        }
        assertNodeWritable(deps.policy, input.node);
        await gw.mergePatch(
          { ...NODE, name: input.node },
          { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } }, spec: { unschedulable: null } },
        );
        return { uncordoned: true, message: 'uncordoned' };
      });
    },

    /**
     * One round of evictions (see the module doc). Returns when the node has no pod left to move, at `returnBy`,
     * or as soon as the set of blocked pods differs from `knownBlocked` or a pod was evicted (the workflow shows it).
     */
    async evictPods(raw: EvictPodsInput): Promise<EvictPodsResult> {
      const input = parseInput(EvictPodsInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const known = [...input.knownBlocked].sort().join(',');
        for (;;) {
          const round = await evictOnce(gw, input);
          heartbeat({ remaining: round.remaining.length, blocked: round.blocked.map((b) => b.pod) });
          const blockedNow = round.blocked
            .map((b) => b.pod)
            .sort()
            .join(',');
          const done = round.remaining.length === 0;
          if (done || round.evicted.length || blockedNow !== known || Date.now() + pollMs >= input.returnBy) {
            return round;
          }
          await pause(pollMs);
        }
      });
    },

    /** Deletes the approved pods past their budget, each only if it is still on the node. Returns those deleted. */
    async deletePods(raw: DeletePodsInput): Promise<{ deleted: string[] }> {
      const input = parseInput(DeletePodsInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const deleted: string[] = [];
        for (const key of input.pods) {
          const [namespace = '', name = ''] = key.split('/', 2);
          const pod = await gw.get({ apiVersion: 'v1', kind: 'Pod', namespace, name });
          if (!pod || (pod as { spec?: { nodeName?: string } }).spec?.nodeName !== input.node) continue;
          if (await gw.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name })) deleted.push(key);
          heartbeat(deleted.length);
        }
        return { deleted };
      });
    },

    /** POSTs the node name to the action webhook. 4xx: AlertRejected-like non-retryable failure; 5xx: retried. */
    async runNodeAction(raw: RunNodeActionInput): Promise<{ status: number; message: string }> {
      const input = parseInput(RunNodeActionInput, raw);
      const doFetch = deps.fetch ?? fetch;
      const beat = setInterval(() => heartbeat(), 2000);
      try {
        const res = await doFetch(input.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': input.workflowId, ...input.headers },
          body: JSON.stringify({ node: input.node, cluster: input.cluster, workflowId: input.workflowId }),
          signal: AbortSignal.timeout(input.timeoutMs),
        }).catch((err: unknown) => {
          throw ApplicationFailure.retryable(
            `action webhook unreachable: ${err instanceof Error ? err.message : String(err)}`,
            FailureType.KubeUnavailable,
          );
        });
        const text = (await res.text().catch(() => '')).slice(0, 200);
        if (res.ok) return { status: res.status, message: `action webhook answered ${res.status}` };
        const message = `action webhook answered ${res.status}${text ? `: ${text}` : ''}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 429)
          throw ApplicationFailure.nonRetryable(message, FailureType.PolicyViolation);
        throw ApplicationFailure.retryable(message, FailureType.KubeUnavailable);
      } finally {
        clearInterval(beat);
      }
    },

    /** Polls the node until Ready with no problem condition; at the deadline reports what is still wrong. */
    async waitNodeReady(raw: WaitNodeReadyInput): Promise<NodeReadyResult> {
      const input = parseInput(WaitNodeReadyInput, raw);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        for (;;) {
          const node = await gw.get({ ...NODE, name: input.node });
          const r = node ? nodeReadiness(conditionsOf(node)) : { ready: false, problems: ['the node does not exist'] };
          heartbeat(r.problems);
          if (r.ready) return { ready: true, message: 'Ready, no pressure or network problem' };
          if (Date.now() + pollMs > input.deadlineMs) return { ready: false, message: r.problems.join(', ') };
          await pause(pollMs);
        }
      });
    },
  };

  /** One pass over the node's pods: evicts what may go, reports what is blocked and what remains. */
  async function evictOnce(gw: KubeGateway, input: ReturnType<typeof EvictPodsInput.parse>): Promise<EvictPodsResult> {
    const pods = (await gw.list('v1', 'Pod', { fieldSelector: `spec.nodeName=${input.node}` })).items.map(podFacts);
    const namespaces = [...new Set(pods.map((p) => p.namespace))];
    const pdbs = (
      await Promise.all(namespaces.map((ns) => gw.list('policy/v1', 'PodDisruptionBudget', { namespace: ns })))
    ).flatMap((l) => l.items.map(pdbFacts));
    const result: EvictPodsResult = { evicted: [], remaining: [], blocked: [], skipped: [] };
    for (const pod of pods) {
      const key = podKey(pod);
      const decision = decidePod(pod, input);
      if (decision.action === 'skip') {
        result.skipped.push({ pod: key, reason: decision.reason });
        continue;
      }
      result.remaining.push(key);
      if (pod.terminating) continue;
      if (decision.action === 'refuse') {
        result.blocked.push({ pod: key, pdbs: [], message: `refused by policy: ${decision.reason}` });
        continue;
      }
      const gate = evictionGate(pod, pdbs);
      if (!gate.ask) {
        result.blocked.push({ pod: key, pdbs: gate.pdbs, message: gate.message });
        continue;
      }
      const outcome = await evictOne(gw, pod, input.gracePeriodSeconds, pdbs);
      if (outcome === 'evicted') result.evicted.push(key);
      else if (outcome === 'gone') result.remaining.pop();
      else result.blocked.push(outcome);
    }
    return result;
  }
}

/** Evicts one pod; a budget's 429 (or the API's refusal of a pod with two budgets) becomes a blocking entry. */
async function evictOne(
  gw: KubeGateway,
  pod: PodFacts,
  gracePeriodSeconds: number | undefined,
  pdbs: readonly PdbFacts[],
): Promise<'evicted' | 'gone' | BlockingPod> {
  try {
    return await gw.evict(pod, { gracePeriodSeconds });
  } catch (err) {
    if (isKubeApiError(err) && (err.status === 429 || (err.status === 500 && /DisruptionBudget/i.test(err.message)))) {
      return { pod: podKey(pod), pdbs: budgetsOf(pod, pdbs).map(podKey), message: err.message };
    }
    throw err;
  }
}

function assertNodeWritable(policy: Policy, node: string): void {
  const violations = checkPolicy(policy, [{ kind: 'Node', name: node, namespaced: false }]);
  if (violations.length) {
    throw ApplicationFailure.create({
      message: formatViolations(violations),
      type: FailureType.PolicyViolation,
      nonRetryable: true,
    });
  }
}

async function requireNode(gw: KubeGateway, name: string): Promise<LiveObject> {
  const node = await gw.get({ ...NODE, name });
  if (!node) throw ApplicationFailure.nonRetryable(`Node/${name} does not exist`, FailureType.KubeNotFound);
  return node;
}

function unschedulable(node: LiveObject): boolean {
  return (node as { spec?: { unschedulable?: boolean } }).spec?.unschedulable === true;
}

function conditionsOf(node: LiveObject): NodeCondition[] {
  return (node.status as { conditions?: NodeCondition[] } | undefined)?.conditions ?? [];
}

type Resources = { cpuMillis: number; memoryBytes: number; pods: number };

function nodeFacts(node: LiveObject, requested: Resources | undefined): NodeFacts {
  const alloc = (node.status as { allocatable?: Record<string, string> } | undefined)?.allocatable ?? {};
  const readiness = nodeReadiness(conditionsOf(node));
  const by = node.metadata.annotations?.[CORDONED_BY_ANNOTATION];
  return {
    name: node.metadata.name,
    labels: node.metadata.labels ?? {},
    unschedulable: unschedulable(node),
    ...(by ? { cordonedBy: by } : {}),
    ready: conditionsOf(node).some((c) => c.type === 'Ready' && c.status === 'True'),
    problems: readiness.problems,
    allocatable: {
      cpuMillis: cpuMillis(alloc.cpu),
      memoryBytes: memoryBytes(alloc.memory),
      pods: podSlots(alloc.pods),
    },
    requested: requested ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 },
  };
}

/** Allocatable pod slots (`110`, or a quantity such as KWOK's `1M`); 110, the kubelet default, when unreadable. */
function podSlots(text: string | undefined): number {
  const n = parseQuantity(text ?? '110');
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 110;
}

interface PodSpec {
  nodeName?: string;
  volumes?: { emptyDir?: unknown }[];
  containers?: { resources?: { requests?: Record<string, string> } }[];
  initContainers?: { resources?: { requests?: Record<string, string> } }[];
}

function podRequests(spec: PodSpec): PodFacts['requests'] {
  const total = (cs: PodSpec['containers'] = [], f: (r: Record<string, string>) => number): number =>
    cs.reduce((a, c) => a + f(c.resources?.requests ?? {}), 0);
  const max = (cs: PodSpec['containers'] = [], f: (r: Record<string, string>) => number): number =>
    Math.max(0, ...cs.map((c) => f(c.resources?.requests ?? {})));
  const cpu = (r: Record<string, string>): number => cpuMillis(r.cpu);
  const mem = (r: Record<string, string>): number => memoryBytes(r.memory);
  return {
    cpuMillis: Math.max(total(spec.containers, cpu), max(spec.initContainers, cpu)),
    memoryBytes: Math.max(total(spec.containers, mem), max(spec.initContainers, mem)),
  };
}

function requestsByNode(pods: readonly LiveObject[]): Map<string, Resources> {
  const out = new Map<string, Resources>();
  for (const p of pods) {
    const spec = (p as { spec?: PodSpec }).spec ?? {};
    if (!spec.nodeName) continue;
    const r = podRequests(spec);
    const t = out.get(spec.nodeName) ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 };
    out.set(spec.nodeName, {
      cpuMillis: t.cpuMillis + r.cpuMillis,
      memoryBytes: t.memoryBytes + r.memoryBytes,
      pods: t.pods + 1,
    });
  }
  return out;
}

function podFacts(p: LiveObject): PodFacts {
  const spec = (p as { spec?: PodSpec }).spec ?? {};
  const status = (p.status ?? {}) as { phase?: string; conditions?: { type: string; status: string }[] };
  const meta = p.metadata as LiveObject['metadata'] & {
    ownerReferences?: { kind: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  const controller = meta.ownerReferences?.find((o) => o.controller);
  return {
    namespace: meta.namespace ?? '',
    name: meta.name,
    uid: meta.uid ?? '',
    labels: meta.labels ?? {},
    ...(controller ? { controllerKind: controller.kind } : {}),
    mirror: meta.annotations?.['kubernetes.io/config.mirror'] !== undefined,
    emptyDir: (spec.volumes ?? []).some((v) => v.emptyDir !== undefined),
    ready: (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    terminal: status.phase === 'Succeeded' || status.phase === 'Failed',
    terminating: meta.deletionTimestamp !== undefined,
    requests: podRequests(spec),
  };
}

function pdbFacts(b: LiveObject): PdbFacts {
  const spec = (b as { spec?: { selector?: PdbFacts['selector'] } }).spec ?? {};
  const status = (b.status ?? {}) as { disruptionsAllowed?: number; observedGeneration?: number };
  return {
    namespace: b.metadata.namespace ?? '',
    name: b.metadata.name,
    ...(spec.selector ? { selector: spec.selector } : {}),
    disruptionsAllowed: status.disruptionsAllowed ?? 0,
    stale: (status.observedGeneration ?? 0) < (b.metadata.generation ?? 0),
  };
}
