/**
 * Workflow id conventions. The id is the lock: one deploy per (cluster, namespace, app) at a time.
 * @module
 */

/** Workflow id of the deploy of `app` to `namespace` on `cluster`: `deploy/<cluster>/<namespace>/<app>`. */
export function deployWorkflowId(parts: {
  cluster?: string | undefined;
  namespace?: string | undefined;
  app: string;
}): string {
  return `deploy/${parts.cluster || 'default'}/${parts.namespace || '_cluster'}/${parts.app}`;
}

/** Workflow id of a scale: `scale/<cluster>/<namespace>/<Kind>/<name>` (one scale per workload at a time). */
export function scaleWorkflowId(parts: {
  cluster?: string | undefined;
  namespace: string;
  kind: string;
  name: string;
}): string {
  return `scale/${parts.cluster || 'default'}/${parts.namespace}/${parts.kind}/${parts.name}`;
}

/** Workflow id of a monitor: `monitor/<name>`. */
export function monitorWorkflowId(name: string): string {
  return `monitor/${name}`;
}
