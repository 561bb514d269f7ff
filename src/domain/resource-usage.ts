/**
 * Resource thresholds of a monitored workload: its pods' CPU or memory use (from the metrics API's PodMetrics) as a
 * share of their requests or limits, compared with a threshold. Pure functions, fixture-tested.
 *
 * Contract:
 * - Use is the sum over the workload's pods that have a PodMetrics sample, divided by the sum of those same pods'
 *   requests (or limits), as the HorizontalPodAutoscaler computes utilization: one hot pod among many is averaged
 *   out; the message names the hottest pod so a person knows where to look.
 * - A pod with a container that has no request (limit) for the resource cannot be measured against it: the rule is
 *   not evaluated and says which container lacks it (healthy: there is nothing to page about, and the status says
 *   why; the HPA refuses the same way). No sample yet (metrics-server needs one resolution after a pod starts):
 *   healthy, "no metrics yet".
 * - Quantities are read with {@link parseQuantity} (`250m`, `300016133n`, `128Mi`).
 * @module
 */
import { parseQuantity } from './node-maintenance.js';

/** The resources a threshold can watch. */
export const ResourceName = { Cpu: 'cpu', Memory: 'memory' } as const;
/** One of {@link ResourceName}. */
export type ResourceName = (typeof ResourceName)[keyof typeof ResourceName];

/** What the use is a share of. */
export type ResourceBasis = 'requests' | 'limits';

/** A threshold: unhealthy while use is above `above` (a fraction: 0.8 for `80%`) of the pods' `of`. */
export interface ResourceRule {
  resource: ResourceName;
  above: number;
  of: ResourceBasis;
}

/** The fields of a Pod this module reads. */
export interface PodResources {
  metadata: { name: string; namespace?: string | undefined };
  spec?: {
    containers?: {
      name: string;
      resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
    }[];
  };
}

/** The fields of a metrics.k8s.io PodMetrics this module reads. */
export interface PodMetricsSample {
  metadata: { name: string; namespace?: string | undefined };
  containers?: { name: string; usage?: Record<string, unknown> }[];
}

/** The verdict of one threshold over one workload's pods. */
export interface ResourceVerdict {
  healthy: boolean;
  /** e.g. `cpu at 300% of requests (600m of 200m, 2 pods; hottest shop/web-x 300m), above 80%`. */
  message: string;
  /** Use as a fraction of the basis, when it could be measured. */
  utilization?: number;
}

/**
 * Parses a threshold written as a percentage (`'80%'`, `'150%'`) or a fraction (`0.8`); undefined when it is
 * neither or not above 0.
 */
export function parseThreshold(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (!m) return undefined;
  const fraction = Number(m[1]) / 100;
  return fraction > 0 ? fraction : undefined;
}

/** A quantity of `resource` in the unit messages use: millicores for CPU, bytes for memory. */
function amount(resource: ResourceName, quantity: unknown): number | undefined {
  if (typeof quantity !== 'string' && typeof quantity !== 'number') return undefined;
  const v = parseQuantity(quantity);
  if (!Number.isFinite(v)) return undefined;
  return resource === ResourceName.Cpu ? v * 1000 : v;
}

/** `250m` for CPU millicores, `96Mi` for memory bytes. */
export function formatAmount(resource: ResourceName, value: number): string {
  if (resource === ResourceName.Cpu) return `${Math.round(value)}m`;
  if (value >= 2 ** 30) return `${(value / 2 ** 30).toFixed(1).replace(/\.0$/, '')}Gi`;
  if (value >= 2 ** 20) return `${(value / 2 ** 20).toFixed(1).replace(/\.0$/, '')}Mi`;
  if (value >= 2 ** 10) return `${(value / 2 ** 10).toFixed(1).replace(/\.0$/, '')}Ki`;
  return `${Math.round(value)}`;
}

/** The pod's total request (or limit) of the resource, or the first container without one. */
function podBasis(pod: PodResources, rule: ResourceRule): { total: number } | { missing: string } {
  let total = 0;
  for (const c of pod.spec?.containers ?? []) {
    const v = amount(rule.resource, c.resources?.[rule.of]?.[rule.resource]);
    if (v === undefined || v <= 0) return { missing: c.name };
    total += v;
  }
  return { total };
}

/** The sample's total use of the resource (its containers summed), or undefined when it reports none. */
function sampleUse(sample: PodMetricsSample, resource: ResourceName): number | undefined {
  let total = 0;
  let any = false;
  for (const c of sample.containers ?? []) {
    const v = amount(resource, c.usage?.[resource]);
    if (v === undefined) continue;
    total += v;
    any = true;
  }
  return any ? total : undefined;
}

/**
 * Judges one threshold over a workload's current pods and the PodMetrics of their namespace (any order; samples of
 * other pods are ignored). See the module contract.
 */
export function assessResourceUsage(
  rule: ResourceRule,
  pods: readonly PodResources[],
  samples: readonly PodMetricsSample[],
): ResourceVerdict {
  const threshold = `${Math.round(rule.above * 100)}%`;
  const byName = new Map(samples.map((s) => [`${s.metadata.namespace ?? ''}/${s.metadata.name}`, s]));
  let used = 0;
  let basis = 0;
  let measured = 0;
  let hottest: { pod: string; use: number } | undefined;
  for (const pod of pods) {
    const name = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
    const sample = byName.get(name);
    const use = sample && sampleUse(sample, rule.resource);
    if (use === undefined) continue;
    const b = podBasis(pod, rule);
    if ('missing' in b) {
      return {
        healthy: true,
        message: `${rule.resource} threshold not evaluated: container ${b.missing} of pod ${name} has no ${rule.resource} ${rule.of}`,
      };
    }
    used += use;
    basis += b.total;
    measured += 1;
    if (hottest === undefined || use > hottest.use) hottest = { pod: name, use };
  }
  if (measured === 0 || basis <= 0) {
    return {
      healthy: true,
      message: `${rule.resource}: no metrics yet for ${pods.length === 1 ? 'its pod' : 'its pods'}`,
    };
  }
  const utilization = used / basis;
  const detail =
    `${formatAmount(rule.resource, used)} of ${formatAmount(rule.resource, basis)}, ` +
    `${measured} pod${measured === 1 ? '' : 's'}` +
    (measured > 1 && hottest ? `; hottest ${hottest.pod} ${formatAmount(rule.resource, hottest.use)}` : '');
  const share = `${rule.resource} at ${Math.round(utilization * 100)}% of ${rule.of} (${detail})`;
  return utilization > rule.above
    ? { healthy: false, message: `${share}, above ${threshold}`, utilization }
    : { healthy: true, message: `${share}, threshold ${threshold}`, utilization };
}
