/**
 * Scale activities: read the current replica count (and the autoscaler that targets the workload, if any), and set
 * an absolute count through the scale subresource — or, for an autoscaled workload, the autoscaler's absolute bounds
 * by server-side apply under `kube-workflows-scale` — after checking the policy (namespace, kind, replica bounds).
 * Absolute values make retries harmless; relative changes are resolved by the workflow from what `readScale`
 * returned.
 * @module
 */
import { ApplicationFailure } from '@temporalio/common';
import {
  autoscalerFor,
  autoscalerOf,
  boundFieldsOf,
  SCALE_FIELD_MANAGER,
  type Autoscaler,
} from '../domain/autoscaler.js';
import { APP_LABEL } from '../domain/deploy-input.js';
import { FailureType } from '../domain/failures.js';
import {
  checkPolicy,
  checkScaleBounds,
  DEFAULT_SCALE_BOUNDS,
  formatViolations,
  scaleBoundsFor,
} from '../domain/policy.js';
import { formatSubject } from '../domain/subject.js';
import {
  SetAutoscalerBoundsInput,
  SetScaleInput,
  WorkloadRef,
  type ReadScaleResult,
  type SetAutoscalerBoundsResult,
  type SetScaleResult,
} from '../schemas/activities.js';
import type { AutoscalerRef } from '../schemas/scale.js';
import { isKubeApiError, type KubeGateway } from '../kube/index.js';
import type { DeployActivityDeps } from './deploy.js';
import { classified, parseInput } from './failures.js';

export type { WorkloadRef };

