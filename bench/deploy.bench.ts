/**
 * Deploy benchmark: kube-workflows against three peers measured in the same run on the bench's own local stack,
 * for N = 10, 100 and 500 objects (half ConfigMaps, half Deployments with 1 replica): `kubectl apply --server-side`
 * + `kubectl rollout status` per Deployment (what a CronJob script does), `kubectl apply --server-side` +
 * `kubectl wait --for=condition=Available deployment --all`, and Helm 4 `helm upgrade --install --wait` of a chart
 * holding the same objects. Prints wall times, the ratios ours / each peer, 429s met, the per-phase breakdown of
 * each deploy report, the worker process RSS and the readiness lag (the last Deployment status write the API
 * server's audit log recorded → the side's end; p50 / p99 over 20 small deploys of ours); writes
 * bench/results/deploy-latest.json. Fails only when a deploy does not succeed (correctness), never on speed.
 *
 * Run with `npm run bench` (see bench/README.md for the knobs).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployReport, KubeWorkflowsClient } from '../src/client/index.js';
import { resolveToolchain } from '../src/dev/index.js';
import { createKubeGateway, type KubeGateway } from '../src/kube/index.js';
import type { KubeWorker, WorkerConfig } from '../src/worker/index.js';
import { prometheusOperatorCrds } from '../test/support/fixtures.js';
import { readAuditEvents } from '../test/support/audit.js';
import { historyPayloads } from '../test/support/history.js';
import {
  allDeploymentsAvailable,
  log,
  manifestSet,
  objectNames,
  percentile,
  resolveHelm,
  run,
  secs,
  ssaPatcher,
  startProfiler,
  startBenchStack,
  startBenchWorker,
  table,
  writeChart,
  writeResults,
  writeRunResult,
  type BenchStack,
} from './support.js';
import { machineFacts } from './format.js';

// ---------------------------------------------------------------------------------------------------------------
// Parameters (defaults are what the committed results use)

const DEFAULT_SIZES = [10, 100, 500];
/** `BENCH_QUICK=1` (a quick check that every row runs): N = 10 only, unless BENCH_SIZES says otherwise. */
const SIZES = process.env.BENCH_SIZES
  ? process.env.BENCH_SIZES.split(',').map((s) => Number.parseInt(s.trim(), 10))
  : process.env.BENCH_QUICK === '1'
    ? [10]
    : DEFAULT_SIZES;
const WARMUP_OBJECTS = 4;
/** The readiness-lag case: this many deploys of ours, one after the other, each of LAG_OBJECTS objects. */
const LAG_DEPLOYS = 20;
const LAG_OBJECTS = 10;
/**
 * The sides of each size: kubectl + rollout status, kubectl + wait --all, Helm 4, the cluster limit (bare PATCH
 * loop + watch), kube-workflows.
 */
const SIDES = 5;
/**
 * Pods the run creates: every size and the warm-up once per side, plus the readiness-lag deploys (namespaces are
 * kept, so nothing is deleted while a measurement runs).
 */
const PODS_NEEDED =
  SIDES * [WARMUP_OBJECTS, ...SIZES].reduce((sum, n) => sum + objectNames(n).deployments.length, 0) +
  LAG_DEPLOYS * objectNames(LAG_OBJECTS).deployments.length;
/** KWOK nodes made by `kwokctl scale node` allow 110 pods each: enough nodes for every pod, with headroom. */
const NODES = process.env.BENCH_NODES
  ? Number.parseInt(process.env.BENCH_NODES, 10)
  : Math.max(3, Math.ceil(PODS_NEEDED / 100));
/** Worker tuning overrides, to investigate where time goes (the shipped defaults otherwise). */
const OVERRIDES = {
  kubeQps: optionalNumber('BENCH_KUBE_QPS'),
  kubeBurst: optionalNumber('BENCH_KUBE_BURST'),
  applyConcurrency: optionalNumber('BENCH_APPLY_CONCURRENCY'),
};
/** A folder: write a CPU profile of the worker's main thread (activities) during each of our deploys. */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
/** In-flight PATCHes of the cluster-limit side (the capacity bench's ceiling loop peaks at 32–64). */
const LIMIT_CONCURRENCY = 32;
const CLUSTER = 'local';
const APP = 'bench';
/** The first target: at N = 500 our wall time is at most half of kubectl + rollout status's, with no 429s. */
const TARGET = { n: 500, maxRatio: 0.5 };
/**
 * Issue 12's goals at N = 500 (printed, never asserted): ours / Helm 4 ≤ 0.5 (moonshot 0.35), ours / kubectl
 * apply + wait --all ≤ 0.25, readiness lag p99 ≤ 250 ms (moonshot 100 ms).
 */
const GOALS = { helmMaxRatio: 0.5, kubectlWaitMaxRatio: 0.25, lagP99MaxMs: 250 };
const HELM_TIMEOUT = '10m';
/**
 * Helm's client-side rate limit: unset, Helm's defaults (`--qps` 0 = client-go's 5 requests/s, `--burst-limit`
 * 100); `BENCH_HELM_QPS` / `BENCH_HELM_BURST` pass `--qps` / `--burst-limit` (e.g. the worker's 200 / 400).
 */
