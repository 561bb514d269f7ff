/**
 * The policy guard: which writes the worker allows. Checked for every object before anything is written
 * (plan) and again right before each write (apply). Pure: scope (namespaced or not) is passed in.
 * @module
 */
import { formatSubject } from './subject.js';

/** Namespaces nobody writes to unless the policy lists them explicitly (no glob matches them). */
export const PROTECTED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** The worker's write policy. */
export interface Policy {
  /** Glob patterns (`*`, `?`) of namespaces that may be written. Default `['*']` (all but the protected ones). */
  namespaces: readonly string[];
  /** May cluster-scoped objects (Namespaces, CRDs, ClusterRoles, …) be written? Default false. */
  allowClusterScoped: boolean;
  /** Kinds never written, e.g. `['Secret']` or `['ClusterRoleBinding']`. Default none. */
  deniedKinds: readonly string[];
  /** Replica bounds for scaling (default {@link DEFAULT_SCALE_BOUNDS}, no rules). */
  scale?: { defaults: ScaleBounds; rules: readonly ScaleRule[] } | undefined;
}

/** The safe default: any namespace but kube-system & co., no cluster-scoped writes, every kind. */
export const DEFAULT_POLICY: Policy = { namespaces: ['*'], allowClusterScoped: false, deniedKinds: [] };

/** One object as the guard sees it. */
export interface PolicySubject {
  kind: string;
  name: string;
  namespace?: string | undefined;
  /** False for cluster-scoped kinds. */
  namespaced: boolean;
}

/** Why one object may not be written. */
export interface PolicyViolation {
  subject: string;
  rule: string;
}

/** Returns every violation (empty when all objects may be written). */
export function checkPolicy(policy: Policy, objects: readonly PolicySubject[]): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  for (const o of objects) {
    const subject = formatSubject(o);
    if (policy.deniedKinds.includes(o.kind)) {
      out.push({ subject, rule: `kind ${o.kind} is denied by policy.deniedKinds` });
      continue;
    }
    if (!o.namespaced) {
      if (!policy.allowClusterScoped) {
        out.push({ subject, rule: 'cluster-scoped objects are not allowed (policy.allowClusterScoped is false)' });
      }
      // A Namespace object is also checked against the namespace patterns, by its own name.
      if (o.kind === 'Namespace' && !namespaceAllowed(policy, o.name)) {
        out.push({ subject, rule: `namespace "${o.name}" is not allowed by policy.namespaces` });
      }
      continue;
    }
    if (!o.namespace || !namespaceAllowed(policy, o.namespace)) {
      out.push({ subject, rule: `namespace "${o.namespace ?? ''}" is not allowed by policy.namespaces` });
    }
  }
  return out;
}

/** One readable message listing every violation. */
export function formatViolations(violations: readonly PolicyViolation[]): string {
  const lines = violations.slice(0, 50).map((v) => `  ${v.subject}: ${v.rule}`);
  if (violations.length > 50) lines.push(`  … and ${violations.length - 50} more`);
  return `policy forbids ${violations.length} object${violations.length === 1 ? '' : 's'}; nothing was written:\n${lines.join('\n')}`;
}

/** True when the namespace matches a pattern; protected namespaces only match a pattern without wildcards. */
export function namespaceAllowed(policy: Policy, namespace: string): boolean {
  return policy.namespaces.some((p) =>
    PROTECTED_NAMESPACES.includes(namespace) ? p === namespace : globToRegExp(p).test(namespace),
  );
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Replica bounds for `scaleWorkload`. */
export interface ScaleBounds {
  /** Smallest allowed count above zero. */
  minReplicas: number;
  /** Largest allowed count. */
  maxReplicas: number;
  /** May the workload be scaled to zero? */
  allowZero: boolean;
}

/** Bounds for the workloads matching `namespaces` (and `names`, when given) globs; the first match wins. */
export interface ScaleRule extends ScaleBounds {
  namespaces: readonly string[];
  names?: readonly string[] | undefined;
}

/** Default scale bounds: 1–100 replicas, never zero. */
export const DEFAULT_SCALE_BOUNDS: ScaleBounds = { minReplicas: 1, maxReplicas: 100, allowZero: false };

/** The bounds that apply to one workload. */
export function scaleBoundsFor(
  rules: readonly ScaleRule[],
  defaults: ScaleBounds,
  workload: { namespace: string; name: string },
): ScaleBounds {
  const rule = rules.find(
    (r) =>
      r.namespaces.some((p) => globToRegExp(p).test(workload.namespace)) &&
      (!r.names || r.names.some((p) => globToRegExp(p).test(workload.name))),
  );
  return rule ? { minReplicas: rule.minReplicas, maxReplicas: rule.maxReplicas, allowZero: rule.allowZero } : defaults;
}

/** Why `target` replicas are not allowed under `bounds`, or undefined when they are. */
export function checkScaleBounds(bounds: ScaleBounds, target: number): string | undefined {
  if (!Number.isInteger(target) || target < 0) return `replicas must be a whole number >= 0, got ${target}`;
  if (target === 0)
    return bounds.allowZero ? undefined : 'scaling to zero is not allowed by policy (allowZero is false)';
  if (target < bounds.minReplicas) return `${target} replicas is below the policy minimum of ${bounds.minReplicas}`;
  if (target > bounds.maxReplicas) return `${target} replicas is above the policy maximum of ${bounds.maxReplicas}`;
  return undefined;
}
