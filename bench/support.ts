/**
 * Benchmark support: the bench's own local stack (temp folder, unique name) with a teardown that runs on success,
 * on failure and on Ctrl-C / SIGTERM / loss of the vitest parent, child processes run and timed, manifest
 * generation and table formatting. Not a test file: vitest only runs `bench/**\/*.bench.ts`.
 * @module
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../src/client/index.js';
import type { KubeGateway } from '../src/kube/index.js';
import {
  cacheRoot,
  ensureToolchain,
  findProjectRoot,
  parseEnvFile,
  readStackState,
  STACK_BINARIES,
  startStack,
  stopStack,
  type StackInfo,
} from '../src/dev/index.js';
import {
  createKubeWorker,
  loadWorkerConfig,
  workflowsPath,
  type KubeWorker,
  type WorkerConfig,
} from '../src/worker/index.js';
import { freePort } from '../test/support/daemon.js';
import { builtFromCurrentSources } from '../test/support/fresh-build.js';

/** Progress lines go to stderr so the result table on stdout stays readable. */
export const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------------------------
// The stack and its teardown

/** What `startBenchStack` gives back. */
export interface BenchStack {
  info: StackInfo;
  dir: string;
  /** Registers async work to run (in reverse order) before the stack is stopped on a normal teardown. */
  onTeardown(fn: () => Promise<void> | void): void;
  /** Closes what was registered, stops the stack, removes its folder. Idempotent. */
  teardown(): Promise<void>;
}

const running = new Set<ChildProcess>();
/** Worker processes ({@link spawnWorkerProcess}): SIGKILLed on the emergency path (a graceful stop could wait). */
const workerProcesses = new Set<ChildProcess>();

/**
 * Starts a local stack in a fresh temp folder under a unique name. Until `teardown()` has run, SIGINT, SIGTERM
 * and the loss of the vitest parent process (its IPC channel closing) stop the stack and exit this process.
 */
