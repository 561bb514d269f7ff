/**
 * The stack folder's record of a stack: `stack.json` ({@link StackState}), `stack.env`, the lock that serialises
 * starts and stops, and the {@link StackInfo} a running stack is reached by. Every other `src/dev` module reads and
 * writes the stack through these functions only.
 *
 * Contract: `stack.json` and `stack.env` are replaced atomically (write a temp file, rename), so a reader sees the
 * old content or the new one, never half; {@link readStackState} returns undefined rather than throwing for a
 * missing or unreadable file; {@link withLock} admits one process per folder at a time and takes over a lock whose
 * holder died. Nothing here starts or stops a process.
 *
 * Everything a stack owns lives in one folder (default `KUBE_WORKFLOWS_STACK_DIR` or
 * `~/.cache/kube-workflows/stack`):
 *
 * | file | what |
 * |---|---|
 * | `stack.json` | state: pids, ports, cluster name, kwok workdir, creation time ({@link StackState}) |
 * | `stack.env` | the `KEY=value` lines of {@link stackEnvLines} |
 * | `stack.lock` | held (our pid inside) while a process starts or stops the stack |
 * | `temporal.log`, `temporal.db` | Temporal dev server output and its SQLite database (src/dev/temporal.ts) |
 * | `kwokctl.yaml`, `kwokctl.log` | generated kwokctl configuration and kwokctl output (src/dev/cluster.ts) |
 * | `kwok/` | `KWOK_WORKDIR`: the cluster's folder `kwok/clusters/<name>/` (kubeconfig, pki, logs incl. the API server's `audit.log`, pid files) |
 * | `kwok-<i>/`, `kwokctl-<i>.yaml`, `kwokctl-<i>.log` | the same for cluster `i` ≥ 2 of a multi-cluster stack (src/dev/clusters.ts) |
 * | `kubeconfig-all.yaml`, `clusters.json` | one context per cluster, and the worker configuration listing them with their labels |
 * @module
 */

import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { abortError, isAlive, sleep } from './process.js';
import { cacheRoot } from './toolchain.js';

/** How to reach a running stack: what `dev up` / `dev status` print and what tests connect to. */
export interface StackInfo {
  /** The stack's (and the kwok cluster's) name. */
  name: string;
  /** The stack's folder (absolute). */
  dir: string;
  /** Temporal frontend gRPC address, `127.0.0.1:PORT`. */
  temporalAddress: string;
  /** Temporal namespace created at start (always `default`). */
  temporalNamespace: string;
  /** Temporal Web UI, `http://127.0.0.1:PORT`. */
  temporalUiUrl: string;
  /** Path of the cluster's own kubeconfig (never `~/.kube/config`). */
  kubeconfig: string;
  /** The context in that kubeconfig (`kwok-<name>`). */
  kubeContext: string;
  /** The kwok cluster name. */
  clusterName: string;
  /**
   * The kube-apiserver's audit log (JSON lines, one Metadata-level `ResponseComplete` event per write request; see
   * tools/kwok/audit-policy.yaml). Read it with test/support/audit.ts.
   */
  auditLogPath: string;
  /**
   * Every cluster of the stack, cluster 1 (the one the fields above describe, named `local`) first, then `local-2`,
   * `local-3`, … when it was started with `clusters: N`. Each is reached through {@link kubeconfigAll} with the
   * context named like the cluster.
   */
  clusters: StackCluster[];
  /** The combined kubeconfig `<dir>/kubeconfig-all.yaml`: one context per cluster, named `local`, `local-2`, … */
  kubeconfigAll: string;
  /**
   * The worker configuration file `<dir>/clusters.json` (for `KUBE_WORKFLOWS_CONFIG`) listing every cluster with
   * its context and labels, default `local`.
   */
  workerConfigFile: string;
}

/** One cluster of a running stack, as {@link StackInfo.clusters} lists it. */
export interface StackCluster {
  /** kube-workflows name (workflows, worker configuration, context): `local`, `local-2`, … */
  name: string;
  /** The combined kubeconfig (`<dir>/kubeconfig-all.yaml`). */
  kubeconfig: string;
  /** Its context in that kubeconfig: the same as {@link name}. */
  kubeContext: string;
  /** The kwok cluster name: `<stack>` for `local`, `<stack>-<i>` for `local-<i>`. */
  kwokName: string;
  /** Its labels in the worker configuration: `env` (`staging` for `local`, else `prod`), `region: r<i>`, `stack: local`. */
  labels: Record<string, string>;
  /** Its kube-apiserver's audit log (see {@link StackInfo.auditLogPath}). */
  auditLogPath: string;
  /** Its kube-apiserver, `https://127.0.0.1:PORT`. */
  apiServerUrl: string;
}