const HELM_LIMITS = { qps: optionalNumber('BENCH_HELM_QPS'), burst: optionalNumber('BENCH_HELM_BURST') };
const ROLLOUT_TIMEOUT = '600s';
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function optionalNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v}: expected a positive number`);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Results

interface ActivityTiming {
  activity: string;
  /** Scheduled, seconds after the workflow started. */
  atS: number;
  /** Scheduled → started (task queue latency). */
  queuedMs: number;
  /** Started → completed (the activity's own work). */
  ranMs: number;
  attempt: number;
  /** Why the previous attempt failed (e.g. a heartbeat timeout), when it was retried. */
  lastFailure?: string;
}

/**
 * Readiness lag of one side: from the last `deployments/status` write of its namespace that the API server's audit
 * log recorded (stage ResponseComplete, microsecond timestamps) to the side's end (our `handle.result()` resolving,
 * the peer's command exiting). After that write no Deployment status changes, so the last object became Current at
 * that write or before it: the lag is a lower bound of "last object Current → report" (equal when the write that
 * made the last Deployment Current is its last status write, which is what the Deployment controller does here).
 * Negative: the side ended before the last status write.
 */
interface ReadinessLag {
  /** Side end minus the last status write (ms). */
  lagMs: number;
  /** Status writes of the namespace's Deployments in the audit log (all of them, from creation on). */
  statusWrites: number;
  /** Of which after the side's end (0 unless it ended before the cluster settled). */
  statusWritesAfterEnd: number;
}

interface SizeResult {
  n: number;
  configMaps: number;
  deployments: number;
  kubectl: {
    namespace: string;
    applyMs: number;
    rolloutMs: number;
    totalMs: number;
    /** When the last Deployment turned Available (API server clock, 1 s resolution), after the start. */
    allAvailableAtS: number;
    readiness?: ReadinessLag | undefined;
  };
  /** `kubectl apply --server-side` then `kubectl wait --for=condition=Available deployment --all`. */
  kubectlWait: {
    namespace: string;
    applyMs: number;
    waitMs: number;
    totalMs: number;
    allAvailableAtS: number;
    readiness?: ReadinessLag | undefined;
  };
  /** Helm 4 `helm upgrade --install --wait` (watcher strategy: kstatus) with server-side apply. */
  helm: {
    namespace: string;
    totalMs: number;
    allAvailableAtS: number;
    readiness?: ReadinessLag | undefined;
  };
  kubeWorkflows: {
    namespace: string;
    workflowId: string;
    /** client.deploy() returned (validated locally, workflow started). */
    startMs: number;
    totalMs: number;
    /** When the last Deployment turned Available (API server clock, 1 s resolution), after the start. */
    allAvailableAtS: number;
    outcome: DeployReport['outcome'];
    message: string;
    durationsMs: Record<string, number>;
    apiRequests: number;
    throttled429: number;
    /** CPU time of the whole worker process (activities, workflow sandbox, Temporal core) during the deploy. */
    cpuSeconds: number;
    /** Longest event-loop stall during the deploy (a stall delays heartbeats and watch handling). */
    eventLoopMaxLagMs: number;
    activities: ActivityTiming[];
    readiness?: ReadinessLag | undefined;
  };
  /** Ours / kubectl apply + rollout status. */
  ratio: number;
  /** Ours / kubectl apply + wait --all. */
  ratioKubectlWait: number;
  /** Ours / Helm 4. */
  ratioHelm: number;
  /**
   * The cluster's own limit: the same objects sent by the bare SSA PATCH loop (no parse, no retry, no rate limit,
   * {@link LIMIT_CONCURRENCY} in flight), then a watch until every Deployment is Available. No client can have
   * them all Available sooner on this stack; the distance to it is all a deploy tool can win.
   */
  clusterLimit: { namespace: string; patchMs: number; totalMs: number };
  /** Ours / the cluster limit. */
  ratioLimit: number;
  /** Helm 4 / the cluster limit. */
  ratioHelmLimit: number;
  rssMb: number;
  /** Epoch ms when each side ended (for the readiness lag, computed from the audit log at the end of the run). */
  endedAt: { kubectl: number; kubectlWait: number; helm: number; kubeWorkflows: number };
}

/** The readiness-lag case: LAG_DEPLOYS deploys of ours, each into a new namespace. */
interface LagResult {
  deploys: number;
  objectsEach: number;
  source: string;
  lagsMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  totalsMs: number[];
}

/** The prometheus-operator CRD bundle deployed both ways (each side under its own API group, so both create). */
interface CrdBundleResult {
  crds: number;
  yamlBytes: number;
  kubectl: { applyMs: number; waitMs: number; totalMs: number };
  kubeWorkflows: {
    totalMs: number;
    durationsMs: Record<string, number>;
    /** Largest payload in the workflow's history and all payloads together (bytes). */
    largestPayload: number;
    historyPayloads: number;
  };
  ratio: number;
}

const results: SizeResult[] = [];
let crdResult: CrdBundleResult | undefined;
let lagResult: LagResult | undefined;
/** The readiness-lag deploys: namespace and the epoch ms when `handle.result()` resolved. */
const lagRuns: { namespace: string; endedAt: number; totalMs: number }[] = [];
const CRD_CASE = process.env.BENCH_CRDS !== '0';
const suffix = randomBytes(3).toString('hex');

// ---------------------------------------------------------------------------------------------------------------
// Stack, worker, client

let stack: BenchStack;
let admin: KubeGateway;
let kw: KubeWorker;
let client: KubeWorkflowsClient;
let kubectlBin: string;
let kubectlVersion = '';
let helmBin: string;
let helmVersion = '';
let workerConfig: WorkerConfig;
const loadAtStart = loadavg();

/** kubectl against the bench cluster, with its own discovery cache (warmed once, like a long-lived runner). */
const kubectl = (...args: string[]) =>
  run(kubectlBin, ['--kubeconfig', stack.info.kubeconfig, '--cache-dir', join(stack.dir, 'kubectl-cache'), ...args]);

/**
 * Helm against the bench cluster, with its HOME and its cache, config and data folders inside the bench folder
 * (its discovery cache is warmed once by the warm-up; nothing under the user's ~/.kube or ~/.cache/helm).
 */
const helm = (...args: string[]) => {
  const home = join(stack.dir, 'helm-home');
  return run(helmBin, ['--kubeconfig', stack.info.kubeconfig, ...args], {
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  });
};

beforeAll(async () => {
  stack = await startBenchStack(NODES);
  kubectlBin = resolveToolchain().kubectl;
  helmBin = await resolveHelm();
  helmVersion = (await helm('version', '--template', '{{ .Version }}')).stdout.trim();
  kubectlVersion = (
    JSON.parse((await kubectl('version', '--client', '-o', 'json')).stdout) as {
      clientVersion: { gitVersion: string };
    }
  ).clientVersion.gitVersion;

  admin = await createKubeGateway('admin', { kubeconfig: stack.info.kubeconfig });
  stack.onTeardown(() => admin.close());
  await checkPodCapacity();

  ({
    kw,
    client,
    config: workerConfig,
  } = await startBenchWorker(stack, {
    taskQueue: `bench-${suffix}`,
    cluster: CLUSTER,
    // the CRD-bundle case writes CustomResourceDefinitions
    env: { KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true' },
    adjust: (config) => {
      if (OVERRIDES.kubeQps !== undefined) config.worker.kubeQps = OVERRIDES.kubeQps;
      if (OVERRIDES.kubeBurst !== undefined) config.worker.kubeBurst = OVERRIDES.kubeBurst;
      // a rate given explicitly applies always, as in the worker's config file
      if (OVERRIDES.kubeQps !== undefined || OVERRIDES.kubeBurst !== undefined)
        config.worker.clientRateLimit = 'always';
      if (OVERRIDES.applyConcurrency !== undefined) config.worker.applyConcurrency = OVERRIDES.applyConcurrency;
    },
  }));

  // Warm-up, untimed: kubectl's discovery cache, the worker's discovery cache and first workflow task.
  log('warm-up (untimed)');
  const warm = manifestSet(WARMUP_OBJECTS);
  const [nsK, nsKW, nsH, nsW] = await freshNamespaces('warmup');
  const warmFile = join(stack.dir, 'warmup.yaml');
  writeFileSync(warmFile, warm);
  await kubectlDeploy(warmFile, nsK, objectNames(WARMUP_OBJECTS).deployments);
  await kubectlWaitDeploy(warmFile, nsKW);
  await helmDeploy(writeChart(stack.dir, 'warmup', warm), nsH);
  const report = await (await client.deploy({ manifests: warm, app: APP, namespace: nsW })).result();
  expect(report.outcome, report.message).toBe('succeeded');
}, 900_000);

afterAll(async () => {
  await stack?.teardown();
}, 300_000);

// ---------------------------------------------------------------------------------------------------------------
// Measurements

describe('deploy: kube-workflows vs kubectl (rollout status, wait --all) and Helm 4', () => {
  for (const n of SIZES) {
    it(`N = ${n}`, async () => {
      const manifests = manifestSet(n);
      const { configMaps, deployments } = objectNames(n);
      const [nsK, nsKW, nsH, nsW, nsL] = await freshNamespaces(String(n));
      const file = join(stack.dir, `set-${n}.yaml`);
      writeFileSync(file, manifests);
      const chart = writeChart(stack.dir, `bench-${n}`, manifests);

      // (a) kubectl, as a CronJob script would: one apply, then rollout status for every Deployment in turn
      log(`N=${n}: kubectl apply --server-side + ${deployments.length} x rollout status in ${nsK}`);
      const kStart = Date.now();
      const k = await kubectlDeploy(file, nsK, deployments);
      const kEnd = Date.now();
      const kAvailable = await lastAvailableAt(nsK);

      // (a2) kubectl apply, then one `kubectl wait --for=condition=Available deployment --all`
      log(`N=${n}: kubectl apply --server-side + kubectl wait --for=condition=Available deployment --all in ${nsKW}`);
      const kwStart = Date.now();
      const kw2 = await kubectlWaitDeploy(file, nsKW);
      const kwEnd = Date.now();
      const kwAvailable = await lastAvailableAt(nsKW);

      // (a3) Helm 4: upgrade --install --wait (watcher) of a chart holding the same objects, server-side apply
      log(`N=${n}: helm upgrade --install --wait --server-side=true in ${nsH}`);
      const hStart = Date.now();
      const h = await helmDeploy(chart, nsH);
      const hEnd = Date.now();
      const hAvailable = await lastAvailableAt(nsH);

      // (a4) the cluster's limit: the bare PATCH loop, then a watch until every Deployment is Available
      log(`N=${n}: the cluster's limit: bare SSA PATCH loop (${LIMIT_CONCURRENCY} in flight) + watch in ${nsL}`);
      const limit = await clusterLimit(manifests, nsL, n);

      // (b) kube-workflows: an in-process worker, client.deploy → result
      log(`N=${n}: kube-workflows deploy in ${nsW}`);
      const gw = kw.gateways.get(CLUSTER);
      if (!gw) throw new Error(`the worker has no gateway "${CLUSTER}"`);
      const before = { ...gw.stats };
      const profiler = CPU_PROFILE_DIR ? await startProfiler() : undefined;
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const cpu0 = process.cpuUsage();
      const wStart = Date.now();
      const t0 = performance.now();
      const handle = await client.deploy({ manifests, app: APP, namespace: nsW, timeoutSeconds: 600 });
      const startMs = performance.now() - t0;
      const report = await handle.result();
      const totalMs = performance.now() - t0;
      const wEnd = Date.now();
      const cpu = process.cpuUsage(cpu0);
      lag.disable();
      if (profiler && CPU_PROFILE_DIR) await profiler.stop(join(CPU_PROFILE_DIR, `deploy-${n}.cpuprofile`));
      const after = { ...gw.stats };
      expect(report.outcome, `deploy of ${n} objects: ${report.message}`).toBe('succeeded');
      expect(report.objects.filter((o) => o.status !== 'Current')).toEqual([]);

      const result: SizeResult = {
        n,
        configMaps: configMaps.length,
        deployments: deployments.length,
        kubectl: { namespace: nsK, ...k, allAvailableAtS: Math.max(0, kAvailable - kStart) / 1000 },
        kubectlWait: { namespace: nsKW, ...kw2, allAvailableAtS: Math.max(0, kwAvailable - kwStart) / 1000 },
        helm: { namespace: nsH, totalMs: h.totalMs, allAvailableAtS: Math.max(0, hAvailable - hStart) / 1000 },
        kubeWorkflows: {
          namespace: nsW,
          workflowId: handle.workflowId,
          startMs: round(startMs),
          totalMs: round(totalMs),
          allAvailableAtS: Math.max(0, (await lastAvailableAt(nsW)) - wStart) / 1000,
          outcome: report.outcome,
          message: report.message,
          durationsMs: report.durationsMs,
          apiRequests: after.requests - before.requests,
          throttled429: after.throttled - before.throttled,
          cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
          eventLoopMaxLagMs: Math.round(lag.max / 1e6),
          activities: await activityTimeline(handle.raw),
        },
        ratio: totalMs / k.totalMs,
        ratioKubectlWait: totalMs / kw2.totalMs,
        ratioHelm: totalMs / h.totalMs,
        clusterLimit: { namespace: nsL, ...limit },
        ratioLimit: totalMs / limit.totalMs,
        ratioHelmLimit: h.totalMs / limit.totalMs,
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
        endedAt: { kubectl: kEnd, kubectlWait: kwEnd, helm: hEnd, kubeWorkflows: wEnd },
      };
      results.push(result);
      log(
        `N=${n}: kubectl ${secs(k.totalMs)}s (apply ${secs(k.applyMs)}s, rollout status ${secs(k.rolloutMs)}s, ` +
          `all Available at ~${result.kubectl.allAvailableAtS.toFixed(0)}s); ` +
          `kubectl apply + wait --all ${secs(kw2.totalMs)}s (apply ${secs(kw2.applyMs)}s, wait ${secs(kw2.waitMs)}s); ` +
          `helm ${secs(h.totalMs)}s; ` +
          `kube-workflows ${secs(totalMs)}s ${JSON.stringify(report.durationsMs)} ` +
          `(all Available at ~${result.kubeWorkflows.allAvailableAtS.toFixed(0)}s), ` +
          `${result.kubeWorkflows.apiRequests} API requests, ${result.kubeWorkflows.throttled429} x 429, ` +
          `${result.kubeWorkflows.cpuSeconds} CPU s, event loop stalled up to ${result.kubeWorkflows.eventLoopMaxLagMs} ms; ` +
          `ratios: / rollout status ${result.ratio.toFixed(2)}, / wait --all ${result.ratioKubectlWait.toFixed(2)}, ` +
          `/ helm ${result.ratioHelm.toFixed(2)}, / cluster limit ${result.ratioLimit.toFixed(2)} ` +
          `(cluster limit ${secs(limit.totalMs)}s, PATCH loop ${secs(limit.patchMs)}s)`,
      );
    }, 3_600_000);
  }

  it.runIf(CRD_CASE)(
    'the prometheus-operator CRD bundle (10 CRDs, 4.6 MB of YAML)',
    async () => {
      const text = prometheusOperatorCrds()
        .map((f) => f.text)
        .join('\n---\n');
      // each side gets its own API group, so both create ten new CRDs from scratch
      const kText = text.replaceAll('monitoring.coreos.com', `monitoring-k${suffix}.coreos.com`);
      const wText = text.replaceAll('monitoring.coreos.com', `monitoring-w${suffix}.coreos.com`);
      const crdNames = [...kText.matchAll(/^ {2}name: (\S+)$/gm)].map((m) => m[1] ?? '');
      const file = join(stack.dir, 'crds.yaml');
      writeFileSync(file, kText);
      const [, , , nsW] = await freshNamespaces('crds', 'kw');

      log(`CRDs: kubectl apply --server-side + kubectl wait --for=condition=Established (${crdNames.length} CRDs)`);
      const t0 = performance.now();
      await kubectl('apply', '--server-side', '--field-manager=bench', '-f', file);
      const applied = performance.now();
      await kubectl('wait', '--for=condition=Established', '--timeout=300s', ...crdNames.map((n) => `crd/${n}`));
      const done = performance.now();
      const k = { applyMs: round(applied - t0), waitMs: round(done - applied), totalMs: round(done - t0) };

      log('CRDs: kube-workflows deploy');
      const w0 = performance.now();
      const handle = await client.deploy({ manifests: wText, app: 'bench-crds', namespace: nsW, timeoutSeconds: 300 });
      const report = await handle.result();
      const totalMs = performance.now() - w0;
      expect(report.outcome, report.message).toBe('succeeded');
      expect(report.objects.filter((o) => o.status !== 'Current')).toEqual([]);
      const sizes = historyPayloads(await handle.raw.fetchHistory()).map((p) => p.length);
      crdResult = {
        crds: crdNames.length,
        yamlBytes: Buffer.byteLength(text),
        kubectl: k,
        kubeWorkflows: {
          totalMs: round(totalMs),
          durationsMs: report.durationsMs,
          largestPayload: Math.max(...sizes),
          historyPayloads: sizes.reduce((a, b) => a + b, 0),
        },
        ratio: totalMs / k.totalMs,
      };
      log(
        `CRDs: kubectl ${secs(k.totalMs)}s (apply ${secs(k.applyMs)}s, wait ${secs(k.waitMs)}s); kube-workflows ` +
          `${secs(totalMs)}s ${JSON.stringify(report.durationsMs)}; ratio ${crdResult.ratio.toFixed(2)}`,
      );
    },
    900_000,
  );

  it(`readiness lag: ${LAG_DEPLOYS} deploys of ${LAG_OBJECTS} objects`, async () => {
    const manifests = manifestSet(LAG_OBJECTS);
    for (let i = 0; i < LAG_DEPLOYS; i++) {
      const [, , , nsW] = await freshNamespaces(`lag-${i}`, 'kw');
      const t0 = performance.now();
      const handle = await client.deploy({ manifests, app: APP, namespace: nsW, timeoutSeconds: 300 });
      const report = await handle.result();
      const endedAt = Date.now();
      lagRuns.push({ namespace: nsW, endedAt, totalMs: round(performance.now() - t0) });
      expect(report.outcome, `lag deploy ${i}: ${report.message}`).toBe('succeeded');
    }
  }, 900_000);

  it('summary', async () => {
    computeReadinessLags();
    printSummary();
    await saveResults();
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------

/** Fails fast when the nodes cannot hold every pod (pods would stay Pending and both sides would time out). */
async function checkPodCapacity(): Promise<void> {
  const nodes = await admin.list('v1', 'Node');
  const capacity = nodes.items.reduce((sum, node) => {
    const pods = (node.status as { allocatable?: { pods?: string } } | undefined)?.allocatable?.pods ?? '0';
    const m = /^(\d+)([kMG]?)$/.exec(pods);
    const scale = { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m?.[2] ?? ''] ?? 1;
    return sum + (m ? Number(m[1]) * scale : 0);
  }, 0);
  log(`${nodes.items.length} nodes for ${PODS_NEEDED} pods (room for ${capacity})`);
  if (capacity < PODS_NEEDED) {
    throw new Error(
      `the ${nodes.items.length} nodes hold ${capacity} pods, the run needs ${PODS_NEEDED}: raise BENCH_NODES`,
    );
  }
}

/**
 * Four new namespaces (kubectl + rollout status, kubectl + wait --all, Helm, ours), created before timing, each with
 * its `default` ServiceAccount; `only: 'kw'` creates ours alone (the other names are returned all the same).
 */
/**
 * The cluster limit of one size: `manifests` (the bench's ConfigMaps and Deployments) PATCHed into `namespace` by
 * the bare loop, timed until the watch saw every Deployment Available.
 */
async function clusterLimit(
  manifests: string,
  namespace: string,
  n: number,
): Promise<{ patchMs: number; totalMs: number }> {
  const { configMaps, deployments } = objectNames(n);
  const paths = [
    ...configMaps.map((name) => `/api/v1/namespaces/${namespace}/configmaps/${name}`),
    ...deployments.map((name) => `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`),
  ];
  const docs = manifests.split('\n---\n');
  if (docs.length !== paths.length)
    throw new Error(`manifestSet(${n}) has ${docs.length} documents, not ${paths.length}`);
  const patcher = await ssaPatcher(stack.info.kubeconfig, 'bench-limit');
  try {
    const t0 = performance.now();
    const available = allDeploymentsAvailable(admin, { namespace }, deployments.length);
    const patchMs = await patcher.applyAll(paths, docs, LIMIT_CONCURRENCY);
    return { patchMs: round(patchMs), totalMs: round((await available) - t0) };
  } finally {
    patcher.close();
  }
}

async function freshNamespaces(label: string, only?: 'kw'): Promise<[string, string, string, string, string]> {
  const names: [string, string, string, string, string] = [
    `bench-kubectl-${label}-${suffix}`,
    `bench-kwait-${label}-${suffix}`,
    `bench-helm-${label}-${suffix}`,
    `bench-kw-${label}-${suffix}`,
    `bench-limit-${label}-${suffix}`,
  ];
  const created = only === 'kw' ? [names[3]] : names;
  for (const name of created) await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  // Pods are refused until the ServiceAccount controller created `default`: wait, so no side pays for it.
  for (const namespace of created) {
    const deadline = Date.now() + 30_000;
    while (!(await admin.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: 'default' }))) {
      if (Date.now() > deadline) {
        log(`warning: no default ServiceAccount in ${namespace} after 30s`);
        break;
      }
      await sleep(100);
    }
  }
  return names;
}

