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
 * Coalesces bursts of watch events: `fn` runs with the latest arguments, soon after the first call of a burst (the
 * events of one read of the stream, a millisecond later) — not a fixed delay later, since a deploy's last status
 * event is what ends its wait and every millisecond here is readiness lag — and then no more often than twice its
 * own cost allows (at most once per `maxDelayMs`). A 500-object rollout produces thousands of events; health is
 * re-assessed at most about a third of the time, not thousands of times. `now` is the clock (tests).
 */
export function coalesce<A extends unknown[]>(
  fn: (...args: A) => void,
  maxDelayMs = 100,
  now: () => number = () => performance.now(),
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
    const gap = Math.min(maxDelayMs, 2 * lastCost);
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
