/**
 * `scaleWorkload` branch by branch on Temporal's time-skipping test server, with scripted activities and the real
 * workflows (the scale, its deploy-lock child `holdDeployLock`, the schedule wrappers `scheduledScale` and
 * `scheduledDeploy`): a scale that succeeds, one refused by the policy bounds before any write, one whose health
 * wait fails, one refused because its app's deploy lock stays held through every retry (and one that gets the lock
 * when it is freed meanwhile), and schedule wrappers that skip when their operation's id is taken. What only real
 * servers can show (replica counts in a cluster, a worker killed mid-scale) is in test/integration/scale.test.ts
 * and test/integration/scale-faults.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  ActivityFailure,
  ApplicationFailure,
  Client,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HealthResult, WaitForHealthInput } from '../../src/activities/index.js';
import type { WorkloadRef } from '../../src/activities/scale.js';
import { deployWorkflowId, scaleWorkflowId } from '../../src/domain/workflow-ids.js';
import type { ScaleReport, ScaleWorkloadInput } from '../../src/schemas/scale.js';
import type { ScheduledRunSkipped } from '../../src/schemas/scheduled.js';
import { DEPLOY_LOCK_RETRY_DELAYS_SECONDS } from '../../src/workflows/locks.js';
import type { ScaleProgress } from '../../src/workflows/scale.js';
import { useTimeSkippingWorker } from './support.js';

const NS = 'shop';
const CLUSTER = 'local';
const WEB = `Deployment/${NS}/web`;
/** The deploy lock of app `shop`, which labels the workload when the script says so. */
const SHOP_LOCK = deployWorkflowId({ cluster: CLUSTER, namespace: NS, app: 'shop' });

/** One scripted run: what the workload looks like, what the writes and the wait do, and every call made. */
interface Script {
  calls: { name: string; input: unknown }[];
  replicas: number;
  /** The `kube-workflows.dev/app` label: the scale then writes under that app's deploy lock. */
  app?: string;
  setScale: (input: WorkloadRef & { replicas: number }) => void | Promise<void>;
  health: (input: WaitForHealthInput) => HealthResult | Promise<HealthResult>;
}

function current(input: WaitForHealthInput): HealthResult {
  return {
    outcome: 'Current',
    objects: input.objects.map((o) => ({ subject: o.subject, status: 'Current', reason: 'Ready', message: 'ok' })),
    message: 'all Current',
  };
}

function script(overrides: Partial<Script> = {}): Script {
  return { calls: [], replicas: 2, setScale: () => undefined, health: current, ...overrides };
}

const callsOf = (s: Script, name: string): unknown[] => s.calls.filter((c) => c.name === name).map((c) => c.input);

/** A client that does not skip time while it waits (see {@link inRealTime}). */
let plain: Client;
let active: Script = script();
const taskQueue = 'scale';
const uid = (): string => randomBytes(4).toString('hex');

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => {
    const record = (name: string, input: unknown): void => {
      active.calls.push({ name, input });
    };
    return {
      readScale: (ref: WorkloadRef) => {
        record('readScale', ref);
        return Promise.resolve({
          cluster: ref.cluster || CLUSTER,
          replicas: active.replicas,
          ...(active.app ? { app: active.app } : {}),
        });
      },
      setScale: async (input: WorkloadRef & { replicas: number }) => {
        record('setScale', input);
        await active.setScale(input);
        return { previous: active.replicas, replicas: input.replicas };
      },
      waitForHealth: async (input: WaitForHealthInput) => {
        record('waitForHealth', input);
        return active.health(input);
      },
      // A scheduled deploy that is not skipped would plan: fail loudly instead of hanging the test.
      planDeploy: (input: unknown) => {
        record('planDeploy', input);
        return Promise.reject(ApplicationFailure.nonRetryable('planDeploy is not scripted here', 'InternalError'));
      },
    };
  },
});

beforeAll(() => {
  plain = new Client({ connection: ts.env.connection, namespace: ts.env.namespace ?? 'default' });
});

/** Starts `scaleWorkload` of Deployment shop/web under its canonical id with script `s`. */
async function startScale(s: Script, input: Partial<ScaleWorkloadInput> = {}): Promise<WorkflowHandle> {
  active = s;
  return ts.env.client.workflow.start('scaleWorkload', {
    taskQueue,
    workflowId: `${scaleWorkflowId({ cluster: CLUSTER, namespace: NS, kind: 'Deployment', name: 'web' })}-${uid()}`,
    args: [{ kind: 'Deployment', name: 'web', namespace: NS, ...input }],
  });
}

