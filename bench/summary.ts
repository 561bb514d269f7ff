/**
 * Issue 12's table, printed at the end of every `npm run bench` (a vitest `globalSetup` of vitest.bench.config.ts):
 * measure | ours | peer | ratio | goal, one row per goal, from the JSON results the benchmarks of **this run** wrote
 * to the run's folder ({@link RUN_RESULTS_ENV}, whatever their sizes). A row this run did not measure is taken from the committed
 * `bench/results/<bench>-latest.json` and marked with that file's date, so a run of one benchmark still shows the
 * whole table. Every source's load average (`uptime`) is printed with it: the machine is shared.
 *
 * Never fails the run: a missing or unreadable result makes its rows "not measured".
 * @module
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUN_RESULTS_ENV, secs, startRunResults, table } from './format.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
/** The benchmarks whose results feed the table, by their JSON name. */
const SOURCES = ['deploy', 'capacity', 'monitor', 'monitor-history'] as const;
/** A results name: one of the sources, or `deploy-helm-tuned` (committed only: a deploy run with Helm's limits raised). */
type Source = (typeof SOURCES)[number] | 'deploy-helm-tuned';

/** A loaded results document and where it came from. */
interface Loaded {
  doc: Json;
  /** `this run`, or the committed file's date. */
  origin: string;
}
// The result documents are read loosely: each benchmark owns its shape, and a field may be missing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** vitest globalSetup: a fresh results folder for this run, named in the environment the benchmarks inherit. */
export function setup(): void {
  startRunResults();
}