/** What `stack.json` records of a cluster beyond the first (`dev up --clusters N`, N ≥ 2). */
export interface ExtraClusterState {
  /** 1-based position (≥ 2). */
  readonly index: number;
  /** kube-workflows name, `local-<index>`. */
  readonly name: string;
  /** kwok cluster name, `<stack>-<index>`. */
  readonly kwokName: string;
  /** Its own `KWOK_WORKDIR`, `<dir>/kwok-<index>`. */
  readonly kwokWorkdir: string;
  /** kwok's kubeconfig of the cluster. */
  readonly kubeconfig: string;
  /** Its control plane's ports. */
  readonly clusterPorts: ClusterPorts;
  /** Its control-plane pids, by component. */
  readonly clusterPids: Readonly<Record<string, number>>;
}

/** The content of `stack.json`. */
export interface StackState {
  /** Format version of this file. */
  readonly version: 1;
  /** `starting` while `startStack` runs, `ready` once everything answered. */
  readonly phase: 'starting' | 'ready';
  /** Stack name. */
  readonly name: string;
  /** Stack folder (absolute). */
  readonly dir: string;
  /** kwok cluster name. */
  readonly clusterName: string;
  /** `KWOK_WORKDIR` of the cluster. */
  readonly kwokWorkdir: string;
  /** Cluster kubeconfig path. */
  readonly kubeconfig: string;
  /** Number of simulated nodes requested. */
  readonly nodes: number;
  /** The Temporal dev server. */
  readonly temporal: {
    /** Pid of `temporal server start-dev` (also its process group id). */
    readonly pid: number;
    /** gRPC frontend port. */
    readonly grpcPort: number;
    /** Web UI port. */
    readonly uiPort: number;
    /** HTTP API port. */
    readonly httpPort: number;
    /** Prometheus `/metrics` port. */
    readonly metricsPort: number;
    /** SQLite file, when persistent. */
    readonly dbFile?: string;
  };
  /** Ports given to the control plane (picked like Temporal's, so that stacks started together never collide). */
  readonly clusterPorts: ClusterPorts;
  /** Pids of the control-plane processes kwokctl started, by component (from its pid files). */
  readonly clusterPids: Readonly<Record<string, number>>;
  /**
   * Clusters 2…N of a stack started with `clusters: N` (absent or empty: one cluster). The fields above describe
   * cluster 1.
   */
  readonly extraClusters?: readonly ExtraClusterState[];
  /** Binaries used, so that `stop` works with the same ones. */
  readonly binaries: { readonly temporal: string; readonly kwokctl: string; readonly kubectl: string };
  /** Pid of the process that started the stack. */
  readonly starterPid: number;
  /** ISO time the start began. */
  readonly createdAt: string;
  /** ISO time the stack became ready. */
  readonly readyAt?: string;
}

/** The ports of the control-plane processes, all on 127.0.0.1. */
export interface ClusterPorts {
  /** kube-apiserver (HTTPS). */
  readonly kubeApiserver: number;
  /** etcd client port. */
  readonly etcd: number;
  /** etcd peer port. */
  readonly etcdPeer: number;
  /** kwok controller (metrics/health). */
  readonly kwokController: number;
  /** kube-controller-manager (HTTPS health/metrics). */
  readonly kubeControllerManager: number;
  /** kube-scheduler (HTTPS health/metrics). */
  readonly kubeScheduler: number;
}

/** Options naming a stack folder. */
export interface StackDirOptions {
  /** Stack folder (default `KUBE_WORKFLOWS_STACK_DIR` or `~/.cache/kube-workflows/stack`). */
  readonly dir?: string;
}

/** A stack to act on: its {@link StackInfo} (what `inject('stack')` gives a test) or just its folder. */
export type StackRef = Pick<StackInfo, 'dir'> | StackDirOptions;

/** One progress line per step, as `onProgress` options receive them. */
export type Progress = (line: string) => void;

/** File names in the stack folder. */
export const STATE_FILE = 'stack.json';
export const ENV_FILE = 'stack.env';
const LOCK_FILE = 'stack.lock';
/** The Temporal namespace every stack creates. */
export const TEMPORAL_NAMESPACE = 'default';

