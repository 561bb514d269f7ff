/**
 * AssessmentMemo and assessmentSignature (waitForHealth assesses again only what a watch event touched): a result is
 * served while its object and related objects are unchanged, and never past its due time or its maximum age.
 */
import { describe, expect, it } from 'vitest';
import { AssessmentMemo, assessmentSignature } from '../../src/activities/related.js';
import type { LiveObject } from '../../src/kube/index.js';

function obj(kind: string, name: string, rv: string | undefined, uid = `${name}-uid`): LiveObject {
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'ns', uid, ...(rv === undefined ? {} : { resourceVersion: rv }) },
  };
}

describe('assessmentSignature', () => {
  const deploy = obj('Deployment', 'web', '10');
  const rs = obj('ReplicaSet', 'web-1', '11');
  const pod = obj('Pod', 'web-1-a', '12');

  it('is the same for the same versions and changes with any of them', () => {
    const base = assessmentSignature(deploy, { replicaSets: [rs], pods: [pod] });
    expect(assessmentSignature(deploy, { replicaSets: [rs], pods: [pod] })).toBe(base);
    expect(assessmentSignature(obj('Deployment', 'web', '13'), { replicaSets: [rs], pods: [pod] })).not.toBe(base);
    expect(assessmentSignature(deploy, { replicaSets: [obj('ReplicaSet', 'web-1', '14')], pods: [pod] })).not.toBe(
      base,
    );
    expect(assessmentSignature(deploy, { replicaSets: [rs], pods: [obj('Pod', 'web-1-a', '15')] })).not.toBe(base);
  });

  it('changes when a related object appears or goes, and when an object is replaced under its name', () => {
    const base = assessmentSignature(deploy, { replicaSets: [rs], pods: [pod] });
    expect(assessmentSignature(deploy, { replicaSets: [rs], pods: [] })).not.toBe(base);
    expect(assessmentSignature(deploy, { replicaSets: [rs], pods: [pod, obj('Pod', 'web-1-b', '16')] })).not.toBe(base);
    expect(
      assessmentSignature(obj('Deployment', 'web', '10', 'other-uid'), { replicaSets: [rs], pods: [pod] }),
    ).not.toBe(base);
  });

  it('never matches for an object without a resourceVersion', () => {
    const noRv = obj('Deployment', 'web', undefined);
    expect(assessmentSignature(noRv, { replicaSets: [], pods: [] })).not.toBe(
      assessmentSignature(noRv, { replicaSets: [], pods: [] }),
    );
  });
});

describe('AssessmentMemo', () => {
  it('serves a result for its signature until its due time, then no longer', () => {
    const memo = new AssessmentMemo<string>(60_000);
    memo.remember('Deployment/ns/web', 'sig-1', 'InProgress', 1_000, 5_000);
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 4_999)).toBe('InProgress');
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 5_000)).toBeUndefined();
  });

  it('serves nothing for another signature or another key', () => {
    const memo = new AssessmentMemo<string>();
    memo.remember('Deployment/ns/web', 'sig-1', 'Current', 1_000);
    expect(memo.lookup('Deployment/ns/web', 'sig-2', 1_001)).toBeUndefined();
    expect(memo.lookup('Deployment/ns/api', 'sig-1', 1_001)).toBeUndefined();
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 1_001)).toBe('Current');
  });

  it('expires a result with no due time after maxAgeMs, so a rule depending on time alone is seen again', () => {
    const memo = new AssessmentMemo<string>(5_000);
    memo.remember('Deployment/ns/web', 'sig-1', 'Current', 1_000);
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 5_999)).toBe('Current');
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 6_000)).toBeUndefined();
  });

  it('replaces what it remembered for a key', () => {
    const memo = new AssessmentMemo<string>();
    memo.remember('Deployment/ns/web', 'sig-1', 'InProgress', 1_000);
    memo.remember('Deployment/ns/web', 'sig-2', 'Current', 2_000);
    expect(memo.lookup('Deployment/ns/web', 'sig-1', 2_001)).toBeUndefined();
    expect(memo.lookup('Deployment/ns/web', 'sig-2', 2_001)).toBe('Current');
  });
});
