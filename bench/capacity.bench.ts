/**
 * Capacity benchmark: three rows of issue 12's table, each against its peer in the same run on the bench's own
 * local stack, with the same in-process worker the deploy bench uses.
 *
 * 1. **Apply ceiling.** The API server's ceiling on this machine: a bare loop of server-side apply PATCHes
 *    (`application/apply-patch+yaml`, a field manager, `force`) of the deploy bench's N = 500 objects, sent with
 *    Node's `https` at concurrency 1, 8, 16, 32 and 64 (each into a fresh namespace; the best is the ceiling),
 *    against our apply phase alone (the deploy report's `applying` duration) of the same objects, in objects/s.
 * 2. **Throughput.** 200 small deploys (ConfigMap, Deployment with 1 replica, Service; distinct apps, each in its
 *    own namespace) started at once on the one worker: completed/s from the first start to the last report, and the
 *    429s the worker's gateway met. Peer: `kubectl apply --server-side` + `kubectl rollout status` of the same 200
 *    apps, two at a time.
 * 3. **Scale 2 → 20 and back.** `client.scale` (waits until Current) against `kubectl scale --replicas` +
 *    `kubectl rollout status`, both directions, median of 5.
 *
 * Prints both sides' wall times and the ratios; fails only when an operation fails, never on a timing. Writes
 * bench/results/capacity-latest.json (default sizes only, or `BENCH_RESULTS=<file>`), and always the run's copy
 * for the summary (see bench/summary.ts).
 *
 * Alone: `npx vitest run --config vitest.bench.config.ts bench/capacity.bench.ts` (`BENCH_QUICK=1`: small sizes).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeWorkflowsClient } from '../src/client/index.js';
import { resolveToolchain } from '../src/dev/index.js';
import { createKubeGateway, type KubeGateway } from '../src/kube/index.js';
import type { KubeWorker, WorkerConfig } from '../src/worker/index.js';
import {
  log,
  manifestSet,
  objectNames,
  percentile,
  run,
  secs,
  startBenchStack,
  startBenchWorker,
  table,
  writeResults,
  writeRunResult,
  type BenchStack,
  allDeploymentsAvailable,
  cpuBetween,
  historyBreakdown,
  ssaPatcher,
  stackCpuSeconds,
  startProfiler,
  type HistoryBreakdown,
} from './support.js';
import { machineFacts } from './format.js';

// ---------------------------------------------------------------------------------------------------------------
// Parameters (defaults are what the committed results use; BENCH_QUICK=1 makes every row small)

const QUICK = process.env.BENCH_QUICK === '1';
const CEILING_N = intEnv('BENCH_CEILING_N', QUICK ? 50 : 500);
const CEILING_CONCURRENCY = process.env.BENCH_CEILING_CONCURRENCY
  ? process.env.BENCH_CEILING_CONCURRENCY.split(',').map((s) => Number.parseInt(s.trim(), 10))
  : QUICK
    ? [1, 8]
    : [1, 8, 16, 32, 64];
const THROUGHPUT_APPS = intEnv('BENCH_THROUGHPUT_APPS', QUICK ? 20 : 200);
/** kubectl runs this many apps at a time. */
const KUBECTL_LANES = 2;
const SCALE_REPEATS = intEnv('BENCH_SCALE_REPEATS', QUICK ? 2 : 5);
const SCALE = { from: 2, to: 20 };
const DEFAULTS =
  !QUICK &&
  !process.env.BENCH_CEILING_N &&
  !process.env.BENCH_CEILING_CONCURRENCY &&
  !process.env.BENCH_THROUGHPUT_APPS &&
  !process.env.BENCH_SCALE_REPEATS;
/** Our side of the ceiling row runs this many times (before and after the loop), the best counts, like the loop's. */
const OUR_APPLY_RUNS = 2;
/** Pods: every Deployment of the ceiling row (each concurrency and our runs), the throughput apps thrice, scale peaks. */
const PODS_NEEDED =
  (CEILING_CONCURRENCY.length + OUR_APPLY_RUNS) * objectNames(CEILING_N).deployments.length +
  3 * THROUGHPUT_APPS +
  2 * SCALE.to +
  10;
const NODES = process.env.BENCH_NODES
  ? Number.parseInt(process.env.BENCH_NODES, 10)
  : Math.max(3, Math.ceil(PODS_NEEDED / 100));
