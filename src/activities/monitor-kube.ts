/**
 * What `observeHealth` sees of its `kube` targets: which collections to list+watch, and, from the watch cache (plus
 * the latest PodMetrics), one observation per selected object, per missing or deleted object, and per resource
 * threshold. Pure over its inputs except for the memory of keys seen, so the activity stays plumbing.
 *
 * Decisions:
 * - Kinds: Deployment, StatefulSet, DaemonSet, Pod, Job, CronJob (judged by its runs: last run failed, no success
 *   within `maxSinceSuccess`), PersistentVolumeClaim (Pending for longer than the `for` window, Lost) and Node
 *   (NotReady, pressure conditions). Health is `domain/health`'s `assessHealth`; only Current is healthy.
 * - Watches: one per (kind, namespace) and, where deletions are tracked, WITHOUT the label selector: an object that
 *   stops matching a selector-filtered watch is reported by the API server as DELETED, the same event as a real
 *   deletion, and only the whole namespace's cache tells the two apart (relabelled = the user took it out of the
 *   monitor: forgotten; gone = deleted: an incident). Where deletions are not tracked the selector stays
 *   server-side. Pods (and ReplicaSets for Deployments, Jobs for CronJobs) of the namespace are watched anyway for
 *   fail-fast reasons and resource use.
 * - Missing and deleted objects: a named object (`names`) that does not exist is unhealthy (`NotFound Missing`, or
 *   `NotFound Deleted` once it had been seen) until it is back and healthy. An object matched by a selector that is
 *   deleted is unhealthy (`NotFound Deleted`) the same way, unless the target says `ignoreDeletions` or its kind
 *   is one whose objects come and go by design: Pods (replaced by their controllers), Jobs (removed by history
 *   limits and TTLs) and Nodes (removed by autoscalers) matched by a selector are forgotten when deleted.
 *   "Seen" means known to the workflow (its `known` keys, carried across activity attempts and continue-as-new)
 *   or seen by this observation.
 * - Resource thresholds: one observation per threshold, keyed `cpu:<subject>` / `memory:<subject>`, with the
 *   threshold's own `for` window; use comes from one LIST of PodMetrics per namespace per probe interval (the
 *   activity's timer: use changes with no watch event). A namespace whose PodMetrics cannot be read makes its
 *   thresholds unhealthy, saying why: a monitor asked to watch CPU that cannot see it is degraded, not silent.
 * @module
 */
import { assessHealth, healthRecheckAt, HealthStatus, type AssessOptions } from '../domain/health.js';
import { parseDurationSeconds } from '../domain/duration.js';
import {
  assessResourceUsage,
  parseThreshold,
  ResourceName,
  type PodMetricsSample,
  type PodResources,
  type ResourceRule,
} from '../domain/resource-usage.js';
import { formatSubject } from '../domain/subject.js';
import type { LiveObject } from '../kube/index.js';
import type { WatchedState, WatchTarget } from '../kube/watch.js';
import { POD_RUNNING_KINDS, type MonitoredKind, type MonitorTarget } from '../schemas/monitor.js';
import { matchesSelector } from './monitor.js';
import { relatedIndex } from './related.js';

/** A `kube` monitor target, as validated. */
export type KubeMonitorTarget = Extract<MonitorTarget, { type: 'kube' }>;

/** One observed target (the activity's `Observation`). */
export interface KubeObservation {
  key: string;
  healthy: boolean;
  message: string;
  /** The target's own `for` window (resource thresholds with `for`). */
  forSeconds?: number;
}

/** The API version of each monitored kind. */
export const MONITORED_API: Readonly<Record<MonitoredKind, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Pod: 'v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  PersistentVolumeClaim: 'v1',
  Node: 'v1',
};

/** Kinds whose objects, matched by a selector, are replaced or removed by design: their deletion is no incident. */
const EPHEMERAL_KINDS: ReadonlySet<MonitoredKind> = new Set(['Pod', 'Job', 'Node']);

/** Whether deleting an object this target matched raises an incident (named objects always do). */
function tracksDeletions(t: KubeMonitorTarget, kind: MonitoredKind): boolean {
  return t.names !== undefined || (!t.ignoreDeletions && !EPHEMERAL_KINDS.has(kind));
}