/** Builds the scale activities. */
export function createScaleActivities(deps: Pick<DeployActivityDeps, 'gateway' | 'policy'>) {
  return {
    /**
     * The workload's current `spec.replicas`, the resolved cluster name, and the app a deploy labelled it with
     * (whose deploy lock a scale takes).
     */
    async readScale(rawRef: WorkloadRef): Promise<ReadScaleResult> {
      const ref = parseInput(WorkloadRef, rawRef);
      return classified(async () => {
        const gw = deps.gateway(ref.cluster);
        const obj = await gw.get({ apiVersion: 'apps/v1', kind: ref.kind, namespace: ref.namespace, name: ref.name });
        if (!obj) {
          throw ApplicationFailure.nonRetryable(`${formatSubject(ref)} does not exist`, FailureType.KubeNotFound);
        }
        const replicas = (obj as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
        const app = obj.metadata.labels?.[APP_LABEL];
        const autoscaler = autoscalerFor(obj, await liveAutoscalers(gw, ref.namespace));
        return {
          cluster: gw.cluster,
          replicas,
          ...(app ? { app } : {}),
          ...(autoscaler ? { autoscaler: refOf(autoscaler) } : {}),
        };
      });
    },

    /** Sets the replica count after the policy check; PolicyViolation (nothing written) when out of bounds. */
    async setScale(rawInput: SetScaleInput): Promise<SetScaleResult> {
      const input = parseInput(SetScaleInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const subject = formatSubject(input);
        const violations = checkPolicy(deps.policy, [
          { kind: input.kind, name: input.name, namespace: input.namespace, namespaced: true },
        ]);
        if (violations.length) {
          throw ApplicationFailure.create({
            message: formatViolations(violations),
            type: FailureType.PolicyViolation,
            nonRetryable: true,
          });
        }
        const bounds = scaleBoundsFor(
          deps.policy.scale?.rules ?? [],
          deps.policy.scale?.defaults ?? DEFAULT_SCALE_BOUNDS,
          input,
        );
        const why = checkScaleBounds(bounds, input.replicas);
        if (why) {
          throw ApplicationFailure.create({
            message: `${subject}: ${why}; nothing was written`,
            type: FailureType.PolicyViolation,
            nonRetryable: true,
            details: [bounds],
          });
        }
        const { previous } = await gw.scale(
          { apiVersion: 'apps/v1', kind: input.kind, namespace: input.namespace, name: input.name },
          input.replicas,
        );
        return { previous, replicas: input.replicas };
      });
    },

    /**
     * Sets an autoscaler's bounds (HPA `minReplicas`/`maxReplicas`, KEDA `minReplicaCount`/`maxReplicaCount`) after
     * the policy check of the workload and the autoscaler (namespace, kinds) and of the replica bounds: the new floor
     * always, the ceiling when it moves. A server-side apply of the two fields only, under `kube-workflows-scale`
     * with force (they are a deploy's otherwise; the next deploy keeps them unless its manifests change them). Writes
     * nothing when both already hold, so a retry after a write that landed writes nothing.
     */
    async setAutoscalerBounds(rawInput: SetAutoscalerBoundsInput): Promise<SetAutoscalerBoundsResult> {
      const input = parseInput(SetAutoscalerBoundsInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const { autoscaler: ref } = input;
        const target = formatSubject(ref);
        const violations = checkPolicy(deps.policy, [
          { kind: input.kind, name: input.name, namespace: input.namespace, namespaced: true },
          { kind: ref.kind, name: ref.name, namespace: ref.namespace, namespaced: true },
        ]);
        if (violations.length) {
          throw ApplicationFailure.create({
            message: formatViolations(violations),
            type: FailureType.PolicyViolation,
            nonRetryable: true,
          });
        }
        const live = autoscalerOf(await gw.get(ref));
        if (!live) throw ApplicationFailure.nonRetryable(`${target} does not exist`, FailureType.KubeNotFound);
        const previous = { minReplicas: live.minReplicas, maxReplicas: live.maxReplicas };
        const bounds = scaleBoundsFor(
          deps.policy.scale?.rules ?? [],
          deps.policy.scale?.defaults ?? DEFAULT_SCALE_BOUNDS,
          input,
        );
        const checks = [input.minReplicas, ...(input.maxReplicas !== live.maxReplicas ? [input.maxReplicas] : [])];
        for (const n of checks) {
          const why = checkScaleBounds(bounds, n);
          if (why) {
            throw ApplicationFailure.create({
              message: `${formatSubject(input)} (autoscaled by ${target}): ${why}; nothing was written`,
              type: FailureType.PolicyViolation,
              nonRetryable: true,
              details: [bounds],
            });
          }
        }
        const wanted = { minReplicas: input.minReplicas, maxReplicas: input.maxReplicas };
        if (previous.minReplicas === wanted.minReplicas && previous.maxReplicas === wanted.maxReplicas) {
          return { previous, bounds: wanted };
        }
        const fields = boundFieldsOf(ref.kind);
        await gw.apply(
          {
            apiVersion: ref.apiVersion,
            kind: ref.kind,
            metadata: { name: ref.name, namespace: ref.namespace },
            spec: { [fields.min]: wanted.minReplicas, [fields.max]: wanted.maxReplicas },
          },
          { fieldManager: SCALE_FIELD_MANAGER, force: true },
        );
        return { previous, bounds: wanted };
      });
    },
  };
}

function refOf(a: Autoscaler): AutoscalerRef {
  return {
    apiVersion: a.apiVersion,
    kind: a.kind,
    namespace: a.namespace,
    name: a.name,
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
  };
}

/** HPAs of a namespace, and KEDA ScaledObjects where they are served and readable. */
async function liveAutoscalers(gw: KubeGateway, namespace: string): Promise<Autoscaler[]> {
  const [hpas, scaledObjects] = await Promise.all([
    gw.list('autoscaling/v2', 'HorizontalPodAutoscaler', { namespace }),
    gw.list('keda.sh/v1alpha1', 'ScaledObject', { namespace }).catch((err: unknown) => {
      if (isKubeApiError(err) && (err.status === 404 || err.status === 403)) return { items: [] };
      throw err;
    }),
  ]);
  return [...hpas.items, ...scaledObjects.items].map(autoscalerOf).filter((a): a is Autoscaler => a !== undefined);
}
