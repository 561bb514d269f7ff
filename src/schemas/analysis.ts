/**
 * Analysis: a reusable, validated spec of how to judge a release by measurements (a PromQL query, an HTTP endpoint,
 * the health of selected workloads, or a webhook), its input `RunAnalysisInput` (spec + cluster + template
 * arguments) and its result `AnalysisReport`. The `runAnalysis` workflow runs one; deploys, fleet waves and
 * canary steps start it as a child workflow.
 *
 * Semantics follow Argo Rollouts' AnalysisTemplate metrics (`interval`, `count`, `initialDelay`, conditions,
 * `failureLimit`, `inconclusiveLimit`, `consecutiveErrorLimit`), plus an explicit no-data policy and an overall
 * timeout; `domain/analysis.ts` is the state machine that applies them.
 * @module
 */
import { z } from 'zod';
import { parseExpression } from '../domain/analysis-expression.js';
import { unknownPlaceholders, withPlaceholders } from '../domain/analysis-template.js';
import { DurationError, parseDuration } from '../domain/duration.js';
import { parseJsonPath } from '../domain/analysis-json-path.js';
import { parseLabelSelector } from '../domain/selectors.js';
import { DurationText } from './duration.js';

/** Most measurements `count` may ask for (each costs a timer and an activity in history). */
export const MAX_ANALYSIS_COUNT = 500;
/** Shortest `interval`: one measurement a second at most. */
export const MIN_ANALYSIS_INTERVAL_MS = 1_000;
/** Longest `interval` and `initialDelay`. */
export const MAX_ANALYSIS_DELAY_MS = 86_400_000;
/** Longest overall `timeout`. */
export const MAX_ANALYSIS_TIMEOUT_MS = 7 * 86_400_000;
/** Default seconds a provider request may take. */
export const DEFAULT_PROVIDER_TIMEOUT_SECONDS = 10;
/** Default `consecutiveErrorLimit` (Argo Rollouts' default). */
export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

/** Text that may hold `{{args.NAME}}` / `{{cluster}}` placeholders; any other `{{…}}` is an error. */
const Templated = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    const unknown = unknownPlaceholders(text);
    if (unknown.length)
      ctx.addIssue({
        code: 'custom',
        message: `unknown placeholder ${unknown.join(', ')}: use {{args.NAME}} or {{cluster}}`,
      });
  });

/** An http(s) URL, possibly templated (checked with placeholders stood in). */
const TemplatedUrl = Templated.superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(withPlaceholders(text));
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    ctx.addIssue({ code: 'custom', message: `"${text}": only http and https URLs are supported` });
});

const ProviderTimeout = z.number().positive().max(120).default(DEFAULT_PROVIDER_TIMEOUT_SECONDS);
const Headers = z.record(z.string().min(1), z.string());

/** PromQL instant query (`GET <address>/api/v1/query`). */
export const PrometheusProvider = z.strictObject({
  /** Prometheus base URL, e.g. `http://prometheus:9090`. */
  address: TemplatedUrl,
  /** PromQL, evaluated as an instant query. */
  query: Templated,
  /** Seconds the request may take (default 10). */
  timeoutSeconds: ProviderTimeout,
});

/** A JSON path (`$.data.ok`, `items[0].value`, `items[*].ready`, `{$.x}`). */
const JsonPathText = z.string().superRefine((text, ctx) => {
  const parsed = parseJsonPath(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
});

/** An HTTP endpoint: a 2xx answer's JSON body (or the value at `jsonPath` in it; text when not JSON) is the result. */
export const HttpProvider = z.strictObject({
  url: TemplatedUrl,
  method: z.enum(['GET', 'POST', 'PUT']).default('GET'),
  /** Request headers. They are stored in workflow history: keep credentials out unless a payload codec encrypts. */
  headers: Headers.optional(),
  body: Templated.optional(),
  /** Where the result is in the JSON body; absent: the whole body. */
  jsonPath: JsonPathText.optional(),
  timeoutSeconds: ProviderTimeout,
});

/** Kinds the Kubernetes provider assesses. */
export const AnalysisWorkloadKind = z.enum(['Deployment', 'StatefulSet', 'DaemonSet']);

/** The health of the selected workloads (the deploy's health rules), through the worker's gateway of the cluster. */
export const KubernetesProvider = z.strictObject({
  namespace: Templated.superRefine((text, ctx) => {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(withPlaceholders(text)) || text.length > 253)
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a namespace name` });
  }),
  /** Full label selector syntax (`app=web,tier in (front,back),!canary`). */
  selector: Templated.superRefine((text, ctx) => {
    const parsed = parseLabelSelector(withPlaceholders(text));
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid label selector "${text}": ${parsed.error}` });
  }),
  kinds: z.array(AnalysisWorkloadKind).min(1).default(['Deployment', 'StatefulSet', 'DaemonSet']),
});

