/**
 * The scale's fault matrix: `scaleWorkload` on a worker that is SIGKILLed while it writes the replica count — the
 * write held in flight before it reached the API server, and the write applied with its answer held back — and
 * while it waits for slow pods to become Ready. The worker reaches the cluster through the fault proxy
 * (test/support/fault-proxy.ts, which holds requests) behind an answer hold (test/support/answer-hold.ts, which
 * holds answers), with the slow client-side rate limit of the deploy fault matrix. Every run must end in the
 * correct, truthfully reported state, and the API server's audit log must show the scale written once, also when
 * the write landed before the worker died (the retried write finds the count in place and writes nothing).
 * A table of outcomes, write counts and fault-to-report times is printed at the end. A kill during the write costs
 * about 40 s: setScale is one GET and one PATCH, so Temporal retries it after its 40 s start-to-close timeout.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ScaleHandle } from '../../src/client/index.js';
import { APP_LABEL } from '../../src/domain/deploy-input.js';
import { deployWorkflowId } from '../../src/domain/workflow-ids.js';
import type { ScaleReport, ScaleWorkloadInput } from '../../src/schemas/scale.js';
import type { ScaleProgress } from '../../src/workflows/scale.js';
import { AnswerHold } from '../support/answer-hold.js';
import { auditMark, countAuditWrites, waitForAuditWrites, type AuditWrite } from '../support/audit.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { pollUntil } from '../support/poll.js';
import { deploymentObject, replicaCounts } from '../support/workloads.js';
import { useHarness, useKillableWorkers } from './harness.js';

const h = useHarness('scalefaults');
let proxy: FaultProxy;
let answers: AnswerHold;
/** The child workers reach the cluster through the answer hold, in front of the fault proxy. */
const k = useKillableWorkers(h, { env: () => ({ KUBECONFIG: answers.kubeconfig }) });
const workers = k.workers;

/** One row of the printed fault table. */
interface Row {
  fault: string;
  step: string;
  outcome: string;
  /** Scale writes by kube-workflows that the API server accepted. */
  scaleWrites: number;
  faultToReportMs: number;
}
const table: Row[] = [];
/** The run of the current test, described when the test fails. */
let current: ScaleHandle | undefined;

