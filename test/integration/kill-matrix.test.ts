/**
 * The fault matrix: real faults at each step of a deploy — the worker SIGKILLed while it plans, waits for approval,
 * prunes and rolls back (apply and wait: test/integration/durability.test.ts); kube-apiserver killed and restarted
 * mid-apply and mid-wait; the Temporal server killed and restarted on its own database mid-apply. Every run must end
 * in the correct, truthfully reported state, and the API server's audit log must show no object written more often
 * than the ledger allows. A table of outcomes, write counts and fault-to-report times is printed at the end.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { DeployHandle } from '../../src/client/index.js';
import { restartApiServer, restartTemporal } from '../../src/dev/index.js';
import type { DeployManifestsInput, DeployReport } from '../../src/schemas/deploy.js';
import type { DeployProgress } from '../../src/workflows/deploy.js';
import { auditMark, countAuditWrites, type AuditWriteCounts } from '../support/audit.js';
import { pollUntil } from '../support/poll.js';
import { useHarness, useKillableWorkers } from './harness.js';

const h = useHarness('faults');
const k = useKillableWorkers(h);
const workers = k.workers;

/** One row of the printed fault table. */
interface Row {
  fault: string;
  step: string;
  outcome: string;
  /** Writes by kube-workflows that the API server accepted, per object: the most any object got. */
  maxWritesPerObject: number;
  objectsWritten: number;
  faultToReportMs: number;
}
const table: Row[] = [];

afterAll(() => {
  const lines = table.map(
    (r) =>
      `${r.fault.padEnd(34)} ${r.step.padEnd(18)} ${r.outcome.padEnd(12)} ${String(r.objectsWritten).padStart(4)} ${String(r.maxWritesPerObject).padStart(3)} ${(r.faultToReportMs / 1000).toFixed(1).padStart(7)}s`,
  );
  process.stderr.write(
    `\n[fault table]\n${'fault'.padEnd(34)} ${'step'.padEnd(18)} ${'outcome'.padEnd(12)} objs max fault->report\n${lines.join('\n')}\n`,
  );
});

function configMaps(prefix: string, count: number, value: string): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${prefix}-${i}, namespace: ${h.namespace} }\ndata: { value: "${value}" }\n`,
  ).join('---\n');
}

function deployments(prefix: string, count: number, opts: { image?: string; chaos?: string; delay?: string } = {}) {
  return Array.from(
    { length: count },
    (_, i) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${prefix}-${i}, namespace: ${h.namespace} }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${prefix}-${i} } }
  template:
    metadata:
      labels: { app: ${prefix}-${i}${opts.chaos ? `, kube-workflows.dev/chaos: ${opts.chaos}` : ''} }
${opts.delay ? `      annotations: { kube-workflows.dev/chaos-delay: "${opts.delay}" }\n` : ''}    spec: { containers: [{ name: app, image: "${opts.image ?? 'registry.example/app:1'}" }] }
`,
  ).join('---\n');
}

const phase = (name: DeployProgress['phase']) => (p: DeployProgress) => p.phase === name;

