/**
 * Canary activities: read what the preflight decides on (the stable Deployment, the Services selecting its pods,
 * autoscalers, a leftover canary), apply the canary Deployment, set one side's replica count, promote (the new
 * template and the total count onto the stable Deployment) and delete the canary. Each is one idempotent unit of
 * I/O through the gateway: server-side apply with the one field manager, counts through the scale subresource
 * (a count already in place writes nothing), deletes that find nothing are fine. Every write passes the worker's
 * policy first. Waiting for health is the shared `waitForHealth`.
 *
 * The undo sits beside the do: `applyCanary` is undone by `deleteCanary` (which only ever deletes a canary of the
 * named Deployment), a stable count changed by `scaleCanarySide` is undone by `scaleCanarySide` back to the total.
 * @module
 */
import { ApplicationFailure } from '@temporalio/common';
import { CANARY_OF_LABEL, canaryName } from '../domain/canary.js';
import { APP_LABEL } from '../domain/deploy-input.js';
import { FailureType } from '../domain/failures.js';
import { stripServerFields } from '../domain/manifests.js';
import { checkPolicy, formatViolations } from '../domain/policy.js';
import { formatSubject } from '../domain/subject.js';
import { type KubeGateway, type LiveObject } from '../kube/index.js';
import {
  ApplyCanaryInput,
  DeleteCanaryInput,
  PromoteCanaryInput,
  ReadCanaryTargetInput,
  ScaleCanarySideInput,
  type CanaryTargetFacts,
} from '../schemas/activities.js';
import type { KubeObject } from '../schemas/kube-object.js';
import type { DeployActivityDeps } from './deploy.js';
import { classified, parseInput } from './failures.js';

const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

interface DeploymentSpec {
  replicas?: number;
  selector?: CanaryTargetFacts['selector'];
  template?: { metadata?: { labels?: Record<string, string> } };
}

