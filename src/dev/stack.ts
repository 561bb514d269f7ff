/**
 * The local stack behind `kube-workflows dev up|status|down`, the demo and the integration tests: a Temporal dev
 * server (with Web UI and a SQLite file) and a local Kubernetes control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler) whose nodes and pods are simulated by KWOK, all running as local
 * processes bound to 127.0.0.1. This module is the orchestration; each job it delegates has its own module:
 *
 * | module | job |
 * |---|---|
 * | `state.ts` | the stack folder: `stack.json`, `stack.env`, the lock, {@link StackInfo} |
 * | `temporal.ts` | launching, waiting for and restarting the Temporal dev server |
 * | `cluster.ts` | creating and deleting a kwok cluster (kwokctl configuration, nodes Ready, pid files) |
 * | `clusters.ts` | the stack's clusters as one list: names, labels, combined kubeconfig, `clusters.json` |
 * | `control-plane.ts` | killing and restarting control-plane components of a running cluster, stopping and starting one cluster (tests) |
 * | `reaper.ts` | stopping a stack and sweeping what it left behind |
 *
 * Contract: starting is idempotent and serialised per folder; a failed or aborted start stops what it had started
 * and rejects naming the step that failed. The processes outlive the process that started them (`dev up` returns
 * at once); {@link stopStack} works from `stack.json` alone, so it also cleans up after a starter that crashed.
 * Nothing here reads or writes `~/.kube/config`. Every name of the modules above that callers use is re-exported
 * here.
 * @module
 */

import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCluster, readClusterPids } from './cluster.js';
import {
  clusterRecords,
  extraClusterState,
  MAX_STACK_CLUSTERS,
  stackInfoFromState,
  withClusterPids,
  writeClusterFiles,
} from './clusters.js';
import { abortError, freePorts } from './process.js';
import { aliveAndOurs, teardownStack } from './reaper.js';
import {
  clusterDirOf,
  defaultStackDir,
  ENV_FILE,
  progressReporter,
  readStackState,
  stackEnvLines,
  withLock,
  writeFileAtomic,
  writeState,
} from './state.js';
import type { ClusterPorts, Progress, StackDirOptions, StackInfo, StackState } from './state.js';
import { openWorkflowIds, spawnTemporal, temporalAnswers, temporalMarker, waitForTemporal } from './temporal.js';
import { ensureToolchain, STACK_BINARIES } from './toolchain.js';

export { kwokctlConfig } from './cluster.js';
export {
  clusterLabelsOf,
  clusterNameOf,
  CLUSTERS_CONFIG_FILE,
  combinedKubeconfig,
  clustersWorkerConfig,
  FIRST_CLUSTER_NAME,
  KUBECONFIG_ALL_FILE,
  MAX_STACK_CLUSTERS,
  parseKwokKubeconfig,
  stackInfoFromState,
} from './clusters.js';
export type { KubeconfigCluster } from './clusters.js';
export {
  controlPlanePids,
  killControlPlaneComponent,
  restartApiServer,
  startCluster,
  startControlPlane,
  stopCluster,
} from './control-plane.js';
export type {
  ClusterOption,
  ControlPlaneComponent,
  RestartApiServerOptions,
  RestartApiServerResult,
  StartClusterOptions,
  StopClusterOptions,
  StartControlPlaneOptions,
} from './control-plane.js';
export { findStackProcesses } from './reaper.js';
export { defaultStackDir, readStackState, stackEnvLines, stackPids } from './state.js';
export type {
  ClusterPorts,
  ExtraClusterState,
  StackCluster,
  StackDirOptions,
  StackInfo,
  StackRef,
  StackState,
} from './state.js';
export { restartTemporal } from './temporal.js';
export type { RestartTemporalOptions } from './temporal.js';

/** Options of {@link startStack}. */
export interface StartStackOptions {
  /** Stack folder (default `KUBE_WORKFLOWS_STACK_DIR` or `~/.cache/kube-workflows/stack`). */
  readonly dir?: string;
  /** Stack and cluster name (default `kube-workflows`; lowercase letters, digits and dashes). */
  readonly name?: string;
  /** Number of simulated nodes per cluster (default 3). */
  readonly nodes?: number;
  /**
   * Number of independent clusters, 1 to {@link MAX_STACK_CLUSTERS} (default 1). Cluster 1 is `local` (the fields
   * of {@link StackInfo} describe it); the others are `local-2`, … with kwok names `<name>-2`, …, each with its own
   * etcd, control plane, ports, workdir and audit log, started at the same time as cluster 1.
   */
  readonly clusters?: number;
  /** Receives one progress line per step (with elapsed seconds), plus toolchain build output if a build runs. */
  readonly onProgress?: (line: string) => void;
  /** Keep Temporal's state in `<dir>/temporal.db` (default true); false keeps it in memory. */
  readonly temporalDbFile?: boolean;
  /** Aborting stops a start in progress (what was started is stopped again) and rejects. */
  readonly signal?: AbortSignal;
  /**
   * Run metrics-server on the first cluster (`local`), with KWOK simulating each pod's CPU and memory use from its
   * `kwok.x-k8s.io/usage-cpu` / `usage-memory` annotations, so HorizontalPodAutoscalers scale for real (see
   * src/dev/metrics.ts). Default false. Builds the toolchain's `metrics-server` piece when it is missing.
   */
  readonly metricsServer?: boolean;
}