export async function startBenchStack(nodes: number): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-bench-'));
  const name = `kwf-bench-${process.pid.toString(36)}-${Date.now().toString(36).slice(-4)}`;
  const abort = new AbortController();
  const closers: (() => Promise<void> | void)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAndRemove = async (): Promise<void> => {
    try {
      await stopStack({ dir, purge: true, onProgress: (l) => log(l) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  // Emergency path: the parent (vitest) may be gone already, so no IPC and no logging that could throw; just
  // kill our own kubectl children, stop the stack, remove the folder and exit.
  const emergency = (why: string): void => {
    if (stopping) return;
    const code = why === 'SIGINT' ? 130 : why === 'SIGTERM' ? 143 : 1;
    const noop = (): void => undefined;
    process.removeAllListeners('error');
    process.on('error', noop); // vitest's worker exits on ERR_IPC_CHANNEL_CLOSED; we must finish first
    process.on('uncaughtException', noop);
    process.stdout.on('error', noop);
    process.stderr.on('error', noop);
    try {
      log(`${why}: stopping the bench stack in ${dir}`);
    } catch {
      // the parent may be gone
    }
    abort.abort(new Error(`interrupted by ${why}`));
    for (const child of running) child.kill('SIGTERM');
    for (const child of workerProcesses) child.kill('SIGKILL');
    stopping = stopAndRemove()
      .catch(noop)
      .finally(() => exitNow(code));
  };
  const onSigint = (): void => emergency('SIGINT');
  const onSigterm = (): void => emergency('SIGTERM');
  const onDisconnect = (): void => emergency('disconnect');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  process.once('disconnect', onDisconnect);
  const removeHandlers = (): void => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('disconnect', onDisconnect);
  };

  let info: StackInfo;
  try {
    await ensureToolchain({ onProgress: log, only: STACK_BINARIES });
    const t0 = performance.now();
    info = await startStack({ dir, name, nodes, onProgress: log, signal: abort.signal });
    log(`stack ${name} up in ${((performance.now() - t0) / 1000).toFixed(1)}s (${dir})`);
  } catch (err) {
    removeHandlers();
    if (!stopping) await stopAndRemove().catch(() => undefined);
    throw err;
  }

  return {
    info,
    dir,
    onTeardown(fn) {
      closers.push(fn);
    },
    async teardown() {
      if (stopping) return stopping;
      stopping = (async () => {
        try {
          for (const fn of closers.reverse()) {
            try {
              await fn();
            } catch (err) {
              log(`teardown step failed (continuing): ${String(err)}`);
            }
          }
        } finally {
          log('stopping the bench stack');
          try {
            await stopAndRemove();
          } finally {
            removeHandlers();
          }
        }
      })();
      return stopping;
    },
  };
}

/** vitest replaces `process.exit` inside test files; the original is still reachable as `reallyExit`. */
function exitNow(code: number): void {
  const real = (process as unknown as { reallyExit?: (code: number) => void }).reallyExit;
  if (typeof real === 'function') real.call(process, code);
  process.kill(process.pid, 'SIGKILL');
}

// ---------------------------------------------------------------------------------------------------------------
// The worker under measurement

/** The in-process worker a benchmark measures and a client on its task queue (see {@link startBenchWorker}). */
export interface BenchWorker {
  kw: KubeWorker;
  client: KubeWorkflowsClient;
  config: WorkerConfig;
}

/**
 * Bundles the workflow code from source and starts a worker in this process (built like the integration-test
 * harness: `loadWorkerConfig` over `env` plus the stack's address and kubeconfig, on its own task queue) and a
 * client; the stack's teardown shuts both down. `adjust` may change the configuration before the worker is built,
 * `beforeRun` sees the worker before it polls (to instrument its gateways).
 */
export async function startBenchWorker(
  stack: BenchStack,
  options: {
    taskQueue: string;
    cluster: string;
    env?: Record<string, string>;
    adjust?: (config: WorkerConfig) => void;
    beforeRun?: (kw: KubeWorker) => void;
  },
): Promise<BenchWorker> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  log('bundling the workflow code from source');
  const noop = (): void => undefined;
  const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => log(m), log: noop };
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quiet });
  const bundlePath = join(stack.dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  const config = loadWorkerConfig({
    TEMPORAL_ADDRESS: stack.info.temporalAddress,
    TEMPORAL_NAMESPACE: stack.info.temporalNamespace,
    TEMPORAL_TASK_QUEUE: options.taskQueue,
    KUBECONFIG: stack.info.kubeconfig,
    KUBE_WORKFLOWS_CLUSTER: options.cluster,
    ...options.env,
  });
  options.adjust?.(config);
  const connection = await NativeConnection.connect({ address: stack.info.temporalAddress });
  stack.onTeardown(() => connection.close());
  const kw = await createKubeWorker({ config, connection, bundlePath });
  options.beforeRun?.(kw);
  const running = kw.worker.run();
  stack.onTeardown(async () => {
    kw.worker.shutdown();
    await running;
    await kw.close();
  });
  const client = await createKubeWorkflowsClient({
    address: stack.info.temporalAddress,
    namespace: stack.info.temporalNamespace,
    taskQueue: options.taskQueue,
  });
  stack.onTeardown(() => client.close());
  return { kw, client, config };
}

// ---------------------------------------------------------------------------------------------------------------
// The worker as a process of its own (the production shape: `kube-workflows worker`)

/** Newest modification time of any file under `dir` (ms since the epoch; 0 for an empty tree). */
/**
 * Makes `dist/` current for a worker child process, as `npm run build` would, and returns the prebuilt workflow
 * bundle's path (`dist/workflow-bundle.js`). The same check as the tests' global set-up: when `dist/cli/main.js`
 * is missing or older than a file of `src/`, compiles `src/` (tsc emits despite type errors; those are logged, as
 * other people's work in progress must not stop a benchmark of code that compiles), and when the bundle is missing
 * or older than `src/`, bundles the workflow code in a child process (`node dist/worker/bundle.js`, the build's
 * step), so webpack never runs in the bench process.
 */
export async function ensureFreshBuild(): Promise<string> {
  const root = findProjectRoot();
  const fresh = (file: string): boolean => builtFromCurrentSources(root, file);
  const main = join(root, 'dist', 'cli', 'main.js');
  const bundle = join(root, 'dist', 'workflow-bundle.js');
  if (!fresh(main)) {
    log('compiling src/ to dist/ (the worker process runs the compiled CLI)');
    await run(process.execPath, [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
    ]).catch((err: unknown) => log(`tsc reported errors; dist/ was emitted anyway, continuing: ${String(err)}`));
    if (!fresh(main)) throw new Error(`${main} is still older than src/ after tsc`);
  }
  if (!fresh(bundle)) {
    log('bundling the workflow code into dist/workflow-bundle.js (node dist/worker/bundle.js)');
    await run(process.execPath, [join(root, 'dist', 'worker', 'bundle.js')]);
  }
  return bundle;
}

