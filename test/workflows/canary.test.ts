/**
 * `canaryRollout` branch by branch on Temporal's time-skipping test server, with scripted activities (a small
 * in-memory cluster: the stable and canary replica counts, the canary's template) and the real workflows — the
 * canary and its analysis child `runAnalysis`, whose `measureAnalysis` answers from the script. Steps run in order
 * with the replica ratios asserted, a pause waits for `promote`, `abort` and a failing analysis abort (canary
 * deleted, stable restored, alert sent, stable template never touched), a new revision under each policy, cancel
 * cleans up, and the preflight refuses before any write. What only real servers show (pods, endpoints, the
 * Deployment's generation) is in test/integration/canary.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure,
  CancelledFailure,
  Client,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HealthResult, WaitForHealthInput } from '../../src/activities/index.js';
import { canaryWorkflowId } from '../../src/domain/canary.js';
import type {
  ApplyCanaryInput,
  CanaryTargetFacts,
  DeleteCanaryInput,
  MeasureAnalysisInput,
  PromoteCanaryInput,
  ScaleCanarySideInput,
} from '../../src/schemas/activities.js';
import type { CanaryReport, CanaryRolloutInput, CanaryStatus } from '../../src/schemas/canary.js';
import {
  abortUpdate,
  canaryStatusQuery,
  newRevisionUpdate,
  promoteUpdate,
} from '../../src/workflows/canary-definitions.js';
import { useTimeSkippingWorker } from './support.js';

const NS = 'shop';
const CLUSTER = 'local';
const template = (image: string) => ({
  metadata: { labels: { app: 'web', track: 'stable' } },
  spec: { containers: [{ name: 'app', image }] },
});

/** The scripted cluster of one run, and every call made. */
interface Script {
  calls: { name: string; input: unknown }[];
  facts: CanaryTargetFacts;
  replicas: { web: number; 'web-canary': number };
  canaryImage?: string | undefined;
  /** What each analysis measurement returns (the spec below succeeds below 0.05). */
  errorRate: number;
  /** Overrides what measurements return (no data, for an inconclusive analysis). */
  measurement?: { kind: 'noData'; detail: string } | undefined;
  /** A policy refusal of a replica write (the message), if any. */
  refuse?: (input: ScaleCanarySideInput) => string | undefined;
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
  return {
    calls: [],
    facts: {
      cluster: CLUSTER,
      namespace: NS,
      name: 'web',
      replicas: 4,
      generation: 3,
      selector: { matchLabels: { app: 'web', track: 'stable' } },
      templateLabels: { app: 'web', track: 'stable' },
      services: [{ name: 'web', selector: { app: 'web' } }],
      serviceNamed: false,
      autoscalers: [],
    },
    replicas: { web: 4, 'web-canary': 0 },
    errorRate: 0.01,
    health: current,
    ...overrides,
  };
}

let active: Script = script();
const taskQueue = 'canary';
const uid = (): string => randomBytes(4).toString('hex');
let plain: Client;

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => {
    const record = (name: string, input: unknown): void => {
      active.calls.push({ name, input });
    };
    return {
      readCanaryTarget: (input: unknown) => {
        record('readCanaryTarget', input);
        return Promise.resolve(active.facts);
      },
      applyCanary: (input: ApplyCanaryInput) => {
        record('applyCanary', input);
        const created = active.canaryImage === undefined;
        const spec = (input.deployment as unknown as { spec: { template: ReturnType<typeof template> } }).spec;
        active.canaryImage = spec.template.spec.containers[0]?.image;
        return Promise.resolve({ created });
      },
      scaleCanarySide: (input: ScaleCanarySideInput) => {
        record('scaleCanarySide', input);
        const refused = active.refuse?.(input);
        if (refused) return Promise.reject(ApplicationFailure.nonRetryable(refused, 'PolicyViolation'));
        const name = input.name as keyof Script['replicas'];
        const previous = active.replicas[name];
        active.replicas[name] = input.replicas;
        return Promise.resolve({ previous });
      },
      promoteCanary: (input: PromoteCanaryInput) => {
        record('promoteCanary', input);
        active.replicas.web = input.replicas;
        return Promise.resolve({ generation: 4 });
      },
      deleteCanary: (input: DeleteCanaryInput) => {
        record('deleteCanary', input);
        const deleted = active.canaryImage !== undefined;
        active.canaryImage = undefined;
        active.replicas['web-canary'] = 0;
        return Promise.resolve({ deleted });
      },
      waitForHealth: async (input: WaitForHealthInput) => {
        record('waitForHealth', input);
        // Heartbeats and gives up when cancelled, as the real one does: an abort interrupts a held wait.
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 50);
        try {
          return await Promise.race([active.health(input), ctx.cancelled]);
        } finally {
          clearInterval(beat);
        }
      },
      deliverAlert: (input: unknown) => {
        record('deliverAlert', input);
        return Promise.resolve({ channel: 'oncall', status: 202 });
      },
      measureAnalysis: (input: MeasureAnalysisInput) => {
        record('measureAnalysis', input);
        return Promise.resolve(active.measurement ?? { kind: 'value' as const, value: active.errorRate });
      },
    };
  },
});

