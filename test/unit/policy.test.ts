import { describe, it, expect } from 'vitest';
import {
  checkScaleBounds,
  DEFAULT_SCALE_BOUNDS,
  scaleBoundsFor,
  DEFAULT_POLICY,
  PROTECTED_NAMESPACES,
  checkPolicy,
  formatViolations,
  namespaceAllowed,
} from '../../src/domain/policy.js';
import type { Policy, PolicySubject, PolicyViolation } from '../../src/domain/policy.js';

function policy(overrides: Partial<Policy> = {}): Policy {
  return { ...DEFAULT_POLICY, ...overrides };
}

function namespaced(kind: string, namespace: string | undefined, name: string): PolicySubject {
  return { kind, namespace, name, namespaced: true };
}

function clusterScoped(kind: string, name: string): PolicySubject {
  return { kind, name, namespaced: false };
}

describe('DEFAULT_POLICY', () => {
  it('allows every namespace by pattern, no cluster-scoped writes and every kind', () => {
    expect(DEFAULT_POLICY).toEqual({ namespaces: ['*'], allowClusterScoped: false, deniedKinds: [] });
  });

  it('allows an ordinary namespaced object', () => {
    expect(checkPolicy(DEFAULT_POLICY, [namespaced('Deployment', 'shop', 'web')])).toEqual([]);
  });

  it.each(PROTECTED_NAMESPACES)('forbids writes to the protected namespace %s', (ns) => {
    expect(checkPolicy(DEFAULT_POLICY, [namespaced('ConfigMap', ns, 'x')])).toEqual([
      { subject: `ConfigMap/${ns}/x`, rule: `namespace "${ns}" is not allowed by policy.namespaces` },
    ]);
  });
});

describe('namespaceAllowed', () => {
  it('matches a namespace named literally', () => {
    expect(namespaceAllowed(policy({ namespaces: ['shop'] }), 'shop')).toBe(true);
  });

  it('rejects a namespace no pattern matches', () => {
    expect(namespaceAllowed(policy({ namespaces: ['shop'] }), 'billing')).toBe(false);
  });

  it('matches "*" against any run of characters', () => {
    const p = policy({ namespaces: ['team-*'] });
    expect([namespaceAllowed(p, 'team-a'), namespaceAllowed(p, 'team-payments'), namespaceAllowed(p, 'team-')]).toEqual(
      [true, true, true],
    );
  });

  it('anchors patterns at both ends', () => {
    const p = policy({ namespaces: ['team-*'] });
    expect([namespaceAllowed(p, 'my-team-a'), namespaceAllowed(p, 'team')]).toEqual([false, false]);
  });

  it('matches "?" against exactly one character', () => {
    const p = policy({ namespaces: ['env-?'] });
    expect([namespaceAllowed(p, 'env-a'), namespaceAllowed(p, 'env-'), namespaceAllowed(p, 'env-ab')]).toEqual([
      true,
      false,
      false,
    ]);
  });

  it('treats "." in a pattern literally, not as a regular-expression wildcard', () => {
    expect(namespaceAllowed(policy({ namespaces: ['a.b'] }), 'axb')).toBe(false);
  });

  it('allows a namespace when any one of several patterns matches', () => {
    expect(namespaceAllowed(policy({ namespaces: ['shop', 'team-*'] }), 'team-x')).toBe(true);
  });

  it('does not let "*" match a protected namespace', () => {
    expect(namespaceAllowed(policy({ namespaces: ['*'] }), 'kube-system')).toBe(false);
  });

  it('does not let a wildcard pattern that would match match a protected namespace', () => {
    expect(namespaceAllowed(policy({ namespaces: ['kube-*'] }), 'kube-public')).toBe(false);
  });

  it('allows a protected namespace that the policy names explicitly', () => {
    expect(namespaceAllowed(policy({ namespaces: ['kube-system'] }), 'kube-system')).toBe(true);
  });

  it('allows only the protected namespace that is named, not its siblings', () => {
    expect(namespaceAllowed(policy({ namespaces: ['kube-system'] }), 'kube-node-lease')).toBe(false);
  });
});

