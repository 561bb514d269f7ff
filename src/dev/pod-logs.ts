/**
 * Pod logs on the local stack: `kubectl logs` (the `pods/log` subresource) works for KWOK's simulated pods, so what
 * reads logs (operation alerts, `gatherFailureContext`) is tested against the real API server path.
 *
 * How it works (kwok v0.8.0, binary runtime):
 * - the kwok controller already serves kubelet endpoints (`/containerLogs/...`) with TLS on 127.0.0.1 at
 *   `kwokControllerPort`, and the node-initialize stage sets every node's `daemonEndpoints.kubeletEndpoint.Port` to
 *   that port (tools/kwok/stages.yaml);
 * - the kube-apiserver reaches a node's kubelet at the node's first address of `--kubelet-preferred-address-types`:
 *   each node gets one more address, `InternalDNS: localhost` ({@link kubeletReachableNodeResource}), and the API
 *   server prefers that type ({@link podLogsComponentsPatches}). The InternalIP (pods' hostIP, metrics-server's
 *   target) is unchanged. Without `--kubelet-certificate-authority` the API server does not verify the kubelet's
 *   serving certificate (Kubernetes' default), which is what the local stack wants;
 * - what a container "logged" comes from KWOK's `Logs` (one pod) and `ClusterLogs` (pods by namespace / name)
 *   resources, each naming a log file in the CRI format (`<RFC 3339 time> stdout F <line>`) and optionally
 *   `previousLogsFile` (what `--previous` shows). Both kinds are served as CRDs (`enableCRDs`), so a test creates
 *   one through the API for its namespace, pointing at a file it wrote ({@link criLogLines}).
 * @module
 */

/** The kwok CRDs the stack serves for pod logs. */
export const POD_LOGS_CRDS = ['Logs', 'ClusterLogs'] as const;

/** The node address the API server dials for a node's kubelet (the kwok controller's host). */
const KUBELET_HOST = 'localhost';

/** Where tools/kwok/node.yaml lists a node's addresses: the extra address goes first under it. */
const ADDRESSES_LINE = '\n    addresses:\n';

/** The lines to add under `options:` of the kwokctl configuration. */
export function podLogsKwokctlOptions(): string[] {
  return ['  enableCRDs:', ...POD_LOGS_CRDS.map((kind) => `    - ${kind}`)];
}

/** The `componentsPatches` entry (YAML list items) that makes the API server dial kubelets at `InternalDNS`. */
export function podLogsComponentsPatches(): string[] {
  return [
    '  - name: kube-apiserver',
    '    extraArgs:',
    '      - key: kubelet-preferred-address-types',
    '        value: InternalDNS,InternalIP,Hostname',
  ];
}

/**
 * The node resource text with one more address, `InternalDNS: localhost`, first. Throws when the node shape no
 * longer lists addresses the way this expects, rather than starting a stack whose pod logs cannot be read.
 */
export function kubeletReachableNodeResource(text: string): string {
  if (!text.includes(ADDRESSES_LINE)) {
    throw new Error(
      'kube-workflows: the node resource no longer lists "    addresses:" in its status; src/dev/pod-logs.ts ' +
        'must be taught its new shape so the API server can reach the nodes for pod logs',
    );
  }
  return text.replace(ADDRESSES_LINE, `${ADDRESSES_LINE}    - address: ${KUBELET_HOST}\n      type: InternalDNS\n`);
}

/** Lines as a container runtime (CRI) log file holds them: `<time> stdout F <line>`, one per line. */
export function criLogLines(lines: readonly string[], at: Date = new Date()): string {
  return lines.map((line, i) => `${new Date(at.getTime() + i).toISOString()} stdout F ${line}\n`).join('');
}
