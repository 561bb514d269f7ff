/**
 * List+watch of whole collections: ONE list and ONE watch per (kind, namespace), however many objects of that
 * kind are awaited (kubectl rollout status opens one per object). Keeps an in-memory cache of every object seen
 * and calls `onChange` after each change.
 *
 * Recovery, per collection: a watch that ends, drops or stalls (no byte for `idleTimeoutMs`; bookmarks keep a
 * healthy idle watch talking) is resumed from the last resourceVersion seen, bookmarks included, so nothing is
 * listed again; only an expired resourceVersion (410 Gone, as an HTTP answer or an ERROR event, routine after
 * etcd compaction) relists. Consecutive failures back off exponentially up to `retryMaxMs` (longer when the
 * server sends Retry-After); the first retry after a healthy stretch is immediate. Errors that retrying cannot
 * fix (403, 404, …) and exceptions thrown by `onChange` stop every collection and reject.
 *
 * We keep this loop rather than client-node 1.4.0's `ListWatch`/informer because, run against the fake API server
 * of test/unit/watch.test.ts, that one relists on a 410 but never converges after the other faults: it has no
 * stall detection (its 30 s abort signal is overwritten), requests no bookmarks, silently skips a malformed line
 * (and any exception its callbacks throw) so that event is lost, and on a dropped connection reports
 * "Premature close" and stops instead of resuming, with no backoff.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { compactForCache } from './compact.js';
import type { KubeGateway, LiveObject, WatchEvent } from './gateway.js';
import { KubeApiError } from './errors.js';

/** One collection to watch. */
export interface WatchTarget {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  /**
   * A field selector (`metadata.name=web`): one object of a big collection, e.g. one CustomResourceDefinition, whose
   * LIST would carry every CRD of the cluster (hundreds of kilobytes each).
   */
  fieldSelector?: string | undefined;
}

/** What the watches have seen so far: `apiVersion|kind|namespace|name` -> object, compacted by `compactForCache`. */
export type WatchedState = Map<string, LiveObject>;

/** Default of {@link WatchKindsOptions.retryInitialMs}. */
export const DEFAULT_RETRY_INITIAL_MS = 200;
/** Default of {@link WatchKindsOptions.retryMaxMs}. */
export const DEFAULT_RETRY_MAX_MS = 5_000;
/** Default of {@link WatchKindsOptions.watchTimeoutSeconds}. */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

/** Tuning of {@link watchKinds}. Every field has a default. */
export interface WatchKindsOptions {
  /**
   * A watch that receives no byte (event or bookmark) for this long is destroyed and resumed (default: the
   * gateway's, `DEFAULT_WATCH_IDLE_TIMEOUT_MS` = 90 s).
   */
  idleTimeoutMs?: number | undefined;
  /** Delay before the second of consecutive retries; it doubles from there (default {@link DEFAULT_RETRY_INITIAL_MS}). */
  retryInitialMs?: number | undefined;
  /** Longest delay between retries, unless the server asks for more (default {@link DEFAULT_RETRY_MAX_MS}). */
  retryMaxMs?: number | undefined;
  /** Server-side lifetime of one watch request, after which it is resumed (default {@link DEFAULT_WATCH_TIMEOUT_SECONDS}). */
  watchTimeoutSeconds?: number | undefined;
}

