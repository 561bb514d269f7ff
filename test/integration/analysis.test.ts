/**
 * Analysis against a real Prometheus (Debian package, scraping a gauge the test sets every second) on the real
 * stack: a query over the gauge passes its condition; an empty result follows each no-data policy (fail,
 * inconclusive, keep measuring until the series appears); and a deploy whose analysis fails is rolled back (the
 * Deployment it created is gone again). Branches and long timers are in test/workflows/analysis.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalysisReport, AnalysisSpec } from '../../src/schemas/analysis.js';
import type { AnalysisStatus } from '../../src/workflows/analysis.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { appManifests } from '../support/workloads.js';
import { useHarness } from './harness.js';

let prom: RunningPrometheus;
const h = useHarness('analysis', {
  env: async () => {
    prom = await startPrometheus();
    return {};
  },
});
afterAll(async () => {
  await prom?.stop();
});

/** Sets a gauge and waits until Prometheus has scraped the new value. */
async function setGauge(name: string, value: number): Promise<void> {
  prom.metrics.set(name, value);
  await expect.poll(() => prom.query(name), { timeout: 30_000, interval: 200 }).toEqual([value]);
}

const spec = (query: string, overrides: Partial<AnalysisSpec> = {}): AnalysisSpec => ({
  name: 'error-rate',
  provider: { prometheus: { address: prom.url, query } },
  successCondition: 'result < 0.05',
  ...overrides,
});

function start(s: AnalysisSpec) {
  return h.client.temporal.workflow.start('runAnalysis', {
    taskQueue: h.taskQueue,
    workflowId: `analysis-${randomBytes(4).toString('hex')}`,
    args: [{ spec: s, cluster: 'local' }],
  });
}
const run = async (s: AnalysisSpec): Promise<AnalysisReport> => (await start(s)).result() as Promise<AnalysisReport>;

describe('analysis with a real Prometheus', () => {
  it('a query over a gauge passes its condition', async () => {
    await setGauge('kwf_error_ratio', 0.01);
    const r = await run(spec('max(kwf_error_ratio)', { count: 2, interval: '1s' }));
    expect(r).toMatchObject({ outcome: 'successful', reason: '2 of 2 measurements successful' });
    expect(r.measurements.map((m) => m.value)).toEqual([0.01, 0.01]);
  });

  it('an empty result with noData fail: the analysis fails', async () => {
    const r = await run(spec('kwf_never_exported', { noData: 'fail' }));
    expect(r.outcome).toBe('failed');
    expect(r.reason).toBe(
      'no data from prometheus for 1 measurement (noData: fail) > failureLimit 0; last: no data from prometheus: the query returned an empty vector: kwf_never_exported',
    );
  });

  it('an empty result with noData inconclusive (the default): the analysis is inconclusive', async () => {
    const r = await run(spec('kwf_never_exported'));
    expect(r).toMatchObject({ outcome: 'inconclusive', counts: { noData: 1 } });
    expect(r.reason).toMatch(/^no data from prometheus for 1 measurement > inconclusiveLimit 0/);
  });

  it('an empty result with noData keepMeasuring: measures again until the series appears', async () => {
    const handle = await start(spec('kwf_late_ratio', { noData: 'keepMeasuring', interval: '1s', timeout: '60s' }));
    await expect
      .poll(async () => (await handle.query<AnalysisStatus>('analysisStatus')).counts.noData, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2);
    await setGauge('kwf_late_ratio', 0.02);
    const r = (await handle.result()) as AnalysisReport;
    expect(r.outcome).toBe('successful');
    expect(r.counts.successful).toBe(1);
    expect(r.counts.noData).toBeGreaterThanOrEqual(2);
    expect(r.measurements.at(-1)).toMatchObject({ phase: 'successful', value: 0.02 });
  });

  it('a deploy whose analysis fails is rolled back', async () => {
    await setGauge('kwf_checkout_errors', 0.4);
    const manifests = appManifests(h.namespace, 'checkout', {
      config: '{ MODE: new }',
      container: 'app',
      image: 'registry.example/checkout:2',
      replicas: 1,
    });
    const handle = await h.client.deploy({
      manifests,
      app: 'checkout',
      analysis: spec('max(kwf_{{args.app}}_errors)', { failureCondition: 'result > 0.1', successCondition: undefined }),
    });
    const report = await handle.result();
    expect(report.outcome).toBe('rolledBack');
    expect(report.failure).toEqual({
      type: 'AnalysisFailed',
      message: expect.stringMatching(
        /^analysis error-rate failed: 1 failed measurement > failureLimit 0; last: failureCondition "result > 0.1" is true for result 0.4/,
      ),
    });
    expect(report.analysis?.measurements[0]).toMatchObject({ phase: 'failed', value: 0.4 });
    expect(report.objects.map((o) => `${o.subject} ${o.action}`)).toEqual(
      expect.arrayContaining([
        `Deployment/${h.namespace}/checkout deleted`,
        `ConfigMap/${h.namespace}/checkout-config deleted`,
      ]),
    );
    const left = await h.kube.get({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: h.namespace,
      name: 'checkout',
    });
    expect(left === undefined || left.metadata.deletionTimestamp !== undefined).toBe(true);
  });
});
