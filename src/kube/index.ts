/**
 * Kubernetes adapter: the only code that talks to API servers.
 * @module
 */
import { HttpKubeGateway, type KubeGateway } from './gateway.js';
import { loadInCluster, loadKubeconfigFile } from './kubeconfig.js';
import { KubeTransport, type TransportOptions } from './transport.js';

export { FIELD_MANAGER, HttpKubeGateway, keyOf, MALFORMED_WATCH_EVENT_REASON, parseWatchEvent } from './gateway.js';
export type {
  ApplyOptions,
  KubeGateway,
  LiveObject,
  ObjectKey,
  PodLogOptions,
  ResourceInfo,
  WatchEvent,
  WatchRequestOptions,
} from './gateway.js';
export { KubeApiError, isKubeApiError, failureTypeForStatus } from './errors.js';
export {
  DEFAULT_WATCH_IDLE_TIMEOUT_MS,
  FLOW_SCHEMA_HEADER,
  KubeTransport,
  STREAM_STALLED_REASON,
  USER_AGENT,
} from './transport.js';
export type { ClientRateLimit, StreamOptions, TransportOptions, TransportStats } from './transport.js';
export { loadInCluster, loadKubeconfigFile, SERVICE_ACCOUNT_DIR } from './kubeconfig.js';
export type { KubeCredentialSource } from './kubeconfig.js';
export { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from './rate-limit.js';
export { DEFAULT_RETRY_INITIAL_MS, DEFAULT_RETRY_MAX_MS, DEFAULT_WATCH_TIMEOUT_SECONDS, watchKinds } from './watch.js';
export type { WatchKindsOptions, WatchTarget, WatchedState } from './watch.js';

/** Where a cluster's credentials come from. */
export type ClusterCredentials = { kubeconfig: string; context?: string | undefined } | { inCluster: true };

/**
 * Builds a gateway for one cluster. Never falls back to `http://localhost:8080` the way client-node's
 * `loadFromDefault()` does: a kubeconfig without the named context, or without a server, is an error.
 */
export async function createKubeGateway(
  name: string,
  creds: ClusterCredentials,
  options: TransportOptions = {},
): Promise<KubeGateway> {
  let kc;
  try {
    kc = 'inCluster' in creds ? loadInCluster() : await loadKubeconfigFile(creds.kubeconfig, creds.context);
  } catch (err) {
    throw new Error(`cluster "${name}": ${(err as Error).message}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new Error(
      `cluster "${name}": no API server address in its credentials (context "${kc.getCurrentContext()}")`,
    );
  }
  return new HttpKubeGateway(name, await KubeTransport.fromKubeConfig(kc, options));
}
