/**
 * `observeHealth`: the monitor's eyes. One long-running activity holds one list+watch per (namespace, kind) of the
 * monitored objects (plus Pods, ReplicaSets and Jobs of those namespaces, for fail-fast reasons, resource use and
 * CronJob runs; see `monitor-kube` for what is watched and how missing and deleted objects count), reads PodMetrics
 * once per namespace per interval for resource thresholds, probes HTTP and Prometheus targets on an interval and
 * heartbeats a summary. With `stream`, it SIGNALS each
 * change of health to its workflow ({@link OBSERVATIONS_SIGNAL}: changed targets only) and keeps its watches open,
 * so a transition costs one signal and no relist; it returns after `maxDurationSeconds` (the workflow's
 * housekeeping) or when cancelled. Without `stream` (runs started before streaming existed, or a worker without
 * a Temporal client) it RETURNS as soon as any target's health differs from what the workflow knows. Either way
 * history grows with transitions, not with time. A label selector the API server would reject fails it at once
 * (non-retryable InvalidInput naming the selector). Cancellation, heartbeats, the re-assessment timer and shutdown
 * are {@link HealthWatch}'s, shared with `waitForHealth`.
 *
 * `deliverAlert`: one alert event to ONE channel (a retry re-sends only to the channel that failed). Channel
 * errors are classified: 4xx → AlertRejected (not retried), 429 / 5xx / network → AlertUnavailable with
 * Retry-After honoured through `nextRetryDelay`.
 * @module
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isAlertDeliveryError, severityAtLeast, type AlertChannel } from '../alerts/index.js';
import { FailureType } from '../domain/failures.js';
import type { PodMetricsSample } from '../domain/resource-usage.js';
import { matches, parseLabelSelector, type LabelSelector } from '../domain/selectors.js';
import type { WatchedState } from '../kube/watch.js';
import type { KubeGateway } from '../kube/index.js';
import { OBSERVATIONS_SIGNAL, type AlertEventData, type MonitorTarget } from '../schemas/monitor.js';
import { classified } from './failures.js';
import { HealthWatch, type WatchedCollections } from './health-watch.js';
import {
  KubeAssessor,
  kubeWatchTargets,
  metricsNamespaces,
  type KubeMonitorTarget,
  type MetricsRead,
} from './monitor-kube.js';

/** One target's observed health. */
export interface Observation {
  key: string;
  healthy: boolean;
  message: string;
  /** The target's own `for` window in seconds (a resource threshold's `for`); absent: the monitor's. */
  forSeconds?: number;
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

/** Builds the monitor activities. */
export function createMonitorActivities(deps: MonitorActivityDeps) {
  const doFetch = deps.fetch ?? fetch;

  /** The stream of batches to the workflow, when asked for and this worker can signal it. */
  function streamTo(
    input: ObserveHealthInput,
    watch: HealthWatch<ObserveHealthResult>,
    observations: () => Observation[],
  ): ObservationStream | undefined {
    const run = activityInfo().workflowExecution;
    if (!input.stream || !deps.signalWorkflow || !run) return undefined;
    return new ObservationStream({
      send: (batch) => deps.signalWorkflow?.(run, OBSERVATIONS_SIGNAL, batch) ?? Promise.resolve(),
      epoch: input.stream.epoch,
      known: input.known,
      // batches of the failed attempt may have moved the workflow on from `known`
      full: activityInfo().attempt > 1,
      observations,
      stopped: watch.signal,
      onRunEnded: (current) => watch.settle({ observations: current, changed: [] }),
      onSendFailed: () => deps.counters?.inc('kube_workflows_observation_signal_failures_total'),
    });
  }

  return {
    async observeHealth(input: ObserveHealthInput): Promise<ObserveHealthResult> {
      assertValidSelectors(input.targets);
      const kube = input.targets.filter((t): t is KubeMonitorTarget => t.type === 'kube');
      const probes = input.targets.filter((t): t is ProbeTarget => t.type !== 'kube');
      // Undefined until first observed (the watch synced, the first probe round done): no change is judged before.
      let kubeObs: Observation[] | undefined = kube.length ? undefined : [];
      let probeObs: Observation[] | undefined = probes.length ? undefined : [];
      const all = (): Observation[] => [...(kubeObs ?? []), ...(probeObs ?? [])];
      const watch = new HealthWatch<ObserveHealthResult>({
        heartbeat: () => {
          const observations = all();
          return { healthy: observations.filter((o) => o.healthy).length, total: observations.length };
        },
        heartbeatIntervalMs: 5_000,
        cancelledMessage: 'cancelled while watching',
      });
      const stream = streamTo(input, watch, all);
      const check = (): void => {
        if (!kubeObs || !probeObs) return;
        if (stream) return void stream.update();
        const observations = all();
        const changed = changedKeys(input.known, observations);
        if (changed.length) watch.settle({ observations, changed });
      };

      if (probes.length) {
        const probeAll = async (): Promise<void> => {
          probeObs = await probeTargets(doFetch, probes);
          check();
        };
        watch.every(input.probeIntervalSeconds * 1000, () => void probeAll().catch(() => undefined));
        void probeAll().catch(() => undefined);
      }
      // Probe-only monitors hold no watch.
      const kubeView = kube.length
        ? observeKube(deps, input, kube, watch, (observations) => {
            kubeObs = observations;
            check();
          })
        : undefined;
      if (deps.workerStopping) {
        watch.every(250, () => {
          if (deps.workerStopping?.()) watch.fail(workerShutdown());
        });
      }
      watch.settleAfter(input.maxDurationSeconds * 1000, () => ({ observations: all(), changed: [] }));
      return watch.run(kubeView);
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

type ProbeTarget = Exclude<MonitorTarget, { type: 'kube' }>;

/**
 * Fails with a non-retryable InvalidInput naming the first label selector the API server would reject. The monitor
 * schema rejects them already; this guards inputs that did not pass through it (histories from before the check).
 */
function assertValidSelectors(targets: readonly MonitorTarget[]): void {
  for (const t of targets) {
    if (t.type !== 'kube' || t.selector === undefined) continue;
    const parsed = parseLabelSelector(t.selector);
    if (!parsed.ok) {
      throw ApplicationFailure.nonRetryable(
        `kube target in namespace ${t.namespace}: invalid label selector "${t.selector}": ${parsed.error}`,
        FailureType.InvalidInput,
      );
    }
  }
}

/** The failure that moves an observation off a worker that is shutting down. */
function workerShutdown(): ApplicationFailure {
  return ApplicationFailure.create({
    message: 'this worker is shutting down: the observation continues on another worker',
    type: FailureType.WorkerShutdown,
    nextRetryDelay: '1s',
  });
}

/**
 * The kube half of an observation: the collections to watch, assessed by a {@link KubeAssessor}, plus one LIST of
 * PodMetrics per namespace with resource thresholds every probe interval (use changes with no watch event), after
 * which the last watch cache is assessed again. `publish` receives every observation of the kube targets.
 */
function observeKube(
  deps: MonitorActivityDeps,
  input: ObserveHealthInput,
  kube: readonly KubeMonitorTarget[],
  watch: HealthWatch<ObserveHealthResult>,
  publish: (observations: Observation[]) => void,
): WatchedCollections {
  const gateway = deps.gateway(input.cluster);
  const assessor = new KubeAssessor(kube, input.known);
  const metrics = new Map<string, MetricsRead>();
  let last: WatchedState | undefined;
  const assess = (state: WatchedState, now: Date): Date | undefined => {
    last = state;
    const assessed = assessor.assess(state, now, metrics);
    publish(assessed.observations);
    return assessed.recheckAt;
  };
  const namespaces = metricsNamespaces(kube);
  if (namespaces.length) {
    const poll = async (): Promise<void> => {
      await Promise.all(
        namespaces.map(async (namespace) => {
          try {
            const { items } = await gateway.list(POD_METRICS.apiVersion, POD_METRICS.kind, { namespace });
            metrics.set(namespace, { samples: items as unknown as PodMetricsSample[] });
          } catch (err) {
            deps.counters?.inc('kube_workflows_pod_metrics_failures_total');
            metrics.set(namespace, { error: (err as Error).message });
          }
        }),
      );
      if (last && !watch.signal.aborted) assess(last, new Date());
    };
    watch.every(input.probeIntervalSeconds * 1000, () => void poll().catch(() => undefined));
    void poll().catch(() => undefined);
  }
  return { gateway, targets: kubeWatchTargets(kube), assess };
}

/** The metrics API's per-pod usage (metrics-server). */
const POD_METRICS = { apiVersion: 'metrics.k8s.io/v1beta1', kind: 'PodMetrics' } as const;

/** Keys whose health differs from what the workflow knows: new or flipped targets, then those no longer observed. */
function changedKeys(known: Readonly<Record<string, boolean>>, observations: readonly Observation[]): string[] {
  const current = new Set(observations.map((o) => o.key));
  return [
    ...observations.filter((o) => known[o.key] !== o.healthy).map((o) => o.key),
    ...Object.keys(known).filter((k) => !current.has(k)),
  ];
}

/** One round of probes, in target order. */
async function probeTargets(doFetch: typeof fetch, probes: readonly ProbeTarget[]): Promise<Observation[]> {
  const observations = await Promise.all(
    probes.map((t) => (t.type === 'http' ? probeHttp(doFetch, t) : probePrometheus(doFetch, t))),
  );
  return [...new Map(observations.map((o) => [o.key, o])).values()];
}

/** What an {@link ObservationStream} needs. */
interface ObservationStreamOptions {
  /** Signals one batch to the workflow; rejects with a `WorkflowNotFoundError` once its run has ended. */
  send(batch: ObservationBatch): Promise<void>;
  epoch: number;
  /** Health per key as the workflow knew it when the activity started. */
  known: Record<string, boolean>;
  /** Start with a full snapshot. */
  full: boolean;
  /** Every current observation. */
  observations(): Observation[];
  /** Aborted when the observation is over: stop re-sending. */
  stopped: AbortSignal;
  /** The run has ended: nobody listens any more. */
  onRunEnded(observations: Observation[]): void;
  onSendFailed(): void;
}

/**
 * Signals the workflow what changed since the last batch it accepted. One batch is in flight at a time; changes
 * meanwhile go into the next one. A failed signal is sent again, backing off, until accepted or stopped.
 */
class ObservationStream {
  readonly #options: ObservationStreamOptions;
  /** Health per key as the workflow knows it: the input, then every batch it has accepted. */
  readonly #reported: Map<string, boolean>;
  #needFull: boolean;
  #sending = false;
  /** Something changed while a batch was in flight. */
  #dirty = false;

  constructor(options: ObservationStreamOptions) {
    this.#options = options;
    this.#reported = new Map(Object.entries(options.known));
    this.#needFull = options.full;
  }

  /** Sends what changed (or marks it for the batch after the one in flight). */
  async update(): Promise<void> {
    if (this.#sending) {
      this.#dirty = true;
      return;
    }
    this.#sending = true;
    try {
      do {
        this.#dirty = false;
        const observations = this.#options.observations();
        const batch = this.#batch(observations);
        if (!batch) continue;
        if (!(await this.#deliver(batch))) return this.#options.onRunEnded(observations);
        if (batch.full) {
          this.#needFull = false;
          this.#reported.clear();
        }
        for (const o of batch.observations) this.#reported.set(o.key, o.healthy);
        for (const k of batch.removed) this.#reported.delete(k);
      } while (this.#dirty && !this.#options.stopped.aborted);
    } finally {
      this.#sending = false;
    }
  }

  /** The next batch, or undefined when nothing differs from what the workflow knows. */
  #batch(observations: Observation[]): ObservationBatch | undefined {
    const { epoch } = this.#options;
    if (this.#needFull) return { epoch, observations, removed: [], full: true };
    const current = new Set(observations.map((o) => o.key));
    const batch = {
      epoch,
      observations: observations.filter((o) => this.#reported.get(o.key) !== o.healthy),
      removed: [...this.#reported.keys()].filter((k) => !current.has(k)),
    };
    return batch.observations.length || batch.removed.length ? batch : undefined;
  }

  /** Sends until accepted or stopped; false when the run has ended. */
  async #deliver(batch: ObservationBatch): Promise<boolean> {
    for (let attempt = 1; !this.#options.stopped.aborted; attempt += 1) {
      try {
        await this.#options.send(batch);
        return true;
      } catch (err) {
        // the run ended (continued as new, cancelled): nobody is listening any more
        if ((err as Error).name === 'WorkflowNotFoundError') return false;
        this.#options.onSendFailed();
        await new Promise((r) => setTimeout(r, Math.min(attempt, 10) * 500));
      }
    }
    return true;
  }
}

/** Selectors parsed so far, by text: every burst of watch events re-matches every object against the same few. */
const parsedSelectors = new Map<string, LabelSelector>();
const MAX_PARSED_SELECTORS = 1_000;

/**
 * Whether labels satisfy a Kubernetes label selector, equality- or set-based ({@link parseLabelSelector}); text is
 * parsed once and remembered. The monitor schema and `observeHealth` reject invalid selectors, so one reaching here
 * is a bug: it throws instead of silently matching nothing.
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
