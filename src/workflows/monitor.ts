/**
 * `monitorHealth`: a long-running monitor. The `observeHealth` activity watches (one list+watch per namespace and
 * kind) and probes, and signals this workflow each transition (the `observations` signal, changed targets only)
 * while keeping its watches open; it returns every {@link OBSERVE_MAX_SECONDS} for housekeeping, or is cancelled
 * and restarted when the targets change. This workflow keeps each target's state machine:
 *
 *   healthy → pending (unhealthy for less than `forSeconds`) → degraded (fires ONE incident) → healthy (resolves it)
 *
 * Each incident has a stable dedupe key `<workflowId>/<target>/<incident number>`, carried across retries,
 * worker restarts and continue-as-new, so a degradation pages once and resolves itself. Controls: the `status`
 * query, and validated updates to add/remove targets and pause/resume.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities, Observation, ObservationBatch, ObserveHealthResult } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import {
  MonitorHealthInput,
  MonitorTarget,
  OBSERVATIONS_SIGNAL,
  type AlertEventData,
  type MonitorStatus,
  type TargetState,
} from '../schemas/monitor.js';
import { KubeCluster, KubeNamespace } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

/** Signal (internal, sent by the `observeHealth` activity): targets whose health changed. */
export const observationsSignal = defineSignal<[ObservationBatch]>(OBSERVATIONS_SIGNAL);
/** Query: every target's state. */
export const monitorStatusQuery = defineQuery<MonitorStatus>('status');
/** Update: add targets (validated with the same schema as the input). Returns the number of targets. */
export const addTargetsUpdate = defineUpdate<number, [{ targets: MonitorTarget[] }]>('addTargets');
/** Update: remove targets by key (`Deployment/ns/name`, `http:<id>`, `prom:<id>`) or by spec; open incidents are resolved. */
export const removeTargetsUpdate = defineUpdate<number, [{ targets: MonitorTarget[] }]>('removeTargets');
/** Update: pause (no observation, no new alerts; open incidents stay open) or resume. */
export const setPausedUpdate = defineUpdate<boolean, [{ paused: boolean; reason?: string }]>('setPaused');

/**
 * Longest an observation activity runs before it returns and the next one relists everything: a full resync every
 * 30 minutes, like an informer's. Transitions do not wait for it; they arrive as signals.
 */
export const OBSERVE_MAX_SECONDS = 1_800;

const retry = { maximumInterval: '1m', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { observeHealth } = proxyActivities<Activities>({
  startToCloseTimeout: `${OBSERVE_MAX_SECONDS + 120}s`,
  // the activity heartbeats every 5 s: a dead worker is noticed, and observation moves to another, within 15 s
  heartbeatTimeout: '15s',
  retry,
});
/** A delivery still failing after this long is given up (and shown in the status query's deliveryErrors). */
export const DELIVERY_GIVE_UP_AFTER = '15m';
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: DELIVERY_GIVE_UP_AFTER,
  retry: { ...retry, initialInterval: '2s' },
});

