/**
 * Deploy benchmark: kube-workflows against `kubectl apply --server-side` + `kubectl rollout status` (what a
 * CronJob script does), on the bench's own local stack, for N = 10, 100 and 500 objects (half ConfigMaps, half
 * Deployments with 1 replica). Prints wall times, the ratio ours / kubectl measured in the same run, 429s met,
 * the per-phase breakdown of each deploy report and the worker process RSS; writes
 * bench/results/deploy-latest.json. Fails only when a deploy does not succeed (correctness), never on speed.
 *
 * Run with `npm run bench` (see bench/README.md for the knobs).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployReport, KubeWorkflowsClient } from '../src/client/index.js';
import { resolveToolchain } from '../src/dev/index.js';
import { createKubeGateway, type KubeGateway } from '../src/kube/index.js';
import type { KubeWorker, WorkerConfig } from '../src/worker/index.js';
import { prometheusOperatorCrds } from '../test/support/fixtures.js';
import { historyPayloads } from '../test/support/history.js';
import {
  log,
  manifestSet,
  objectNames,
  run,
  secs,
  startBenchStack,
  startBenchWorker,
  table,
  writeResults,
  type BenchStack,
} from './support.js';

// ---------------------------------------------------------------------------------------------------------------
// Parameters (defaults are what the committed results use)

const DEFAULT_SIZES = [10, 100, 500];
const SIZES = process.env.BENCH_SIZES
  ? process.env.BENCH_SIZES.split(',').map((s) => Number.parseInt(s.trim(), 10))
  : DEFAULT_SIZES;
const WARMUP_OBJECTS = 4;
/** Pods the run creates: every size and the warm-up, once for kubectl and once for us (namespaces are kept). */
const PODS_NEEDED = 2 * [WARMUP_OBJECTS, ...SIZES].reduce((sum, n) => sum + objectNames(n).deployments.length, 0);
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
const CLUSTER = 'local';
const APP = 'bench';
/** The issue's target: at N = 500 our wall time is at most half of kubectl's, with no 429s. */
const TARGET = { n: 500, maxRatio: 0.5 };
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
  };
  ratio: number;
  rssMb: number;
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
let workerConfig: WorkerConfig;
const loadAtStart = loadavg();

/** kubectl against the bench cluster, with its own discovery cache (warmed once, like a long-lived runner). */
const kubectl = (...args: string[]) =>
  run(kubectlBin, ['--kubeconfig', stack.info.kubeconfig, '--cache-dir', join(stack.dir, 'kubectl-cache'), ...args]);

beforeAll(async () => {
  stack = await startBenchStack(NODES);
  kubectlBin = resolveToolchain().kubectl;
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
      if (OVERRIDES.applyConcurrency !== undefined) config.worker.applyConcurrency = OVERRIDES.applyConcurrency;
    },
  }));

  // Warm-up, untimed: kubectl's discovery cache, the worker's discovery cache and first workflow task.
  log('warm-up (untimed)');
  const warm = manifestSet(WARMUP_OBJECTS);
  const [nsK, nsW] = await freshNamespaces('warmup');
  const warmFile = join(stack.dir, 'warmup.yaml');
  writeFileSync(warmFile, warm);
  await kubectlDeploy(warmFile, nsK, objectNames(WARMUP_OBJECTS).deployments);
  const report = await (await client.deploy({ manifests: warm, app: APP, namespace: nsW })).result();
  expect(report.outcome, report.message).toBe('succeeded');
}, 900_000);

afterAll(async () => {
  await stack?.teardown();
}, 300_000);

// ---------------------------------------------------------------------------------------------------------------
// Measurements

