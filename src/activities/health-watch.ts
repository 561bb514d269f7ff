/**
 * The plumbing every long-running health activity shares (`waitForHealth`, `observeHealth`), so each of them is
 * only its decisions: one list+watch of the collections concerned, whose synced cache is re-assessed (coalesced,
 * a few times a second at most) after watch events and again on a timer, because a rule with a duration (a pod
 * unschedulable for too long) flips with no event; a heartbeat; timers that settle or poll; and a shutdown that
 * stops every timer and waits for the watches to close.
 *
 * Contract of {@link HealthWatch.run}: it resolves with the first {@link HealthWatch.settle}d result; throws
 * `CancelledFailure` when the activity is cancelled, the error given to {@link HealthWatch.fail} (as an
 * `ApplicationFailure`), a retryable `KubeUnavailable` when the watch ends on its own, and whatever the watch or
 * the assessment threw, through {@link toApplicationFailure}.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { FailureType } from '../domain/failures.js';
import { recheckDelayMs } from '../domain/health.js';
import type { KubeGateway } from '../kube/index.js';
import { watchKinds, type WatchedState, type WatchTarget } from '../kube/watch.js';
import { toApplicationFailure } from './failures.js';
import { coalesce } from './related.js';

/** Options of a {@link HealthWatch}. */
export interface HealthWatchOptions {
  /** Heartbeat details, sent every {@link HealthWatchOptions.heartbeatIntervalMs} while running. */
  heartbeat(): unknown;
  heartbeatIntervalMs: number;
  /** Message of the `CancelledFailure` thrown when the activity is cancelled. */
  cancelledMessage: string;
}

/** What {@link HealthWatch.run} watches. */
export interface WatchedCollections {
  gateway: KubeGateway;
  targets: readonly WatchTarget[];
  /**
   * Re-assesses the watch cache at `now` (called only once every collection is listed). Returns when a rule with a
   * duration is next due, if any: the cache is re-assessed then (see {@link recheckDelayMs}), and at least every
   * `MAX_RECHECK_INTERVAL_MS` anyway.
   */
  assess(state: WatchedState, now: Date): Date | undefined;
}

/** The health watch of one activity attempt: set it up (`settleAfter`, `every`), then `run` it once. */
export class HealthWatch<R> {
  readonly #options: HealthWatchOptions;
  /** Aborted when the activity is cancelled, on {@link HealthWatch.fail} and at shutdown: stops the watches. */
  readonly #abort = new AbortController();
  readonly #result: Promise<R>;
  #settle: (result: R) => void = () => undefined;
  #failure: { error: unknown } | undefined;
  /** Timers to start with `run`, as functions that start one and return its stop. */
  readonly #timers: (() => () => void)[] = [];

  constructor(options: HealthWatchOptions) {
    this.#options = options;
    setMaxListeners(0, this.#abort.signal); // one listener per watch request on this signal
    this.#result = new Promise<R>((resolve) => (this.#settle = resolve));
  }

  /** Aborted once the watch is over (settled, failed, cancelled): work in flight may stop. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Ends the watch with `result`; the first result wins. */
  settle(result: R): void {
    this.#settle(result);
  }

  /** Ends the watch with `error` (the activity's cancellation, when it comes too, takes precedence). */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#abort.abort();
  }

  /** Settles with `result()` after `ms`, unless the watch has ended before. */
  settleAfter(ms: number, result: () => R): void {
    this.#timers.push(() => {
      const timer = setTimeout(() => this.settle(result()), ms);
      return () => clearTimeout(timer);
    });
  }

  /** Calls `fn` every `ms` while the watch runs. */
  every(ms: number, fn: () => void): void {
    this.#timers.push(() => {
      const timer = setInterval(fn, ms);
      return () => clearInterval(timer);
    });
  }

  /** Runs until the watch ends (see the module's contract). Without `collections`, nothing is watched. */
  async run(collections?: WatchedCollections): Promise<R> {
    const cancellation = cancellationSignal();
    const abort = (): void => this.#abort.abort();
    cancellation.addEventListener('abort', abort);
    // Cancellation (workflow cancelled, worker shutting down) must end the run even with no watch.
    const aborted = new Promise<undefined>((resolve) =>
      this.signal.addEventListener('abort', () => resolve(undefined)),
    );
    this.every(this.#options.heartbeatIntervalMs, () => heartbeat(this.#options.heartbeat()));
    const stops = this.#timers.map((start) => start());
    const watch = collections && this.#watch(collections);
    try {
      const result = await Promise.race([this.#result, aborted, ...(watch ? [watch.ended] : [])]);
      if (cancellation.aborted) throw new CancelledFailure(this.#options.cancelledMessage);
      if (this.#failure) throw this.#failure.error;
      if (result === undefined)
        throw ApplicationFailure.retryable('watch ended unexpectedly', FailureType.KubeUnavailable);
      return result;
    } catch (err) {
      if (err instanceof CancelledFailure) throw err;
      throw toApplicationFailure(err);
    } finally {
      for (const stop of stops) stop();
      this.#abort.abort();
      cancellation.removeEventListener('abort', abort);
      await watch?.stop();
    }
  }

  /**
   * Starts the list+watch: coalesced assessments of the synced cache, each scheduling the next one for when a rule
   * with a duration is due. An assessment that throws fails the watch instead of escaping in a timer. `ended`
   * resolves (undefined) when the watch ends and rejects with what stopped it; `stop` waits for it to close.
   */
  #watch(collections: WatchedCollections): { ended: Promise<undefined>; stop(): Promise<void> } {
    let recheck: NodeJS.Timeout | undefined;
    let stopped = false;
    const reassess = coalesce((state: WatchedState, synced: boolean): void => {
      if (!synced || stopped) return; // an object not listed yet is not NotFound
      const now = new Date();
      clearTimeout(recheck);
      let recheckAt: Date | undefined;
      try {
        recheckAt = collections.assess(state, now);
      } catch (err) {
        this.fail(err);
        return;
      }
      recheck = setTimeout(() => reassess(state, true), recheckDelayMs(recheckAt, now));
    });
    const watching = watchKinds(collections.gateway, collections.targets, reassess, this.signal);
    return {
      ended: watching.then(() => undefined),
      stop: async () => {
        stopped = true;
        clearTimeout(recheck);
        reassess.cancel();
        await watching.catch(() => undefined);
      },
    };
  }
}
