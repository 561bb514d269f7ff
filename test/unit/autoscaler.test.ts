/**
 * domain/autoscaler: which autoscaler targets a workload, what a deploy applies of a count an autoscaler or `scale`
 * owns (replicas dropped and handed over, scaled counts kept, changed manifests taking them back), what force would
 * take (from managedFields), and what `scale` does to an autoscaled workload.
 */
import { describe, expect, it } from 'vitest';
import {
  autoscalerFor,
  autoscalerOf,
  DECLARED_ANNOTATION,
  decideAutoscaledScale,
  DEPLOY_FIELD_MANAGER,
  HANDOVER_FIELD_MANAGER,
  managedFieldsOf,
  mergeAutoscalers,
  planOwnership,
  SCALE_FIELD_MANAGER,
  stolenFields,
  type Autoscaler,
} from '../../src/domain/autoscaler.js';
import { FIELD_MANAGER } from '../../src/kube/gateway.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';

const hpa = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 10 },
  ...over,
});

const deployment = (replicas?: number, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', ...(annotations ? { annotations } : {}) },
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } },
  },
});

/** A live object: `obj` with `managedFields` entries owning the given dotted paths. */
function live<T extends object>(
  obj: T,
  owners: { manager: string; operation: 'Apply' | 'Update'; subresource?: string; fields: string[] }[],
): T {
  const fieldsV1 = (paths: string[]): Record<string, unknown> => {
    const root: Record<string, unknown> = {};
    for (const p of paths) {
      let node = root;
      for (const part of p.split('.')) node = (node[`f:${part}`] ??= {}) as Record<string, unknown>;
    }
    return root;
  };
  const meta = (obj as { metadata: object }).metadata;
  return {
    ...obj,
    metadata: {
      ...meta,
      managedFields: owners.map((o) => ({
        manager: o.manager,
        operation: o.operation,
        ...(o.subresource ? { subresource: o.subresource } : {}),
        fieldsType: 'FieldsV1',
        fieldsV1: fieldsV1(o.fields),
      })),
    },
  };
}

const WEB_HPA = autoscalerOf(hpa()) as Autoscaler;
const replicasOf = (o: unknown): unknown => (o as { spec: { replicas?: unknown } }).spec.replicas;

describe('autoscalerOf / autoscalerFor', () => {
  it('reads an HPA: target and bounds (minReplicas defaults to 1)', () => {
    expect(WEB_HPA).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: 'shop',
      name: 'web',
      target: { kind: 'Deployment', name: 'web' },
      minReplicas: 2,
      maxReplicas: 10,
    });
    const noMin = hpa({ spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 4 } });
    expect(autoscalerOf(noMin)).toMatchObject({ minReplicas: 1, maxReplicas: 4 });
  });

  it('reads a KEDA ScaledObject with its defaults (Deployment target, 0–100)', () => {
    const so = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'worker', namespace: 'shop' },
      spec: { scaleTargetRef: { name: 'worker' } },
    };
    expect(autoscalerOf(so)).toMatchObject({
      kind: 'ScaledObject',
      target: { kind: 'Deployment', name: 'worker' },
      minReplicas: 0,
      maxReplicas: 100,
    });
  });

  it('ignores other kinds, other groups and HPAs without a target name', () => {
    expect(autoscalerOf(deployment(2))).toBeUndefined();
    expect(autoscalerOf(hpa({ apiVersion: 'example.com/v1' }))).toBeUndefined();
    expect(autoscalerOf(hpa({ spec: { maxReplicas: 3 } }))).toBeUndefined();
  });

  it('finds the autoscaler of a workload by namespace, kind and name only', () => {
    expect(autoscalerFor(deployment(), [WEB_HPA])).toBe(WEB_HPA);
    const other = { ...deployment(), metadata: { name: 'web', namespace: 'blog' } };
    expect(autoscalerFor(other, [WEB_HPA])).toBeUndefined();
    expect(autoscalerFor({ ...deployment(), kind: 'StatefulSet' }, [WEB_HPA])).toBeUndefined();
  });

  it("an HPA in the manifests replaces the live one of the same name (what it targets is the manifest's)", () => {
    const moved = autoscalerOf(hpa({ spec: { scaleTargetRef: { kind: 'Deployment', name: 'api' }, maxReplicas: 3 } }));
    expect(mergeAutoscalers([moved as Autoscaler], [WEB_HPA])).toEqual([moved]);
  });
});