describe('checkPolicy', () => {
  it('returns no violations for an empty object list', () => {
    expect(checkPolicy(DEFAULT_POLICY, [])).toEqual([]);
  });

  it('reports a namespaced object outside the allowed namespaces by its subject', () => {
    expect(checkPolicy(policy({ namespaces: ['shop'] }), [namespaced('Service', 'billing', 'api')])).toEqual([
      { subject: 'Service/billing/api', rule: 'namespace "billing" is not allowed by policy.namespaces' },
    ]);
  });

  it('reports a namespaced object that has no namespace', () => {
    expect(checkPolicy(DEFAULT_POLICY, [namespaced('ConfigMap', undefined, 'settings')])).toEqual([
      { subject: 'ConfigMap/settings', rule: 'namespace "" is not allowed by policy.namespaces' },
    ]);
  });

  it('reports a denied kind even in an allowed namespace', () => {
    expect(checkPolicy(policy({ deniedKinds: ['Secret'] }), [namespaced('Secret', 'shop', 'db')])).toEqual([
      { subject: 'Secret/shop/db', rule: 'kind Secret is denied by policy.deniedKinds' },
    ]);
  });

  it('reports only the denied-kind rule for a denied kind that breaks other rules too', () => {
    const violations = checkPolicy(policy({ deniedKinds: ['ClusterRoleBinding'] }), [
      clusterScoped('ClusterRoleBinding', 'admin'),
    ]);
    expect(violations).toEqual([
      { subject: 'ClusterRoleBinding/admin', rule: 'kind ClusterRoleBinding is denied by policy.deniedKinds' },
    ]);
  });

  it('matches denied kinds exactly (case-sensitive)', () => {
    expect(checkPolicy(policy({ deniedKinds: ['secret'] }), [namespaced('Secret', 'shop', 'db')])).toEqual([]);
  });

  it('forbids cluster-scoped objects by default', () => {
    expect(checkPolicy(DEFAULT_POLICY, [clusterScoped('ClusterRole', 'reader')])).toEqual([
      {
        subject: 'ClusterRole/reader',
        rule: 'cluster-scoped objects are not allowed (policy.allowClusterScoped is false)',
      },
    ]);
  });

  it('allows cluster-scoped objects when allowClusterScoped is true', () => {
    expect(checkPolicy(policy({ allowClusterScoped: true }), [clusterScoped('ClusterRole', 'reader')])).toEqual([]);
  });

  it('does not check a cluster-scoped object other than a Namespace against the namespace patterns', () => {
    const p = policy({ namespaces: ['shop'], allowClusterScoped: true });
    expect(checkPolicy(p, [clusterScoped('CustomResourceDefinition', 'widgets.example.com')])).toEqual([]);
  });

  it('allows a Namespace object whose own name matches the namespace patterns', () => {
    expect(
      checkPolicy(policy({ namespaces: ['team-*'], allowClusterScoped: true }), [clusterScoped('Namespace', 'team-a')]),
    ).toEqual([]);
  });

  it('reports a Namespace object whose own name matches no namespace pattern', () => {
    expect(
      checkPolicy(policy({ namespaces: ['team-*'], allowClusterScoped: true }), [
        clusterScoped('Namespace', 'billing'),
      ]),
    ).toEqual([{ subject: 'Namespace/billing', rule: 'namespace "billing" is not allowed by policy.namespaces' }]);
  });

  it('reports a Namespace object named after a protected namespace under the "*" pattern', () => {
    expect(checkPolicy(policy({ allowClusterScoped: true }), [clusterScoped('Namespace', 'kube-system')])).toEqual([
      { subject: 'Namespace/kube-system', rule: 'namespace "kube-system" is not allowed by policy.namespaces' },
    ]);
  });

  it('reports both rules for a Namespace object when cluster-scoped writes are off and its name is not allowed', () => {
    const violations = checkPolicy(policy({ namespaces: ['shop'] }), [clusterScoped('Namespace', 'billing')]);
    expect(violations.map((v) => v.rule)).toEqual([
      'cluster-scoped objects are not allowed (policy.allowClusterScoped is false)',
      'namespace "billing" is not allowed by policy.namespaces',
    ]);
  });

  it('reports every offending object, in input order, and skips the allowed ones', () => {
    const p = policy({ namespaces: ['shop'], deniedKinds: ['Secret'] });
    const violations = checkPolicy(p, [
      namespaced('Deployment', 'shop', 'web'),
      namespaced('Secret', 'shop', 'db'),
      namespaced('Service', 'billing', 'api'),
      clusterScoped('ClusterRole', 'reader'),
    ]);
    expect(violations.map((v) => v.subject)).toEqual(['Secret/shop/db', 'Service/billing/api', 'ClusterRole/reader']);
  });
});