/** The namespaces whose PodMetrics the targets need (those with resource thresholds). */
export function metricsNamespaces(kube: readonly KubeMonitorTarget[]): string[] {
  return [...new Set(kube.filter((t) => t.resources && t.namespace).map((t) => t.namespace ?? ''))];
}

/**
 * The collections to list+watch: each kind per namespace (cluster-wide for Nodes), with the label selector only
 * where deletions are not tracked; the namespace's Pods always, its ReplicaSets for Deployments, its Jobs for
 * CronJobs. One watch per distinct collection.
 */
export function kubeWatchTargets(kube: readonly KubeMonitorTarget[]): WatchTarget[] {
  const targets = new Map<string, WatchTarget>();
  const add = (t: WatchTarget): void => {
    const key = `${t.apiVersion}|${t.kind}|${t.namespace ?? ''}|${t.labelSelector ?? ''}`;
    if (!targets.has(key)) targets.set(key, t);
  };
  for (const t of kube) {
    for (const kind of t.kinds) {
      const labelSelector = tracksDeletions(t, kind) ? undefined : t.selector;
      add({
        apiVersion: MONITORED_API[kind],
        kind,
        namespace: kind === 'Node' ? undefined : t.namespace,
        labelSelector,
      });
    }
    if (t.namespace === undefined) continue;
    add({ apiVersion: 'v1', kind: 'Pod', namespace: t.namespace });
    if (t.kinds.includes('Deployment')) add({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: t.namespace });
    if (t.kinds.includes('CronJob')) add({ apiVersion: 'batch/v1', kind: 'Job', namespace: t.namespace });
  }
  return [...targets.values()];
}

/** The latest PodMetrics read of one namespace: its samples, or why it failed. */
export type MetricsRead = { samples: readonly PodMetricsSample[] } | { error: string };

/** The parts of a subject key (`Kind/namespace/name` or `Kind/name`); undefined for probe and threshold keys. */
function parseSubject(key: string): { kind: string; namespace: string | undefined; name: string } | undefined {
  const m = /^([A-Za-z]+)\/(?:([^/:]+)\/)?([^/:]+)$/.exec(key);
  if (!m?.[1] || !m[3]) return undefined;
  return { kind: m[1], namespace: m[2], name: m[3] };
}

/** The resource rules of a target, with their own windows. */
function resourceRules(t: KubeMonitorTarget): { rule: ResourceRule; forSeconds?: number }[] {
  const out: { rule: ResourceRule; forSeconds?: number }[] = [];
  for (const resource of [ResourceName.Cpu, ResourceName.Memory]) {
    const spec = t.resources?.[resource];
    const above = spec && parseThreshold(spec.above);
    if (!spec || above === undefined) continue;
    out.push({
      rule: { resource, above, of: spec.of },
      ...(spec.for !== undefined ? { forSeconds: parseDurationSeconds(spec.for) } : {}),
    });
  }
  return out;
}

/**
 * Assesses the kube targets: keeps the keys it has seen (for deletions) between calls. Create one per activity
 * attempt, seeded with the keys the workflow knows.
 *
 * Which target a deleted object belonged to: the one that matched it while this observation saw it; an object the
 * workflow knew but this observation never saw (deleted while nobody watched) is claimed by every target of its
 * kind and namespace that tracks deletions, as its labels are gone with it.
 */
export class KubeAssessor {
  readonly #kube: readonly KubeMonitorTarget[];
  /** Object keys the workflow knew when this observation started. */
  readonly #known: ReadonlySet<string>;
  /** Object keys each target matched during this observation. */
  readonly #seenBy = new Map<KubeMonitorTarget, Set<string>>();
  /** Every object key any target matched during this observation. */
  readonly #seen = new Set<string>();

  constructor(kube: readonly KubeMonitorTarget[], known: Readonly<Record<string, boolean>>) {
    this.#kube = kube;
    this.#known = new Set(Object.keys(known).filter((k) => parseSubject(k) !== undefined));
    for (const t of kube) this.#seenBy.set(t, new Set());
  }

