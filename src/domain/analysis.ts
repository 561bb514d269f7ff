/**
 * The analysis state machine: {@link startAnalysis} → ({@link nextMeasurementAt}, measure, {@link recordMeasurement})*
 * → verdict, with {@link checkDeadline} for the overall timeout. Pure and deterministic (times are inputs, in epoch
 * ms): the `runAnalysis` workflow drives it with timers and one activity per measurement, and fixture tests drive
 * it directly.
 *
 * Each measurement is classified as Argo Rollouts classifies it when conditions are given:
 * - both conditions: `failureCondition` true → failed; else `successCondition` true → successful; else inconclusive;
 * - only `successCondition`: true → successful, false → failed;
 * - only `failureCondition`: true → failed, false → successful;
 * - the provider failed, or a condition could not be evaluated (missing field, wrong type) → error;
 * - the provider had no data → noData, which counts as the spec's {@link NoDataPolicy} says.
 *
 * The run is decided as soon as it can be, in this order: failed measurements (no-data ones included under
 * `noData: fail`) > `failureLimit` → failed; consecutive errors > `consecutiveErrorLimit` → failed; inconclusive
 * measurements (no-data ones included under `noData: inconclusive`) > `inconclusiveLimit` → inconclusive; `count`
 * measurements taken → successful when at least one was successful, else inconclusive (tolerated failures are not
 * evidence of success); the overall timeout, or {@link MAX_MEASUREMENTS_PER_RUN} measurements, → inconclusive.
 * Errors never count toward `count` (they are failures to measure) and are retried after `interval`
 * (or {@link DEFAULT_ERROR_RETRY_MS} when there is none); under `keepMeasuring` neither do no-data answers.
 * @module
 */
import type {
  AnalysisCounts,
  AnalysisMeasurement,
  AnalysisOutcome,
  AnalysisProviderName,
  AnalysisReport,
  AnalysisSpecOptions,
  MeasurementPhase,
  NoDataPolicy,
} from '../schemas/analysis.js';
import {
  compileExpression,
  evaluateCondition,
  ExpressionEvaluationError,
  type Expression,
  type JsonValue,
} from './analysis-expression.js';
import { parseDuration } from './duration.js';

/** Most measurements one run takes (errors and no-data answers included): bounds history. */
export const MAX_MEASUREMENTS_PER_RUN = 1_000;
/** Measurements a report and the status query keep (the latest); `counts` covers all of them. */
export const MEASUREMENTS_KEPT = 100;
/** When an error needs a retry and the spec has no interval (count 1). */
export const DEFAULT_ERROR_RETRY_MS = 10_000;
/** A value larger than this (JSON characters) is kept as a shortened preview string. */
export const MAX_KEPT_VALUE_CHARS = 2_000;

/** What one measurement gave: a value, no data, or an error (provider errors are values, never thrown). */
export type MeasurementResult =
  { kind: 'value'; value: unknown } | { kind: 'noData'; detail: string } | { kind: 'error'; message: string };

/** One measurement to record: its result and when it ran (epoch ms). */
export interface MeasurementRecord {
  result: MeasurementResult;
  startedAt: number;
  finishedAt: number;
}

/** The spec's settings the machine needs, with durations in ms. */
export interface AnalysisSettings {
  name: string;
  provider: AnalysisProviderName;
  count: number;
  intervalMs: number | undefined;
  initialDelayMs: number;
  timeoutMs: number | undefined;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
  noData: NoDataPolicy;
  successCondition: Expression | undefined;
  failureCondition: Expression | undefined;
}

