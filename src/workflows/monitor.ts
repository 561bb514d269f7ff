/**
 * `monitorHealth`: a long-running monitor. The `observeHealth` activity watches (one list+watch per namespace and
 * kind) and probes, and signals this workflow each transition (the `observations` signal, changed targets only)
 * while keeping its watches open; it returns every {@link OBSERVE_MAX_SECONDS} for housekeeping, or is cancelled
 * and restarted when the targets change. Each target runs the incident state machine of `domain/incidents`:
 *
 *   healthy → pending (unhealthy for less than `forSeconds`) → degraded (fires ONE incident) → healthy (resolves it)
 *
 * Each incident has a stable dedupe key `<workflowId>/<target>/<incident number>`, carried across retries,
 * worker restarts and continue-as-new, so a degradation pages once and resolves itself. Controls: the `status`
 * query, and validated updates to add/remove targets and pause/resume; they take effect between observation
 * rounds. This module only orchestrates: every decision is a pure function of `domain/incidents`.
 *
 * Replay: the order of commands is part of the contract with running monitors (test/fixtures/histories). Alerts
 * are queued, and their activities scheduled when the workflow next waits, so a tick must run in the same
 * synchronous stretch as the wait (timer, next observation) that follows it; do not add an `await` in between.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  makeContinueAsNewFunc,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities, ObservationBatch, ObserveHealthResult } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import {
  alertEvent,
  carryOver,
  describeIncidents,
  keepAliveOnly,
  nextDeadline,
  observe,
  restoreIncidents,
  setPaused,
  summarize,
  tick,
  type AlertContext,
  type AlertEffect,
  type HealthChange,
  type IncidentRules,
  type IncidentState,
} from '../domain/incidents.js';
import { MonitorHealthInput, MonitorTarget, type MonitorStatus } from '../schemas/monitor.js';
import {
  addTargetsUpdate,
  DELIVERY_GIVE_UP_AFTER,
  monitorStatusQuery,
  observationsSignal,
  OBSERVE_MAX_SECONDS,
  REMINDER_CLOCK_PATCH,
  removeTargetsUpdate,
  setPausedUpdate,
  STREAMING_PATCH,
} from './monitor-definitions.js';
import { KubeCluster, KubeNamespace } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

export * from './monitor-definitions.js';

const retry = { maximumInterval: '1m', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { observeHealth } = proxyActivities<Activities>({
  startToCloseTimeout: `${OBSERVE_MAX_SECONDS + 120}s`,
  // the activity heartbeats every 5 s: a dead worker is noticed, and observation moves to another, within 15 s
  heartbeatTimeout: '15s',
  retry,
});
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: DELIVERY_GIVE_UP_AFTER,
  retry: { ...retry, initialInterval: '2s' },
});

/** The validated input. */
type MonitorConfig = z.output<typeof MonitorHealthInput>;

/** Watches targets and alerts on degradation; runs until cancelled, continuing-as-new to keep history short. */
export async function monitorHealth(rawInput: MonitorHealthInput): Promise<never> {
  const input = validInput(rawInput);
  // Runs started before observations were streamed keep returning from the activity on each change.
  const streaming = patched(STREAMING_PATCH);
  const monitor = new Monitor(input, workflowInfo().workflowId);
  tagSearchAttributes(input);
  monitor.showDetails();
  for (let round = 1; ; round += 1) {
    if (monitor.state.paused) {
      await condition(() => !monitor.controls.paused);
      monitor.resume();
      continue;
    }
    const observation = monitor.observe(streaming);
    // Wake on: streamed changes, the activity's end, a control change, or the next time-based transition.
    for (;;) {
      const woke = await condition(() => monitor.news() || observation.settled(), monitor.untilDeadline() ?? '1 day');
      if (!woke) {
        monitor.tick(); // a pending target's `for` window elapsed, or a keep-alive is due
        continue;
      }
      if (!monitor.applyBatches()) break;
      round += 1; // each streamed change counts as a round towards maxIterationsPerRun
      if (monitor.handOverDue(round) || observation.settled() || monitor.controls.changed) break;
    }
    if (!observation.settled()) {
      observation.scope.cancel(); // controls changed or the run hands over: stop this observation
      await observation.done;
    }
    if (observation.failure !== undefined && !isCancellation(observation.failure)) throw observation.failure as Error;
    if (observation.result) monitor.record({ ...observation.result, full: true });
    monitor.tick();
    monitor.applyControls();
    if (monitor.handOverDue(round)) {
      // Alerts in flight are finished before the run hands over; their state is already in `monitor.state`.
      await monitor.alerts.drain();
      // With Worker Versioning a run is pinned to its build (the worker's default behaviour); a new current
      // build takes over at this hand-over: the next run's first task goes to it, and the run is pinned there.
      const upgrade = workflowInfo().targetWorkerDeploymentVersionChanged;
      await (
        upgrade
          ? makeContinueAsNewFunc<typeof monitorHealth>({ initialVersioningBehavior: 'AUTO_UPGRADE' })
          : continueAsNew<typeof monitorHealth>
      )(monitor.carriedInput(rawInput));
    }
  }
}