afterEach(async (ctx) => {
  const handle = current;
  current = undefined;
  if (ctx.task.result?.state !== 'fail' || !handle) return;
  // where the run stands (pending activities, their attempts and last failures) tells a slow retry from a hang
  const desc = await handle.raw.describe().catch((err: unknown) => ({ error: String(err) }));
  const pending = 'raw' in desc ? desc.raw.pendingActivities : undefined;
  // and what the cluster did: pods that never got Ready, nodes NotReady or tainted (the simulated kubelets late)
  const cond = (o: { status?: unknown }, type: string): string =>
    ((o.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions ?? [])
      .filter((c) => c.type === type)
      .map((c) => `${c.status}${c.reason ? ` (${c.reason})` : ''}`)
      .join() || '-';
  const pods = await h.kube.list('v1', 'Pod', { namespace: h.namespace }).catch(() => ({ items: [] }));
  const nodes = await h.kube.list('v1', 'Node').catch(() => ({ items: [] }));
  process.stderr.write(
    `\n[scale run of "${ctx.task.name}"] ${handle.raw.workflowId}: ${'status' in desc ? desc.status.name : JSON.stringify(desc)}\n` +
      `pending activities: ${JSON.stringify(pending ?? [], null, 1)}\n` +
      `pods: ${pods.items.map((p) => `${p.metadata.name} ${(p.status as { phase?: string } | undefined)?.phase} on ${(p.spec as { nodeName?: string } | undefined)?.nodeName ?? '-'} Ready=${cond(p, 'Ready')}`).join('; ')}\n` +
      `nodes: ${nodes.items.map((n) => `${n.metadata.name} Ready=${cond(n, 'Ready')} taints=${JSON.stringify((n.spec as { taints?: unknown } | undefined)?.taints ?? [])}`).join('; ')}\n`,
  );
});

beforeAll(async () => {
  proxy = await FaultProxy.start({ kubeconfig: inject('stack').kubeconfig });
  answers = await AnswerHold.start(proxy.url);
});

afterAll(async () => {
  await workers.killAll();
  await answers?.close();
  await proxy?.close();
  const lines = table.map(
    (r) =>
      `${r.fault.padEnd(16)} ${r.step.padEnd(34)} ${r.outcome.padEnd(10)} ${String(r.scaleWrites).padStart(6)} ${(r.faultToReportMs / 1000).toFixed(1).padStart(7)}s`,
  );
  process.stderr.write(
    `\n[scale fault table]\n${'fault'.padEnd(16)} ${'step'.padEnd(34)} ${'outcome'.padEnd(10)} writes fault->report\n${lines.join('\n')}\n`,
  );
});

/** A Deployment with `replicas` pods; `app` labels it as a deploy's (its scale then takes the app's deploy lock). */
async function deployment(name: string, opts: { replicas: number; app?: string; slowDelay?: string }): Promise<void> {
  await h.kube.apply(
    deploymentObject({
      name,
      namespace: h.namespace,
      replicas: opts.replicas,
      image: 'registry.example/app:1',
      labels: opts.app ? { [APP_LABEL]: opts.app } : undefined,
      chaos: opts.slowDelay ? 'slow' : undefined,
      chaosDelay: opts.slowDelay,
    }),
  );
}

/** `spec.replicas` and the Ready pods of Deployment `name`. */
const replicas = (name: string): Promise<{ spec: number; ready: number }> => replicaCounts(h.kube, h.namespace, name);

/**
 * Runs one scale on a fresh child worker, SIGKILLs that worker once `armed` resolves and starts another, and
 * waits for the report. Returns it with kube-workflows' accepted writes to Deployments (the scale subresource
 * included) in the test namespace during the run.
 */
async function scaleThrough(
  row: Pick<Row, 'fault' | 'step'>,
  input: ScaleWorkloadInput,
  armed: (handle: ScaleHandle) => Promise<void>,
): Promise<{ report: ScaleReport; writes: readonly AuditWrite[]; handle: ScaleHandle }> {
  await workers.killAll();
  workers.start();
  const { auditLogPath } = inject('stack');
  const mark = auditMark(auditLogPath);
  const handle = await k.client.scale(input);
  current = handle;
  await armed(handle);
  const faultAt = Date.now();
  await workers.killAll();
  workers.start();
  const report = await handle.result();
  const faultToReportMs = Date.now() - faultAt;
  const filter = {
    ...mark,
    namespace: h.namespace,
    resource: 'deployments',
    userAgent: 'kube-workflows',
    succeededOnly: true,
  } as const;
  // the write the report rests on may reach the log a few milliseconds after its answer
  await waitForAuditWrites(auditLogPath, filter, (w) => w.length >= 1);
  const writes = countAuditWrites(auditLogPath, filter).writes;
  table.push({ ...row, outcome: report.outcome, scaleWrites: writes.length, faultToReportMs });
  return { report, writes, handle };
}

/** The attempt on which each activity of a run finished, by activity type, in order. */
async function attempts(handle: ScaleHandle): Promise<[string, number][]> {
  const events = (await handle.raw.fetchHistory()).events ?? [];
  const typeOf = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? '']),
  );
  return events
    .filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => [
      typeOf.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) ?? '',
      e.activityTaskStartedEventAttributes?.attempt ?? 0,
    ]);
}

const scalePath = (name: string): string => `/namespaces/${h.namespace}/deployments/${name}/scale`;
const keyOf = (name: string): string => `deployments.apps/scale:${h.namespace}/${name}`;

/** The status of the app's deploy lock workflow: COMPLETED when released (a deploy of the app may start). */
async function lockState(app: string): Promise<string | undefined> {
  const lockId = deployWorkflowId({ cluster: 'local', namespace: h.namespace, app });
  const desc = await k.client.temporal.workflow.getHandle(lockId).describe();
  return desc.status.name;
}

