/**
 * The running clusters' control-plane processes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * kwok-controller), for tests that break and heal a cluster: which are running, killing one, starting the stopped
 * ones again, restarting kube-apiserver as a crash would, and stopping and starting a whole cluster of a
 * multi-cluster stack ({@link stopCluster}, {@link startCluster}). Every function acts on cluster `local` (cluster 1)
 * unless its `cluster` option names another (`local-2`, …).
 *
 * Contract: a component is "running" when the pid in kwokctl's pid file is alive and still the process the cluster
 * started (its command line names the cluster's folder). {@link startControlPlane} re-runs only the stopped
 * components, with the command lines recorded at creation, holding the stack's lock; it records the new pids in
 * `stack.json` and returns once kube-apiserver answers `/readyz`. etcd keeps the cluster's state across all of it.
 * @module
 */

import { join } from 'node:path';
import { pollUntil, runCommand, sendSignal, sleep, tailLines, waitForExit } from './process.js';
import { dropDeadPidFiles, kwokctlEnv, readClusterPids, runKwokctl, waitForNodesReady } from './cluster.js';
import { clusterRecordNamed, FIRST_CLUSTER_NAME, withClusterPids } from './clusters.js';
import type { ClusterRecord } from './clusters.js';
import { aliveAndOurs } from './reaper.js';
import { clusterDirOf, progressReporter, readStackState, stateOf, withLock, writeState } from './state.js';
import type { StackRef } from './state.js';

/** Names of the control-plane components kwokctl runs (the `<name>.pid` files in the cluster's `pids/` folder). */
export type ControlPlaneComponent =
  'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok-controller';

/** Which cluster of the stack to act on. */
export interface ClusterOption {
  /** The cluster's kube-workflows name: `local` (default, cluster 1), `local-2`, … */
  readonly cluster?: string;
}

/** Options of {@link startControlPlane}. */
export interface StartControlPlaneOptions extends ClusterOption {
  /** Give up when kube-apiserver is not ready (`/readyz`) within this many milliseconds (default 90 s). */
  readonly timeoutMs?: number;
  /** Receives one progress line per step. */
  readonly onProgress?: (line: string) => void;
}

/** Options of {@link restartApiServer}. */
export interface RestartApiServerOptions extends StartControlPlaneOptions {
  /** How long kube-apiserver stays down after it has exited, in milliseconds (default 0). */
  readonly downMs?: number;
  /** How it is stopped (default SIGKILL: a crash; SIGTERM is a graceful shutdown). */
  readonly killSignal?: 'SIGKILL' | 'SIGTERM';
}

/** What {@link restartApiServer} did. */
export interface RestartApiServerResult {
  /** Pid of the kube-apiserver that was killed. */
  readonly oldPid: number;
  /** Pid of the one started instead. */
  readonly newPid: number;
  /** Milliseconds from the kill until the new kube-apiserver answered `/readyz` (the whole outage). */
  readonly outageMs: number;
  /** Milliseconds from the restart until `/readyz` answered (start-up time). */
  readonly startMs: number;
  /** Pids of every running control-plane component afterwards, by component. */
  readonly pids: Readonly<Record<string, number>>;
}

/** Options of {@link stopCluster}. */
export interface StopClusterOptions {
  /** How the processes are stopped (default SIGKILL: the machine is gone; SIGTERM is an orderly shutdown). */
  readonly killSignal?: 'SIGKILL' | 'SIGTERM';
  /** Receives one progress line per step. */
  readonly onProgress?: (line: string) => void;
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Give up when the cluster is not back (API server ready, nodes Ready) within this many milliseconds (default 90 s). */
  readonly timeoutMs?: number;
  /** Receives one progress line per step. */
  readonly onProgress?: (line: string) => void;
}

/** The cluster's folder, `<kwokWorkdir>/clusters/<kwokName>`. */
function folderOf(cluster: ClusterRecord): string {
  return clusterDirOf({ kwokWorkdir: cluster.kwokWorkdir, clusterName: cluster.kwokName });
}

/**
 * Pids of one cluster's control-plane processes that are running now, by component (`etcd`, `kube-apiserver`,
 * `kube-controller-manager`, `kube-scheduler`, `kwok-controller`), read from kwokctl's pid files. A component that
 * has exited is absent.
 */
export function controlPlanePids(stack: StackRef, options: ClusterOption = {}): Record<string, number> {
  const clusterDir = folderOf(clusterRecordNamed(stateOf(stack), options.cluster));
  const out: Record<string, number> = {};
  for (const [component, pid] of Object.entries(readClusterPids(clusterDir))) {
    if (aliveAndOurs(pid, clusterDir)) out[component] = pid;
  }
  return out;
}

/**
 * Stops one control-plane component of a running stack's cluster with `signal` (default SIGKILL) and waits until it
 * has exited. Nothing restarts it until {@link startControlPlane}. Returns the pid it had.
 */
export async function killControlPlaneComponent(
  stack: StackRef,
  component: ControlPlaneComponent,
  signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL',
  options: ClusterOption = {},
): Promise<number> {
  const pid = controlPlanePids(stack, options)[component];
  const where = options.cluster && options.cluster !== FIRST_CLUSTER_NAME ? ` of cluster ${options.cluster}` : '';
  if (pid === undefined) throw new Error(`kube-workflows: ${component}${where} is not running`);
  sendSignal(pid, signal);
  if ((await waitForExit([pid], signal === 'SIGKILL' ? 10_000 : 60_000)).length > 0) {
    throw new Error(`kube-workflows: ${component}${where} (pid ${pid}) did not exit after ${signal}`);
  }
  return pid;
}

