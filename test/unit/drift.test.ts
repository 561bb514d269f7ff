/**
 * Drift attribution and values (domain/drift, domain/changes), on live objects captured from the local API server
 * (test/fixtures/drift: a Deployment after a real `kubectl edit`, and one whose count a real HPA raised), plus the
 * plan's old → new values and the two tables that print them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { driftClassesArg, driftInputFromFlags, renderDriftReport } from '../../src/cli/drift.js';
import { renderReport } from '../../src/cli/render.js';
import { changedValues, MAX_CHANGED_PATHS } from '../../src/domain/changes.js';
import {
  classifyManager,
  correctionObject,
  DEFAULT_DRIFT_POLICY,
  describeField,
  driftDedupKey,
  driftedFields,
  fieldOwners,
  formatValue,
  MAX_DRIFT_VALUE_LENGTH,
} from '../../src/domain/drift.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import type { DriftReport } from '../../src/schemas/drift.js';

const fixture = (name: string): Record<string, unknown> =>
  parse(readFileSync(new URL(`../fixtures/drift/${name}.yaml`, import.meta.url), 'utf8')) as Record<string, unknown>;

/** A deep copy of `obj` with the value at a dotted path replaced. */
function withValue<T>(obj: T, path: string, value: unknown): T {
  const copy = structuredClone(obj) as Record<string, unknown>;
  const keys = path.split('.');
  let cur = copy;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[keys.at(-1) as string] = value;
  return copy as T;
}

const edited = fixture('deployment-web-kubectl-edit'); // spec.replicas 3 → 5 by `kubectl edit`
const hpa = fixture('deployment-api-hpa'); // spec.replicas raised 1 → 3 by the HPA controller

describe('field owners from managedFields (captured objects)', () => {
  it('finds the kubectl-edit entry as the owner of the replicas it changed', () => {
    expect(fieldOwners(edited, [{ key: 'spec' }, { key: 'replicas' }]).map((o) => o.manager)).toEqual(['kubectl-edit']);
  });

  it('matches list items by their merge key (k:{"name":"app"}) and status by its subresource entry', () => {
    const item = (edited.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers[0];
    const image = [
      { key: 'spec' },
      { key: 'template' },
      { key: 'spec' },
      { key: 'containers' },
      { index: 0, item },
      { key: 'image' },
    ];
    expect(fieldOwners(edited, image).map((o) => o.manager)).toEqual(['kube-workflows']);
    expect(fieldOwners(edited, [{ key: 'status' }, { key: 'replicas' }])).toMatchObject([
      { manager: 'kube-controller-manager', operation: 'Update', subresource: 'status' },
    ]);
  });

  it('finds no owner of a count the HPA controller wrote through the scale subresource (as the server records it)', () => {
    expect(fieldOwners(hpa, [{ key: 'spec' }, { key: 'replicas' }])).toEqual([]);
  });
});

describe('classifyManager', () => {
  it.each([
    ['kubectl-edit', 'human'],
    ['kubectl-client-side-apply', 'human'],
    ['kubectl-scale', 'human'],
    ['kubectl', 'human'],
    ['helm', 'human'],
    ['kube-controller-manager', 'controller'],
    ['kube-scheduler', 'controller'],
    ['keda-operator', 'controller'],
    ['vpa-updater', 'controller'],
    ['kube-workflows', 'us'],
    ['kube-workflows-scale', 'us'],
    ['kube-workflows-handover', 'us'],
    ['my-operator', 'unknown'],
  ])('%s is %s', (manager, cls) => {
    expect(classifyManager(manager)).toBe(cls);
  });
});

describe('driftedFields', () => {
  it('reports the edited count with old → new value and the human tool that set it', () => {
    const wouldBe = withValue(edited, 'spec.replicas', 3); // what the dry-run of the manifest (replicas 3) returns
    const fields = driftedFields(edited, wouldBe);
    expect(fields.map(({ steps: _s, ...f }) => f)).toEqual([
      {
        path: 'spec.replicas',
        from: '3',
        to: '5',
        owners: [{ manager: 'kubectl-edit', operation: 'Update', time: expect.any(String) as string }],
        class: 'human',
        action: 'alert',
      },
    ]);
    expect(describeField(fields[0]!)).toBe('spec.replicas: 3 → 5 (kubectl-edit, human)');
  });

  it('never reports defaults, status or server bookkeeping: the dry-run returns them as they are live', () => {
    const wouldBe = withValue(withValue(edited, 'status', { replicas: 1 }), 'metadata.resourceVersion', '1');
    expect(driftedFields(edited, withValue(wouldBe, 'spec.replicas', 5))).toEqual([]);
  });

  it('attributes a count left to an autoscaler to it by design when no entry owns it, and never corrects it', () => {
    const fields = driftedFields(hpa, hpa, {
      policy: { ...DEFAULT_DRIFT_POLICY, controller: 'correct' },
      leftToOthers: new Map([
        ['spec.replicas', { wanted: 1, why: 'replicas left to HorizontalPodAutoscaler x/api', class: 'controller' }],
      ]),
    });
    expect(fields).toMatchObject([
      { path: 'spec.replicas', from: '1', to: '3', owners: [], class: 'controller', action: 'alert' },
    ]);
  });

  it('redacts the values of a Secret', () => {
    const live = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { token: 'bmV3' } };
    const fields = driftedFields(live, withValue(live, 'data.token', 'b2xk'), { redact: true });
    expect(fields).toMatchObject([{ path: 'data.token', from: '(redacted)', to: '(redacted)' }]);
  });
});

