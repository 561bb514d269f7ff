/**
 * `scaleWorkload`: read the current count → resolve the target (absolute or relative) → set it through the scale
 * subresource (policy bounds checked before the write) → wait until the workload is Current with the new count,
 * failing fast on pod failures → report `{ outcome, from, to }`. Re-running with the same target changes nothing.
 *
 * A workload that a deploy owns (labelled `kube-workflows.dev/app`) is written under that app's deploy lock (see
 * `./locks.ts`), so a scale never interleaves with a deploy of the app: while the deploy runs the scale is refused,
 * naming the deploy id; while the scale writes, a deploy of the app is refused, naming the scale. The lock is held
 * for the write only: the writes are what conflict, and a deploy started after it plans from the scaled state.
 * @module
 */
import {
  ApplicationFailure,
  defineQuery,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  setWorkflowOptions,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatSubject } from '../domain/subject.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import { ScaleWorkloadInput, type ScaleReport } from '../schemas/scale.js';
import { KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { takeDeployLock } from './locks.js';
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
const { readScale, setScale } = proxyActivities<Activities>({ startToCloseTimeout: '40s', retry });

/** Patch id: runs started before scales took their app's deploy lock replay without it. */
export const SCALE_DEPLOY_LOCK_PATCH = 'scale-takes-deploy-lock';

/** Scales a Deployment or StatefulSet and waits until it is healthy at the new count. */
export async function scaleWorkload(rawInput: ScaleWorkloadInput): Promise<ScaleReport> {
  const run = new ScaleRun(); // progress query
  const input = run.validate(rawInput); // first workflow task: bad input fails here, nothing has run
  await run.read(); // current count (and the app that owns the workload)
  await run.write(); // target → scale subresource, under the app's deploy lock when a deploy owns it
  if (!input.wait) return run.reportUnwaited();
  return run.waitAndReport(); // Current at the new count, failing fast on pod failures
}
setWorkflowOptions({ versioningBehavior: 'PINNED' }, scaleWorkload); // runs finish on the build they started on

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
      await setScale({ ...this.ref(), cluster: current.cluster, replicas: target });
    } finally {
      await lock?.release();
    }
    this.lap('scale');
  }

  reportUnwaited(): ScaleReport {
    const { current, subject, target } = this;
    const outcome = target === current.replicas ? 'unchanged' : 'succeeded';
    return this.finish(outcome, `${subject} scaled ${current.replicas} → ${target} (not waited for)`);
  }

  async waitAndReport(): Promise<ScaleReport> {
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
