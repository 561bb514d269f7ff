/**
 * `observeHealth`: the monitor's eyes. One long-running activity holds one list+watch per (namespace, kind,
 * selector) of the monitored workloads (plus Pods and ReplicaSets of those namespaces, for fail-fast reasons),
 * probes HTTP and Prometheus targets on an interval and heartbeats a summary. With `stream`, it SIGNALS each
 * change of health to its workflow ({@link OBSERVATIONS_SIGNAL}: changed targets only) and keeps its watches open,
 * so a transition costs one signal and no relist; it returns after `maxDurationSeconds` (the workflow's
 * housekeeping) or when cancelled. Without `stream` (runs started before streaming existed, or a worker without
 * a Temporal client) it RETURNS as soon as any target's health differs from what the workflow knows. Either way
 * history grows with transitions, not with time.
 *
 * `deliverAlert`: one alert event to ONE channel (a retry re-sends only to the channel that failed). Channel
 * errors are classified: 4xx → AlertRejected (not retried), 429 / 5xx / network → AlertUnavailable with
 * Retry-After honoured through `nextRetryDelay`.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isAlertDeliveryError, severityAtLeast, type AlertChannel } from '../alerts/index.js';
import { FailureType } from '../domain/failures.js';
import { assessHealth, healthRecheckAt, HealthStatus, recheckDelayMs } from '../domain/health.js';
import { matches, parseLabelSelector, type LabelSelector } from '../domain/selectors.js';
import { formatSubject } from '../domain/subject.js';
import { watchKinds, type WatchTarget } from '../kube/watch.js';
import type { KubeGateway, LiveObject } from '../kube/index.js';
import { OBSERVATIONS_SIGNAL, type AlertEventData, type MonitorTarget } from '../schemas/monitor.js';
import { classified, toApplicationFailure } from './failures.js';
import { coalesce, relatedIndex } from './related.js';

/** One target's observed health. */
export interface Observation {
  key: string;
  healthy: boolean;
  message: string;
}

/** Input of `observeHealth`. */
export interface ObserveHealthInput {
  cluster: string;
  targets: MonitorTarget[];
  /** Target key → healthy, as the workflow knows it. Changes are relative to this. */
  known: Record<string, boolean>;
  maxDurationSeconds: number;
  probeIntervalSeconds: number;
  /**
   * Signal changes to the workflow instead of returning on the first one. `epoch` is echoed in every batch so the
   * workflow can ignore batches of an observation it has already replaced.
   */
  stream?: { epoch: number };
}

/** What one {@link OBSERVATIONS_SIGNAL} carries: the targets whose health changed since the last batch. */
export interface ObservationBatch {
  epoch: number;
  /** New targets and targets whose health flipped, with their current message (every target when `full`). */
  observations: Observation[];
  /** Keys that are no longer observed (object deleted, target removed). */
  removed: string[];
  /**
   * Every current observation: a target not in it is gone. A retried attempt starts with one, because batches
   * of the failed attempt may have moved the workflow on from the `known` it was started with.
   */
  full?: boolean;
}

/** Result of `observeHealth`: every current observation, and which keys changed (empty on max duration). */
export interface ObserveHealthResult {
  observations: Observation[];
  changed: string[];
}

/** Input of `deliverAlert`. */
export interface DeliverAlertInput {
  channel: string;
  event: AlertEventData;
  /** Only deliver to channels that expire alerts unless re-sent (Alertmanager); others skip. */
  keepAliveOnly?: boolean;
}

/** What the monitor activities need. */
export interface MonitorActivityDeps {
  gateway(cluster: string): KubeGateway;
  /** Alert channels configured on the worker, by name. */
  alertChannels?: ReadonlyMap<string, AlertChannel>;
  /** `fetch` for probes (tests may inject). */
  fetch?: typeof fetch;
  /** Operational counters (exported at the worker's /metrics). */
  counters?: { inc(name: string, labels?: Record<string, string>, by?: number): void };
  /**
   * Signals a workflow run (the worker's Temporal client, through its data converter). Without it, a streaming
   * request falls back to returning on the first change. Rejects with a `WorkflowNotFoundError` when the run has
   * ended.
   */
  signalWorkflow?(ref: { workflowId: string; runId: string }, signal: string, arg: unknown): Promise<void>;
  /**
   * True once the worker has begun to shut down. A running observation then fails at once with a retryable
   * `WorkerShutdown`, so Temporal moves it to another worker in about a second instead of after the shutdown
   * grace time (Temporal cancels activities only when that has passed).
   */
  workerStopping?(): boolean;
}