/** Issue 12's goals, printed, never asserted. */
const GOALS = {
  applyOfCeiling: 0.8,
  applyOfCeilingMoonshot: 0.9,
  throughputPerS: 10,
  throughputPerSMoonshot: 20,
  scaleMaxRatio: 1.0,
  scaleSlackMs: 200,
};
const CLUSTER = 'local';
const FIELD_MANAGER = 'bench-ceiling';
const ROLLOUT_TIMEOUT = '600s';
/** A folder: write a CPU profile of this process's main thread (worker and client) during our throughput side. */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
/** In-flight PATCHes of the throughput row's cluster-limit side (the ceiling loop's best is at 32–64). */
const LIMIT_CONCURRENCY = 32;
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v}: expected a positive integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Results

/** `uptime`'s three load averages, rounded. */
type Load = number[];
const load = (): Load => loadavg().map((l) => Math.round(l * 100) / 100);

interface CeilingResult {
  n: number;
  loop: { concurrency: number; namespace: string; ms: number; objectsPerS: number }[];
  best: { concurrency: number; objectsPerS: number };
  ours: {
    namespace: string;
    /** The deploy report's `applying` duration. */
    applyingMs: number;
    objectsPerS: number;
    /** The applyObjects activity's own run time (started → completed), from the history. */
    activityRanMs: number | null;
    totalMs: number;
    /** CPU seconds per process during the deploy (the worker runs in the bench process). */
    cpu: CpuShare[];
  }[];
  /** Best of ours / best of the loop. */
  fractionOfCeiling: number;
  load: { start: Load; end: Load };
}

interface ThroughputSide {
  apps: number;
  wallMs: number;
  completedPerS: number;
  perAppP50Ms: number;
  perAppP99Ms: number;
  /** CPU seconds per process of the stack during the side's run, largest first (`bench`: worker + client). */
  cpu: CpuShare[];
}

/** One process's CPU over a measured span (see bench/support.ts `cpuBetween`). */
type CpuShare = ReturnType<typeof cpuBetween>[number];

interface ThroughputResult {
  objectsPerApp: 3;
  ours: ThroughputSide & {
    throttled429: number;
    apiRequests: number;
    rssMb: number;
    /** Where each deploy's time went, from the histories: p50 / p90 over the deploys, in ms. */
    breakdown: Record<string, { p50: number; p90: number }>;
  };
  kubectl: ThroughputSide & { lanes: number };
  /**
   * The cluster's own limit: every app's objects sent at once by the bare SSA PATCH loop (concurrency
   * {@link LIMIT_CONCURRENCY}), then a watch until every Deployment is Available. Nothing a client does can finish
   * all apps sooner on this stack, so it bounds completed/s from above.
   */
  clusterLimit: { wallMs: number; patchMs: number; completedPerS: number; cpu: CpuShare[] };
  /** Our wall time / kubectl's. */
  ratio: number;
  /** Our wall time / the cluster limit's. */
  ratioToLimit: number;
  load: { start: Load; end: Load };
}

interface ScaleResult {
  repeats: number;
  from: number;
  to: number;
  up: { oursMs: number[]; kubectlMs: number[]; oursMedianMs: number; kubectlMedianMs: number };
  down: { oursMs: number[]; kubectlMs: number[]; oursMedianMs: number; kubectlMedianMs: number };
  ratioUp: number;
  ratioDown: number;
  differenceUpMs: number;
  differenceDownMs: number;
  load: { start: Load; end: Load };
}

let ceiling: CeilingResult | undefined;
let throughput: ThroughputResult | undefined;
let scale: ScaleResult | undefined;

// ---------------------------------------------------------------------------------------------------------------
// Stack, worker, client

const suffix = randomBytes(3).toString('hex');
let stack: BenchStack;
let admin: KubeGateway;
let kw: KubeWorker;
let client: KubeWorkflowsClient;
let workerConfig: WorkerConfig;
let kubectlBin: string;
const loadAtStart = load();

const kubectl = (...args: string[]) =>
  run(kubectlBin, ['--kubeconfig', stack.info.kubeconfig, '--cache-dir', join(stack.dir, 'kubectl-cache'), ...args]);

