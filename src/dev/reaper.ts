/**
 * Stopping a stack and everything it left behind: {@link teardownStack} stops the Temporal server and deletes the
 * cluster(s) in a stack folder, then sweeps /proc for stray processes of that folder and removes the state files.
 *
 * Contract: only processes that are provably the stack's are signalled: a recorded pid only while its command line
 * still matches what was started ({@link aliveAndOurs}; pids get reused), and in the /proc sweep only processes
 * running one of the stack's executables with the stack's folder in their arguments ({@link findStackProcesses}).
 * Each process gets SIGTERM and a grace period before SIGKILL. It works from the folder alone (no state file, or
 * one left by a starter that crashed mid-start) and is idempotent. Temporal's database and the logs are kept
 * unless `purge`. The caller holds the stack's lock.
 * @module
 */

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isAlive, processCmdline, processExe, sendSignal, waitForExit } from './process.js';
import { deleteCluster, readClusterPids } from './cluster.js';
import { clusterDirOf, ENV_FILE, STATE_FILE } from './state.js';
import type { Progress, StackState } from './state.js';
import { temporalMarker } from './temporal.js';
import { resolveToolchain } from './toolchain.js';

const STOP_GRACE_MS = 10_000;
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

/**
 * True when `pid` is alive and (where /proc tells) its command line contains every marker: a recorded pid is only
 * signalled while it still is the process the stack started (pids get reused).
 */
export function aliveAndOurs(pid: number, ...markers: string[]): boolean {
  if (!isAlive(pid)) return false;
  const cmd = processCmdline(pid);
  return cmd === undefined || markers.every((m) => cmd.includes(m));
}

/**
 * Stops whatever runs for the stack in `dir` (described by `state`, when there is one) and removes its state files;
 * with `purge`, also Temporal's database, the logs and the kwok workdir.
 */
export async function teardownStack(
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
  const kwokctl = state?.binaries.kwokctl ?? safeResolveKwokctl();
  for (const clusterName of clusters) {
    const clusterDir = clusterDirOf({ kwokWorkdir, clusterName });
    const pids = Object.values({
      ...(state?.clusterName === clusterName ? state.clusterPids : {}),
      ...readClusterPids(clusterDir),
    });
    // Checked before the delete: a process that is exiting has an empty command line and could not be recognised.
    const ours = [...new Set(pids)].filter((p) => aliveAndOurs(p, clusterDir));
    if (kwokctl && existsSync(kwokctl)) {
      try {
        await deleteCluster(kwokctl, kwokWorkdir, clusterName, join(dir, 'kwokctl.log'));
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

/** The toolchain's kwokctl, for a folder without a state file (undefined when there is no toolchain). */
function safeResolveKwokctl(): string | undefined {
  try {
    return resolveToolchain().kwokctl;
  } catch {
    return undefined;
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