beforeAll(() => {
  plain = new Client({ connection: ts.env.connection, namespace: ts.env.namespace ?? 'default' });
});

const analysis = {
  name: 'error-rate',
  provider: { http: { url: 'http://metrics.local/{{args.canary}}' } },
  successCondition: 'result < 0.05',
};

async function start(s: Script, input: Partial<CanaryRolloutInput>): Promise<WorkflowHandle> {
  active = s;
  return ts.env.client.workflow.start('canaryRollout', {
    taskQueue,
    workflowId: `${canaryWorkflowId({ cluster: CLUSTER, namespace: NS, deployment: 'web' })}-${uid()}`,
    args: [
      {
        namespace: NS,
        deployment: 'web',
        template: template('web:2'),
        steps: [{ setWeight: 50 }],
        channels: ['oncall'],
        ...input,
      },
    ],
  });
}

/** The result without skipping time (a run waiting for an update has no timer to skip to). */
function inRealTime(handle: WorkflowHandle): Promise<CanaryReport> {
  return plain.workflow.result(handle.workflowId) as Promise<CanaryReport>;
}

async function waitForPhase(handle: WorkflowHandle, phase: CanaryStatus['phase']): Promise<CanaryStatus> {
  await expect
    .poll(async () => (await handle.query(canaryStatusQuery)).phase, { timeout: 20_000, interval: 50 })
    .toBe(phase);
  return handle.query(canaryStatusQuery);
}