const WORKLOAD_API: Record<string, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1' };

/** Builds the monitor activities. */
export function createMonitorActivities(deps: MonitorActivityDeps) {
  const doFetch = deps.fetch ?? fetch;
  return {
    async observeHealth(input: ObserveHealthInput): Promise<ObserveHealthResult> {
      const kube = input.targets.filter((t) => t.type === 'kube');
      const probes = input.targets.filter((t) => t.type !== 'kube');
      const abort = new AbortController();
      setMaxListeners(0, abort.signal); // one listener per watch request on this signal
      const signal = cancellationSignal();
      const onCancel = (): void => abort.abort();
      signal.addEventListener('abort', onCancel);
      // Cancellation (workflow cancelled, worker shutting down) must end the activity even with no watch running.
      const cancelled = new Promise<undefined>((resolve) =>
        abort.signal.addEventListener('abort', () => resolve(undefined)),
      );

      const kubeObs = new Map<string, Observation>();
      const probeObs = new Map<string, Observation>();
      let kubeReady = kube.length === 0;
      let probesReady = probes.length === 0;
      let settle: (r: ObserveHealthResult) => void = () => undefined;
      const done = new Promise<ObserveHealthResult>((r) => (settle = r));
      const all = (): Observation[] => [...kubeObs.values(), ...probeObs.values()];
      /** Health per key as the workflow knows it: the input, then every batch it has accepted. */
      const reported = new Map(Object.entries(input.known));
      const run = activityInfo().workflowExecution;
      const sendBatch =
        input.stream && deps.signalWorkflow && run
          ? (batch: ObservationBatch) => deps.signalWorkflow?.(run, OBSERVATIONS_SIGNAL, batch) ?? Promise.resolve()
          : undefined;
      const epoch = input.stream?.epoch ?? 0;
      let sending = false;
      let dirty = false;
      let needFull = activityInfo().attempt > 1;
      /** Signals what changed since the last accepted batch; one batch in flight, changes meanwhile coalesced. */
      const stream = async (send: NonNullable<typeof sendBatch>): Promise<void> => {
        if (sending) {
          dirty = true;
          return;
        }
        sending = true;
        try {
          do {
            dirty = false;
            const obs = all();
            const current = new Set(obs.map((o) => o.key));
            const batch: ObservationBatch = needFull
              ? { epoch, observations: obs, removed: [], full: true }
              : {
                  epoch,
                  observations: obs.filter((o) => reported.get(o.key) !== o.healthy),
                  removed: [...reported.keys()].filter((k) => !current.has(k)),
                };
            if (!batch.full && !batch.observations.length && !batch.removed.length) continue;
            for (let attempt = 1; !abort.signal.aborted; attempt += 1) {
              try {
                await send(batch);
                break;
              } catch (err) {
                // the run ended (continued as new, cancelled): nobody is listening any more
                if ((err as Error).name === 'WorkflowNotFoundError') return settle({ observations: obs, changed: [] });
                deps.counters?.inc('kube_workflows_observation_signal_failures_total');
                await new Promise((r) => setTimeout(r, Math.min(attempt, 10) * 500));
              }
            }
            if (batch.full) {
              needFull = false;
              reported.clear();
            }
            for (const o of batch.observations) reported.set(o.key, o.healthy);
            for (const k of batch.removed) reported.delete(k);
          } while (dirty && !abort.signal.aborted);
        } finally {
          sending = false;
        }
      };
      const check = (): void => {
        if (!kubeReady || !probesReady) return;
        if (sendBatch) {
          void stream(sendBatch);
          return;
        }
        const obs = all();
        const current = new Map(obs.map((o) => [o.key, o.healthy]));
        const changed = [
          ...obs.filter((o) => input.known[o.key] !== o.healthy).map((o) => o.key),
          ...Object.keys(input.known).filter((k) => !current.has(k)),
        ];
        if (changed.length) settle({ observations: obs, changed });
      };

      // Kubernetes: one watch per (namespace, kind, selector); pods/replicasets per namespace for fail-fast.
      const watchTargets: WatchTarget[] = [];
      const seen = new Set<string>();
      const add = (t: WatchTarget): void => {
        const k = `${t.apiVersion}|${t.kind}|${t.namespace}|${t.labelSelector ?? ''}`;
        if (!seen.has(k)) {
          seen.add(k);
          watchTargets.push(t);
        }
      };
      for (const t of kube) {
        for (const kind of t.kinds)
          add({ apiVersion: WORKLOAD_API[kind] ?? 'apps/v1', kind, namespace: t.namespace, labelSelector: t.selector });
        add({ apiVersion: 'v1', kind: 'Pod', namespace: t.namespace });
        if (t.kinds.includes('Deployment')) add({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: t.namespace });
      }
      // Rules with a duration (a pod unschedulable for too long) flip with no watch event: re-assess on a timer too,
      // when the next one is due and at least every MAX_RECHECK_INTERVAL_MS.
      let recheck: NodeJS.Timeout | undefined;
      let stopped = false;
      const onKube = coalesce((state: Map<string, LiveObject>, synced: boolean): void => {
        if (!synced) return;
        const objects = [...state.values()];
        const related = relatedIndex(objects);
        const now = new Date();
        let recheckAt: Date | undefined;
        clearTimeout(recheck);
        kubeObs.clear();
        for (const t of kube) {
          for (const o of objects) {
            if (!t.kinds.includes(o.kind as never) || o.metadata.namespace !== t.namespace) continue;
            if (t.names && !t.names.includes(o.metadata.name)) continue;
            if (t.selector && !matchesSelector(o.metadata.labels ?? {}, t.selector)) continue;
            const objRelated = related(o);
            const a = assessHealth(o, objRelated, { now });
            const at = a.status === HealthStatus.InProgress ? healthRecheckAt(o, objRelated, { now }) : undefined;
            if (at !== undefined && (recheckAt === undefined || at < recheckAt)) recheckAt = at;
            const key = formatSubject({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name });
            kubeObs.set(key, {
              key,
              healthy: a.status === HealthStatus.Current,
              message: `${a.status} ${a.reason}: ${a.message}`,
            });
          }
        }
        kubeReady = true;
        if (!stopped) recheck = setTimeout(() => onKube(state, true), recheckDelayMs(recheckAt, now));
        check();
      });

      const probeOnce = async (): Promise<void> => {
        await Promise.all(
          probes.map(async (t) => {
            const o =
              t.type === 'http'
                ? await probeHttp(doFetch, t)
                : t.type === 'prometheus'
                  ? await probePrometheus(doFetch, t)
                  : undefined;
            if (o) probeObs.set(o.key, o);
          }),
        );
        probesReady = true;
        check();
      };
      const probeTimer = probes.length
        ? setInterval(() => void probeOnce().catch(() => undefined), input.probeIntervalSeconds * 1000)
        : undefined;
      if (probes.length) void probeOnce().catch(() => undefined);
      const beat = setInterval(() => {
        const obs = all();
        heartbeat({ healthy: obs.filter((o) => o.healthy).length, total: obs.length });
      }, 5_000);
      let stopping = false;
      const shutdownCheck = deps.workerStopping
        ? setInterval(() => {
            if (!deps.workerStopping?.()) return;
            stopping = true;
            abort.abort();
          }, 250)
        : undefined;
      const maxTimer = setTimeout(() => settle({ observations: all(), changed: [] }), input.maxDurationSeconds * 1000);
      // Probe-only monitors hold no watch.
      const watching = kube.length
        ? watchKinds(deps.gateway(input.cluster), watchTargets, onKube, abort.signal)
        : undefined;
      try {
        const result = await Promise.race([done, cancelled, ...(watching ? [watching.then(() => undefined)] : [])]);
        if (signal.aborted) throw new CancelledFailure('cancelled while watching');
        if (stopping)
          throw ApplicationFailure.create({
            message: 'this worker is shutting down: the observation continues on another worker',
            type: FailureType.WorkerShutdown,
            nextRetryDelay: '1s',
          });
        if (!result) throw ApplicationFailure.retryable('watch ended unexpectedly', FailureType.KubeUnavailable);
        return result;
      } catch (err) {
        if (err instanceof CancelledFailure) throw err;
        throw toApplicationFailure(err);
      } finally {
        clearInterval(beat);
        if (shutdownCheck) clearInterval(shutdownCheck);
        if (probeTimer) clearInterval(probeTimer);
        clearTimeout(maxTimer);
        stopped = true;
        clearTimeout(recheck);
        onKube.cancel();
        abort.abort();
        signal.removeEventListener('abort', onCancel);
        await watching?.catch(() => undefined);
      }
    },

    async deliverAlert(input: DeliverAlertInput): Promise<{ channel: string; status: number; skipped?: string }> {
      const channel = deps.alertChannels?.get(input.channel);
      if (!channel) {
        throw ApplicationFailure.nonRetryable(
          `alert channel "${input.channel}" is not configured on this worker (configured: ${[...(deps.alertChannels?.keys() ?? [])].join(', ') || 'none'})`,
          FailureType.InvalidInput,
        );
      }
      if (!severityAtLeast(input.event.severity, channel.minSeverity))
        return { channel: channel.name, status: 0, skipped: 'below minSeverity' };
      if (input.keepAliveOnly && channel.type !== 'alertmanager')
        return { channel: channel.name, status: 0, skipped: 'no keep-alive needed' };
      // Heartbeats while the request is in flight: if this worker dies mid-delivery, Temporal retries the event on
      // another worker after the heartbeat timeout (seconds) instead of the start-to-close timeout (a minute),
      // so a resolve queued behind it is not held back. The retry carries the same dedup key / webhook-id.
      const beat = setInterval(() => heartbeat(), 2_000);
      return classified(async () => {
        try {
          const r = await channel.send(input.event, { signal: cancellationSignal() });
          deps.counters?.inc('kube_workflows_alerts_sent_total', { channel: channel.name, action: input.event.action });
          return { channel: r.channel, status: r.status };
        } catch (err) {
          deps.counters?.inc('kube_workflows_alert_failures_total', { channel: channel.name });
          if (!isAlertDeliveryError(err)) throw err;
          throw ApplicationFailure.create({
            message: err.message,
            type: err.retryable ? FailureType.AlertUnavailable : FailureType.AlertRejected,
            nonRetryable: !err.retryable,
            ...(err.retryAfterSeconds ? { nextRetryDelay: `${Math.min(err.retryAfterSeconds, 600)}s` } : {}),
          });
        } finally {
          clearInterval(beat);
        }
      });
    },
  };
}

