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
  defaultStackDir,
  findStackProcesses,
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
  StackDirOptions,
  StackInfo,
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
