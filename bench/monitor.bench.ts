/**
 * Monitor benchmark: one worker monitoring 5,000 Deployments (50 namespaces × 100, 1 replica each; issue 12's
 * size, `BENCH_MONITOR_TOTAL` / `BENCH_MONITOR_NAMESPACES` change it, `BENCH_QUICK=1` makes it 200) on the bench's
 * own local stack, with one `kube` target per namespace and a local webhook receiver as alert channel
 * (forSeconds 0).
 *
 * The worker is a process of its own, as in production: `node bin/kube-workflows.js worker` (the compiled CLI and
 * the prebuilt workflow bundle, `dist/`, rebuilt first when older than `src/`), configured by environment only.
 * So its memory is the worker's alone, not vitest's, the bench's observer watches' or webpack's. Measured from
 * outside the worker:
 * - memory: `VmRSS` (and its peak, `VmHWM`) of /proc/<pid>/status at the end of the steady window; the bench
 *   process's own RSS is printed beside it, labelled as such;
 * - CPU: `utime` + `stime` of /proc/<pid>/stat over the steady window;
 * - API requests and watches: the worker's `/metrics` (`kube_workflows_kube_requests_total`,
 *   `_watch_opens_total` and the `_watches_open` gauge of the cluster, scraped over HTTP). /metrics counts per
 *   cluster, not per namespace and kind, and does not tell LISTs from other requests: so instead of "at most one
 *   watch per namespace and kind", the bench checks that **exactly** NAMESPACES × 3 watches are open (a
 *   Deployment, a ReplicaSet and a Pod watch per namespace; more would mean duplicates), and LISTs are not counted
 *   apart (they are in the requests).
 *
 * Measures, over 30 s of steady state, the requests per second, watch opens and watches open, the worker's RSS and
 * CPU; then breaks 20 Deployments one at a time (pod template label `kube-workflows.dev/chaos: crash`) and
 * measures, for each, the time from the patch to the trigger webhook arriving, and from the first crashing pod
 * being seen (created, and in CrashLoopBackOff) by an observer watch of this process; whether the watches stayed
 * open through each transition comes from the gauge polled every 100 ms and the opens counter. Prints targets,
 * never asserts them; fails only when the monitor does not see what it must (correctness). Writes
 * bench/results/monitor-latest.json at the default size.
 *
 * Run with `npm run bench`, or alone: `npx vitest run --config vitest.bench.config.ts bench/monitor.bench.ts`.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient, type MonitorHandle } from '../src/client/index.js';
import { resolveToolchain } from '../src/dev/index.js';
import { createKubeGateway, type KubeGateway, type LiveObject } from '../src/kube/index.js';
import { loadWorkerConfig, WORKER_PROCESS_ENV, type WorkerConfig } from '../src/worker/index.js';
import { startReceiver, type TestReceiver } from '../test/support/http-receiver.js';
import {
  ensureFreshBuild,
  log,
  processCpuSeconds,
  processMemoryMb,
  run,
  scrapeMetrics,
  spawnWorkerProcess,
  startBenchStack,
  table,
  writeResults,
  writeRunResult,
  type BenchStack,
  type WorkerProcess,
} from './support.js';
import { machineFacts } from './format.js';

// ---------------------------------------------------------------------------------------------------------------
// Parameters

const QUICK = process.env.BENCH_QUICK === '1';
const DEFAULT_TOTAL = 5_000;
const REQUESTED_TOTAL = positiveInt('BENCH_MONITOR_TOTAL', QUICK ? 200 : DEFAULT_TOTAL);
const NAMESPACES = positiveInt('BENCH_MONITOR_NAMESPACES', Math.max(1, Math.round(REQUESTED_TOTAL / 100)));
const PER_NAMESPACE = Math.ceil(REQUESTED_TOTAL / NAMESPACES);
const TOTAL = NAMESPACES * PER_NAMESPACE;
/** kubectl applies of the set-up run this many namespaces at a time. */
const SETUP_LANES = 4;
const STEADY_SECONDS = 30;
const BREAKS = 20;
/** Every Deployment's pod, plus one surge pod per broken Deployment (its old pod stays: maxUnavailable is 0). */
const PODS_NEEDED = TOTAL + BREAKS;
/** KWOK nodes made by `kwokctl scale node` allow 110 pods each; like the deploy bench, size for 100 a node. */
const NODES = process.env.BENCH_NODES
  ? Number.parseInt(process.env.BENCH_NODES, 10)
  : Math.max(3, Math.ceil(PODS_NEEDED / 100));
