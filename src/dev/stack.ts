/**
 * The local stack manager behind `kube-workflows dev up|status|down`, the demo and the integration tests: a Temporal
 * dev server (with Web UI and a SQLite file) and a local Kubernetes control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler) whose nodes and pods are simulated by KWOK, all running as local
 * processes bound to 127.0.0.1.
 *
 * Everything a stack owns lives in one folder (default `KUBE_WORKFLOWS_STACK_DIR` or
 * `~/.cache/kube-workflows/stack`):
 *
 * | file | what |
 * |---|---|
 * | `stack.json` | state: pids, ports, cluster name, kwok workdir, creation time ({@link StackState}) |
 * | `stack.env` | the `KEY=value` lines of {@link stackEnvLines} |
 * | `temporal.log`, `temporal.db` | Temporal dev server output and its SQLite database |
 * | `kwokctl.yaml`, `kwokctl.log` | generated kwokctl configuration (options + `tools/kwok/stages.yaml`) and kwokctl output |
 * | `kwok/` | `KWOK_WORKDIR`: the cluster's folder `kwok/clusters/<name>/` (kubeconfig, pki, logs incl. the API server's `audit.log`, pid files) |
 *
 * The cluster behaves like a small real one: nodes with realistic capacity, allocatable, labels and zones
 * (tools/kwok/node.yaml), kube-controller-manager and kube-scheduler without leader election (so they survive an API
 * server outage; {@link restartApiServer} restarts kube-apiserver for tests), and an audit log of write requests
 * ({@link StackInfo.auditLogPath}, tools/kwok/audit-policy.yaml).
 *
 * The processes outlive the process that started them (`dev up` returns at once); {@link stopStack} works from
 * `stack.json` alone, so it also cleans up after a starter that crashed. Nothing here reads or writes
 * `~/.kube/config`.
 * @module
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { basename, delimiter, join, resolve } from 'node:path';
import {
  abortError,
  freePorts,
  isAlive,
  pollUntil,
  processCmdline,
  processExe,
  runCommand,
  sendSignal,
  sleep,
  tailLines,
  waitForExit,
} from './process.js';
import { cacheRoot, ensureToolchain, resolveToolchain, STACK_BINARIES } from './toolchain.js';
import type { Toolchain } from './toolchain.js';

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
}

/** The content of `stack.json`. */
export interface StackState {
  /** Format version of this file. */
  readonly version: 1;
  /** `starting` while {@link startStack} runs, `ready` once everything answered. */
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

/** Options of {@link startStack}. */
export interface StartStackOptions {
  /** Stack folder (default `KUBE_WORKFLOWS_STACK_DIR` or `~/.cache/kube-workflows/stack`). */
  readonly dir?: string;
  /** Stack and cluster name (default `kube-workflows`; lowercase letters, digits and dashes). */
  readonly name?: string;
  /** Number of simulated nodes (default 3). */
  readonly nodes?: number;
  /** Receives one progress line per step (with elapsed seconds), plus toolchain build output if a build runs. */
  readonly onProgress?: (line: string) => void;
  /** Keep Temporal's state in `<dir>/temporal.db` (default true); false keeps it in memory. */
  readonly temporalDbFile?: boolean;
  /** Aborting stops a start in progress (what was started is stopped again) and rejects. */
  readonly signal?: AbortSignal;
}

/** Options naming a stack folder. */
export interface StackDirOptions {
  /** Stack folder (default `KUBE_WORKFLOWS_STACK_DIR` or `~/.cache/kube-workflows/stack`). */
  readonly dir?: string;
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

const STATE_FILE = 'stack.json';
const ENV_FILE = 'stack.env';
const LOCK_FILE = 'stack.lock';
const DEFAULT_NAME = 'kube-workflows';
const DEFAULT_NODES = 3;
const TEMPORAL_NAMESPACE = 'default';
const SEARCH_ATTRIBUTES = ['KubeCluster', 'KubeNamespace', 'KubeApp', 'KubeOutcome'] as const;
const TEMPORAL_READY_TIMEOUT_MS = 60_000;
const CLUSTER_CREATE_TIMEOUT_MS = 180_000;
const NODES_READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
/** In tools/kwok/: the kwokctl "node" resource the nodes are made from. */
const NODE_RESOURCE_FILE = 'node.yaml';
/** In tools/kwok/: the API server's audit policy. */
const AUDIT_POLICY_FILE = 'audit-policy.yaml';
/** Executables the stack starts; only processes running one of these are ever killed by the /proc sweep. */
const STACK_EXECUTABLES = new Set([
  'temporal',
  'kwok',
  'kwok-controller',
  'kwokctl',
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
]);

/** The default stack folder: `KUBE_WORKFLOWS_STACK_DIR`, else `<cache root>/stack`. */
export function defaultStackDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['KUBE_WORKFLOWS_STACK_DIR'];
  return fromEnv ? resolve(fromEnv) : join(cacheRoot(env), 'stack');
}

/**
 * The lines `dev up` and `dev status` print, in this order: `TEMPORAL_ADDRESS=…`, `TEMPORAL_NAMESPACE=default`,
 * `TEMPORAL_UI_URL=http://127.0.0.1:PORT`, `KUBECONFIG=…`.
 */
export function stackEnvLines(info: StackInfo): string[] {
  return [
    `TEMPORAL_ADDRESS=${info.temporalAddress}`,
    `TEMPORAL_NAMESPACE=${info.temporalNamespace}`,
    `TEMPORAL_UI_URL=${info.temporalUiUrl}`,
    `KUBECONFIG=${info.kubeconfig}`,
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

/** Every pid a stack recorded: the Temporal server and each control-plane process. */
export function stackPids(state: StackState): number[] {
  return [state.temporal.pid, ...Object.values(state.clusterPids)].filter((p) => Number.isInteger(p) && p > 0);
}

/** The {@link StackInfo} described by a state file. */
export function stackInfoFromState(state: StackState): StackInfo {
  return {
    name: state.name,
    dir: state.dir,
    temporalAddress: `127.0.0.1:${state.temporal.grpcPort}`,
    temporalNamespace: TEMPORAL_NAMESPACE,
    temporalUiUrl: `http://127.0.0.1:${state.temporal.uiPort}`,
    kubeconfig: state.kubeconfig,
    kubeContext: kubeContextOf(state.kubeconfig, state.clusterName),
    clusterName: state.clusterName,
    auditLogPath: join(clusterDirOf(state), 'logs', 'audit.log'),
  };
}

function clusterDirOf(state: Pick<StackState, 'kwokWorkdir' | 'clusterName'>): string {
  return join(state.kwokWorkdir, 'clusters', state.clusterName);
}

/**
 * Starts the local stack in `dir`, or returns the running one's info when `dir` already holds a healthy stack
 * (state file present, its pids alive, Temporal answering), whatever name and node count it was started with:
 * starting is idempotent. A stale state (a crashed stack) is cleaned up first; Temporal's database is kept, so
 * workflow history survives a restart. Two processes starting the same `dir` at once are serialised by a lock file.
 *
 * Temporal and the cluster start in parallel (typically ~3-4 s in all with cached binaries; the first call may
 * build the toolchain, which takes many minutes). On any failure, whatever was started is stopped again and the
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
 * `kwokctl delete cluster`, then SIGKILL for any recorded process still alive, and removes the state files.
 * Works from `stack.json` alone (after the starting process crashed) and is safe to call twice or when nothing runs.
 */
export async function stopStack(options: StopStackOptions = {}): Promise<void> {
  const dir = resolve(options.dir ?? defaultStackDir());
  if (!existsSync(dir)) return;
  const progress = progressReporter(options.onProgress);
  await withLock(dir, () => stopInternal(dir, readStackState(dir), progress, options.purge ?? false));
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

type Progress = (line: string) => void;

function progressReporter(onProgress: ((line: string) => void) | undefined): Progress {
  const t0 = Date.now();
  return (line) => onProgress?.(`[dev] ${line} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

async function startStackInternal(options: StartStackOptions): Promise<{ info: StackInfo; reused: boolean }> {
  const dir = resolve(options.dir ?? defaultStackDir());
  const name = options.name ?? DEFAULT_NAME;
  const nodes = options.nodes ?? DEFAULT_NODES;
  if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(name)) {
    throw new Error(
      `kube-workflows: invalid stack name ${JSON.stringify(name)} (lowercase letters, digits and dashes)`,
    );
  }
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 1000) {
    throw new Error(`kube-workflows: invalid node count ${String(nodes)} (an integer from 0 to 1000)`);
  }
  const progress = progressReporter(options.onProgress);
  mkdirSync(dir, { recursive: true });
  return withLock(
    dir,
    async () => {
      const existing = readStackState(dir);
      if (existing) {
        const info = existing.phase === 'ready' ? await checkRunning(existing) : undefined;
        if (info) {
          progress(`stack ${info.name} already running in ${dir}`);
          return { info, reused: true };
        }
        progress('found a stopped or broken stack: cleaning it up first');
      }
      // Also sweeps leftovers of a start that crashed before writing stack.json.
      await stopInternal(dir, existing, progress, false);
      const info = await startFresh(dir, name, nodes, options, progress);
      return { info, reused: false };
    },
    options.signal,
  );
}

async function startFresh(
  dir: string,
  name: string,
  nodes: number,
  options: StartStackOptions,
  progress: Progress,
): Promise<StackInfo> {
  const signal = options.signal;
  const checkAbort = (): void => {
    if (signal?.aborted) throw abortError(signal);
  };
  progress('checking the toolchain');
  const toolchain = await ensureToolchain({
    only: STACK_BINARIES,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  checkAbort();

  // kwokctl's own port picker counts down from 32767 and only checks a port when it installs, so two clusters
  // created at the same time would get the same ports: give it random free ones instead.
  const ports = await freePorts(10);
  const port = (i: number): number => ports[i] ?? 0;
  const [grpcPort, uiPort, httpPort, metricsPort] = [port(0), port(1), port(2), port(3)];
  const clusterPorts: ClusterPorts = {
    kubeApiserver: port(4),
    etcd: port(5),
    etcdPeer: port(6),
    kwokController: port(7),
    kubeControllerManager: port(8),
    kubeScheduler: port(9),
  };
  const kwokWorkdir = join(dir, 'kwok');
  const clusterDir = join(kwokWorkdir, 'clusters', name);
  const kubeconfig = join(clusterDir, 'kubeconfig.yaml');
  const dbFile = options.temporalDbFile === false ? undefined : join(dir, 'temporal.db');
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
    clusterPorts,
    clusterPids: {},
    binaries: { temporal: toolchain.temporal, kwokctl: toolchain.kwokctl, kubectl: toolchain.kubectl },
    starterPid: process.pid,
    createdAt: new Date().toISOString(),
  };
  writeState(dir, state);

  try {
    // Both run at once; the first failure aborts the other, so a broken start fails fast.
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
      failFast(
        createCluster(toolchain, state, progress, stepSignal, (pids) => {
          state = { ...state, clusterPids: pids };
          writeState(dir, state);
        }),
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
    state = { ...state, clusterPids: readClusterPids(clusterDir), phase: 'ready', readyAt: new Date().toISOString() };
    writeState(dir, state);
    const info = stackInfoFromState(state);
    writeFileAtomic(join(dir, ENV_FILE), stackEnvLines(info).join('\n') + '\n');
    progress(`stack ${name} ready: Temporal ${info.temporalAddress}, UI ${info.temporalUiUrl}, ${nodes} nodes`);
    return info;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    progress('start failed: stopping what was started');
    try {
      await stopInternal(dir, readStackState(dir) ?? state, progress, false);
    } catch (stopErr) {
      progress(`cleanup failed: ${String(stopErr)}`);
    }
    throw new Error(`kube-workflows: could not start the local stack in ${dir}: ${message}`, { cause: err });
  } finally {
    temporal.child.removeAllListeners();
  }
}

// --- Temporal ---------------------------------------------------------------------------------------------------

interface TemporalLaunch {
  readonly dir: string;
  readonly grpcPort: number;
  readonly uiPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly dbFile: string | undefined;
  readonly logFile: string;
}

/** An environment without the caller's `TEMPORAL_*` variables (they would change what the CLI talks to). */
function temporalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return env;
}

function spawnTemporal(
  toolchain: Toolchain,
  launch: TemporalLaunch,
): { pid: number; child: ChildProcess; exited: Promise<string> } {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(launch.grpcPort),
    '--ui-port',
    String(launch.uiPort),
    '--http-port',
    String(launch.httpPort),
    '--metrics-port',
    String(launch.metricsPort),
    ...(launch.dbFile ? ['--db-filename', launch.dbFile] : []),
    '--namespace',
    TEMPORAL_NAMESPACE,
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a}=Keyword`]),
    '--log-level',
    'warn',
  ];
  const fd = openSync(launch.logFile, 'a');
  let child: ChildProcess;
  try {
    writeFileSync(fd, `\n--- ${new Date().toISOString()} ${toolchain.temporal} ${args.join(' ')}\n`);
    child = spawn(toolchain.temporal, args, {
      cwd: launch.dir,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: temporalEnv(),
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) {
    throw new Error(`kube-workflows: could not start ${toolchain.temporal}`);
  }
  const exited = new Promise<string>((resolveExit) => {
    child.once('exit', (code, sig) => resolveExit(sig ? `signal ${sig}` : `exit code ${String(code)}`));
    child.once('error', (err) => resolveExit(err.message));
  });
  child.unref();
  return { pid: child.pid, child, exited };
}

function tcpOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolveOpen(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** One `temporal operator namespace describe` against the stack; true when it succeeds. */
async function temporalAnswers(
  temporalBinary: string,
  grpcPort: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const result = await runCommand(
    temporalBinary,
    [
      'operator',
      'namespace',
      'describe',
      '--namespace',
      TEMPORAL_NAMESPACE,
      '--address',
      `127.0.0.1:${grpcPort}`,
      '--command-timeout',
      `${Math.max(1, Math.floor(timeoutMs / 1000))}s`,
      '--disable-config-file',
      '--disable-config-env',
      '--output',
      'json',
    ],
    { timeoutMs: timeoutMs + 2000, env: temporalEnv(), signal },
  );
  return result.code === 0;
}

async function waitForTemporal(
  toolchain: Toolchain,
  state: StackState,
  exited: Promise<string>,
  logFile: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  let exitReason: string | undefined;
  void exited.then((r) => (exitReason = r));
  const { grpcPort } = state.temporal;
  const ok = await pollUntil(
    async () => {
      if (exitReason) return 'exited' as const;
      if (!(await tcpOpen(grpcPort))) return false;
      return (await temporalAnswers(toolchain.temporal, grpcPort, 5000, signal)) ? ('ok' as const) : false;
    },
    TEMPORAL_READY_TIMEOUT_MS,
    300,
    signal,
  );
  if (ok === 'ok') return;
  const why =
    ok === 'exited'
      ? `the Temporal server exited (${exitReason ?? '?'})`
      : `Temporal did not answer on 127.0.0.1:${grpcPort} within ${TEMPORAL_READY_TIMEOUT_MS / 1000}s`;
  throw new Error(`${why}. Last lines of ${logFile}:\n${tailLines(readText(logFile), 25)}`);
}

// --- Kubernetes (kwok) ------------------------------------------------------------------------------------------

/**
 * Environment for kwokctl: the caller's without `KWOK_*`, plus the local binaries and the stack's workdir.
 * kwokctl runs the first `kubectl` on PATH before `KWOK_KUBECTL_BINARY`, so PATH starts with `<dir>/bin` holding a
 * `kubectl` link to the toolchain's (a machine's own kubectl may refuse a newer server).
 */
function kwokEnv(toolchain: Toolchain, dir: string, kwokWorkdir: string, kubeconfig: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KWOK_')) env[k] = v;
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, 'kubectl');
  rmSync(link, { force: true });
  symlinkSync(toolchain.kubectl, link);
  return {
    ...env,
    PATH: [binDir, env['PATH'] ?? ''].filter(Boolean).join(delimiter),
    KWOK_WORKDIR: kwokWorkdir,
    KWOK_RUNTIME: 'binary',
    KWOK_KUBE_VERSION: toolchain.versions.kube,
    KWOK_KUBE_APISERVER_BINARY: toolchain.kubeApiserver,
    KWOK_KUBE_CONTROLLER_MANAGER_BINARY: toolchain.kubeControllerManager,
    KWOK_KUBE_SCHEDULER_BINARY: toolchain.kubeScheduler,
    KWOK_CONTROLLER_BINARY: toolchain.kwok,
    KWOK_ETCD_BINARY: toolchain.etcd,
    KWOK_KUBECTL_BINARY: toolchain.kubectl,
    // Any kubeconfig fallback lands on the cluster's own file, never on ~/.kube/config.
    KUBECONFIG: kubeconfig,
  };
}

/**
 * The kwokctl configuration: options (local binaries, 127.0.0.1, the audit policy of tools/kwok/audit-policy.yaml),
 * component patches (kube-controller-manager and kube-scheduler run single-instance with `--leader-elect=false`, as
 * nothing would restart them after they lose a lease while the API server is down), then the stages of
 * tools/kwok/stages.yaml.
 */
export function kwokctlConfig(toolchain: Toolchain, ports?: ClusterPorts): string {
  const q = (s: string): string => JSON.stringify(s);
  const kwokDir = join(toolchain.projectRoot, 'tools', 'kwok');
  const stages = readFileSync(join(kwokDir, 'stages.yaml'), 'utf8');
  const noLeaderElection = (component: string): string[] => [
    `  - name: ${component}`,
    '    extraArgs:',
    '      - key: leader-elect',
    '        value: "false"',
  ];
  return [
    '# Generated by kube-workflows (src/dev/stack.ts); the stages come from tools/kwok/stages.yaml.',
    'apiVersion: config.kwok.x-k8s.io/v1alpha1',
    'kind: KwokctlConfiguration',
    'componentsPatches:',
    ...noLeaderElection('kube-controller-manager'),
    ...noLeaderElection('kube-scheduler'),
    'options:',
    `  kubeAuditPolicy: ${q(join(kwokDir, AUDIT_POLICY_FILE))}`,
    '  runtime: binary',
    '  bindAddress: 127.0.0.1',
    `  kubeVersion: ${q(toolchain.versions.kube)}`,
    `  kubeApiserverBinary: ${q(toolchain.kubeApiserver)}`,
    `  kubeControllerManagerBinary: ${q(toolchain.kubeControllerManager)}`,
    `  kubeSchedulerBinary: ${q(toolchain.kubeScheduler)}`,
    `  kwokControllerBinary: ${q(toolchain.kwok)}`,
    `  etcdBinary: ${q(toolchain.etcd)}`,
    `  kubectlBinary: ${q(toolchain.kubectl)}`,
    '  disableQPSLimits: true',
    ...(ports
      ? [
          `  kubeApiserverPort: ${ports.kubeApiserver}`,
          `  etcdPort: ${ports.etcd}`,
          `  etcdPeerPort: ${ports.etcdPeer}`,
          `  kwokControllerPort: ${ports.kwokController}`,
          `  kubeControllerManagerPort: ${ports.kubeControllerManager}`,
          `  kubeSchedulerPort: ${ports.kubeScheduler}`,
        ]
      : []),
    '---',
    stages.trimEnd(),
    '',
  ].join('\n');
}

async function runKwokctl(
  toolchain: Pick<Toolchain, 'kwokctl'>,
  env: NodeJS.ProcessEnv,
  args: readonly string[],
  logFile: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const result = await runCommand(toolchain.kwokctl, args, { env, timeoutMs, signal });
  const output = `${result.stdout}${result.stderr}`;
  try {
    writeFileSync(logFile, `\n--- ${new Date().toISOString()} kwokctl ${args.join(' ')}\n${output}`, { flag: 'a' });
  } catch {
    // the log is a convenience
  }
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${timeoutMs / 1000}s` : `exited with ${String(result.code)}`;
    throw new Error(`kwokctl ${args.join(' ')} ${why} (full output in ${logFile}):\n${summarizeKwokLog(output)}`);
  }
}

/** kwokctl logs JSON lines: keep their level, message and error, and only warnings and errors when there are any. */
function summarizeKwokLog(output: string): string {
  const lines = output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      try {
        const rec = JSON.parse(line) as { level?: string; msg?: string; err?: string };
        if (typeof rec.msg !== 'string') return { level: '', text: line };
        return {
          level: rec.level ?? '',
          text: `${rec.level ?? ''} ${rec.msg}${rec.err ? `: ${rec.err.trim()}` : ''}`.trim(),
        };
      } catch {
        return { level: '', text: line };
      }
    });
  const important = lines.filter((l) => l.level === 'ERROR' || l.level === 'WARN');
  return tailLines((important.length > 0 ? important : lines).map((l) => l.text).join('\n'), 15);
}

async function createCluster(
  toolchain: Toolchain,
  state: StackState,
  progress: Progress,
  signal: AbortSignal | undefined,
  recordPids: (pids: Record<string, number>) => void,
): Promise<void> {
  const { dir, clusterName, kwokWorkdir, kubeconfig, nodes } = state;
  const clusterDir = join(kwokWorkdir, 'clusters', clusterName);
  const env = kwokEnv(toolchain, dir, kwokWorkdir, kubeconfig);
  const configFile = join(dir, 'kwokctl.yaml');
  const logFile = join(dir, 'kwokctl.log');
  writeFileAtomic(configFile, kwokctlConfig(toolchain, state.clusterPorts));
  mkdirSync(kwokWorkdir, { recursive: true });

  progress(`creating cluster ${clusterName} (kwokctl, binary runtime)`);
  try {
    await runKwokctl(
      toolchain,
      env,
      [
        'create',
        'cluster',
        '--name',
        clusterName,
        '--runtime',
        'binary',
        '--kubeconfig=',
        '--config',
        configFile,
        '--wait',
        '2m',
      ],
      logFile,
      CLUSTER_CREATE_TIMEOUT_MS,
      signal,
    );
  } finally {
    recordPids(readClusterPids(clusterDir));
  }
  progress(`cluster ${clusterName} created: scaling to ${nodes} nodes`);
  // The node shape (capacity, allocatable, labels, zones) is tools/kwok/node.yaml's, not kwokctl's built-in one.
  await runKwokctl(
    toolchain,
    env,
    [
      '--config',
      join(toolchain.projectRoot, 'tools', 'kwok', NODE_RESOURCE_FILE),
      'scale',
      'node',
      '--name',
      clusterName,
      '--replicas',
      String(nodes),
      '--param',
      `.kubeVersion=${JSON.stringify(toolchain.versions.kube)}`,
    ],
    logFile,
    60_000,
    signal,
  );

  let last = '';
  const ready = await pollUntil(
    async () => {
      const r = await runCommand(
        toolchain.kubectl,
        ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'json', '--request-timeout=5s'],
        { env, timeoutMs: 10_000, signal },
      );
      if (r.code !== 0) {
        last = r.stderr.trim();
        return false;
      }
      const count = countReadyNodes(r.stdout);
      last = `${count}/${nodes} nodes Ready`;
      return count >= nodes;
    },
    NODES_READY_TIMEOUT_MS,
    250,
    signal,
  );
  if (!ready) {
    throw new Error(
      `the cluster's nodes did not become Ready within ${NODES_READY_TIMEOUT_MS / 1000}s (last: ${last}). See ${join(clusterDir, 'logs')}`,
    );
  }
  progress(`${nodes} nodes Ready`);
}

interface NodeList {
  items?: { status?: { conditions?: { type?: string; status?: string }[] } }[];
}

function countReadyNodes(json: string): number {
  const list = JSON.parse(json) as NodeList;
  return (list.items ?? []).filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .length;
}

/** The control-plane pids kwokctl recorded in `<clusterDir>/pids/*.pid`, by component. */
function readClusterPids(clusterDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const pidsDir = join(clusterDir, 'pids');
  let files: string[];
  try {
    files = readdirSync(pidsDir);
  } catch {
    return out;
  }
  for (const f of files) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number.parseInt(readText(join(pidsDir, f)).trim(), 10);
    if (Number.isInteger(pid) && pid > 0) out[f.slice(0, -'.pid'.length)] = pid;
  }
  return out;
}

function kubeContextOf(kubeconfig: string, clusterName: string): string {
  const m = /^current-context:\s*["']?([^"'\s]+)["']?\s*$/m.exec(readText(kubeconfig));
  return m?.[1] ?? `kwok-${clusterName}`;
}

// --- control plane: pids, kill, restart ------------------------------------------------------------------------

/** A stack to act on: its {@link StackInfo} (what `inject('stack')` gives a test) or just its folder. */
export type StackRef = Pick<StackInfo, 'dir'> | StackDirOptions;

/** Names of the control-plane components kwokctl runs (the `<name>.pid` files in the cluster's `pids/` folder). */
export type ControlPlaneComponent =
  'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok-controller';

/** Options of {@link startControlPlane}. */
export interface StartControlPlaneOptions {
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

function stateOf(stack: StackRef): StackState {
  const dir = resolve(stack.dir ?? defaultStackDir());
  const state = readStackState(dir);
  if (!state) throw new Error(`kube-workflows: no stack in ${dir} (no ${STATE_FILE})`);
  return state;
}

/**
 * Pids of the stack's control-plane processes that are running now, by component (`etcd`, `kube-apiserver`,
 * `kube-controller-manager`, `kube-scheduler`, `kwok-controller`), read from kwokctl's pid files. A component that
 * has exited is absent.
 */
export function controlPlanePids(stack: StackRef): Record<string, number> {
  const clusterDir = clusterDirOf(stateOf(stack));
  const out: Record<string, number> = {};
  for (const [component, pid] of Object.entries(readClusterPids(clusterDir))) {
    if (aliveAndOurs(pid, clusterDir)) out[component] = pid;
  }
  return out;
}

/**
 * Stops one control-plane component of a running stack with `signal` (default SIGKILL) and waits until it has
 * exited. Nothing restarts it until {@link startControlPlane}. Returns the pid it had.
 */
export async function killControlPlaneComponent(
  stack: StackRef,
  component: ControlPlaneComponent,
  signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL',
): Promise<number> {
  const pid = controlPlanePids(stack)[component];
  if (pid === undefined) throw new Error(`kube-workflows: ${component} is not running`);
  sendSignal(pid, signal);
  if ((await waitForExit([pid], signal === 'SIGKILL' ? 10_000 : 60_000)).length > 0) {
    throw new Error(`kube-workflows: ${component} (pid ${pid}) did not exit after ${signal}`);
  }
  return pid;
}

/**
 * Starts every control-plane component of the stack that is not running (`kwokctl start cluster`, which re-runs
 * each one with the command line recorded in the cluster's `kwok.yaml`), waits until kube-apiserver answers
 * `/readyz`, records the new pids in `stack.json`, and returns the pids of all components. Does nothing to the
 * components that run.
 */
export async function startControlPlane(
  stack: StackRef,
  options: StartControlPlaneOptions = {},
): Promise<Record<string, number>> {
  const state = stateOf(stack);
  const { dir } = state;
  const progress = progressReporter(options.onProgress);
  const timeoutMs = options.timeoutMs ?? 90_000;
  const clusterDir = clusterDirOf(state);
  const deadline = Date.now() + timeoutMs;
  await withLock(dir, async () => {
    // A killed process stays a zombie until something reaps it, and kwokctl takes a zombie's pid for a running
    // component: drop the pid files of components that are gone.
    for (const [component, pid] of Object.entries(readClusterPids(clusterDir))) {
      if (!isAlive(pid)) rmSync(join(clusterDir, 'pids', `${component}.pid`), { force: true });
    }
    progress(`starting the stopped control-plane components of ${state.clusterName}`);
    await runKwokctl(
      state.binaries,
      controlPlaneEnv(state),
      ['start', 'cluster', '--name', state.clusterName],
      join(dir, 'kwokctl.log'),
      Math.max(10_000, deadline - Date.now()),
    );
    const current = readStackState(dir) ?? state;
    writeState(dir, { ...current, clusterPids: readClusterPids(clusterDir) });
  });
  let last = '';
  const ready = await pollUntil(
    async () => {
      const r = await runCommand(
        state.binaries.kubectl,
        ['--kubeconfig', state.kubeconfig, 'get', '--raw', '/readyz', '--request-timeout=5s'],
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
      `kube-workflows: kube-apiserver was not ready within ${timeoutMs / 1000}s after a restart (last: ${tailLines(last, 5)}). See ${join(clusterDir, 'logs', 'kube-apiserver.log')}`,
    );
  }
  progress('control plane running, kube-apiserver ready');
  return controlPlanePids(state);
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
  const oldPid = await killControlPlaneComponent(stack, 'kube-apiserver', options.killSignal ?? 'SIGKILL');
  progress(`kube-apiserver (pid ${oldPid}) stopped`);
  if (options.downMs) await sleep(options.downMs);
  const t1 = Date.now();
  const pids = await startControlPlane(stack, options);
  const newPid = pids['kube-apiserver'];
  if (newPid === undefined) throw new Error('kube-workflows: kube-apiserver did not start again');
  const done = Date.now();
  return { oldPid, newPid, outageMs: done - t0, startMs: done - t1, pids };
}

/** Environment of a kwokctl that acts on an existing cluster (same as at creation: no `KWOK_*` from the caller). */
function controlPlaneEnv(state: StackState): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KWOK_')) env[k] = v;
  return {
    ...env,
    PATH: [join(state.dir, 'bin'), env['PATH'] ?? ''].filter(Boolean).join(delimiter),
    KWOK_WORKDIR: state.kwokWorkdir,
    KUBECONFIG: state.kubeconfig,
  };
}

// --- health, stop -----------------------------------------------------------------------------------------------

/**
 * True when `pid` is alive and (where /proc tells) its command line contains every marker: a recorded pid is only
 * signalled while it still is the process the stack started (pids get reused).
 */
function aliveAndOurs(pid: number, ...markers: string[]): boolean {
  if (!isAlive(pid)) return false;
  const cmd = processCmdline(pid);
  return cmd === undefined || markers.every((m) => cmd.includes(m));
}

function temporalMarker(state: StackState): string[] {
  return ['start-dev', `--port ${state.temporal.grpcPort} `];
}

async function checkRunning(state: StackState): Promise<StackInfo | undefined> {
  if (!aliveAndOurs(state.temporal.pid, ...temporalMarker(state))) return undefined;
  const clusterDir = join(state.kwokWorkdir, 'clusters', state.clusterName);
  const pids = { ...state.clusterPids, ...readClusterPids(clusterDir) };
  if (Object.keys(pids).length === 0) return undefined;
  if (!Object.values(pids).every((p) => aliveAndOurs(p, clusterDir))) return undefined;
  if (!existsSync(state.binaries.temporal)) return undefined;
  if (!(await temporalAnswers(state.binaries.temporal, state.temporal.grpcPort, 10_000))) return undefined;
  return stackInfoFromState(state);
}

async function stopInternal(
  dir: string,
  state: StackState | undefined,
  progress: Progress,
  purge: boolean,
): Promise<void> {
  const kwokWorkdir = state?.kwokWorkdir ?? join(dir, 'kwok');
  const clusters = listDirs(join(kwokWorkdir, 'clusters'));
  if (state && !clusters.includes(state.clusterName)) clusters.push(state.clusterName);
  const hasAnything = state !== undefined || clusters.length > 0;
  if (hasAnything) progress(`stopping the stack in ${dir}`);

  // 0. A kwokctl left running by a starter that died would go on starting processes: stop it first.
  const kwokctls = findStackProcesses(dir, new Set(['kwokctl']));
  if (kwokctls.length > 0) {
    progress(`stopping a kwokctl left running (pid ${kwokctls.join(', ')})`);
    kwokctls.forEach((p) => sendSignal(p, 'SIGKILL'));
    await waitForExit(kwokctls, 5000);
  }

  // 1. Temporal: the whole process group, politely first.
  if (state && aliveAndOurs(state.temporal.pid, ...temporalMarker(state))) {
    const pid = state.temporal.pid;
    if (!sendSignal(-pid, 'SIGTERM')) sendSignal(pid, 'SIGTERM');
    if ((await waitForExit([pid], STOP_GRACE_MS)).length > 0) {
      progress(`Temporal (pid ${pid}) ignored SIGTERM: killing it`);
      if (!sendSignal(-pid, 'SIGKILL')) sendSignal(pid, 'SIGKILL');
      await waitForExit([pid], 5000);
    }
    progress('Temporal stopped');
  }

  // 2. The cluster(s): kwokctl delete, then whatever survived it.
  const kwokctl = state?.binaries.kwokctl ?? safeResolve()?.kwokctl;
  for (const clusterName of clusters) {
    const clusterDir = join(kwokWorkdir, 'clusters', clusterName);
    const pids = Object.values({
      ...(state?.clusterName === clusterName ? state.clusterPids : {}),
      ...readClusterPids(clusterDir),
    });
    // Checked before the delete: a process that is exiting has an empty command line and could not be recognised.
    const ours = [...new Set(pids)].filter((p) => aliveAndOurs(p, clusterDir));
    if (kwokctl && existsSync(kwokctl)) {
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KWOK_')) env[k] = v;
      env['KWOK_WORKDIR'] = kwokWorkdir;
      env['KUBECONFIG'] = join(clusterDir, 'kubeconfig.yaml');
      // `delete cluster --kubeconfig=` fails ("empty path") and the default is ~/.kube/config: name the cluster's
      // own kubeconfig, which is deleted with the cluster anyway.
      const args = ['delete', 'cluster', '--name', clusterName, '--kubeconfig', join(clusterDir, 'kubeconfig.yaml')];
      try {
        await runKwokctl({ kwokctl }, env, args, join(dir, 'kwokctl.log'), 90_000);
      } catch (err) {
        progress(
          `kwokctl delete cluster failed, killing the processes instead: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        );
      }
    }
    // kwokctl has signalled them; wait until they are really gone, insisting when they take too long.
    let left = await waitForExit(ours, STOP_GRACE_MS / 2);
    if (left.length > 0) {
      left.forEach((p) => sendSignal(p, 'SIGTERM'));
      left = await waitForExit(left, STOP_GRACE_MS / 2);
    }
    if (left.length > 0) {
      progress(`killing control-plane processes that ignored SIGTERM: ${left.join(', ')}`);
      left.forEach((p) => sendSignal(p, 'SIGKILL'));
      await waitForExit(left, 5000);
    }
    rmSync(clusterDir, { recursive: true, force: true });
    if (hasAnything) progress(`cluster ${clusterName} deleted`);
  }

  // 3. Safety net: any process running one of the stack's executables with this stack's folder in its arguments.
  const strays = findStackProcesses(dir);
  if (strays.length > 0) {
    progress(`killing leftover processes: ${strays.join(', ')}`);
    strays.forEach((p) => sendSignal(p, 'SIGKILL'));
    await waitForExit(strays, 5000);
  }

  for (const f of [STATE_FILE, ENV_FILE, 'kwokctl.yaml']) rmSync(join(dir, f), { force: true });
  rmSync(join(dir, 'bin'), { recursive: true, force: true });
  if (purge) {
    for (const f of ['temporal.db', 'temporal.db-wal', 'temporal.db-shm', 'temporal.log', 'kwokctl.log'])
      rmSync(join(dir, f), { force: true });
    rmSync(kwokWorkdir, { recursive: true, force: true });
  }
  if (hasAnything) progress('stack stopped');
}

/**
 * Pids of processes (other than this one) whose executable is one the stack runs (or one of `executables`) and
 * whose arguments mention `dir`: what a stack in `dir` left running. Linux only (reads /proc); [] elsewhere.
 */
export function findStackProcesses(dir: string, executables: ReadonlySet<string> = STACK_EXECUTABLES): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const marker = resolve(dir) + '/';
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const cmd = processCmdline(pid);
    if (!cmd?.includes(marker)) continue;
    const exe = processExe(pid);
    const argv0 = cmd.split(' ')[0] ?? '';
    if ((exe && executables.has(basename(exe))) || executables.has(basename(argv0))) {
      if (isAlive(pid)) out.push(pid);
    }
  }
  return out;
}

// --- files ------------------------------------------------------------------------------------------------------

function safeResolve(): Toolchain | undefined {
  try {
    return resolveToolchain();
  } catch {
    return undefined;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

function writeState(dir: string, state: StackState): void {
  writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/**
 * Runs `fn` holding `<dir>/stack.lock` (created exclusively, holding our pid), so that two processes never start or
 * stop the same stack at once. A lock whose holder is dead is taken over.
 */
async function withLock<T>(dir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
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
