import { describe, it, expect } from 'vitest';
import { DEFINITION_KINDS, KIND_ORDER, deletionOrder, planStages } from '../../src/domain/ordering.js';
import type { Stage } from '../../src/domain/ordering.js';

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string | undefined };
}

function obj(kind: string, name: string, namespace?: string): Obj {
  return { kind, metadata: namespace === undefined ? { name } : { name, namespace } };
}

/** `Kind/namespace/name` (or `Kind/name`) of each object, to compare orders at a glance. */
function subjects(items: readonly Obj[]): string[] {
  return items.map((o) => [o.kind, o.metadata.namespace, o.metadata.name].filter((p) => p !== undefined).join('/'));
}

function layout(stages: Stage<Obj>[]): Record<string, string[]> {
  return Object.fromEntries(stages.map((s) => [s.name, subjects(s.items)]));
}

describe('planStages', () => {
  it('returns no stages for no objects', () => {
    expect(planStages([])).toEqual([]);
  });

  it('puts definition kinds in a first "definitions" stage and everything else in a "resources" stage', () => {
    const stages = planStages([
      obj('Deployment', 'web', 'shop'),
      obj('Namespace', 'shop'),
      obj('ConfigMap', 'cfg', 'shop'),
    ]);
    expect(layout(stages)).toEqual({
      definitions: ['Namespace/shop'],
      resources: ['ConfigMap/shop/cfg', 'Deployment/shop/web'],
    });
  });

  it('lists the definitions stage before the resources stage', () => {
    const stages = planStages([obj('Service', 'api', 'shop'), obj('CustomResourceDefinition', 'widgets.example.com')]);
    expect(stages.map((s) => s.name)).toEqual(['definitions', 'resources']);
  });

  it('omits the definitions stage when there are no definition kinds', () => {
    expect(planStages([obj('Service', 'api', 'shop')]).map((s) => s.name)).toEqual(['resources']);
  });

  it('omits the resources stage when there are only definition kinds', () => {
    expect(planStages([obj('Namespace', 'shop')]).map((s) => s.name)).toEqual(['definitions']);
  });

  it('orders definitions by the DEFINITION_KINDS order: CRDs, then Namespaces, then cluster RBAC', () => {
    const stages = planStages([
      obj('ClusterRoleBinding', 'bind'),
      obj('Namespace', 'shop'),
      obj('ClusterRole', 'reader'),
      obj('CustomResourceDefinition', 'widgets.example.com'),
    ]);
    expect(layout(stages).definitions).toEqual([
      'CustomResourceDefinition/widgets.example.com',
      'Namespace/shop',
      'ClusterRole/reader',
      'ClusterRoleBinding/bind',
    ]);
  });

  it('orders every DEFINITION_KINDS kind in its listed order whatever the input order', () => {
    const kinds = [...DEFINITION_KINDS];
    const stages = planStages([...kinds].reverse().map((k) => obj(k, 'x')));
    expect(stages[0]?.items.map((o) => o.kind)).toEqual(kinds);
  });

  it('orders every KIND_ORDER kind in its listed order whatever the input order', () => {
    const stages = planStages([...KIND_ORDER].reverse().map((k) => obj(k, 'x', 'ns')));
    expect(stages[0]?.items.map((o) => o.kind)).toEqual(KIND_ORDER);
  });

  it('applies config and services before the workloads that use them', () => {
    const stages = planStages([
      obj('Deployment', 'web', 'shop'),
      obj('Service', 'web', 'shop'),
      obj('Secret', 'db', 'shop'),
      obj('ConfigMap', 'cfg', 'shop'),
      obj('ServiceAccount', 'web', 'shop'),
    ]);
    expect(layout(stages).resources).toEqual([
      'ServiceAccount/shop/web',
      'Secret/shop/db',
      'ConfigMap/shop/cfg',
      'Service/shop/web',
      'Deployment/shop/web',
    ]);
  });

  it('puts unknown kinds (custom resources) after every known kind', () => {
    const stages = planStages([
      obj('Widget', 'w', 'shop'),
      obj('NetworkPolicy', 'deny', 'shop'),
      obj('ResourceQuota', 'q', 'shop'),
    ]);
    expect(layout(stages).resources).toEqual(['ResourceQuota/shop/q', 'NetworkPolicy/shop/deny', 'Widget/shop/w']);
  });

  it('orders unknown kinds among themselves by kind name', () => {
    const stages = planStages([obj('Zebra', 'z', 'shop'), obj('Certificate', 'c', 'shop'), obj('Issuer', 'i', 'shop')]);
    expect(layout(stages).resources).toEqual(['Certificate/shop/c', 'Issuer/shop/i', 'Zebra/shop/z']);
  });

  it('orders objects of one kind by namespace, then name', () => {
    const stages = planStages([
      obj('ConfigMap', 'b', 'shop'),
      obj('ConfigMap', 'z', 'billing'),
      obj('ConfigMap', 'a', 'shop'),
      obj('ConfigMap', 'a', 'billing'),
    ]);
    expect(layout(stages).resources).toEqual([
      'ConfigMap/billing/a',
      'ConfigMap/billing/z',
      'ConfigMap/shop/a',
      'ConfigMap/shop/b',
    ]);
  });

  it('orders cluster-scoped objects of one kind by name', () => {
    const stages = planStages([obj('Namespace', 'shop'), obj('Namespace', 'billing'), obj('Namespace', 'ops')]);
    expect(layout(stages).definitions).toEqual(['Namespace/billing', 'Namespace/ops', 'Namespace/shop']);
  });

  it('gives the same plan for any input order', () => {
    const objects = [
      obj('Deployment', 'web', 'shop'),
      obj('Namespace', 'shop'),
      obj('Widget', 'w', 'shop'),
      obj('ConfigMap', 'cfg', 'shop'),
      obj('Service', 'web', 'shop'),
    ];
    expect(planStages([...objects].reverse())).toEqual(planStages(objects));
  });

  it('returns the very objects it was given, not copies', () => {
    const deployment = obj('Deployment', 'web', 'shop');
    expect(planStages([deployment])[0]?.items[0]).toBe(deployment);
  });

  it('leaves the input array in its original order', () => {
    const objects = [obj('Deployment', 'web', 'shop'), obj('Namespace', 'shop')];
    planStages(objects);
    expect(subjects(objects)).toEqual(['Deployment/shop/web', 'Namespace/shop']);
  });
});

describe('deletionOrder', () => {
  it('returns nothing for no objects', () => {
    expect(deletionOrder([])).toEqual([]);
  });

  it('is the apply order reversed: workloads first, namespaces and CRDs last', () => {
    const objects = [
      obj('Namespace', 'shop'),
      obj('CustomResourceDefinition', 'widgets.example.com'),
      obj('ConfigMap', 'cfg', 'shop'),
      obj('Deployment', 'web', 'shop'),
      obj('Widget', 'w', 'shop'),
    ];
    expect(subjects(deletionOrder(objects))).toEqual([
      'Widget/shop/w',
      'Deployment/shop/web',
      'ConfigMap/shop/cfg',
      'Namespace/shop',
      'CustomResourceDefinition/widgets.example.com',
    ]);
  });

  it('equals the flattened planStages order reversed', () => {
    const objects = [obj('Service', 'a', 'x'), obj('ClusterRole', 'r'), obj('Secret', 's', 'x'), obj('Job', 'j', 'x')];
    expect(deletionOrder(objects)).toEqual(
      planStages(objects)
        .flatMap((s) => s.items)
        .reverse(),
    );
  });
});