async function scale(s: Script, input: Partial<ScaleWorkloadInput> = {}): Promise<ScaleReport> {
  return (await startScale(s, input)).result() as Promise<ScaleReport>;
}

/**
 * Waits for a run's result without skipping time. While the time-skipping client waits, the server skips to the
 * next timer of ANY run; with a lock workflow held open and nothing else pending, that is the lock's execution
 * timeout, and the lock would time out under the test.
 */
function inRealTime<T>(handle: WorkflowHandle): Promise<T> {
  return plain.workflow.result(handle.workflowId) as Promise<T>;
}

/**
 * The ApplicationFailure a run failed with: thrown by the workflow itself, or by one of its activities (then
 * wrapped in an ActivityFailure, which is unwrapped here).
 */
async function failureOf(result: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause = (err as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** Starts a lock workflow by hand under `lockId` (an operator's freeze, or the deploy holding it). */
async function freeze(lockId: string): Promise<WorkflowHandle> {
  return ts.env.client.workflow.start('holdDeployLock', {
    taskQueue,
    workflowId: lockId,
    args: [{ holder: 'operator', purpose: 'freeze for the test' }],
  });
}

/** Lifts a freeze (it may have ended already). */
async function unfreeze(held: WorkflowHandle): Promise<void> {
  await held.cancel().catch(() => undefined);
  await inRealTime(held).catch(() => undefined);
}

/** History events of a run, by kind. */
async function events(handle: WorkflowHandle) {
  const all = (await handle.fetchHistory()).events ?? [];
  return {
    lockAttemptsRefused: all.filter((e) => e.startChildWorkflowExecutionFailedEventAttributes).length,
    /** Signals and cancellations sent to other runs (a lock it does not hold must be left alone). */
    sentToOthers: all.filter(
      (e) =>
        e.signalExternalWorkflowExecutionInitiatedEventAttributes ||
        e.requestCancelExternalWorkflowExecutionInitiatedEventAttributes,
    ).length,
    timers: all
      .map((e) => e.timerStartedEventAttributes?.startToFireTimeout?.seconds)
      .filter((s) => s !== undefined && s !== null)
      .map(Number),
  };
}

/** A heartbeating activity body that returns once `gate` opens. */
async function heldUntil<T>(gate: Promise<void>, value: () => T): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 50);
  try {
    await gate;
    return value();
  } finally {
    clearInterval(beat);
  }
}

function gate(): { open: () => void; opened: Promise<void> } {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('scaleWorkload (time-skipping server, scripted activities)', () => {
  it('sets the target count once, waits for health and reports succeeded with from and to', async () => {
    const s = script({ replicas: 2 });
    const handle = await startScale(s, { replicas: 5, timeoutSeconds: 60 });
    const report = (await handle.result()) as ScaleReport;
    expect(report).toMatchObject({ outcome: 'succeeded', cluster: CLUSTER, subject: WEB, from: 2, to: 5 });
    expect(report.status).toBe('Current');
    expect(report.message).toBe(`${WEB} scaled 2 → 5, all 5 replicas ready`);
    expect(callsOf(s, 'setScale')).toEqual([
      { cluster: CLUSTER, kind: 'Deployment', namespace: NS, name: 'web', replicas: 5 },
    ]);
    const [wait] = callsOf(s, 'waitForHealth') as WaitForHealthInput[];
    expect(wait?.objects).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name: 'web', subject: WEB },
    ]);
    expect(wait?.timeoutSeconds).toBe(60);
    expect(Object.keys(report.durationsMs).sort()).toEqual(['read', 'scale', 'total', 'wait']);
    expect(await handle.query<ScaleProgress>('progress')).toMatchObject({ phase: 'done', from: 2, to: 5 });
    const { typedSearchAttributes } = await handle.describe();
    expect(typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toEqual(
      expect.arrayContaining([
        ['KubeNamespace', NS],
        ['KubeCluster', CLUSTER],
        ['KubeOutcome', 'succeeded'],
      ]),
    );
  });

  it('resolves a delta against the count read when it runs, and reports unchanged when the count already holds', async () => {
    const grown = script({ replicas: 3 });
    expect(await scale(grown, { delta: -1 })).toMatchObject({ outcome: 'succeeded', from: 3, to: 2 });
    expect(callsOf(grown, 'setScale')).toEqual([expect.objectContaining({ replicas: 2 })]);

    // the count is set even when equal, so the policy is still checked (and an out-of-bounds workload reported)
    const same = script({ replicas: 4 });
    expect(await scale(same, { replicas: 4 })).toMatchObject({ outcome: 'unchanged', from: 4, to: 4 });
    expect(callsOf(same, 'setScale')).toHaveLength(1);
  });

  it('without wait, reports after the write and never waits for health', async () => {
    const s = script({ replicas: 1 });
    const report = await scale(s, { replicas: 3, wait: false });
    expect(report).toMatchObject({ outcome: 'succeeded', from: 1, to: 3 });
    expect(report.message).toMatch(/not waited for/);
    expect(callsOf(s, 'waitForHealth')).toEqual([]);
  });

  it('a count outside the policy bounds fails PolicyViolation: the write is refused once, never retried, never waited for', async () => {
    const s = script({
      replicas: 2,
      setScale: (input) => {
        // what the real setScale throws (src/activities/scale.ts) before it writes anything
        throw ApplicationFailure.create({
          message: `${WEB}: ${input.replicas} replicas is above the maximum 8; nothing was written`,
          type: 'PolicyViolation',
          nonRetryable: true,
          details: [{ minReplicas: 1, maxReplicas: 8, allowZero: false }],
        });
      },
    });
    const failure = await failureOf(scale(s, { replicas: 20 }));
    expect(failure.type).toBe('PolicyViolation');
    expect(failure.message).toBe(`${WEB}: 20 replicas is above the maximum 8; nothing was written`);
    expect(callsOf(s, 'setScale')).toHaveLength(1);
    expect(callsOf(s, 'waitForHealth')).toEqual([]);
  });

  it('a delta below zero fails InvalidInput in the workflow, before any write', async () => {
    const s = script({ replicas: 1 });
    const failure = await failureOf(scale(s, { delta: -3 }));
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toBe(`${WEB}: 1 -3 would be -2 replicas`);
    expect(callsOf(s, 'setScale')).toEqual([]);
  });

  it('input with both replicas and delta fails InvalidInput naming the field, before reading anything', async () => {
    const s = script();
    const failure = await failureOf(scale(s, { replicas: 3, delta: 1 }));
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toMatch(/give exactly one of replicas .* or delta/);
    expect(failure.message).toMatch(/replicas/);
    expect(s.calls).toEqual([]);
  });

  it('a failed health wait reports failed with the object status and reason, after the one write', async () => {
    const s = script({
      replicas: 2,
      health: (input) => ({
        outcome: 'Failed',
        objects: input.objects.map((o) => ({
          subject: o.subject,
          status: 'Failed',
          reason: 'CrashLoopBackOff',
          message: 'pod web-1: container app CrashLoopBackOff',
        })),
        message: `${WEB}: CrashLoopBackOff (pod web-1: container app CrashLoopBackOff)`,
      }),
    });
    const handle = await startScale(s, { replicas: 4 });
    const report = (await handle.result()) as ScaleReport;
    expect(report).toMatchObject({ outcome: 'failed', from: 2, to: 4, status: 'Failed', reason: 'CrashLoopBackOff' });
    expect(report.message).toBe(
      `${WEB} scaled to 4 but is not healthy: ${WEB}: CrashLoopBackOff (pod web-1: container app CrashLoopBackOff)`,
    );
    expect(callsOf(s, 'setScale')).toHaveLength(1);
    const { typedSearchAttributes } = await handle.describe();
    expect(typedSearchAttributes.getAll().find((p) => p.key.name === 'KubeOutcome')?.value).toBe('failed');
  });

  it('a health wait that times out reports failed as well, with the status it was left in', async () => {
    const s = script({
      health: (input) => ({
        outcome: 'TimedOut',
        objects: input.objects.map((o) => ({
          subject: o.subject,
          status: 'InProgress',
          reason: 'ReplicasNotReady',
          message: '3 of 4 ready',
        })),
        message: `timed out after 30s: ${WEB} InProgress`,
      }),
    });
    const report = await scale(s, { replicas: 4, timeoutSeconds: 30 });
    expect(report).toMatchObject({ outcome: 'failed', status: 'InProgress', reason: 'ReplicasNotReady' });
  });
});