  /** Every observation at `now`, and when a rule with a duration is next due. */
  assess(
    state: WatchedState,
    now: Date,
    metrics: ReadonlyMap<string, MetricsRead>,
  ): { observations: KubeObservation[]; recheckAt: Date | undefined } {
    const objects = [...state.values()];
    const related = relatedIndex(objects);
    const jobsByNamespace = groupBy(
      objects.filter((o) => o.kind === 'Job'),
      (o) => o.metadata.namespace ?? '',
    );
    const byKind = groupBy(objects, (o) => `${o.kind}|${o.kind === 'Node' ? '' : (o.metadata.namespace ?? '')}`);
    const observations = new Map<string, KubeObservation>();
    let recheckAt: Date | undefined;
    for (const t of this.#kube) {
      for (const kind of t.kinds) {
        const namespace = kind === 'Node' ? undefined : t.namespace;
        const present = byKind.get(`${kind}|${namespace ?? ''}`) ?? [];
        for (const o of present) {
          if (t.names && !t.names.includes(o.metadata.name)) continue;
          if (t.selector && !matchesSelector(o.metadata.labels ?? {}, t.selector)) continue;
          const key = formatSubject({ kind, namespace, name: o.metadata.name });
          this.#seen.add(key);
          this.#seenBy.get(t)?.add(key);
          const objRelated = {
            ...related(o),
            ...(kind === 'CronJob' ? { jobs: jobsByNamespace.get(namespace ?? '') ?? [] } : {}),
          };
          const options: AssessOptions = {
            now,
            ...(kind === 'CronJob'
              ? {
                  cronJobRuns:
                    t.maxSinceSuccess === undefined
                      ? {}
                      : { maxSinceSuccessSeconds: parseDurationSeconds(t.maxSinceSuccess) },
                }
              : {}),
          };
          const a = assessHealth(o, objRelated, options);
          const at = healthRecheckAt(o, objRelated, options);
          if (at !== undefined && (recheckAt === undefined || at < recheckAt)) recheckAt = at;
          observations.set(key, {
            key,
            healthy: a.status === HealthStatus.Current,
            message: `${a.status} ${a.reason}: ${a.message}`,
          });
          if (POD_RUNNING_KINDS.includes(kind) && namespace !== undefined) {
            const pods = (kind === 'Pod' ? [o] : objRelated.pods) as unknown as PodResources[];
            for (const o2 of this.#thresholds(t, key, pods, metrics.get(namespace))) observations.set(o2.key, o2);
          }
        }
        if (!tracksDeletions(t, kind)) continue;
        for (const o of this.#absent(t, kind, namespace, present)) observations.set(o.key, o);
      }
    }
    return { observations: [...observations.values()], recheckAt };
  }

  /** Named objects that do not exist, and (where tracked) objects seen before that are gone. */
  #absent(t: KubeMonitorTarget, kind: MonitoredKind, namespace: string | undefined, present: readonly LiveObject[]) {
    const names = new Set(present.map((o) => o.metadata.name));
    const expected = new Set(t.names ?? []);
    if (!t.names) {
      const unattributed = [...this.#known].filter((k) => !this.#seen.has(k));
      for (const key of [...(this.#seenBy.get(t) ?? []), ...unattributed]) {
        const s = parseSubject(key);
        if (s && s.kind === kind && s.namespace === namespace) expected.add(s.name);
      }
    }
    const out: KubeObservation[] = [];
    for (const name of expected) {
      if (names.has(name)) continue;
      const key = formatSubject({ kind, namespace, name });
      out.push(
        this.#seen.has(key) || this.#known.has(key)
          ? { key, healthy: false, message: `${HealthStatus.NotFound} Deleted: ${key} was deleted` }
          : { key, healthy: false, message: `${HealthStatus.NotFound} Missing: ${key} does not exist` },
      );
    }
    return out;
  }

  /** One observation per resource threshold of the target over one workload's pods. */
  #thresholds(
    t: KubeMonitorTarget,
    subject: string,
    pods: readonly PodResources[],
    read: MetricsRead | undefined,
  ): KubeObservation[] {
    const out: KubeObservation[] = [];
    for (const { rule, forSeconds } of resourceRules(t)) {
      const window = forSeconds === undefined ? {} : { forSeconds };
      const key = `${rule.resource}:${subject}`;
      if (read === undefined) continue; // not read yet: judged once the first read is in
      if ('error' in read) {
        out.push({ key, healthy: false, message: `cannot read PodMetrics: ${read.error}`, ...window });
        continue;
      }
      const verdict = assessResourceUsage(rule, pods, read.samples);
      out.push({ key, healthy: verdict.healthy, message: verdict.message, ...window });
    }
    return out;
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = out.get(key);
    if (list) list.push(item);
    else out.set(key, [item]);
  }
  return out;
}