/** A `kube-workflows worker` child process started by {@link spawnWorkerProcess}. */
export interface WorkerProcess {
  pid: number;
  /** The last 300 lines it wrote (stderr and stdout). */
  logs: string[];
  /** Its ops server: `/healthz`, `/readyz`, `/metrics`. */
  opsUrl: string;
  /** Resolves once `/readyz` answers 200; rejects when the process exits first or after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGKILLs it by pid (if still running) and waits for its exit. Idempotent; also run by the stack's teardown. */
  stop(): Promise<void>;
}

/**
 * Starts `node bin/kube-workflows.js worker` (the compiled CLI, see {@link ensureFreshBuild}) with `env` plus PATH,
 * HOME and `KUBE_WORKFLOWS_HEALTH_PORT` (a free port), nothing else of this process's environment. The stack's
 * teardown kills it by pid, and so do Ctrl-C, SIGTERM and the loss of the vitest parent.
 */
export async function spawnWorkerProcess(stack: BenchStack, env: Record<string, string>): Promise<WorkerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(findProjectRoot(), 'bin', 'kube-workflows.js'), 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      KUBE_WORKFLOWS_HEALTH_PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the worker process did not start');
  workerProcesses.add(child);
  const logs: string[] = [];
  const keep = (stream: NodeJS.ReadableStream): void => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      logs.push(...lines.filter(Boolean));
      if (logs.length > 300) logs.splice(0, logs.length - 300);
    });
  };
  keep(child.stdout);
  keep(child.stderr);
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      workerProcesses.delete(child);
      const how = `exited with ${code ?? signal}`;
      if (!stopping) log(`worker process ${pid} ${how}; its last lines:\n${logs.slice(-40).join('\n')}`);
      resolve(how);
    });
  });
  const opsUrl = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
    await exited;
  };
  stack.onTeardown(stop);
  log(`worker process ${pid} started (ops server ${opsUrl})`);
  return {
    pid,
    logs,
    opsUrl,
    stop,
    async ready(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      let gone: string | undefined;
      void exited.then((how) => (gone = how));
      for (;;) {
        if (gone) throw new Error(`the worker process ${gone} before it was ready:\n${logs.slice(-40).join('\n')}`);
        const status = await fetch(`${opsUrl}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) return;
        if (Date.now() > deadline)
          throw new Error(`the worker process was not ready after ${timeoutMs / 1000}s (last /readyz: ${status})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

/** Resident set now and its peak (`VmRSS`, `VmHWM` of /proc/<pid>/status), in MiB. */
export function processMemoryMb(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
}

let clockTicks: number | undefined;

/** CPU seconds a process has used so far, user + system (`utime` + `stime` of /proc/<pid>/stat). */
export function processCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // after the command name (in parentheses, may hold spaces): state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** CPU seconds used so far by each process of a stack, by component, plus this process (`bench`). */
export type CpuByComponent = Record<string, number>;

/**
 * Samples {@link processCpuSeconds} of this process (`bench`: the in-process worker and the client), the stack's
 * Temporal dev server and every control-plane component of its first cluster (kube-apiserver, etcd,
 * kube-controller-manager, kube-scheduler, kwok-controller, …). A process that is gone reads 0.
 */
export function stackCpuSeconds(stack: Pick<BenchStack, 'dir'>, extra: Record<string, number> = {}): CpuByComponent {
  const state = readStackState(stack.dir);
  const pids: Record<string, number> = { bench: process.pid, ...extra };
  if (state) {
    pids.temporal = state.temporal.pid;
    for (const [component, pid] of Object.entries(state.clusterPids)) pids[component] = pid;
  }
  const out: CpuByComponent = {};
  for (const [component, pid] of Object.entries(pids)) {
    try {
      out[component] = processCpuSeconds(pid);
    } catch {
      out[component] = 0;
    }
  }
  return out;
}

/**
 * CPU seconds each component used between two {@link stackCpuSeconds} samples, largest first, with its share of the
 * machine over `wallMs` (100 % = one core busy the whole time).
 */
export function cpuBetween(
  before: CpuByComponent,
  after: CpuByComponent,
  wallMs: number,
): { component: string; cpuS: number; coresBusy: number }[] {
  return Object.keys(after)
    .map((component) => {
      const cpuS = Math.round(((after[component] ?? 0) - (before[component] ?? 0)) * 100) / 100;
      return { component, cpuS, coresBusy: Math.round((cpuS / (wallMs / 1000)) * 100) / 100 };
    })
    .sort((a, b) => b.cpuS - a.cpuS);
}

/**
 * Server-side apply PATCHes with nothing but Node's `https` and a keep-alive agent: no rate limit, no retries, no
 * parsing beyond the status code: the API server's ceiling for a client, as far as one can measure it from here.
 * `applyAll` sends `bodies[i]` to `paths[i]` with `concurrency` in flight and returns the wall time in ms. Credentials are the kubeconfig's (client-node reads them, as everywhere).
 */
export async function ssaPatcher(
  kubeconfig: string,
  fieldManager: string,
): Promise<{
  applyAll(paths: string[], bodies: string[], concurrency: number): Promise<number>;
  close(): void;
}> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfig}: no server`);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const agents: http.Agent[] = [];
  return {
    async applyAll(paths, bodies, concurrency) {
      const secure = server.startsWith('https:');
      const agent = secure
        ? new https.Agent({
            keepAlive: true,
            maxSockets: concurrency,
            ...(opts.ca ? { ca: opts.ca } : {}),
            ...(opts.cert ? { cert: opts.cert } : {}),
            ...(opts.key ? { key: opts.key } : {}),
            ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
          })
        : new http.Agent({ keepAlive: true, maxSockets: concurrency });
      agents.push(agent);
      const headers: Record<string, string> = {
        'Content-Type': 'application/apply-patch+yaml',
        Accept: 'application/json',
        ...Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)])),
      };
      const send = (path: string, body: string): Promise<void> =>
        new Promise((resolve, reject) => {
          const url = new URL(`${server}${path}?fieldManager=${fieldManager}&force=true`);
          const req = (secure ? https : http).request(
            url,
            { method: 'PATCH', agent, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => (text += c));
              res.on('end', () => {
                const code = res.statusCode ?? 0;
                if (code >= 200 && code < 300) resolve();
                else reject(new Error(`PATCH ${path}: HTTP ${code}: ${text.slice(0, 500)}`));
              });
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = next++; i < paths.length; i = next++) await send(paths[i] ?? '', bodies[i] ?? '');
        }),
      );
      return performance.now() - t0;
    },
    close() {
      for (const a of agents) a.destroy();
    },
  };
}

/**
 * Resolves with `performance.now()` of the moment a watch saw the `count`-th Deployment matching `selector` (one
 * namespace, or cluster-wide by label) Available (all its replicas available): one list, then a watch from its
 * resourceVersion. Fails after 10 minutes.
 */
export async function allDeploymentsAvailable(
  admin: KubeGateway,
  selector: { namespace?: string; labelSelector?: string },
  count: number,
): Promise<number> {
  const ready = new Set<string>();
  const isAvailable = (d: { status?: unknown }): boolean => {
    const s = d.status as { availableReplicas?: number; replicas?: number } | undefined;
    return (s?.availableReplicas ?? 0) >= 1 && s?.availableReplicas === s?.replicas;
  };
  const keyOf = (d: { metadata: { namespace?: string | undefined; name: string } }): string =>
    `${d.metadata.namespace}/${d.metadata.name}`;
  const list = await admin.list('apps/v1', 'Deployment', selector);
  for (const d of list.items) if (isAvailable(d)) ready.add(keyOf(d));
  if (ready.size >= count) return performance.now();
  const abort = new AbortController();
  let doneAt: number | undefined;
  let resourceVersion = list.resourceVersion;
  const deadline = Date.now() + 600_000;
  while (doneAt === undefined) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${count} Deployments of ${JSON.stringify(selector)}`);
    await admin
      .watch(
        'apps/v1',
        'Deployment',
        { ...selector, resourceVersion, timeoutSeconds: 60 },
        (event) => {
          if (event.type === 'BOOKMARK') {
            resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
            return;
          }
          if (event.type === 'ERROR') return;
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          if (isAvailable(event.object)) ready.add(keyOf(event.object));
          if (ready.size >= count && doneAt === undefined) {
            doneAt = performance.now();
            abort.abort();
          }
        },
        abort.signal,
      )
      .catch((err: unknown) => {
        if (!abort.signal.aborted) throw err;
      });
  }
  return doneAt;
}

