/**
 * Integration-test global setup: builds the toolchain when needed, starts ONE local stack for the whole run
 * (unique name and folder, free ports; three clusters `local`, `local-2`, `local-3`, see harness `clusters: true`), bundles the workflow code once from source, and tears the stack down at
 * the end even when tests fail. If the stack cannot start, the run fails loudly: integration tests are never
 * skipped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import {
  ensureToolchain,
  findStackProcesses,
  STACK_BINARIES,
  startStack,
  stopStack,
  type StackInfo,
} from '../src/dev/index.js';
import { workflowsPath } from '../src/worker/workflow-code.js';
import { builtFromCurrentSources } from './support/fresh-build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    workflowBundlePath: string;
  }
}

const log = (line: string): void => {
  process.stderr.write(`[test stack] ${line}\n`);
};

/** Compiles src/ to dist/ when dist is missing or older than a source file (worker child processes run dist). */
function ensureFreshBuild(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  if (builtFromCurrentSources(root, join(root, 'dist', 'cli', 'main.js'))) return;
  log('compiling src/ to dist/ (worker processes in the durability tests run the compiled CLI)');
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')],
      { stdio: 'inherit' },
    );
  } catch {
    // tsc still emits on type errors; `npm test` fails on them in its typecheck step before any test runs, so
    // here (a single test file run during development) they must not stop the tests of code that compiles.
    log('tsc reported type errors (above); dist/ was emitted anyway, continuing');
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureFreshBuild();
  const dir = mkdtempSync(join(tmpdir(), 'kwf-test-'));
  const removeEmergencyStop = stopOnInterrupt(dir);
  await ensureToolchain({ onProgress: log, only: STACK_BINARIES });
  const started = Date.now();
  let stack: StackInfo;
  try {
    // three clusters (local, local-2, local-3) for the fleet tests of the integration project; the others use
    // `local` only, and the browser and integration-faults projects (a stack each: globalSetup runs per project)
    // need nothing else
    const clusters = project.name === 'integration' ? 3 : 1;
    // globalSetup runs once per project in the same process: each stack gets a name (and so cluster names) of its own
    const name = project.name === 'integration' ? `kwf-test-${process.pid}` : `kwf-test-${process.pid}-${project.name}`;
    stack = await startStack({ dir, name, nodes: 3, clusters, onProgress: log });
  } catch (err) {
    removeEmergencyStop();
    await stopStack({ dir, purge: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the local stack did not start, so integration tests cannot run: ${(err as Error).message}`);
  }
  log(
    `stack up in ${((Date.now() - started) / 1000).toFixed(1)}s: Temporal ${stack.temporalAddress}, UI ${stack.temporalUiUrl}, ` +
      `kubeconfig ${stack.kubeconfig}, clusters ${stack.clusters.map((c) => `${c.name} ${c.apiServerUrl}`).join(', ')}`,
  );
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, code);
  project.provide('stack', stack);
  project.provide('workflowBundlePath', workflowBundlePath);
  return async () => {
    removeEmergencyStop();
    log('stopping the local stack');
    await stopStack({ dir, onProgress: log, purge: true });
    rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * Ctrl-C (SIGINT), SIGTERM, SIGHUP and any exit of this process before the teardown ran: vitest exits on a signal
 * without running global teardowns, so the stack's processes are killed here, synchronously (they are found by their
 * folder in /proc), and the folder is removed. Returns the function that removes these handlers.
 */
function stopOnInterrupt(dir: string): () => void {
  let done = false;
  const killNow = (): void => {
    if (done) return;
    done = true;
    for (const pid of findStackProcesses(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the local stack in ${dir}`);
    killNow();
    // vitest exits on its own; should it not, do not keep a stack-less run alive
    setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), 5_000);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.once(s, onSignal);
  process.once('exit', killNow);
  return () => {
    for (const s of signals) process.off(s, onSignal);
    process.off('exit', killNow);
  };
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => log(m), log: noop };