describe('planOwnership: a workload an autoscaler targets', () => {
  it('drops spec.replicas from the apply and says so in a note', () => {
    const plan = planOwnership(deployment(2), undefined, WEB_HPA);
    expect(replicasOf(plan.object)).toBeUndefined();
    expect(plan.handover).toBeUndefined();
    expect(plan.notes).toEqual(['replicas left to HorizontalPodAutoscaler shop/web (2–10)']);
  });

  it('hands the count over first when our deploy still owns spec.replicas (the documented handover)', () => {
    const current = live({ ...deployment(3), spec: { ...(deployment(3).spec as object), replicas: 3 } }, [
      { manager: DEPLOY_FIELD_MANAGER, operation: 'Apply', fields: ['spec.replicas', 'spec.template'] },
    ]);
    const plan = planOwnership(deployment(2), current, WEB_HPA);
    expect(replicasOf(plan.object)).toBeUndefined();
    expect(plan.handover).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { replicas: 3 },
    });
    expect(plan.notes[0]).toMatch(/^replicas left to HorizontalPodAutoscaler shop\/web \(2–10\); handed over at 3/);
  });

  it('says what the HPA holds against what the manifests say once the HPA owns the count', () => {
    const current = live(deployment(7), [
      { manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', fields: ['spec.replicas'] },
    ]);
    const plan = planOwnership(deployment(2), current, WEB_HPA);
    expect(plan.handover).toBeUndefined();
    expect(plan.notes).toEqual([
      'replicas left to HorizontalPodAutoscaler shop/web (2–10): it holds 7, the manifests say 2',
    ]);
  });

  it('a rollback (restore) leaves the count to the autoscaler too, without touching the declared values', () => {
    const snapshot = deployment(5, { [DECLARED_ANNOTATION]: '{"spec.replicas":2}' });
    const plan = planOwnership(snapshot, live(deployment(7), []), WEB_HPA, 'restore');
    expect(replicasOf(plan.object)).toBeUndefined();
    expect(plan.object.metadata.annotations?.[DECLARED_ANNOTATION]).toBe('{"spec.replicas":2}');
    expect(planOwnership(snapshot, undefined, undefined, 'restore').object).toBe(snapshot);
  });
});

describe('planOwnership: counts that scale set', () => {
  const scaledTo5 = (declared?: number): KubeObject =>
    live(
      deployment(5, declared === undefined ? undefined : { [DECLARED_ANNOTATION]: `{"spec.replicas":${declared}}` }),
      [
        { manager: DEPLOY_FIELD_MANAGER, operation: 'Apply', fields: ['spec.template'] },
        { manager: FIELD_MANAGER, operation: 'Update', subresource: 'scale', fields: ['spec.replicas'] },
      ],
    );

  it('records what the manifests declare in an annotation', () => {
    const plan = planOwnership(deployment(3), undefined, undefined);
    expect(plan.object.metadata.annotations).toEqual({ [DECLARED_ANNOTATION]: '{"spec.replicas":3}' });
    expect(plan.notes).toEqual([]);
  });

  it('keeps the scaled count when the manifests still say what they said at the last deploy', () => {
    const plan = planOwnership(deployment(3), scaledTo5(3), undefined);
    expect(replicasOf(plan.object)).toBe(5);
    expect(plan.object.metadata.annotations?.[DECLARED_ANNOTATION]).toBe('{"spec.replicas":3}');
    expect(plan.takeBack).toEqual([]);
    expect(plan.notes).toEqual(['replicas kept at 5 (set by scale; the manifests still say 3)']);
  });

  it('keeps it too when no deploy recorded what the manifests said (nothing proves they changed)', () => {
    const plan = planOwnership(deployment(3), scaledTo5(), undefined);
    expect(replicasOf(plan.object)).toBe(5);
    expect(plan.notes).toEqual(['replicas kept at 5 (set by scale; the manifests say 3)']);
  });

  it('takes the count back when the manifests changed it since the last deploy', () => {
    const plan = planOwnership(deployment(4), scaledTo5(3), undefined);
    expect(replicasOf(plan.object)).toBe(4);
    expect(plan.takeBack).toEqual(['spec.replicas']);
    expect(plan.notes).toEqual(['replicas 5 → 4: the manifests changed it (was 3), taking it back from scale']);
  });

  it("keeps an HPA's bounds that scale moved, field by field", () => {
    const current = live(
      {
        ...hpa(),
        metadata: {
          name: 'web',
          namespace: 'shop',
          annotations: { [DECLARED_ANNOTATION]: '{"spec.minReplicas":2,"spec.maxReplicas":10}' },
        },
        spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 4, maxReplicas: 10 },
      },
      [
        { manager: DEPLOY_FIELD_MANAGER, operation: 'Apply', fields: ['spec.scaleTargetRef', 'spec.maxReplicas'] },
        { manager: SCALE_FIELD_MANAGER, operation: 'Apply', fields: ['spec.minReplicas', 'spec.maxReplicas'] },
      ],
    );
    const plan = planOwnership(hpa() as KubeObject, current, undefined);
    expect((plan.object as unknown as { spec: { minReplicas: number; maxReplicas: number } }).spec).toMatchObject({
      minReplicas: 4,
      maxReplicas: 10,
    });
    expect(plan.notes).toEqual(['minReplicas kept at 4 (set by scale; the manifests still say 2)']);
  });

  it('takes back a count an autoscaler left behind once no autoscaler targets the workload', () => {
    const current = live(deployment(7), [
      { manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', fields: ['spec.replicas'] },
    ]);
    const plan = planOwnership(deployment(2), current, undefined);
    expect(replicasOf(plan.object)).toBe(2);
    expect(plan.takeBack).toEqual(['spec.replicas']);
    expect(plan.notes[0]).toMatch(/taken back from an autoscaler that no longer targets it/);
  });

  it('leaves a count another tool changed alone: the apply meets its conflict as any apply does', () => {
    const current = live(deployment(9), [{ manager: 'kubectl-edit', operation: 'Update', fields: ['spec.replicas'] }]);
    const plan = planOwnership(deployment(3), current, undefined);
    expect(replicasOf(plan.object)).toBe(3);
    expect(plan.takeBack).toEqual([]);
    expect(plan.notes).toEqual([]);
  });
});

