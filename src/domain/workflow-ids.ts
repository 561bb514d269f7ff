/**
 * Workflow id conventions. The id is the lock: Temporal runs at most one workflow per id, so one deploy per
 * (cluster, namespace, app) and one scale per workload run at a time. Every starter — the client, the CLI,
 * schedules (through `scheduledDeploy` / `scheduledScale`) and a scale taking its app's deploy lock — builds ids
 * here, with the canonical cluster name (the configured default's real name, never an empty placeholder), so
 * that naming the default cluster and omitting it give the same id.
 * @module
 */
import { DEFAULT_CLUSTER_NAME } from './clusters.js';

/** Namespace part of a deploy id whose objects name no namespace (cluster-scoped only). */
export const CLUSTER_SCOPED_NAMESPACE_PART = '_cluster';

/**
 * Workflow id of the deploy of `app` to `namespace` on `cluster`: `deploy/<cluster>/<namespace>/<app>`. Pass the
 * canonical cluster name (the client resolves the default one); without it, {@link DEFAULT_CLUSTER_NAME}.
 */
export function deployWorkflowId(parts: {
  cluster?: string | undefined;
  namespace?: string | undefined;
  app: string;
}): string {
  return `deploy/${parts.cluster || DEFAULT_CLUSTER_NAME}/${parts.namespace || CLUSTER_SCOPED_NAMESPACE_PART}/${parts.app}`;
}

/** Workflow id of a scale: `scale/<cluster>/<namespace>/<Kind>/<name>` (one scale per workload at a time). */
export function scaleWorkflowId(parts: {
  cluster?: string | undefined;
  namespace: string;
  kind: string;
  name: string;
}): string {
  return `scale/${parts.cluster || DEFAULT_CLUSTER_NAME}/${parts.namespace}/${parts.kind}/${parts.name}`;
}

/** Workflow id of a monitor: `monitor/<name>`. */
export function monitorWorkflowId(name: string): string {
  return `monitor/${name}`;
}
