/**
 * `runAnalysis` and a deploy with analysis, on Temporal's time-skipping test server with `measureAnalysis` (and the
 * deploy activities) scripted: outcomes after count, failureLimit, inconclusive, consecutive errors, each no-data
 * policy, timers (initialDelay, interval, timeout) in workflow time, the status query, input errors; a deploy whose
 * analysis fails rolls back; an inconclusive one waits for `decideAnalysis` (promote, rollback, timeout). The real
 * Prometheus and the real cluster are in test/integration/analysis.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { CompensateObjectsInput, DeployPlan, WaitForHealthInput } from '../../src/activities/index.js';
import type { AnalysisReport, AnalysisSpec, RunAnalysisInput } from '../../src/schemas/analysis.js';
import type { MeasureAnalysisInput, MeasureAnalysisResult } from '../../src/schemas/activities.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import type { AnalysisStatus } from '../../src/workflows/analysis.js';
import type { DeployProgress } from '../../src/workflows/deploy.js';
import { useTimeSkippingWorker } from './support.js';

/** `0.01` → a value; `'none'` → no data; `'err'` → a provider error. */
type Step = number | 'none' | 'err';
let steps: Step[] = [];
let inputs: MeasureAnalysisInput[] = [];
let deployCalls: string[] = [];
const taskQueue = 'analysis';

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => ({
    measureAnalysis: (input: MeasureAnalysisInput): Promise<MeasureAnalysisResult> => {
      inputs.push(input);
      const step = steps.shift() ?? 'none';
      if (step === 'none') return Promise.resolve({ kind: 'noData', detail: 'the query returned an empty vector' });
      if (step === 'err') return Promise.resolve({ kind: 'error', message: 'connect ECONNREFUSED' });
      return Promise.resolve({ kind: 'value', value: step });
    },
    planDeploy: (): Promise<DeployPlan> => {
      deployCalls.push('planDeploy');
      const entry = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: 'shop',
        name: 'cfg',
        subject: 'ConfigMap/shop/cfg',
      };
      return Promise.resolve({
        cluster: 'local',
        entries: [{ ...entry, action: 'configured', namespaced: true, fingerprint: 'fp', changes: ['data.v'] }],
        rollbackState: 'snapshot',
      });
    },
    applyObjects: () => (deployCalls.push('applyObjects'), Promise.resolve([])),
    waitForHealth: (input: WaitForHealthInput) => {
      deployCalls.push('waitForHealth');
      return Promise.resolve({
        outcome: 'Current',
        objects: input.objects.map((o) => ({ subject: o.subject, status: 'Current', reason: 'Ready', message: 'ok' })),
        message: 'all Current',
      });
    },
    compensateObjects: (input: CompensateObjectsInput) => {
      deployCalls.push('compensateObjects');
      return Promise.resolve(input.restore.map((subject) => ({ subject, result: 'restored' })));
    },
    recordInventory: () => (deployCalls.push('recordInventory'), Promise.resolve({ pruned: [], skipped: [] })),
  }),
});

const PROM = { prometheus: { address: 'http://prometheus:9090', query: 'rate(errors{app="{{args.app}}"}[1m])' } };
const spec = (overrides: Partial<AnalysisSpec> = {}): AnalysisSpec => ({
  name: 'error-rate',
  provider: PROM,
  successCondition: 'result < 0.05',
  ...overrides,
});
const id = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

async function analyze(
  s: Step[],
  sp: AnalysisSpec,
  args: Record<string, string> = { app: 'web' },
): Promise<AnalysisReport> {
  steps = [...s];
  inputs = [];
  return ts.env.client.workflow.execute<(i: RunAnalysisInput) => Promise<AnalysisReport>>('runAnalysis', {
    taskQueue,
    workflowId: id('analysis'),
    args: [{ spec: sp, cluster: 'local', args }],
  });
}

const seconds = (r: AnalysisReport): number[] =>
  r.measurements.map((m) => (Date.parse(m.startedAt) - Date.parse(r.startedAt)) / 1000);

