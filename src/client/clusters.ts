/**
 * The canonical name of the default cluster, resolved in the client the same way the worker resolves it (rule in
 * `src/domain/clusters.ts`), from the same configuration: the `clusters` section of the `KUBE_WORKFLOWS_CONFIG`
 * file, `KUBECONFIG` and `KUBE_WORKFLOWS_CLUSTER`. Workflow ids carry it, so a deploy that names the default cluster
 * and one that omits it take the same lock. A client that does not share the worker's configuration should pass
 * `defaultCluster` (or set `KUBE_WORKFLOWS_CLUSTER` to the worker's default cluster name).
 * @module
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { defaultClusterName } from '../domain/clusters.js';
import { ClientConfigError } from './errors.js';

/** The default cluster's name from `env` (and the file `KUBE_WORKFLOWS_CONFIG` names). Throws {@link ClientConfigError}. */
export function resolveDefaultCluster(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.KUBE_WORKFLOWS_CONFIG?.trim() || undefined;
  let clusters: { default?: unknown; entries?: unknown } | undefined;
  if (path) {
    let data: unknown;
    try {
      data = parseYaml(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ClientConfigError(
        `KUBE_WORKFLOWS_CONFIG=${path}: cannot read the file (${(err as Error).message.split('\n')[0]})`,
      );
    }
    const section = data && typeof data === 'object' ? (data as { clusters?: unknown }).clusters : undefined;
    if (section && typeof section === 'object') clusters = section;
  }
  const entries = clusters?.entries;
  return defaultClusterName({
    configuredDefault: typeof clusters?.default === 'string' ? clusters.default : undefined,
    configuredNames: entries && typeof entries === 'object' ? Object.keys(entries) : undefined,
    kubeconfigSet: !!env.KUBECONFIG,
    kubeconfigClusterName: env.KUBE_WORKFLOWS_CLUSTER || undefined,
  });
}
