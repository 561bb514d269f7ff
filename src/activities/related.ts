/**
 * Indexes watched Pods and ReplicaSets by owner uid once per evaluation, so assessing N workloads costs O(N + pods)
 * instead of O(N × pods): at 500 Deployments the naive scan blocked the event loop for tens of seconds.
 * @module
 */
import type { LiveObject } from '../kube/index.js';

/** Returns, for a workload, the Pods and ReplicaSets it owns (Pods through its ReplicaSets for Deployments). */
export function relatedIndex(
  objects: Iterable<LiveObject>,
): (workload: LiveObject) => { pods: LiveObject[]; replicaSets: LiveObject[] } {
  const byOwner = new Map<string, LiveObject[]>();
  for (const o of objects) {
    if (o.kind !== 'Pod' && o.kind !== 'ReplicaSet') continue;
    const refs = (o.metadata as { ownerReferences?: { uid?: string }[] }).ownerReferences ?? [];
    for (const ref of refs) {
      if (!ref.uid) continue;
      const list = byOwner.get(ref.uid);
      if (list) list.push(o);
      else byOwner.set(ref.uid, [o]);
    }
  }
  return (workload) => {
    const direct = (workload.metadata.uid && byOwner.get(workload.metadata.uid)) || [];
    const replicaSets = direct.filter((o) => o.kind === 'ReplicaSet');
    const pods = [
      ...direct.filter((o) => o.kind === 'Pod'),
      ...replicaSets.flatMap((rs) =>
        ((rs.metadata.uid && byOwner.get(rs.metadata.uid)) || []).filter((o) => o.kind === 'Pod'),
      ),
    ];
    return { pods, replicaSets };
  };
}

/**
 * Shortest time between the end of one coalesced run and the start of the next while events keep coming (the
 * first event after a quiet spell still runs at once). Without it, a cheap assessment ran back to back during a
 * large rollout's stream of events: a third of a core, whatever it cost per run. It bounds what it adds to the
 * readiness lag: at most this, and only when the last event falls right after a run.
 */
export const COALESCE_MIN_GAP_MS = 25;

/**
 * Coalesces bursts of watch events: `fn` runs with the latest arguments, soon after the first call of a burst (the
 * events of one read of the stream, a millisecond later) — not a fixed delay later, since a deploy's last status
 * event is what ends its wait and every millisecond here is readiness lag — and then no more often than twice its
 * own cost allows, with at least {@link COALESCE_MIN_GAP_MS} between runs (and at most `maxDelayMs`). A 500-object
 * rollout produces thousands of events; health is re-assessed at most about a third of the time, not thousands of
 * times. `now` is the clock (tests).
 */
export function coalesce<A extends unknown[]>(
  fn: (...args: A) => void,
  maxDelayMs = 100,
  now: () => number = () => performance.now(),
  minGapMs = COALESCE_MIN_GAP_MS,
): ((...args: A) => void) & { flush(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let last: A | undefined;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let lastCost = 0;
  const run = (): void => {
    timer = undefined;
    if (!last) return;
    const started = now();
    try {
      fn(...last);
    } finally {
      lastEnd = now();
      lastCost = lastEnd - started;
    }
  };
  const wrapped = (...args: A): void => {
    last = args;
    if (timer) return;
    const gap = Math.min(maxDelayMs, Math.max(minGapMs, 2 * lastCost));
    timer = setTimeout(run, Math.max(0, lastEnd + gap - now()));
  };
  return Object.assign(wrapped, {
    flush: () => {
      if (timer) clearTimeout(timer);
      run();
    },
    cancel: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  });
}

/**
 * Remembers, per awaited object, the result last computed for it and what it was computed from (a signature: the
 * resourceVersions of the object and of everything related to it), so a re-assessment after a watch event
 * recomputes only the objects that event touched. A remembered result also expires at its own due time (when a
 * rule with a duration flips, see `healthRecheckAt`) and after {@link AssessmentMemo.maxAgeMs} at the latest, so a
 * rule that depends on time alone is never served stale for longer than that.
 *
 * At 250 Deployments with their ReplicaSets and Pods, assessing everything after every burst of events was half
 * of the worker's CPU during a deploy's wait: CPU the API server and the controllers on the same machine needed.
 */
export class AssessmentMemo<T> {
  readonly #entries = new Map<string, { signature: string; value: T; expiresAt: number }>();

  /** @param maxAgeMs longest a remembered result is served without recomputing it (default 5 s). */
  constructor(readonly maxAgeMs = 5_000) {}

  /** The result remembered for `key` if it was computed from `signature` and has not expired at `nowMs`. */
  lookup(key: string, signature: string, nowMs: number): T | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.signature === signature && nowMs < entry.expiresAt ? entry.value : undefined;
  }

  /** Remembers `value` for `key`, computed at `nowMs` from `signature`, until `dueAt` (epoch ms) if sooner. */
  remember(key: string, signature: string, value: T, nowMs: number, dueAt?: number): void {
    const expiresAt = Math.min(nowMs + this.maxAgeMs, dueAt ?? Number.POSITIVE_INFINITY);
    this.#entries.set(key, { signature, value, expiresAt });
  }
}

/**
 * What an object's health is computed from, as one string: its own resourceVersion and those of its related
 * objects (any change to one of them changes the string). Objects without a resourceVersion (never from a watch)
 * get a signature that matches nothing.
 */
export function assessmentSignature(
  obj: LiveObject,
  related: { pods: LiveObject[]; replicaSets: LiveObject[] },
): string {
  const rv = (o: LiveObject): string => o.metadata.resourceVersion ?? `?${Math.random()}`;
  let out = `${obj.metadata.uid ?? ''}@${rv(obj)}`;
  for (const o of related.replicaSets) out += `|rs:${o.metadata.uid ?? ''}@${rv(o)}`;
  for (const o of related.pods) out += `|po:${o.metadata.uid ?? ''}@${rv(o)}`;
  return out;
}