/** Options of {@link stopStack}. */
export interface StopStackOptions extends StackDirOptions {
  /** Receives one progress line per step. */
  readonly onProgress?: (line: string) => void;
  /** Also delete Temporal's database and the logs (default false: the next start keeps workflow history). */
  readonly purge?: boolean;
}

/** Options of {@link withStack}. */
export interface WithStackOptions extends StartStackOptions {
  /** Stop the stack and exit (130 / 143) on SIGINT / SIGTERM while `fn` runs (default true). */
  readonly handleSignals?: boolean;
  /** Passed to the final {@link stopStack}. */
  readonly purge?: boolean;
}

const DEFAULT_NAME = 'kube-workflows';
const DEFAULT_NODES = 3;

/**
 * Starts the local stack in `dir`, or returns the running one's info when `dir` already holds a healthy stack
 * (state file present, its pids alive, Temporal answering), whatever name and node count it was started with:
 * starting is idempotent. A running stack with fewer clusters than `clusters` asks for is not extended: the call
 * rejects, telling to stop it first (`kube-workflows dev down`); one with more is returned as it is. A stale state (a crashed stack) is cleaned up first; Temporal's database is kept, so
 * workflow history survives a restart. Two processes starting the same `dir` at once are serialised by a lock file.
 *
 * Temporal and the clusters start in parallel (typically ~6 s in all for one cluster with cached binaries; the first
 * call may build the toolchain, which takes many minutes). On any failure, whatever was started is stopped again and the
 * returned promise rejects with an Error saying which step failed, with the tail of the relevant log.
 */
export async function startStack(options: StartStackOptions = {}): Promise<StackInfo> {
  return (await startStackInternal(options)).info;
}

/** Info of the stack running in `dir` (pids alive and Temporal answering), else undefined. */
export async function stackStatus(options: StackDirOptions = {}): Promise<StackInfo | undefined> {
  const state = readStackState(resolve(options.dir ?? defaultStackDir()));
  if (!state || state.phase !== 'ready') return undefined;
  return checkRunning(state);
}

/**
 * Stops the stack in `dir`: SIGTERM to the Temporal server's process group (SIGKILL after a grace period),
 * `kwokctl delete cluster` for every cluster (in parallel), then SIGKILL for any recorded process still alive, and
 * removes the state files (also `kubeconfig-all.yaml` and `clusters.json`).
 * Works from `stack.json` alone (after the starting process crashed) and is safe to call twice or when nothing runs.
 */
export async function stopStack(options: StopStackOptions = {}): Promise<void> {
  const dir = resolve(options.dir ?? defaultStackDir());
  if (!existsSync(dir)) return;
  const progress = progressReporter(options.onProgress);
  await withLock(dir, () => teardownStack(dir, readStackState(dir), progress, options.purge ?? false));
}

/**
 * Starts a stack, runs `fn(info)`, and stops the stack afterwards, whether `fn` succeeded or threw. A stack that
 * was already running in `dir` before the call is left running. While it runs, SIGINT / SIGTERM stop the stack
 * (or abort the start) and exit the process with 130 / 143 (unless `handleSignals: false`).
 */