describe('runAnalysis (time-skipping server, scripted measurements)', () => {
  it('is successful after count good measurements, interval apart in workflow time', async () => {
    const r = await analyze([0.01, 0.02, 0.01], spec({ count: 3, interval: '5m' }));
    expect(r).toMatchObject({ outcome: 'successful', reason: '3 of 3 measurements successful' });
    expect(r.counts).toEqual({ successful: 3, failed: 0, inconclusive: 0, error: 0, noData: 0 });
    const t = seconds(r);
    expect(t[0]).toBeLessThan(5);
    expect(t[1]! - t[0]!).toBeGreaterThanOrEqual(300);
    expect(t[2]! - t[1]!).toBeGreaterThanOrEqual(300);
    expect(inputs[0]).toMatchObject({
      cluster: 'local',
      provider: { prometheus: { query: 'rate(errors{app="web"}[1m])', timeoutSeconds: 10 } },
      context: { analysis: 'error-rate', measurement: 1, args: { app: 'web' } },
    });
  });

  it('waits initialDelay before the first measurement', async () => {
    const r = await analyze([0.01], spec({ initialDelay: '10m' }));
    expect(seconds(r)[0]).toBeGreaterThanOrEqual(600);
  });

  it('fails as soon as failures exceed failureLimit', async () => {
    const r = await analyze([0.3, 0.01, 0.4, 0.01], spec({ count: 5, interval: '1m', failureLimit: 1 }));
    expect(r.outcome).toBe('failed');
    expect(r.reason).toMatch(
      /^2 failed measurements > failureLimit 1; last: successCondition "result < 0.05" is false/,
    );
    expect(r.measurements.map((m) => m.phase)).toEqual(['failed', 'successful', 'failed']);
  });

  it('is inconclusive when neither condition holds', async () => {
    const r = await analyze([0.07], spec({ failureCondition: 'result > 0.1' }));
    expect(r).toMatchObject({
      outcome: 'inconclusive',
      reason: expect.stringMatching(/^1 inconclusive measurement > inconclusiveLimit 0/),
    });
  });

  it('fails after more consecutive errors than consecutiveErrorLimit', async () => {
    const r = await analyze(['err', 'err', 'err'], spec({ consecutiveErrorLimit: 2, interval: '30s' }));
    expect(r).toMatchObject({
      outcome: 'failed',
      reason: '3 consecutive errors > consecutiveErrorLimit 2; last: connect ECONNREFUSED',
      counts: { error: 3 },
    });
  });

  it('no data, policy fail: a failed measurement', async () => {
    const r = await analyze(['none'], spec({ noData: 'fail' }));
    expect(r.outcome).toBe('failed');
    expect(r.reason).toMatch(/^no data from prometheus for 1 measurement \(noData: fail\) > failureLimit 0/);
  });

  it('no data, policy inconclusive: an inconclusive measurement', async () => {
    const r = await analyze(['none'], spec({ noData: 'inconclusive' }));
    expect(r.outcome).toBe('inconclusive');
    expect(r.reason).toMatch(/^no data from prometheus for 1 measurement > inconclusiveLimit 0/);
  });

  it('no data, policy keepMeasuring: measures again until data arrives', async () => {
    const r = await analyze(['none', 'none', 0.01], spec({ noData: 'keepMeasuring', interval: '1m', timeout: '10m' }));
    expect(r).toMatchObject({ outcome: 'successful', counts: { successful: 1, noData: 2 } });
    expect(r.reason).toBe('1 measurements: 1 successful, 2 without data');
  });

  it('no data, policy keepMeasuring: the timeout ends it inconclusive', async () => {
    const r = await analyze(
      Array<Step>(20).fill('none'),
      spec({ noData: 'keepMeasuring', interval: '1m', timeout: '3m30s' }),
    );
    expect(r).toMatchObject({
      outcome: 'inconclusive',
      reason: 'timeout 3m30s reached after 0 of 1 measurements; no data from prometheus for 4 measurements',
    });
    expect((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000).toBeGreaterThanOrEqual(210);
  });

  it('an unknown template argument fails the run at once, naming the field', async () => {
    const err = await analyze([0.01], spec(), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { type?: string; message: string };
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toBe(
      'analysis error-rate: spec.provider.prometheus.query: unknown template argument args.app (given: none)',
    );
    expect(inputs).toHaveLength(0);
  });

  it('a malformed spec fails the run at once, naming the field', async () => {
    const err = await analyze([0.01], spec({ count: 3 })).catch((e: unknown) => e);
    expect(((err as WorkflowFailedError).cause as { message: string }).message).toMatch(
      /count 3 needs an interval[\s\S]*→ at spec\.interval/,
    );
  });

  it('the status query shows the measurements, the counts and the next measurement time', async () => {
    steps = [0.01];
    const handle = await ts.env.client.workflow.start('runAnalysis', {
      taskQueue,
      workflowId: id('analysis-query'),
      args: [{ spec: spec({ count: 2, interval: '1h' }), args: { app: 'web' } }],
    });
    let status: AnalysisStatus | undefined;
    await expect
      .poll(async () => (status = await handle.query<AnalysisStatus>('analysisStatus')).counts.successful, {
        timeout: 20_000,
      })
      .toBe(1);
    expect(status).toMatchObject({ name: 'error-rate', phase: 'waiting', taken: 1, count: 2 });
    const first = status?.measurements[0];
    expect(first).toMatchObject({ number: 1, phase: 'successful', value: 0.01 });
    expect(Date.parse(status?.nextMeasurementAt ?? '') - Date.parse(first?.finishedAt ?? '')).toBe(3_600_000);
    await handle.terminate('done looking');
  });
});

// --- a deploy with analysis ------------------------------------------------------------------------------------

const manifests = `apiVersion: v1
kind: ConfigMap
metadata: { name: cfg, namespace: shop }
data: { v: "2" }
`;

async function startDeploy(s: Step[], analysis: AnalysisSpec, extra: Record<string, unknown> = {}) {
  steps = [...s];
  inputs = [];
  deployCalls = [];
  return ts.env.client.workflow.start<(i: unknown) => Promise<DeployReport>>('deployManifests', {
    taskQueue,
    workflowId: id('deploy-analysis'),
    args: [{ manifests, app: 'web', analysis, ...extra }],
  });
}

describe('deployManifests with analysis (time-skipping server)', () => {
  it('a failed analysis rolls the deploy back, with the analysis reason in the report', async () => {
    const handle = await startDeploy([0.3], spec());
    const report = await handle.result();
    expect(report.outcome).toBe('rolledBack');
    expect(report.failure).toEqual({
      type: 'AnalysisFailed',
      message: expect.stringMatching(/^analysis error-rate failed: 1 failed measurement > failureLimit 0/),
    });
    expect(report.analysis).toMatchObject({ name: 'error-rate', outcome: 'failed', counts: { failed: 1 } });
    expect(deployCalls).toEqual(['planDeploy', 'applyObjects', 'waitForHealth', 'compensateObjects', 'waitForHealth']);
    // the deploy's app and namespace are the default template arguments, its cluster is {{cluster}}
    expect(inputs[0]).toMatchObject({ cluster: 'local', context: { args: { app: 'web', namespace: 'shop' } } });
  });

  it('a successful analysis lets the deploy succeed and record its inventory', async () => {
    const report = await (await startDeploy([0.01], spec())).result();
    expect(report).toMatchObject({ outcome: 'succeeded', analysis: { outcome: 'successful' } });
    expect(deployCalls.at(-1)).toBe('recordInventory');
    expect(report.durationsMs.analyzing).toBeGreaterThanOrEqual(0);
  });

  async function inconclusive() {
    const handle = await startDeploy([0.07], spec({ failureCondition: 'result > 0.1' }));
    await expect
      .poll(async () => (await handle.query<DeployProgress>('progress')).phase, { timeout: 20_000 })
      .toBe('awaitingDecision');
    return handle;
  }

  it('inconclusive → promote: the deploy succeeds', async () => {
    const handle = await inconclusive();
    const progress = await handle.query<DeployProgress>('progress');
    expect(progress.analysis).toMatchObject({ outcome: 'inconclusive' });
    expect(
      await handle.executeUpdate('decideAnalysis', {
        args: [{ decision: 'promote', by: 'alice', reason: 'quiet hour' }],
      }),
    ).toEqual({
      decision: 'promote',
    });
    const report = await handle.result();
    expect(report).toMatchObject({
      outcome: 'succeeded',
      analysisDecision: { decision: 'promote', by: 'alice', reason: 'quiet hour' },
    });
    expect(deployCalls).not.toContain('compensateObjects');
  });

  it('inconclusive → rollback: the deploy rolls back, saying who decided', async () => {
    const handle = await inconclusive();
    await handle.executeUpdate('decideAnalysis', { args: [{ decision: 'rollback', by: 'bob' }] });
    const report = await handle.result();
    expect(report.outcome).toBe('rolledBack');
    expect(report.failure?.message).toMatch(/^analysis error-rate inconclusive: .*; rollback decided by bob$/);
    expect(deployCalls).toContain('compensateObjects');
  });

  it('inconclusive and no decision in time: the deploy rolls back', async () => {
    const handle = await startDeploy([0.07], spec({ failureCondition: 'result > 0.1' }), {
      analysisDecisionTimeout: '30m',
    });
    const report = await handle.result();
    expect(report).toMatchObject({
      outcome: 'rolledBack',
      analysisDecision: { decision: 'timedOut', reason: 'no decision within 30m' },
    });
    expect(report.failure?.message).toMatch(/; no decision within 30m$/);
  });

  it('refuses a decision when none is awaited, and a malformed one', async () => {
    const handle = await startDeploy([0.01], spec({ initialDelay: '1h' }));
    await expect
      .poll(async () => (await handle.query<DeployProgress>('progress')).phase, { timeout: 20_000 })
      .toBe('analyzing');
    const refusal = (arg: unknown) =>
      handle.executeUpdate('decideAnalysis', { args: [arg] }).then(
        () => 'accepted',
        (e: { cause?: { message: string } }) => e.cause?.message ?? '',
      );
    expect(await refusal({ decision: 'promote' })).toBe(
      'this deploy is not waiting for an analysis decision (phase analyzing)',
    );
    expect(await refusal({ decision: 'maybe' })).toMatch(/^invalid analysis decision: .*decision/s);
    await handle.terminate('done looking');
  });

  it('an analysis naming an argument the deploy does not have fails before anything is written', async () => {
    const handle = await startDeploy(
      [0.01],
      spec({ provider: { prometheus: { address: 'http://p:9090', query: 'x{t="{{args.team}}"}' } } }),
    );
    const err = await handle.result().catch((e: unknown) => e);
    expect(((err as WorkflowFailedError).cause as { message: string }).message).toMatch(
      /^analysis error-rate: provider\.prometheus\.query: unknown template argument args\.team \(known: app, namespace; add them to analysisArgs\)$/,
    );
    expect(deployCalls).toEqual([]);
  });
});