/** Cache key of an object. */
export function cacheKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  return `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;
}

/**
 * Runs list+watch loops for every target until `signal` aborts (then resolves). Calls `onChange(state, synced)`
 * after each list and after every event; `synced` is true once every collection has been listed at least once.
 * Rejects, after stopping every loop, with the first error that retrying cannot fix or that `onChange` threw.
 */
export async function watchKinds(
  gateway: KubeGateway,
  targets: readonly WatchTarget[],
  onChange: (state: WatchedState, synced: boolean) => void,
  signal: AbortSignal,
  options: WatchKindsOptions = {},
): Promise<void> {
  const cache = new SharedCache(targets.length, onChange);
  const stopped = new AbortController();
  const stop = AbortSignal.any([signal, stopped.signal]);
  setMaxListeners(0, stop); // every collection waiting out a backoff listens on it: dozens is normal
  let fatal: { error: unknown } | undefined;
  await Promise.all(
    targets.map((target, i) =>
      watchCollection(gateway, target, cache.collection(i, target), stop, options).catch((error: unknown) => {
        fatal ??= { error };
        stopped.abort();
      }),
    ),
  );
  if (fatal) throw fatal.error;
}

/** Lists and watches one collection until `signal` aborts; rejects only with an error retrying cannot fix. */
async function watchCollection(
  gateway: KubeGateway,
  target: WatchTarget,
  collection: Collection,
  signal: AbortSignal,
  options: WatchKindsOptions,
): Promise<void> {
  let resourceVersion: string | undefined; // undefined: (re)list first
  let failures = 0;
  let lastError: unknown;
  while (!signal.aborted) {
    if (failures > 0) {
      await sleep(retryDelayMs(failures, lastError, options), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
    }
    if (resourceVersion === undefined) {
      let listed: Awaited<ReturnType<KubeGateway['list']>>;
      try {
        listed = await gateway.list(target.apiVersion, target.kind, target);
      } catch (err) {
        if (signal.aborted) return;
        if (!isRetryable(err)) throw err;
        failures++;
        lastError = err;
        continue;
      }
      collection.replace(listed.items);
      resourceVersion = listed.resourceVersion;
    }
    let progressed = false;
    try {
      await gateway.watch(
        target.apiVersion,
        target.kind,
        {
          namespace: target.namespace,
          labelSelector: target.labelSelector,
          fieldSelector: target.fieldSelector,
          resourceVersion,
          timeoutSeconds: options.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS,
          idleTimeoutMs: options.idleTimeoutMs,
        },
        (event) => {
          progressed = true;
          if (event.type !== 'BOOKMARK') collection.apply(event);
          resourceVersion = event.object.metadata?.resourceVersion || resourceVersion;
        },
        signal,
      );
      // The server's timeoutSeconds ran out: resume at once. A stream that ends before saying anything counts
      // as a failure, so that a server answering every watch with an empty 200 cannot make us spin.
      failures = progressed ? 0 : failures + 1;
      lastError = undefined;
    } catch (err) {
      if (signal.aborted) return;
      if (isExpired(err)) resourceVersion = undefined;
      else if (!isRetryable(err)) throw err;
      failures = progressed ? 1 : failures + 1;
      lastError = err;
    }
  }
}

/** 410 Gone: the resourceVersion was compacted away; only a fresh list can continue. */
function isExpired(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 410 || err.reason === 'Expired' || err.reason === 'Gone');
}

/** Network errors (status 0: drops, stalls, malformed lines), 429 and 5xx. Anything else, callbacks' errors too, is final. */
function isRetryable(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

/** 0 for the first failure, then initial, 2×initial, … up to max; never less than the server's Retry-After. */
function retryDelayMs(failures: number, lastError: unknown, options: WatchKindsOptions): number {
  const initial = options.retryInitialMs ?? DEFAULT_RETRY_INITIAL_MS;
  const max = options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
  const backoff = failures <= 1 ? 0 : Math.min(initial * 2 ** (failures - 2), max);
  const retryAfter = lastError instanceof KubeApiError ? (lastError.retryAfterSeconds ?? 0) * 1000 : 0;
  return Math.max(backoff, retryAfter);
}

/** What one collection's loop may do to the shared cache. */
interface Collection {
  /** A fresh list: drop what this collection held and the list no longer has, then notify (initial list). */
  replace(items: readonly LiveObject[]): void;
  /** One ADDED / MODIFIED / DELETED event, then notify. */
  apply(event: WatchEvent): void;
}

/**
 * The cache every collection writes into. Targets may overlap (a cluster-wide watch and a namespaced one, two
 * label selectors), so an object leaves the cache only when no collection holds it any more.
 */
class SharedCache {
  readonly state: WatchedState = new Map();
  private readonly holders = new Map<string, Set<number>>();
  private readonly listedOnce = new Set<number>();

  constructor(
    private readonly collections: number,
    private readonly onChange: (state: WatchedState, synced: boolean) => void,
  ) {}

  collection(index: number, target: WatchTarget): Collection {
    const held = new Set<string>();
    const keyOf = (obj: LiveObject): string =>
      cacheKey(target.apiVersion, target.kind, obj.metadata.namespace, obj.metadata.name);
    const hold = (key: string, obj: LiveObject): void => {
      held.add(key);
      // A monitor of thousands of workloads caches every one: only what health reads is kept (./compact.ts).
      this.state.set(key, compactForCache(obj));
      const holders = this.holders.get(key) ?? new Set<number>();
      holders.add(index);
      this.holders.set(key, holders);
    };
    const release = (key: string): void => {
      held.delete(key);
      const holders = this.holders.get(key);
      holders?.delete(index);
      if (holders?.size) return;
      this.holders.delete(key);
      this.state.delete(key);
    };
    return {
      replace: (items) => {
        const fresh = new Map(items.map((item) => [keyOf(item), item]));
        for (const key of [...held]) if (!fresh.has(key)) release(key);
        for (const [key, item] of fresh) hold(key, item);
        this.listedOnce.add(index);
        this.notify();
      },
      apply: (event) => {
        // Watch events carry apiVersion/kind, but the target's spelling is the cache's.
        event.object.apiVersion = target.apiVersion;
        event.object.kind = target.kind;
        const key = keyOf(event.object);
        if (event.type === 'DELETED') release(key);
        else hold(key, event.object);
        this.notify();
      },
    };
  }

  private notify(): void {
    this.onChange(this.state, this.listedOnce.size === this.collections);
  }
}
