/**
 * Never half-done, on the real stack: a deploy that fails after its first write undoes exactly what it changed and
 * says so, and a plan approved after the cluster moved is never applied as it was. The API server's own audit
 * log proves what was written (and that a refused write was not).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { auditMark, countAuditWrites } from '../support/audit.js';
import { pollUntil } from '../support/poll.js';
import { recordHistory, useHarness } from './harness.js';

const h = useHarness('saga');

/** A ConfigMap and a Deployment that reads it; `release` goes into both. */
function app(ns: string, release: string, image = 'registry.example/web:1'): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: web-config, namespace: ${ns} }
data: { release: ${release} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${ns}, labels: { release: ${release} } }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${image}
          envFrom: [{ configMapRef: { name: web-config } }]
`;
}

async function configRelease(): Promise<string | undefined> {
  const cm = await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'web-config' });
  return (cm as { data?: { release?: string } } | undefined)?.data?.release;
}

async function deploymentOf(): Promise<{ image: string | undefined; release: string | undefined }> {
  const d = (await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' })) as
    | {
        metadata: { labels?: Record<string, string> };
        spec: { template: { spec: { containers: { image: string }[] } } };
      }
    | undefined;
  return { image: d?.spec.template.spec.containers[0]?.image, release: d?.metadata.labels?.release };
}

const policyName = `deny-web-v2-${Math.random().toString(36).slice(2, 8)}`;
afterAll(async () => {
  for (const kind of ['ValidatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicy']) {
    await h.kube
      .delete({ apiVersion: 'admissionregistration.k8s.io/v1', kind, name: policyName })
      .catch(() => undefined);
  }
});

describe('a write refused mid-stage', () => {
  it('an admission policy denying the second object rolls the first back to v1, and the audit log shows it', async () => {
    expect((await (await h.client.deploy({ manifests: app(h.namespace, 'v1'), app: 'web' })).result()).outcome).toBe(
      'succeeded',
    );
    // Real writes (not dry runs: the plan still passes) of web at v2 are denied in this namespace.
    await h.kube.apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: policyName },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] },
          ],
        },
        validations: [
          {
            // lets the test see when the policy is in force, without writing anything
            expression: "!has(object.metadata.labels) || !('probe' in object.metadata.labels)",
            message: 'probe denied',
          },
          {
            expression:
              "request.dryRun == true || !has(object.metadata.labels) || !('release' in object.metadata.labels) || object.metadata.labels['release'] != 'v2'",
            message: 'release v2 of web is frozen',
          },
        ],
      },
    });
    await h.kube.apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policyName },
      spec: {
        policyName,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': h.namespace } } },
      },
    });
    // The policy takes effect asynchronously: wait until a (dry-run) probe is denied.
    await pollUntil(
      () =>
        h
          .kubectl('label', 'deployment', 'web', '-n', h.namespace, 'probe=1', '--dry-run=server')
          .then(() => 'allowed')
          .catch((e: unknown) => String(e)),
      (r) => r.includes('probe denied'),
    );

    const mark = auditMark(inject('stack').auditLogPath);
    const handle = await h.client.deploy({ manifests: app(h.namespace, 'v2'), app: 'web', timeoutSeconds: 60 });
    const report: DeployReport = await handle.result();
    await recordHistory('deploy-saga-refused', handle.raw);

    expect(report.outcome).toBe('rolledBack');
    expect(report.failure?.type).toBe('KubeInvalid');
    expect(report.message).toMatch(/release v2 of web is frozen/);
    expect(report.message).toMatch(/rolled back: 1 restored, 0 deleted/);
    const line = (subject: string) => report.objects.find((o) => o.subject === subject);
    expect(line(`ConfigMap/${h.namespace}/web-config`)).toMatchObject({
      action: 'restored',
      rollback: 'restored',
      status: 'Current',
    });
    expect(line(`Deployment/${h.namespace}/web`)?.rollback).toBeUndefined();
    // The cluster is back at v1 everywhere.
    expect(await configRelease()).toBe('v1');
    expect(await deploymentOf()).toEqual({ image: 'registry.example/web:1', release: 'v1' });

    // The API server's own record: the ConfigMap was written twice (v2, then restored), the Deployment's one write
    // was refused and nothing else was written.
    const writes = countAuditWrites(inject('stack').auditLogPath, {
      ...mark,
      namespace: h.namespace,
      userAgent: 'kube-workflows',
    });
    process.stderr.write(`[saga] audit writes during the refused deploy: ${JSON.stringify(writes.byObject)}\n`);
    const cm = writes.writes.filter((w) => w.resource === 'configmaps' && w.name === 'web-config');
    expect(cm.map((w) => w.code)).toEqual([200, 200]);
    const dep = writes.writes.filter((w) => w.resource === 'deployments' && w.name === 'web');
    expect(dep).toHaveLength(1);
    expect(dep[0]?.code).toBeGreaterThanOrEqual(400);
  });
});

describe('approval of a plan the cluster moved away from', () => {
  it('a conflicting change during the approval wait fails the re-plan: nothing is written, the ConfigMap stays v1', async () => {
    await h.kube.delete({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      name: policyName,
    });
    const handle = await h.client.deploy({
      manifests: app(h.namespace, 'v3', 'registry.example/web:3'),
      app: 'web',
      requireApproval: true,
    });
    const waiting = await pollUntil(
      () => handle.progress(),
      (p) => p.phase === 'awaitingApproval',
    );
    // Someone hot-fixes the image by hand (field manager kubectl-set) while the plan waits.
    await h.kubectl('set', 'image', 'deployment/web', '-n', h.namespace, 'web=registry.example/web:hotfix');
    const mark = auditMark(inject('stack').auditLogPath);
    await handle.approve({ planId: waiting.planId ?? '', by: 'alice' });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(err)).toBe('ApplyConflict');
    expect(messageOf(err)).toMatch(/Deployment\/saga-[a-f0-9]+\/web/);
    expect(messageOf(err)).toMatch(/nothing was written/);
    expect(await configRelease()).toBe('v1');
    expect((await deploymentOf()).image).toBe('registry.example/web:hotfix');
    // kube-workflows wrote nothing at all (its requests carry the User-Agent `kube-workflows`)
    const writes = countAuditWrites(inject('stack').auditLogPath, {
      ...mark,
      namespace: h.namespace,
      userAgent: 'kube-workflows',
    });
    expect(writes.total).toBe(0);
  });

  it('a non-conflicting change during the approval wait re-plans and asks again, naming the moved object', async () => {
    const handle = await h.client.deploy({
      manifests: app(h.namespace, 'v4', 'registry.example/web:hotfix'),
      app: 'web',
      requireApproval: true,
    });
    const first = await pollUntil(
      () => handle.progress(),
      (p) => p.phase === 'awaitingApproval',
    );
    // An annotation nobody in the manifests sets: no conflict, but the live object is not what was approved.
    await h.kubectl('annotate', 'configmap/web-config', '-n', h.namespace, 'owner=team-a');
    await handle.approve({ planId: first.planId ?? '', by: 'alice' });
    const again = await pollUntil(
      () => handle.progress(),
      (p) => p.phase === 'awaitingApproval' && !!p.moved?.length,
    );
    expect(again.moved).toContain(`ConfigMap/${h.namespace}/web-config`);
    expect(await configRelease()).toBe('v1'); // nothing written on the stale approval
    await handle.approve({ planId: again.planId ?? '', by: 'alice', comment: 'still fine' });
    const report = await handle.result();
    await recordHistory('deploy-saga-replanned', handle.raw);
    expect(report.outcome).toBe('succeeded');
    expect(await configRelease()).toBe('v4');
  });
});
