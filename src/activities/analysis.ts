/**
 * `measureAnalysis`: ONE measurement of an analysis provider, returned as a value, no data, or an error. Provider
 * failures (unreachable, non-2xx, malformed answer, timeout) are results, never thrown, so the workflow counts them
 * against `consecutiveErrorLimit`; only a malformed input throws (non-retryable `InvalidInput`).
 *
 * - prometheus: `GET <address>/api/v1/query?query=…` (instant query). An empty vector, or only NaN samples, is no
 *   data; one sample gives a number; several give an array of numbers (in the answer's order); a scalar gives a
 *   number, a string a string; a range vector (matrix) is an error.
 * - http: `<method> <url>`; a non-2xx answer is an error; the JSON body (or the value at `jsonPath` in it; the text
 *   when the body is not JSON and no path is given) is the result; an empty body, `null`, or nothing at the path
 *   is no data.
 * - webhook: `POST <url>` of the JSON context (`{ analysis, cluster, args, measurement }`); the answer's JSON is the
 *   result, as for http.
 * - kubernetes: the health of the workloads the selector picks in the namespace (the deploy's health rules), as
 *   `{ healthy, status, total, current, objects: [{ subject, status, reason, message }] }`; no workload is no data.
 *
 * Every request sends `User-Agent: kube-workflows` and is bounded by the provider's `timeoutSeconds`.
 * @module
 */
import { assessHealth, HealthStatus, summarizeHealth } from '../domain/health.js';
import { parseJsonPath, selectJsonPath } from '../domain/analysis-json-path.js';
import { formatSubject } from '../domain/subject.js';
import type { KubeGateway, LiveObject } from '../kube/index.js';
import type { AnalysisProviderOptions } from '../schemas/analysis.js';
import { MeasureAnalysisInput, type MeasureAnalysisResult } from '../schemas/activities.js';
import { parseInput } from './failures.js';
import { relatedIndex } from './related.js';

/** The User-Agent of every provider request. */
export const ANALYSIS_USER_AGENT = 'kube-workflows';
/** Largest answer body read (bytes of text). */
export const MAX_ANSWER_BYTES = 1_048_576;
/** Largest result handed back (JSON characters): it goes into workflow history. */
export const MAX_RESULT_CHARS = 16_384;
/** Most workload lines the kubernetes provider's result lists (the counts cover all). */
export const MAX_WORKLOADS_LISTED = 20;

/** What the analysis activity needs. */
export interface AnalysisActivityDeps {
  /** The gateway of a configured cluster (empty name: the default). */
  gateway(cluster: string): KubeGateway;
  /** `fetch` for providers (tests may inject). */
  fetch?: typeof fetch;
}

type Options<K extends keyof AnalysisProviderOptions> = NonNullable<AnalysisProviderOptions[K]>;

const API_VERSION: Record<string, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1' };

/** Builds the analysis activity. */
export function createAnalysisActivities(deps: AnalysisActivityDeps) {
  const doFetch = deps.fetch ?? fetch;
  return {
    /** One measurement of the input's provider; see the module doc for what each provider returns. */
    async measureAnalysis(rawInput: MeasureAnalysisInput): Promise<MeasureAnalysisResult> {
      const input = parseInput(MeasureAnalysisInput, rawInput);
      const p = input.provider;
      try {
        if (p.prometheus) return await measurePrometheus(doFetch, p.prometheus);
        if (p.http) return await measureHttp(doFetch, p.http);
        if (p.webhook) return await measureWebhook(doFetch, p.webhook, input.context);
        if (p.kubernetes) return await measureKubernetes(deps.gateway(input.cluster), p.kubernetes);
        return { kind: 'error', message: 'no provider given' };
      } catch (err) {
        return { kind: 'error', message: describeError(err) };
      }
    },
  };
}

/** A provider failure: becomes an `error` result with this message. */
class ProviderError extends Error {}

function describeError(err: unknown): string {
  if (err instanceof ProviderError) return err.message;
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'no answer before the provider timeout';
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err.name}: ${err.message}${detail}`;
  }
  return String(err);
}

interface Answer {
  status: number;
  text: string;
}

async function request(
  doFetch: typeof fetch,
  url: string,
  init: { method: string; headers?: Record<string, string> | undefined; body?: string | undefined },
  timeoutSeconds: number,
): Promise<Answer> {
  const res = await doFetch(url, {
    method: init.method,
    headers: { 'user-agent': ANALYSIS_USER_AGENT, accept: 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(timeoutSeconds * 1000),
  });
  const text = await res.text();
  if (text.length > MAX_ANSWER_BYTES)
    throw new ProviderError(
      `the answer is ${Math.round(text.length / 1024)} KB, more than ${MAX_ANSWER_BYTES / 1024} KB`,
    );
  return { status: res.status, text };
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 197)}...` : t;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** A result small enough for history, or an error asking to narrow it. */
function sized(value: unknown): MeasureAnalysisResult {
  const chars = JSON.stringify(value)?.length ?? 0;
  if (chars > MAX_RESULT_CHARS)
    return {
      kind: 'error',
      message: `the result is ${chars} JSON characters, more than ${MAX_RESULT_CHARS}: narrow it (jsonPath, or the query)`,
    };
  return { kind: 'value', value };
}

interface PrometheusAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