/** Parses the input, or fails the workflow (not retried) saying which field is wrong. */
function validInput(rawInput: MonitorHealthInput): MonitorConfig {
  const parsed = MonitorHealthInput.safeParse(rawInput);
  if (parsed.success) return parsed.data;
  throw ApplicationFailure.nonRetryable(
    `invalid monitor input:\n${z.prettifyError(parsed.error)}`,
    FailureType.InvalidInput,
  );
}

/** Lets operators find the monitor by cluster and (first) namespace. */
function tagSearchAttributes(input: MonitorConfig): void {
  const namespaces = [...new Set(input.targets.filter((t) => t.type === 'kube').map((t) => t.namespace))];
  upsertKubeAttributes([
    ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
    ...(namespaces[0] ? [{ key: KubeNamespace, value: namespaces[0] }] : []),
  ]);
}

/** One `observeHealth` activity, running in its own cancellation scope; `result`/`failure` are set when it ends. */
interface Observation {
  readonly scope: CancellationScope;
  readonly done: Promise<unknown>;
  result?: ObserveHealthResult;
  failure?: unknown;
  settled(): boolean;
}

/** The controls people change through updates; they take effect between observation rounds. */
interface Controls {
  targets: MonitorTarget[];
  paused: boolean;
  /** A control changed since the current round began: the round ends early. */
  changed: boolean;
}

/**
 * One run of a monitor: the incident state, the controls, the alert queue and the streamed batches, with the
 * signal, query and update handlers that read and change them.
 */
class Monitor {
  state: IncidentState;
  readonly controls: Controls;
  readonly alerts: AlertQueue;
  private readonly rules: IncidentRules;
  /** Which observation activity the workflow listens to; batches of an earlier one are dropped. */
  private epoch = 0;
  private readonly batches: ObservationBatch[] = [];

  constructor(
    private readonly input: MonitorConfig,
    workflowId: string,
  ) {
    this.state = restoreIncidents(input.state);
    this.controls = { targets: input.targets, paused: this.state.paused, changed: false };
    this.rules = {
      workflowId,
      forSeconds: input.forSeconds,
      keepAliveSeconds: input.keepAliveSeconds,
      remindEverySeconds: input.remindEverySeconds,
      // Runs started before reminders had a clock of their own replay with the old one (asked only when reminding).
      legacyReminderClock: input.remindEverySeconds !== undefined && !patched(REMINDER_CLOCK_PATCH),
    };
    const context: AlertContext = { workflowId, monitor: input.name, severity: input.severity, url: input.url };
    this.alerts = new AlertQueue(input.channels, context);
    setHandler(observationsSignal, (b) => {
      if (b.epoch === this.epoch) this.batches.push(b);
    });
    setHandler(monitorStatusQuery, () => this.status());
    registerControls(this.controls);
  }

  /** Starts this round's observation of the current targets, relative to the health the workflow knows. */
  observe(streaming: boolean): Observation {
    this.controls.changed = false;
    this.epoch += 1;
    this.batches.length = 0;
    const known = Object.fromEntries([...this.state.targets.values()].map((t) => [t.key, t.healthy]));
    const scope = new CancellationScope();
    const observation: Observation = {
      scope,
      done: scope
        .run(() =>
          observeHealth({
            cluster: this.input.cluster ?? '',
            targets: this.controls.targets,
            known,
            maxDurationSeconds: OBSERVE_MAX_SECONDS,
            probeIntervalSeconds: this.input.probeIntervalSeconds,
            ...(streaming ? { stream: { epoch: this.epoch } } : {}),
          }),
        )
        .then(
          (r) => (observation.result = r),
          (err: unknown) => (observation.failure = err),
        ),
      settled: () => observation.result !== undefined || observation.failure !== undefined,
    };
    return observation;
  }

  /** Streamed batches are waiting, or a control changed. */
  news(): boolean {
    return this.batches.length > 0 || this.controls.changed;
  }

  /** Applies the streamed batches and ticks; false when there were none. */
  applyBatches(): boolean {
    if (!this.batches.length) return false;
    for (const b of this.batches.splice(0)) this.record(b);
    this.tick();
    return true;
  }

  /** Records observed health (no alert by itself). */
  record(change: HealthChange): void {
    this.state = observe(this.state, change, Date.now());
  }

  /** Runs the state machine at the current workflow time and queues the alerts it decides. */
  tick(): void {
    const step = tick(this.state, Date.now(), this.rules);
    this.state = step.state;
    for (const effect of step.effects) this.alerts.send(effect);
    this.showDetails();
  }

