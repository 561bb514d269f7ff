/**
 * Turns a validated deploy input into the list of objects to apply. The workflow calls it to validate in its
 * first task; activities call it again on the same input (fetched from the workflow's start event) when the
 * manifests are passed by reference, so both sides see exactly the same objects without a second copy in history.
 * @module
 */
import type { DeployManifestsOptions } from '../schemas/deploy.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { unpackJson } from './compression.js';
import { parseManifests, validateObjects, type ManifestSource, type ParseResult } from './manifests.js';

/** Label put on every object a deploy applies: which app (inventory) it belongs to. */
export const APP_LABEL = 'kube-workflows.dev/app';
/** Standard label marking objects managed by kube-workflows. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Value of {@link MANAGED_BY_LABEL}. */
export const MANAGED_BY = 'kube-workflows';

/** Parses and validates the manifests of a deploy input, then labels each object with the app. */
export function prepareObjects(input: DeployManifestsOptions, app: string | undefined): ParseResult {
  const options = input.namespace ? { defaultNamespace: input.namespace } : {};
  let result: ParseResult;
  if (input.objects !== undefined) {
    result = validateObjects(input.objects, options);
  } else if (input.packedObjects !== undefined) {
    let objects: unknown[];
    try {
      objects = unpackJson<unknown[]>(input.packedObjects);
      if (!Array.isArray(objects)) throw new Error('not a list of objects');
    } catch (err) {
      return {
        ok: false,
        problems: [{ document: 0, path: 'packedObjects', message: `cannot unpack: ${(err as Error).message}` }],
      };
    }
    result = validateObjects(objects, options);
  } else if (input.compressed !== undefined) {
    let sources: ManifestSource[];
    try {
      sources = unpackJson<ManifestSource[]>(input.compressed);
      if (!Array.isArray(sources)) throw new Error('not a list of sources');
    } catch (err) {
      return {
        ok: false,
        problems: [{ document: 0, path: 'compressed', message: `cannot unpack: ${(err as Error).message}` }],
      };
    }
    result = parseManifests(sources, options);
  } else {
    const sources = input.sources?.map((s) => (s.name ? { name: s.name, text: s.text } : { text: s.text }));
    result = parseManifests(sources ?? input.manifests ?? '', options);
  }
  if (!result.ok || !app) return result;
  return { ok: true, objects: result.objects.map((o) => withAppLabels(o, app)) };
}

function withAppLabels(obj: KubeObject, app: string): KubeObject {
  return {
    ...obj,
    metadata: { ...obj.metadata, labels: { ...obj.metadata.labels, [APP_LABEL]: app, [MANAGED_BY_LABEL]: MANAGED_BY } },
  };
}