const CLUSTER = 'local';
const CHANNEL = 'hook';
const CHAOS_LABEL = 'kube-workflows.dev/chaos';
/** What a `kube` target with kinds [Deployment] watches per namespace: the workloads, their ReplicaSets and Pods. */
const WATCHED_KINDS = ['Deployment', 'ReplicaSet', 'Pod'];
/** Watches the worker must hold: one per namespace and watched kind, no more (more would be duplicates). */
const EXPECTED_WATCHES = NAMESPACES * WATCHED_KINDS.length;
/** How often waits for the watches read the worker's /metrics. */
const POLL_MS = 100;
/** Printed targets (not asserted). */
const TARGETS = { watchesPerNamespace: WATCHED_KINDS.length, maxRequestsPerSecond: 1, maxP99DetectionMs: 2_000 };
/** Issue 12's goals at 5,000 Deployments in 50 namespaces (printed, not asserted). */
const GOALS = { maxRequestsPerSecond: 0.2, maxRssMb: 300, moonshotRssMb: 200, maxP99DetectionMs: 1_000 };
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const suffix = randomBytes(3).toString('hex');
const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `mon-${String(i).padStart(2, '0')}-${suffix}`);
const deploymentName = (i: number): string => `app-${String(i).padStart(3, '0')}`;

// ---------------------------------------------------------------------------------------------------------------
// State

let stack: BenchStack;
let admin: KubeGateway;
let worker: WorkerProcess;
let client: KubeWorkflowsClient;
let hooks: TestReceiver;
let monitor: MonitorHandle;
let workerConfig: WorkerConfig;
const loadAtStart = loadavg();

/** Trigger / resolve webhooks as they arrived (performance.now() of this process). */
const webhooks: { type: string; target: string; at: number }[] = [];

/** The worker's Kubernetes client counters of the cluster, as its /metrics shows them. */
interface KubeMetrics {
  /** `kube_workflows_kube_requests_total`: every request, watches and LISTs included. */
  requests: number;
  /** `kube_workflows_kube_throttled_total`: 429s (or 503 with Retry-After). */
  throttled: number;
  /** `kube_workflows_kube_client_delayed_total`: requests that waited for the client-side rate limit. */
  clientDelayed: number;
  /** `kube_workflows_kube_watch_opens_total`: watch streams opened, reconnects included. */
  watchOpens: number;
  /** `kube_workflows_kube_watches_open`: watch streams open now. */
  watchesOpen: number;
  /** `kube_workflows_kube_server_flow_control`: the API server announced API Priority and Fairness. */
  serverFlowControl: boolean;
}

/** The watch gauge polled every {@link POLL_MS} while the detection phase runs (see {@link pollWatches}). */
const watches = {
  last: undefined as KubeMetrics | undefined,
  /**
   * performance.now() of the first poll since which exactly the expected watches have been open with no watch
   * opened in between; 0 while not (a close and reopen between two polls moves it to the later poll).
   */
  allOpenSince: 0,
};

/** Observer (admin) watch of crash pods: per `namespace/deployment`, when its first crash pod was seen. */
const crashPods = new Map<string, { createdAt?: number; crashLoopAt?: number }>();

interface Detection {
  deployment: string;
  /** Patch sent → trigger webhook received. */
  patchToWebhookMs: number;
  /** Observer saw the first crashing pod ADDED → trigger webhook received. */
  podCreatedToWebhookMs: number | null;
  /** Observer saw that pod in CrashLoopBackOff → trigger webhook received. */
  crashLoopToWebhookMs: number | null;
}