/** Profiles this process's main thread (where activities run) with the inspector until `stop(file)`. */
export async function startProfiler(): Promise<{ stop(file: string): Promise<void> }> {
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

/** Where one workflow run's time went, from its history (event times are the server's). */
export interface HistoryBreakdown {
  /** First event → last event. */
  totalMs: number;
  /** Workflow tasks: how many, summed time scheduled → started (queued) and started → completed (ran). */
  workflowTasks: { count: number; queuedMs: number; ranMs: number };
  /** Per activity type: summed schedule → start (queued) and start → completion (ran). */
  activities: Record<string, { queuedMs: number; ranMs: number }>;
}

/** Reads a run's history into a {@link HistoryBreakdown}. */
export async function historyBreakdown(handle: {
  fetchHistory(): Promise<{ events?: unknown[] | null }>;
}): Promise<HistoryBreakdown> {
  interface Ev {
    eventId?: unknown;
    eventTime?: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null;
    workflowTaskCompletedEventAttributes?: { scheduledEventId?: unknown; startedEventId?: unknown } | null;
    activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
    activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown; startedEventId?: unknown } | null;
  }
  const events = ((await handle.fetchHistory()).events ?? []) as Ev[];
  const time = (e: Ev | undefined): number =>
    e?.eventTime ? Number(String(e.eventTime.seconds ?? 0)) * 1000 + (e.eventTime.nanos ?? 0) / 1e6 : NaN;
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const out: HistoryBreakdown = {
    totalMs: Math.round(time(events.at(-1)) - time(events[0])),
    workflowTasks: { count: 0, queuedMs: 0, ranMs: 0 },
    activities: {},
  };
  for (const e of events) {
    const wft = e.workflowTaskCompletedEventAttributes;
    if (wft) {
      const started = byId.get(String(wft.startedEventId));
      const scheduled = byId.get(String(wft.scheduledEventId));
      out.workflowTasks.count++;
      out.workflowTasks.queuedMs += Math.round(time(started) - time(scheduled));
      out.workflowTasks.ranMs += Math.round(time(e) - time(started));
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const scheduled = byId.get(String(done.scheduledEventId));
      const started = byId.get(String(done.startedEventId));
      const type = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      const a = (out.activities[type] ??= { queuedMs: 0, ranMs: 0 });
      a.queuedMs += Math.round(time(started) - time(scheduled));
      a.ranMs += Math.round(time(e) - time(started));
    }
  }
  return out;
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GETs a Prometheus text exposition (`/metrics`) and parses its samples (label values are kept as written, not unescaped). */
export async function scrapeMetrics(url: string): Promise<MetricSample[]> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  const samples: MetricSample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) if (l[1]) labels[l[1]] = l[2] ?? '';
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