beforeAll(async () => {
  stack = await startBenchStack(NODES);
  kubectlBin = resolveToolchain().kubectl;
  admin = await createKubeGateway('admin', { kubeconfig: stack.info.kubeconfig });
  stack.onTeardown(() => admin.close());
  ({
    kw,
    client,
    config: workerConfig,
  } = await startBenchWorker(stack, { taskQueue: `bench-capacity-${suffix}`, cluster: CLUSTER }));
  log(`${NODES} KWOK nodes for ${PODS_NEEDED} pods`);

  // Warm-up, untimed: kubectl's discovery cache, the worker's discovery cache and first workflow tasks.
  log('warm-up (untimed)');
  const [nsK, nsW] = await freshNamespaces(['warm-k', 'warm-w']);
  const warm = manifestSet(4);
  const file = join(stack.dir, 'warmup.yaml');
  writeFileSync(file, warm);
  await kubectl('apply', '--server-side', '--field-manager=bench', '-n', nsK, '-f', file);
  const report = await (await client.deploy({ manifests: warm, app: 'warmup', namespace: nsW })).result();
  expect(report.outcome, report.message).toBe('succeeded');
}, 900_000);

afterAll(async () => {
  await stack?.teardown();
}, 300_000);

// ---------------------------------------------------------------------------------------------------------------

