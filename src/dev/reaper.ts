/**
 * Stopping a stack and everything it left behind: {@link teardownStack} stops the Temporal server and deletes every
 * cluster in a stack folder (in parallel), then sweeps /proc for stray processes of that folder and removes the state files.
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
import { clusterRecords, CLUSTERS_CONFIG_FILE, KUBECONFIG_ALL_FILE } from './clusters.js';
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
  const clusters = clustersToDelete(dir, state);
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

  // 2. The clusters, all at once: kwokctl delete, then whatever survived it.
  const kwokctl = state?.binaries.kwokctl ?? safeResolveKwokctl();
  await Promise.all(clusters.map((c) => deleteOneCluster(c, kwokctl, progress, hasAnything)));

  // 3. Safety net: any process running one of the stack's executables with this stack's folder in its arguments.
  const strays = findStackProcesses(dir);
  if (strays.length > 0) {
    progress(`killing leftover processes: ${strays.join(', ')}`);
    strays.forEach((p) => sendSignal(p, 'SIGKILL'));
    await waitForExit(strays, 5000);
  }

  const generated = [STATE_FILE, ENV_FILE, KUBECONFIG_ALL_FILE, CLUSTERS_CONFIG_FILE];
  for (const f of [...generated, ...listEntries(dir, /^kwokctl(-\d+)?\.yaml$/)]) rmSync(join(dir, f), { force: true });
  rmSync(join(dir, 'bin'), { recursive: true, force: true });
  if (purge) {
    for (const f of ['temporal.db', 'temporal.db-wal', 'temporal.db-shm', 'temporal.log'])
      rmSync(join(dir, f), { force: true });
    for (const f of listEntries(dir, /^kwokctl(-\d+)?\.log$/)) rmSync(join(dir, f), { force: true });
    for (const w of kwokWorkdirs(dir, state)) rmSync(w, { recursive: true, force: true });
  }
  if (hasAnything) progress('stack stopped');
}

/** A kwok cluster a teardown deletes: where it lives, the pids recorded for it, and where kwokctl logs. */
interface ClusterToDelete {
  readonly kwokWorkdir: string;
  readonly kwokName: string;
  readonly recordedPids: readonly number[];
  readonly logFile: string;
}

/**
 * Every cluster of the stack in `dir`: those `state` records (all its clusters) and any other cluster folder found
 * in the stack's kwok workdirs (`kwok/`, `kwok-<i>/`), left by a start that crashed before it recorded them.
 */
function clustersToDelete(dir: string, state: StackState | undefined): ClusterToDelete[] {
  const out = new Map<string, ClusterToDelete>();
  for (const r of state ? clusterRecords(state) : []) {
    out.set(join(r.kwokWorkdir, 'clusters', r.kwokName), {
      kwokWorkdir: r.kwokWorkdir,
      kwokName: r.kwokName,
      recordedPids: Object.values(r.clusterPids),
      logFile: r.kwokctlLogFile,
    });
  }
  for (const kwokWorkdir of kwokWorkdirs(dir, state)) {
    const index = /kwok-(\d+)$/.exec(kwokWorkdir)?.[1];
    for (const kwokName of listDirs(join(kwokWorkdir, 'clusters'))) {
      const key = join(kwokWorkdir, 'clusters', kwokName);
      if (!out.has(key)) {
        const logFile = join(dir, index ? `kwokctl-${index}.log` : 'kwokctl.log');
        out.set(key, { kwokWorkdir, kwokName, recordedPids: [], logFile });
      }
    }
  }
  return [...out.values()];
}

/** The kwok workdirs of the stack in `dir`: `kwok/` and `kwok-<i>/` on disk, and those `state` records. */
function kwokWorkdirs(dir: string, state: StackState | undefined): string[] {
  const onDisk = listDirs(dir)
    .filter((d) => /^kwok(-\d+)?$/.test(d))
    .map((d) => join(dir, d));
  const recorded = state ? clusterRecords(state).map((r) => r.kwokWorkdir) : [join(dir, 'kwok')];
  return [...new Set([...recorded, ...onDisk])];
}

/** `kwokctl delete cluster`, then SIGTERM and SIGKILL for whatever of the cluster survived it; removes its folder. */
async function deleteOneCluster(
  cluster: ClusterToDelete,
  kwokctl: string | undefined,
  progress: Progress,
  report: boolean,
): Promise<void> {
  const { kwokWorkdir, kwokName } = cluster;
  const clusterDir = clusterDirOf({ kwokWorkdir, clusterName: kwokName });
  const pids = [...cluster.recordedPids, ...Object.values(readClusterPids(clusterDir))];
  // Checked before the delete: a process that is exiting has an empty command line and could not be recognised.
  const ours = [...new Set(pids)].filter((p) => aliveAndOurs(p, clusterDir));
  if (kwokctl && existsSync(kwokctl)) {
    try {
      await deleteCluster(kwokctl, kwokWorkdir, kwokName, cluster.logFile);
    } catch (err) {
      progress(
        `kwokctl delete cluster ${kwokName} failed, killing the processes instead: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
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
    progress(`killing control-plane processes of ${kwokName} that ignored SIGTERM: ${left.join(', ')}`);
    left.forEach((p) => sendSignal(p, 'SIGKILL'));
    await waitForExit(left, 5000);
  }
  rmSync(clusterDir, { recursive: true, force: true });
  if (report) progress(`cluster ${kwokName} deleted`);
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

function listEntries(dir: string, pattern: RegExp): string[] {
  try {
    return readdirSync(dir).filter((f) => pattern.test(f));
  } catch {
    return [];
  }
}