/** Selectors parsed so far, by text: every burst of watch events re-matches every object against the same few. */
const parsedSelectors = new Map<string, LabelSelector>();
const MAX_PARSED_SELECTORS = 1_000;

/**
 * Whether labels satisfy a Kubernetes label selector, equality- or set-based ({@link parseLabelSelector}); text is
 * parsed once and remembered. The monitor schema rejects invalid selectors, so one reaching here is a bug: it
 * throws instead of silently matching nothing.
 */
export function matchesSelector(labels: Record<string, string>, selector: string | LabelSelector): boolean {
  if (typeof selector !== 'string') return matches(selector, labels);
  let parsed = parsedSelectors.get(selector);
  if (!parsed) {
    const result = parseLabelSelector(selector);
    if (!result.ok) throw new TypeError(`invalid label selector "${selector}": ${result.error}`);
    if (parsedSelectors.size >= MAX_PARSED_SELECTORS) parsedSelectors.clear();
    parsed = result.selector;
    parsedSelectors.set(selector, parsed);
  }
  return matches(parsed, labels);
}

async function probeHttp(doFetch: typeof fetch, t: Extract<MonitorTarget, { type: 'http' }>): Promise<Observation> {
  const key = `http:${t.id}`;
  try {
    const res = await doFetch(t.url, { signal: AbortSignal.timeout(t.timeoutMs), redirect: 'manual' });
    await res.body?.cancel();
    const ok = res.status === t.expectStatus;
    return { key, healthy: ok, message: ok ? `HTTP ${res.status}` : `HTTP ${res.status}, expected ${t.expectStatus}` };
  } catch (err) {
    return { key, healthy: false, message: `no answer within ${t.timeoutMs} ms: ${(err as Error).name}` };
  }
}

