/**
 * Per-file integration harness: a fresh namespace on the shared local cluster (on each of its clusters with
 * `clusters: true`), a worker on its own task queue
 * (workflow code from the bundle built once from source by the global setup), a client, and direct cluster
 * access for assertions through the same gateway the activities use. Everything is closed in `afterAll`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../../src/client/index.js';
import type { EncryptionConfig } from '../../src/codec/index.js';
import { createKubeGateway, type KubeGateway } from '../../src/kube/index.js';
import { createKubeWorker, loadWorkerConfig, type KubeWorker } from '../../src/worker/index.js';
import type { StackCluster } from '../../src/dev/index.js';

const execFileP = promisify(execFile);

/** What a test file gets. Fields are filled in `beforeAll`. */
export interface Harness {
  namespace: string;
  taskQueue: string;
  client: KubeWorkflowsClient;
  kube: KubeGateway;
  worker: KubeWorker;
  kubeconfig: string;
  /** Runs kubectl against the test cluster. */
  kubectl(...args: string[]): Promise<string>;
  /**
   * The gateway of one of the stack's clusters by its kube-workflows name (`local`, `local-2`, …); `local` is
   * {@link kube}. Every cluster of the stack with `clusters: true`, only `local` otherwise.
   */
  kubeOf(cluster: string): KubeGateway;
  /** The clusters the worker was given (`['local']` unless `clusters: true`), with their labels and contexts. */
  clusters: StackCluster[];
}

/** Options of {@link useHarness}. */
export interface HarnessOptions {
  /** Extra worker environment (policy variables, config file), or a function producing it in `beforeAll`. */
  env?: Record<string, string> | (() => Promise<Record<string, string>> | Record<string, string>);
  /** Create the namespace up front (default true). */
  createNamespace?: boolean;
  /**
   * Encrypt payloads with these keys in both the worker and the client (default: off, whatever the environment
   * says). The worker then bundles the workflow sources itself, with the encoding failure converter.
   */
  encryption?: EncryptionConfig;
  /**
   * Give the worker every cluster of the stack (`local`, `local-2`, …, with their labels) through the stack's
   * `clusters.json` as `KUBE_WORKFLOWS_CONFIG`, create the namespace on each, and open a gateway per cluster
   * ({@link Harness.kubeOf}). Default false: the worker knows only `local`.
   */
  clusters?: boolean;
}

/** Registers beforeAll/afterAll hooks and returns the harness they fill. */
export function useHarness(prefix: string, options: HarnessOptions = {}): Harness {
  const h = {} as Harness;
  let connection: NativeConnection | undefined;
  let running: Promise<void> | undefined;
  const gateways = new Map<string, KubeGateway>();
  h.kubeOf = (cluster) => {
    const gw = gateways.get(cluster);
    if (!gw) throw new Error(`no gateway for cluster "${cluster}" (have: ${[...gateways.keys()].join(', ')})`);
    return gw;
  };
  beforeAll(async () => {
    installQuietRuntime();
    const stack = inject('stack');
    const suffix = randomBytes(3).toString('hex');
    h.namespace = `${prefix}-${suffix}`;
    h.taskQueue = `test-${prefix}-${suffix}`;
    h.kubeconfig = stack.kubeconfig;
    h.kubectl = async (...args: string[]) =>
      (await execFileP('kubectl', ['--kubeconfig', stack.kubeconfig, ...args])).stdout;
    h.kube = await createKubeGateway('local', { kubeconfig: stack.kubeconfig });
    gateways.set('local', h.kube);
    h.clusters = options.clusters ? stack.clusters : stack.clusters.filter((c) => c.name === 'local');
    for (const c of h.clusters.filter((c) => c.name !== 'local')) {
      gateways.set(c.name, await createKubeGateway(c.name, { kubeconfig: c.kubeconfig, context: c.kubeContext }));
    }
    if (options.createNamespace !== false) {
      for (const gw of gateways.values()) {
        await gw.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: h.namespace } });
      }
    }
    const config = loadWorkerConfig({
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.temporalNamespace,
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      KUBECONFIG: stack.kubeconfig,
      KUBE_WORKFLOWS_CLUSTER: 'local',
      // the file's `local` entry (same cluster, through the combined kubeconfig) wins over KUBECONFIG's
      ...(options.clusters ? { KUBE_WORKFLOWS_CONFIG: stack.workerConfigFile } : {}),
      ...(typeof options.env === 'function' ? await options.env() : options.env),
    });
    if (options.encryption) config.encryption = options.encryption;
    connection = await NativeConnection.connect({ address: stack.temporalAddress });
    h.worker = await createKubeWorker({
      config,
      connection,
      ...(options.encryption ? { workflowsFromSource: true } : { bundlePath: inject('workflowBundlePath') }),
    });
    running = h.worker.worker.run();
    h.client = await createKubeWorkflowsClient({
      address: stack.temporalAddress,
      namespace: stack.temporalNamespace,
      taskQueue: h.taskQueue,
      encryption: options.encryption ?? false,
      // the worker's cluster is named `local` (KUBE_WORKFLOWS_CLUSTER): ids and locks must name it the same way
      defaultCluster: 'local',
    });
  });
  afterAll(async () => {
    await h.client?.close();
    if (running) {
      h.worker.worker.shutdown();
      await running;
    }
    await h.worker?.close();
    await connection?.close();
    for (const gw of gateways.values()) {
      if (h.namespace)
        await gw.delete({ apiVersion: 'v1', kind: 'Namespace', name: h.namespace }).catch(() => undefined);
      gw.close();
    }
  });
  return h;
}