describe('the worker SIGKILLed during the scale write', () => {
  it('before the write reached the API server: the next worker writes it once and the app deploy lock is freed', async () => {
    await deployment('inflight', { replicas: 1, app: 'sf-inflight' });
    // the PATCH of the scale subresource waits in the proxy: the worker dies with the write in flight
    proxy.add({
      match: { method: 'PATCH', path: scalePath('inflight') },
      fault: { kind: 'delay', ms: 15_000 },
      times: 1,
    });
    const { report, writes, handle } = await scaleThrough(
      { fault: 'worker SIGKILL', step: 'writing (request in flight)' },
      { kind: 'Deployment', name: 'inflight', namespace: h.namespace, replicas: 4 },
      async () => {
        await pollUntil(
          () => Promise.resolve(proxy.matching({ method: 'PATCH', path: scalePath('inflight') }).length),
          (n) => n === 1,
        );
      },
    );
    expect(report).toMatchObject({ outcome: 'succeeded', from: 1, to: 4, status: 'Current' });
    // the held request died with its worker: the proxy never forwarded it
    const [held] = proxy.matching({ method: 'PATCH', path: scalePath('inflight') });
    expect(held).toMatchObject({ fault: 'delay', closed: true });
    expect(held?.status).toBeUndefined();
    expect(writes.map((w) => `${w.verb} ${w.key}`)).toEqual([`patch ${keyOf('inflight')}`]);
    expect(await replicas('inflight')).toEqual({ spec: 4, ready: 4 });
    expect(await lockState('sf-inflight')).toBe('COMPLETED');
    expect(await attempts(handle)).toEqual([
      ['readScale', 1],
      ['setScale', 2],
      ['waitForHealth', 1],
    ]);
  }, 300_000);

  /** The accepted scale writes of the run below, for the known-defect test after it. */
  let landedWrites: readonly AuditWrite[] | undefined;

  it('after the API server applied the write, before the worker heard: the count is right, the lock freed, written once', async () => {
    await deployment('landed', { replicas: 1, app: 'sf-landed' });
    answers.holdAnswers({ method: 'PATCH', path: scalePath('landed') });
    const { report, writes, handle } = await scaleThrough(
      { fault: 'worker SIGKILL', step: 'writing (applied, answer held)' },
      { kind: 'Deployment', name: 'landed', namespace: h.namespace, replicas: 3 },
      async () => {
        await pollUntil(
          () => Promise.resolve(answers.held.filter((a) => a.path.endsWith(scalePath('landed')))),
          (held) => held.length === 1 && held[0]?.status === 200,
        );
      },
    );
    landedWrites = writes;
    expect(report).toMatchObject({ outcome: 'succeeded', from: 1, to: 3, status: 'Current' });
    expect(answers.held.find((a) => a.path.endsWith(scalePath('landed')))?.abandoned).toBe(true);
    expect(await replicas('landed')).toEqual({ spec: 3, ready: 3 });
    expect(await lockState('sf-landed')).toBe('COMPLETED');
    expect(await attempts(handle)).toEqual([
      ['readScale', 1],
      ['setScale', 2],
      ['waitForHealth', 1],
    ]);
    // the applied write only: the retry finds the count in place
    expect(writes).toHaveLength(1);
    expect(new Set(writes.map((w) => `${w.verb} ${w.key}`))).toEqual(new Set([`patch ${keyOf('landed')}`]));
  }, 300_000);

  it('… and the scale is written once: the retried setScale finds the count in place', () => {
    expect(landedWrites?.map((w) => `${w.verb} ${w.key}`)).toEqual([`patch ${keyOf('landed')}`]);
  });
});

describe('the worker SIGKILLed during the health wait', () => {
  it('pods slow to be Ready: the next worker waits them out, reports succeeded, and nothing is written again', async () => {
    await deployment('slow', { replicas: 1, slowDelay: '20s' });
    const { report, writes, handle } = await scaleThrough(
      { fault: 'worker SIGKILL', step: 'waiting (pods Ready after 20 s)' },
      { kind: 'Deployment', name: 'slow', namespace: h.namespace, replicas: 3, timeoutSeconds: 120 },
      async (running) => {
        await pollUntil(
          () => running.raw.query<ScaleProgress>('progress'),
          (p) => p.phase === 'waiting',
        );
      },
    );
    expect(report).toMatchObject({ outcome: 'succeeded', from: 1, to: 3, status: 'Current' });
    expect(report.durationsMs.wait).toBeGreaterThan(15_000); // it did wait for the slow pods
    expect(writes.map((w) => `${w.verb} ${w.key}`)).toEqual([`patch ${keyOf('slow')}`]);
    expect(await replicas('slow')).toEqual({ spec: 3, ready: 3 });
    // the wait was retried on the new worker; the read and the write were not repeated
    expect(await attempts(handle)).toEqual([
      ['readScale', 1],
      ['setScale', 1],
      ['waitForHealth', 2],
    ]);
  });
});
