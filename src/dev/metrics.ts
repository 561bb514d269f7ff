/**
 * metrics-server on the local stack, so the controller-manager's real HorizontalPodAutoscaler controller scales on
 * simulated load (`startStack({ metricsServer: true })`, `kube-workflows dev up --metrics-server`).
 *
 * How it works, all through kwokctl (binary runtime) and KWOK's resource-usage simulation:
 * - kwokctl runs the toolchain's `metrics-server` (tools/build-toolchain.sh piece `metrics-server`) as one more
 *   control-plane process and installs its APIService (`v1beta1.metrics.k8s.io`), Service and RBAC from the
 *   kustomization the build copied next to the binary (kwokctl would otherwise download the release manifest);
 * - with metrics-server enabled, kwokctl also gives the kwok controller its default `Metric` (a kubelet-like
 *   `/metrics/resource` endpoint per node, at the path each node's `metrics.k8s.io/resource-metrics-path`
 *   annotation names) and `ClusterResourceUsage` `usage-from-annotation`: a pod's CPU and memory use are the
 *   quantities of its annotations {@link CPU_USAGE_ANNOTATION} and {@link MEMORY_USAGE_ANNOTATION} (1m and 1Mi
 *   without them). Put `kwok.x-k8s.io/usage-cpu: 400m` on a pod template whose container requests 100m and its
 *   pods run at 400% of their request;
 * - metrics-server scrapes each node at its InternalIP and kubelet port, which the kwok controller serves on
 *   127.0.0.1 only (the stack binds nothing to other interfaces). The stack's node shape (tools/kwok/node.yaml)
 *   numbers node addresses from its `nodeIPs` parameter (192.0.2.1, .2, …), unreachable here: with metrics-server,
 *   nodes are made from a copy of it whose InternalIP is 127.0.0.1 for every node ({@link metricsNodeResource}).
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Toolchain } from './toolchain.js';

/** Pod annotation whose quantity is the pod's simulated CPU use (KWOK's `usage-from-annotation`). */
export const CPU_USAGE_ANNOTATION = 'kwok.x-k8s.io/usage-cpu';
/** Pod annotation whose quantity is the pod's simulated memory use. */
export const MEMORY_USAGE_ANNOTATION = 'kwok.x-k8s.io/usage-memory';
/** The APIService metrics-server registers; Available once it answers. */
export const METRICS_API_SERVICE = 'v1beta1.metrics.k8s.io';
/**
 * How often metrics-server scrapes on the stack (kwokctl says 15 s; metrics-server's floor is 10 s): the HPA sees a
 * change of use within about this long.
 */
export const METRICS_RESOLUTION_SECONDS = 10;
/** How often the HPA controller reconciles on the stack (Kubernetes' default is 15 s). */
export const HPA_SYNC_PERIOD_SECONDS = 5;

/** The node address the kwok controller answers on. */
const NODE_IP = '127.0.0.1';
/** The address expression of tools/kwok/node.yaml that numbers nodes from `nodeIPs`. */
const NUMBERED_ADDRESS = '{{ AddIP . $index | Quote }}';

/** The kustomization of metrics-server's APIService, Service and RBAC, copied next to the binary by the build. */
export function metricsServerManifestsDir(toolchain: Pick<Toolchain, 'metricsServer'>): string {
  return join(dirname(toolchain.metricsServer), 'manifests');
}

/**
 * The lines to add under `options:` of a kwokctl configuration to run metrics-server on `port` (a free port of
 * 127.0.0.1; kwokctl's own picker does not check ports held by other stacks).
 */
export function metricsServerKwokctlOptions(toolchain: Pick<Toolchain, 'metricsServer'>, port: number): string[] {
  const q = (s: string): string => JSON.stringify(s);
  return [
    '  enable:',
    '    - metrics-server',
    `  metricsServerBinary: ${q(toolchain.metricsServer)}`,
    '  metricsServerManifests:',
    `    - ${q(metricsServerManifestsDir(toolchain))}`,
    `  metricsServerPort: ${port}`,
  ];
}

/**
 * The `componentsPatches` entries (YAML list items) of a stack with metrics-server: faster scrapes and HPA syncs
 * ({@link METRICS_RESOLUTION_SECONDS}, {@link HPA_SYNC_PERIOD_SECONDS}) than a real cluster's, so a test sees the
 * HPA react within seconds rather than a minute; the behaviour is the same.
 */
export function metricsComponentsPatches(): string[] {
  return [
    '  - name: metrics-server',
    '    extraArgs:',
    '      - key: metric-resolution',
    `        value: ${METRICS_RESOLUTION_SECONDS}s`,
    '        override: true',
    // metrics-server refuses a resolution that is not above the kubelet request timeout (10 s by default)
    '      - key: kubelet-request-timeout',
    '        value: 5s',
    '  - name: kube-controller-manager',
    '    extraArgs:',
    '      - key: horizontal-pod-autoscaler-sync-period',
    `        value: ${HPA_SYNC_PERIOD_SECONDS}s`,
  ];
}

/**
 * The kwokctl node resource for a stack with metrics-server: tools/kwok/node.yaml with every node's InternalIP set to
 * 127.0.0.1, where the kwok controller serves each node's metrics (see the module contract). Throws when the node
 * shape no longer numbers its addresses the way this expects, rather than starting a stack whose HPAs see no metrics.
 */
export function metricsNodeResource(nodeResourceFile: string): string {
  const text = readFileSync(nodeResourceFile, 'utf8');
  if (!text.includes(NUMBERED_ADDRESS)) {
    throw new Error(
      `kube-workflows: ${nodeResourceFile} no longer sets node addresses with "${NUMBERED_ADDRESS}"; ` +
        'src/dev/metrics.ts must be taught its new shape so metrics-server can reach the nodes',
    );
  }
  return text.replaceAll(NUMBERED_ADDRESS, JSON.stringify(NODE_IP));
}
