/**
 * Scale activities: read the current replica count, and set an absolute count through the scale subresource
 * after checking the policy (namespace, kind, replica bounds). Setting an absolute count makes retries harmless;
 * relative changes are resolved to a count by the workflow from what `readScale` returned.
 * @module
 */
import { ApplicationFailure } from '@temporalio/common';
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
import { SetScaleInput, WorkloadRef, type ReadScaleResult, type SetScaleResult } from '../schemas/activities.js';
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
        return { cluster: gw.cluster, replicas, ...(app ? { app } : {}) };
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
  };
}
