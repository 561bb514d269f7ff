/**
 * Starts a real Prometheus server (Debian package `prometheus`) for integration tests, together with a tiny local
 * metrics endpoint it scrapes every second: the test sets gauges (`metrics.set('demo_queue_depth', 50)`) and
 * Prometheus sees the new value at its next scrape. Prometheus gets a private folder (configuration and TSDB),
 * a free port on 127.0.0.1, and is ready once `GET /-/ready` answers 200; `stop()` ends that process by its pid,
 * closes the metrics endpoint and removes the folder. A missing binary is an error that says how to install it:
 * these tests never skip.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedVersion, startDaemon } from './daemon.js';
import { closeNow, listenLocal } from './local-http.js';

/** The binary to run: `PROMETHEUS_BIN`, else the Debian package's. */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** How to get the binary, quoted in the error when it is missing. */
export const PROMETHEUS_INSTALL_HINT = 'apt-get update && apt-get install -y prometheus';

/** How long Prometheus gets to become ready. */
export const DEFAULT_PROMETHEUS_READY_TIMEOUT_MS = 30_000;

/** The scrape job name of the test's metrics endpoint (the `job` label of its series). */
export const TEST_SCRAPE_JOB = 'kwf-test';

/** Gauges served in the Prometheus text format at `<url>/metrics`. */
export interface TestMetrics {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Sets a gauge (created on first use). */
  set(name: string, value: number): void;
  /** Number of scrapes served so far. */
  readonly scrapes: number;
  close(): Promise<void>;
}

/** A running Prometheus with its scraped test endpoint. */
export interface RunningPrometheus {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** As `--version` prints it, for example `2.42.0+ds`. */
  version: string;
  pid: number;
  /** The endpoint Prometheus scrapes every second. */
  metrics: TestMetrics;
  /** Runs an instant query and returns each series' value (what a monitor's prometheus target sees). */
  query(promql: string): Promise<number[]>;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s), closes the metrics endpoint and removes the folder. */
  stop(): Promise<void>;
}

/** Serves gauges in the Prometheus text exposition format on a free port of 127.0.0.1. */
export async function startTestMetrics(): Promise<TestMetrics> {
  const gauges = new Map<string, number>();
  let scrapes = 0;
  const server = createHttpServer((req, res) => {
    if (req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    scrapes += 1;
    const lines: string[] = [];
    for (const [name, value] of gauges) lines.push(`# TYPE ${name} gauge`, `${name} ${value}`);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(`${lines.join('\n')}\n`);
  });
  return {
    url: await listenLocal(server),
    set(name, value) {
      gauges.set(name, value);
    },
    get scrapes() {
      return scrapes;
    },
    close: () => closeNow(server),
  };
}

/** Starts Prometheus scraping a fresh test endpoint every second; waits until it is ready. */
export async function startPrometheus(options: { readyTimeoutMs?: number } = {}): Promise<RunningPrometheus> {
  const version = installedVersion({
    name: 'Prometheus',
    bin: PROMETHEUS_BIN,
    envVar: 'PROMETHEUS_BIN',
    installHint: PROMETHEUS_INSTALL_HINT,
    binary: 'a prometheus binary',
  });
  const metrics = await startTestMetrics();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kwf-prometheus-'));
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(
      configFile,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        `  - job_name: ${TEST_SCRAPE_JOB}`,
        '    scrape_interval: 1s',
        '    static_configs:',
        `      - targets: ['${new URL(metrics.url).host}']`,
        '',
      ].join('\n'),
    );
    const daemon = await startDaemon({
      name: 'Prometheus',
      bin: PROMETHEUS_BIN,
      dir,
      readyPath: '/-/ready',
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_PROMETHEUS_READY_TIMEOUT_MS,
      args: (port) => [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
    });
    const query = async (promql: string): Promise<number[]> => {
      const res = await fetch(`${daemon.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; data?: { result: { value?: [number, string] }[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`query ${promql} failed: ${JSON.stringify(body)}`);
      return body.data.result.map((r) => Number(r.value?.[1]));
    };
    const stop = async (): Promise<void> => {
      await daemon.stop();
      await metrics.close();
    };
    return { ...daemon, version, metrics, query, stop };
  } catch (err) {
    await metrics.close();
    throw err;
  }
}
