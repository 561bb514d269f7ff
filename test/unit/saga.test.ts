/**
 * The deploy saga's ledger (src/domain/saga.ts): what may have changed after each kind of failure, how it is
 * undone (last stage first, workloads before what they use), and the verdict from the undo's results.
 */
import { describe, expect, it } from 'vitest';
import { DeployLedger, sagaVerdict, WriteState } from '../../src/domain/saga.js';

/** A reference as the workflow builds it; `namespace: ''` for a cluster-scoped object. */
const ref = (kind: string, name: string, apiVersion = 'v1', namespace = 'shop') => ({
  apiVersion,
  kind,
  namespace: namespace || undefined,
  name,
  subject: namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`,
});

function ledger(): DeployLedger {
  return new DeployLedger([
    {
      ...ref('CustomResourceDefinition', 'widgets.example.com', 'apiextensions.k8s.io/v1', ''),
      action: 'created',
      stage: 0,
    },
    { ...ref('ConfigMap', 'cfg'), action: 'configured', stage: 1 },
    { ...ref('Service', 'web'), action: 'created', stage: 1 },
    { ...ref('Deployment', 'web', 'apps/v1'), action: 'created', stage: 1 },
    { ...ref('Secret', 'same'), action: 'unchanged', stage: 1 },
  ]);
}

describe('DeployLedger', () => {
  it('holds nothing that may have changed before any write starts', () => {
    const l = ledger();
    expect(l.untouched).toBe(true);
    expect(l.compensationPlan()).toEqual([]);
  });

  it('counts a started, unconfirmed write as maybe changed (a timeout or a crash mid-stage)', () => {
    const l = ledger();
    l.beginWrite(['ConfigMap/shop/cfg', 'Deployment/shop/web']);
    expect(l.mayHaveChanged().map((e) => e.state)).toEqual([WriteState.Writing, WriteState.Writing]);
    expect(l.untouched).toBe(false);
  });

  it('drops objects the API server refused and keeps the confirmed ones (a 409 on the second object)', () => {
    const l = ledger();
    l.beginWrite(['ConfigMap/shop/cfg', 'Deployment/shop/web']);
    l.confirm(['ConfigMap/shop/cfg']);
    l.refuse(['Deployment/shop/web']);
    expect(l.mayHaveChanged().map((e) => e.subject)).toEqual(['ConfigMap/shop/cfg']);
    expect(l.compensationPlan()).toEqual([{ stage: 1, restore: [ref('ConfigMap', 'cfg')], remove: [] }]);
  });

  it('a refusal never un-confirms a write an earlier attempt confirmed', () => {
    const l = ledger();
    l.beginWrite(['ConfigMap/shop/cfg']);
    l.confirm(['ConfigMap/shop/cfg']);
    l.beginWrite(['ConfigMap/shop/cfg']);
    l.refuse(['ConfigMap/shop/cfg']);
    expect(l.mayHaveChanged().map((e) => e.state)).toEqual([WriteState.Written]);
  });

  it('undoes the last stage first, restores before it deletes, and deletes workloads before services', () => {
    const l = ledger();
    l.beginWrite(['CustomResourceDefinition/widgets.example.com']);
    l.confirm(['CustomResourceDefinition/widgets.example.com']);
    l.beginWrite(['ConfigMap/shop/cfg', 'Service/shop/web', 'Deployment/shop/web', 'Secret/shop/same']);
    const plan = l.compensationPlan();
    expect(plan.map((s) => s.stage)).toEqual([1, 0]);
    expect(plan[0]?.restore.map((r) => r.subject)).toEqual(['ConfigMap/shop/cfg']);
    expect(plan[0]?.remove.map((r) => r.subject)).toEqual(['Deployment/shop/web', 'Service/shop/web']);
    expect(plan[1]?.remove.map((r) => r.subject)).toEqual(['CustomResourceDefinition/widgets.example.com']);
    // an unchanged object is never compensated
    expect(plan.flatMap((s) => [...s.restore, ...s.remove]).map((r) => r.subject)).not.toContain('Secret/shop/same');
  });
});

describe('sagaVerdict', () => {
  it('is rolledBack when every undo succeeded and the restored objects are healthy', () => {
    const v = sagaVerdict(
      [
        { subject: 'ConfigMap/shop/cfg', result: 'restored' },
        { subject: 'Deployment/shop/web', result: 'deleted' },
        { subject: 'Service/shop/web', result: 'untouched' },
      ],
      new Map(),
    );
    expect(v).toEqual({ outcome: 'rolledBack', left: [], summary: '1 restored, 1 deleted, 1 needed no undo' });
  });

  it('is rollbackFailed, naming the object and why, when an undo failed', () => {
    const v = sagaVerdict(
      [
        { subject: 'ConfigMap/shop/cfg', result: 'failed', message: 'forbidden' },
        { subject: 'Deployment/shop/web', result: 'deleted' },
      ],
      new Map(),
    );
    expect(v.outcome).toBe('rollbackFailed');
    expect(v.left).toEqual(['ConfigMap/shop/cfg: forbidden']);
  });

  it('is rollbackFailed when a restored object does not become healthy again', () => {
    const v = sagaVerdict(
      [{ subject: 'Deployment/shop/web', result: 'restored' }],
      new Map([['Deployment/shop/web', 'InProgress: 0 of 1 available']]),
    );
    expect(v.outcome).toBe('rollbackFailed');
    expect(v.summary).toMatch(/1 left: Deployment\/shop\/web: not healthy after restore/);
  });
});
