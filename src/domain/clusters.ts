/**
 * The one rule that names the default cluster. The worker applies it to its configuration; clients apply it to
 * the same configuration (environment and `KUBE_WORKFLOWS_CONFIG` file) to put the canonical cluster name into
 * workflow ids, so that a deploy that names the default cluster and one that omits it share one lock.
 * @module
 */

/** Name of the `KUBECONFIG` cluster when `KUBE_WORKFLOWS_CLUSTER` does not name it. */
export const DEFAULT_CLUSTER_NAME = 'default';

/** What the default cluster is chosen from. */
export interface DefaultClusterSources {
  /** The configuration file's `clusters.default`. */
  readonly configuredDefault?: string | undefined;
  /** Cluster names listed in the configuration file's `clusters.entries`, in file order. */
  readonly configuredNames?: readonly string[] | undefined;
  /** Whether `KUBECONFIG` is set (it then adds a cluster). */
  readonly kubeconfigSet: boolean;
  /** `KUBE_WORKFLOWS_CLUSTER`: the name of the `KUBECONFIG` cluster. */
  readonly kubeconfigClusterName?: string | undefined;
}

/**
 * The default cluster's name: the file's `clusters.default`; else, with `KUBECONFIG` set, the name of that cluster
 * (`KUBE_WORKFLOWS_CLUSTER`, default {@link DEFAULT_CLUSTER_NAME}); else the first cluster the file lists; else
 * {@link DEFAULT_CLUSTER_NAME}.
 */
export function defaultClusterName(sources: DefaultClusterSources): string {
  return (
    sources.configuredDefault ??
    (sources.kubeconfigSet
      ? (sources.kubeconfigClusterName ?? DEFAULT_CLUSTER_NAME)
      : (sources.configuredNames?.[0] ?? DEFAULT_CLUSTER_NAME))
  );
}