/** A decided run. */
export interface AnalysisVerdict {
  outcome: AnalysisOutcome;
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** The state of one analysis run: plain data. */
export interface AnalysisState {
  readonly settings: AnalysisSettings;
  readonly startedAt: number;
  /** When the overall timeout ends the run (epoch ms), if there is one. */
  readonly deadline: number | undefined;
  /** When the next measurement is due (epoch ms). */
  readonly nextAt: number;
  /** Measurements that count toward `count`. */
  readonly taken: number;
  /** Every measurement so far (the next one's number is this + 1). */
  readonly total: number;
  readonly counts: AnalysisCounts;
  readonly consecutiveErrors: number;
  /** The latest {@link MEASUREMENTS_KEPT} measurements. */
  readonly measurements: readonly AnalysisMeasurement[];
  readonly verdict: AnalysisVerdict | undefined;
}

/** The settings of a validated spec; conditions are parsed here, once. */
export function analysisSettings(spec: AnalysisSpecOptions): AnalysisSettings {
  const provider = (Object.keys(spec.provider) as AnalysisProviderName[]).find((k) => spec.provider[k] !== undefined);
  if (!provider) throw new Error('the analysis spec has no provider');
  const ms = (d: string | number | undefined): number | undefined => (d === undefined ? undefined : parseDuration(d));
  return {
    name: spec.name,
    provider,
    count: spec.count,
    intervalMs: ms(spec.interval),
    initialDelayMs: ms(spec.initialDelay) ?? 0,
    timeoutMs: ms(spec.timeout),
    failureLimit: spec.failureLimit,
    inconclusiveLimit: spec.inconclusiveLimit,
    consecutiveErrorLimit: spec.consecutiveErrorLimit,
    noData: spec.noData,
    successCondition: spec.successCondition !== undefined ? compileExpression(spec.successCondition) : undefined,
    failureCondition: spec.failureCondition !== undefined ? compileExpression(spec.failureCondition) : undefined,
  };
}

/** A new run of a validated spec started at `now`: the first measurement is due after `initialDelay`. */
export function startAnalysis(spec: AnalysisSpecOptions, now: number): AnalysisState {
  const settings = analysisSettings(spec);
  return {
    settings,
    startedAt: now,
    deadline: settings.timeoutMs !== undefined ? now + settings.timeoutMs : undefined,
    nextAt: now + settings.initialDelayMs,
    taken: 0,
    total: 0,
    counts: { successful: 0, failed: 0, inconclusive: 0, error: 0, noData: 0 },
    consecutiveErrors: 0,
    measurements: [],
    verdict: undefined,
  };
}

/**
 * When to wake up next (epoch ms): the next measurement, or the deadline when it comes first (then call
 * {@link checkDeadline}). Undefined once decided.
 */
export function nextMeasurementAt(state: AnalysisState): number | undefined {
  if (state.verdict) return undefined;
  return state.deadline !== undefined ? Math.min(state.nextAt, state.deadline) : state.nextAt;
}

/** Ends the run `inconclusive` when its overall timeout has passed at `now`; otherwise returns it unchanged. */
export function checkDeadline(state: AnalysisState, now: number): AnalysisState {
  if (state.verdict || state.deadline === undefined || now < state.deadline) return state;
  const s = state.settings;
  const noData = state.counts.noData
    ? `; no data from ${s.provider} for ${plural(state.counts.noData, 'measurement')}`
    : '';
  const reason = `timeout ${formatMs(s.timeoutMs ?? 0)} reached after ${state.taken} of ${s.count} measurements${noData}`;
  return { ...state, verdict: { outcome: 'inconclusive', reason, at: now } };
}

/** How one result is classified under the spec's conditions (no-data and errors pass through). */
export function classifyMeasurement(
  settings: Pick<AnalysisSettings, 'successCondition' | 'failureCondition' | 'provider'>,
  result: MeasurementResult,
): { phase: MeasurementPhase; message: string } {
  if (result.kind === 'error') return { phase: 'error', message: result.message };
  if (result.kind === 'noData')
    return { phase: 'noData', message: `no data from ${settings.provider}: ${result.detail}` };
  const value = result.value as JsonValue;
  const { successCondition: success, failureCondition: failure } = settings;
  let succeeded: boolean | undefined;
  let failed: boolean | undefined;
  try {
    if (failure) failed = evaluateCondition(failure, value);
    if (success) succeeded = evaluateCondition(success, value);
  } catch (err) {
    if (!(err instanceof ExpressionEvaluationError)) throw err;
    const which = failed === undefined && failure ? 'failureCondition' : 'successCondition';
    return { phase: 'error', message: `${which} could not be evaluated: ${err.message}; result ${preview(value)}` };
  }
  const shown = `for result ${preview(value)}`;
  if (failed === true) return { phase: 'failed', message: `failureCondition "${failure?.source}" is true ${shown}` };
  if (success === undefined)
    return { phase: 'successful', message: `failureCondition "${failure?.source}" is false ${shown}` };
  if (succeeded === true)
    return { phase: 'successful', message: `successCondition "${success.source}" is true ${shown}` };
  if (failure === undefined)
    return { phase: 'failed', message: `successCondition "${success.source}" is false ${shown}` };
  return { phase: 'inconclusive', message: `neither condition is true ${shown}` };
}

/**
 * Records one measurement: classifies it, updates the counts, schedules the next one and decides the run when it
 * can. Recording into a decided run is a bug and throws.
 */
export function recordMeasurement(state: AnalysisState, m: MeasurementRecord): AnalysisState {
  if (state.verdict) throw new Error(`analysis ${state.settings.name} is already decided: ${state.verdict.reason}`);
  const s = state.settings;
  const { phase, message } = classifyMeasurement(s, m.result);
  const measurement: AnalysisMeasurement = {
    number: state.total + 1,
    phase,
    startedAt: new Date(m.startedAt).toISOString(),
    finishedAt: new Date(m.finishedAt).toISOString(),
    ...(m.result.kind === 'value' ? { value: keptValue(m.result.value) } : {}),
    message,
  };
  const counts = { ...state.counts, [phase]: state.counts[phase] + 1 };
  const counted = phase !== 'error' && !(phase === 'noData' && s.noData === 'keepMeasuring');
  const retryMs = s.intervalMs ?? DEFAULT_ERROR_RETRY_MS;
  const next: AnalysisState = {
    ...state,
    total: state.total + 1,
    taken: state.taken + (counted ? 1 : 0),
    counts,
    consecutiveErrors: phase === 'error' ? state.consecutiveErrors + 1 : 0,
    measurements: [...state.measurements, measurement].slice(-MEASUREMENTS_KEPT),
    nextAt: m.finishedAt + (counted ? (s.intervalMs ?? 0) : retryMs),
  };
  const verdict = decide(next, message);
  return verdict ? { ...next, verdict: { ...verdict, at: m.finishedAt } } : next;
}

/** The verdict the counts force, if any. `last` is the latest measurement's message. */
function decide(state: AnalysisState, last: string): Omit<AnalysisVerdict, 'at'> | undefined {
  const s = state.settings;
  const c = state.counts;
  const noDataFailed = s.noData === 'fail' ? c.noData : 0;
  const noDataInconclusive = s.noData === 'inconclusive' ? c.noData : 0;
  const failed = c.failed + noDataFailed;
  const inconclusive = c.inconclusive + noDataInconclusive;
  if (failed > s.failureLimit) {
    const what =
      noDataFailed === failed
        ? `no data from ${s.provider} for ${plural(failed, 'measurement')} (noData: fail)`
        : `${plural(failed, 'failed measurement')}${noDataFailed ? ` (${noDataFailed} without data)` : ''}`;
    return { outcome: 'failed', reason: `${what} > failureLimit ${s.failureLimit}; last: ${last}` };
  }
  if (state.consecutiveErrors > s.consecutiveErrorLimit) {
    const reason = `${state.consecutiveErrors} consecutive errors > consecutiveErrorLimit ${s.consecutiveErrorLimit}; last: ${last}`;
    return { outcome: 'failed', reason };
  }
  if (inconclusive > s.inconclusiveLimit) {
    const what =
      noDataInconclusive === inconclusive
        ? `no data from ${s.provider} for ${plural(inconclusive, 'measurement')}`
        : `${plural(inconclusive, 'inconclusive measurement')}${noDataInconclusive ? ` (${noDataInconclusive} without data)` : ''}`;
    return { outcome: 'inconclusive', reason: `${what} > inconclusiveLimit ${s.inconclusiveLimit}; last: ${last}` };
  }
  if (state.taken >= s.count) {
    const tally = tallyOf(state);
    if (c.successful === 0)
      return { outcome: 'inconclusive', reason: `no successful measurement in ${state.taken} (${tally})` };
    const all = c.successful === state.taken && state.total === state.taken;
    return {
      outcome: 'successful',
      reason: all ? `${c.successful} of ${s.count} measurements successful` : `${state.taken} measurements: ${tally}`,
    };
  }
  if (state.total >= MAX_MEASUREMENTS_PER_RUN) {
    const reason = `${state.total} measurements without a decision (${tallyOf(state)}); the most one run takes`;
    return { outcome: 'inconclusive', reason };
  }
  return undefined;
}

function tallyOf(state: AnalysisState): string {
  const c = state.counts;
  return (['successful', 'failed', 'inconclusive', 'error', 'noData'] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k === 'noData' ? 'without data' : k}`)
    .join(', ');
}

/** The report of a decided run (or of an undecided one, as it stands). */
export function analysisReport(state: AnalysisState, now: number): AnalysisReport {
  const v = state.verdict;
  return {
    name: state.settings.name,
    outcome: v?.outcome ?? 'inconclusive',
    reason: v?.reason ?? 'not decided yet',
    measurements: [...state.measurements],
    counts: { ...state.counts },
    startedAt: new Date(state.startedAt).toISOString(),
    endedAt: new Date(v?.at ?? now).toISOString(),
  };
}

/** A value as a measurement keeps it: itself, or a JSON preview string when large. */
function keptValue(value: unknown): unknown {
  const text = JSON.stringify(value) ?? 'null';
  return text.length > MAX_KEPT_VALUE_CHARS ? `${text.slice(0, MAX_KEPT_VALUE_CHARS - 3)}...` : value;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `90000` → `1m30s`. */
export function formatMs(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s || !parts.length) parts.push(`${s}s`);
  return parts.join('');
}
