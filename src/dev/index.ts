/**
 * `kube-workflows/dev`: the local stack (Temporal dev server + a KWOK-simulated Kubernetes cluster with a real
 * control plane) used by `kube-workflows dev up|status|down`, the demo and the integration tests, and the
 * toolchain that provides its binaries. Node builtins only.
 *
 * ```ts
 * import { withStack } from 'kube-workflows/dev';
 * await withStack(async (info) => {
 *   // info.temporalAddress, info.kubeconfig, ...
 * }, { dir: '/tmp/my-stack', nodes: 3 });
 * ```
 * @module
 */

export {
  controlPlanePids,
  defaultStackDir,
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
  ControlPlaneComponent,
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
export type { DevEncryptionKey } from './encryption-key.js';