export async function withStack<T>(
  fn: (info: StackInfo) => Promise<T> | T,
  options: WithStackOptions = {},
): Promise<T> {
  const dir = resolve(options.dir ?? defaultStackDir());
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  let started = false;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= stopStack({
      dir,
      purge: options.purge ?? false,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }));
  let starting: Promise<unknown> | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    abort.abort(new Error(`interrupted by ${sig}`));
    const code = sig === 'SIGINT' ? 130 : 143;
    void (async () => {
      try {
        // An aborted start stops what it had started itself; wait for that before exiting.
        await starting?.catch(() => undefined);
        if (started) await stop();
      } catch (err) {
        options.onProgress?.(`[dev] stopping after ${sig} failed: ${String(err)}`);
      } finally {
        process.exit(code);
      }
    })();
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const start = startStackInternal({ ...options, dir, signal });
    starting = start;
    const { info, reused } = await start;
    started = !reused;
    return await fn(info);
  } finally {
    if (handleSignals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    if (started) await stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function startStackInternal(options: StartStackOptions): Promise<{ info: StackInfo; reused: boolean }> {
  const dir = resolve(options.dir ?? defaultStackDir());
  const name = options.name ?? DEFAULT_NAME;
  const nodes = options.nodes ?? DEFAULT_NODES;
  const clusters = options.clusters ?? 1;
  if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(name)) {
    throw new Error(
      `kube-workflows: invalid stack name ${JSON.stringify(name)} (lowercase letters, digits and dashes)`,
    );
  }
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 1000) {
    throw new Error(`kube-workflows: invalid node count ${String(nodes)} (an integer from 0 to 1000)`);
  }
  if (!Number.isInteger(clusters) || clusters < 1 || clusters > MAX_STACK_CLUSTERS) {
    throw new Error(
      `kube-workflows: invalid cluster count ${String(clusters)} (an integer from 1 to ${MAX_STACK_CLUSTERS})`,
    );
  }
  const progress = progressReporter(options.onProgress);
  mkdirSync(dir, { recursive: true });
  return withLock(
    dir,
    async () => {
      const existing = readStackState(dir);
      if (existing) {
        const info = existing.phase === 'ready' ? await checkRunning(existing) : undefined;
        if (info && info.clusters.length < clusters) {
          throw new Error(
            `kube-workflows: the stack running in ${dir} has ${info.clusters.length} cluster(s), ${clusters} were ` +
              'asked for; stop it first (kube-workflows dev down), then start it again with --clusters',
          );
        }
        if (info) {
          progress(`stack ${info.name} already running in ${dir} (${info.clusters.length} cluster(s))`);
          return { info, reused: true };
        }
        progress('found a stopped or broken stack: cleaning it up first');
      }
      // Also sweeps leftovers of a start that crashed before writing stack.json.
      await teardownStack(dir, existing, progress, false);
      const info = await startFresh(dir, name, nodes, clusters, options, progress);
      return { info, reused: false };
    },
    options.signal,
  );
}

/** Ports the stack's processes listen on: Temporal's four, then six per cluster. */
const TEMPORAL_PORTS = 4;
const PORTS_PER_CLUSTER = 6;