describe('capacity: apply ceiling, throughput, scale', () => {
  it(`apply ceiling: a bare SSA PATCH loop of ${CEILING_N} objects vs our apply phase`, async () => {
    const start = load();
    const manifests = manifestSet(CEILING_N);
    const docs = manifests.split('\n---\n');
    const { configMaps, deployments } = objectNames(CEILING_N);
    const paths = (ns: string): string[] => [
      ...configMaps.map((name) => `/api/v1/namespaces/${ns}/configmaps/${name}`),
      ...deployments.map((name) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`),
    ];
    expect(docs).toHaveLength(CEILING_N);
    const ours: CeilingResult['ours'] = [];
    const ourApply = async (label: string): Promise<void> => {
      const [ns] = await freshNamespaces([label]);
      log(`ceiling: our deploy of ${CEILING_N} objects in ${ns}`);
      const cpu0 = stackCpuSeconds(stack);
      const t0 = performance.now();
      const handle = await client.deploy({ manifests, app: 'ceiling', namespace: ns, timeoutSeconds: 600 });
      const report = await handle.result();
      const totalMs = Math.round(performance.now() - t0);
      const cpu = cpuBetween(cpu0, stackCpuSeconds(stack), totalMs);
      expect(report.outcome, report.message).toBe('succeeded');
      const applyingMs = report.durationsMs.applying ?? 0;
      expect(applyingMs, 'the deploy report has an applying phase').toBeGreaterThan(0);
      ours.push({
        namespace: ns,
        applyingMs,
        objectsPerS: round1(CEILING_N / (applyingMs / 1000)),
        activityRanMs: await activityRanMs(handle.raw, 'applyObjects'),
        totalMs,
        cpu,
      });
      log(`ceiling: ours applying ${applyingMs} ms = ${ours.at(-1)?.objectsPerS} objects/s`);
    };

    await ourApply('ceil-kw-1');
    const loop: CeilingResult['loop'] = [];
    const patcher = await ssaPatcher(stack.info.kubeconfig, FIELD_MANAGER);
    try {
      for (const concurrency of CEILING_CONCURRENCY) {
        const [ns] = await freshNamespaces([`ceil-c${concurrency}`]);
        const ms = await patcher.applyAll(paths(ns), docs, concurrency);
        loop.push({ concurrency, namespace: ns, ms: Math.round(ms), objectsPerS: round1(CEILING_N / (ms / 1000)) });
        log(`ceiling: concurrency ${concurrency}: ${CEILING_N} PATCHes in ${Math.round(ms)} ms`);
        await settled(ns, deployments.length);
      }
    } finally {
      patcher.close();
    }
    await ourApply('ceil-kw-2');
    const best = loop.reduce((a, b) => (b.objectsPerS > a.objectsPerS ? b : a));
    const bestOurs = Math.max(...ours.map((o) => o.objectsPerS));
    ceiling = {
      n: CEILING_N,
      loop,
      best: { concurrency: best.concurrency, objectsPerS: best.objectsPerS },
      ours,
      fractionOfCeiling: Math.round((bestOurs / best.objectsPerS) * 1000) / 1000,
      load: { start, end: load() },
    };
  }, 1_800_000);

  it(`throughput: ${THROUGHPUT_APPS} small deploys at once vs kubectl ${KUBECTL_LANES} at a time`, async () => {
    const start = load();
    const apps = Array.from({ length: THROUGHPUT_APPS }, (_, i) => `tp-${String(i).padStart(3, '0')}`);
    const oursNs = await freshNamespaces(apps.map((a) => `${a}-w`));
    const kubectlNs = await freshNamespaces(apps.map((a) => `${a}-k`));
    const limitNs = await freshNamespaces(apps.map((a) => `${a}-l`));

    // ours: every deploy started at once, on the one worker
    const gw = kw.gateways.get(CLUSTER);
    if (!gw) throw new Error(`the worker has no gateway "${CLUSTER}"`);
    const before = { ...gw.stats };
    log(`throughput: ${apps.length} deploys of ours at once`);
    const profiler = CPU_PROFILE_DIR ? await startProfiler() : undefined;
    const oursCpu0 = stackCpuSeconds(stack);
    const t0 = performance.now();
    const handles: { fetchHistory(): Promise<{ events?: unknown[] | null }> }[] = [];
    const oursEach = await Promise.all(
      apps.map(async (app, i) => {
        const namespace = oursNs[i] ?? '';
        const handle = await client.deploy({ manifests: smallApp(app), app, namespace, timeoutSeconds: 600 });
        handles.push(handle.raw);
        const report = await handle.result();
        expect(report.outcome, `${app}: ${report.message}`).toBe('succeeded');
        return performance.now() - t0;
      }),
    );
    const oursWall = performance.now() - t0;
    const oursCpu = cpuBetween(oursCpu0, stackCpuSeconds(stack), oursWall);
    if (profiler && CPU_PROFILE_DIR) await profiler.stop(join(CPU_PROFILE_DIR, `throughput-${apps.length}.cpuprofile`));
    const after = { ...gw.stats };
    const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const breakdown = summarizeBreakdowns(await Promise.all(handles.map((h) => historyBreakdown(h))));
    log(`throughput: where each deploy's time went (p50 / p90 over ${handles.length}): ${JSON.stringify(breakdown)}`);
    for (const ns of oursNs) await settled(ns, 1);

    // kubectl: apply + rollout status per app, two apps at a time
    log(`throughput: kubectl apply + rollout status of ${apps.length} apps, ${KUBECTL_LANES} at a time`);
    const files = apps.map((app) => {
      const file = join(stack.dir, `${app}.yaml`);
      writeFileSync(file, smallApp(app));
      return file;
    });
    const kubectlCpu0 = stackCpuSeconds(stack);
    const k0 = performance.now();
    const kubectlEach: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: KUBECTL_LANES }, async () => {
        for (let i = next++; i < apps.length; i = next++) {
          const ns = kubectlNs[i] ?? '';
          await kubectl('apply', '--server-side', '--field-manager=bench', '-n', ns, '-f', files[i] ?? '');
          await kubectl('rollout', 'status', `deployment/${apps[i]}`, '-n', ns, `--timeout=${ROLLOUT_TIMEOUT}`);
          kubectlEach.push(performance.now() - k0);
        }
      }),
    );
    const kubectlWall = performance.now() - k0;
    const kubectlCpu = cpuBetween(kubectlCpu0, stackCpuSeconds(stack), kubectlWall);
    for (const ns of kubectlNs) await settled(ns, 1);

    // the cluster's limit: all apps' objects PATCHed at once by the bare loop, then every Deployment Available
    log(`throughput: the cluster's limit (bare PATCH loop of ${apps.length * 3} objects, then all Available)`);
    const label = `bench-limit=${suffix}`;
    const requests = apps.flatMap((app, i) => smallAppRequests(app, limitNs[i] ?? '', label));
    const patcher = await ssaPatcher(stack.info.kubeconfig, FIELD_MANAGER);
    const limitCpu0 = stackCpuSeconds(stack);
    const l0 = performance.now();
    let limitWall: number;
    let patchMs: number;
    try {
      const available = allDeploymentsAvailable(admin, { labelSelector: label }, apps.length);
      patchMs = await patcher.applyAll(
        requests.map((r) => r.path),
        requests.map((r) => r.body),
        LIMIT_CONCURRENCY,
      );
      limitWall = (await available) - l0;
    } finally {
      patcher.close();
    }
    const limitCpu = cpuBetween(limitCpu0, stackCpuSeconds(stack), limitWall);
    const side = (each: number[], wall: number, cpu: CpuShare[]): ThroughputSide => ({
      apps: each.length,
      wallMs: Math.round(wall),
      completedPerS: round2(each.length / (wall / 1000)),
      perAppP50Ms: Math.round(percentile(each, 50)),
      perAppP99Ms: Math.round(percentile(each, 99)),
      cpu,
    });
    throughput = {
      objectsPerApp: 3,
      ours: {
        ...side(oursEach, oursWall, oursCpu),
        throttled429: after.throttled - before.throttled,
        apiRequests: after.requests - before.requests,
        rssMb,
        breakdown,
      },
      kubectl: { ...side(kubectlEach, kubectlWall, kubectlCpu), lanes: KUBECTL_LANES },
      clusterLimit: {
        wallMs: Math.round(limitWall),
        patchMs: Math.round(patchMs),
        completedPerS: round2(apps.length / (limitWall / 1000)),
        cpu: limitCpu,
      },
      ratio: round3(oursWall / kubectlWall),
      ratioToLimit: round3(oursWall / limitWall),
      load: { start, end: load() },
    };
    log(`throughput: ${JSON.stringify(throughput)}`);
  }, 1_800_000);

  it(`scale ${SCALE.from} → ${SCALE.to} and back: client.scale vs kubectl scale + rollout status`, async () => {
    const start = load();
    const [nsK, nsW] = await freshNamespaces(['scale-k', 'scale-w']);
    const name = 'scaled';
    const file = join(stack.dir, 'scaled.yaml');
    writeFileSync(file, smallApp(name).replace('replicas: 1', `replicas: ${SCALE.from}`));
    for (const ns of [nsK, nsW]) {
      await kubectl('apply', '--server-side', '--field-manager=bench', '-n', ns, '-f', file);
      await kubectl('rollout', 'status', `deployment/${name}`, '-n', ns, `--timeout=${ROLLOUT_TIMEOUT}`);
    }
    const kubectlScale = async (replicas: number): Promise<number> => {
      const t0 = performance.now();
      await kubectl('scale', `deployment/${name}`, `--replicas=${replicas}`, '-n', nsK);
      await kubectl('rollout', 'status', `deployment/${name}`, '-n', nsK, `--timeout=${ROLLOUT_TIMEOUT}`);
      return Math.round(performance.now() - t0);
    };
    const ourScale = async (replicas: number): Promise<number> => {
      const t0 = performance.now();
      const handle = await client.scale({ kind: 'Deployment', name, namespace: nsW, replicas });
      const report = await handle.result();
      const ms = Math.round(performance.now() - t0);
      expect(report.outcome, `scale to ${replicas}: ${report.status ?? ''} ${report.reason ?? ''}`).toBe('succeeded');
      expect(report.to).toBe(replicas);
      return ms;
    };
    const up = { ours: [] as number[], kubectl: [] as number[] };
    const down = { ours: [] as number[], kubectl: [] as number[] };
    for (let i = 0; i < SCALE_REPEATS; i++) {
      up.kubectl.push(await kubectlScale(SCALE.to));
      up.ours.push(await ourScale(SCALE.to));
      down.kubectl.push(await kubectlScale(SCALE.from));
      down.ours.push(await ourScale(SCALE.from));
      log(
        `scale ${i + 1}/${SCALE_REPEATS}: up kubectl ${up.kubectl.at(-1)} ms, ours ${up.ours.at(-1)} ms; ` +
          `down kubectl ${down.kubectl.at(-1)} ms, ours ${down.ours.at(-1)} ms`,
      );
    }
    const med = (v: number[]): number => median(v);
    scale = {
      repeats: SCALE_REPEATS,
      ...SCALE,
      up: {
        oursMs: up.ours,
        kubectlMs: up.kubectl,
        oursMedianMs: med(up.ours),
        kubectlMedianMs: med(up.kubectl),
      },
      down: {
        oursMs: down.ours,
        kubectlMs: down.kubectl,
        oursMedianMs: med(down.ours),
        kubectlMedianMs: med(down.kubectl),
      },
      ratioUp: round3(med(up.ours) / med(up.kubectl)),
      ratioDown: round3(med(down.ours) / med(down.kubectl)),
      differenceUpMs: med(up.ours) - med(up.kubectl),
      differenceDownMs: med(down.ours) - med(down.kubectl),
      load: { start, end: load() },
    };
  }, 1_800_000);

  it('summary', async () => {
    printSummary();
    await saveResults();
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------
// The bare SSA loop

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** One small app: a ConfigMap, a Deployment (1 replica) reading it, and a (headless) Service in front of it. */
function smallApp(app: string): string {
  return [
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${app}-config`,
      `  labels: { app.kubernetes.io/name: ${app} }`,
      'data:',
      '  GREETING: hello from the capacity benchmark',
    ],
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      `  name: ${app}`,
      `  labels: { app.kubernetes.io/name: ${app} }`,
      'spec:',
      '  replicas: 1',
      `  selector: { matchLabels: { app.kubernetes.io/name: ${app} } }`,
      '  template:',
      `    metadata: { labels: { app.kubernetes.io/name: ${app} } }`,
      '    spec:',
      '      containers:',
      '        - name: app',
      '          image: registry.example/bench:1.0.0',
      '          ports: [{ containerPort: 8080 }]',
      `          envFrom: [{ configMapRef: { name: ${app}-config } }]`,
    ],
    [
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      `  name: ${app}`,
      `  labels: { app.kubernetes.io/name: ${app} }`,
      'spec:',
      // headless: the local API server's service CIDR holds fewer cluster IPs than the run's 400 Services
      '  clusterIP: None',
      `  selector: { app.kubernetes.io/name: ${app} }`,
      '  ports: [{ port: 80, targetPort: 8080 }]',
    ],
  ]
    .map((lines) => lines.join('\n'))
    .join('\n---\n')
    .concat('\n');
}

/** New namespaces `bench-<label>-<suffix>`, created 16 at a time, each with its `default` ServiceAccount. */
async function freshNamespaces<const T extends readonly string[]>(labels: T): Promise<{ [K in keyof T]: string }> {
  const names = labels.map((l) => `bench-${l}-${suffix}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, names.length) }, async () => {
      for (let i = next++; i < names.length; i = next++) {
        const name = names[i] ?? '';
        await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
        await until(`the default ServiceAccount of ${name}`, 60_000, async () =>
          Boolean(await admin.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: name, name: 'default' })),
        );
      }
    }),
  );
  return names as { [K in keyof T]: string };
}

