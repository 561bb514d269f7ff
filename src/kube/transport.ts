/**
 * HTTP transport to one Kubernetes API server: credentials from a `KubeConfig` (client-node does the kubeconfig
 * parsing and auth plugins), one keep-alive agent, a client-side token bucket, `Retry-After` honoured on 429 and
 * 503, and errors classified once through {@link kubeErrorFromResponse}.
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeErrorFromNetwork, kubeErrorFromResponse, KubeApiError } from './errors.js';
import { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from './rate-limit.js';

/** Tuning of the transport. Every field has a default. */
export interface TransportOptions {
  /** Sustained requests per second (default {@link DEFAULT_QPS}). */
  qps?: number;
  /** Burst size (default {@link DEFAULT_BURST}). */
  burst?: number;
  /** How many times one request is re-sent after 429/503 with Retry-After before failing (default 8). */
  maxThrottleRetries?: number;
  /** Per-request timeout in ms, not applied to watches (default 30 000). */
  requestTimeoutMs?: number;
  /** Max concurrent sockets (default 32). */
  maxSockets?: number;
}

/** Counters for benchmarks and metrics. */
export interface TransportStats {
  requests: number;
  throttled: number;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  contentType?: string;
  /** `Kind/ns/name` to prefix error messages with. */
  subject?: string;
}

/** Sends requests to one API server. Build with {@link KubeTransport.fromKubeConfig}. */
export class KubeTransport {
  /** Requests sent and 429s met since creation. */
  readonly stats: TransportStats = { requests: 0, throttled: 0 };
  private readonly bucket: TokenBucket;
  private headers: Record<string, string> = {};
  private headersAt = 0;

  private constructor(
    private readonly kc: KubeConfig,
    /** The API server URL, without a trailing slash. */
    readonly server: string,
    private readonly agent: http.Agent,
    private readonly options: Required<TransportOptions>,
  ) {
    this.bucket = new TokenBucket(options.qps, options.burst);
  }

  /** Builds a transport for the current context of `kc`. Throws when the context names no cluster. */
  static async fromKubeConfig(kc: KubeConfig, options: TransportOptions = {}): Promise<KubeTransport> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
    const full: Required<TransportOptions> = {
      qps: options.qps ?? DEFAULT_QPS,
      burst: options.burst ?? DEFAULT_BURST,
      maxThrottleRetries: options.maxThrottleRetries ?? 8,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxSockets: options.maxSockets ?? 32,
    };
    const tls: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const server = cluster.server.replace(/\/+$/, '');
    const agent = server.startsWith('https:')
      ? new https.Agent({
          keepAlive: true,
          maxSockets: full.maxSockets,
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert ? { cert: tls.cert } : {}),
          ...(tls.key ? { key: tls.key } : {}),
          ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
          ...(tls.servername ? { servername: tls.servername } : {}),
        })
      : new http.Agent({ keepAlive: true, maxSockets: full.maxSockets });
    return new KubeTransport(kc, server, agent, full);
  }

  /** Sends one request and parses the JSON answer. 404 and other failures throw {@link KubeApiError}. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.bucket.take();
      const res = await this.send(method, path, opts, false);
      const text = await readBody(res);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
      const retryAfter = headerValue(res.headers['retry-after']);
      const err = kubeErrorFromResponse(status, text, opts.subject, retryAfter);
      if ((status === 429 || (status === 503 && retryAfter)) && attempt < this.options.maxThrottleRetries) {
        this.stats.throttled++;
        await sleep(Math.max(1, err.retryAfterSeconds ?? 1) * 1000);
        continue;
      }
      throw err;
    }
  }

  /**
   * Opens a streaming GET (a watch) and calls `onLine` for every JSON line. Resolves when the server ends the
   * stream or `signal` aborts; rejects with {@link KubeApiError} on an HTTP error.
   */
  async stream(
    path: string,
    query: RequestOptions['query'],
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.bucket.take();
    const res = await this.send('GET', path, { query }, true, signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      throw kubeErrorFromResponse(status, await readBody(res), undefined, headerValue(res.headers['retry-after']));
    }
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onLine(line);
        }
      });
      res.on('end', () => resolve());
      res.on('close', () => resolve());
      res.on('error', (e) => (signal.aborted ? resolve() : reject(kubeErrorFromNetwork(e, this.server))));
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  private async authHeaders(): Promise<Record<string, string>> {
    // Exec/OIDC tokens expire: ask the kubeconfig for fresh headers once a minute.
    if (Date.now() - this.headersAt > 60_000) {
      const opts: https.RequestOptions = {};
      await this.kc.applyToHTTPSOptions(opts);
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') h[k] = v;
      if (opts.auth) h.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      this.headers = h;
      this.headersAt = Date.now();
    }
    return this.headers;
  }

  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    streaming: boolean,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body =
      opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: 'application/json', ...(await this.authHeaders()) };
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    this.stats.requests++;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: this.agent, ...(signal ? { signal } : {}) }, resolve);
      if (!streaming) {
        req.setTimeout(this.options.requestTimeoutMs, () =>
          req.destroy(
            Object.assign(new Error(`request timed out after ${this.options.requestTimeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          ),
        );
      }
      req.on('error', (e) =>
        reject(e instanceof KubeApiError ? e : kubeErrorFromNetwork(e, this.server, opts.subject)),
      );
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