async function kubectlDeploy(
  file: string,
  namespace: string,
  deployments: readonly string[],
): Promise<{ applyMs: number; rolloutMs: number; totalMs: number }> {
  const t0 = performance.now();
  await kubectl('apply', '--server-side', '--field-manager=bench', '-n', namespace, '-f', file);
  const applied = performance.now();
  for (const d of deployments) {
    await kubectl('rollout', 'status', `deployment/${d}`, '-n', namespace, `--timeout=${ROLLOUT_TIMEOUT}`);
  }
  const done = performance.now();
  return { applyMs: round(applied - t0), rolloutMs: round(done - applied), totalMs: round(done - t0) };
}

/** `kubectl apply --server-side`, then one `kubectl wait --for=condition=Available deployment --all`. */
async function kubectlWaitDeploy(
  file: string,
  namespace: string,
): Promise<{ applyMs: number; waitMs: number; totalMs: number }> {
  const t0 = performance.now();
  await kubectl('apply', '--server-side', '--field-manager=bench', '-n', namespace, '-f', file);
  const applied = performance.now();
  await kubectl(
    'wait',
    '--for=condition=Available',
    'deployment',
    '--all',
    '-n',
    namespace,
    `--timeout=${ROLLOUT_TIMEOUT}`,
  );
  const done = performance.now();
  return { applyMs: round(applied - t0), waitMs: round(done - applied), totalMs: round(done - t0) };
}