let runtimeInstalled = false;
/** Worker logs at WARN: expected workflow failures still show, routine state changes do not. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
}

/**
 * With `RECORD_HISTORIES=1`, writes a finished workflow's history to `test/fixtures/histories/<name>.json`
 * (proto3 JSON, as `temporal workflow show -o json` prints it) for the replay test
 * (test/workflows/replay.test.ts). Commit the files: CI replays the current workflow code against them, so a
 * non-deterministic change fails the build.
 */
export async function recordHistory(
  name: string,
  handle: { workflowId: string; firstExecutionRunId?: string },
): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const stack = inject('stack');
  const { resolveToolchain } = await import('../../src/dev/index.js');
  const { stdout } = await execFileP(
    resolveToolchain().temporal,
    [
      'workflow',
      'show',
      '--address',
      stack.temporalAddress,
      '--namespace',
      stack.temporalNamespace,
      '-w',
      handle.workflowId,
      ...(handle.firstExecutionRunId ? ['-r', handle.firstExecutionRunId] : []),
      '-o',
      'json',
      '--disable-config-file',
      '--disable-config-env',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const { writeFile } = await import('node:fs/promises');
  await writeFile(new URL(`../fixtures/histories/${name}.json`, import.meta.url), stdout);
}

/**
 * Starts `kube-workflows worker` (the compiled CLI) as a separate process against the shared stack, for tests that
 * kill workers or read their HTTP endpoints. `env` adds or overrides variables (task queue, config file, ports).
 * Its stderr lines go to `logs` when given. Kill it yourself (by the returned process) in the test or afterAll.
 */
export function spawnCliWorker(env: Record<string, string>, logs?: string[]): ChildProcess {
  const stack = inject('stack');
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('../../bin/kube-workflows.js', import.meta.url)), 'worker'],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        TEMPORAL_NAMESPACE: stack.temporalNamespace,
        KUBECONFIG: stack.kubeconfig,
        KUBE_WORKFLOWS_CLUSTER: 'local',
        KUBE_WORKFLOWS_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr?.on('data', (c: Buffer) => logs?.push(...c.toString().split('\n').filter(Boolean)));
  return child;
}

/** CLI worker processes of one test file: started and killed by the tests, any still running SIGKILLed at the end. */
export interface ChildWorkers {
  /**
   * Starts `kube-workflows worker` with the environment `env()` gives at that moment plus `extra`; its stderr lines
   * go to `logs` (default: the file's log).
   */
  start(extra?: Record<string, string>, logs?: string[]): ChildProcess;
  /** SIGKILLs one and waits until it has exited. */
  kill(child: ChildProcess): Promise<void>;
  /** SIGKILLs every running one. */
  killAll(): Promise<void>;
}

