/**
 * Analysis: the spec's validation (errors name the field), the state machine (src/domain/analysis.ts) driven
 * through sequences of measurement results (Argo's classification, limits, the no-data policies, the timeout,
 * timing), and the `measureAnalysis` activity's providers against local HTTP servers (http, webhook, Prometheus
 * answers) and a scripted gateway (kubernetes).
 */
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalysisActivities } from '../../src/activities/analysis.js';
import {
  checkDeadline,
  classifyMeasurement,
  MAX_MEASUREMENTS_PER_RUN,
  nextMeasurementAt,
  recordMeasurement,
  startAnalysis,
  analysisSettings,
  type AnalysisState,
  type MeasurementResult,
} from '../../src/domain/analysis.js';
import type { KubeGateway, LiveObject } from '../../src/kube/index.js';
import { AnalysisSpec, RunAnalysisInput, type AnalysisSpecOptions } from '../../src/schemas/analysis.js';
import { closeNow, listenLocal } from '../support/local-http.js';

const T0 = Date.UTC(2026, 0, 1);
const PROM = { prometheus: { address: 'http://prometheus:9090', query: 'up' } };

function spec(overrides: Partial<AnalysisSpec> = {}): AnalysisSpecOptions {
  return AnalysisSpec.parse({ name: 'error-rate', provider: PROM, successCondition: 'result < 0.05', ...overrides });
}

/** `0.01` → a value; `'none'` → no data; `'err'` → a provider error. */
type Step = number | 'none' | 'err';
const resultOf = (s: Step): MeasurementResult =>
  s === 'none'
    ? { kind: 'noData', detail: 'the query returned an empty vector: up' }
    : s === 'err'
      ? { kind: 'error', message: 'connect ECONNREFUSED' }
      : { kind: 'value', value: s };

/** Drives a run the way the workflow does: wake at the next time, check the deadline, measure (100 ms each). */
function drive(
  sp: AnalysisSpecOptions,
  steps: readonly Step[],
): { state: AnalysisState; used: number; times: number[] } {
  let state = startAnalysis(sp, T0);
  let used = 0;
  const times: number[] = [];
  for (;;) {
    const at = nextMeasurementAt(state);
    if (at === undefined) break;
    state = checkDeadline(state, at);
    if (state.verdict) break;
    const step = steps[used];
    if (step === undefined) break;
    used += 1;
    times.push((at - T0) / 1000);
    state = recordMeasurement(state, { result: resultOf(step), startedAt: at, finishedAt: at + 100 });
  }
  return { state, used, times };
}

