/**
 * The running cluster's control-plane processes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * kwok-controller), for tests that break and heal a cluster: which are running, killing one, starting the stopped
 * ones again, and restarting kube-apiserver as a crash would.
 *
 * Contract: a component is "running" when the pid in kwokctl's pid file is alive and still the process the cluster
 * started (its command line names the cluster's folder). {@link startControlPlane} re-runs only the stopped
 * components, with the command lines recorded at creation, holding the stack's lock; it records the new pids in
 * `stack.json` and returns once kube-apiserver answers `/readyz`. etcd keeps the cluster's state across all of it.
 * @module
 */

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, pollUntil, runCommand, sendSignal, sleep, tailLines, waitForExit } from './process.js';
import { kwokctlEnv, readClusterPids, runKwokctl } from './cluster.js';
import { aliveAndOurs } from './reaper.js';
import { clusterDirOf, progressReporter, readStackState, stateOf, withLock, writeState } from './state.js';
import type { StackRef } from './state.js';

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
      kwokctlEnv(state.kwokWorkdir, state.kubeconfig, join(dir, 'bin')),
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