/** Builds the canary activities. */
export function createCanaryActivities(deps: Pick<DeployActivityDeps, 'gateway' | 'policy'>) {
  /** PolicyViolation (nothing written) unless Deployments in `namespace` may be written. */
  function guard(namespace: string, name: string): void {
    const violations = checkPolicy(deps.policy, [{ kind: 'Deployment', name, namespace, namespaced: true }]);
    if (violations.length) {
      throw ApplicationFailure.create({
        message: formatViolations(violations),
        type: FailureType.PolicyViolation,
        nonRetryable: true,
      });
    }
  }

  return {
    /** The stable Deployment, the Services of its namespace, autoscalers targeting it and any `<name>-canary`. */
    async readCanaryTarget(rawInput: ReadCanaryTargetInput): Promise<CanaryTargetFacts> {
      const input = parseInput(ReadCanaryTargetInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const key = { ...DEPLOYMENT, namespace: input.namespace, name: input.deployment };
        const stable = await gw.get(key);
        if (!stable) throw notFound(formatSubject(key));
        const spec = (stable as { spec?: DeploymentSpec }).spec ?? {};
        const [services, autoscalers, existing] = await Promise.all([
          readServices(gw, input.namespace, input.service),
          readAutoscalers(gw, input.namespace, input.deployment),
          gw.get({ ...DEPLOYMENT, namespace: input.namespace, name: canaryName(input.deployment) }),
        ]);
        const app = stable.metadata.labels?.[APP_LABEL];
        return {
          cluster: gw.cluster,
          namespace: input.namespace,
          name: input.deployment,
          replicas: spec.replicas ?? 1,
          ...(stable.metadata.generation !== undefined ? { generation: stable.metadata.generation } : {}),
          selector: spec.selector ?? {},
          templateLabels: spec.template?.metadata?.labels ?? {},
          services,
          serviceNamed: input.service !== undefined,
          autoscalers,
          ...(existing ? { existingCanary: { ours: isCanaryOf(existing, input.deployment) } } : {}),
          ...(app ? { app } : {}),
        };
      });
    },

    /** Creates or updates the canary Deployment (server-side apply). Returns whether it was created. */
    async applyCanary(rawInput: ApplyCanaryInput): Promise<{ created: boolean; generation?: number }> {
      const input = parseInput(ApplyCanaryInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const obj = input.deployment;
        guard(obj.metadata.namespace ?? '', obj.metadata.name);
        const before = await gw.get({ ...DEPLOYMENT, namespace: obj.metadata.namespace, name: obj.metadata.name });
        const after = await gw.apply(obj);
        const generation = after.metadata.generation;
        return { created: !before, ...(generation !== undefined ? { generation } : {}) };
      });
    },

    /** Sets one Deployment's `spec.replicas` (scale subresource; a count already in place writes nothing). */
    async scaleCanarySide(rawInput: ScaleCanarySideInput): Promise<{ previous: number }> {
      const input = parseInput(ScaleCanarySideInput, rawInput);
      return classified(async () => {
        guard(input.namespace, input.name);
        const gw = deps.gateway(input.cluster);
        return gw.scale({ ...DEPLOYMENT, namespace: input.namespace, name: input.name }, input.replicas);
      });
    },

    /**
     * Promotes: applies the live stable Deployment with the new template and the total count (the whole object,
     * so fields our field manager owns are kept; forced, since promotion is the decision to replace the template).
     */
    async promoteCanary(rawInput: PromoteCanaryInput): Promise<{ generation?: number }> {
      const input = parseInput(PromoteCanaryInput, rawInput);
      return classified(async () => {
        guard(input.namespace, input.name);
        const gw = deps.gateway(input.cluster);
        const key = { ...DEPLOYMENT, namespace: input.namespace, name: input.name };
        const live = await gw.get(key);
        if (!live) throw notFound(formatSubject(key));
        const desired = stripServerFields(live) as KubeObject & { spec: DeploymentSpec };
        desired.apiVersion = DEPLOYMENT.apiVersion;
        desired.kind = DEPLOYMENT.kind;
        desired.spec = {
          ...desired.spec,
          replicas: input.replicas,
          template: input.template as NonNullable<DeploymentSpec['template']>,
        };
        const after = await gw.apply(desired, { force: true });
        const generation = after.metadata.generation;
        return generation !== undefined ? { generation } : {};
      });
    },

    /** Deletes the canary Deployment of `deployment` — only one labelled as its canary. False when it was gone. */
    async deleteCanary(rawInput: DeleteCanaryInput): Promise<{ deleted: boolean }> {
      const input = parseInput(DeleteCanaryInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const key = { ...DEPLOYMENT, namespace: input.namespace, name: canaryName(input.deployment) };
        const live = await gw.get(key);
        if (!live) return { deleted: false };
        if (!isCanaryOf(live, input.deployment)) {
          throw ApplicationFailure.nonRetryable(
            `${formatSubject(key)} is not a canary of ${input.deployment} (no ${CANARY_OF_LABEL} label); left alone`,
            FailureType.PolicyViolation,
          );
        }
        guard(input.namespace, key.name);
        return { deleted: await gw.delete(key) };
      });
    },
  };
}

function isCanaryOf(obj: LiveObject, deployment: string): boolean {
  return obj.metadata.labels?.[CANARY_OF_LABEL] === deployment;
}

function notFound(subject: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${subject} does not exist`, FailureType.KubeNotFound);
}

async function readServices(
  gw: KubeGateway,
  namespace: string,
  name: string | undefined,
): Promise<CanaryTargetFacts['services']> {
  const selectorOf = (s: LiveObject) => (s as { spec?: { selector?: Record<string, string> } }).spec?.selector ?? {};
  if (name !== undefined) {
    const s = await gw.get({ apiVersion: 'v1', kind: 'Service', namespace, name });
    if (!s) throw notFound(`Service/${namespace}/${name}`);
    return [{ name, selector: selectorOf(s) }];
  }
  const list = await gw.list('v1', 'Service', { namespace });
  return list.items.map((s) => ({ name: s.metadata.name, selector: selectorOf(s) }));
}

async function readAutoscalers(gw: KubeGateway, namespace: string, deployment: string): Promise<string[]> {
  const list = await gw.list('autoscaling/v2', 'HorizontalPodAutoscaler', { namespace });
  return list.items
    .filter((h) => {
      const ref = (h as { spec?: { scaleTargetRef?: { kind?: string; name?: string } } }).spec?.scaleTargetRef;
      return ref?.kind === 'Deployment' && ref.name === deployment;
    })
    .map((h) => h.metadata.name);
}
