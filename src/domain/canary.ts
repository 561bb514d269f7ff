/**
 * The decisions of a canary without a service mesh, as pure functions: how many pods each side gets for a weight
 * (the replica ratio, rounding below), in which order replica counts change so capacity never drops, which labels
 * the canary pods carry so the Service selects them and the stable Deployment does not, and whether a Deployment
 * can be canaried at all (the preflight). Deterministic: the workflow uses it, the client and tests too.
 *
 * Rounding: with T the stable's `spec.replicas` at start and w the weight, the canary gets
 * `ceil(T × w / 100)` pods — at least 1 when w > 0, at most T — and the stable `T − canary`, but never fewer than 1
 * while w < 100 (a partial weight never sends every request to the canary; with a small T the total may then be
 * T + 1 and the actual share is shown as `actualWeight`). w = 0 is all stable, w = 100 all canary.
 * @module
 */
import type {
  CanaryStepInput,
  CanaryTemplate,
  DeploymentManifest,
  PodTemplate,
  ReplicaCounts,
} from '../schemas/canary.js';
import { parseDuration } from './duration.js';
import { DEFAULT_CLUSTER_NAME } from './clusters.js';
import { MANAGED_BY, MANAGED_BY_LABEL } from './deploy-input.js';
import { formatSelector, matches, SelectorOperator, type LabelRequirement, type LabelSelector } from './selectors.js';

/** Label on the canary pods (and in the canary Deployment's selector) that sets them apart from the stable pods. */
export const CANARY_LABEL = 'kube-workflows.io/canary';
/** Label on the canary Deployment naming the stable Deployment it is the canary of (how a leftover is recognised). */
export const CANARY_OF_LABEL = 'kube-workflows.io/canary-of';
/** Suffix of the canary Deployment's name. */
export const CANARY_SUFFIX = '-canary';

/** Name of the canary Deployment of `deployment`. */
export function canaryName(deployment: string): string {
  return `${deployment}${CANARY_SUFFIX}`;
}

/**
 * Workflow id of the canary of a Deployment: `canary/<cluster>/<namespace>/<deployment>` (one canary per Deployment
 * at a time: the id is the lock). Pass the canonical cluster name.
 */
export function canaryWorkflowId(parts: {
  cluster?: string | undefined;
  namespace: string;
  deployment: string;
}): string {
  return `canary/${parts.cluster || DEFAULT_CLUSTER_NAME}/${parts.namespace}/${parts.deployment}`;
}

/** Replica counts for `weight` percent of `total` pods on the canary (rounding in the module comment). */
export function replicaSplit(total: number, weight: number): ReplicaCounts {
  if (weight <= 0) return { stable: total, canary: 0 };
  if (weight >= 100) return { stable: 0, canary: total };
  const canary = Math.min(total, Math.max(1, Math.ceil((total * weight) / 100)));
  return { stable: Math.max(1, total - canary), canary };
}

/** The canary's share of the pods, in whole percent (what the Service's endpoints actually do). */
export function actualWeight(counts: ReplicaCounts): number {
  const all = counts.stable + counts.canary;
  return all === 0 ? 0 : Math.round((100 * counts.canary) / all);
}

/** One replica change: which Deployment, to how many. */
export interface ReplicaChange {
  side: 'stable' | 'canary';
  replicas: number;
}

/**
 * The replica changes from `from` to `to`, growing side first: the side that grows is scaled and waited on before
 * the other shrinks, so the ready capacity never drops below what it was. Unchanged sides are left out.
 */
export function shiftPlan(from: ReplicaCounts, to: ReplicaCounts): ReplicaChange[] {
  const changes: ReplicaChange[] = (['stable', 'canary'] as const)
    .filter((side) => from[side] !== to[side])
    .map((side) => ({ side, replicas: to[side] }));
  return changes.sort((a, b) => grows(b, from) - grows(a, from));
}

function grows(c: ReplicaChange, from: ReplicaCounts): number {
  return c.replicas > from[c.side] ? 1 : 0;
}

/** The pod template of a canary input (a pod template, or a Deployment manifest's `spec.template`). */
export function podTemplateOf(
  template: CanaryTemplate,
  deployment: string,
): { ok: true; template: PodTemplate } | { ok: false; error: string } {
  if (!('kind' in template) || template.kind !== 'Deployment') return { ok: true, template: template as PodTemplate };
  const manifest = template as DeploymentManifest;
  const name = manifest.metadata?.name;
  if (name !== undefined && name !== deployment) {
    return {
      ok: false,
      error: `template: the manifest is Deployment ${name}, but the canary is of Deployment ${deployment}`,
    };
  }
  return { ok: true, template: manifest.spec.template };
}