describe('values, keys and corrections', () => {
  it('truncates long values to a sane length', () => {
    const text = formatValue('x'.repeat(500));
    expect(text).toHaveLength(MAX_DRIFT_VALUE_LENGTH);
    expect(text.endsWith('…')).toBe(true);
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    expect(formatValue(undefined)).toBe('(absent)');
  });

  it('keys an alert by the drift content: same drift same key in any order, another value another key', () => {
    const scope = { cluster: 'local', namespace: 'shop', app: 'web' };
    const a = { subject: 'Deployment/shop/web', path: 'spec.replicas', to: '5', class: 'human' };
    const b = { subject: 'ConfigMap/shop/cfg', path: 'data.color', to: 'red', class: 'unknown' };
    expect(driftDedupKey(scope, [a, b])).toBe(driftDedupKey(scope, [b, a]));
    expect(driftDedupKey(scope, [a, b])).not.toBe(driftDedupKey(scope, [{ ...a, to: '6' }, b]));
    expect(driftDedupKey(scope, [a])).toMatch(/^drift\/local\/shop\/web\/[0-9a-f]{8}$/);
  });

  it('builds a correction that keeps fields not to be corrected at their live values', () => {
    const desired = { spec: { replicas: 3, paused: false }, metadata: { name: 'web' } };
    expect(correctionObject(desired, [{ steps: [{ key: 'spec' }, { key: 'paused' }], live: true }])).toEqual({
      spec: { replicas: 3, paused: true },
      metadata: { name: 'web' },
    });
    expect(correctionObject(desired, [{ steps: [{ key: 'spec' }, { index: 0, item: {} }], live: 1 }])).toBeUndefined();
  });
});

describe('plan values (changedValues) and the tables', () => {
  it('gives old → new per changed field, bounded like the changed paths', () => {
    const live = withValue(edited, 'spec.replicas', 5);
    expect(changedValues(live, withValue(live, 'spec.replicas', 3))).toEqual([
      { path: 'spec.replicas', from: '5', to: '3' },
    ]);
    const many = { data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'a'])) };
    const changed = { data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'b'])) };
    const values = changedValues(many, changed);
    expect(values).toHaveLength(MAX_CHANGED_PATHS + 1);
    expect(values.at(-1)?.path).toBe(`… ${30 - MAX_CHANGED_PATHS} more`);
  });

  it("never shows a Secret's values in a plan (its metadata is shown)", () => {
    const live = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', labels: { a: '1' } },
      data: { pw: 'b2xk' },
    };
    const after = { ...live, metadata: { name: 's', labels: { a: '2' } }, data: { pw: 'bmV3' } };
    expect(changedValues(live, after)).toEqual([
      { path: 'metadata.labels.a', from: '1', to: '2' },
      { path: 'data.pw', from: '(redacted)', to: '(redacted)' },
    ]);
  });

  it('prints old → new in the deploy table, and keeps the paths-only line for reports without values', () => {
    const report: DeployReport = {
      outcome: 'planned',
      cluster: 'local',
      objects: [
        {
          subject: 'Deployment/shop/web',
          action: 'configured',
          changes: ['spec.replicas'],
          changedFields: [{ path: 'spec.replicas', from: '5', to: '3' }],
        },
        { subject: 'ConfigMap/shop/cfg', action: 'configured', changes: ['data.color'] },
      ],
      durationsMs: {},
      message: 'planned',
    };
    const text = renderReport(report);
    expect(text).toContain('changed spec.replicas: 5 → 3');
    expect(text).toContain('changed data.color');
  });

  it('prints one drift row per field with old → new, who set it and what was done', () => {
    const report: DriftReport = {
      outcome: 'corrected',
      cluster: 'local',
      app: 'shop',
      namespace: 'shop',
      dryRuns: 2,
      notInManifests: [],
      notInInventory: [],
      message: 'corrected',
      objects: [
        {
          subject: 'Deployment/shop/web',
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: 'shop',
          name: 'web',
          state: 'inSync',
          desiredHash: 'h',
          scanned: true,
          fields: [
            {
              path: 'spec.replicas',
              from: '3',
              to: '5',
              owners: [{ manager: 'kubectl-edit', operation: 'Update' }],
              class: 'human',
              action: 'correct',
              corrected: true,
            },
          ],
        },
      ],
    };
    const row = renderDriftReport(report)
      .split('\n')
      .find((l) => l.includes('Deployment/shop/web'));
    expect(row).toMatch(/spec\.replicas\s+3 → 5\s+kubectl-edit \(human\)\s+corrected/);
  });
});

describe('drift CLI flags', () => {
  const base = {
    filename: ['k8s'],
    recursive: false,
    namespace: 'shop',
    requireApproval: false,
    approvalTimeout: 3600,
  };

  it('turns --correct/--alert/--ignore into the policy, later flags winning', () => {
    const input = driftInputFromFlags(
      'cart',
      { ...base, correct: ['human', 'unknown'], ignore: ['unknown'], channel: ['oncall'] },
      [{ text: 'x' }],
    );
    expect(input).toMatchObject({
      app: 'cart',
      namespace: 'shop',
      policy: { human: 'correct', unknown: 'ignore' },
      channels: ['oncall'],
      sources: [{ text: 'x' }],
    });
  });

  it('refuses an unknown class, naming the accepted ones', () => {
    expect(() => driftClassesArg('human,people')).toThrow(/expected classes from us, controller, human, unknown/);
  });
});