/**
 * Helm 4: `helm upgrade --install --wait --timeout 10m` of the chart into `namespace` (a new release), with
 * server-side apply stated (`--server-side=true`, what `auto` picks for a new release) and `--wait` alone, i.e. the
 * `watcher` strategy (kstatus).
 */
async function helmDeploy(chart: string, namespace: string): Promise<{ totalMs: number }> {
  const t0 = performance.now();
  await helm(
    'upgrade',
    '--install',
    'bench',
    chart,
    '-n',
    namespace,
    '--wait',
    '--timeout',
    HELM_TIMEOUT,
    '--server-side=true',
    ...(HELM_LIMITS.qps !== undefined ? ['--qps', String(HELM_LIMITS.qps)] : []),
    ...(HELM_LIMITS.burst !== undefined ? ['--burst-limit', String(HELM_LIMITS.burst)] : []),
  );
  return { totalMs: round(performance.now() - t0) };
}

/**
 * The readiness lag of every side of every size and of the lag deploys, from one read of the API server's audit log
 * (see {@link ReadinessLag}). Runs at the end, so status writes after a side's end are in the log too.
 */
function computeReadinessLags(): void {
  const statusWrites = new Map<string, number[]>();
  for (const ev of readAuditEvents(stack.info.auditLogPath)) {
    const ref = ev.objectRef;
    if (ev.stage !== 'ResponseComplete' || (ev.verb !== 'update' && ev.verb !== 'patch')) continue;
    if (ref?.resource !== 'deployments' || ref.subresource !== 'status' || !ref.namespace) continue;
    const code = ev.responseStatus?.code ?? 0;
    if (code < 200 || code > 299) continue;
    const at = Date.parse(ev.stageTimestamp);
    const list = statusWrites.get(ref.namespace) ?? [];
    list.push(at);
    statusWrites.set(ref.namespace, list);
  }
  const lagOf = (namespace: string, endedAt: number): ReadinessLag | undefined => {
    const writes = statusWrites.get(namespace);
    if (!writes?.length) return undefined;
    const last = Math.max(...writes);
    return {
      lagMs: endedAt - last,
      statusWrites: writes.length,
      statusWritesAfterEnd: writes.filter((w) => w > endedAt).length,
    };
  };
  for (const r of results) {
    r.kubectl.readiness = lagOf(r.kubectl.namespace, r.endedAt.kubectl);
    r.kubectlWait.readiness = lagOf(r.kubectlWait.namespace, r.endedAt.kubectlWait);
    r.helm.readiness = lagOf(r.helm.namespace, r.endedAt.helm);
    r.kubeWorkflows.readiness = lagOf(r.kubeWorkflows.namespace, r.endedAt.kubeWorkflows);
  }
  const lags = lagRuns.flatMap((run) => {
    const lag = lagOf(run.namespace, run.endedAt);
    if (!lag) log(`readiness lag: no Deployment status write of ${run.namespace} in the audit log`);
    return lag ? [lag.lagMs] : [];
  });
  if (lags.length > 0) {
    lagResult = {
      deploys: lagRuns.length,
      objectsEach: LAG_OBJECTS,
      source:
        "the API server's audit log: last deployments/status write (stage ResponseComplete) of the deploy's namespace → handle.result() resolved",
      lagsMs: lags,
      p50Ms: percentile(lags, 50),
      p99Ms: percentile(lags, 99),
      maxMs: Math.max(...lags),
      totalsMs: lagRuns.map((r) => r.totalMs),
    };
  }
}