describe('managedFields', () => {
  it('flattens fieldsV1 to dotted leaf paths per entry', () => {
    const obj = {
      metadata: {
        managedFields: [
          {
            manager: 'kube-workflows',
            operation: 'Apply',
            fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } },
          },
        ],
      },
    };
    const [entry] = managedFieldsOf(obj);
    expect([...(entry?.fields ?? [])].sort()).toEqual(['metadata.labels', 'metadata.labels.app', 'spec.replicas']);
  });

  it('stolenFields: what a forced apply would take from other managers (never from our own apply)', () => {
    const before = live(deployment(5), [
      { manager: DEPLOY_FIELD_MANAGER, operation: 'Apply', fields: ['spec.template'] },
      { manager: FIELD_MANAGER, operation: 'Update', subresource: 'scale', fields: ['spec.replicas'] },
      { manager: 'kubectl-edit', operation: 'Update', fields: ['spec.paused'] },
    ]);
    const after = live(deployment(4), [
      { manager: DEPLOY_FIELD_MANAGER, operation: 'Apply', fields: ['spec.template', 'spec.replicas'] },
      { manager: 'kubectl-edit', operation: 'Update', fields: ['spec.paused'] },
    ]);
    expect(stolenFields(before, after)).toEqual(['spec.replicas']);
  });

  it('the deploy field manager is the gateway’s; the handover and scale managers are different names', () => {
    expect(DEPLOY_FIELD_MANAGER).toBe(FIELD_MANAGER);
    expect(new Set([DEPLOY_FIELD_MANAGER, SCALE_FIELD_MANAGER, HANDOVER_FIELD_MANAGER]).size).toBe(3);
  });
});

describe('decideAutoscaledScale', () => {
  const decide = (target: number, extra: Partial<Parameters<typeof decideAutoscaledScale>[0]> = {}) =>
    decideAutoscaledScale({
      subject: 'Deployment/shop/web',
      autoscaler: WEB_HPA,
      target,
      policy: 'adjust',
      force: false,
      ...extra,
    });

  it('moves the floor to the target and keeps the ceiling', () => {
    expect(decide(4)).toMatchObject({ action: 'bounds', minReplicas: 4, maxReplicas: 10, unchanged: false });
    expect(decide(4).message).toBe(
      'Deployment/shop/web is autoscaled: HorizontalPodAutoscaler shop/web bounds 2–10 → 4–10',
    );
  });

  it('raises the ceiling to a target above it', () => {
    expect(decide(12)).toMatchObject({ action: 'bounds', minReplicas: 12, maxReplicas: 12 });
  });

  it('lowers the floor (the HPA may then scale down on its metrics)', () => {
    expect(decide(1)).toMatchObject({ action: 'bounds', minReplicas: 1, maxReplicas: 10 });
  });

  it('the current floor is unchanged', () => {
    expect(decide(2)).toMatchObject({ action: 'bounds', unchanged: true });
  });

  it('refuses a scale to 0, naming the HPA, unless forced', () => {
    const refused = decide(0);
    expect(refused.action).toBe('refuse');
    expect(refused.message).toMatch(
      /^Deployment\/shop\/web is autoscaled by HorizontalPodAutoscaler shop\/web \(2–10\): scaling it to 0 would switch the autoscaler off silently/,
    );
    expect(decide(0, { force: true })).toMatchObject({ action: 'replicas', replicas: 0 });
  });

  it("with policy 'refuse', refuses naming the HPA and how to proceed", () => {
    const refused = decide(4, { policy: 'refuse' });
    expect(refused).toMatchObject({ action: 'refuse' });
    expect(refused.message).toContain('its replica count belongs to the HorizontalPodAutoscaler; nothing was written');
    expect(refused.message).toContain("hpa: 'adjust'");
  });
});