/** Waits (untimed) until `count` Deployments of `namespace` are Available, so the next measurement starts quiet. */
async function settled(namespace: string, count: number): Promise<void> {
  await until(
    `${count} Deployments Available in ${namespace}`,
    600_000,
    async () => {
      const list = await admin.list('apps/v1', 'Deployment', { namespace });
      return (
        list.items.filter((d) => {
          const s = d.status as { availableReplicas?: number; replicas?: number } | undefined;
          return (s?.availableReplicas ?? 0) >= 1 && s?.availableReplicas === s?.replicas;
        }).length >= count
      );
    },
    200,
  );
}

/** Polls `probe` until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The run time (started → completed) of the activities of `type` in a run, from its history (one per deploy). */
async function activityRanMs(
  handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> },
  type: string,
): Promise<number | null> {
  return (await historyBreakdown(handle)).activities[type]?.ranMs ?? null;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : Math.round(((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2);
}
const round1 = (v: number): number => Math.round(v * 10) / 10;
const round2 = (v: number): number => Math.round(v * 100) / 100;
const round3 = (v: number): number => Math.round(v * 1000) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// Output

function printSummary(): void {
  const lines = [
    '',
    `capacity benchmark: ${cpus().length} CPUs, ${NODES} KWOK nodes, load average at start ${loadAtStart.join(' ')}; ` +
      `worker kubeQps ${workerConfig.worker.kubeQps}, kubeBurst ${workerConfig.worker.kubeBurst} (${workerConfig.worker.clientRateLimit}), ` +
      `applyConcurrency ${workerConfig.worker.applyConcurrency}`,
    '',
  ];
  if (ceiling) {
    const c = ceiling;
    lines.push(
      `apply ceiling, N = ${c.n} (${objectNames(c.n).configMaps.length} ConfigMaps + ${objectNames(c.n).deployments.length} ` +
        `Deployments), bare SSA PATCH loop (load ${c.load.start.join(' ')} → ${c.load.end.join(' ')}):`,
      table(
        ['side', 'wall s', 'objects/s'],
        [
          ...c.loop.map((l) => [`loop, concurrency ${l.concurrency}`, secs(l.ms), l.objectsPerS.toFixed(1)]),
          ...c.ours.map((o, i) => [
            `ours #${i + 1}: applying phase (activity ran ${o.activityRanMs ?? '?'} ms; deploy ${secs(o.totalMs)} s)`,
            secs(o.applyingMs),
            o.objectsPerS.toFixed(1),
          ]),
        ],
      ),
      `ceiling ${c.best.objectsPerS.toFixed(1)} objects/s (concurrency ${c.best.concurrency}); ours best ` +
        `${Math.max(...c.ours.map((o) => o.objectsPerS)).toFixed(1)} objects/s = ${(c.fractionOfCeiling * 100).toFixed(0)} % ` +
        `of the ceiling (goal >= ${GOALS.applyOfCeiling * 100} %: ${c.fractionOfCeiling >= GOALS.applyOfCeiling ? 'met' : 'NOT met'}; ` +
        `moonshot ${GOALS.applyOfCeilingMoonshot * 100} %)`,
      ...c.ours.map((o, i) => `CPU during ours #${i + 1} (whole deploy; bench = worker + client): ${formatCpu(o.cpu)}`),
      '',
    );
  }
  if (throughput) {
    const t = throughput;
    lines.push(
      `throughput: ${t.ours.apps} small deploys (3 objects each, own namespaces) (load ${t.load.start.join(' ')} → ${t.load.end.join(' ')}):`,
      table(
        ['side', 'wall s', 'completed/s', 'per app p50 s', 'per app p99 s', '429s'],
        [
          [
            'ours, all at once on one worker',
            secs(t.ours.wallMs),
            t.ours.completedPerS.toFixed(2),
            secs(t.ours.perAppP50Ms),
            secs(t.ours.perAppP99Ms),
            String(t.ours.throttled429),
          ],
          [
            `kubectl apply + rollout status, ${t.kubectl.lanes} at a time`,
            secs(t.kubectl.wallMs),
            t.kubectl.completedPerS.toFixed(2),
            secs(t.kubectl.perAppP50Ms),
            secs(t.kubectl.perAppP99Ms),
            '-',
          ],
          [
            `cluster limit: bare PATCH loop (${LIMIT_CONCURRENCY} in flight, ${secs(t.clusterLimit.patchMs)} s), all Available`,
            secs(t.clusterLimit.wallMs),
            t.clusterLimit.completedPerS.toFixed(2),
            '-',
            '-',
            '-',
          ],
        ],
      ),
      `ours / cluster limit wall time ${t.ratioToLimit.toFixed(2)}`,
      `ours / kubectl wall time ${t.ratio.toFixed(2)}; ${t.ours.apiRequests} API requests, worker RSS ${t.ours.rssMb} MB; ` +
        `goal >= ${GOALS.throughputPerS}/s with no 429: ${t.ours.completedPerS >= GOALS.throughputPerS && t.ours.throttled429 === 0 ? 'met' : 'NOT met'} ` +
        `(moonshot ${GOALS.throughputPerSMoonshot}/s)`,
      `CPU during ours (cores busy; bench = worker + client): ${formatCpu(t.ours.cpu)}`,
      `where each of our deploys' time went (p50 / p90 ms, from the histories): ${Object.entries(t.ours.breakdown)
        .map(([k, v]) => `${k} ${v.p50} / ${v.p90}`)
        .join(', ')}`,
      `CPU during kubectl's (kubectl's own processes not counted): ${formatCpu(t.kubectl.cpu)}`,
      `CPU during the cluster limit's: ${formatCpu(t.clusterLimit.cpu)}`,
      '',
    );
  }
  if (scale) {
    const s = scale;
    const verdict = (ours: number, peer: number): string =>
      ours <= peer * GOALS.scaleMaxRatio + GOALS.scaleSlackMs ? 'met' : 'NOT met';
    lines.push(
      `scale ${s.from} → ${s.to} and back, median of ${s.repeats} (load ${s.load.start.join(' ')} → ${s.load.end.join(' ')}):`,
      table(
        [
          'direction',
          'ours s',
          'kubectl s',
          'ratio',
          'ours - kubectl ms',
          `goal <= ${GOALS.scaleMaxRatio} x + ${GOALS.scaleSlackMs} ms`,
        ],
        [
          [
            `${s.from} → ${s.to}`,
            secs(s.up.oursMedianMs),
            secs(s.up.kubectlMedianMs),
            s.ratioUp.toFixed(2),
            String(s.differenceUpMs),
            verdict(s.up.oursMedianMs, s.up.kubectlMedianMs),
          ],
          [
            `${s.to} → ${s.from}`,
            secs(s.down.oursMedianMs),
            secs(s.down.kubectlMedianMs),
            s.ratioDown.toFixed(2),
            String(s.differenceDownMs),
            verdict(s.down.oursMedianMs, s.down.kubectlMedianMs),
          ],
        ],
      ),
      '',
    );
  }
  console.log(lines.join('\n'));
}

async function saveResults(): Promise<void> {
  const doc = {
    benchmark: 'capacity',
    date: new Date().toISOString(),
    quick: QUICK,
    defaults: DEFAULTS,
    machine: machineFacts(loadAtStart),
    stack: { nodes: NODES },
    worker: {
      kubeQps: workerConfig.worker.kubeQps,
      kubeBurst: workerConfig.worker.kubeBurst,
      clientRateLimit: workerConfig.worker.clientRateLimit,
      applyConcurrency: workerConfig.worker.applyConcurrency,
    },
    goals: GOALS,
    ceiling: ceiling ?? null,
    throughput: throughput ?? null,
    scale: scale ?? null,
  };
  writeRunResult('capacity', doc);
  const file = process.env.BENCH_RESULTS || (DEFAULTS ? join(RESULTS_DIR, 'capacity-latest.json') : undefined);
  if (!file) {
    log('custom or quick sizes: results not written to bench/results (set BENCH_RESULTS=<file> to keep them)');
    return;
  }
  if (!ceiling || !throughput || !scale) {
    log('not every row was measured: results not written');
    return;
  }
  await writeResults(file, doc);
}

/** p50 / p90 of each part of many {@link HistoryBreakdown}s (`total`, `wft queued`, `<activity> queued`, …). */
function summarizeBreakdowns(all: readonly HistoryBreakdown[]): Record<string, { p50: number; p90: number }> {
  const parts = new Map<string, number[]>();
  const add = (name: string, v: number): void => {
    const list = parts.get(name) ?? [];
    list.push(v);
    parts.set(name, list);
  };
  for (const b of all) {
    add('total', b.totalMs);
    add('workflow tasks', b.workflowTasks.count);
    add('wft queued', b.workflowTasks.queuedMs);
    add('wft ran', b.workflowTasks.ranMs);
    for (const [type, a] of Object.entries(b.activities)) {
      add(`${type} queued`, a.queuedMs);
      add(`${type} ran`, a.ranMs);
    }
  }
  return Object.fromEntries(
    [...parts].map(([name, values]) => [name, { p50: percentile(values, 50), p90: percentile(values, 90) }]),
  );
}

/**
 * The PATCH requests of {@link smallApp} into `namespace`, every object also labelled `label` (`key=value`) so that
 * `allDeploymentsAvailable` can watch them alone.
 */
function smallAppRequests(app: string, namespace: string, label: string): { path: string; body: string }[] {
  const [key, value] = label.split('=');
  const paths: Record<string, string> = {
    ConfigMap: `/api/v1/namespaces/${namespace}/configmaps/${app}-config`,
    Deployment: `/apis/apps/v1/namespaces/${namespace}/deployments/${app}`,
    Service: `/api/v1/namespaces/${namespace}/services/${app}`,
  };
  return smallApp(app)
    .split('\n---\n')
    .map((doc) => {
      const kind = /^kind: (\w+)$/m.exec(doc)?.[1] ?? '';
      const path = paths[kind];
      if (!path) throw new Error(`smallApp has a ${kind}: no path for it`);
      // the object's own labels (`  labels:` under metadata), not the selector's or the pod template's
      return { path, body: doc.replace(/^ {2}labels: \{ /m, `  labels: { ${key}: ${value}, `) };
    });
}

/** `kube-apiserver 0.91, bench 0.52, …`: cores busy per process over the span (top 6). */
function formatCpu(cpu: readonly { component: string; cpuS: number; coresBusy: number }[]): string {
  return cpu
    .slice(0, 6)
    .map((c) => `${c.component} ${c.coresBusy.toFixed(2)} (${c.cpuS.toFixed(1)} s)`)
    .join(', ');
}