async function probePrometheus(
  doFetch: typeof fetch,
  t: Extract<MonitorTarget, { type: 'prometheus' }>,
): Promise<Observation> {
  const key = `prom:${t.id}`;
  try {
    const url = `${t.url.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(t.query)}`;
    const res = await doFetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as {
      status: string;
      data?: { resultType: string; result: { value?: [number, string] }[] };
      error?: string;
    };
    if (body.status !== 'success' || !body.data)
      return { key, healthy: false, message: `query failed: ${body.error ?? res.status}` };
    const values = body.data.result.map((r) => Number(r.value?.[1]));
    const breaching = values.filter((v) => compare(v, t.op, t.threshold));
    return breaching.length
      ? { key, healthy: false, message: `${t.query} = ${breaching[0]} ${t.op} ${t.threshold}` }
      : { key, healthy: true, message: `${t.query}: ${values.length} series within threshold` };
  } catch (err) {
    return { key, healthy: false, message: `Prometheus unreachable: ${(err as Error).message}` };
  }
}

function compare(v: number, op: string, threshold: number): boolean {
  switch (op) {
    case '>':
      return v > threshold;
    case '>=':
      return v >= threshold;
    case '<':
      return v < threshold;
    case '<=':
      return v <= threshold;
    case '==':
      return v === threshold;
    default:
      return v !== threshold;
  }
}