/** Wall-clock ms when the last Deployment of `namespace` turned Available (0 when there is none). */
async function lastAvailableAt(namespace: string): Promise<number> {
  const list = await admin.list('apps/v1', 'Deployment', { namespace });
  let last = 0;
  for (const d of list.items) {
    const conditions =
      (d.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } | undefined)
        ?.conditions ?? [];
    const available = conditions.find((c) => c.type === 'Available' && c.status === 'True');
    if (available?.lastTransitionTime) last = Math.max(last, Date.parse(available.lastTransitionTime));
  }
  return last;
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/** Per activity: when it was scheduled (after the workflow started), how long it queued and ran. */
async function activityTimeline(handle: WorkflowHandle): Promise<ActivityTiming[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const time = (e: HistoryEvent | undefined): number =>
    e?.eventTime ? Number(String(e.eventTime.seconds ?? 0)) * 1000 + (e.eventTime.nanos ?? 0) / 1e6 : NaN;
  const t0 = time(events[0]);
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const out: ActivityTiming[] = [];
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const scheduled = byId.get(String(done.scheduledEventId));
    const started = byId.get(String(done.startedEventId));
    const lastFailure = started?.activityTaskStartedEventAttributes?.lastFailure?.message;
    out.push({
      activity: scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
      atS: Math.round(time(scheduled) - t0) / 1000,
      queuedMs: round(time(started) - time(scheduled)),
      ranMs: round(time(e) - time(started)),
      attempt: started?.activityTaskStartedEventAttributes?.attempt ?? 1,
      ...(lastFailure ? { lastFailure } : {}),
    });
  }
  return out;
}