/** Watches targets and alerts on degradation; runs until cancelled, continuing-as-new to keep history short. */
export async function monitorHealth(rawInput: MonitorHealthInput): Promise<never> {
  const parsed = MonitorHealthInput.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid monitor input:\n${z.prettifyError(parsed.error)}`,
      FailureType.InvalidInput,
    );
  }
  const input = parsed.data;
  const info = workflowInfo();
  const forMs = input.forSeconds * 1000;
  let targets: MonitorTarget[] = input.targets;
  const states = new Map<string, TargetState>((input.state?.targets ?? []).map((t) => [t.key, t]));
  let paused = input.state?.paused ?? false;
  let controlsChanged = false;
  let observed: ObserveHealthResult | undefined;
  let observeFailed: unknown;
  // Runs started before observations were streamed keep returning from the activity on each change.
  const streaming = patched('observations-by-signal');
  /** Which observation activity the workflow listens to; batches of an earlier one are dropped. */
  let epoch = 0;
  const batches: ObservationBatch[] = [];
  setHandler(observationsSignal, (b) => {
    if (b.epoch === epoch) batches.push(b);
  });
  const deliveryErrors: Record<string, string> = {};
  /** The latest queued delivery per target (chained so they arrive in order). */
  const deliveries = new Map<string, Promise<void>>();

  const stateOf = (t: TargetState): 'healthy' | 'pending' | 'degraded' =>
    t.open ? 'degraded' : t.healthy ? 'healthy' : 'pending';
  const status = (): MonitorStatus => {
    const list = [...states.values()].map((t) => ({ ...t, state: stateOf(t) }));
    return {
      name: input.name,
      paused,
      targets: list,
      healthy: list.filter((t) => t.state === 'healthy').length,
      degraded: list.filter((t) => t.state === 'degraded').length,
      pending: list.filter((t) => t.state === 'pending').length,
      deliveryErrors: { ...deliveryErrors },
    };
  };
  const showDetails = (): void => {
    const s = status();
    setCurrentDetails(
      `${paused ? '**paused** — ' : ''}${s.targets.length} targets: ${s.healthy} healthy, ${s.pending} pending, ${s.degraded} degraded` +
        (s.degraded
          ? `\n\ndegraded: ${s.targets
              .filter((t) => t.state === 'degraded')
              .map((t) => t.key)
              .join(', ')}`
          : ''),
    );
  };
  setHandler(monitorStatusQuery, status);
  const validTargets = (u: { targets: MonitorTarget[] }): void => {
    const r = z.object({ targets: z.array(MonitorTarget).min(1) }).safeParse(u);
    if (!r.success) throw new Error(`invalid targets: ${z.prettifyError(r.error)}`);
  };
  setHandler(
    addTargetsUpdate,
    (u) => {
      const parsedTargets = z.array(MonitorTarget).parse(u.targets);
      targets = [...targets, ...parsedTargets];
      controlsChanged = true;
      return targets.length;
    },
    { validator: validTargets },
  );
  setHandler(
    removeTargetsUpdate,
    (u) => {
      const remove = new Set(u.targets.map((t) => JSON.stringify(z.array(MonitorTarget).parse([t])[0])));
      targets = targets.filter((t) => !remove.has(JSON.stringify(t)));
      controlsChanged = true;
      return targets.length;
    },
    { validator: validTargets },
  );
  setHandler(
    setPausedUpdate,
    (u) => {
      paused = u.paused;
      controlsChanged = true;
      return paused;
    },
    { validator: (u) => void z.object({ paused: z.boolean(), reason: z.string().optional() }).parse(u) },
  );

  const namespaces = [...new Set(targets.filter((t) => t.type === 'kube').map((t) => t.namespace))];
  upsertKubeAttributes([
    ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
    ...(namespaces[0] ? [{ key: KubeNamespace, value: namespaces[0] }] : []),
  ]);

  /**
   * Queues an alert for a target. Deliveries run in the background so that a channel that is down (retried with
   * backoff up to {@link DELIVERY_GIVE_UP_AFTER}) never stalls observation of the other targets; per target they
   * are chained, so a resolve never overtakes its trigger.
   */
  const send = (t: TargetState, action: 'trigger' | 'resolve', keepAliveOnly = false): void => {
    const event = alertEvent(t, action);
    const previous = deliveries.get(t.key) ?? Promise.resolve();
    const next = previous.then(() => deliver(event, keepAliveOnly));
    deliveries.set(t.key, next);
    void next.then(() => {
      if (deliveries.get(t.key) === next) deliveries.delete(t.key);
    });
  };

  const alertEvent = (t: TargetState, action: 'trigger' | 'resolve'): AlertEventData => {
    const incident = t.open?.number ?? t.incidents;
    const event: AlertEventData = {
      action,
      dedupKey: `${info.workflowId}/${t.key}/${incident}`.slice(0, 255),
      summary: action === 'trigger' ? `${t.key} is degraded: ${t.message}` : `${t.key} recovered`,
      source: t.key,
      severity: input.severity,
      startsAt: new Date(t.open?.firedAt ?? t.since).toISOString(),
      ...(action === 'resolve' ? { endsAt: new Date(Date.now()).toISOString() } : {}),
      labels: { monitor: input.name, target: t.key, incident: String(incident) },
      details: { message: t.message, workflowId: info.workflowId },
      ...(input.url ? { url: input.url } : {}),
    };
    return event;
  };

  const deliver = async (event: AlertEventData, keepAliveOnly: boolean): Promise<void> => {
    // One activity per channel: a retry re-sends only to the channel that failed. A channel that refuses
    // (misconfigured, 4xx) or stays down must not stop the monitor: its error is kept for the status query.
    const results = await Promise.allSettled(
      input.channels.map((channel) => deliverAlert({ channel, event, keepAliveOnly })),
    );
    results.forEach((r, i) => {
      const channel = input.channels[i] ?? '';
      if (r.status === 'rejected') {
        const err = r.reason as Error & { cause?: Error };
        deliveryErrors[channel] = err.cause?.message ?? err.message;
      } else delete deliveryErrors[channel];
    });
  };

  /** Applies the state machine at the current workflow time; sends what must be sent. */
  const evaluate = (): void => {
    const now = Date.now();
    for (const t of states.values()) {
      if (!t.healthy && !t.open && now - t.since >= forMs) {
        t.incidents += 1;
        t.open = { number: t.incidents, firedAt: now, lastSentAt: now };
        send(t, 'trigger');
      } else if (t.healthy && t.open) {
        send(t, 'resolve');
        delete t.open;
      } else if (t.open) {
        const remind =
          input.remindEverySeconds !== undefined && now - t.open.lastSentAt >= input.remindEverySeconds * 1000;
        if (remind || now - t.open.lastSentAt >= input.keepAliveSeconds * 1000) {
          t.open.lastSentAt = now;
          send(t, 'trigger', !remind);
        }
      }
    }
    showDetails();
  };

  /** Milliseconds until the next time-based transition (a pending target turning degraded, a keep-alive). */
  const nextDeadline = (): number | undefined => {
    const now = Date.now();
    const times: number[] = [];
    for (const t of states.values()) {
      if (!t.healthy && !t.open) times.push(t.since + forMs);
      if (t.open)
        times.push(t.open.lastSentAt + Math.min(input.keepAliveSeconds, input.remindEverySeconds ?? Infinity) * 1000);
    }
    return times.length ? Math.max(0, Math.min(...times) - now) : undefined;
  };

  const observe = (o: Observation, now: number): void => {
    const t = states.get(o.key);
    if (!t) states.set(o.key, { key: o.key, healthy: o.healthy, since: now, message: o.message, incidents: 0 });
    else {
      if (t.healthy !== o.healthy) t.since = now;
      t.healthy = o.healthy;
      t.message = o.message;
    }
  };
  /** A target that disappeared (deleted object, removed target): its incident is resolved, then it is forgotten. */
  const forget = (t: TargetState): void => {
    if (t.open) {
      t.healthy = true;
      t.message = 'no longer monitored';
    } else states.delete(t.key);
  };
  /** The activity's full result: every current observation. */
  const applyObservations = (r: ObserveHealthResult): void => {
    const now = Date.now();
    const seen = new Set(r.observations.map((o) => o.key));
    for (const o of r.observations) observe(o, now);
    for (const t of [...states.values()]) if (!seen.has(t.key)) forget(t);
  };
  /** A streamed batch: only what changed (or everything, when `full`). */
  const applyBatch = (b: ObservationBatch): void => {
    if (b.full) return applyObservations({ observations: b.observations, changed: [] });
    const now = Date.now();
    for (const o of b.observations) observe(o, now);
    for (const key of b.removed) {
      const t = states.get(key);
      if (t) forget(t);
    }
  };

  showDetails();
  let iterations = 0;
  for (;;) {
    iterations += 1;
    if (paused) {
      await condition(() => !paused);
      controlsChanged = false;
      continue;
    }
    controlsChanged = false;
    observed = undefined;
    observeFailed = undefined;
    epoch += 1;
    batches.length = 0;
    const known = Object.fromEntries([...states.values()].map((t) => [t.key, t.healthy]));
    const scope = new CancellationScope();
    const observing = scope
      .run(() =>
        observeHealth({
          cluster: input.cluster ?? '',
          targets,
          known,
          maxDurationSeconds: OBSERVE_MAX_SECONDS,
          probeIntervalSeconds: input.probeIntervalSeconds,
          ...(streaming ? { stream: { epoch } } : {}),
        }),
      )
      .then(
        (r) => (observed = r),
        (err: unknown) => (observeFailed = err),
      );
    // Wake on: streamed changes, the activity's end, a control change, or the next time-based transition.
    let handOver = false;
    for (;;) {
      const wait = nextDeadline();
      const woke = await condition(
        () => batches.length > 0 || observed !== undefined || observeFailed !== undefined || controlsChanged,
        wait ?? '1 day',
      );
      if (!woke) {
        evaluate(); // a pending target's `for` window elapsed, or a keep-alive is due
        continue;
      }
      if (batches.length) {
        for (const b of batches.splice(0)) applyBatch(b);
        evaluate();
        iterations += 1;
        handOver = workflowInfo().continueAsNewSuggested || iterations >= input.maxIterationsPerRun;
        if (!handOver && observed === undefined && observeFailed === undefined && !controlsChanged) continue;
      }
      break;
    }
    if (!observed && observeFailed === undefined) {
      scope.cancel(); // controls changed or the run hands over: stop this observation
      await observing;
    }
    if (observeFailed !== undefined && !isCancellation(observeFailed)) throw observeFailed as Error;
    if (observed) applyObservations(observed);
    evaluate();
    if (workflowInfo().continueAsNewSuggested || iterations >= input.maxIterationsPerRun) {
      // Alerts in flight are finished before the run hands over; their state is already in `states`.
      await Promise.all(deliveries.values());
      await continueAsNew<typeof monitorHealth>({
        ...rawInput,
        targets,
        state: { targets: [...states.values()], paused },
      });
    }
  }
}
