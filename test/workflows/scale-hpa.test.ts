/**
 * `scaleWorkload` of an autoscaled workload, branch by branch on Temporal's time-skipping test server with scripted
 * activities: `readScale` reports a HorizontalPodAutoscaler, and the scale moves its bounds instead of the count
 * (then waits, polling, until the scripted HPA has brought the count within them), refuses with the HPA's name
 * (`hpa: 'refuse'`, a scale to 0), or scales to 0 when forced. What only the real HPA controller shows is in
 * test/integration/autoscaler.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { HealthResult, WaitForHealthInput } from '../../src/activities/index.js';
import type { WorkloadRef } from '../../src/activities/scale.js';
import type { SetAutoscalerBoundsInput } from '../../src/schemas/activities.js';
import type { ScaleReport, ScaleWorkloadInput } from '../../src/schemas/scale.js';
import { useTimeSkippingWorker } from './support.js';

const NS = 'shop';
const WEB = `Deployment/${NS}/web`;
const HPA = {
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler' as const,
  namespace: NS,
  name: 'web',
  minReplicas: 2,
  maxReplicas: 10,
};

/** One scripted run: the workload's count per `readScale` call (the HPA acting), and every call made. */
interface Script {
  calls: { name: string; input: unknown }[];
  /** Counts `readScale` answers, in order; the last one repeats. */
  counts: number[];
  reads: number;
}

const script = (counts: number[]): Script => ({ calls: [], counts, reads: 0 });
let active = script([2]);
const callsOf = (s: Script, name: string): unknown[] => s.calls.filter((c) => c.name === name).map((c) => c.input);
const taskQueue = 'scale-hpa';

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => ({
    readScale: (ref: WorkloadRef) => {
      active.calls.push({ name: 'readScale', input: ref });
      const replicas = active.counts[Math.min(active.reads++, active.counts.length - 1)] ?? 0;
      return Promise.resolve({ cluster: 'local', replicas, autoscaler: HPA });
    },
    setScale: (input: WorkloadRef & { replicas: number }) => {
      active.calls.push({ name: 'setScale', input });
      return Promise.resolve({ previous: 2, replicas: input.replicas });
    },
    setAutoscalerBounds: (input: SetAutoscalerBoundsInput) => {
      active.calls.push({ name: 'setAutoscalerBounds', input });
      const bounds = { minReplicas: input.minReplicas, maxReplicas: input.maxReplicas };
      return Promise.resolve({ previous: { minReplicas: 2, maxReplicas: 10 }, bounds });
    },
    waitForHealth: (input: WaitForHealthInput): Promise<HealthResult> => {
      active.calls.push({ name: 'waitForHealth', input });
      return Promise.resolve({
        outcome: 'Current',
        objects: input.objects.map((o) => ({ subject: o.subject, status: 'Current', reason: 'Ready', message: 'ok' })),
        message: 'all Current',
      });
    },
  }),
});

async function scale(s: Script, input: Partial<ScaleWorkloadInput>): Promise<ScaleReport> {
  active = s;
  const handle = await ts.env.client.workflow.start('scaleWorkload', {
    taskQueue,
    workflowId: `scale-hpa-${randomBytes(4).toString('hex')}`,
    args: [{ kind: 'Deployment', name: 'web', namespace: NS, ...input }],
  });
  return handle.result() as Promise<ScaleReport>;
}