  /** Milliseconds until the next time-based transition, if any. */
  untilDeadline(): number | undefined {
    return nextDeadline(this.state, Date.now(), this.rules);
  }

  /** Applies a requested pause between rounds. */
  applyControls(): void {
    this.state = setPaused(this.state, this.controls.paused);
  }

  /** Resumed: the next round observes again. */
  resume(): void {
    this.controls.changed = false;
    this.applyControls();
  }

  /** Whether this run should continue-as-new: Temporal suggests it, or the run did `maxIterationsPerRun` rounds. */
  handOverDue(rounds: number): boolean {
    const info = workflowInfo();
    // a new current worker build (Worker Versioning) is also a reason to hand over: the next run moves to it
    return (
      info.continueAsNewSuggested ||
      info.targetWorkerDeploymentVersionChanged ||
      rounds >= this.input.maxIterationsPerRun
    );
  }

  /** The input of the next run: the same monitor, the current targets, and the incident state. */
  carriedInput(rawInput: MonitorHealthInput): MonitorHealthInput {
    return { ...rawInput, targets: this.controls.targets, state: carryOver(this.state) };
  }

  status(): MonitorStatus {
    return {
      name: this.input.name,
      paused: this.controls.paused,
      ...summarize(this.state),
      deliveryErrors: { ...this.alerts.errors },
    };
  }

  showDetails(): void {
    setCurrentDetails(describeIncidents(this.state, this.controls.paused));
  }
}

/** Registers the updates that add/remove targets and pause/resume; each ends the current round. */
function registerControls(controls: Controls): void {
  const validTargets = (u: { targets: MonitorTarget[] }): void => {
    const r = z.object({ targets: z.array(MonitorTarget).min(1) }).safeParse(u);
    if (!r.success) throw new Error(`invalid targets: ${z.prettifyError(r.error)}`);
  };
  setHandler(
    addTargetsUpdate,
    (u) => {
      controls.targets = [...controls.targets, ...z.array(MonitorTarget).parse(u.targets)];
      controls.changed = true;
      return controls.targets.length;
    },
    { validator: validTargets },
  );
  setHandler(
    removeTargetsUpdate,
    (u) => {
      const remove = new Set(u.targets.map((t) => JSON.stringify(z.array(MonitorTarget).parse([t])[0])));
      controls.targets = controls.targets.filter((t) => !remove.has(JSON.stringify(t)));
      controls.changed = true;
      return controls.targets.length;
    },
    { validator: validTargets },
  );
  setHandler(
    setPausedUpdate,
    (u) => {
      controls.paused = u.paused;
      controls.changed = true;
      return controls.paused;
    },
    { validator: (u) => void z.object({ paused: z.boolean(), reason: z.string().optional() }).parse(u) },
  );
}

/**
 * Alert deliveries. They run in the background so that a channel that is down (retried with backoff up to
 * {@link DELIVERY_GIVE_UP_AFTER}) never stalls observation of the other targets; per target they are chained, so
 * a resolve never overtakes its trigger. A queued delivery schedules its activities when the workflow next waits.
 */
class AlertQueue {
  /** Last delivery error per channel (cleared by the next success). */
  readonly errors: Record<string, string> = {};
  /** The latest queued delivery per target. */
  private readonly deliveries = new Map<string, Promise<void>>();

  constructor(
    private readonly channels: string[],
    private readonly context: AlertContext,
  ) {}

  send(effect: AlertEffect): void {
    const event = alertEvent(effect, this.context);
    const previous = this.deliveries.get(effect.target) ?? Promise.resolve();
    const next = previous.then(() => this.deliver(event, keepAliveOnly(effect)));
    this.deliveries.set(effect.target, next);
    void next.then(() => {
      if (this.deliveries.get(effect.target) === next) this.deliveries.delete(effect.target);
    });
  }

  /** Resolves when every queued delivery has ended. */
  async drain(): Promise<void> {
    await Promise.all(this.deliveries.values());
  }

  private async deliver(event: ReturnType<typeof alertEvent>, keepAliveOnly: boolean): Promise<void> {
    // One activity per channel: a retry re-sends only to the channel that failed. A channel that refuses
    // (misconfigured, 4xx) or stays down must not stop the monitor: its error is kept for the status query.
    const results = await Promise.allSettled(
      this.channels.map((channel) => deliverAlert({ channel, event, keepAliveOnly })),
    );
    results.forEach((r, i) => {
      const channel = this.channels[i] ?? '';
      if (r.status === 'rejected') {
        const err = r.reason as Error & { cause?: Error };
        this.errors[channel] = err.cause?.message ?? err.message;
      } else delete this.errors[channel];
    });
  }
}