/** How a step reads in reports and messages: `setWeight 20`, `pause 1m`, `pause (until promoted)`, `analysis`. */
export function describeStep(step: CanaryStepInput): string {
  if ('setWeight' in step) return `setWeight ${step.setWeight}`;
  if ('pause' in step)
    return step.pause.duration === undefined ? 'pause (until promoted)' : `pause ${step.pause.duration}`;
  return 'analysis';
}

/** Milliseconds a pause step waits, or undefined for one that waits until promoted. */
export function pauseMs(step: { pause: { duration?: string | number | undefined } }): number | undefined {
  return step.pause.duration === undefined ? undefined : parseDuration(step.pause.duration);
}

/**
 * Problems with a step list that its schema cannot see, one line each naming the step (`steps[2]: …`): an analysis
 * before any positive weight has no canary pod to judge.
 */
export function checkSteps(steps: readonly CanaryStepInput[]): string[] {
  const problems: string[] = [];
  let weight = 0;
  steps.forEach((step, i) => {
    if ('setWeight' in step) weight = step.setWeight;
    if ('analysis' in step && weight === 0) {
      problems.push(`steps[${i}]: an analysis while the canary has no pod (setWeight 0 so far) has nothing to judge`);
    }
  });
  return problems;
}

/** A Deployment's `spec.selector`, as the API stores it. */
export interface DeploymentSelector {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?: { key: string; operator: string; values?: string[] | undefined }[] | undefined;
}

/** A Deployment `spec.selector` as a {@link LabelSelector}. */
export function toLabelSelector(selector: DeploymentSelector): LabelSelector {
  const requirements: LabelRequirement[] = [
    ...Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
      key,
      operator: SelectorOperator.Equals,
      values: [value],
    })),
    ...(selector.matchExpressions ?? []).map((e) => ({
      key: e.key,
      operator: e.operator as LabelRequirement['operator'],
      values: [...(e.values ?? [])].sort(),
    })),
  ];
  return { requirements };
}

/** What the preflight reads of the stable Deployment and its namespace. */
export interface StableFacts {
  namespace: string;
  name: string;
  replicas: number;
  selector: DeploymentSelector;
  /** The stable pod template's labels. */
  templateLabels: Record<string, string>;
  /** Services of the namespace (or the one named), with their selectors. */
  services: { name: string; selector: Record<string, string> }[];
  /** Whether the input named the Service (then it must select the stable pods). */
  serviceNamed: boolean;
  /** HorizontalPodAutoscalers targeting the Deployment. */
  autoscalers: string[];
  /** The `<name>-canary` Deployment, if it exists: whether it is a canary of this Deployment (ours). */
  existingCanary?: { ours: boolean } | undefined;
}

/** What a canary is made of once the preflight passed. */
export interface CanaryPlan {
  /** Labels of the canary pods: the Service selects them, the stable Deployment's selector does not. */
  podLabels: Record<string, string>;
  /** The canary Deployment's selector (`matchLabels`): the Services' labels plus {@link CANARY_LABEL}. */
  selector: Record<string, string>;
  /** Labels of the template promoted to the stable Deployment (its selector's labels added). */
  promotedLabels: Record<string, string>;
  /** The Services the canary is behind. */
  services: string[];
}

/**
 * The preflight: whether the stable Deployment can be canaried with a template labelled `templateLabels`, and with
 * which labels. Refusals name the object and what to change:
 * - no replicas, or an autoscaler owns the count (the canary would fight it);
 * - no Service selects the stable pods (the canary would get no traffic);
 * - the template's labels contradict the stable selector or a Service's selector;
 * - the stable selector would also select the canary pods: its ReplicaSets and the canary's would claim the same
 *   pods. The canary pods carry the Services' labels and the template's, minus the selector labels that set the
 *   stable pods apart (those no Service selects on, like `track: stable`), plus {@link CANARY_LABEL}; a stable
 *   selector with no such label matches them;
 * - a `<name>-canary` Deployment exists that is not a canary of this Deployment.
 */
