/**
 * What operators need from a running worker: `/healthz` (the process answers), `/readyz` (the worker is polling
 * and every configured cluster's API server answers), `/metrics` (our own counters in Prometheus text format;
 * Temporal's own worker/workflow/activity metrics come from the runtime's exporter on its own address, see
 * {@link installRuntime}), and structured JSON logs with workflow/activity context and no secrets.
 * @module
 */
import http from 'node:http';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

/** One sample of a gauge or a counter read from elsewhere: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * Counters the activities increment, plus metrics read when scraped (the Kubernetes clients' request and watch
 * counts); exported at `/metrics`.
 */
export class Counters {
  private readonly values = new Map<string, number>();
  private readonly help = new Map<string, string>();
  private readonly read = new Map<string, { type: 'counter' | 'gauge'; help: string; samples: () => Sample[] }>();

  /** Declares a metric whose samples are read at each scrape (`type` counter: monotonic; gauge: a level). */
  observe(name: string, type: 'counter' | 'gauge', help: string, samples: () => Sample[]): this {
    this.read.set(name, { type, help, samples });
    return this;
  }

  /** Declares a counter with its help text (Prometheus `# HELP`). */
  define(name: string, help: string): this {
    this.help.set(name, help);
    return this;
  }

  /** Adds `by` (default 1) to `name{labels}`. */
  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = `${name}${formatLabels(labels)}`;
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** Prometheus text exposition of every counter. */
  render(): string {
    const lines: string[] = [];
    for (const [name, help] of this.help) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      let any = false;
      for (const [key, v] of this.values) {
        if (key === name || key.startsWith(`${name}{`)) {
          lines.push(`${key} ${v}`);
          any = true;
        }
      }
      if (!any) lines.push(`${name} 0`);
    }
    for (const [name, { type, help, samples }] of this.read) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const s of samples()) lines.push(`${name}${formatLabels(s.labels)} ${s.value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (!entries.length) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}`;
}

/** The counters kube-workflows exports. */
export function createCounters(): Counters {
  return new Counters()
    .define('kube_workflows_objects_applied_total', 'Objects written by server-side apply (by cluster).')
    .define('kube_workflows_rollbacks_total', 'Deploy rollbacks performed: objects restored or deleted (by cluster).')
    .define('kube_workflows_alerts_sent_total', 'Alert events delivered (by channel and action).')
    .define('kube_workflows_alert_failures_total', 'Alert deliveries that failed (by channel).');
}

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  port: number;
  host?: string;
  counters: Counters;
  /** Resolves to the reasons the worker is not ready (empty when ready). */
  readiness(): Promise<string[]>;
}

/** Starts the health/readiness/metrics server; resolves when listening. */
export async function startOpsServer(options: OpsServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.url === '/readyz') {
        const reasons = await options
          .readiness()
          .catch((err: unknown) => [`readiness check failed: ${(err as Error).message}`]);
        if (reasons.length)
          res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready:\n${reasons.join('\n')}\n`);
        else res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(options.counters.render());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /readyz, /metrics\n');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One JSON line per log entry on stderr: time, level, message and the SDK's context (workflow/activity ids). */
export function jsonLogLine(entry: LogEntry): string {
  const meta = entry.meta ?? {};
  return `${JSON.stringify({
    time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level.toLowerCase(),
    msg: entry.message,
    ...Object.fromEntries(
      Object.entries(meta).map(([k, v]) => [k, v instanceof Error ? { name: v.name, message: v.message } : v]),
    ),
  })}\n`;
}

/**
 * Installs the Temporal runtime once per process: JSON logs at `logLevel` and, when `metricsBindAddress` is set,
 * the runtime's own Prometheus exporter (worker slots, poll latencies, workflow/activity counts and durations).
 */
export function installRuntime(options: {
  logLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  json?: boolean;
  metricsBindAddress?: string | undefined;
}): void {
  Runtime.install({
    logger: new DefaultLogger(
      options.logLevel ?? 'INFO',
      options.json === false ? undefined : (e) => process.stderr.write(jsonLogLine(e)),
    ),
    ...(options.metricsBindAddress
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: options.metricsBindAddress, countersTotalSuffix: true } },
          },
        }
      : {}),
  });
}