interface SteadyState {
  seconds: number;
  /** Requests of the worker's client to the API server in the window (/metrics delta), LISTs and watches included. */
  requests: number;
  requestsPerSecond: number;
  watchOpens: number;
  /** The gauge at the end of the window, and what it must be (NAMESPACES × 3). */
  watchesOpen: number;
  expectedWatches: number;
  throttled: number;
  clientDelayed: number;
  serverFlowControl: boolean;
  /** Whose memory `rssMb` is: the worker process (earlier results measured the bench process holding the worker). */
  rssOf: 'worker process';
  /** VmRSS of the worker process at the end of the window, MiB. */
  rssMb: number;
  /** VmHWM of the worker process (its peak since it started, start-up and first observation included), MiB. */
  peakRssMb: number;
  /** utime + stime of the worker process over the window. */
  cpuSeconds: number;
  /** RSS of this bench process (vitest, the set-up's gateway, the receiver): not the worker's. */
  benchProcessRssMb: number;
}

let setupTimes: { deploymentsAvailableS: number; monitorAllHealthyS: number } | undefined;
let steady: SteadyState | undefined;
const detections: Detection[] = [];
/**
 * Transitions after which the watches had been closed and opened again (trigger webhook of one break → every watch
 * open again: the monitor's blind window); 0 when the observation holds its watches through transitions.
 */
const reopenMs: number[] = [];
/** Transitions through which every watch stayed open. */
let heldThrough = 0;
let breakPhase:
  { requests: number; watchOpens: number; throttled: number; workerRssMb: number; workerPeakRssMb: number } | undefined;

// ---------------------------------------------------------------------------------------------------------------
// Stack, workloads, worker, monitor

beforeAll(async () => {
  // the worker process runs dist/: compile and bundle first when src/ is newer (fails before any set-up)
  const bundlePath = await ensureFreshBuild();
  stack = await startBenchStack(NODES);
  admin = await createKubeGateway('admin', { kubeconfig: stack.info.kubeconfig });
  stack.onTeardown(() => admin.close());
  await checkPodCapacity();

  // The Deployments, created with kubectl (one server-side apply per namespace), all Available before timing.
  const t0 = performance.now();
  const kubectlBin = resolveToolchain().kubectl;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SETUP_LANES, NAMESPACES) }, async () => {
      for (let i = next++; i < NAMESPACES; i = next++) {
        const namespace = namespaces[i] ?? '';
        await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
        await waitFor(`the default ServiceAccount of ${namespace}`, 60_000, async () =>
          Boolean(await admin.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: 'default' })),
        );
        const file = join(stack.dir, `${namespace}.yaml`);
        writeFileSync(file, deployments());
        await run(kubectlBin, [
          '--kubeconfig',
          stack.info.kubeconfig,
          'apply',
          '--server-side',
          '--field-manager=bench',
          '-n',
          namespace,
          '-f',
          file,
        ]);
        log(`${namespace}: ${PER_NAMESPACE} Deployments applied`);
      }
    }),
  );
  await waitFor('every Deployment Available', 1_500_000, async () => (await availableCount()) === TOTAL, 2_000);
  const deploymentsAvailableS = (performance.now() - t0) / 1000;
  log(`${TOTAL} Deployments Available after ${deploymentsAvailableS.toFixed(1)}s`);

  // The alert channel: a local receiver that timestamps each webhook on arrival.
  hooks = await startReceiver((req) => {
    const payload = JSON.parse(req.body) as { type: string; data: { labels?: Record<string, string> } };
    webhooks.push({ type: payload.type, target: payload.data.labels?.target ?? '', at: performance.now() });
    return { status: 204 };
  });
  stack.onTeardown(() => hooks.close());
  const configFile = join(stack.dir, 'worker.yaml');
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  writeFileSync(
    configFile,
    `alerts:\n  ${CHANNEL}: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`,
  );

  // The worker: `kube-workflows worker`, a process of its own, configured by environment only.
  const taskQueue = `bench-monitor-${suffix}`;
  const workerEnv = {
    ...WORKER_PROCESS_ENV, // as the worker image runs it (Dockerfile ENV)
    TEMPORAL_ADDRESS: stack.info.temporalAddress,
    TEMPORAL_NAMESPACE: stack.info.temporalNamespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    KUBECONFIG: stack.info.kubeconfig,
    KUBE_WORKFLOWS_CLUSTER: CLUSTER,
    KUBE_WORKFLOWS_CONFIG: configFile,
    KUBE_WORKFLOWS_WORKFLOW_BUNDLE: bundlePath,
  };
  workerConfig = loadWorkerConfig(workerEnv); // what the process reads from the same environment (for the results)
  worker = await spawnWorkerProcess(stack, workerEnv);
  await worker.ready();
  log(`worker process ${worker.pid} ready: RSS ${processMemoryMb(worker.pid).rssMb} MB`);
  client = await createKubeWorkflowsClient({
    address: stack.info.temporalAddress,
    namespace: stack.info.temporalNamespace,
    taskQueue,
    encryption: false,
  });
  stack.onTeardown(() => client.close());

  const t1 = performance.now();
  monitor = await client.monitor({
    name: `bench-${suffix}`,
    targets: namespaces.map((namespace) => ({ type: 'kube' as const, namespace, kinds: ['Deployment' as const] })),
    channels: [CHANNEL],
    forSeconds: 0,
  });
  stack.onTeardown(() => monitor.stop().catch(() => undefined));
  await waitFor(`${TOTAL} healthy targets`, 600_000, async () => (await monitor.status()).healthy === TOTAL, 500);
  const monitorAllHealthyS = (performance.now() - t1) / 1000;
  setupTimes = { deploymentsAvailableS: round1(deploymentsAvailableS), monitorAllHealthyS: round1(monitorAllHealthyS) };
  log(`monitor: ${TOTAL} targets healthy ${monitorAllHealthyS.toFixed(1)}s after the start`);
  expect(webhooks).toEqual([]);
}, 2_400_000);