function gate(): { open: () => void; opened: Promise<void> } {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const callsOf = (s: Script, name: string): unknown[] => s.calls.filter((c) => c.name === name).map((c) => c.input);
/** Every replica write as `name=replicas`, in order. */
const scales = (s: Script): string[] =>
  callsOf(s, 'scaleCanarySide').map(
    (c) => `${(c as ScaleCanarySideInput).name}=${(c as ScaleCanarySideInput).replicas}`,
  );

describe('canaryRollout (time-skipping server, scripted activities)', () => {
  it('runs the steps in order at the replica ratios, growing the canary before shrinking the stable, then promotes', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 25 }, { setWeight: 50 }, { analysis }, { setWeight: 100 }] });
    const report = (await handle.result()) as CanaryReport;
    expect(report).toMatchObject({
      outcome: 'promoted',
      subject: 'Deployment/shop/web',
      canary: 'Deployment/shop/web-canary',
      total: 4,
      created: ['Deployment/shop/web-canary'],
      deleted: ['Deployment/shop/web-canary'],
      promoted: { subject: 'Deployment/shop/web', generation: 4 },
    });
    expect(scales(s)).toEqual(['web-canary=1', 'web=3', 'web-canary=2', 'web=2', 'web-canary=4', 'web=0']);
    expect(report.steps.map((st) => [st.step, st.result, st.replicas])).toEqual([
      ['setWeight 25', 'done', { stable: 3, canary: 1 }],
      ['setWeight 50', 'done', { stable: 2, canary: 2 }],
      ['analysis', 'done', { stable: 2, canary: 2 }],
      ['setWeight 100', 'done', { stable: 0, canary: 4 }],
    ]);
    expect(report.analyses).toMatchObject([{ step: 2, outcome: 'successful' }]);
    // the analysis measured the canary: its template arguments name it
    expect((callsOf(s, 'measureAnalysis')[0] as MeasureAnalysisInput).provider.http?.url).toBe(
      'http://metrics.local/web-canary',
    );
    // promotion: new template (labels keep the stable selector's) and the total count, then the canary goes
    expect(callsOf(s, 'promoteCanary')).toEqual([
      expect.objectContaining({ name: 'web', replicas: 4, template: expect.objectContaining(template('web:2')) }),
    ]);
    const order = s.calls.map((c) => c.name).filter((n) => n === 'promoteCanary' || n === 'deleteCanary');
    expect(order).toEqual(['promoteCanary', 'deleteCanary']);
    expect(callsOf(s, 'deliverAlert')).toEqual([]);
  });

  it('waits in a pause until promote', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 75 }] });
    const paused = await waitForPhase(handle, 'paused');
    expect(paused).toMatchObject({ stepIndex: 1, weight: 50, replicas: { stable: 2, canary: 2 } });
    expect(callsOf(s, 'promoteCanary')).toEqual([]);
    expect(await handle.executeUpdate(promoteUpdate, { args: [{}] })).toEqual({ action: 'resumed', stepIndex: 1 });
    const report = await inRealTime(handle);
    expect(report.outcome).toBe('promoted');
    expect(report.steps.map((st) => `${st.step}:${st.result}`)).toEqual([
      'setWeight 50:done',
      'pause (until promoted):promoted',
      'setWeight 75:done',
    ]);
  });

  it('a timed pause ends by itself (durable timer)', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 25 }, { pause: { duration: '2h' } }] });
    const report = (await handle.result()) as CanaryReport;
    expect(report.outcome).toBe('promoted');
    expect(report.steps[1]).toMatchObject({ step: 'pause 2h', result: 'done' });
    expect(report.steps[1]?.durationMs).toBeGreaterThanOrEqual(7_200_000);
  });

  it('promote with full skips the remaining steps', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    expect(await handle.executeUpdate(promoteUpdate, { args: [{ full: true }] })).toMatchObject({
      action: 'promoting',
    });
    const report = await inRealTime(handle);
    expect(report).toMatchObject({ outcome: 'promoted', message: expect.stringContaining('remaining steps skipped') });
    expect(scales(s)).toEqual(['web-canary=1', 'web=3']);
  });

  it('abort deletes the canary, restores the stable count, alerts with the reason; the stable template is never written', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 50 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'latency up' }] });
    const report = await inRealTime(handle);
    expect(report).toMatchObject({
      outcome: 'aborted',
      reason: 'aborted by an operator: latency up',
      deleted: ['Deployment/shop/web-canary'],
      restored: [{ subject: 'Deployment/shop/web', from: 2, to: 4 }],
      alerts: [{ channel: 'oncall', status: 202 }],
    });
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
    expect(callsOf(s, 'promoteCanary')).toEqual([]);
    const alert = callsOf(s, 'deliverAlert')[0] as { channel: string; event: { summary: string; source: string } };
    expect(alert.event).toMatchObject({
      source: 'Deployment/shop/web',
      summary: expect.stringContaining('latency up'),
    });
    // the canary went first: fast rollback, before the stable is scaled back
    const undo = s.calls
      .map((c) => c.name)
      .filter((n) => n === 'deleteCanary' || n === 'scaleCanarySide')
      .slice(-2);
    expect(undo).toEqual(['deleteCanary', 'scaleCanarySide']);
  });

  it('a failing analysis aborts and says why', async () => {
    const s = script({ errorRate: 0.3 });
    const handle = await start(s, { steps: [{ setWeight: 25 }, { analysis }, { setWeight: 100 }] });
    const report = (await handle.result()) as CanaryReport;
    expect(report.outcome).toBe('aborted');
    expect(report.reason).toMatch(/^analysis error-rate: failed/);
    expect(report.analyses).toMatchObject([{ outcome: 'failed' }]);
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
    expect(callsOf(s, 'promoteCanary')).toEqual([]);
    expect(callsOf(s, 'deliverAlert')).toHaveLength(1);
  });

  it('an inconclusive analysis waits for a decision: promote goes on', async () => {
    const s = script({ measurement: { kind: 'noData', detail: 'empty answer' } });
    const handle = await start(s, { steps: [{ setWeight: 25 }, { analysis }, { setWeight: 50 }] });
    const waiting = await waitForPhase(handle, 'awaitingDecision');
    expect(waiting.analyses).toMatchObject([{ outcome: 'inconclusive' }]);
    expect(await handle.executeUpdate(promoteUpdate, { args: [{}] })).toMatchObject({ action: 'resumed' });
    const report = await inRealTime(handle);
    expect(report.outcome).toBe('promoted');
    expect(report.steps.map((st) => st.result)).toEqual(['done', 'inconclusive', 'done']);
  });

  it('an inconclusive analysis without a decision aborts after decisionTimeoutSeconds', async () => {
    const s = script({ measurement: { kind: 'noData', detail: 'empty answer' } });
    const handle = await start(s, { steps: [{ setWeight: 25 }, { analysis }], decisionTimeoutSeconds: 7_200 });
    const report = (await handle.result()) as CanaryReport;
    expect(report).toMatchObject({
      outcome: 'aborted',
      reason: expect.stringMatching(/inconclusive.*no decision within 7200s$/),
    });
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
  });

  it('a write the policy refuses aborts the canary (what was written is undone)', async () => {
    const s = script({
      refuse: (input) =>
        input.name === 'web' && input.replicas === 2 ? 'namespace shop: replicas 2 not allowed' : undefined,
    });
    const report = (await (await start(s, { steps: [{ setWeight: 25 }, { setWeight: 50 }] })).result()) as CanaryReport;
    expect(report).toMatchObject({
      outcome: 'aborted',
      reason: 'namespace shop: replicas 2 not allowed',
      deleted: ['Deployment/shop/web-canary'],
      restored: [{ subject: 'Deployment/shop/web', from: 3, to: 4 }],
    });
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
  });

  it('a canary that does not become healthy aborts', async () => {
    const s = script({
      health: (input) =>
        input.objects[0]?.name === 'web-canary'
          ? { outcome: 'Failed', objects: [], message: 'pod web-canary-x: CrashLoopBackOff' }
          : current(input),
    });
    const report = (await (await start(s, { steps: [{ setWeight: 25 }] })).result()) as CanaryReport;
    expect(report).toMatchObject({ outcome: 'aborted', reason: expect.stringContaining('CrashLoopBackOff') });
    expect(scales(s)).toEqual(['web-canary=1']); // the stable was never reduced
    expect(report.restored).toEqual([]);
  });

  it('newRevision is refused with onNewRevision refuse (the default)', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 50 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    const err = await handle
      .executeUpdate(newRevisionUpdate, { args: [{ template: template('web:3') }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((err as WorkflowUpdateFailedError).cause?.message).toMatch(
      /refuses new revisions \(onNewRevision: refuse\)/,
    );
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'done testing' }] });
    await inRealTime(handle);
  });

  it('newRevision with restart goes back to 0 %, applies the new template and runs the steps again', async () => {
    const s = script();
    const handle = await start(s, { onNewRevision: 'restart', steps: [{ setWeight: 50 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    expect(await handle.executeUpdate(newRevisionUpdate, { args: [{ template: template('web:3') }] })).toEqual({
      action: 'restart',
      revision: 2,
    });
    await expect
      .poll(async () => (await handle.query(canaryStatusQuery)).revision, { timeout: 20_000, interval: 50 })
      .toBe(2);
    await waitForPhase(handle, 'paused');
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const report = await inRealTime(handle);
    expect(report).toMatchObject({ outcome: 'promoted', revision: 2 });
    expect(scales(s)).toEqual(['web-canary=2', 'web=2', 'web=4', 'web-canary=0', 'web-canary=2', 'web=2']);
    expect(report.steps.map((st) => `${st.step}@${st.revision}:${st.result}`)).toEqual([
      'setWeight 50@1:done',
      'pause (until promoted)@1:interrupted',
      'setWeight 50@2:done',
      'pause (until promoted)@2:promoted',
    ]);
    expect((callsOf(s, 'promoteCanary')[0] as PromoteCanaryInput).template).toMatchObject(template('web:3'));
  });

  it('newRevision with supersede replaces the canary template in place and continues from the current step', async () => {
    const s = script();
    const handle = await start(s, { onNewRevision: 'supersede', steps: [{ setWeight: 50 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    await handle.executeUpdate(newRevisionUpdate, { args: [{ template: template('web:3') }] });
    await expect.poll(() => s.canaryImage, { timeout: 20_000, interval: 50 }).toBe('web:3');
    await waitForPhase(handle, 'paused');
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const report = await inRealTime(handle);
    expect(report).toMatchObject({ outcome: 'promoted', revision: 2 });
    expect(scales(s)).toEqual(['web-canary=2', 'web=2']); // the ratio stayed where it was
    const applied = callsOf(s, 'applyCanary') as ApplyCanaryInput[];
    expect(applied.map((a) => (a.deployment as unknown as { spec: { replicas: number } }).spec.replicas)).toEqual([
      0, 2,
    ]);
  });

  it('cancel deletes the canary and restores the stable count, then the run ends cancelled', async () => {
    const s = script();
    const handle = await start(s, { steps: [{ setWeight: 75 }, { pause: {} }] });
    await waitForPhase(handle, 'paused');
    await handle.cancel();
    const err = await inRealTime(handle).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
    expect(callsOf(s, 'deleteCanary')).toHaveLength(1);
    expect(await handle.query(canaryStatusQuery)).toMatchObject({
      phase: 'done',
      message: expect.stringContaining('canary aborted: cancelled'),
    });
  });

  it('the preflight refuses a stable selector that would select the canary pods, before any write', async () => {
    const s = script();
    s.facts = { ...s.facts, selector: { matchLabels: { app: 'web' } }, templateLabels: { app: 'web' } };
    const err = await (await start(s, {})).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('PolicyViolation');
    expect(cause.message).toMatch(/would also select the canary pods/);
    expect(s.calls.map((c) => c.name)).toEqual(['readCanaryTarget']);
  });

  it('bad input fails in the first task naming the field', async () => {
    const err = await (await start(script(), { steps: [{ setWeight: 150 }] })).result().catch((e: unknown) => e);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(/setWeight is at most 100/);
  });
  // Last in the file: after an activity was cancelled mid-wait, the test server stops skipping time for later runs.
  it('while a step shifts, promote is refused and abort interrupts it at once', async () => {
    const held = gate();
    const s = script({
      health: (input) =>
        input.objects[0]?.name === 'web-canary' ? held.opened.then(() => current(input)) : current(input),
    });
    const handle = await start(s, { steps: [{ setWeight: 50 }] });
    await waitForPhase(handle, 'shifting');
    await expect.poll(() => callsOf(s, 'waitForHealth').length, { timeout: 20_000, interval: 50 }).toBe(1);
    const refused = await handle.executeUpdate(promoteUpdate, { args: [{}] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause?.message).toMatch(/not paused \(phase shifting\).*full: true/);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'wrong build' }] });
    const report = await inRealTime(handle);
    held.open();
    expect(report).toMatchObject({ outcome: 'aborted', reason: 'aborted by an operator: wrong build' });
    expect(report.steps).toMatchObject([{ step: 'setWeight 50', result: 'interrupted' }]);
    expect(scales(s)).toEqual(['web-canary=2']); // the stable was never reduced
    expect(s.replicas).toEqual({ web: 4, 'web-canary': 0 });
  });
});