async function startFresh(
  dir: string,
  name: string,
  nodes: number,
  clusterCount: number,
  options: StartStackOptions,
  progress: Progress,
): Promise<StackInfo> {
  const signal = options.signal;
  const checkAbort = (): void => {
    if (signal?.aborted) throw abortError(signal);
  };
  progress('checking the toolchain');
  const toolchain = await ensureToolchain({
    only: options.metricsServer ? [...STACK_BINARIES, 'metricsServer'] : STACK_BINARIES,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  checkAbort();

  // kwokctl's own port picker counts down from 32767 and only checks a port when it installs, so two clusters
  // created at the same time would get the same ports: give it random free ones instead.
  const ports = await freePorts(TEMPORAL_PORTS + PORTS_PER_CLUSTER * clusterCount);
  const port = (i: number): number => ports[i] ?? 0;
  const [grpcPort, uiPort, httpPort, metricsPort] = [port(0), port(1), port(2), port(3)];
  const clusterPortsOf = (index: number): ClusterPorts => {
    const base = TEMPORAL_PORTS + PORTS_PER_CLUSTER * (index - 1);
    return {
      kubeApiserver: port(base),
      etcd: port(base + 1),
      etcdPeer: port(base + 2),
      kwokController: port(base + 3),
      kubeControllerManager: port(base + 4),
      kubeScheduler: port(base + 5),
    };
  };
  const kwokWorkdir = join(dir, 'kwok');
  const clusterDir = clusterDirOf({ kwokWorkdir, clusterName: name });
  const kubeconfig = join(clusterDir, 'kubeconfig.yaml');
  const dbFile = options.temporalDbFile === false ? undefined : join(dir, 'temporal.db');
  const keptHistory = dbFile !== undefined && existsSync(dbFile);
  const temporalLog = join(dir, 'temporal.log');

  progress(`starting Temporal on 127.0.0.1:${grpcPort} (UI :${uiPort})`);
  const temporal = spawnTemporal(toolchain, {
    dir,
    grpcPort,
    uiPort,
    httpPort,
    metricsPort,
    dbFile,
    logFile: temporalLog,
  });
  let state: StackState = {
    version: 1,
    phase: 'starting',
    name,
    dir,
    clusterName: name,
    kwokWorkdir,
    kubeconfig,
    nodes,
    temporal: { pid: temporal.pid, grpcPort, uiPort, httpPort, metricsPort, ...(dbFile ? { dbFile } : {}) },
    clusterPorts: clusterPortsOf(1),
    clusterPids: {},
    ...(clusterCount > 1
      ? {
          extraClusters: Array.from({ length: clusterCount - 1 }, (_, i) =>
            extraClusterState(dir, name, i + 2, clusterPortsOf(i + 2)),
          ),
        }
      : {}),
    binaries: { temporal: toolchain.temporal, kwokctl: toolchain.kwokctl, kubectl: toolchain.kubectl },
    starterPid: process.pid,
    createdAt: new Date().toISOString(),
  };
  writeState(dir, state);

  try {
    // Temporal and every cluster start at once; the first failure aborts the others, so a broken start fails fast.
    const inner = new AbortController();
    const stepSignal = signal ? AbortSignal.any([signal, inner.signal]) : inner.signal;
    const failFast = (step: Promise<void>): Promise<void> =>
      step.catch((err: unknown) => {
        inner.abort(err);
        throw err;
      });
    const results = await Promise.allSettled([
      failFast(
        waitForTemporal(toolchain, state, temporal.exited, temporalLog, stepSignal).then(() =>
          progress(`Temporal answers at 127.0.0.1:${grpcPort}`),
        ),
      ),
      ...clusterRecords(state).map((cluster) =>
        failFast(
          createCluster(
            toolchain,
            { dir, nodes, metricsServer: options.metricsServer },
            cluster,
            progress,
            stepSignal,
            (pids) => {
              state = withClusterPids(state, cluster.index, pids);
              writeState(dir, state);
            },
          ),
        ),
      ),
    ]);
    const reasons = [
      ...new Set(
        results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r): unknown => r.reason),
      ),
    ];
    const failures = reasons.map((r) => (r instanceof Error ? r.message : String(r)));
    if (failures.length > 0) throw new Error(failures.join('\n\n'));
    checkAbort();
    for (const cluster of clusterRecords(state)) {
      const pids = readClusterPids(clusterDirOf({ kwokWorkdir: cluster.kwokWorkdir, clusterName: cluster.kwokName }));
      state = withClusterPids(state, cluster.index, pids);
    }
    state = { ...state, phase: 'ready', readyAt: new Date().toISOString() };
    writeClusterFiles(state);
    writeState(dir, state);
    const info = stackInfoFromState(state);
    writeFileAtomic(join(dir, ENV_FILE), stackEnvLines(info).join('\n') + '\n');
    const clustersText = clusterCount > 1 ? `${clusterCount} clusters of ${nodes} nodes` : `${nodes} nodes`;
    progress(`stack ${name} ready: Temporal ${info.temporalAddress}, UI ${info.temporalUiUrl}, ${clustersText}`);
    if (keptHistory) await warnAboutKeptRuns(toolchain.temporal, grpcPort, progress);
    return info;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    progress('start failed: stopping what was started');
    try {
      await teardownStack(dir, readStackState(dir) ?? state, progress, false);
    } catch (stopErr) {
      progress(`cleanup failed: ${String(stopErr)}`);
    }
    throw new Error(`kube-workflows: could not start the local stack in ${dir}: ${message}`, { cause: err });
  } finally {
    temporal.child.removeAllListeners();
  }
}

/**
 * The info of the stack `state` describes when its processes (Temporal and every cluster's control plane) are
 * alive and ours and Temporal answers.
 */
async function checkRunning(state: StackState): Promise<StackInfo | undefined> {
  if (!aliveAndOurs(state.temporal.pid, ...temporalMarker(state))) return undefined;
  for (const cluster of clusterRecords(state)) {
    const clusterDir = clusterDirOf({ kwokWorkdir: cluster.kwokWorkdir, clusterName: cluster.kwokName });
    const pids = { ...cluster.clusterPids, ...readClusterPids(clusterDir) };
    if (Object.keys(pids).length === 0) return undefined;
    if (!Object.values(pids).every((p) => aliveAndOurs(p, clusterDir))) return undefined;
  }
  if (!existsSync(state.binaries.temporal)) return undefined;
  if (!(await temporalAnswers(state.binaries.temporal, state.temporal.grpcPort, 10_000))) return undefined;
  return stackInfoFromState(state);
}

/**
 * The Temporal database outlives `dev down` (its history stays browsable), but the cluster does not: runs left open
 * there would hold their deploy locks against the new, empty cluster. Say so, with what to do.
 */
async function warnAboutKeptRuns(temporalBinary: string, grpcPort: number, progress: Progress): Promise<void> {
  const open = await openWorkflowIds(temporalBinary, grpcPort);
  if (!open.length) return;
  const shown = open.slice(0, 5).join(', ') + (open.length > 5 ? ', …' : '');
  progress(
    `warning: ${open.length} workflow run(s) from the previous stack are still open in the kept Temporal database ` +
      `(${shown}); they hold their locks against this new, empty cluster. Cancel them ` +
      '(temporal workflow cancel -w ID) or start clean with: kube-workflows dev down --purge && kube-workflows dev up',
  );
}