/** vitest globalSetup teardown: prints the table once every benchmark file has run, then removes the folder. */
export function teardown(): void {
  console.log(summaryTable());
  const dir = process.env[RUN_RESULTS_ENV];
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** The issue-12 table as text (see the module comment). */
export function summaryTable(): string {
  const loaded = new Map<Source, Loaded>();
  for (const name of SOURCES) {
    const doc = load(name);
    if (doc) loaded.set(name, doc);
  }
  const rows: string[][] = [];
  const add = (measure: string, ours: string, peer: string, ratio: string, goal: string, from?: Loaded): void => {
    rows.push([measure, ours, peer, ratio, goal, from ? from.origin : 'not measured']);
  };
  const num = (v: unknown, digits = 2): string =>
    typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-';
  const ms = (v: unknown): string => (typeof v === 'number' ? secs(v) + ' s' : '-');

  const deploy = loaded.get('deploy');
  const at500 =
    (deploy?.doc.results as Json[] | undefined)?.find((r) => r.n === 500) ??
    (deploy?.doc.results as Json[] | undefined)?.at(-1);
  const n = at500?.n ?? 500;
  const helmQps = deploy?.doc.helmLimits?.qps;
  add(
    `N = ${n}: plan + apply + wait vs Helm 4 upgrade --install --wait (${typeof helmQps === 'number' ? `${helmQps} qps` : "Helm's default 5 qps"})`,
    ms(at500?.kubeWorkflows?.totalMs),
    ms(at500?.helm?.totalMs),
    num(at500?.ratioHelm),
    '<= 0.5 (moonshot 0.35)',
    deploy,
  );
  // Helm at its default 5 qps measures its rate limiter: show the committed run with the worker's limit as well.
  const tuned = typeof helmQps === 'number' ? undefined : load('deploy-helm-tuned');
  const tunedAt500 = (tuned?.doc.results as Json[] | undefined)?.find((r) => r.n === 500);
  if (tunedAt500)
    add(
      `N = 500: same vs Helm 4 at ${tuned?.doc.helmLimits?.qps} qps / burst ${tuned?.doc.helmLimits?.burst}`,
      ms(tunedAt500.kubeWorkflows?.totalMs),
      ms(tunedAt500.helm?.totalMs),
      num(tunedAt500.ratioHelm),
      '<= 0.5 (moonshot 0.35)',
      tuned,
    );
  add(
    `N = ${n}: same vs kubectl apply + wait --all`,
    ms(at500?.kubeWorkflows?.totalMs),
    ms(at500?.kubectlWait?.totalMs),
    num(at500?.ratioKubectlWait),
    '<= 0.25',
    deploy,
  );
  if (at500?.clusterLimit)
    add(
      `N = ${n}: same vs the cluster's own limit (bare SSA PATCH loop, 32 in flight, until all Available); Helm / limit ${num(at500.ratioHelmLimit)}`,
      ms(at500.kubeWorkflows?.totalMs),
      ms(at500.clusterLimit.totalMs),
      num(at500.ratioLimit),
      '- (context: no client finishes sooner)',
      deploy,
    );
  const capacity = loaded.get('capacity');
  const ceiling = capacity?.doc.ceiling;
  const bestOurs = ceiling ? Math.max(...(ceiling.ours as Json[]).map((o) => o.objectsPerS as number)) : undefined;
  add(
    `apply phase alone, objects/s, vs bare SSA PATCH loop (N = ${ceiling?.n ?? 500}, best concurrency ${ceiling?.best?.concurrency ?? '-'})`,
    `${num(bestOurs, 1)}/s`,
    `${num(ceiling?.best?.objectsPerS, 1)}/s`,
    ceiling ? `${(ceiling.fractionOfCeiling * 100).toFixed(0)} %` : '-',
    '>= 80 % (moonshot 90 %)',
    ceiling ? capacity : undefined,
  );
  const crd = deploy?.doc.crdBundle;
  add(
    '4.6 MB CRD bundle (10 CRDs) vs kubectl apply + wait Established',
    ms(crd?.kubeWorkflows?.totalMs),
    ms(crd?.kubectl?.totalMs),
    num(crd?.ratio),
    '<= 1.0 (moonshot 0.75)',
    crd ? deploy : undefined,
  );
  const lag = deploy?.doc.readinessLag;
  add(
    `readiness lag p99 over ${lag?.deploys ?? 20} deploys (last status write -> report)`,
    lag ? `${lag.p99Ms} ms` : '-',
    at500?.helm?.readiness ? `Helm at N = ${n}: ${at500.helm.readiness.lagMs} ms` : '-',
    '-',
    '<= 250 ms (moonshot 100 ms)',
    lag ? deploy : undefined,
  );
  const tp = capacity?.doc.throughput;
  add(
    `throughput: ${tp?.ours?.apps ?? 200} small deploys at once on one worker (kubectl: ${tp?.kubectl?.lanes ?? 2} at a time)`,
    tp ? `${num(tp.ours.completedPerS)}/s, ${tp.ours.throttled429} x 429 (${secs(Number(tp.ours.wallMs))} s)` : '-',
    tp ? `${num(tp.kubectl.completedPerS)}/s (${secs(Number(tp.kubectl.wallMs))} s)` : '-',
    num(tp?.ratio),
    '>= 10/s, no 429 (moonshot 20/s)',
    tp ? capacity : undefined,
  );
  if (tp?.clusterLimit)
    add(
      `throughput: same apps vs the cluster's own limit (every app's objects PATCHed at once, until all Available)`,
      `${num(tp.ours.completedPerS)}/s`,
      `${num(tp.clusterLimit.completedPerS)}/s (${secs(Number(tp.clusterLimit.wallMs))} s)`,
      num(tp.ratioToLimit),
      '- (context: no client finishes sooner)',
      capacity,
    );
  const monitor = loaded.get('monitor');
  const m = monitor?.doc;
  const mTotal = m ? m.workload.namespaces * m.workload.deploymentsPerNamespace : undefined;
  add(
    `monitor: ${mTotal ?? 5000} Deployments in ${m?.workload?.namespaces ?? 50} namespaces`,
    m
      ? `${num(m.steadyState?.requestsPerSecond, 3)} req/s, ` +
          // results before the worker ran as a process of its own measured the bench process holding it
          `${m.steadyState?.rssOf === 'worker process' ? 'worker RSS' : 'RSS of bench + in-process worker'} ${m.steadyState?.rssMb} MB, ` +
          `p99 ${m.detection?.latenciesMs?.patch?.p99} ms`
      : '-',
    '-',
    '-',
    '<= 0.2 req/s, RSS <= 300 MB (moonshot 200), p99 <= 1 s',
    monitor,
  );
  const history = loaded.get('monitor-history');
  const h = history?.doc;
  add(
    `monitor history: ${h?.scenario?.days ?? 30} simulated days, a flap every hour`,
    h ? `max ${h.maxEventsPerRun} events per run (${(h.runs as Json[]).length} runs)` : '-',
    '-',
    '-',
    '< 10,000 events (moonshot 2,000)',
    history,
  );
  const sc = capacity?.doc.scale;
  for (const [dir, label] of [
    ['up', `${sc?.from ?? 2} -> ${sc?.to ?? 20}`],
    ['down', `${sc?.to ?? 20} -> ${sc?.from ?? 2}`],
  ] as const) {
    const d = sc?.[dir];
    add(
      `scale ${label} vs kubectl scale + rollout status (median of ${sc?.repeats ?? 5})`,
      ms(d?.oursMedianMs),
      ms(d?.kubectlMedianMs),
      d
        ? `${num(sc[dir === 'up' ? 'ratioUp' : 'ratioDown'])} (${d.oursMedianMs - d.kubectlMedianMs >= 0 ? '+' : ''}${d.oursMedianMs - d.kubectlMedianMs} ms)`
        : '-',
      '<= 1.0 + 200 ms',
      d ? capacity : undefined,
    );
  }

  const loads = [...loaded.entries()].map(
    ([name, l]) =>
      `  ${name}: ${l.origin}; load average ${((l.doc.machine?.loadAverageAtStart ?? []) as number[]).join(' ')} at start` +
      (l.doc.machine?.loadAverageAtEnd ? `, ${(l.doc.machine.loadAverageAtEnd as number[]).join(' ')} at end` : '') +
      (l.doc.quick ? ' (BENCH_QUICK sizes)' : ''),
  );
  return [
    '',
    'issue 12: ours / peer, measured in the same run (printed, never asserted)',
    table(['measure', 'ours', 'peer', 'ratio', 'goal', 'from'], rows),
    'sources:',
    ...loads,
    '',
  ].join('\n');
}

/** This run's results of `name`, else the committed ones (dated), else undefined. */
function load(name: Source): Loaded | undefined {
  const read = (file: string): Json => {
    try {
      return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
    } catch {
      return undefined;
    }
  };
  const dir = process.env[RUN_RESULTS_ENV];
  const current = dir ? read(join(dir, `${name}.json`)) : undefined;
  if (current) return { doc: current, origin: 'this run' };
  const committed = read(join(RESULTS_DIR, `${name}-latest.json`));
  if (committed) return { doc: committed, origin: `committed ${String(committed.date ?? '?').slice(0, 16)}` };
  return undefined;
}
