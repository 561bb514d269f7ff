/**
 * deployManifests against the real local stack: Temporal dev server + kube-apiserver with KWOK pods.
 * Assertions read the cluster's real state, the report and the workflow history.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, inject, it } from 'vitest';
import { InvalidInputError } from '../../src/client/index.js';
import { readStackState } from '../../src/dev/index.js';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { auditMark, readAuditEvents } from '../support/audit.js';
import { appManifests } from '../support/workloads.js';
import { inventoryName, parseInventory } from '../../src/activities/deploy.js';
import { recordHistory, useHarness } from './harness.js';

const h = useHarness('deploy');

/** An app named `name` (ConfigMap `<name>-config`, Deployment and Service `<name>`): each test deploys its own. */
function webApp(ns: string, name: string, opts: { image?: string; replicas?: number; chaos?: string } = {}): string {
  return appManifests(ns, name, {
    config: '{ GREETING: hello }',
    container: 'web',
    image: opts.image ?? 'registry.example/web:1.0.0',
    replicas: opts.replicas,
    chaos: opts.chaos,
  });
}

/** Activity tasks the stack's Temporal server dispatched eagerly so far (its Prometheus counter, all series). */
async function eagerActivityDispatches(): Promise<number> {
  const state = readStackState(inject('stack').dir);
  if (!state) throw new Error('no stack state');
  const text = await (await fetch(`http://127.0.0.1:${state.temporal.metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('activity_eager_execution'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Deploys `manifests` as app `app` and returns its report. */
async function deploy(
  app: string,
  manifests: string,
  extra: Record<string, unknown> = {},
  record?: string,
): Promise<DeployReport> {
  const handle = await h.client.deploy({ manifests, app, timeoutSeconds: 90, ...extra });
  const report = await handle.result();
  if (record) await recordHistory(record, handle.raw);
  return report;
}

/** Deploys app `name` as {@link webApp} renders it with `opts`, for a test's starting state; it must succeed. */
async function deployed(name: string, opts: Parameters<typeof webApp>[2] = {}): Promise<void> {
  const report = await deploy(name, webApp(h.namespace, name, opts));
  expect(report.outcome).toBe('succeeded');
}

const deploymentKey = (name: string) =>
  ({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name }) as const;

/** Ready pods of app `name` (not being deleted). */
async function readyPods(name: string): Promise<number> {
  const out = JSON.parse(
    await h.kubectl('get', 'pods', '-n', h.namespace, '-l', `app.kubernetes.io/name=${name}`, '-o', 'json'),
  ) as {
    items: { metadata: { deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[];
  };
  return out.items.filter(
    (p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  ).length;
}

describe('deployManifests', () => {
  it('records its inventory in a local activity (no recordInventory task after health)', async () => {
    const name = 'inv-local';
    const manifests = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}, namespace: ${h.namespace} }\ndata: { a: b }\n`;
    const handle = await h.client.deploy({ manifests, app: name, timeoutSeconds: 90 });
    expect((await handle.result()).outcome).toBe('succeeded');
    const events = (await handle.raw.fetchHistory()).events ?? [];
    expect(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])).not.toContain(
      'recordInventory',
    );
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(1);
    // the inventory the local activity wrote lists the object
    const inventory = await h.kube.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: h.namespace,
      name: inventoryName(name),
    });
    expect(parseInventory(inventory).map((e) => e.subject)).toEqual([`ConfigMap/${h.namespace}/${name}`]);
    await recordHistory('deploy-inventory-local', handle.raw);
  });

  it('applies a ConfigMap, Deployment and Service and waits until the Deployment pods are Ready', async () => {
    const name = 'web-new';
    const report = await deploy(name, webApp(h.namespace, name), {}, 'deploy-created');
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.map((o) => [o.subject, o.action, o.status])).toEqual([
      // in the order they were applied: configuration, then Services, then workloads
      [`ConfigMap/${h.namespace}/${name}-config`, 'created', 'Current'],
      [`Service/${h.namespace}/${name}`, 'created', 'Current'],
      [`Deployment/${h.namespace}/${name}`, 'created', 'Current'],
    ]);
    const dep = await h.kube.get(deploymentKey(name));
    expect((dep?.status as { readyReplicas?: number }).readyReplicas).toBe(2);
    expect(await readyPods(name)).toBe(2);
    const cm = await h.kube.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: h.namespace,
      name: `${name}-config`,
    });
    expect((cm as unknown as { data: Record<string, string> }).data.GREETING).toBe('hello');
    // one field manager owns what we applied
    const managers =
      (dep?.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? [];
    expect(managers.filter((m) => m.operation === 'Apply').map((m) => m.manager)).toEqual(['kube-workflows']);
  });

  it('waits on watches of the Deployment, its ReplicaSets and Pods; the ConfigMap and Service are read once', async () => {
    // slow pods (Ready 2 s after they run): the wait is certain to open its watches before it settles
    const name = 'web-watched';
    const manifests = appManifests(h.namespace, name, {
      config: '{ GREETING: hello }',
      container: 'web',
      image: 'registry.example/web:1.0.0',
      chaos: 'slow',
      chaosDelay: '2s',
    });
    const audit = inject('stack').auditLogPath;
    const mark = auditMark(audit);
    expect((await deploy(name, manifests)).outcome).toBe('succeeded');
    // a watch is in the audit log once it has ended: the wait closed them when it settled
    const watched = (): Set<string | undefined> =>
      new Set(
        readAuditEvents(audit, mark.offset)
          .filter((e) => e.verb === 'watch' && e.objectRef?.namespace === h.namespace)
          .filter((e) => (e.userAgent ?? '').startsWith('kube-workflows'))
          .map((e) => e.objectRef?.resource),
      );
    await expect.poll(() => watched().size, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(watched()).toEqual(new Set(['deployments', 'replicasets', 'pods']));
  });

  it("gets its activities from the workflow task that schedules them, not the task queue (the stack's eager dispatch)", async () => {
    const before = await eagerActivityDispatches();
    const report = await deploy('eager', webApp(h.namespace, 'eager'));
    expect(report.outcome).toBe('succeeded');
    // plan, apply and health wait (TEMPORAL_DYNAMIC_CONFIG turns eager dispatch on in the stack's dev server); the
    // server's metrics reach its /metrics page on their next report, within a few seconds
    await expect
      .poll(async () => (await eagerActivityDispatches()) - before, { timeout: 15_000, interval: 250 })
      .toBeGreaterThanOrEqual(3);
  });

  it('re-running the same deploy reports every object unchanged and writes nothing', async () => {
    const name = 'web-rerun';
    await deployed(name);
    const before = await h.kube.get(deploymentKey(name));
    const report = await deploy(name, webApp(h.namespace, name));
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.map((o) => o.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const after = await h.kube.get(deploymentKey(name));
    expect(after?.metadata.generation).toBe(before?.metadata.generation);
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  });

  it('an image change is reported as configured with the changed field', async () => {
    const name = 'web-image';
    await deployed(name, { image: 'registry.example/web:1.0.0' });
    const report = await deploy(name, webApp(h.namespace, name, { image: 'registry.example/web:1.1.0' }));
    expect(report.outcome).toBe('succeeded');
    const dep = report.objects.find((o) => o.subject === `Deployment/${h.namespace}/${name}`);
    expect(dep?.action).toBe('configured');
    expect(dep?.changes).toContain('spec.template.spec.containers[0].image');
  });

  it('a crash-looping release fails fast and is rolled back to the previous image', async () => {
    const name = 'web-crash';
    await deployed(name, { image: 'registry.example/web:1.1.0' });
    const report = await deploy(
      name,
      webApp(h.namespace, name, { image: 'registry.example/web:2.0.0', chaos: 'crash' }),
      {},
      'deploy-rolled-back',
    );
    expect(report.outcome).toBe('rolledBack');
    // fail fast: the cause is the pods' crash, not the 90 s health timeout
    expect(report.message).toMatch(/CrashLoopBackOff/);
    expect(report.message).not.toMatch(/timeout after/);
    // the report shows the restored Deployment as it is now: healthy again
    expect(report.objects.find((o) => o.subject === `Deployment/${h.namespace}/${name}`)).toMatchObject({
      action: 'restored',
      status: 'Current',
    });
    const dep = await h.kube.get(deploymentKey(name));
    const spec = dep as unknown as {
      spec: { template: { spec: { containers: { image: string }[] }; metadata: { labels: Record<string, string> } } };
    };
    expect(spec.spec.template.spec.containers[0]?.image).toBe('registry.example/web:1.1.0');
    expect(spec.spec.template.metadata.labels['kube-workflows.dev/chaos']).toBeUndefined();
  });

  it('invalid YAML fails the workflow in its first task with a non-retryable error naming the document', async () => {
    const bad = `${webApp(h.namespace, 'web')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: broken\n`;
    // The client rejects it before starting anything…
    await expect(h.client.deploy({ manifests: bad })).rejects.toBeInstanceOf(InvalidInputError);
    // …and a caller that bypasses the client (Web UI, another SDK) meets the same check in the workflow.
    const handle = await h.client.temporal.workflow.start('deployManifests', {
      taskQueue: h.taskQueue,
      workflowId: `bad-yaml-${Date.now()}`,
      args: [{ manifests: bad }],
    });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect(cause?.message).toMatch(/document 4/);
    const history = await handle.fetchHistory();
    const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
    expect(scheduled).toHaveLength(0);
  });

  it('an object outside the policy fails with PolicyViolation and nothing is written', async () => {
    const manifests = `${webApp(h.namespace, 'web').replaceAll('web-config', 'other-config')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: sneaky, namespace: kube-system }\n`;
    const err = await deploy('web', manifests).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(messageOf(err)).toMatch(/policy forbids 1 object/);
    expect(messageOf(err)).toMatch(/ConfigMap\/kube-system\/sneaky/);
    expect(failureTypeOf(err)).toBe('PolicyViolation');
    expect(
      await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'other-config' }),
    ).toBeUndefined();
    expect(
      await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system', name: 'sneaky' }),
    ).toBeUndefined();
  });
});
