/**
 * `runAnalysis`: validate (render the templates) → wait `initialDelay` → measure, classify, count; wait `interval`;
 * repeat until the outcome is decided (or the overall timeout ends it) → report. The decisions are the pure state
 * machine's (`domain/analysis.ts`); this workflow gives it time (durable timers) and measurements (one short
 * `measureAnalysis` activity each, whose provider errors come back as values and are counted, not retried).
 *
 * Deploys, fleet waves and canary steps start it as a child:
 * `executeChild(runAnalysis, { args: [{ spec, cluster, args }], workflowId })`. The `analysisStatus` query shows the
 * measurements so far, the counts and when the next measurement is due.
 * @module
 */
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import {
  analysisReport,
  checkDeadline,
  nextMeasurementAt,
  recordMeasurement,
  startAnalysis,
  type AnalysisState,
  type MeasurementResult,
} from '../domain/analysis.js';
import { MissingTemplateArgsError, renderProvider } from '../domain/analysis-template.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import {
  AnalysisProvider,
  RunAnalysisInput,
  type AnalysisCounts,
  type AnalysisMeasurement,
  type AnalysisOutcome,
  type AnalysisProviderOptions,
  type AnalysisReport,
} from '../schemas/analysis.js';

/** What the `analysisStatus` query returns. */
export interface AnalysisStatus {
  name: string;
  /** `waiting` for the next measurement, `measuring`, or `done`. */
  phase: 'validating' | 'waiting' | 'measuring' | 'done';
  /** The latest measurements (at most `MEASUREMENTS_KEPT`). */
  measurements: AnalysisMeasurement[];
  counts: AnalysisCounts;
  /** Measurements that count toward `count`, and `count`. */
  taken: number;
  count: number;
  /** ISO time of the next measurement (or of the timeout, when it comes first), while not done. */
  nextMeasurementAt?: string;
  /** Once done. */
  outcome?: AnalysisOutcome;
  reason?: string;
}

/** Query: measurements so far, current counts, next measurement time. */
export const analysisStatusQuery = defineQuery<AnalysisStatus>('analysisStatus');

/** Seconds a measurement may take beyond its provider's timeout before Temporal times the attempt out. */
const ACTIVITY_MARGIN_SECONDS = 15;

/** Runs one analysis to its outcome; see the module doc. A malformed input fails at once (`InvalidInput`). */
export async function runAnalysis(input: RunAnalysisInput): Promise<AnalysisReport> {
  const run = new AnalysisRun(); // the status query
  run.validate(input); // first workflow task: a bad spec or an unknown template argument fails here
  while (await run.waitForNextMeasurement()) {
    await run.measure(); // one provider call, classified and counted by the state machine
  }
  return run.report();
}

/** One analysis run: its state and its steps. */
class AnalysisRun {
  private state!: AnalysisState;
  private provider!: AnalysisProviderOptions;
  private cluster = '';
  private args: Record<string, string> = {};
  private timeoutSeconds = 10;
  private phase: AnalysisStatus['phase'] = 'validating';
  private name = '';

  constructor() {
    setHandler(analysisStatusQuery, () => this.status());
  }

  /** Parses the input and renders the provider's templates; the state machine starts now. */
  validate(raw: RunAnalysisInput): void {
    const parsed = RunAnalysisInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid analysis input:\n${z.prettifyError(parsed.error)}`);
    const { spec, cluster, args = {} } = parsed.data;
    this.name = spec.name;
    if (!cluster && /\{\{\s*cluster\s*\}\}/.test(JSON.stringify(spec.provider)))
      throw invalid(`analysis ${spec.name}: the provider uses {{cluster}} but the input names no cluster`);
    let rendered: AnalysisProviderOptions;
    try {
      rendered = renderProvider(spec.provider, { cluster: cluster ?? '', args });
    } catch (err) {
      if (err instanceof MissingTemplateArgsError)
        throw invalid(
          `analysis ${spec.name}: spec.provider.${err.message} (given: ${Object.keys(args).join(', ') || 'none'})`,
        );
      throw err;
    }
    const checked = AnalysisProvider.safeParse(rendered);
    if (!checked.success)
      throw invalid(`analysis ${spec.name}: the rendered provider is invalid:\n${z.prettifyError(checked.error)}`);
    this.provider = checked.data;
    this.cluster = cluster ?? '';
    this.args = args;
    const p = this.provider;
    this.timeoutSeconds = (p.prometheus ?? p.http ?? p.webhook)?.timeoutSeconds ?? 30;
    this.state = startAnalysis(spec, Date.now());
  }

  /** Sleeps until the next measurement is due (or the timeout). False once the outcome is decided. */
  async waitForNextMeasurement(): Promise<boolean> {
    for (;;) {
      this.state = checkDeadline(this.state, Date.now());
      const at = nextMeasurementAt(this.state);
      if (at === undefined) return false;
      const wait = at - Date.now();
      if (wait <= 0) return true;
      this.enter('waiting', `next measurement at ${new Date(at).toISOString()}`);
      await sleep(wait);
    }
  }

  /** Takes one measurement and records it. An activity that failed outright (worker lost, timed out) is an error. */
  async measure(): Promise<void> {
    const number = this.state.total + 1;
    this.enter('measuring', `measurement ${number} (${this.state.taken} of ${this.state.settings.count} taken)`);
    const { measureAnalysis } = proxyActivities<Activities>({
      startToCloseTimeout: `${this.timeoutSeconds + ACTIVITY_MARGIN_SECONDS}s`,
      retry: { maximumAttempts: 3, maximumInterval: '10s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
    });
    const startedAt = Date.now();
    let result: MeasurementResult;
    try {
      result = await measureAnalysis({
        cluster: this.cluster,
        provider: this.provider,
        context: { analysis: this.name, cluster: this.cluster, args: this.args, measurement: number },
      });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const cause = err.cause instanceof ApplicationFailure && err.cause.type === FailureType.InvalidInput;
      if (cause) throw err; // a bug in what this workflow sent: retrying cannot fix it
      result = { kind: 'error', message: `the measurement failed: ${err.cause?.message ?? err.message}` };
    }
    this.state = recordMeasurement(this.state, { result, startedAt, finishedAt: Date.now() });
  }

  /** The final report. */
  report(): AnalysisReport {
    const report = analysisReport(this.state, Date.now());
    this.enter('done', `${report.outcome}: ${report.reason}`);
    return report;
  }

  private status(): AnalysisStatus {
    if (!this.state)
      return {
        name: this.name,
        phase: this.phase,
        measurements: [],
        counts: { successful: 0, failed: 0, inconclusive: 0, error: 0, noData: 0 },
        taken: 0,
        count: 0,
      };
    const s = this.state;
    const next = nextMeasurementAt(s);
    return {
      name: s.settings.name,
      phase: this.phase,
      measurements: [...s.measurements],
      counts: { ...s.counts },
      taken: s.taken,
      count: s.settings.count,
      ...(next !== undefined ? { nextMeasurementAt: new Date(next).toISOString() } : {}),
      ...(s.verdict ? { outcome: s.verdict.outcome, reason: s.verdict.reason } : {}),
    };
  }

  private enter(phase: AnalysisStatus['phase'], message: string): void {
    this.phase = phase;
    const c = this.state.counts;
    const tally = `${c.successful} ok, ${c.failed} failed, ${c.inconclusive} inconclusive, ${c.error} errors, ${c.noData} no data`;
    setCurrentDetails(`**${phase}** analysis ${this.name} — ${message}\n\n${tally}`);
  }
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}
