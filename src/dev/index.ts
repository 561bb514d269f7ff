/**
 * `kube-workflows/dev`: the local stack (Temporal dev server + one or more KWOK-simulated Kubernetes clusters, each
 * with a real control plane) used by `kube-workflows dev up|status|down`, the demo and the integration tests, and the
 * toolchain that provides its binaries. Node builtins only.
 *
 * ```ts
 * import { withStack } from 'kube-workflows/dev';
 * await withStack(async (info) => {
 *   // info.temporalAddress, info.kubeconfig, ...
 * }, { dir: '/tmp/my-stack', nodes: 3 });
 *
 * // three independent clusters: local, local-2, local-3 (info.clusters, info.workerConfigFile)
 * const info = await startStack({ dir: '/tmp/fleet', clusters: 3 });
 * await stopCluster(info, 'local-2'); // unreachable now
 * await startCluster(info, 'local-2'); // back, with its data
 * ```
 * @module
 */

export {
  clusterLabelsOf,
  clusterNameOf,
  CLUSTERS_CONFIG_FILE,
  clustersWorkerConfig,
  combinedKubeconfig,
  controlPlanePids,
  defaultStackDir,
  FIRST_CLUSTER_NAME,
  KUBECONFIG_ALL_FILE,
  MAX_STACK_CLUSTERS,
  parseKwokKubeconfig,
  startCluster,
  stopCluster,
  findStackProcesses,
  killControlPlaneComponent,
  restartApiServer,
  restartTemporal,
  startControlPlane,
  kwokctlConfig,
  readStackState,
  stackEnvLines,
  stackInfoFromState,
  stackPids,
  stackStatus,
  startStack,
  stopStack,
  withStack,
} from './stack.js';
export type {
  ClusterOption,
  ClusterPorts,
  ControlPlaneComponent,
  ExtraClusterState,
  KubeconfigCluster,
  StackCluster,
  StartClusterOptions,
  StopClusterOptions,
  RestartApiServerOptions,
  RestartApiServerResult,
  RestartTemporalOptions,
  StackDirOptions,
  StackInfo,
  StackRef,
  StartControlPlaneOptions,
  StackState,
  StartStackOptions,
  StopStackOptions,
  WithStackOptions,
} from './stack.js';
export {
  cacheRoot,
  ensureToolchain,
  findProjectRoot,
  missingBinaries,
  parseEnvFile,
  readVersions,
  resolveToolchain,
  STACK_BINARIES,
  TOOLCHAIN_BINARIES,
  TOOLCHAIN_ENV,
} from './toolchain.js';
export type {
  EnsureToolchainOptions,
  MissingBinary,
  Toolchain,
  ToolchainBinary,
  ToolchainVersions,
} from './toolchain.js';
export { DEV_ENCRYPTION_KEY_FILE, devEncryptionEnvLines, ensureDevEncryptionKey } from './encryption-key.js';
export {
  CPU_USAGE_ANNOTATION,
  MEMORY_USAGE_ANNOTATION,
  METRICS_API_SERVICE,
  METRICS_RESOLUTION_SECONDS,
} from './metrics.js';
export type { DevEncryptionKey } from './encryption-key.js';