describe('formatViolations', () => {
  function violations(n: number): PolicyViolation[] {
    return Array.from({ length: n }, (_, i) => ({ subject: `ConfigMap/kube-system/c${i}`, rule: 'r' }));
  }

  it('names one violation with its subject and rule, singular', () => {
    expect(formatViolations([{ subject: 'Secret/shop/db', rule: 'kind Secret is denied by policy.deniedKinds' }])).toBe(
      'policy forbids 1 object; nothing was written:\n  Secret/shop/db: kind Secret is denied by policy.deniedKinds',
    );
  });

  it('counts several violations in the plural, one line each', () => {
    const text = formatViolations(violations(2));
    expect(text.split('\n')).toEqual([
      'policy forbids 2 objects; nothing was written:',
      '  ConfigMap/kube-system/c0: r',
      '  ConfigMap/kube-system/c1: r',
    ]);
  });

  it('lists all 50 violations when there are exactly 50', () => {
    const lines = formatViolations(violations(50)).split('\n');
    expect([lines.length, lines.at(-1)]).toEqual([51, '  ConfigMap/kube-system/c49: r']);
  });

  it('lists the first 50 violations and counts the rest', () => {
    const lines = formatViolations(violations(53)).split('\n');
    expect([lines[0], lines.length, lines.at(-2), lines.at(-1)]).toEqual([
      'policy forbids 53 objects; nothing was written:',
      52,
      '  ConfigMap/kube-system/c49: r',
      '  … and 3 more',
    ]);
  });
});

describe('scale bounds', () => {
  const rules = [
    { namespaces: ['batch-*'], minReplicas: 1, maxReplicas: 50, allowZero: true },
    { namespaces: ['shop'], names: ['cart'], minReplicas: 2, maxReplicas: 10, allowZero: false },
  ];

  it('uses the first rule whose namespace (and name) globs match', () => {
    expect(scaleBoundsFor(rules, DEFAULT_SCALE_BOUNDS, { namespace: 'batch-nightly', name: 'x' }).maxReplicas).toBe(50);
    expect(scaleBoundsFor(rules, DEFAULT_SCALE_BOUNDS, { namespace: 'shop', name: 'cart' }).minReplicas).toBe(2);
  });

  it('falls back to the defaults when no rule matches', () => {
    expect(scaleBoundsFor(rules, DEFAULT_SCALE_BOUNDS, { namespace: 'shop', name: 'users' })).toEqual(
      DEFAULT_SCALE_BOUNDS,
    );
  });

  it('refuses zero unless allowed, and counts outside min/max', () => {
    expect(checkScaleBounds(DEFAULT_SCALE_BOUNDS, 0)).toMatch(/zero is not allowed/);
    expect(checkScaleBounds({ ...DEFAULT_SCALE_BOUNDS, allowZero: true }, 0)).toBeUndefined();
    expect(checkScaleBounds(DEFAULT_SCALE_BOUNDS, 101)).toMatch(/above the policy maximum of 100/);
    expect(checkScaleBounds({ minReplicas: 2, maxReplicas: 10, allowZero: false }, 1)).toMatch(
      /below the policy minimum of 2/,
    );
    expect(checkScaleBounds(DEFAULT_SCALE_BOUNDS, 5)).toBeUndefined();
  });
});