export function planCanary(
  facts: StableFacts,
  templateLabels: Readonly<Record<string, string>>,
): { ok: true; plan: CanaryPlan } | { ok: false; reason: string } {
  const subject = `Deployment/${facts.namespace}/${facts.name}`;
  const refuse = (reason: string) => ({ ok: false as const, reason: `${subject}: ${reason}; nothing was written` });
  if (facts.replicas < 1) return refuse('it has 0 replicas: there is no traffic to share with a canary');
  if (facts.autoscalers.length) {
    return refuse(
      `HorizontalPodAutoscaler ${facts.autoscalers.join(', ')} owns its replica count; a canary sets replica ` +
        `counts and would fight it (remove or suspend the autoscaler first)`,
    );
  }
  const stableSelector = toLabelSelector(facts.selector);
  const services = facts.services.filter(
    (s) => Object.keys(s.selector).length > 0 && matches(selectorOfMap(s.selector), facts.templateLabels),
  );
  if (!services.length) {
    const named = facts.serviceNamed
      ? `Service ${facts.services[0]?.name ?? '(not found)'} does not select`
      : 'no Service selects';
    return refuse(`${named} its pods: a canary without a Service gets no traffic`);
  }
  const serviceLabels: Record<string, string> = {};
  for (const s of services) {
    for (const [k, v] of Object.entries(s.selector)) {
      if (serviceLabels[k] !== undefined && serviceLabels[k] !== v)
        return refuse(`the Services ${services.map((x) => x.name).join(', ')} disagree on label ${k}`);
      serviceLabels[k] = v;
    }
  }
  const promotedLabels: Record<string, string> = { ...templateLabels };
  for (const [k, v] of Object.entries({ ...facts.selector.matchLabels, ...serviceLabels })) {
    if (promotedLabels[k] !== undefined && promotedLabels[k] !== v)
      return refuse(
        `the new template's label ${k}=${promotedLabels[k]} contradicts ${k}=${v} of its selector or Service`,
      );
    promotedLabels[k] = v;
  }
  if (!matches(stableSelector, promotedLabels)) {
    return refuse(
      `its selector ${formatSelector(stableSelector)} does not match the new template's labels ` +
        `${formatLabels(promotedLabels)}: the template could never be promoted`,
    );
  }
  const stableOnly = new Set(stableSelector.requirements.map((r) => r.key).filter((k) => !(k in serviceLabels)));
  const podLabels: Record<string, string> = Object.fromEntries(
    Object.entries(promotedLabels).filter(([k]) => !stableOnly.has(k)),
  );
  podLabels[CANARY_LABEL] = 'true';
  if (matches(stableSelector, podLabels)) {
    return refuse(
      `its selector ${formatSelector(stableSelector)} would also select the canary pods ` +
        `(${formatLabels(podLabels)}), and its ReplicaSet would fight the canary's over them. The stable selector ` +
        `needs a label the Service does not select on (for example track: stable in the selector and the pod ` +
        `template, not in the Service), or the expression ${CANARY_LABEL} DoesNotExist; selectors are immutable, ` +
        `so this means re-creating the Deployment`,
    );
  }
  if (facts.existingCanary && !facts.existingCanary.ours) {
    return refuse(
      `Deployment ${facts.namespace}/${canaryName(facts.name)} exists and is not its canary (no ` +
        `${CANARY_OF_LABEL}=${facts.name} label); rename or remove it`,
    );
  }
  return {
    ok: true,
    plan: {
      podLabels,
      selector: { ...serviceLabels, [CANARY_LABEL]: 'true' },
      promotedLabels,
      services: services.map((s) => s.name),
    },
  };
}

/** The canary Deployment (`replicas` pods of `template`, labelled per `plan`), to apply with server-side apply. */
export function canaryDeployment(
  facts: { namespace: string; name: string },
  plan: CanaryPlan,
  template: PodTemplate,
  replicas: number,
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: canaryName(facts.name),
      namespace: facts.namespace,
      labels: { [CANARY_OF_LABEL]: facts.name, [CANARY_LABEL]: 'true', [MANAGED_BY_LABEL]: MANAGED_BY },
    },
    spec: {
      replicas,
      selector: { matchLabels: plan.selector },
      template: { ...template, metadata: { ...template.metadata, labels: plan.podLabels } },
    },
  };
}

/** The template to promote: the new one, labelled so the stable selector and the Services keep matching. */
export function promotedTemplate(plan: CanaryPlan, template: PodTemplate): PodTemplate {
  return { ...template, metadata: { ...template.metadata, labels: plan.promotedLabels } };
}

function selectorOfMap(labels: Record<string, string>): LabelSelector {
  return toLabelSelector({ matchLabels: labels });
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
