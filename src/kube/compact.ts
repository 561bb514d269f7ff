/**
 * What a watch cache keeps of an object: what health rules, resource thresholds and reports read, without the bulk
 * nobody reads from a cached copy. A monitor of thousands of workloads holds every Pod, ReplicaSet and Deployment of
 * its namespaces; their `managedFields`, volumes, tolerations, probes, environment and mounts are most of each one.
 * Code that needs a whole object (drift, autoscaler handover, compensation) reads it by GET or LIST, never from here.
 * @module
 */
import type { LiveObject } from './gateway.js';

/** The client-side apply annotation: a full copy of the last applied manifest. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Pod spec fields kept: containers (see {@link KEPT_CONTAINER_FIELDS}), the node, the restart policy. */
const KEPT_POD_SPEC_FIELDS = ['containers', 'initContainers', 'nodeName', 'restartPolicy'] as const;
/** Container fields kept: who it is, what it runs, what it asked for (resource thresholds read requests/limits). */
const KEPT_CONTAINER_FIELDS = ['name', 'image', 'resources', 'restartPolicy'] as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function pick(source: Json, keys: readonly string[]): Json {
  const out: Json = {};
  for (const k of keys) if (source[k] !== undefined) out[k] = source[k];
  return out;
}

/** A pod spec with only {@link KEPT_POD_SPEC_FIELDS}, its containers with only {@link KEPT_CONTAINER_FIELDS}. */
function compactPodSpec(spec: unknown): unknown {
  if (!isObject(spec)) return spec;
  const out = pick(spec, KEPT_POD_SPEC_FIELDS);
  for (const list of ['containers', 'initContainers'] as const) {
    const containers = out[list];
    if (Array.isArray(containers)) {
      out[list] = containers.map((c: unknown) => (isObject(c) ? pick(c, KEPT_CONTAINER_FIELDS) : c));
    }
  }
  return out;
}

/** `obj.spec.template.spec` (a workload's pod template), compacted in place when present. */
function compactTemplate(holder: unknown): void {
  if (!isObject(holder) || !isObject(holder.template)) return;
  const template = holder.template;
  if (template.spec !== undefined) template.spec = compactPodSpec(template.spec);
}

/**
 * Compacts `obj` in place for a watch cache and returns it: drops `metadata.managedFields` and the client-side
 * last-applied annotation; a Pod's spec, and the pod template of a workload (Deployment, ReplicaSet, StatefulSet,
 * DaemonSet, Job, ReplicationController; a CronJob's job template), keep only containers (name, image, resources,
 * restart policy), init containers, the node name and the restart policy. Status, labels, annotations, owner
 * references, selectors, replica counts and strategies are kept whole: health reads them.
 */
export function compactForCache(obj: LiveObject): LiveObject {
  const metadata = obj.metadata as Json & { annotations?: Record<string, string> };
  delete metadata.managedFields;
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  const spec = (obj as { spec?: unknown }).spec;
  if (!isObject(spec)) return obj;
  if (obj.kind === 'Pod') {
    (obj as { spec?: unknown }).spec = compactPodSpec(spec);
  } else if (obj.kind === 'CronJob') {
    const jobTemplate = spec.jobTemplate;
    if (isObject(jobTemplate)) compactTemplate(jobTemplate.spec);
  } else {
    compactTemplate(spec);
  }
  return obj;
}