/** Registers an afterAll that kills what {@link ChildWorkers.start} started; see {@link spawnCliWorker}. */
export function useChildWorkers(env: () => Record<string, string> = () => ({}), logs?: string[]): ChildWorkers {
  const children = new Set<ChildProcess>();
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const kill = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    start(extra = {}, childLogs = logs) {
      const child = spawnCliWorker({ ...env(), ...extra }, childLogs);
      children.add(child);
      childLogs?.push(`[test] worker pid ${child.pid} started`);
      child.on('exit', (code, signal) => {
        children.delete(child);
        // a worker that dies by itself (not our SIGKILL) leaves the test waiting for nobody: say so in its log
        childLogs?.push(`[test] worker pid ${child.pid} exited (code ${code}, signal ${signal})`);
      });
      return child;
    },
    kill,
    async killAll() {
      for (const c of [...children]) await kill(c);
    },
  };
}

/** What {@link useKillableWorkers} gives a test file. Fields are filled in `beforeAll`. */
export interface KillableWorkers {
  /** A client on the child workers' task queue (naming the worker's cluster `local`). */
  client: KubeWorkflowsClient;
  /** The child `kube-workflows worker` processes. */
  workers: ChildWorkers;
  /** Their stderr lines (printed at the end with KWF_DEBUG=1). */
  log: string[];
}

/** Options of {@link useKillableWorkers}. */
export interface KillableWorkersOptions {
  /**
   * The text of the workers' config file, asked for when the first worker starts (after the file's own `beforeAll`,
   * so it can name servers that hook started). Default: the slow client-side rate limit (`kubeQps` 8, burst 1).
   */
  config?: () => string;
  /** More worker environment, asked for at each start (a kubeconfig through a proxy, say). */
  env?: () => Record<string, string>;
}

/** The default config of {@link useKillableWorkers}: a slow rate limit stretches every step so a fault lands inside it. */
const SLOW_RATE_LIMIT = 'worker:\n  kubeQps: 8\n  kubeBurst: 1\n';

/**
 * Workers a test can SIGKILL: `kube-workflows worker` child processes on their own task queue (`<harness>-child`)
 * with a slow client-side rate limit (`kubeQps` 8, burst 1) that stretches every step so a fault lands inside it
 * (or the config `options.config` gives), and a client on that queue (no encryption, as the workers). Closed and
 * killed in `afterAll`.
 */
export function useKillableWorkers(h: Harness, options: KillableWorkersOptions = {}): KillableWorkers {
  const k = { log: [] as string[] } as unknown as KillableWorkers;
  let configFile: string | undefined;
  const config = (): string => {
    if (configFile === undefined) {
      configFile = join(mkdtempSync(join(tmpdir(), 'kwf-killable-')), 'worker.yaml');
      writeFileSync(configFile, options.config?.() ?? SLOW_RATE_LIMIT);
    }
    return configFile;
  };
  k.workers = useChildWorkers(
    () => ({ TEMPORAL_TASK_QUEUE: `${h.taskQueue}-child`, KUBE_WORKFLOWS_CONFIG: config(), ...options.env?.() }),
    k.log,
  );
  beforeAll(async () => {
    const stack = inject('stack');
    k.client = await createKubeWorkflowsClient({
      address: stack.temporalAddress,
      namespace: stack.temporalNamespace,
      taskQueue: `${h.taskQueue}-child`,
      encryption: false,
      defaultCluster: 'local',
    });
  });
  // A failed test prints the workers' last lines (start, exit, errors), so a hang on a CI run can be told apart from
  // a dead or never-polling worker without a second run.
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || process.env.KWF_DEBUG) return;
    process.stderr.write(`\n[child workers of "${ctx.task.name}", last 80 lines]\n${k.log.slice(-80).join('\n')}\n`);
  });
  afterAll(async () => {
    await k.client?.close();
    if (process.env.KWF_DEBUG) process.stderr.write(k.log.join('\n'));
  });
  return k;
}
