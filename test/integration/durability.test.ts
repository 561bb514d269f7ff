/**
 * Durability: the worker process is killed with SIGKILL in the middle of the apply stage and in the middle of
 * the health wait. A new worker picks the deploy up (after the activity's heartbeat timeout) and completes it,
 * with no object written twice: the API server's audit log counts one accepted write per object.
 */
import { describe, expect, inject, it } from 'vitest';
import { auditMark, countAuditWrites } from '../support/audit.js';
import { pollUntil } from '../support/poll.js';
import { useHarness, useKillableWorkers } from './harness.js';

// The harness worker polls another task queue; the deploys below go to a child-process worker we can kill.
const h = useHarness('durable');
const k = useKillableWorkers(h);
const workers = k.workers;

function deployments(ns: string, count: number, extra = ''): string {
  return Array.from(
    { length: count },
    (_, i) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: app-${i}, namespace: ${ns} }
spec:
  replicas: 1
  selector: { matchLabels: { app: app-${i} } }
  template:
    metadata:
      labels: { app: app-${i} }
${extra}    spec: { containers: [{ name: app, image: "registry.example/app:1" }] }
`,
  ).join('---\n');
}

async function appliedGenerations(
  ns: string,
): Promise<{ names: string[]; generations: number[]; applyEntries: number[] }> {
  const list = await h.kube.list('apps/v1', 'Deployment', { namespace: ns });
  return {
    names: list.items.map((d) => d.metadata.name),
    generations: list.items.map((d) => d.metadata.generation ?? 0),
    applyEntries: list.items.map(
      (d) =>
        ((d.metadata as { managedFields?: { operation: string }[] }).managedFields ?? []).filter(
          (m) => m.operation === 'Apply',
        ).length,
    ),
  };
}

describe('a worker killed mid-deploy', () => {
  it('in the apply stage: a new worker finishes the deploy and nothing is applied twice', async () => {
    const first = workers.start();
    const mark = auditMark(inject('stack').auditLogPath);
    const handle = await k.client.deploy({
      manifests: deployments(h.namespace, 40),
      app: 'durable-apply',
      timeoutSeconds: 240,
    });
    await pollUntil(
      () => handle.progress(),
      (p) => p.phase === 'applying',
      120_000,
    );
    // a good part of the stage is written, not all of it: the kill lands inside the stage
    await expect
      .poll(async () => (await appliedGenerations(h.namespace)).names.length, { timeout: 60_000, interval: 100 })
      .toBeGreaterThanOrEqual(10);
    await workers.kill(first);
    const partial = (await appliedGenerations(h.namespace)).names.length;
    expect(partial).toBeLessThan(40);
    workers.start();
    const report = await handle.result();
    expect(report.outcome).toBe('succeeded');
    const after = await appliedGenerations(h.namespace);
    expect(after.names).toHaveLength(40);
    expect(new Set(after.generations)).toEqual(new Set([1]));
    expect(new Set(after.applyEntries)).toEqual(new Set([1]));
    // The API server's own record: every Deployment got exactly one accepted write from kube-workflows, though
    // the second worker re-ran the stage (it skipped what the first confirmed and dry-ran the rest).
    const writes = countAuditWrites(inject('stack').auditLogPath, {
      ...mark,
      namespace: h.namespace,
      resource: 'deployments',
      userAgent: 'kube-workflows',
      succeededOnly: true,
    });
    process.stderr.write(
      `[durability] killed with ${partial}/40 applied; accepted writes per Deployment: ${JSON.stringify(Object.values(writes.byObject))}\n`,
    );
    expect(Object.values(writes.byObject)).toEqual(Array(40).fill(1));
  });

  it('in the health wait: a new worker resumes watching and the deploy succeeds', async () => {
    await workers.killAll();
    const first = workers.start();
    // pods become Ready 25 s after they start: the kill lands while the deploy waits for them
    const slow = '      annotations: { kube-workflows.dev/chaos-delay: "25s" }\n';
    const manifests = deployments(h.namespace, 3, slow)
      .replaceAll('app-', 'slow-')
      .replaceAll('labels: { app: slow-', 'labels: { kube-workflows.dev/chaos: slow, app: slow-');
    const handle = await k.client.deploy({ manifests, app: 'durable-wait', timeoutSeconds: 240 });
    await pollUntil(
      () => handle.progress(),
      (p) => p.phase === 'waiting' && p.message.startsWith('resources'),
      120_000,
    );
    await workers.kill(first);
    workers.start();
    const report = await handle.result();
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.every((o) => o.status === 'Current')).toBe(true);
    const history = await handle.raw.fetchHistory();
    // the wait activity ran twice (the first attempt died with its worker); apply ran once
    const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
    const types = scheduled.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    expect(types.filter((t) => t === 'applyObjects')).toHaveLength(1);
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    const waitAttempts = started.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 1);
    expect(Math.max(...waitAttempts)).toBeGreaterThanOrEqual(2);
  });
});
