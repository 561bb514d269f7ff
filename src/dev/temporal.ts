/**
 * The stack's Temporal dev server: launching `temporal server start-dev` (127.0.0.1 only, namespace `default`, the
 * project's search attributes, optionally a SQLite file), waiting until it answers, and restarting it in place.
 *
 * Contract: the server runs detached in its own process group (its pid is the group id, so a stop signals the
 * group) and outlives the process that launched it; its output is appended to `temporal.log`. The caller's
 * `TEMPORAL_*` variables never reach the CLI (they would change what it talks to). "Answers" means a
 * `temporal operator namespace describe` of `default` succeeded, not merely that the port is open.
 * @module
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pollUntil, runCommand, sendSignal, sleep, tailLines, waitForExit } from './process.js';
import { progressReporter, readText, stateOf, TEMPORAL_NAMESPACE, writeState } from './state.js';
import type { StackRef, StackState } from './state.js';
import type { Toolchain } from './toolchain.js';

/** Where and how a Temporal dev server is launched. */
export interface TemporalLaunch {
  readonly dir: string;
  readonly grpcPort: number;
  readonly uiPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly dbFile: string | undefined;
  readonly logFile: string;
}

/** A launched server: its pid, the child (drop its listeners once started), and its exit reason when it exits. */
export interface LaunchedTemporal {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<string>;
}

/** Options of {@link restartTemporal}. */
export interface RestartTemporalOptions {
  /** How long Temporal stays down before it is started again (default 0). */
  downMs?: number;
  /** Default SIGKILL: a crash, not a shutdown. */
  killSignal?: 'SIGKILL' | 'SIGTERM';
  onProgress?: (line: string) => void;
}

const SEARCH_ATTRIBUTES = ['KubeCluster', 'KubeNamespace', 'KubeApp', 'KubeOutcome'] as const;
const TEMPORAL_READY_TIMEOUT_MS = 60_000;

/** An environment without the caller's `TEMPORAL_*` variables (they would change what the CLI talks to). */
function temporalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return env;
}

/**
 * Dynamic configuration of the dev server: eager activity dispatch on (Temporal Cloud has it on; the dev server's
 * default is off). A workflow task that schedules an activity gets the activity task back in its completion
 * response when the worker has a free slot, so a deploy's plan, apply and health wait skip the task queue: with 200
 * deploys at once, each activity's queue time went from 0.4–1.0 s (p50–p90) to 0 and Temporal's CPU from 18.9–20.5 s
 * to 15.7–18.0 s (throughput 5.3–6.0 deploys/s, against 5.1–5.4 before).
 */
export const TEMPORAL_DYNAMIC_CONFIG: readonly string[] = ['system.enableActivityEagerExecution=true'];

/** Starts `temporal server start-dev` detached, its output appended to `launch.logFile`. Does not wait for it. */
export function spawnTemporal(toolchain: Pick<Toolchain, 'temporal'>, launch: TemporalLaunch): LaunchedTemporal {
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
    ...TEMPORAL_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]),
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

/**
 * What the command line of the stack's Temporal server contains: a recorded pid is only taken for the server while
 * its command line still matches (pids get reused).
 */
export function temporalMarker(state: StackState): string[] {
  return ['start-dev', `--port ${state.temporal.grpcPort} `];
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
export async function temporalAnswers(
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

/**
 * Ids of the workflows still running in the stack's Temporal (at most `limit`): after `dev down` without `--purge`
 * the database keeps them, and they would hold their locks against the new, empty cluster. Empty on any error.
 */
export async function openWorkflowIds(temporalBinary: string, grpcPort: number, limit = 20): Promise<string[]> {
  const result = await runCommand(
    temporalBinary,
    [
      'workflow',
      'list',
      '--namespace',
      TEMPORAL_NAMESPACE,
      '--address',
      `127.0.0.1:${grpcPort}`,
      '--query',
      "ExecutionStatus='Running'",
      '--limit',
      String(limit),
      '--disable-config-file',
      '--disable-config-env',
      '--output',
      'jsonl',
    ],
    { timeoutMs: 15_000, env: temporalEnv() },
  );
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        const id = (JSON.parse(l) as { execution?: { workflowId?: string } }).execution?.workflowId;
        return id ? [id] : [];
      } catch {
        return [];
      }
    });
}

/**
 * Waits until the server answers (up to 60 s). Rejects early when it exits, and on timeout; the error carries the
 * tail of `logFile`.
 */
export async function waitForTemporal(
  toolchain: Pick<Toolchain, 'temporal'>,
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

/**
 * Kills the stack's Temporal dev server and starts it again on the same ports and the same SQLite database, as a
 * crash and restart would: workflows, timers and task queues survive in the database. Waits until it answers and
 * records the new pid. Fails when the stack runs Temporal in memory (nothing would survive). Returns the outage.
 */
export async function restartTemporal(
  stack: StackRef,
  options: RestartTemporalOptions = {},
): Promise<{ oldPid: number; newPid: number; outageMs: number }> {
  const state = stateOf(stack);
  const progress = progressReporter(options.onProgress);
  if (!state.temporal.dbFile)
    throw new Error('kube-workflows: this stack keeps Temporal in memory; nothing would survive a restart');
  const t0 = Date.now();
  const oldPid = state.temporal.pid;
  sendSignal(-oldPid, options.killSignal ?? 'SIGKILL'); // its process group: the server and anything it started
  if ((await waitForExit([oldPid], 30_000)).length > 0) {
    throw new Error(`kube-workflows: Temporal (pid ${oldPid}) did not exit`);
  }
  progress(`Temporal (pid ${oldPid}) stopped`);
  if (options.downMs) await sleep(options.downMs);
  const toolchain = { temporal: state.binaries.temporal };
  const logFile = join(state.dir, 'temporal.log');
  const temporal = spawnTemporal(toolchain, {
    dir: state.dir,
    ...state.temporal,
    dbFile: state.temporal.dbFile,
    logFile,
  });
  const next: StackState = { ...state, temporal: { ...state.temporal, pid: temporal.pid } };
  writeState(state.dir, next);
  try {
    await waitForTemporal(toolchain, next, temporal.exited, logFile, undefined);
  } finally {
    temporal.child.removeAllListeners();
  }
  progress(`Temporal answers again (pid ${temporal.pid})`);
  return { oldPid, newPid: temporal.pid, outageMs: Date.now() - t0 };
}
