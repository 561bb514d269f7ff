/**
 * `scaleWorkload`: read the current count → resolve the target (absolute or relative) → set it through the scale
 * subresource (policy bounds checked before the write) → wait until the workload is Current with the new count,
 * failing fast on pod failures → report `{ outcome, from, to }`. Re-running with the same target changes nothing.
 *
 * A workload that a deploy owns (labelled `kube-workflows.dev/app`) is written under that app's deploy lock (see
 * `./locks.ts`), so a scale never interleaves with a deploy of the app: while the deploy runs the scale is refused,
 * naming the deploy id; while the scale writes, a deploy of the app is refused, naming the scale. The lock is held
 * for the write only: the writes are what conflict, and a deploy started after it plans from the scaled state.
 *
 * An autoscaled workload (a HorizontalPodAutoscaler or KEDA ScaledObject targets it, as `readScale` reports) is never
 * given a count: with `hpa: 'adjust'` (default) the autoscaler's floor moves to the target (`minReplicas = target`,
 * `maxReplicas = max(current max, target)`, domain/autoscaler `decideAutoscaledScale`), the scale waits until the
 * autoscaler has brought the workload within the new bounds and it is Current, and the report carries the bounds
 * before and after; with `hpa: 'refuse'` it fails naming the autoscaler. A scale to 0 is refused (it would switch the
 * autoscaler off silently) unless `force`. Refusals happen before any write.
 * @module
 */