/** The default stack folder: `KUBE_WORKFLOWS_STACK_DIR`, else `<cache root>/stack`. */
export function defaultStackDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['KUBE_WORKFLOWS_STACK_DIR'];
  return fromEnv ? resolve(fromEnv) : join(cacheRoot(env), 'stack');
}

/**
 * The lines `dev up` and `dev status` print, in this order: `TEMPORAL_ADDRESS=…`, `TEMPORAL_NAMESPACE=default`,
 * `TEMPORAL_UI_URL=http://127.0.0.1:PORT`, `KUBECONFIG=…`. A stack with several clusters adds
 * `KUBE_WORKFLOWS_CONFIG=<dir>/clusters.json` (every cluster, with labels, for the worker) and
 * `KUBE_WORKFLOWS_CLUSTER=local` (so the `KUBECONFIG` cluster is the file's `local`, not a second name for it).
 */
export function stackEnvLines(
  info: Pick<
    StackInfo,
    'temporalAddress' | 'temporalNamespace' | 'temporalUiUrl' | 'kubeconfig' | 'clusters' | 'workerConfigFile'
  >,
): string[] {
  return [
    `TEMPORAL_ADDRESS=${info.temporalAddress}`,
    `TEMPORAL_NAMESPACE=${info.temporalNamespace}`,
    `TEMPORAL_UI_URL=${info.temporalUiUrl}`,
    `KUBECONFIG=${info.kubeconfig}`,
    ...(info.clusters.length > 1
      ? [
          `KUBE_WORKFLOWS_CONFIG=${info.workerConfigFile}`,
          `KUBE_WORKFLOWS_CLUSTER=${info.clusters[0]?.name ?? 'local'}`,
        ]
      : []),
  ];
}

/** Reads `<dir>/stack.json`, or undefined when there is none (or it is unreadable). */
export function readStackState(dir: string = defaultStackDir()): StackState | undefined {
  const file = join(resolve(dir), STATE_FILE);
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as StackState;
    return parsed.version === 1 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The state of the stack `stack` names; throws naming the folder when it has none. */
export function stateOf(stack: StackRef): StackState {
  const dir = resolve(stack.dir ?? defaultStackDir());
  const state = readStackState(dir);
  if (!state) throw new Error(`kube-workflows: no stack in ${dir} (no ${STATE_FILE})`);
  return state;
}

/** Replaces `<dir>/stack.json`. */
export function writeState(dir: string, state: StackState): void {
  writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/** Every pid a stack recorded: the Temporal server and each control-plane process of every cluster. */
export function stackPids(state: StackState): number[] {
  return [
    state.temporal.pid,
    ...Object.values(state.clusterPids),
    ...(state.extraClusters ?? []).flatMap((c) => Object.values(c.clusterPids)),
  ].filter((p) => Number.isInteger(p) && p > 0);
}

/** The cluster's own folder, `<kwokWorkdir>/clusters/<name>`. */
export function clusterDirOf(state: Pick<StackState, 'kwokWorkdir' | 'clusterName'>): string {
  return join(state.kwokWorkdir, 'clusters', state.clusterName);
}

/** The current context of a kwok kubeconfig (`kwok-<name>` when unreadable). */
export function kubeContextOf(kubeconfig: string, clusterName: string): string {
  const m = /^current-context:\s*["']?([^"'\s]+)["']?\s*$/m.exec(readText(kubeconfig));
  return m?.[1] ?? `kwok-${clusterName}`;
}

/** Prefixes each line with `[dev]` and appends the seconds elapsed since this call. */
export function progressReporter(onProgress: ((line: string) => void) | undefined): Progress {
  const t0 = Date.now();
  return (line) => onProgress?.(`[dev] ${line} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

/** The content of `file`, or '' when it cannot be read. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Writes a temp file beside `file` and renames it over `file`. */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/**
 * Runs `fn` holding `<dir>/stack.lock` (created exclusively, holding our pid), so that two processes never start or
 * stop the same stack at once. A lock whose holder is dead is taken over.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = join(dir, LOCK_FILE);
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readText(lock), 10);
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // removed meanwhile
      }
      if ((!isAlive(holder) && age > 1000) || age > 15 * 60_000) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `kube-workflows: another process (pid ${holder}) is starting or stopping the stack in ${dir} (${lock})`,
        );
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}
