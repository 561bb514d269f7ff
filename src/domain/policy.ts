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