describe('a scale of a workload a deploy owns (its app deploy lock)', () => {
  it('writes while holding the lock as its child, and frees the lock before it waits', async () => {
    let lockWhileWriting: { type: string; status: string; parent: string | null | undefined } | undefined;
    let lockWhileWaiting: string | undefined;
    const s = script({
      app: 'shop',
      setScale: async () => {
        const d = await ts.env.client.workflow.getHandle(SHOP_LOCK).describe();
        lockWhileWriting = { type: d.type, status: d.status.name, parent: d.parentExecution?.workflowId };
      },
      health: async (input) => {
        lockWhileWaiting = (await ts.env.client.workflow.getHandle(SHOP_LOCK).describe()).status.name;
        return current(input);
      },
    });
    const handle = await startScale(s, { replicas: 3 });
    expect(await handle.result()).toMatchObject({ outcome: 'succeeded', from: 2, to: 3 });
    expect(lockWhileWriting).toEqual({ type: 'holdDeployLock', status: 'RUNNING', parent: handle.workflowId });
    expect(lockWhileWaiting).toBe('COMPLETED');
  });

  it('the lock held through every retry: refused PolicyViolation naming the lock, nothing written', async () => {
    const held = await freeze(SHOP_LOCK);
    try {
      const s = script({ app: 'shop' });
      const handle = await startScale(s, { replicas: 3 });
      const failure = await failureOf(handle.result());
      expect(failure.type).toBe('PolicyViolation');
      expect(failure.message).toMatch(
        new RegExp(
          `^scale of ${WEB} \\(app shop\\) refused: the deploy lock ${SHOP_LOCK} is held .* Nothing was written`,
        ),
      );
      expect(failure.details).toEqual([{ lockId: SHOP_LOCK }]);
      expect(callsOf(s, 'setScale')).toEqual([]);
      // one attempt, then one per retry delay (1 + 2 + 4 + 8 + 15 s of workflow time)
      const h = await events(handle);
      expect(h.lockAttemptsRefused).toBe(DEPLOY_LOCK_RETRY_DELAYS_SECONDS.length + 1);
      expect(h.timers).toEqual([...DEPLOY_LOCK_RETRY_DELAYS_SECONDS]);
      expect(h.sentToOthers).toBe(0); // the holder is left alone
    } finally {
      await unfreeze(held);
    }
  });

  it('the lock freed during the retries: the scale takes it and writes once', async () => {
    const held = await freeze(SHOP_LOCK);
    const s = script({ app: 'shop' });
    const handle = await startScale(s, { replicas: 3 });
    // the first attempt is refused at once (time is not skipped until a result is awaited)
    for (let i = 0; (await events(handle)).lockAttemptsRefused === 0; i++) {
      if (i > 200) throw new Error('the scale never tried the lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    await held.cancel();
    await inRealTime(held);
    expect(await handle.result()).toMatchObject({ outcome: 'succeeded', from: 2, to: 3 });
    expect(callsOf(s, 'setScale')).toHaveLength(1);
    expect((await events(handle)).lockAttemptsRefused).toBeGreaterThanOrEqual(1);
  });

  it('a write refused by the policy still frees the lock', async () => {
    const s = script({
      app: 'shop',
      setScale: () => {
        throw ApplicationFailure.create({ message: 'out of bounds', type: 'PolicyViolation', nonRetryable: true });
      },
    });
    await failureOf(scale(s, { replicas: 99 }));
    expect((await ts.env.client.workflow.getHandle(SHOP_LOCK).describe()).status.name).toBe('COMPLETED');
    // and a deploy of the app could take it now: a new lock under that id starts
    await unfreeze(await freeze(SHOP_LOCK));
  });
});

describe('schedule wrappers', () => {
  const scaleId = scaleWorkflowId({ cluster: CLUSTER, namespace: NS, kind: 'Deployment', name: 'web' });

  it('scheduledScale runs the scale as a child under the canonical scale id and returns its report', async () => {
    const s = script({ replicas: 1 });
    active = s;
    const wrapper = await ts.env.client.workflow.start('scheduledScale', {
      taskQueue,
      workflowId: `scheduled-scale-${uid()}`,
      args: [{ scaleWorkflowId: scaleId, scale: { kind: 'Deployment', name: 'web', namespace: NS, replicas: 3 } }],
    });
    const report = await inRealTime<ScaleReport>(wrapper);
    expect(report).toMatchObject({ outcome: 'succeeded', from: 1, to: 3 });
    const child = await ts.env.client.workflow.getHandle(scaleId).describe();
    expect(child).toMatchObject({ type: 'scaleWorkload', parentExecution: { workflowId: wrapper.workflowId } });
    expect(callsOf(s, 'setScale')).toHaveLength(1);
  });

  it('scheduledScale is skipped, writing nothing, while a scale of the workload runs under that id', async () => {
    const release = gate();
    const s = script({ replicas: 2, health: (input) => heldUntil(release.opened, () => current(input)) });
    active = s;
    const manual = await ts.env.client.workflow.start('scaleWorkload', {
      taskQueue,
      workflowId: scaleId,
      args: [{ kind: 'Deployment', name: 'web', namespace: NS, replicas: 4 }],
    });
    try {
      for (let i = 0; callsOf(s, 'waitForHealth').length === 0; i++) {
        if (i > 400) throw new Error('the manual scale never reached its health wait');
        await new Promise((r) => setTimeout(r, 50));
      }
      const wrapper = await ts.env.client.workflow.start('scheduledScale', {
        taskQueue,
        workflowId: `scheduled-scale-${uid()}`,
        args: [{ scaleWorkflowId: scaleId, scale: { kind: 'Deployment', name: 'web', namespace: NS, replicas: 9 } }],
      });
      const skipped = await inRealTime<ScheduledRunSkipped>(wrapper);
      expect(skipped).toEqual({
        outcome: 'skipped',
        workflowId: scaleId,
        message: expect.stringMatching(new RegExp(`^skipped: ${scaleId} is taken by a running workflow`)),
      });
      expect(skipped.message).toMatch(/nothing was written, the next scheduled run tries again/);
      const { typedSearchAttributes } = await wrapper.describe();
      expect(typedSearchAttributes.getAll().find((p) => p.key.name === 'KubeOutcome')?.value).toBe('skipped');
      // only the manual scale wrote
      expect(callsOf(s, 'setScale')).toEqual([expect.objectContaining({ replicas: 4 })]);
    } finally {
      release.open();
    }
    expect(await inRealTime(manual)).toMatchObject({ outcome: 'succeeded', to: 4 });
  });

  it('scheduledDeploy is skipped, planning nothing, while the app deploy lock is held', async () => {
    const s = script();
    active = s;
    const lockId = deployWorkflowId({ cluster: CLUSTER, namespace: NS, app: 'cart' });
    const held = await freeze(lockId);
    try {
      const wrapper = await ts.env.client.workflow.start('scheduledDeploy', {
        taskQueue,
        workflowId: `scheduled-deploy-${uid()}`,
        args: [
          {
            deployWorkflowId: lockId,
            deploy: {
              app: 'cart',
              manifests: `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg, namespace: ${NS} }\ndata: { a: "1" }\n`,
            },
          },
        ],
      });
      const skipped = await inRealTime<ScheduledRunSkipped>(wrapper);
      expect(skipped).toMatchObject({ outcome: 'skipped', workflowId: lockId });
      expect(skipped.message).toMatch(new RegExp(`^skipped: ${lockId} is taken`));
      expect(s.calls).toEqual([]); // no plan, no write
      expect((await held.describe()).status.name).toBe('RUNNING');
    } finally {
      await unfreeze(held);
    }
  });

  it('a wrapper with a malformed id fails InvalidInput naming the field, starting nothing', async () => {
    const s = script();
    active = s;
    const failure = await failureOf(
      ts.env.client.workflow.execute('scheduledScale', {
        taskQueue,
        workflowId: `scheduled-scale-${uid()}`,
        args: [{ scaleWorkflowId: 'web', scale: { kind: 'Deployment', name: 'web', namespace: NS, replicas: 1 } }],
      }),
    );
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toMatch(/scaleWorkflowId/);
    expect(s.calls).toEqual([]);
  });
});