async function measurePrometheus(doFetch: typeof fetch, p: Options<'prometheus'>): Promise<MeasureAnalysisResult> {
  const url = `${p.address.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(p.query)}`;
  const answer = await request(doFetch, url, { method: 'GET' }, p.timeoutSeconds);
  const parsed = parseJson(answer.text);
  const body = (parsed.ok ? parsed.value : undefined) as PrometheusAnswer | undefined;
  if (answer.status < 200 || answer.status > 299 || body?.status !== 'success') {
    const why = body?.error ? `${body.errorType ?? 'error'}: ${body.error}` : snippet(answer.text);
    return { kind: 'error', message: `prometheus answered HTTP ${answer.status}: ${why}` };
  }
  const { resultType, result } = body.data ?? {};
  switch (resultType) {
    case 'vector': {
      const samples = Array.isArray(result) ? (result as { value?: [number, string] }[]) : [];
      if (!samples.length) return { kind: 'noData', detail: `the query returned an empty vector: ${p.query}` };
      const values = samples.map((s) => Number(s.value?.[1]));
      const known = values.filter((v) => !Number.isNaN(v));
      if (!known.length) return { kind: 'noData', detail: `the query returned only NaN: ${p.query}` };
      if (known.some((v) => !Number.isFinite(v)))
        return { kind: 'error', message: `the query returned an infinite value: ${p.query}` };
      return known.length === 1 ? { kind: 'value', value: known[0] } : sized(known);
    }
    case 'scalar': {
      const v = Number((result as [number, string] | undefined)?.[1]);
      if (Number.isNaN(v)) return { kind: 'noData', detail: `the query returned NaN: ${p.query}` };
      if (!Number.isFinite(v)) return { kind: 'error', message: `the query returned an infinite value: ${p.query}` };
      return { kind: 'value', value: v };
    }
    case 'string':
      return { kind: 'value', value: String((result as [number, string] | undefined)?.[1] ?? '') };
    default:
      return {
        kind: 'error',
        message: `the query returned a ${resultType ?? 'missing'} result; analysis needs an instant vector or scalar`,
      };
  }
}

/** The result in a 2xx JSON (or text) answer, at `jsonPath` when given. */
function resultOf(
  answer: Answer,
  url: string,
  jsonPath: string | undefined,
  requireJson: boolean,
): MeasureAnalysisResult {
  if (answer.status < 200 || answer.status > 299)
    return { kind: 'error', message: `HTTP ${answer.status} from ${url}: ${snippet(answer.text)}` };
  if (!answer.text.trim()) return { kind: 'noData', detail: `empty answer (HTTP ${answer.status}) from ${url}` };
  const parsed = parseJson(answer.text);
  if (!parsed.ok) {
    if (requireJson || jsonPath !== undefined)
      return { kind: 'error', message: `the answer from ${url} is not JSON: ${snippet(answer.text)}` };
    return sized(answer.text);
  }
  let value = parsed.value;
  if (jsonPath !== undefined) {
    const path = parseJsonPath(jsonPath);
    if (!path.ok) return { kind: 'error', message: path.error };
    const match = selectJsonPath(value, path.segments);
    if (!match.found) return { kind: 'noData', detail: `nothing at ${jsonPath} in the answer from ${url}` };
    value = match.value;
  }
  if (value === null)
    return { kind: 'noData', detail: `null${jsonPath ? ` at ${jsonPath}` : ''} in the answer from ${url}` };
  return sized(value);
}

async function measureHttp(doFetch: typeof fetch, p: Options<'http'>): Promise<MeasureAnalysisResult> {
  const headers = { ...(p.body !== undefined ? { 'content-type': 'application/json' } : {}), ...p.headers };
  const answer = await request(doFetch, p.url, { method: p.method, headers, body: p.body }, p.timeoutSeconds);
  return resultOf(answer, p.url, p.jsonPath, false);
}

async function measureWebhook(
  doFetch: typeof fetch,
  p: Options<'webhook'>,
  context: MeasureAnalysisInput['context'],
): Promise<MeasureAnalysisResult> {
  const headers = { 'content-type': 'application/json', ...p.headers };
  const answer = await request(
    doFetch,
    p.url,
    { method: 'POST', headers, body: JSON.stringify(context) },
    p.timeoutSeconds,
  );
  return resultOf(answer, p.url, undefined, true);
}

async function measureKubernetes(gw: KubeGateway, p: Options<'kubernetes'>): Promise<MeasureAnalysisResult> {
  const opts = { namespace: p.namespace, labelSelector: p.selector };
  const lists = await Promise.all(p.kinds.map((kind) => gw.list(API_VERSION[kind] ?? 'apps/v1', kind, opts)));
  const workloads = lists.flatMap((l) => l.items).filter((o) => p.kinds.includes(o.kind as never));
  if (!workloads.length)
    return {
      kind: 'noData',
      detail: `no ${p.kinds.join('/')} matches "${p.selector}" in namespace ${p.namespace}`,
    };
  const [pods, replicaSets] = await Promise.all([
    gw.list('v1', 'Pod', { namespace: p.namespace }),
    p.kinds.includes('Deployment')
      ? gw.list('apps/v1', 'ReplicaSet', { namespace: p.namespace })
      : Promise.resolve({ items: [] as LiveObject[] }),
  ]);
  const related = relatedIndex([...pods.items, ...replicaSets.items]);
  const now = new Date();
  const assessed = workloads.map((o) => ({
    subject: formatSubject({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }),
    assessment: assessHealth(o, related(o), { now }),
  }));
  const status = summarizeHealth(assessed);
  const current = assessed.filter((a) => a.assessment.status === HealthStatus.Current).length;
  return sized({
    healthy: status === HealthStatus.Current,
    status,
    total: assessed.length,
    current,
    objects: assessed.slice(0, MAX_WORKLOADS_LISTED).map((a) => ({
      subject: a.subject,
      status: a.assessment.status,
      reason: a.assessment.reason,
      message: a.assessment.message,
    })),
  });
}
