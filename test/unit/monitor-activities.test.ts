/**
 * observeHealth probes (HTTP and Prometheus, against local HTTP receivers) in a MockActivityEnvironment, its
 * streaming of changes as batches (to a recording signal sender), its input check and the label selector matcher.
 * Kubernetes watching is covered by the integration tests on the real cluster.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createMonitorActivities,
  matchesSelector,
  type ObservationBatch,
  type ObserveHealthResult,
} from '../../src/activities/monitor.js';
import { FailureType } from '../../src/domain/failures.js';
import { MonitorTarget, OBSERVATIONS_SIGNAL } from '../../src/schemas/monitor.js';
import { json, startReceiver, type TestReceiver } from '../support/http-receiver.js';

let site: TestReceiver;
let prom: TestReceiver;
let promValue = '3';
/** Status of `/flip`, changed by the streaming tests. */
let flipStatus = 200;

beforeAll(async () => {
  site = await startReceiver((req) => ({
    status: req.path === '/down' ? 503 : req.path === '/flip' ? flipStatus : 200,
  }));
  prom = await startReceiver(() =>
    json(200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, promValue] }] } }),
  );
});
afterAll(async () => {
  await site.close();
  await prom.close();
});

const noCluster = (): never => {
  throw new Error('no cluster in this test');
};

async function observe(
  targets: unknown[],
  known: Record<string, boolean> = {},
  maxDurationSeconds = 5,
  fetched?: () => void,
): Promise<ObserveHealthResult> {
  const activities = createMonitorActivities({
    gateway: noCluster,
    fetch: async (...args) => {
      const response = await fetch(...args);
      fetched?.();
      return response;
    },
  });
  const input = {
    cluster: '',
    targets: targets.map((t) => MonitorTarget.parse(t)),
    known,
    maxDurationSeconds,
    probeIntervalSeconds: 1,
  };
  return new MockActivityEnvironment().run((i: typeof input) => activities.observeHealth(i), input);
}

/**
 * The activity's clock (probe interval, max duration, the wait before a failed signal is sent again) runs on fake
 * timers, moved on by the test; the probes themselves are real HTTP requests to the local receiver. Fake timers
 * fire outside the activity's context, so every run here ends before its first heartbeat (5 s).
 */
function useFakeClock(): { advance(ms: number): Promise<void> } {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  return {
    async advance(ms) {
      await vi.advanceTimersByTimeAsync(ms);
    },
  };
}

describe('observeHealth probes', () => {
  const clock = useFakeClock();

  it('reports a new HTTP target as changed with its health', async () => {
    const r = await observe([{ type: 'http', id: 'up', url: `${site.url}/up` }]);
    expect(r.changed).toEqual(['http:up']);
    expect(r.observations).toEqual([{ key: 'http:up', healthy: true, message: 'HTTP 200' }]);
  });

  it('an unexpected status is unhealthy, naming both statuses', async () => {
    const r = await observe([{ type: 'http', id: 'down', url: `${site.url}/down` }]);
    expect(r.observations[0]).toMatchObject({ healthy: false, message: 'HTTP 503, expected 200' });
  });

  it('returns with no changes at the max duration when reality matches what the workflow knows', async () => {
    let answered = 0;
    const observing = observe([{ type: 'http', id: 'up', url: `${site.url}/up` }], { 'http:up': true }, 1, () => {
      answered += 1;
    });
    await expect.poll(() => answered).toBe(1); // the first probe round, no change seen
    await clock.advance(1_000);
    const r = await observing;
    expect(r.changed).toEqual([]);
    expect(r.observations).toEqual([{ key: 'http:up', healthy: true, message: 'HTTP 200' }]);
  });

  it('a known target that is no longer observed is reported as changed', async () => {
    const r = await observe([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      'http:up': true,
      'http:gone': true,
    });
    expect(r.changed).toEqual(['http:gone']);
  });

  it('a Prometheus query over its threshold is unhealthy; under it, healthy', async () => {
    promValue = '12';
    const over = await observe([
      { type: 'prometheus', id: 'errors', url: prom.url, query: 'rate(errors[5m])', op: '>', threshold: 10 },
    ]);
    expect(over.observations[0]).toMatchObject({
      key: 'prom:errors',
      healthy: false,
      message: 'rate(errors[5m]) = 12 > 10',
    });
    promValue = '3';
    const under = await observe([
      { type: 'prometheus', id: 'errors', url: prom.url, query: 'rate(errors[5m])', op: '>', threshold: 10 },
    ]);
    expect(under.observations[0]).toMatchObject({ healthy: true });
    expect(prom.requests.at(-1)?.path).toBe(`/api/v1/query?query=${encodeURIComponent('rate(errors[5m])')}`);
  });
});