describe('deploy: kube-workflows vs kubectl apply --server-side + rollout status', () => {
  for (const n of SIZES) {
    it(`N = ${n}`, async () => {
      const manifests = manifestSet(n);
      const { configMaps, deployments } = objectNames(n);
      const [nsK, nsW] = await freshNamespaces(String(n));
      const file = join(stack.dir, `set-${n}.yaml`);
      writeFileSync(file, manifests);

      // (a) kubectl, as a CronJob script would: one apply, then rollout status for every Deployment in turn
      log(`N=${n}: kubectl apply --server-side + ${deployments.length} x rollout status in ${nsK}`);
      const kStart = Date.now();
      const k = await kubectlDeploy(file, nsK, deployments);
      const kAvailable = await lastAvailableAt(nsK);

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
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
      };
      results.push(result);
      log(
        `N=${n}: kubectl ${secs(k.totalMs)}s (apply ${secs(k.applyMs)}s, rollout status ${secs(k.rolloutMs)}s, ` +
          `all Available at ~${result.kubectl.allAvailableAtS.toFixed(0)}s); ` +
          `kube-workflows ${secs(totalMs)}s ${JSON.stringify(report.durationsMs)} ` +
          `(all Available at ~${result.kubeWorkflows.allAvailableAtS.toFixed(0)}s), ` +
          `${result.kubeWorkflows.apiRequests} API requests, ${result.kubeWorkflows.throttled429} x 429, ` +
          `${result.kubeWorkflows.cpuSeconds} CPU s, event loop stalled up to ${result.kubeWorkflows.eventLoopMaxLagMs} ms; ` +
          `ratio ${result.ratio.toFixed(2)}`,
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
      const [, nsW] = await freshNamespaces('crds');

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

  it('summary', async () => {
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

/** Two new namespaces (kubectl's, ours), created before timing, each with its `default` ServiceAccount. */
async function freshNamespaces(label: string): Promise<[string, string]> {
  const names: [string, string] = [`bench-kubectl-${label}-${suffix}`, `bench-kw-${label}-${suffix}`];
  for (const name of names) await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  // Pods are refused until the ServiceAccount controller created `default`: wait, so neither side pays for it.
  for (const namespace of names) {
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

/** Profiles this process's main thread (where activities run) with the inspector until `stop(file)`. */
async function startProfiler(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      log(`CPU profile written to ${file}`);
    },
  };
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
    secs(r.kubeWorkflows.totalMs),
    r.ratio.toFixed(2),
    String(r.kubeWorkflows.throttled429),
    String(r.rssMb),
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
  const lines = [
    '',
    `deploy benchmark: kubectl ${kubectlVersion} (apply --server-side + rollout status per Deployment) vs kube-workflows`,
    `worker: kubeQps ${workerConfig.worker.kubeQps}, kubeBurst ${workerConfig.worker.kubeBurst}, applyConcurrency ${workerConfig.worker.applyConcurrency}; ` +
      `${cpus().length} CPUs, load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
    '',
    table(['N', 'kubectl s', 'kube-workflows s', 'ratio (ours/kubectl)', '429s', 'worker RSS MB'], rows),
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
    !CPU_PROFILE_DIR;
  const file = process.env.BENCH_RESULTS || (defaults ? join(RESULTS_DIR, 'deploy-latest.json') : undefined);
  if (!file) {
    log('custom sizes or worker overrides: results not written (set BENCH_RESULTS=<file> to keep them)');
    return;
  }
  if (results.length !== SIZES.length) {
    log(`only ${results.length} of ${SIZES.length} sizes measured: results not written`);
    return;
  }
  const target = results.find((r) => r.n === TARGET.n);
  const doc = {
    benchmark: 'deploy',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAverageAtStart: loadAtStart.map((l) => Math.round(l * 100) / 100),
    },
    kubectl: kubectlVersion,
    stack: { nodes: NODES },
    worker: {
      kubeQps: workerConfig.worker.kubeQps,
      kubeBurst: workerConfig.worker.kubeBurst,
      applyConcurrency: workerConfig.worker.applyConcurrency,
    },
    target: {
      n: TARGET.n,
      maxRatio: TARGET.maxRatio,
      ratio: target ? Math.round(target.ratio * 1000) / 1000 : null,
      throttled429: target?.kubeWorkflows.throttled429 ?? null,
      met: target ? target.ratio <= TARGET.maxRatio && target.kubeWorkflows.throttled429 === 0 : null,
    },
    results: results.map((r) => ({ ...r, ratio: Math.round(r.ratio * 1000) / 1000 })),
    crdBundle: crdResult ? { ...crdResult, ratio: Math.round(crdResult.ratio * 1000) / 1000 } : null,
  };
  await writeResults(file, doc);
}

function round(ms: number): number {
  return Math.round(ms);
}