describe('the spec', () => {
  const issues = (input: unknown): string[] => {
    const r = AnalysisSpec.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const base = { name: 'rate', provider: PROM, successCondition: 'result < 1' };

  it('applies the defaults', () => {
    expect(spec()).toMatchObject({
      count: 1,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
      noData: 'inconclusive',
      provider: { prometheus: { timeoutSeconds: 10 } },
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'no condition',
      { successCondition: undefined },
      'successCondition: give a successCondition, a failureCondition or both',
    ],
    [
      'a condition that does not parse',
      { failureCondition: 'result >' },
      'failureCondition: unexpected end of expression at column 9',
    ],
    [
      'two providers',
      { provider: { ...PROM, webhook: { url: 'http://hook' } } },
      'provider: give exactly one provider: prometheus, http, kubernetes or webhook (got prometheus, webhook)',
    ],
    [
      'no provider',
      { provider: {} },
      'provider: give exactly one provider: prometheus, http, kubernetes or webhook (got none)',
    ],
    ['count without interval', { count: 3 }, 'interval: count 3 needs an interval'],
    [
      'keepMeasuring without timeout',
      { noData: 'keepMeasuring', interval: '30s' },
      'timeout: noData keepMeasuring needs a timeout (how long to wait for data)',
    ],
    [
      'a malformed duration',
      { interval: '5 minutes' },
      'interval: "5 minutes" is not a duration such as 30s, 10m, 1h30m, 250ms or plain seconds (600) (unexpected "5 minutes")',
    ],
    ['an interval under 1s', { interval: '500ms' }, 'interval: interval must be between 1s and 24h'],
    [
      'a timeout within the initial delay',
      { initialDelay: '5m', timeout: '1m' },
      'timeout: timeout must be longer than initialDelay',
    ],
    ['a misspelt field', { sucessCondition: 'x' }, ': Unrecognized key: "sucessCondition"'],
    [
      'an unknown placeholder',
      { provider: { prometheus: { address: 'http://p', query: 'up{a="{{env.X}}"}' } } },
      'provider.prometheus.query: unknown placeholder {{env.X}}: use {{args.NAME}} or {{cluster}}',
    ],
    [
      'a URL that is not http',
      { provider: { webhook: { url: 'ftp://x' } } },
      'provider.webhook.url: "ftp://x": only http and https URLs are supported',
    ],
    [
      'a bad selector',
      { provider: { kubernetes: { namespace: 'shop', selector: 'app in web' } } },
      'provider.kubernetes.selector: invalid label selector "app in web": ',
    ],
    [
      'a bad JSON path',
      { provider: { http: { url: 'http://x', jsonPath: '$.a[' } } },
      'provider.http.jsonPath: invalid JSON path "$.a["',
    ],
  ])('%s is refused, naming the field', (_, overrides, message) => {
    const found = issues({ ...base, ...overrides });
    expect(
      found.some((i) => i.startsWith(message)),
      found.join('\n'),
    ).toBe(true);
  });

  it('accepts templated URLs, selectors and namespaces', () => {
    expect(
      issues({
        ...base,
        provider: { kubernetes: { namespace: '{{args.namespace}}', selector: 'app={{args.app}},!canary' } },
      }),
    ).toEqual([]);
    expect(issues({ ...base, provider: { http: { url: 'http://{{args.host}}:8080/health' } } })).toEqual([]);
  });

  it('the run input refuses malformed argument names', () => {
    const r = RunAnalysisInput.safeParse({ spec: base, args: { 'a b': 'x' } });
    expect(r.success).toBe(false);
  });
});

describe('classifying one measurement (Argo Rollouts rules)', () => {
  const settings = (success?: string, failure?: string) =>
    analysisSettings(
      AnalysisSpec.parse({
        name: 'x',
        provider: PROM,
        ...(success ? { successCondition: success } : {}),
        ...(failure ? { failureCondition: failure } : {}),
      }),
    );
  it.each<[string | undefined, string | undefined, number, string]>([
    ['result < 0.05', undefined, 0.01, 'successful'],
    ['result < 0.05', undefined, 0.2, 'failed'],
    [undefined, 'result > 0.1', 0.2, 'failed'],
    [undefined, 'result > 0.1', 0.05, 'successful'],
    ['result < 0.05', 'result > 0.1', 0.01, 'successful'],
    ['result < 0.05', 'result > 0.1', 0.2, 'failed'],
    ['result < 0.05', 'result > 0.1', 0.07, 'inconclusive'],
    ['result < 0.5', 'result > 0.1', 0.2, 'failed'], // both true: failure wins
  ])('success %s, failure %s, result %s → %s', (success, failure, value, phase) => {
    expect(classifyMeasurement(settings(success, failure), { kind: 'value', value }).phase).toBe(phase);
  });

  it('a condition that cannot be evaluated is an error, not a failure', () => {
    expect(classifyMeasurement(settings('result[0] < 0.05'), { kind: 'value', value: [] })).toEqual({
      phase: 'error',
      message:
        'successCondition could not be evaluated: index 0 is out of range (the array has 0 elements) (column 7); result []',
    });
  });

  it('says which condition decided, for which result', () => {
    expect(classifyMeasurement(settings('result < 0.05'), { kind: 'value', value: 0.2 }).message).toBe(
      'successCondition "result < 0.05" is false for result 0.2',
    );
  });
});

describe('the run', () => {
  it.each<[string, Partial<AnalysisSpec>, Step[], string, string, number]>([
    ['one good measurement', {}, [0.01], 'successful', '1 of 1 measurements successful', 1],
    [
      'count reached',
      { count: 3, interval: '1m' },
      [0.01, 0.02, 0.01],
      'successful',
      '3 of 3 measurements successful',
      3,
    ],
    [
      'one failure over the default limit 0',
      { count: 3, interval: '1m' },
      [0.01, 0.2, 0.01],
      'failed',
      '1 failed measurement > failureLimit 0; last: successCondition "result < 0.05" is false for result 0.2',
      2,
    ],
    [
      'failures within failureLimit',
      { count: 3, interval: '1m', failureLimit: 1 },
      [0.2, 0.01, 0.01],
      'successful',
      '3 measurements: 2 successful, 1 failed',
      3,
    ],
    [
      'failures over failureLimit stop at once',
      { count: 5, interval: '1m', failureLimit: 2 },
      [0.2, 0.3, 0.01, 0.4, 0.01],
      'failed',
      '3 failed measurements > failureLimit 2; last: successCondition "result < 0.05" is false for result 0.4',
      4,
    ],
    [
      'inconclusive over inconclusiveLimit',
      { count: 3, interval: '1m', failureCondition: 'result > 0.1' },
      [0.07],
      'inconclusive',
      '1 inconclusive measurement > inconclusiveLimit 0; last: neither condition is true for result 0.07',
      1,
    ],
    [
      'inconclusive within inconclusiveLimit',
      { count: 2, interval: '1m', failureCondition: 'result > 0.1', inconclusiveLimit: 1 },
      [0.07, 0.01],
      'successful',
      '2 measurements: 1 successful, 1 inconclusive',
      2,
    ],
    [
      'tolerated failures alone are not success',
      { count: 2, interval: '1m', failureLimit: 2 },
      [0.2, 0.3],
      'inconclusive',
      'no successful measurement in 2 (2 failed)',
      2,
    ],
    [
      'errors do not count toward count',
      { count: 2, interval: '1m' },
      ['err', 0.01, 'err', 0.01],
      'successful',
      '2 measurements: 2 successful, 2 error',
      4,
    ],
    [
      'consecutive errors over the limit fail',
      { consecutiveErrorLimit: 2 },
      ['err', 'err', 'err'],
      'failed',
      '3 consecutive errors > consecutiveErrorLimit 2; last: connect ECONNREFUSED',
      3,
    ],
    [
      'a good measurement resets consecutive errors',
      { count: 3, interval: '1m', consecutiveErrorLimit: 1 },
      ['err', 0.01, 'err', 0.01, 'err', 0.01],
      'successful',
      '3 measurements: 3 successful, 3 error',
      6,
    ],
    [
      'no data, policy inconclusive (default)',
      { count: 3, interval: '1m' },
      [0.01, 'none'],
      'inconclusive',
      'no data from prometheus for 1 measurement > inconclusiveLimit 0; last: no data from prometheus: the query returned an empty vector: up',
      2,
    ],
    [
      'no data, policy inconclusive, within the limit',
      { count: 3, interval: '1m', inconclusiveLimit: 1 },
      ['none', 0.01, 0.01],
      'successful',
      '3 measurements: 2 successful, 1 without data',
      3,
    ],
    [
      'no data, policy fail',
      { noData: 'fail', count: 5, interval: '1m', failureLimit: 1 },
      ['none', 0.01, 'none'],
      'failed',
      'no data from prometheus for 2 measurements (noData: fail) > failureLimit 1; last: no data from prometheus: the query returned an empty vector: up',
      3,
    ],
    [
      'no data and failures, policy fail',
      { noData: 'fail', count: 5, interval: '1m', failureLimit: 1 },
      ['none', 0.3],
      'failed',
      '2 failed measurements (1 without data) > failureLimit 1; last: successCondition "result < 0.05" is false for result 0.3',
      2,
    ],
    [
      'no data, policy keepMeasuring: data arrives',
      { noData: 'keepMeasuring', count: 2, interval: '1m', timeout: '1h' },
      ['none', 'none', 'none', 0.01, 'none', 0.02],
      'successful',
      '2 measurements: 2 successful, 4 without data',
      6,
    ],
  ])('%s', (_, overrides, steps, outcome, reason, used) => {
    const run = drive(spec(overrides), steps);
    expect(run.state.verdict).toMatchObject({ outcome, reason });
    expect(run.used).toBe(used);
  });

  it('keepMeasuring until the timeout: inconclusive, saying there was no data', () => {
    const run = drive(
      spec({ noData: 'keepMeasuring', count: 2, interval: '1m', timeout: '5m' }),
      Array(20).fill('none'),
    );
    expect(run.state.verdict).toEqual({
      outcome: 'inconclusive',
      reason: 'timeout 5m reached after 0 of 2 measurements; no data from prometheus for 5 measurements',
      at: T0 + 300_000,
    });
    expect(run.times).toEqual([0, 60.1, 120.2, 180.3, 240.4]);
    expect(run.state.counts).toEqual({ successful: 0, failed: 0, inconclusive: 0, error: 0, noData: 5 });
  });

  it('honours initialDelay, then interval after each measurement ends', () => {
    const run = drive(spec({ count: 3, interval: '30s', initialDelay: '2m' }), [0.01, 0.01, 0.01]);
    expect(run.times).toEqual([120, 150.1, 180.2]);
  });

  it('retries an error after interval, or after 10 s without one', () => {
    expect(drive(spec({ count: 2, interval: '1m' }), ['err', 0.01, 0.01]).times).toEqual([0, 60.1, 120.2]);
    expect(drive(spec(), ['err', 0.01]).times).toEqual([0, 10.1]);
  });

  it('a timeout ends a slow run inconclusive at the deadline', () => {
    const run = drive(spec({ count: 10, interval: '1m', timeout: '150s' }), Array(10).fill(0.01));
    expect(run.used).toBe(3);
    expect(run.state.verdict).toMatchObject({
      outcome: 'inconclusive',
      reason: 'timeout 2m30s reached after 3 of 10 measurements',
      at: T0 + 150_000,
    });
  });

  it('stops after the most measurements one run takes', () => {
    const run = drive(
      spec({ noData: 'keepMeasuring', count: 2, interval: '1s', timeout: '7d' }),
      Array(MAX_MEASUREMENTS_PER_RUN + 5).fill('none'),
    );
    expect(run.used).toBe(MAX_MEASUREMENTS_PER_RUN);
    expect(run.state.verdict?.reason).toBe(
      '1000 measurements without a decision (1000 without data); the most one run takes',
    );
    expect(run.state.measurements).toHaveLength(100);
    expect(run.state.measurements[0]?.number).toBe(901);
  });

  it('keeps each measurement with its value, times and why', () => {
    const run = drive(spec({ count: 2, interval: '1m' }), [0.01, 'none']);
    expect(run.state.measurements).toEqual([
      {
        number: 1,
        phase: 'successful',
        startedAt: '2026-01-01T00:00:00.000Z',
        finishedAt: '2026-01-01T00:00:00.100Z',
        value: 0.01,
        message: 'successCondition "result < 0.05" is true for result 0.01',
      },
      {
        number: 2,
        phase: 'noData',
        startedAt: '2026-01-01T00:01:00.100Z',
        finishedAt: '2026-01-01T00:01:00.200Z',
        message: 'no data from prometheus: the query returned an empty vector: up',
      },
    ]);
  });

  it('refuses to record into a decided run', () => {
    const { state } = drive(spec(), [0.01]);
    expect(() => recordMeasurement(state, { result: resultOf(0.01), startedAt: T0, finishedAt: T0 })).toThrow(
      'analysis error-rate is already decided: 1 of 1 measurements successful',
    );
  });
});

// --- the activity -----------------------------------------------------------------------------------------------

describe('measureAnalysis', () => {
  let server: Server;
  let url = '';
  const seen: { method: string; path: string; userAgent: string; body: string; headers: Record<string, unknown> }[] =
    [];
  /** Path → [status, body, content-type?]. */
  const answers = new Map<string, [number, string]>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const path = req.url ?? '/';
        seen.push({
          method: req.method ?? '',
          path,
          userAgent: req.headers['user-agent'] ?? '',
          body,
          headers: req.headers,
        });
        const key = path.split('?')[0] ?? '';
        if (path.startsWith('/slow')) return; // never answers
        const [status, text] = answers.get(key) ?? [404, 'not found'];
        res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      });
    });
    url = await listenLocal(server);
  });
  afterAll(() => closeNow(server));

  const noGateway = (): KubeGateway => {
    throw new Error('no cluster in this test');
  };
  const measure = (provider: unknown, gateway: (c: string) => KubeGateway = noGateway) =>
    createAnalysisActivities({ gateway }).measureAnalysis({
      cluster: '',
      provider: provider as never,
      context: { analysis: 'a', cluster: 'local', args: { app: 'web' }, measurement: 3 },
    });
  const prom = (result: unknown, resultType = 'vector') =>
    JSON.stringify({ status: 'success', data: { resultType, result } });

  it.each<[string, string, unknown]>([
    ['one sample → a number', prom([{ metric: {}, value: [1, '0.25'] }]), { kind: 'value', value: 0.25 }],
    ['several → an array', prom([{ value: [1, '1'] }, { value: [1, '2'] }]), { kind: 'value', value: [1, 2] }],
    ['empty vector → no data', prom([]), { kind: 'noData', detail: 'the query returned an empty vector: rate(x[1m])' }],
    [
      'NaN → no data',
      prom([{ value: [1, 'NaN'] }]),
      { kind: 'noData', detail: 'the query returned only NaN: rate(x[1m])' },
    ],
    ['NaN among values is dropped', prom([{ value: [1, 'NaN'] }, { value: [1, '3'] }]), { kind: 'value', value: 3 }],
    ['scalar', prom([1, '7'], 'scalar'), { kind: 'value', value: 7 }],
    [
      'matrix → error',
      prom([], 'matrix'),
      { kind: 'error', message: 'the query returned a matrix result; analysis needs an instant vector or scalar' },
    ],
    [
      'a PromQL error',
      JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error' }),
      { kind: 'error', message: 'prometheus answered HTTP 200: bad_data: parse error' },
    ],
  ])('prometheus: %s', async (_, body, expected) => {
    answers.set('/api/v1/query', [200, body]);
    expect(await measure({ prometheus: { address: `${url}/`, query: 'rate(x[1m])', timeoutSeconds: 5 } })).toEqual(
      expected,
    );
    const last = seen.at(-1);
    expect(last?.path).toBe(`/api/v1/query?query=${encodeURIComponent('rate(x[1m])')}`);
    expect(last?.userAgent).toBe('kube-workflows');
  });

  it.each<[string, [number, string], string | undefined, unknown]>([
    ['the JSON body', [200, '{"status":"ok","n":3}'], undefined, { kind: 'value', value: { status: 'ok', n: 3 } }],
    ['the value at jsonPath', [200, '{"data":{"rate":0.5}}'], '$.data.rate', { kind: 'value', value: 0.5 }],
    [
      'nothing at jsonPath → no data',
      [200, '{"data":{}}'],
      '$.data.rate',
      { kind: 'noData', detail: `nothing at $.data.rate in the answer from URL/h` },
    ],
    ['null → no data', [200, 'null'], undefined, { kind: 'noData', detail: 'null in the answer from URL/h' }],
    ['an empty body → no data', [200, ''], undefined, { kind: 'noData', detail: 'empty answer (HTTP 200) from URL/h' }],
    ['text when not JSON', [200, 'pong'], undefined, { kind: 'value', value: 'pong' }],
    ['a 503 → error', [503, 'overloaded'], undefined, { kind: 'error', message: 'HTTP 503 from URL/h: overloaded' }],
  ])('http: %s', async (_, answer, jsonPath, expected) => {
    answers.set('/h', answer);
    const result = await measure({
      http: { url: `${url}/h`, method: 'GET', timeoutSeconds: 5, ...(jsonPath ? { jsonPath } : {}) },
    });
    expect(JSON.parse(JSON.stringify(result).replaceAll(url, 'URL'))).toEqual(expected);
  });

  it('http: sends the method, headers and body', async () => {
    answers.set('/post', [200, 'true']);
    const result = await measure({
      http: { url: `${url}/post`, method: 'POST', headers: { 'x-team': 'shop' }, body: '{"q":1}', timeoutSeconds: 5 },
    });
    expect(result).toEqual({ kind: 'value', value: true });
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      body: '{"q":1}',
      headers: { 'x-team': 'shop', 'content-type': 'application/json' },
    });
  });

  it('http: a provider that does not answer in time is an error', async () => {
    const result = await measure({ http: { url: `${url}/slow`, method: 'GET', timeoutSeconds: 0.3 } });
    expect(result).toEqual({ kind: 'error', message: 'no answer before the provider timeout' });
  });

  it('http: an unreachable provider is an error', async () => {
    const result = await measure({ http: { url: 'http://127.0.0.1:1/x', method: 'GET', timeoutSeconds: 5 } });
    expect(result.kind).toBe('error');
  });

  it('webhook: POSTs the context; its JSON answer is the result', async () => {
    answers.set('/hook', [200, '{"verdict":"pass"}']);
    expect(
      await measure({ webhook: { url: `${url}/hook`, headers: { authorization: 'Bearer t' }, timeoutSeconds: 5 } }),
    ).toEqual({
      kind: 'value',
      value: { verdict: 'pass' },
    });
    const last = seen.at(-1);
    expect(last?.method).toBe('POST');
    expect(JSON.parse(last?.body ?? '')).toEqual({
      analysis: 'a',
      cluster: 'local',
      args: { app: 'web' },
      measurement: 3,
    });
    expect(last?.headers).toMatchObject({ authorization: 'Bearer t', 'user-agent': 'kube-workflows' });
  });

  it('webhook: a non-JSON answer is an error', async () => {
    answers.set('/hook', [200, 'ok']);
    expect(await measure({ webhook: { url: `${url}/hook`, timeoutSeconds: 5 } })).toEqual({
      kind: 'error',
      message: `the answer from ${url}/hook is not JSON: ok`,
    });
  });

  it('refuses a malformed input (the only thing it throws for)', async () => {
    await expect(measure({ prometheus: { address: 'nope' } })).rejects.toMatchObject({ type: 'InvalidInput' });
  });

  describe('kubernetes', () => {
    const deployment = (name: string, ready: number): LiveObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'shop', uid: name, generation: 1, labels: { app: 'web' } },
      spec: { replicas: 2 },
      status: {
        observedGeneration: 1,
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: ready,
        availableReplicas: ready,
        conditions: [{ type: 'Available', status: ready === 2 ? 'True' : 'False' }],
      },
    });
    const gateway = (items: LiveObject[], calls: string[]) => (): KubeGateway =>
      ({
        list: (apiVersion: string, kind: string, o?: { namespace?: string; labelSelector?: string }) => {
          calls.push(`${kind} ${o?.namespace ?? ''} ${o?.labelSelector ?? ''}`.trim());
          return Promise.resolve({ items: kind === 'Deployment' ? items : [], resourceVersion: '1' });
        },
      }) as unknown as KubeGateway;
    const provider = { kubernetes: { namespace: 'shop', selector: 'app=web', kinds: ['Deployment'] } };

    it('reports the health of the selected workloads', async () => {
      const calls: string[] = [];
      const result = await measure(provider, gateway([deployment('web', 2), deployment('api', 1)], calls));
      expect(calls).toEqual(['Deployment shop app=web', 'Pod shop', 'ReplicaSet shop']);
      expect(result).toMatchObject({
        kind: 'value',
        value: { healthy: false, status: 'InProgress', total: 2, current: 1 },
      });
      const value = (result as { value: { objects: { subject: string; status: string }[] } }).value;
      expect(value.objects.map((o) => `${o.subject} ${o.status}`)).toEqual([
        'Deployment/shop/web Current',
        'Deployment/shop/api InProgress',
      ]);
    });

    it('no workload matching is no data', async () => {
      expect(await measure(provider, gateway([], []))).toEqual({
        kind: 'noData',
        detail: 'no Deployment matches "app=web" in namespace shop',
      });
    });
  });
});