afterAll(async () => {
  await stack?.teardown();
}, 300_000);

// ---------------------------------------------------------------------------------------------------------------
// Measurements

describe(`monitor: ${TOTAL} Deployments in ${NAMESPACES} namespaces, one worker process`, () => {
  it(`steady state for ${STEADY_SECONDS}s`, async () => {
    // The first observation returns at once (every target is new to the workflow); wait for the next one's watches.
    await waitFor(
      `${EXPECTED_WATCHES} watches open`,
      120_000,
      async () => (await kubeMetrics()).watchesOpen === EXPECTED_WATCHES,
      POLL_MS,
    );
    // Nothing polls the worker inside the window: one scrape at each end.
    const before = await kubeMetrics();
    const cpu0 = processCpuSeconds(worker.pid);
    const t0 = performance.now();
    await sleep(STEADY_SECONDS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = processCpuSeconds(worker.pid) - cpu0;
    const memory = processMemoryMb(worker.pid);
    const after = await kubeMetrics();
    const requests = after.requests - before.requests;
    steady = {
      seconds: round1(seconds),
      requests,
      requestsPerSecond: Math.round((requests / seconds) * 1000) / 1000,
      watchOpens: after.watchOpens - before.watchOpens,
      watchesOpen: after.watchesOpen,
      expectedWatches: EXPECTED_WATCHES,
      throttled: after.throttled - before.throttled,
      clientDelayed: after.clientDelayed - before.clientDelayed,
      serverFlowControl: after.serverFlowControl,
      rssOf: 'worker process',
      rssMb: memory.rssMb,
      peakRssMb: memory.peakRssMb,
      cpuSeconds: Math.round(cpu * 100) / 100,
      benchProcessRssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    log(`steady state: ${JSON.stringify(steady)}`);
    const status = await monitor.status();
    expect(status.healthy).toBe(TOTAL);
    expect(webhooks).toEqual([]);
  }, 180_000);

  it(`detection latency: ${BREAKS} Deployments broken one at a time`, async () => {
    const observer = new AbortController();
    const observing = observeCrashPods(observer.signal);
    const polling = pollWatches(observer.signal);
    const before = await kubeMetrics();
    /** The previous break: when it was patched, and the watch opens counter just before. */
    let previousBreak: { at: number; watchOpens: number } | undefined;
    try {
      for (let i = 0; i < BREAKS; i++) {
        const namespace = namespaces[i % NAMESPACES] ?? '';
        const name = deploymentName(i);
        const target = `Deployment/${namespace}/${name}`;
        // One at a time, with every watch open (should the previous transition have closed any, wait for them).
        const allOpenSince = await waitFor(
          `${EXPECTED_WATCHES} watches open (the gauge shows ${watches.last?.watchesOpen ?? '?'})`,
          60_000,
          () => Promise.resolve(watches.allOpenSince),
          POLL_MS,
        );
        const now = await kubeMetrics();
        if (previousBreak) {
          const previous = webhooks.filter((w) => w.type === 'alert.triggered').at(-1);
          if (now.watchOpens === previousBreak.watchOpens && allOpenSince < previousBreak.at) heldThrough += 1;
          else if (previous) reopenMs.push(Math.max(0, Math.round(allOpenSince - previous.at)));
        }
        const t0 = performance.now();
        previousBreak = { at: t0, watchOpens: now.watchOpens };
        await admin.apply({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, namespace },
          spec: { template: { metadata: { labels: { [CHAOS_LABEL]: 'crash' } } } },
        });
        const arrived = await waitFor(`the trigger webhook of ${target}`, 120_000, () =>
          Promise.resolve(webhooks.find((w) => w.target === target && w.type === 'alert.triggered')),
        ).catch(async (err: unknown) => {
          // what the cluster and the monitor saw, to tell a missed alert from a pod that never crashed
          const seen = crashPods.get(`${namespace}/${name}`);
          const state = (await monitor.status().catch(() => undefined))?.targets.find((t) => t.key === target);
          const pods = await admin.list('v1', 'Pod', { namespace, labelSelector: `app=${name}` });
          log(
            `no trigger for ${target}: observer saw ${JSON.stringify(seen ?? null)}; monitor target ${JSON.stringify(state ?? null)}; ` +
              `pods ${JSON.stringify(pods.items.map((p) => [p.metadata.name, (p.status as { phase?: string } | undefined)?.phase, p.metadata.labels?.[CHAOS_LABEL]]))}; ` +
              `watches open ${watches.last?.watchesOpen ?? '?'}; webhooks ${webhooks.length}; ` +
              `worker's last lines:\n${worker.logs.slice(-20).join('\n')}`,
          );
          throw err;
        });
        const pod = crashPods.get(`${namespace}/${name}`);
        const d: Detection = {
          deployment: target,
          patchToWebhookMs: Math.round(arrived.at - t0),
          podCreatedToWebhookMs: pod?.createdAt !== undefined ? Math.round(arrived.at - pod.createdAt) : null,
          crashLoopToWebhookMs: pod?.crashLoopAt !== undefined ? Math.round(arrived.at - pod.crashLoopAt) : null,
        };
        detections.push(d);
        log(
          `${target}: patch → webhook ${d.patchToWebhookMs} ms; pod created → webhook ${d.podCreatedToWebhookMs ?? '?'} ms; ` +
            `CrashLoopBackOff seen → webhook ${d.crashLoopToWebhookMs ?? '?'} ms`,
        );
      }
    } finally {
      observer.abort();
      await Promise.all([observing.catch(() => undefined), polling]);
    }
    const after = await kubeMetrics();
    const memory = processMemoryMb(worker.pid);
    breakPhase = {
      requests: after.requests - before.requests,
      watchOpens: after.watchOpens - before.watchOpens,
      throttled: after.throttled - before.throttled,
      workerRssMb: memory.rssMb,
      workerPeakRssMb: memory.peakRssMb,
    };
    const status = await monitor.status();
    expect(status.degraded).toBe(BREAKS);
    expect(status.healthy).toBe(TOTAL - BREAKS);
    expect(status.deliveryErrors).toEqual({});
    // one trigger per broken Deployment, nothing else
    expect(webhooks.filter((w) => w.type === 'alert.triggered')).toHaveLength(BREAKS);
  }, 1_800_000);

  it('summary', async () => {
    printSummary();
    await saveResults();
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------

/** The worker's client counters of the bench cluster, scraped from its /metrics. */
async function kubeMetrics(): Promise<KubeMetrics> {
  const samples = await scrapeMetrics(`${worker.opsUrl}/metrics`);
  const value = (name: string): number => {
    const sample = samples.find((s) => s.name === name && s.labels.cluster === CLUSTER);
    if (!sample) throw new Error(`the worker's /metrics has no ${name}{cluster="${CLUSTER}"}`);
    return sample.value;
  };
  return {
    requests: value('kube_workflows_kube_requests_total'),
    throttled: value('kube_workflows_kube_throttled_total'),
    clientDelayed: value('kube_workflows_kube_client_delayed_total'),
    watchOpens: value('kube_workflows_kube_watch_opens_total'),
    watchesOpen: value('kube_workflows_kube_watches_open'),
    serverFlowControl: value('kube_workflows_kube_server_flow_control') === 1,
  };
}

/** Reads the worker's watch gauge and opens counter every {@link POLL_MS} into {@link watches} until `signal`. */
async function pollWatches(signal: AbortSignal): Promise<void> {
  watches.last = undefined;
  watches.allOpenSince = 0;
  while (!signal.aborted) {
    const m = await kubeMetrics().catch((err: unknown) => {
      log(`scraping the worker's /metrics failed: ${String(err)}`);
      return undefined;
    });
    if (m) {
      const reopened = watches.last !== undefined && m.watchOpens !== watches.last.watchOpens;
      if (m.watchesOpen !== EXPECTED_WATCHES) watches.allOpenSince = 0;
      else if (reopened || watches.allOpenSince === 0) watches.allOpenSince = performance.now();
      watches.last = m;
    }
    await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}

/** Watches crash pods cluster-wide (admin gateway, not counted): when each Deployment's first one appears and crashes. */
async function observeCrashPods(signal: AbortSignal): Promise<void> {
  const labelSelector = `${CHAOS_LABEL}=crash`;
  const seen = (pod: LiveObject): void => {
    const app = pod.metadata.labels?.app;
    if (!app) return;
    const key = `${pod.metadata.namespace}/${app}`;
    const entry = crashPods.get(key) ?? {};
    const now = performance.now();
    entry.createdAt ??= now;
    const statuses =
      (pod.status as { containerStatuses?: { state?: { waiting?: { reason?: string } } }[] } | undefined)
        ?.containerStatuses ?? [];
    if (statuses.some((s) => s.state?.waiting?.reason === 'CrashLoopBackOff')) entry.crashLoopAt ??= now;
    crashPods.set(key, entry);
  };
  const listed = await admin.list('v1', 'Pod', { labelSelector });
  let resourceVersion = listed.resourceVersion;
  while (!signal.aborted) {
    await admin
      .watch(
        'v1',
        'Pod',
        { labelSelector, resourceVersion, timeoutSeconds: 600 },
        (e) => {
          if (e.object.metadata?.resourceVersion) resourceVersion = e.object.metadata.resourceVersion;
          if (e.type === 'ADDED' || e.type === 'MODIFIED') seen(e.object);
        },
        signal,
      )
      .catch((err: unknown) => {
        if (!signal.aborted) log(`observer watch ended: ${String(err)}`);
      });
  }
}

/** Multi-document YAML of the Deployments of one namespace (1 replica; KWOK makes each pod Ready at once). */
function deployments(): string {
  return Array.from({ length: PER_NAMESPACE }, (_, i) => {
    const name = deploymentName(i);
    return [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      `  name: ${name}`,
      '  labels: { app.kubernetes.io/part-of: bench }',
      'spec:',
      '  replicas: 1',
      `  selector: { matchLabels: { app: ${name} } }`,
      '  template:',
      `    metadata: { labels: { app: ${name} } }`,
      '    spec:',
      '      containers:',
      '        - name: app',
      '          image: registry.example/bench:1.0.0',
    ].join('\n');
  }).join('\n---\n');
}

async function availableCount(): Promise<number> {
  let n = 0;
  for (const namespace of namespaces) {
    const list = await admin.list('apps/v1', 'Deployment', { namespace });
    n += list.items.filter(
      (d) => (d.status as { availableReplicas?: number } | undefined)?.availableReplicas === 1,
    ).length;
  }
  return n;
}

/** Polls `probe` until it returns something truthy; fails after `timeoutMs` naming `what`. */
async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T>,
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Fails fast when the nodes cannot hold every pod. */
async function checkPodCapacity(): Promise<void> {
  const nodes = await admin.list('v1', 'Node');
  const capacity = nodes.items.reduce((sum, node) => {
    const pods = (node.status as { allocatable?: { pods?: string } } | undefined)?.allocatable?.pods ?? '0';
    return sum + (Number.parseInt(pods, 10) || 0);
  }, 0);
  log(`${nodes.items.length} nodes for ${PODS_NEEDED} pods (room for ${capacity})`);
  if (capacity < PODS_NEEDED)
    throw new Error(
      `the ${nodes.items.length} nodes hold ${capacity} pods, the run needs ${PODS_NEEDED}: raise BENCH_NODES`,
    );
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

function latencies(): Record<
  'patch' | 'podCreated' | 'crashLoop',
  { p50: number | null; p99: number | null; max: number | null }
> {
  const stats = (values: number[]) => ({
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : null,
  });
  const present = (v: number | null): v is number => v !== null;
  return {
    patch: stats(detections.map((d) => d.patchToWebhookMs)),
    podCreated: stats(detections.map((d) => d.podCreatedToWebhookMs).filter(present)),
    crashLoop: stats(detections.map((d) => d.crashLoopToWebhookMs).filter(present)),
  };
}

function verdicts(): { watches: boolean | null; requests: boolean | null; detection: boolean | null } {
  const p99 = latencies().patch.p99;
  return {
    watches: steady ? steady.watchesOpen === steady.expectedWatches && steady.watchOpens === 0 : null,
    requests: steady ? steady.requestsPerSecond < TARGETS.maxRequestsPerSecond : null,
    detection: p99 !== null ? p99 < TARGETS.maxP99DetectionMs : null,
  };
}

/** Issue 12's goals for this row (printed, not asserted). */
function goalVerdicts(): {
  requests: boolean | null;
  rss: boolean | null;
  rssMoonshot: boolean | null;
  detection: boolean | null;
} {
  const p99 = latencies().patch.p99;
  return {
    requests: steady ? steady.requestsPerSecond <= GOALS.maxRequestsPerSecond : null,
    rss: steady ? steady.rssMb <= GOALS.maxRssMb : null,
    rssMoonshot: steady ? steady.rssMb <= GOALS.moonshotRssMb : null,
    detection: p99 !== null ? p99 <= GOALS.maxP99DetectionMs : null,
  };
}

function printSummary(): void {
  const ms = (v: number | null): string => (v === null ? '—' : String(v));
  const met = (v: boolean | null): string => (v === null ? 'not measured' : v ? 'MET' : 'NOT MET');
  const l = latencies();
  const v = verdicts();
  const g = goalVerdicts();
  const lines = [
    '',
    `monitor benchmark: ${TOTAL} Deployments (${NAMESPACES} namespaces × ${PER_NAMESPACE}), one worker process, ${NODES} KWOK nodes; ` +
      `${cpus().length} CPUs, load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`,
    setupTimes
      ? `set-up: Deployments Available after ${setupTimes.deploymentsAvailableS}s; monitor saw all ${TOTAL} healthy ${setupTimes.monitorAllHealthyS}s after its start`
      : '',
    '',
  ];
  if (steady) {
    lines.push(
      `steady state over ${steady.seconds}s (the worker process's /metrics and /proc):`,
      table(
        [
          'API requests',
          'requests/s',
          'watch opens',
          'watches open',
          '429s',
          'worker RSS MB',
          'worker peak RSS MB',
          'worker CPU s',
        ],
        [
          [
            String(steady.requests),
            steady.requestsPerSecond.toFixed(3),
            String(steady.watchOpens),
            `${steady.watchesOpen} (expected ${steady.expectedWatches}: ${NAMESPACES} × ${WATCHED_KINDS.join(', ')})`,
            String(steady.throttled),
            String(steady.rssMb),
            String(steady.peakRssMb),
            steady.cpuSeconds.toFixed(2),
          ],
        ],
      ),
      `bench process RSS (vitest, set-up gateway, observer watch, webhook receiver; NOT the worker): ${steady.benchProcessRssMb} MB`,
      '',
    );
  }
  lines.push(
    `detection latency of ${detections.length} broken Deployments (ms, until the trigger webhook arrived):`,
    table(
      ['from', 'p50', 'p99', 'max'],
      [
        ['patch of the pod template', ms(l.patch.p50), ms(l.patch.p99), ms(l.patch.max)],
        ['first crashing pod created', ms(l.podCreated.p50), ms(l.podCreated.p99), ms(l.podCreated.max)],
        ['that pod in CrashLoopBackOff', ms(l.crashLoop.p50), ms(l.crashLoop.p99), ms(l.crashLoop.max)],
      ],
    ),
    `watches held open through ${heldThrough} of ${heldThrough + reopenMs.length} transitions` +
      (reopenMs.length
        ? `; after the others they were open again p50 ${ms(percentile(reopenMs, 50))} ms / max ${ms(Math.max(...reopenMs))} ms after the webhook`
        : ''),
    breakPhase
      ? `while breaking: ${breakPhase.requests} API requests (${breakPhase.watchOpens} watch opens, ${breakPhase.throttled} × 429), ` +
          `${(breakPhase.requests / Math.max(1, detections.length)).toFixed(1)} per broken Deployment; ` +
          `worker RSS after ${breakPhase.workerRssMb} MB (peak ${breakPhase.workerPeakRssMb} MB)`
      : '',
    '',
    `targets: exactly ${TARGETS.watchesPerNamespace} watches per namespace (${EXPECTED_WATCHES}), none reopened in the steady window: ${met(v.watches)}; ` +
      `< ${TARGETS.maxRequestsPerSecond} request/s steady: ${met(v.requests)}; p99 detection < ${TARGETS.maxP99DetectionMs} ms: ${met(v.detection)}`,
    `issue 12 (5,000 Deployments in 50 namespaces; this run ${TOTAL} in ${NAMESPACES}): steady <= ${GOALS.maxRequestsPerSecond} ` +
      `request/s: ${met(g.requests)}; worker RSS <= ${GOALS.maxRssMb} MB: ${met(g.rss)} (moonshot <= ${GOALS.moonshotRssMb} MB: ` +
      `${met(g.rssMoonshot)}); break → alert p99 <= ${GOALS.maxP99DetectionMs} ms: ${met(g.detection)}`,
    '',
  );
  console.log(lines.join('\n'));
}

async function saveResults(): Promise<void> {
  if (!steady || detections.length !== BREAKS) {
    log('the run did not finish every measurement: results not written');
    return;
  }
  const doc = {
    benchmark: 'monitor',
    date: new Date().toISOString(),
    machine: machineFacts(loadAtStart),
    quick: QUICK,
    stack: { nodes: NODES },
    workload: { namespaces: NAMESPACES, deploymentsPerNamespace: PER_NAMESPACE, replicas: 1, forSeconds: 0 },
    worker: {
      process: 'node bin/kube-workflows.js worker (dist/, prebuilt workflow bundle)',
      kubeQps: workerConfig.worker.kubeQps,
      kubeBurst: workerConfig.worker.kubeBurst,
      clientRateLimit: workerConfig.worker.clientRateLimit,
    },
    setup: setupTimes,
    steadyState: steady,
    detection: { latenciesMs: latencies(), perDeployment: detections },
    breakPhase,
    watchesHeldThroughTransitions: heldThrough,
    reopenAfterTransitionMs: reopenMs.length
      ? { count: reopenMs.length, p50: percentile(reopenMs, 50), max: Math.max(...reopenMs) }
      : null,
    targets: { ...TARGETS, met: verdicts() },
    goals: { ...GOALS, met: goalVerdicts() },
  };
  writeRunResult('monitor', doc);
  const defaults = TOTAL === DEFAULT_TOTAL && NAMESPACES === 50 && !process.env.BENCH_NODES;
  const file = process.env.BENCH_RESULTS || (defaults ? join(RESULTS_DIR, 'monitor-latest.json') : undefined);
  if (!file) {
    log('custom size or BENCH_NODES: results not written to bench/results (set BENCH_RESULTS=<file> to keep them)');
    return;
  }
  await writeResults(file, doc);
}

function positiveInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v}: expected a positive integer`);
  return n;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