/** observeHealth with `stream`: batches go to a recording `signalWorkflow` (the integration tests use Temporal). */
function streaming(
  targets: unknown[],
  options: {
    known?: Record<string, boolean>;
    attempt?: number;
    maxDurationSeconds?: number;
    signal?: (batch: ObservationBatch, call: number) => Promise<void>;
  } = {},
): { batches: ObservationBatch[]; calls: number; done: Promise<ObserveHealthResult> } {
  const state = {
    batches: [] as ObservationBatch[],
    calls: 0,
    done: undefined as never as Promise<ObserveHealthResult>,
  };
  const activities = createMonitorActivities({
    gateway: noCluster,
    async signalWorkflow(ref, name, arg) {
      expect(ref).toEqual({ workflowId: 'monitor/test', runId: 'run-1' });
      expect(name).toBe(OBSERVATIONS_SIGNAL);
      state.calls += 1;
      await options.signal?.(arg as ObservationBatch, state.calls);
      state.batches.push(arg as ObservationBatch);
    },
  });
  const input = {
    cluster: '',
    targets: targets.map((t) => MonitorTarget.parse(t)),
    known: options.known ?? {},
    maxDurationSeconds: options.maxDurationSeconds ?? 60,
    probeIntervalSeconds: 1,
    stream: { epoch: 7 },
  };
  const env = new MockActivityEnvironment({
    attempt: options.attempt ?? 1,
    workflowExecution: { workflowId: 'monitor/test', runId: 'run-1' },
  });
  state.done = env.run((i: typeof input) => activities.observeHealth(i), input);
  return state;
}