async function refusal(result: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('scaleWorkload of an autoscaled workload (time-skipping server, scripted activities)', () => {
  it('moves the HPA floor to the target, waits until the HPA brought the count there, and reports both', async () => {
    // 2 at the first read; the HPA acts after three polls
    const s = script([2, 2, 2, 2, 4]);
    const report = await scale(s, { replicas: 4, timeoutSeconds: 120 });
    expect(callsOf(s, 'setScale')).toEqual([]);
    expect(callsOf(s, 'setAutoscalerBounds')).toEqual([
      {
        cluster: 'local',
        kind: 'Deployment',
        namespace: NS,
        name: 'web',
        autoscaler: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: NS, name: 'web' },
        minReplicas: 4,
        maxReplicas: 10,
      },
    ]);
    expect(callsOf(s, 'readScale')).toHaveLength(5);
    expect(report).toMatchObject({
      outcome: 'succeeded',
      subject: WEB,
      from: 2,
      to: 4,
      status: 'Current',
      autoscaler: {
        kind: 'HorizontalPodAutoscaler',
        name: 'web',
        from: { minReplicas: 2, maxReplicas: 10 },
        to: { minReplicas: 4, maxReplicas: 10 },
      },
    });
    expect(report.message).toBe(
      `${WEB} is autoscaled: HorizontalPodAutoscaler shop/web bounds 2–10 → 4–10; replicas 2 → 4, all 4 replicas ready`,
    );
  });

  it('raises the ceiling with a target above it', async () => {
    const s = script([2, 12]);
    const report = await scale(s, { replicas: 12 });
    expect(callsOf(s, 'setAutoscalerBounds')).toMatchObject([{ minReplicas: 12, maxReplicas: 12 }]);
    expect(report.autoscaler?.to).toEqual({ minReplicas: 12, maxReplicas: 12 });
  });

  it('a relative change moves the floor relative to the current count', async () => {
    const s = script([3, 5]);
    const report = await scale(s, { delta: 2 });
    expect(callsOf(s, 'setAutoscalerBounds')).toMatchObject([{ minReplicas: 5, maxReplicas: 10 }]);
    expect(report).toMatchObject({ outcome: 'succeeded', from: 3, to: 5 });
  });

  it('fails, saying so, when the HPA does not bring the count within the bounds before the timeout', async () => {
    const s = script([2]);
    const report = await scale(s, { replicas: 6, timeoutSeconds: 30 });
    expect(report.outcome).toBe('failed');
    expect(report.message).toContain('but the autoscaler did not act in time');
    expect(callsOf(s, 'waitForHealth')).toEqual([]);
  });

  it('not waited for: reports the new bounds and the count the HPA will reach', async () => {
    const s = script([2]);
    const report = await scale(s, { replicas: 4, wait: false });
    expect(report).toMatchObject({ outcome: 'succeeded', from: 2, to: 4 });
    expect(report.message).toContain('once the autoscaler acts (not waited for)');
    expect(callsOf(s, 'readScale')).toHaveLength(1);
  });

  it("hpa: 'refuse' fails naming the HPA before any write", async () => {
    const s = script([2]);
    const failure = await refusal(scale(s, { replicas: 4, hpa: 'refuse' }));
    expect(failure.type).toBe('PolicyViolation');
    expect(failure.message).toMatch(
      /^Deployment\/shop\/web is autoscaled by HorizontalPodAutoscaler shop\/web \(2–10\)/,
    );
    expect(callsOf(s, 'setAutoscalerBounds')).toEqual([]);
    expect(callsOf(s, 'setScale')).toEqual([]);
  });

  it('a scale to 0 is refused (it would switch the HPA off) and nothing is written', async () => {
    const s = script([2]);
    const failure = await refusal(scale(s, { replicas: 0 }));
    expect(failure.type).toBe('PolicyViolation');
    expect(failure.message).toContain('scaling it to 0 would switch the autoscaler off silently');
    expect(s.calls.map((c) => c.name)).toEqual(['readScale']);
  });

  it('a forced scale to 0 sets the count to 0 through the scale subresource and leaves the HPA', async () => {
    const s = script([2, 0]);
    const report = await scale(s, { replicas: 0, force: true });
    expect(callsOf(s, 'setScale')).toMatchObject([{ replicas: 0 }]);
    expect(callsOf(s, 'setAutoscalerBounds')).toEqual([]);
    expect(report).toMatchObject({ outcome: 'succeeded', from: 2, to: 0 });
  });
});
