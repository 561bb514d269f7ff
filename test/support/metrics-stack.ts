/**
 * A local stack of its own with metrics-server (`startStack({ metricsServer: true })`), a worker in this process on
 * it and a client: what the tests that need real CPU/memory use (HPA scaling, monitor resource thresholds) share.
 * Registers its own beforeAll/afterAll; the stack, worker and client are stopped and the folder removed at the end.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../../src/client/index.js';
import { startStack, stopStack, type StackInfo } from '../../src/dev/index.js';
import { createKubeGateway, type KubeGateway } from '../../src/kube/index.js';
import { createKubeWorker, loadWorkerConfig, type KubeWorker } from '../../src/worker/index.js';

/** What {@link useMetricsStack} gives the tests once its beforeAll ran. */
export interface MetricsStack {
  /** The stack's folder (temp); files written here are removed at the end. */
  readonly dir: string;
  stack: StackInfo;
  /** A gateway to the stack's cluster `local`. */
  kube: KubeGateway;
  client: KubeWorkflowsClient;
  /** The worker (its gateways' request counters, for instance). */
  worker: KubeWorker;
}

/** Options of {@link useMetricsStack}. */
export interface MetricsStackOptions {
  /** Short name: stack name, temp folder and task queue. */
  name: string;
  /** A namespace created before the worker starts. */
  namespace: string;
  /** Extra worker environment (e.g. `KUBE_WORKFLOWS_CONFIG`), computed after `before` ran. */
  env?: (dir: string) => Record<string, string>;
  /** Runs first in beforeAll (e.g. starting a webhook receiver). */
  before?: () => Promise<void>;
  /** Runs last in afterAll. */
  after?: () => Promise<void>;
}

/** Starts the stack, a worker on task queue `name` and a client in beforeAll; stops them in afterAll. */
export function useMetricsStack(options: MetricsStackOptions): MetricsStack {
  const dir = mkdtempSync(join(tmpdir(), `kwf-${options.name}-`));
  const m = { dir } as MetricsStack;
  let connection: NativeConnection | undefined;
  let running: Promise<void> | undefined;
  let stackStarted = false;

  beforeAll(async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') }); // expected failures log once, not as noise
    } catch {
      // already installed in this process
    }
    await options.before?.();
    stackStarted = true;
    m.stack = await startStack({
      dir: join(dir, 'stack'),
      name: `kwf-${options.name}-${process.pid}`,
      nodes: 2,
      metricsServer: true,
      temporalDbFile: false,
    });
    m.kube = await createKubeGateway('local', { kubeconfig: m.stack.kubeconfig });
    await m.kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: options.namespace } });
    const config = loadWorkerConfig({
      TEMPORAL_ADDRESS: m.stack.temporalAddress,
      TEMPORAL_NAMESPACE: m.stack.temporalNamespace,
      TEMPORAL_TASK_QUEUE: options.name,
      KUBECONFIG: m.stack.kubeconfig,
      KUBE_WORKFLOWS_CLUSTER: 'local',
      ...options.env?.(dir),
    });
    connection = await NativeConnection.connect({ address: m.stack.temporalAddress });
    m.worker = await createKubeWorker({ config, connection, bundlePath: inject('workflowBundlePath') });
    running = m.worker.worker.run();
    m.client = await createKubeWorkflowsClient({
      address: m.stack.temporalAddress,
      namespace: m.stack.temporalNamespace,
      taskQueue: options.name,
      encryption: false,
      defaultCluster: 'local',
    });
  }, 180_000);

  afterAll(async () => {
    await m.client?.close();
    if (running !== undefined) {
      m.worker.worker.shutdown();
      await running;
    }
    await m.worker?.close();
    await connection?.close();
    m.kube?.close();
    if (stackStarted) await stopStack({ dir: join(dir, 'stack'), purge: true });
    await options.after?.();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  return m;
}
