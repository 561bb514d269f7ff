/**
 * The one formatter for naming objects in messages, reports and errors: `Kind/namespace/name`, or
 * `Kind/name` for cluster-scoped objects (the Flux `ssa` convention).
 * @module
 */

/** The fields needed to name an object. */
export interface SubjectParts {
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name: string;
}

/** Formats `Kind/namespace/name` (or `Kind/name` when the object has no namespace). */
export function formatSubject(ref: SubjectParts): string {
  return ref.namespace ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

/** The subject of a full object (reads `kind`, `metadata.namespace`, `metadata.name`). */
export function subjectOf(obj: { kind: string; metadata: { name: string; namespace?: string | undefined } }): string {
  return formatSubject({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
}

/**
 * The application name of a set of objects when the caller gave none: the `app.kubernetes.io/part-of` or
 * `app.kubernetes.io/name` label of the first object carrying one, else the first workload's name, else the
 * first object's name.
 */
export function inferAppName(
  objects: readonly { kind: string; metadata: { name: string; labels?: Record<string, string> | undefined } }[],
): string | undefined {
  for (const o of objects) {
    const l = o.metadata.labels ?? {};
    const v = l['app.kubernetes.io/part-of'] ?? l['app.kubernetes.io/name'];
    if (v) return v;
  }
  const workload = objects.find((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'].includes(o.kind));
  return (workload ?? objects[0])?.metadata.name;
}