/**
 * Starts every control-plane component of the stack's cluster that is not running (`kwokctl start cluster`, which
 * re-runs each one with the command line recorded in the cluster's `kwok.yaml`), waits until kube-apiserver answers
 * `/readyz`, records the new pids in `stack.json`, and returns the pids of all components. Does nothing to the
 * components that run.
 */
export async function startControlPlane(
  stack: StackRef,
  options: StartControlPlaneOptions = {},
): Promise<Record<string, number>> {
  const state = stateOf(stack);
  const cluster = clusterRecordNamed(state, options.cluster);
  const { dir } = state;
  const progress = progressReporter(options.onProgress);
  const timeoutMs = options.timeoutMs ?? 90_000;
  const clusterDir = folderOf(cluster);
  const deadline = Date.now() + timeoutMs;
  await withLock(dir, async () => {
    dropDeadPidFiles(clusterDir);
    progress(`starting the stopped control-plane components of ${cluster.kwokName} (${cluster.name})`);
    await runKwokctl(
      state.binaries,
      kwokctlEnv(cluster.kwokWorkdir, cluster.kubeconfig, join(dir, 'bin')),
      ['start', 'cluster', '--name', cluster.kwokName],
      cluster.kwokctlLogFile,
      Math.max(10_000, deadline - Date.now()),
    );
    const current = readStackState(dir) ?? state;
    writeState(dir, withClusterPids(current, cluster.index, readClusterPids(clusterDir)));
  });
  let last = '';
  const ready = await pollUntil(
    async () => {
      const r = await runCommand(
        state.binaries.kubectl,
        ['--kubeconfig', cluster.kubeconfig, 'get', '--raw', '/readyz', '--request-timeout=5s'],
        { timeoutMs: 10_000 },
      );
      last = `${r.stdout}${r.stderr}`.trim();
      return r.code === 0 && r.stdout.trim() === 'ok';
    },
    Math.max(1000, deadline - Date.now()),
    200,
  );
  if (!ready) {
    throw new Error(
      `kube-workflows: kube-apiserver of ${cluster.name} was not ready within ${timeoutMs / 1000}s after a restart (last: ${tailLines(last, 5)}). See ${join(clusterDir, 'logs', 'kube-apiserver.log')}`,
    );
  }
  progress(`control plane of ${cluster.name} running, kube-apiserver ready`);
  return controlPlanePids(state, { cluster: cluster.name });
}

/**
 * Makes one cluster of a running stack unreachable: stops every process of its control plane (kube-apiserver first,
 * etcd last; SIGKILL unless `killSignal` says otherwise) and waits until they have exited. Its data stays in its
 * etcd folder, and the other clusters and Temporal keep running. Returns the pids it stopped, by component. Bring
 * it back with {@link startCluster}.
 */
export async function stopCluster(
  stack: StackRef,
  name: string,
  options: StopClusterOptions = {},
): Promise<Record<string, number>> {
  const progress = progressReporter(options.onProgress);
  const running = controlPlanePids(stack, { cluster: name });
  const order = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok-controller', 'etcd'];
  const components = Object.keys(running).sort((a, b) => rank(order, a) - rank(order, b));
  for (const component of components) {
    await killControlPlaneComponent(stack, component as ControlPlaneComponent, options.killSignal ?? 'SIGKILL', {
      cluster: name,
    });
  }
  progress(`cluster ${name} stopped (${components.join(', ') || 'nothing was running'})`);
  return running;
}

/**
 * Brings a cluster stopped by {@link stopCluster} (or any of its components that is not running) back: starts the
 * stopped components with their recorded command lines, waits until kube-apiserver is ready and the stack's node
 * count is Ready again, records the new pids, and returns them by component.
 */
export async function startCluster(
  stack: StackRef,
  name: string,
  options: StartClusterOptions = {},
): Promise<Record<string, number>> {
  const t0 = Date.now();
  const timeoutMs = options.timeoutMs ?? 90_000;
  const pids = await startControlPlane(stack, { ...options, cluster: name });
  const state = stateOf(stack);
  const cluster = clusterRecordNamed(state, name);
  await waitForNodesReady(state.binaries.kubectl, cluster.kubeconfig, state.nodes, {
    timeoutMs: Math.max(1000, timeoutMs - (Date.now() - t0)),
    logsDir: join(folderOf(cluster), 'logs'),
  });
  progressReporter(options.onProgress)(`cluster ${name} is back: ${state.nodes} nodes Ready`);
  return pids;
}

function rank(order: readonly string[], component: string): number {
  const i = order.indexOf(component);
  return i === -1 ? order.length : i;
}

/**
 * Kills the stack's kube-apiserver (SIGKILL unless `killSignal` says otherwise), keeps it down for `downMs`, starts
 * it again with the same command line (and any other component that is not running) and waits until it answers
 * `/readyz`. etcd keeps the cluster's state, so everything written before is still there; clients, controllers and
 * kwok reconnect by themselves.
 */
export async function restartApiServer(
  stack: StackRef,
  options: RestartApiServerOptions = {},
): Promise<RestartApiServerResult> {
  const progress = progressReporter(options.onProgress);
  const t0 = Date.now();
  const oldPid = await killControlPlaneComponent(
    stack,
    'kube-apiserver',
    options.killSignal ?? 'SIGKILL',
    options.cluster === undefined ? {} : { cluster: options.cluster },
  );
  progress(`kube-apiserver (pid ${oldPid}) stopped`);
  if (options.downMs) await sleep(options.downMs);
  const t1 = Date.now();
  const pids = await startControlPlane(stack, options);
  const newPid = pids['kube-apiserver'];
  if (newPid === undefined) throw new Error('kube-workflows: kube-apiserver did not start again');
  const done = Date.now();
  return { oldPid, newPid, outageMs: done - t0, startMs: done - t1, pids };
}
