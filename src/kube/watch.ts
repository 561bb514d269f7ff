/**
 * List+watch of whole collections: ONE list and ONE watch per (kind, namespace), however many objects of that
 * kind are awaited (kubectl rollout status opens one per object). Relists on 410 Gone and when the server
 * ends the stream; keeps an in-memory cache of every object seen, and calls `onChange` after each event.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeGateway, LiveObject } from './gateway.js';
import { KubeApiError } from './errors.js';

/** One collection to watch. */
export interface WatchTarget {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  labelSelector?: string | undefined;
}

/** What the watches have seen so far: `apiVersion|kind|namespace|name` -> object. */
export type WatchedState = Map<string, LiveObject>;

/** Cache key of an object. */
export function cacheKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  return `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;
}

/**
 * Runs list+watch loops for every target until `signal` aborts. Calls `onChange(state)` after the initial lists
 * and after every event. Network errors and 410s relist after a short backoff; other API errors (403, 404)
 * reject, since retrying will not fix them.
 */
export async function watchKinds(
  gateway: KubeGateway,
  targets: readonly WatchTarget[],
  onChange: (state: WatchedState, synced: boolean) => void,
  signal: AbortSignal,
): Promise<void> {
  const state: WatchedState = new Map();
  // `synced` turns true once every collection has been listed at least once: before that, an object missing
  // from the cache may simply not be listed yet.
  const listedOnce = new Set<number>();
  const loops = targets.map((t, i) =>
    watchLoop(
      gateway,
      t,
      state,
      (s, initialList) => {
        if (initialList) listedOnce.add(i);
        onChange(s, listedOnce.size === targets.length);
      },
      signal,
    ),
  );
  await Promise.all(loops);
}

async function watchLoop(
  gateway: KubeGateway,
  target: WatchTarget,
  state: WatchedState,
  onChange: (state: WatchedState, initialList: boolean) => void,
  signal: AbortSignal,
): Promise<void> {
  let backoffMs = 200;
  while (!signal.aborted) {
    let resourceVersion: string;
    try {
      const listed = await gateway.list(target.apiVersion, target.kind, target);
      // Replace this collection's entries with the fresh list (objects may have vanished meanwhile).
      const prefix = `${target.apiVersion}|${target.kind}|${target.namespace ?? ''}|`;
      for (const k of [...state.keys()]) if (k.startsWith(prefix)) state.delete(k);
      for (const item of listed.items) state.set(keyFor(target, item), item);
      resourceVersion = listed.resourceVersion;
      onChange(state, true);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof KubeApiError && err.status !== 0 && err.status !== 429 && err.status < 500) throw err;
      await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
      backoffMs = Math.min(backoffMs * 2, 5_000);
      continue;
    }
    backoffMs = 200;
    // Watch until the server closes the stream or answers 410; then relist.
    while (!signal.aborted) {
      try {
        await gateway.watch(
          target.apiVersion,
          target.kind,
          { namespace: target.namespace, labelSelector: target.labelSelector, resourceVersion },
          (event) => {
            const rv = event.object.metadata?.resourceVersion;
            if (rv) resourceVersion = rv;
            if (event.type === 'BOOKMARK') return;
            event.object.apiVersion = target.apiVersion;
            event.object.kind = target.kind;
            const key = keyFor(target, event.object);
            if (event.type === 'DELETED') state.delete(key);
            else state.set(key, event.object);
            onChange(state, false);
          },
          signal,
        );
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof KubeApiError && (err.status === 410 || err.reason === 'Expired' || err.reason === 'Gone'))
          break; // relist
        if (err instanceof KubeApiError && err.status !== 0 && err.status !== 429 && err.status < 500) throw err;
        await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
        break;
      }
    }
  }
}

function keyFor(target: WatchTarget, obj: LiveObject): string {
  return cacheKey(target.apiVersion, target.kind, obj.metadata.namespace, obj.metadata.name);
}
