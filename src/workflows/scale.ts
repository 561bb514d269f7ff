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
const { readScale, setScale } = proxyActivities<Activities>({ startToCloseTimeout: '2m', retry });

/** Patch id: runs started before scales took their app's deploy lock replay without it. */
export const SCALE_DEPLOY_LOCK_PATCH = 'scale-takes-deploy-lock';

/** Scales a Deployment or StatefulSet and waits until it is healthy at the new count. */
export async function scaleWorkload(rawInput: ScaleWorkloadInput): Promise<ScaleReport> {
  const started = Date.now();
  const progress: ScaleProgress = { phase: 'reading', message: 'reading the current replica count' };
  setHandler(scaleProgressQuery, () => progress);
  const parsed = ScaleWorkloadInput.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid scale input:\n${z.prettifyError(parsed.error)}`,
      FailureType.InvalidInput,
    );
  }
  const input = parsed.data;
  const subject = formatSubject(input);
  const durationsMs: Record<string, number> = {};
  let t = Date.now();
  const lap = (name: string): void => {
    durationsMs[name] = Date.now() - t;
    t = Date.now();
  };
  upsertKubeAttributes([{ key: KubeNamespace, value: input.namespace }]);
  const ref = { cluster: input.cluster ?? '', kind: input.kind, namespace: input.namespace, name: input.name };

  const current = await readScale(ref);
  upsertKubeAttributes([{ key: KubeCluster, value: current.cluster }]);
  lap('read');
  const target = input.replicas ?? current.replicas + (input.delta ?? 0);
  Object.assign(progress, { from: current.replicas, to: target });
  const finish = (outcome: ScaleReport['outcome'], message: string, extra: Partial<ScaleReport> = {}): ScaleReport => {
    progress.phase = 'done';
    progress.message = message;
    setCurrentDetails(`**done** — ${message}`);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    durationsMs.total = Date.now() - started;
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
  };
  if (target < 0) {
    throw ApplicationFailure.nonRetryable(
      `${subject}: ${current.replicas} ${input.delta} would be ${target} replicas`,
      FailureType.InvalidInput,
    );
  }

  progress.phase = 'scaling';
  progress.message = `${current.replicas} → ${target}`;
  setCurrentDetails(`**scaling** ${subject}: ${progress.message}`);
  const lock =
    current.app && patched(SCALE_DEPLOY_LOCK_PATCH)
      ? await takeDeployLock(
          deployWorkflowId({ cluster: current.cluster, namespace: input.namespace, app: current.app }),
          `scale ${subject} to ${target}`,
          `scale of ${subject} (app ${current.app}) refused`,
        )
      : undefined;
  try {
    // Always set (even when equal): the policy is checked, and an out-of-bounds workload is reported.
    await setScale({ ...ref, cluster: current.cluster, replicas: target });
  } finally {
    await lock?.release();
  }
  lap('scale');
  if (!input.wait)
    return finish(
      target === current.replicas ? 'unchanged' : 'succeeded',
      `${subject} scaled ${current.replicas} → ${target} (not waited for)`,
    );

  progress.phase = 'waiting';
  progress.message = `waiting for ${target} ready replicas`;
  setCurrentDetails(`**waiting** ${subject}: ${progress.message}`);
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
  lap('wait');
  const h = health.objects[0];
  const extra = h ? { status: h.status, reason: h.reason } : {};
  if (health.outcome !== 'Current')
    return finish('failed', `${subject} scaled to ${target} but is not healthy: ${health.message}`, extra);
  const outcome = target === current.replicas ? 'unchanged' : 'succeeded';
  return finish(outcome, `${subject} scaled ${current.replicas} → ${target}, all ${target} replicas ready`, extra);
}
