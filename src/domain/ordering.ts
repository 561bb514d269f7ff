/**
 * Apply ordering: cluster definitions first (CRDs, Namespaces, cluster RBAC, …), waited on, then the rest in a
 * stable kind order (config before the workloads that mount it, Services before workloads), as Helm and Flux do.
 * @module
 */

/** Kinds that define things others depend on: applied and waited for first. */
export const DEFINITION_KINDS: ReadonlySet<string> = new Set([
  'CustomResourceDefinition',
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PriorityClass',
  'StorageClass',
  'IngressClass',
  'RuntimeClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

/** Order of kinds within the second stage (unknown kinds, e.g. custom resources, go last). */
export const KIND_ORDER: readonly string[] = [
  'ResourceQuota',
  'LimitRange',
  'PodSecurityPolicy',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'SecretList',
  'ConfigMap',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'Ingress',
  'APIService',
  'NetworkPolicy',
];

/** A named group of objects applied together. */
export interface Stage<T> {
  name: 'definitions' | 'resources';
  items: T[];
}

/**
 * Splits objects into at most two stages (empty ones omitted) and sorts each stably by kind order, then
 * namespace and name, so runs are reproducible.
 */
export function planStages<T extends { kind: string; metadata: { name: string; namespace?: string | undefined } }>(
  objects: readonly T[],
): Stage<T>[] {
  const defs = objects.filter((o) => DEFINITION_KINDS.has(o.kind));
  const rest = objects.filter((o) => !DEFINITION_KINDS.has(o.kind));
  const defOrder = [...DEFINITION_KINDS];
  const stages: Stage<T>[] = [];
  if (defs.length) stages.push({ name: 'definitions', items: sortBy(defs, defOrder) });
  if (rest.length) stages.push({ name: 'resources', items: sortBy(rest, KIND_ORDER) });
  return stages;
}

/** Reverse order, for deletions (workloads before the config and namespaces they use). */
export function deletionOrder<T extends { kind: string; metadata: { name: string; namespace?: string | undefined } }>(
  objects: readonly T[],
): T[] {
  return planStages(objects)
    .flatMap((s) => s.items)
    .reverse();
}

function sortBy<T extends { kind: string; metadata: { name: string; namespace?: string | undefined } }>(
  items: readonly T[],
  order: readonly string[],
): T[] {
  const rank = (k: string): number => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return [...items].sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      a.kind.localeCompare(b.kind) ||
      (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
}