/** Output of one command run to completion. */
export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command (tracked, so Ctrl-C kills it) and rejects with its stderr when it exits non-zero. `env` is added
 * to this process's environment.
 */
export function run(cmd: string, args: readonly string[], env?: Record<string, string>): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      const ms = performance.now() - t0;
      if (code === 0) resolve({ stdout, stderr, ms });
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${stderr.slice(-2000) || stdout.slice(-2000)}`,
          ),
        );
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Helm 4 (a bench-only toolchain piece)

/** Overrides the Helm binary the deploy bench runs (else the toolchain cache's `helm-<HELM_VERSION>/helm`). */
export const HELM_BINARY_ENV = 'KUBE_WORKFLOWS_HELM_BINARY';

/**
 * The Helm 4 binary of the toolchain (`HELM_VERSION` of tools/versions.env, in `<cache>/toolchain/helm-<version>/`),
 * built by `tools/build-toolchain.sh helm` when it is not there yet (minutes the first time: `go install`). It is
 * not one of the stack's binaries (src/dev/toolchain.ts): only the deploy bench runs it. `KUBE_WORKFLOWS_HELM_BINARY`
 * points at another binary instead (then nothing is built).
 */
export async function resolveHelm(): Promise<string> {
  const executable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const override = process.env[HELM_BINARY_ENV];
  if (override) {
    if (!executable(override)) throw new Error(`${HELM_BINARY_ENV}=${override}: not an executable file`);
    return override;
  }
  const root = findProjectRoot();
  const version = parseEnvFile(readFileSync(join(root, 'tools', 'versions.env'), 'utf8'))['HELM_VERSION'];
  if (!version) throw new Error('tools/versions.env: HELM_VERSION is not set');
  const file = join(cacheRoot(), 'toolchain', `helm-${version}`, 'helm');
  if (!executable(file)) {
    log(`helm ${version} is not built yet: tools/build-toolchain.sh helm (go install, minutes the first time)`);
    await run(join(root, 'tools', 'build-toolchain.sh'), ['helm']);
    if (!executable(file)) throw new Error(`tools/build-toolchain.sh helm did not produce ${file}`);
  }
  return file;
}

/**
 * Writes a Helm chart folder holding `manifests` as its only template (`Chart.yaml` + `templates/objects.yaml`)
 * and returns its path. The manifests must not contain `{{` (they are not meant as templates).
 */
export function writeChart(dir: string, name: string, manifests: string): string {
  if (manifests.includes('{{')) throw new Error(`writeChart(${name}): the manifests contain '{{'`);
  const chart = join(dir, `chart-${name}`);
  mkdirSync(join(chart, 'templates'), { recursive: true });
  writeFileSync(
    join(chart, 'Chart.yaml'),
    [
      'apiVersion: v2',
      `name: ${name}`,
      'description: deploy benchmark objects',
      'type: application',
      'version: 0.1.0',
      '',
    ].join('\n'),
  );
  writeFileSync(join(chart, 'templates', 'objects.yaml'), manifests);
  return chart;
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests

/** Names of the objects of a set of `n` objects: ⌈n/2⌉ ConfigMaps and ⌊n/2⌋ Deployments. */
export function objectNames(n: number): { configMaps: string[]; deployments: string[] } {
  const deployments = Math.floor(n / 2);
  const pad = (i: number): string => String(i).padStart(4, '0');
  return {
    configMaps: Array.from({ length: n - deployments }, (_, i) => `config-${pad(i)}`),
    deployments: Array.from({ length: deployments }, (_, i) => `app-${pad(i)}`),
  };
}

/**
 * Multi-document YAML of `n` objects without a namespace (kubectl gets `-n`, the deploy gets `namespace`), so
 * both sides apply the very same text. Each Deployment (1 replica; KWOK makes its pod Ready at once) mounts
 * its ConfigMap as environment.
 */
export function manifestSet(n: number): string {
  const { configMaps, deployments } = objectNames(n);
  const docs: string[] = [];
  configMaps.forEach((name, i) => {
    docs.push(
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        `  name: ${name}`,
        '  labels: { app.kubernetes.io/part-of: bench }',
        'data:',
        `  INDEX: "${i}"`,
        '  GREETING: hello from the deploy benchmark',
      ].join('\n'),
    );
  });
  deployments.forEach((name, i) => {
    const config = configMaps[i] ?? configMaps[0];
    docs.push(
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        `  name: ${name}`,
        `  labels: { app.kubernetes.io/name: ${name}, app.kubernetes.io/part-of: bench }`,
        'spec:',
        '  replicas: 1',
        `  selector: { matchLabels: { app.kubernetes.io/name: ${name} } }`,
        '  template:',
        `    metadata: { labels: { app.kubernetes.io/name: ${name}, app.kubernetes.io/part-of: bench } }`,
        '    spec:',
        '      containers:',
        '        - name: app',
        '          image: registry.example/bench:1.0.0',
        '          ports: [{ containerPort: 8080 }]',
        `          envFrom: [{ configMapRef: { name: ${config} } }]`,
      ].join('\n'),
    );
  });
  return `${docs.join('\n---\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

export { secs, table, writeRunResult } from './format.js';

/** Nearest-rank percentile (`p` in 0..100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

/** Writes a results document as JSON formatted the way `npm run format:check` expects, so committed files stay clean. */
export async function writeResults(file: string, doc: unknown): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  let text = `${JSON.stringify(doc, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch (err) {
    log(`prettier unavailable, writing plain JSON (${String(err)})`);
  }
  writeFileSync(file, text);
  log(`results written to ${file}`);
}