import {
  ApplicationFailure,
  defineQuery,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { decideAutoscaledScale, type AutoscaledScale } from '../domain/autoscaler.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { scaleAlertFacts } from '../domain/op-alert-facts.js';
import { formatSubject } from '../domain/subject.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import { ScaleWorkloadInput, type ScaleReport } from '../schemas/scale.js';
import { KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { takeDeployLock } from './locks.js';
import { OutcomeAlert } from './notify-outcome.js';
import { upsertKubeAttributes } from './upsert.js';

/** What the `progress` query of a scale returns. */
export interface ScaleProgress {
  phase: 'reading' | 'scaling' | 'waiting' | 'done';
  message: string;
  from?: number;
  to?: number;
}

/** Query: the phase of a scale. */
export const scaleProgressQuery = defineQuery<ScaleProgress>('progress');

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
// One GET and one PATCH each: a worker that dies mid-call is noticed after 40 s, not after minutes.
const { readScale, setScale, setAutoscalerBounds } = proxyActivities<Activities>({
  startToCloseTimeout: '40s',
  retry,
});

/** Patch id: runs started before scales took their app's deploy lock replay without it. */
export const SCALE_DEPLOY_LOCK_PATCH = 'scale-takes-deploy-lock';
/**
 * Patch id: scales of autoscaled workloads move the autoscaler's bounds (or are refused) instead of writing the
 * count. Only runs whose `readScale` reported an autoscaler take this path (older workers never reported one).
 */
export const SCALE_AUTOSCALER_PATCH = 'scale-autoscaler-aware';
/** How often a scale of an autoscaled workload looks whether the autoscaler brought the count within its bounds. */
export const AUTOSCALER_POLL_INTERVAL = '2s';

/** Scales a Deployment or StatefulSet and waits until it is healthy at the new count. */
export async function scaleWorkload(rawInput: ScaleWorkloadInput): Promise<ScaleReport> {
  const run = new ScaleRun(); // progress query
  const input = run.validate(rawInput); // first workflow task: bad input fails here, nothing has run
  // `notify`: channels checked before the write; one alert at the end (default: when it fails)
  const alert = new OutcomeAlert(input.notify, (r: ScaleReport) => scaleAlertFacts(r, input.namespace));
  const { cluster, namespace, kind, name } = input;
  return alert.around(
    () => scaleSteps(run, input),
    () => ({
      cluster,
      namespace,
      done: [],
      undone: [],
      evidence: [{ cluster: cluster ?? '', objects: [{ kind, namespace, name }] }],
    }),
  );
}

async function scaleSteps(run: ScaleRun, input: ScaleWorkloadOptions): Promise<ScaleReport> {
  await run.read(); // current count (and the app that owns the workload)
  await run.write(); // target → scale subresource, under the app's deploy lock when a deploy owns it
  if (!input.wait) return run.reportUnwaited();
  return run.waitAndReport(); // Current at the new count, failing fast on pod failures
}

/** A scale's input after defaults. */
type ScaleWorkloadOptions = z.output<typeof ScaleWorkloadInput>;

/** The steps of one scale, over explicit state. */
class ScaleRun {
  private readonly started = Date.now();
  private readonly progress: ScaleProgress = { phase: 'reading', message: 'reading the current replica count' };
  private readonly durationsMs: Record<string, number> = {};
  private lapStart = Date.now();
  private input!: ScaleWorkloadOptions;
  private subject = '';
  private current!: Awaited<ReturnType<Activities['readScale']>>;
  private target = 0;
  /** For an autoscaled workload: what the scale does instead of writing the count (domain/autoscaler). */
  private autoscaled: AutoscaledScale | undefined;
  /** The autoscaler's bounds before and after, once written. */
  private bounds: Awaited<ReturnType<Activities['setAutoscalerBounds']>> | undefined;

  constructor() {
    setHandler(scaleProgressQuery, () => this.progress);
  }

  validate(raw: ScaleWorkloadInput): ScaleWorkloadOptions {
    const parsed = ScaleWorkloadInput.safeParse(raw);
    if (!parsed.success) {
      throw ApplicationFailure.nonRetryable(
        `invalid scale input:\n${z.prettifyError(parsed.error)}`,
        FailureType.InvalidInput,
      );
    }
    this.input = parsed.data;
    this.subject = formatSubject(this.input);
    upsertKubeAttributes([{ key: KubeNamespace, value: this.input.namespace }]);
    return this.input;
  }

  /** Reads the current count; resolves the target (absolute, or current + delta: never below zero). */
  async read(): Promise<void> {
    this.current = await readScale(this.ref());
    upsertKubeAttributes([{ key: KubeCluster, value: this.current.cluster }]);
    this.lap('read');
    this.target = this.input.replicas ?? this.current.replicas + (this.input.delta ?? 0);
    Object.assign(this.progress, { from: this.current.replicas, to: this.target });
    if (this.target < 0) {
      throw ApplicationFailure.nonRetryable(
        `${this.subject}: ${this.current.replicas} ${this.input.delta} would be ${this.target} replicas`,
        FailureType.InvalidInput,
      );
    }
    const { autoscaler } = this.current;
    if (autoscaler && patched(SCALE_AUTOSCALER_PATCH)) {
      const { subject, target, input } = this;
      this.autoscaled = decideAutoscaledScale({ subject, autoscaler, target, policy: input.hpa, force: input.force });
      if (this.autoscaled.action === 'refuse') {
        throw ApplicationFailure.nonRetryable(this.autoscaled.message, FailureType.PolicyViolation);
      }
    }
  }

  /** Sets the count (always, even when equal: the policy bounds are checked), holding the app's deploy lock. */
  async write(): Promise<void> {
    const { current, subject, target } = this;
    this.enter('scaling', `${current.replicas} → ${target}`);
    const lock =
      current.app && patched(SCALE_DEPLOY_LOCK_PATCH)
        ? await takeDeployLock(
            deployWorkflowId({ cluster: current.cluster, namespace: this.input.namespace, app: current.app }),
            `scale ${subject} to ${target}`,
            `scale of ${subject} (app ${current.app}) refused`,
          )
        : undefined;
    try {
      const { autoscaled } = this;
      if (autoscaled?.action === 'bounds' && current.autoscaler) {
        const { apiVersion, kind, namespace, name } = current.autoscaler;
        this.enter('scaling', autoscaled.message);
        this.bounds = await setAutoscalerBounds({
          ...this.ref(),
          cluster: current.cluster,
          autoscaler: { apiVersion, kind, namespace, name },
          minReplicas: autoscaled.minReplicas,
          maxReplicas: autoscaled.maxReplicas,
        });
      } else {
        await setScale({ ...this.ref(), cluster: current.cluster, replicas: target });
      }
    } finally {
      await lock?.release();
    }
    this.lap('scale');
  }

  reportUnwaited(): ScaleReport {
    const { current, subject, target } = this;
    if (this.autoscaled?.action === 'bounds') {
      const { minReplicas, maxReplicas } = this.autoscaled;
      const expected = Math.min(Math.max(current.replicas, minReplicas), maxReplicas);
      return this.finishAutoscaled(this.autoscaled, expected, 'once the autoscaler acts (not waited for)');
    }
    const outcome = target === current.replicas ? 'unchanged' : 'succeeded';
    return this.finish(outcome, `${subject} scaled ${current.replicas} → ${target} (not waited for)`);
  }

  async waitAndReport(): Promise<ScaleReport> {
    const { autoscaled } = this;
    if (autoscaled?.action === 'bounds') return this.waitForAutoscaler(autoscaled);
    const { current, subject, target, input } = this;
    this.enter('waiting', `waiting for ${target} ready replicas`);
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${input.timeoutSeconds + 120}s`,
      heartbeatTimeout: '20s',
      retry,
    });
    const health = await waitForHealth({
      cluster: current.cluster,
      objects: [{ apiVersion: 'apps/v1', kind: input.kind, namespace: input.namespace, name: input.name, subject }],
      deadlineMs: Date.now() + input.timeoutSeconds * 1000,
      timeoutSeconds: input.timeoutSeconds,
    });
    this.lap('wait');
    const h = health.objects[0];
    const extra = h ? { status: h.status, reason: h.reason } : {};
    if (health.outcome !== 'Current')
      return this.finish('failed', `${subject} scaled to ${target} but is not healthy: ${health.message}`, extra);
    const outcome = target === current.replicas ? 'unchanged' : 'succeeded';
    return this.finish(
      outcome,
      `${subject} scaled ${current.replicas} → ${target}, all ${target} replicas ready`,
      extra,
    );
  }

  /**
   * After new bounds: waits (polling the count every {@link AUTOSCALER_POLL_INTERVAL}) until the autoscaler has
   * brought the workload within them, then until it is Current at that count, within the one timeout.
   */
  private async waitForAutoscaler(autoscaled: Extract<AutoscaledScale, { action: 'bounds' }>): Promise<ScaleReport> {
    const { subject, input } = this;
    const { minReplicas: min, maxReplicas: max } = autoscaled;
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    this.enter('waiting', `waiting for the autoscaler to bring ${subject} within ${min}–${max}`);
    let count = this.current.replicas;
    while (count < min || count > max) {
      if (Date.now() >= deadline) {
        return this.finishAutoscaled(autoscaled, count, 'but the autoscaler did not act in time', 'failed');
      }
      await sleep(AUTOSCALER_POLL_INTERVAL);
      count = (await readScale(this.ref())).replicas;
    }
    this.enter('waiting', `waiting for ${count} ready replicas`);
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${input.timeoutSeconds + 120}s`,
      heartbeatTimeout: '20s',
      retry,
    });
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const health = await waitForHealth({
      cluster: this.current.cluster,
      objects: [{ apiVersion: 'apps/v1', kind: input.kind, namespace: input.namespace, name: input.name, subject }],
      deadlineMs: deadline,
      timeoutSeconds: seconds,
    });
    this.lap('wait');
    const h = health.objects[0];
    const extra = h ? { status: h.status, reason: h.reason } : {};
    if (health.outcome !== 'Current') {
      return this.finishAutoscaled(autoscaled, count, `but it is not healthy: ${health.message}`, 'failed', extra);
    }
    return this.finishAutoscaled(autoscaled, count, `all ${count} replicas ready`, undefined, extra);
  }

  /** The report of a scale that moved an autoscaler's bounds. */
  private finishAutoscaled(
    autoscaled: Extract<AutoscaledScale, { action: 'bounds' }>,
    count: number,
    how: string,
    failed?: 'failed',
    extra: Partial<ScaleReport> = {},
  ): ScaleReport {
    const { current } = this;
    const autoscaler = current.autoscaler;
    const from = { minReplicas: autoscaler?.minReplicas ?? 0, maxReplicas: autoscaler?.maxReplicas ?? 0 };
    const to = this.bounds?.bounds ?? { minReplicas: autoscaled.minReplicas, maxReplicas: autoscaled.maxReplicas };
    const moved = count === current.replicas ? `stays at ${count}` : `${current.replicas} → ${count}`;
    const outcome = failed ?? (autoscaled.unchanged && count === current.replicas ? 'unchanged' : 'succeeded');
    return this.finish(outcome, `${autoscaled.message}; replicas ${moved}, ${how}`, {
      ...extra,
      to: count,
      ...(autoscaler ? { autoscaler: { kind: autoscaler.kind, name: autoscaler.name, from, to } } : {}),
    });
  }

  private ref(): { cluster: string; kind: ScaleWorkloadOptions['kind']; namespace: string; name: string } {
    const { cluster, kind, namespace, name } = this.input;
    return { cluster: cluster ?? '', kind, namespace, name };
  }

  private enter(phase: ScaleProgress['phase'], message: string): void {
    this.progress.phase = phase;
    this.progress.message = message;
    setCurrentDetails(`**${phase}** ${this.subject}: ${message}`);
  }

  private lap(name: string): void {
    this.durationsMs[name] = Date.now() - this.lapStart;
    this.lapStart = Date.now();
  }

  private finish(outcome: ScaleReport['outcome'], message: string, extra: Partial<ScaleReport> = {}): ScaleReport {
    this.progress.phase = 'done';
    this.progress.message = message;
    setCurrentDetails(`**done** — ${message}`);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    this.durationsMs.total = Date.now() - this.started;
    const { current, subject, target, durationsMs } = this;
    return {
      outcome,
      cluster: current.cluster,
      subject,
      from: current.replicas,
      to: target,
      durationsMs,
      message,
      ...extra,
    };
  }
}