/** A webhook: POST of a JSON context (analysis, cluster, args, measurement number); the answer's JSON is the result. */
export const WebhookProvider = z.strictObject({
  url: TemplatedUrl,
  /** Stored in workflow history: keep credentials out unless a payload codec encrypts. */
  headers: Headers.optional(),
  timeoutSeconds: ProviderTimeout,
});

/** Where measurements come from: exactly one of the providers. */
export const AnalysisProvider = z
  .strictObject({
    prometheus: PrometheusProvider.optional(),
    http: HttpProvider.optional(),
    kubernetes: KubernetesProvider.optional(),
    webhook: WebhookProvider.optional(),
  })
  .superRefine((p, ctx) => {
    const given = Object.entries(p)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k);
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one provider: prometheus, http, kubernetes or webhook (got ${given.join(', ') || 'none'})`,
      });
  });
/** A provider as written. */
export type AnalysisProvider = z.input<typeof AnalysisProvider>;
/** A provider after defaults. */
export type AnalysisProviderOptions = z.output<typeof AnalysisProvider>;
/** The provider names. */
export type AnalysisProviderName = keyof AnalysisProviderOptions;

/** A condition over `result` (`domain/analysis-expression.ts`), checked to parse; errors name the column. */
const Condition = z.string().superRefine((text, ctx) => {
  const parsed = parseExpression(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
});

/**
 * What a measurement that returned no data (an empty Prometheus vector, a NaN, an empty or null answer, no
 * workload matching) counts as:
 * - `fail`: a failed measurement (counts against `failureLimit`);
 * - `inconclusive` (default): an inconclusive measurement (counts against `inconclusiveLimit`);
 * - `keepMeasuring`: not a measurement at all: measure again after `interval`, until `count` measurements with
 *   data were taken or the overall `timeout` ends the run (inconclusive). Needs `interval` and `timeout`.
 */
export const NoDataPolicy = z.enum(['fail', 'inconclusive', 'keepMeasuring']);
/** What a measurement without data counts as. */
export type NoDataPolicy = z.infer<typeof NoDataPolicy>;

function durationOf(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof DurationError) return undefined;
    throw err;
  }
}

/**
 * An analysis spec. Measurements start after `initialDelay`, one every `interval`, until `count` were taken; each is
 * classified by the conditions (successful / failed / inconclusive), or is an error (the provider failed, or the
 * condition could not be evaluated) or has no data (see {@link NoDataPolicy}). The run ends as soon as the outcome
 * is decided: `failed` when failed measurements exceed `failureLimit` or consecutive errors exceed
 * `consecutiveErrorLimit`; `inconclusive` when inconclusive ones exceed `inconclusiveLimit`, when the `timeout`
 * ends it, or when `count` was reached without a single successful measurement; else `successful`.
 */
export const AnalysisSpec = z
  .strictObject({
    /** Names the analysis in reports and messages. */
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'lowercase letters, digits, "-" and "."')
      .max(63),
    provider: AnalysisProvider,
    /** Time between measurements (`30s`, `5m`, `1h30m` or seconds); needed when more than one can be taken. */
    interval: DurationText.optional(),
    /** Time before the first measurement (default none). */
    initialDelay: DurationText.optional(),
    /** Measurements to take (default 1); errors and (with `keepMeasuring`) no-data answers are not counted. */
    count: z.number().int().min(1).max(MAX_ANALYSIS_COUNT).default(1),
    /** A measurement is successful when true (alone: failed when false). */
    successCondition: Condition.optional(),
    /** A measurement is failed when true (alone: successful when false). Wins over `successCondition`. */
    failureCondition: Condition.optional(),
    /** Failed measurements tolerated (default 0): one more fails the analysis. */
    failureLimit: z.number().int().min(0).max(MAX_ANALYSIS_COUNT).default(0),
    /** Inconclusive measurements tolerated (default 0): one more ends it inconclusive. */
    inconclusiveLimit: z.number().int().min(0).max(MAX_ANALYSIS_COUNT).default(0),
    /** Errors in a row tolerated (default 4): one more fails the analysis. Errors are retried after `interval`. */
    consecutiveErrorLimit: z.number().int().min(0).max(100).default(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
    noData: NoDataPolicy.default('inconclusive'),
    /**
     * Longest the whole run may take, counted from its start (initial delay included): when it ends before the
     * outcome is decided, the run ends `inconclusive`. Checked between measurements: one in flight finishes first
     * (its provider timeout bounds it). Needed with `noData: keepMeasuring`.
     */
    timeout: DurationText.optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.successCondition === undefined && spec.failureCondition === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['successCondition'],
        message: 'give a successCondition, a failureCondition or both',
      });
    const interval = durationOf(spec.interval);
    const initialDelay = durationOf(spec.initialDelay) ?? 0;
    const timeout = durationOf(spec.timeout);
    if (interval !== undefined && (interval < MIN_ANALYSIS_INTERVAL_MS || interval > MAX_ANALYSIS_DELAY_MS))
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'interval must be between 1s and 24h' });
    if (initialDelay > MAX_ANALYSIS_DELAY_MS)
      ctx.addIssue({ code: 'custom', path: ['initialDelay'], message: 'initialDelay must be at most 24h' });
    if (spec.interval === undefined && (spec.count ?? 1) > 1)
      ctx.addIssue({ code: 'custom', path: ['interval'], message: `count ${spec.count} needs an interval` });
    if (spec.noData === 'keepMeasuring') {
      if (spec.interval === undefined)
        ctx.addIssue({ code: 'custom', path: ['interval'], message: 'noData keepMeasuring needs an interval' });
      if (spec.timeout === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['timeout'],
          message: 'noData keepMeasuring needs a timeout (how long to wait for data)',
        });
    }
    if (timeout !== undefined) {
      if (timeout > MAX_ANALYSIS_TIMEOUT_MS)
        ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'timeout must be at most 7d' });
      if (timeout <= initialDelay)
        ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'timeout must be longer than initialDelay' });
    }
  });
/** An analysis spec as callers write it (defaults optional). */
export type AnalysisSpec = z.input<typeof AnalysisSpec>;
/** An analysis spec after defaults. */
export type AnalysisSpecOptions = z.output<typeof AnalysisSpec>;

/** Template argument names and values (`{{args.NAME}}`). */
export const AnalysisArgs = z.record(
  z.string().regex(/^[A-Za-z0-9_][-A-Za-z0-9_.]*$/, 'an argument name is letters, digits, "_", "-" and "."'),
  z.string().max(4_096),
);

/** Input of the `runAnalysis` workflow. */
export const RunAnalysisInput = z.strictObject({
  spec: AnalysisSpec,
  /** Configured cluster name (`{{cluster}}`; the Kubernetes provider's cluster); the worker's default when absent. */
  cluster: z.string().min(1).optional(),
  /** Values of `{{args.NAME}}` placeholders. */
  args: AnalysisArgs.optional(),
});
/** Input of `runAnalysis`. */
export type RunAnalysisInput = z.input<typeof RunAnalysisInput>;

/** The three outcomes of an analysis. */
export const AnalysisOutcome = z.enum(['successful', 'failed', 'inconclusive']);
/** Outcome of an analysis. */
export type AnalysisOutcome = z.infer<typeof AnalysisOutcome>;

/** How one measurement was classified. */
export const MeasurementPhase = z.enum(['successful', 'failed', 'inconclusive', 'error', 'noData']);
/** How one measurement was classified. */
export type MeasurementPhase = z.infer<typeof MeasurementPhase>;

/** One measurement, as the status query and the report show it. */
export const AnalysisMeasurement = z.object({
  /** 1-based position among every measurement of the run (errors and no-data answers included). */
  number: z.number().int().min(1),
  phase: MeasurementPhase,
  /** ISO times (workflow time). */
  startedAt: z.string(),
  finishedAt: z.string(),
  /** The result the conditions saw (large values are shortened to a JSON preview string). */
  value: z.unknown().optional(),
  /** Why: the condition that decided, the error, or the no-data detail. */
  message: z.string(),
});
/** One measurement. */
export type AnalysisMeasurement = z.infer<typeof AnalysisMeasurement>;

/** Measurements per phase. */
export const AnalysisCounts = z.object({
  successful: z.number().int(),
  failed: z.number().int(),
  inconclusive: z.number().int(),
  error: z.number().int(),
  noData: z.number().int(),
});
/** Measurements per phase. */
export type AnalysisCounts = z.infer<typeof AnalysisCounts>;

/** What `runAnalysis` returns. */
export const AnalysisReport = z.object({
  name: z.string(),
  outcome: AnalysisOutcome,
  /** One line: why this outcome (`3 failed measurements > failureLimit 2`, `no data from prometheus for 5 measurements`). */
  reason: z.string(),
  /** The measurements (the latest ones when there were more than the report keeps; `counts` has them all). */
  measurements: z.array(AnalysisMeasurement),
  counts: AnalysisCounts,
  /** ISO times (workflow time). */
  startedAt: z.string(),
  endedAt: z.string(),
});
/** What `runAnalysis` returns. */
export type AnalysisReport = z.infer<typeof AnalysisReport>;