function printSummary(): void {
  const rows = results.map((r) => [
    String(r.n),
    secs(r.kubectl.totalMs),
    secs(r.kubectlWait.totalMs),
    secs(r.helm.totalMs),
    secs(r.kubeWorkflows.totalMs),
    r.ratio.toFixed(2),
    r.ratioKubectlWait.toFixed(2),
    r.ratioHelm.toFixed(2),
    secs(r.clusterLimit.totalMs),
    r.ratioLimit.toFixed(2),
    r.ratioHelmLimit.toFixed(2),
    String(r.kubeWorkflows.throttled429),
    String(r.rssMb),
  ]);
  const lagCell = (l: ReadinessLag | undefined): string =>
    l ? `${l.lagMs}${l.statusWritesAfterEnd ? ` (${l.statusWritesAfterEnd} later)` : ''}` : '-';
  const lagRows = results.map((r) => [
    String(r.n),
    lagCell(r.kubectl.readiness),
    lagCell(r.kubectlWait.readiness),
    lagCell(r.helm.readiness),
    lagCell(r.kubeWorkflows.readiness),
    secs(r.kubectlWait.applyMs),
    secs(r.kubectlWait.waitMs),
    r.helm.allAvailableAtS.toFixed(0),
  ]);
  const phases = ['validating', 'planning', 'applying', 'waiting', 'total'];
  const phaseRows = results.map((r) => [
    String(r.n),
    secs(r.kubectl.applyMs),
    secs(r.kubectl.rolloutMs),
    r.kubectl.allAvailableAtS.toFixed(0),
    ...phases.map((p) => secs(r.kubeWorkflows.durationsMs[p] ?? 0)),
    r.kubeWorkflows.allAvailableAtS.toFixed(0),
    String(r.kubeWorkflows.apiRequests),
    r.kubeWorkflows.cpuSeconds.toFixed(1),
    String(r.kubeWorkflows.eventLoopMaxLagMs),
  ]);
  const target = results.find((r) => r.n === TARGET.n);
  const verdict = target
    ? target.ratio <= TARGET.maxRatio && target.kubeWorkflows.throttled429 === 0
      ? `MET: ratio ${target.ratio.toFixed(2)} <= ${TARGET.maxRatio}, ${target.kubeWorkflows.throttled429} x 429`
      : `NOT MET: ratio ${target.ratio.toFixed(2)} (needs <= ${TARGET.maxRatio}), ${target.kubeWorkflows.throttled429} x 429 (needs 0)`
    : `not measured (N = ${TARGET.n} was not in BENCH_SIZES)`;
  const goalLine = (name: string, ratio: number | undefined, max: number): string =>
    ratio === undefined
      ? `${name}: not measured`
      : `${name}: ${ratio.toFixed(2)} (goal <= ${max}: ${ratio <= max ? 'met' : 'NOT met'})`;
  const lines = [
    '',
    `deploy benchmark: kube-workflows vs kubectl ${kubectlVersion} (apply --server-side + rollout status per ` +
      `Deployment; apply --server-side + wait --for=condition=Available deployment --all) and Helm ${helmVersion} ` +
      `(upgrade --install --wait --server-side=true; client-side limit ` +
      `${HELM_LIMITS.qps ?? "Helm's default"} qps / burst ${HELM_LIMITS.burst ?? "Helm's default"}), same run, same stack`,
    `worker: kubeQps ${workerConfig.worker.kubeQps}, kubeBurst ${workerConfig.worker.kubeBurst} (${workerConfig.worker.clientRateLimit}), applyConcurrency ${workerConfig.worker.applyConcurrency}; ` +
      `${cpus().length} CPUs, load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
    '',
    table(
      [
        'N',
        'kubectl+rollout s',
        'kubectl+wait s',
        'helm s',
        'kube-workflows s',
        'ours/rollout',
        'ours/wait',
        'ours/helm',
        'limit s',
        'ours/limit',
        'helm/limit',
        '429s',
        'worker RSS MB',
      ],
      rows,
    ),
    '',
    'readiness lag (ms): last deployments/status write in the audit log -> the side ended ("later": status writes',
    'after the end); kubectl wait --all phases (s); helm: when its last Deployment turned Available (s after start):',
    table(
      [
        'N',
        'lag kubectl+rollout',
        'lag kubectl+wait',
        'lag helm',
        'lag kube-workflows',
        'kubectl+wait apply',
        'kubectl+wait wait',
        'helm all Available',
      ],
      lagRows,
    ),
    '',
    'where the time goes (seconds; kw = kube-workflows phases from the deploy report; "all Available" = when the',
    'last Deployment turned Available by the API server clock, 1 s resolution, after the start):',
    table(
      [
        'N',
        'kubectl apply',
        'kubectl rollout',
        'kubectl all Available',
        ...phases.map((p) => `kw ${p}`),
        'kw all Available',
        'kw API requests',
        'kw CPU s',
        'kw max loop stall ms',
      ],
      phaseRows,
    ),
    '',
    `target at N = ${TARGET.n} (ours <= ${TARGET.maxRatio} x kubectl, no 429s): ${verdict}`,
    `issue 12 at N = ${TARGET.n}: ${goalLine('ours / helm', target?.ratioHelm, GOALS.helmMaxRatio)}; ` +
      `${goalLine('ours / kubectl apply + wait --all', target?.ratioKubectlWait, GOALS.kubectlWaitMaxRatio)}`,
    lagResult
      ? `readiness lag over ${lagResult.deploys} deploys of ${lagResult.objectsEach} objects (${lagResult.source}): ` +
        `p50 ${lagResult.p50Ms} ms, p99 ${lagResult.p99Ms} ms (goal p99 <= ${GOALS.lagP99MaxMs} ms: ` +
        `${lagResult.p99Ms <= GOALS.lagP99MaxMs ? 'met' : 'NOT met'}); deploy wall times p50 ` +
        `${percentile(lagResult.totalsMs, 50)} ms, p99 ${percentile(lagResult.totalsMs, 99)} ms`
      : 'readiness lag: not measured',
    '',
  ];
  if (crdResult) {
    const c = crdResult;
    lines.push(
      `prometheus-operator CRD bundle (${c.crds} CRDs, ${(c.yamlBytes / 1e6).toFixed(1)} MB of YAML): kubectl apply ` +
        `--server-side + wait Established ${secs(c.kubectl.totalMs)}s, kube-workflows ${secs(c.kubeWorkflows.totalMs)}s ` +
        `(plan ${secs(c.kubeWorkflows.durationsMs.planning ?? 0)}s, apply ${secs(c.kubeWorkflows.durationsMs.applying ?? 0)}s, ` +
        `wait ${secs(c.kubeWorkflows.durationsMs.waiting ?? 0)}s), ratio ${c.ratio.toFixed(2)}; history payloads ` +
        `${(c.kubeWorkflows.historyPayloads / 1e3).toFixed(0)} kB in all, largest ${(c.kubeWorkflows.largestPayload / 1e3).toFixed(0)} kB`,
      '',
    );
  }
  const last = results.at(-1);
  if (last) {
    lines.push(`activities of the N = ${last.n} deploy (s after start, queued ms, ran ms):`);
    for (const a of last.kubeWorkflows.activities)
      lines.push(
        `  ${a.activity.padEnd(16)} at ${a.atS.toFixed(2).padStart(7)}  queued ${String(a.queuedMs).padStart(6)}  ran ${String(a.ranMs).padStart(7)}${a.attempt > 1 ? `  (attempt ${a.attempt}; before: ${a.lastFailure ?? '?'})` : ''}`,
      );
    lines.push('');
  }
  console.log(lines.join('\n'));
}

async function saveResults(): Promise<void> {
  const defaults =
    SIZES.join(',') === DEFAULT_SIZES.join(',') &&
    Object.values(OVERRIDES).every((v) => v === undefined) &&
    Object.values(HELM_LIMITS).every((v) => v === undefined) &&
    !CPU_PROFILE_DIR;
  const target = results.find((r) => r.n === TARGET.n);
  const doc = {
    benchmark: 'deploy',
    date: new Date().toISOString(),
    machine: machineFacts(loadAtStart),
    kubectl: kubectlVersion,
    helm: helmVersion,
    helmLimits: { qps: HELM_LIMITS.qps ?? 'default (client-go 5)', burst: HELM_LIMITS.burst ?? 'default (100)' },
    stack: { nodes: NODES },
    worker: {
      kubeQps: workerConfig.worker.kubeQps,
      kubeBurst: workerConfig.worker.kubeBurst,
      clientRateLimit: workerConfig.worker.clientRateLimit,
      applyConcurrency: workerConfig.worker.applyConcurrency,
    },
    target: {
      n: TARGET.n,
      maxRatio: TARGET.maxRatio,
      ratio: target ? Math.round(target.ratio * 1000) / 1000 : null,
      throttled429: target?.kubeWorkflows.throttled429 ?? null,
      met: target ? target.ratio <= TARGET.maxRatio && target.kubeWorkflows.throttled429 === 0 : null,
    },
    goals: {
      n: TARGET.n,
      ratioHelm: target ? Math.round(target.ratioHelm * 1000) / 1000 : null,
      helmMaxRatio: GOALS.helmMaxRatio,
      ratioKubectlWait: target ? Math.round(target.ratioKubectlWait * 1000) / 1000 : null,
      kubectlWaitMaxRatio: GOALS.kubectlWaitMaxRatio,
      readinessLagP99Ms: lagResult?.p99Ms ?? null,
      readinessLagP99MaxMs: GOALS.lagP99MaxMs,
    },
    results: results.map((r) => ({
      ...r,
      ratio: Math.round(r.ratio * 1000) / 1000,
      ratioKubectlWait: Math.round(r.ratioKubectlWait * 1000) / 1000,
      ratioHelm: Math.round(r.ratioHelm * 1000) / 1000,
      ratioLimit: Math.round(r.ratioLimit * 1000) / 1000,
      ratioHelmLimit: Math.round(r.ratioHelmLimit * 1000) / 1000,
    })),
    readinessLag: lagResult ?? null,
    crdBundle: crdResult ? { ...crdResult, ratio: Math.round(crdResult.ratio * 1000) / 1000 } : null,
  };
  writeRunResult('deploy', doc);
  const file = process.env.BENCH_RESULTS || (defaults ? join(RESULTS_DIR, 'deploy-latest.json') : undefined);
  if (!file) {
    log('custom sizes or worker overrides: results not written (set BENCH_RESULTS=<file> to keep them)');
    return;
  }
  if (results.length !== SIZES.length) {
    log(`only ${results.length} of ${SIZES.length} sizes measured: results not written`);
    return;
  }
  await writeResults(file, doc);
}

function round(ms: number): number {
  return Math.round(ms);
}