describe('observeHealth streaming', () => {
  const clock = useFakeClock();

  it('signals each change (changed targets only, epoch echoed) and keeps running', async () => {
    flipStatus = 200;
    let finished = false;
    const s = streaming(
      [
        { type: 'http', id: 'flip', url: `${site.url}/flip` },
        { type: 'http', id: 'steady', url: `${site.url}/up` },
      ],
      { maxDurationSeconds: 4 },
    );
    void s.done.then(() => (finished = true));
    await expect.poll(() => s.batches.length).toBe(1);
    expect(s.batches[0]).toEqual({
      epoch: 7,
      observations: [
        { key: 'http:flip', healthy: true, message: 'HTTP 200' },
        { key: 'http:steady', healthy: true, message: 'HTTP 200' },
      ],
      removed: [],
    });
    flipStatus = 503;
    await clock.advance(1_000); // the next probe round
    await expect.poll(() => s.batches.length).toBe(2);
    expect(s.batches[1]).toEqual({
      epoch: 7,
      observations: [{ key: 'http:flip', healthy: false, message: 'HTTP 503, expected 200' }],
      removed: [],
    });
    flipStatus = 200;
    await clock.advance(1_000);
    await expect.poll(() => s.batches.length).toBe(3);
    expect(s.batches[2]?.observations).toEqual([{ key: 'http:flip', healthy: true, message: 'HTTP 200' }]);
    expect(finished).toBe(false);
    // it returns only at its max duration, with nothing left unreported
    await clock.advance(2_000);
    const r = await s.done;
    expect(r.changed).toEqual([]);
    expect(s.batches).toHaveLength(3);
  });

  it('a known target no longer observed is signalled as removed', async () => {
    const s = streaming([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      known: { 'http:up': true, 'http:gone': false },
      maxDurationSeconds: 3,
    });
    await expect.poll(() => s.batches.length).toBe(1);
    expect(s.batches[0]).toEqual({ epoch: 7, observations: [], removed: ['http:gone'] });
    await clock.advance(3_000);
    await s.done;
  });

  it('a retried attempt starts with a full snapshot, even when nothing differs from the input', async () => {
    const s = streaming([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      known: { 'http:up': true },
      attempt: 2,
      maxDurationSeconds: 3,
    });
    await expect.poll(() => s.batches.length).toBe(1);
    expect(s.batches[0]).toEqual({
      epoch: 7,
      observations: [{ key: 'http:up', healthy: true, message: 'HTTP 200' }],
      removed: [],
      full: true,
    });
    await clock.advance(3_000);
    await s.done;
    expect(s.batches).toHaveLength(1);
  });

  it('a failed signal is sent again; a batch counts as reported only once accepted', async () => {
    const s = streaming([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      maxDurationSeconds: 4,
      signal: (_b, call) => (call === 1 ? Promise.reject(new Error('Temporal unavailable')) : Promise.resolve()),
    });
    await expect.poll(() => s.calls).toBe(1);
    await clock.advance(500); // the pause before sending again
    await expect.poll(() => s.batches.length).toBe(1);
    expect(s.calls).toBe(2);
    expect(s.batches[0]?.observations.map((o) => o.key)).toEqual(['http:up']);
    await clock.advance(3_500);
    await s.done;
    expect(s.batches).toHaveLength(1);
  });

  it('ends at once when its workflow run has ended (the signal finds no run)', async () => {
    const s = streaming([{ type: 'http', id: 'up', url: `${site.url}/up` }], {
      maxDurationSeconds: 600,
      signal: () =>
        Promise.reject(
          Object.assign(new Error('workflow execution already completed'), { name: 'WorkflowNotFoundError' }),
        ),
    });
    const r = await s.done;
    expect(r.changed).toEqual([]);
    expect(s.calls).toBe(1);
  });
});

describe('observeHealth input', () => {
  it('an invalid label selector fails at once with a non-retryable InvalidInput naming it', async () => {
    const activities = createMonitorActivities({ gateway: noCluster });
    // as a caller that bypasses the schema would send it
    const input = {
      cluster: '',
      targets: [{ type: 'kube' as const, namespace: 'shop', kinds: ['Deployment' as const], selector: 'tier in (web' }],
      known: {},
      maxDurationSeconds: 60,
      probeIntervalSeconds: 1,
    };
    const err = await new MockActivityEnvironment()
      .run((i: typeof input) => activities.observeHealth(i), input)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: FailureType.InvalidInput, nonRetryable: true });
    expect((err as ApplicationFailure).message).toMatch(/invalid label selector "tier in \(web"/);
  });
});

describe('matchesSelector', () => {
  it.each([
    ['app=web', { app: 'web' }, true],
    ['app=web', { app: 'api' }, false],
    ['app==web,tier=front', { app: 'web', tier: 'front' }, true],
    ['app!=web', { app: 'api' }, true],
    ['app', { app: 'x' }, true],
    ['!app', { app: 'x' }, false],
    ['', { app: 'x' }, true],
    ['tier in (web,api)', { tier: 'api' }, true],
    ['tier notin (web)', { tier: 'web' }, false],
    ['app=shop,tier in (web)', { app: 'shop', tier: 'web' }, true],
  ])('%s on %j is %s', (selector, labels, expected) => {
    expect(matchesSelector(labels, selector)).toBe(expected);
  });
});
