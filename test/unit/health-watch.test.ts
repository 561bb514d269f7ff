/**
 * HealthWatch, the plumbing of waitForHealth and observeHealth, in a MockActivityEnvironment over a fake gateway
 * whose collections list once and then stay quiet: how a run ends (settled, timed, failed, cancelled, a fatal
 * watch error), the time-based re-assessment, heartbeats and shutdown.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HealthWatch, type WatchedCollections } from '../../src/activities/health-watch.js';
import { FailureType } from '../../src/domain/failures.js';
import { MIN_RECHECK_DELAY_MS } from '../../src/domain/health.js';
import { KubeApiError, type KubeGateway, type LiveObject } from '../../src/kube/index.js';

const pod: LiveObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-1', namespace: 'shop', resourceVersion: '1' },
};

/** A gateway whose lists return `pod` (or reject with `listError`) and whose watches wait, silent, until aborted. */
function quietGateway(listError?: Error): KubeGateway & { openWatches: () => number } {
  let open = 0;
  return {
    openWatches: () => open,
    list: () => (listError ? Promise.reject(listError) : Promise.resolve({ items: [pod], resourceVersion: '1' })),
    watch: (_apiVersion: string, _kind: string, _options: unknown, _onEvent: unknown, signal: AbortSignal) => {
      open += 1;
      return new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          open -= 1;
          resolve();
        }),
      );
    },
  } as unknown as KubeGateway & { openWatches: () => number };
}

const pods = (gateway: KubeGateway, assess: WatchedCollections['assess']): WatchedCollections => ({
  gateway,
  targets: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'shop' }],
  assess,
});

const options = { heartbeat: () => ({ beat: true }), heartbeatIntervalMs: 50, cancelledMessage: 'cancelled in test' };

/** Runs `body` as an activity in `env` (default: a fresh one). */
function inActivity<R>(body: () => Promise<R>, env = new MockActivityEnvironment()): Promise<R> {
  return env.run(body);
}

describe('HealthWatch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('returns the first result an assessment settles with, then closes the watches', async () => {
    const gateway = quietGateway();
    const result = await inActivity(() => {
      const watch = new HealthWatch<string>(options);
      return watch.run(
        pods(gateway, (state) => {
          watch.settle(`saw ${state.size} object`);
          watch.settle('a later result');
          return undefined;
        }),
      );
    });
    expect(result).toBe('saw 1 object');
    expect(gateway.openWatches()).toBe(0);
  });

  it('re-assesses on a timer, with no watch event, when a rule with a duration is due', async () => {
    // The clock is fake and moved on by the test (fake timers fire outside the activity's context: no heartbeat).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const assessedAt: number[] = [];
    const gateway = quietGateway();
    const running = inActivity(() => {
      const watch = new HealthWatch<number>({ ...options, heartbeatIntervalMs: 3_600_000 });
      return watch.run(
        pods(gateway, (_state, now) => {
          assessedAt.push(now.getTime());
          if (assessedAt.length === 3) watch.settle(assessedAt.length);
          return new Date(now.getTime() + 1); // due at once: re-assessed after the minimum delay
        }),
      );
    });
    await expect.poll(() => gateway.openWatches()).toBe(1); // listed: the first assessment is scheduled
    await vi.advanceTimersByTimeAsync(MIN_RECHECK_DELAY_MS * 2 + 1_000);
    expect(await running).toBe(3);
    expect(assessedAt[1]! - assessedAt[0]!).toBeGreaterThanOrEqual(MIN_RECHECK_DELAY_MS);
    expect(assessedAt[2]! - assessedAt[1]!).toBeGreaterThanOrEqual(MIN_RECHECK_DELAY_MS);
  });

  it('settles with the timed result when nothing settles before', async () => {
    const result = await inActivity(() => {
      const watch = new HealthWatch<string>(options);
      watch.settleAfter(50, () => 'timed out');
      return watch.run(pods(quietGateway(), () => undefined));
    });
    expect(result).toBe('timed out');
  });

  it('heartbeats the current details while running', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    const watch = new HealthWatch<string>(options);
    // settles on the third beat, whenever the timers get to run (a loaded machine delays them, nothing else)
    env.on('heartbeat', (d: unknown) => {
      beats.push(d);
      if (beats.length === 3) watch.settle('done');
    });
    expect(await inActivity(() => watch.run(), env)).toBe('done');
    expect(beats).toEqual([{ beat: true }, { beat: true }, { beat: true }]);
  });

  it('fails with the error given to fail(), even with nothing watched', async () => {
    const err = await inActivity(() => {
      const watch = new HealthWatch<string>(options);
      watch.every(20, () =>
        watch.fail(ApplicationFailure.create({ message: 'stopping', type: FailureType.WorkerShutdown })),
      );
      return watch.run();
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(FailureType.WorkerShutdown);
  });

  it('an assessment that throws fails the run (retryable Internal) instead of escaping in a timer', async () => {
    const gateway = quietGateway();
    const err = await inActivity(() =>
      new HealthWatch<string>(options).run(
        pods(gateway, () => {
          throw new TypeError('bug in a rule');
        }),
      ),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: FailureType.Internal, nonRetryable: false, message: 'TypeError: bug in a rule' });
    expect(gateway.openWatches()).toBe(0);
  });

  it('a watch error retrying cannot fix fails the run with its classified failure', async () => {
    const forbidden = new KubeApiError({ status: 403, reason: 'Forbidden', message: 'pods is forbidden' });
    const err = await inActivity(() =>
      new HealthWatch<string>(options).run(pods(quietGateway(forbidden), () => undefined)),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).message).toMatch(/pods is forbidden/);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('a cancelled activity ends with CancelledFailure and closes the watches', async () => {
    const env = new MockActivityEnvironment();
    const gateway = quietGateway();
    const running = inActivity(() => new HealthWatch<string>(options).run(pods(gateway, () => undefined)), env);
    await expect.poll(() => gateway.openWatches()).toBe(1);
    env.cancel();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect((err as CancelledFailure).message).toBe('cancelled in test');
    expect(gateway.openWatches()).toBe(0);
  });
});