/** Waits for a report, riding out a Temporal server that is briefly away. */
async function resultOf(handle: DeployHandle): Promise<DeployReport> {
  for (let i = 0; ; i++) {
    try {
      return await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError || i > 20) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * Runs one deploy on a child worker, injects `fault` once `when(progress)` holds, then lets a worker finish it.
 * Returns the report and kube-workflows' accepted writes in the test namespace during the run.
 */
async function deployThrough(
  row: Pick<Row, 'fault' | 'step'>,
  input: DeployManifestsInput,
  when: (p: DeployProgress) => boolean,
  fault: (handle: DeployHandle) => Promise<void>,
): Promise<{ report: DeployReport; writes: AuditWriteCounts }> {
  await workers.killAll();
  workers.start();
  const mark = auditMark(inject('stack').auditLogPath);
  const handle = await k.client.deploy({ timeoutSeconds: 240, ...input });
  await pollUntil(() => handle.progress(), when, 120_000);
  const faultAt = Date.now();
  await fault(handle);
  const report = await resultOf(handle);
  const faultToReportMs = Date.now() - faultAt;
  const writes = countAuditWrites(inject('stack').auditLogPath, {
    ...mark,
    namespace: h.namespace,
    userAgent: 'kube-workflows',
    succeededOnly: true,
  });
  const perObject = Object.values(writes.byObject);
  table.push({
    ...row,
    outcome: report.outcome,
    maxWritesPerObject: Math.max(0, ...perObject),
    objectsWritten: perObject.length,
    faultToReportMs,
  });
  return { report, writes };
}

/** SIGKILLs the running worker and starts a new one. */
async function killWorker(): Promise<void> {
  await workers.killAll();
  workers.start();
}

const writesOf = (w: AuditWriteCounts, resource: string, prefix: string): number[] =>
  Object.entries(w.byObject)
    .filter(([k]) => k.startsWith(`${resource}:${h.namespace}/${prefix}-`))
    .map(([, n]) => n);

describe('the worker SIGKILLed', () => {
  it('while planning: the new worker plans again and writes each object once', async () => {
    const { report, writes } = await deployThrough(
      { fault: 'worker SIGKILL', step: 'planning' },
      { manifests: configMaps('plan', 30, 'a'), app: 'km-plan' },
      phase('planning'),
      killWorker,
    );
    expect(report.outcome).toBe('succeeded');
    expect(writesOf(writes, 'configmaps', 'plan')).toEqual(Array(30).fill(1));
  });

  it('while waiting for approval: the approval reaches the new worker and each object is written once', async () => {
    const { report, writes } = await deployThrough(
      { fault: 'worker SIGKILL', step: 'awaitingApproval' },
      { manifests: configMaps('approve', 5, 'a'), app: 'km-approve', requireApproval: true },
      phase('awaitingApproval'),
      async (handle) => {
        await killWorker();
        const p = await pollUntil(() => handle.progress(), phase('awaitingApproval'));
        await handle.approve({ planId: p.planId ?? '', by: 'alice' });
      },
    );
    expect(report.outcome).toBe('succeeded');
    expect(report.approval?.decision).toBe('approved');
    expect(writesOf(writes, 'configmaps', 'approve')).toEqual(Array(5).fill(1));
  });

  it('while pruning: every stale object is deleted once and all of them are reported pruned', async () => {
    await killWorker(); // a worker for the set-up deploy
    expect(
      (await resultOf(await k.client.deploy({ manifests: configMaps('stale', 30, 'a'), app: 'km-prune' }))).outcome,
    ).toBe('succeeded');
    const { report, writes } = await deployThrough(
      { fault: 'worker SIGKILL', step: 'pruning' },
      { manifests: configMaps('keep', 1, 'a'), app: 'km-prune', prune: true },
      phase('pruning'),
      killWorker,
    );
    expect(report.outcome).toBe('succeeded');
    expect(report.pruned?.filter((s) => s.includes('/stale-'))).toHaveLength(30);
    expect(writesOf(writes, 'configmaps', 'stale')).toEqual(Array(30).fill(1)); // one delete each
    const left = await h.kube.list('v1', 'ConfigMap', { namespace: h.namespace });
    expect(left.items.filter((c) => c.metadata.name.startsWith('stale-'))).toHaveLength(0);
  });

  it('while rolling back: the new worker finishes the undo; every object is back and written at most twice', async () => {
    await killWorker();
    const v1 = `${configMaps('rb', 20, 'v1')}---\n${deployments('rbweb', 1)}`;
    expect((await resultOf(await k.client.deploy({ manifests: v1, app: 'km-rollback' }))).outcome).toBe('succeeded');
    const v2 = `${configMaps('rb', 20, 'v2')}---\n${deployments('rbweb', 1, { image: 'registry.example/app:2', chaos: 'crash' })}`;
    const { report, writes } = await deployThrough(
      { fault: 'worker SIGKILL', step: 'rollingBack' },
      { manifests: v2, app: 'km-rollback' },
      phase('rollingBack'),
      killWorker,
    );
    expect(report.outcome).toBe('rolledBack');
    expect(report.failure?.type).toBe('RolloutFailed');
    const cms = await h.kube.list('v1', 'ConfigMap', { namespace: h.namespace });
    const values = cms.items
      .filter((c) => c.metadata.name.startsWith('rb-'))
      .map((c) => (c as { data?: { value?: string } }).data?.value);
    expect(values).toEqual(Array(20).fill('v1'));
    // v2, then the restore: never a third write, however the kill fell
    expect(Math.max(...writesOf(writes, 'configmaps', 'rb'))).toBeLessThanOrEqual(2);
    expect(writesOf(writes, 'configmaps', 'rb')).toHaveLength(20);
  });
});

describe('kube-apiserver killed and restarted', () => {
  it('mid-apply: the deploy finishes and no object is written twice', async () => {
    const { report, writes } = await deployThrough(
      { fault: 'kube-apiserver down 8 s', step: 'applying' },
      { manifests: deployments('api', 40), app: 'km-api-apply' },
      phase('applying'),
      async () => {
        await restartApiServer(inject('stack'), { downMs: 8_000 });
      },
    );
    expect(report.outcome).toBe('succeeded');
    expect(writesOf(writes, 'deployments.apps', 'api')).toEqual(Array(40).fill(1));
  });

  it('mid-wait: the watches come back and the deploy succeeds', async () => {
    const { report } = await deployThrough(
      { fault: 'kube-apiserver down 8 s', step: 'waiting' },
      { manifests: deployments('apiwait', 3, { chaos: 'slow', delay: '15s' }), app: 'km-api-wait' },
      phase('waiting'),
      async () => {
        await restartApiServer(inject('stack'), { downMs: 8_000 });
      },
    );
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.every((o) => o.status === 'Current')).toBe(true);
  });
});

describe('the Temporal server killed and restarted on its database', () => {
  it('mid-apply: the deploy finishes, each object written once', async () => {
    const { report, writes } = await deployThrough(
      { fault: 'Temporal down 3 s', step: 'applying' },
      { manifests: deployments('tmp', 30), app: 'km-temporal' },
      phase('applying'),
      async () => {
        await restartTemporal(inject('stack'), { downMs: 3_000 });
      },
    );
    expect(report.outcome).toBe('succeeded');
    expect(writesOf(writes, 'deployments.apps', 'tmp')).toEqual(Array(30).fill(1));
  });
});
