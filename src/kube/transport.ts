/**
 * HTTP transport to one Kubernetes API server: credentials from a {@link KubeCredentialSource} (./kubeconfig.ts, or
 * client-node's `KubeConfig`), keep-alive agents (requests, watches), a client-side token bucket while the server
 * shows no flow control, `Retry-After` honoured on 429 and 503, and errors classified once through
 * {@link kubeErrorFromResponse}.
 *
 * Streams (watches) never throw from an event listener: whatever goes wrong inside one (a failing line callback,
 * a dropped connection, a stall) destroys the response and rejects {@link KubeTransport.stream}'s promise, so the
 * caller decides, and the worker process never meets an uncaught exception.
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeErrorFromNetwork, kubeErrorFromResponse, KubeApiError } from './errors.js';
import type { KubeCredentialSource } from './kubeconfig.js';
import { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from './rate-limit.js';

/**
 * The User-Agent of every request: the API server's audit log and metrics attribute our calls to it, so an operator
 * can tell kube-workflows' writes from kubectl's or a controller's.
 */
export const USER_AGENT = 'kube-workflows';

/** Longest Retry-After the transport waits before re-sending a throttled request, in seconds. */
export const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * When the client-side token bucket (`qps`, `burst`) applies:
 * - `auto` (default): until the API server shows that it runs API Priority and Fairness (every answer of such a
 *   server carries `X-Kubernetes-PF-FlowSchema-UID`), then no longer: the server's own flow control paces us
 *   (its 429s and `Retry-After` are honoured) and the socket pool bounds our concurrency. This is what
 *   controller-runtime does by default and Flux does on detection, on SIG API Machinery's advice: a fixed
 *   client-side rate caps a large deploy at `qps` whatever the server's room.
 * - `always`: the bucket applies to every request (an explicit `kubeQps`/`kubeBurst` in the worker config means this).
 * - `off`: never.
 */
export type ClientRateLimit = 'auto' | 'always' | 'off';

/**
 * The response header by which an API server with API Priority and Fairness names the flow schema that classified
 * the request (lower-case, as Node gives headers).
 */
export const FLOW_SCHEMA_HEADER = 'x-kubernetes-pf-flowschema-uid';

/** Tuning of the transport. Every field has a default. */
export interface TransportOptions {
  /** Sustained requests per second (default {@link DEFAULT_QPS}). */
  qps?: number;
  /** Burst size (default {@link DEFAULT_BURST}). */
  burst?: number;
  /** When `qps`/`burst` apply (default `auto`: until the server shows API Priority and Fairness). */
  rateLimit?: ClientRateLimit;
  /** How many times one request is re-sent after 429/503 with Retry-After before failing (default 8). */
  maxThrottleRetries?: number;
  /** Per-request timeout in ms, not applied to watches (default 30 000). */
  requestTimeoutMs?: number;
  /** Max concurrent sockets of requests (default 32). Watches have a pool of their own, see `maxWatchSockets`. */
  maxSockets?: number;
  /**
   * Max concurrent watch connections (default 2,048). HTTP/1.1 holds one socket per open watch for minutes, so
   * watches never share the requests' pool: 150 watches of a monitor (or 3 per waiting deploy) behind 32 sockets
   * left most of them queued, seeing no events, and every request queued behind them.
   */
  maxWatchSockets?: number;
  /** Default of {@link StreamOptions.idleTimeoutMs} for every stream (default {@link DEFAULT_WATCH_IDLE_TIMEOUT_MS}). */
  watchIdleTimeoutMs?: number;
}

/**
 * How long a watch may stay silent before it is presumed dead. The API server sends a BOOKMARK to an idle watch
 * about once a minute, so 90 s of silence means a half-open connection or a stuck proxy, not a quiet collection.
 */
export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 90_000;

/** Reason of the {@link KubeApiError} a stalled stream rejects with. */
export const STREAM_STALLED_REASON = 'WatchStalled';

/** Options of one {@link KubeTransport.stream}. */
export interface StreamOptions {
  /**
   * Ends the stream with a retryable {@link KubeApiError} (reason {@link STREAM_STALLED_REASON}, status 0) when no
   * byte arrived for this long, waiting for the response headers included (default: the transport's
   * `watchIdleTimeoutMs`).
   */
  idleTimeoutMs?: number | undefined;
}

/** Counters for benchmarks and metrics. */
export interface TransportStats {
  requests: number;
  throttled: number;
  /** Requests that waited for the client-side token bucket (none once `auto` has seen the server's flow control). */
  delayed: number;
  /** Watch streams opened (each reconnect counts). */
  watchOpens: number;
  /** Watch streams open now. */
  watchesOpen: number;
  /** The API server announced API Priority and Fairness (then `auto` stops client-side limiting). */
  serverFlowControl: boolean;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  contentType?: string;
  /** `Kind/ns/name` to prefix error messages with. */
  subject?: string;
  /** `text`: the answer is returned as it came (a pod's log), not parsed as JSON (default `json`). */
  responseType?: 'json' | 'text';
}

/** Sends requests to one API server. Build with {@link KubeTransport.fromKubeConfig}. */
export class KubeTransport {
  /** Requests sent and 429s met since creation. */
  readonly stats: TransportStats = {
    requests: 0,
    throttled: 0,
    delayed: 0,
    watchOpens: 0,
    watchesOpen: 0,
    serverFlowControl: false,
  };
  private readonly bucket: TokenBucket;
  private headers: Record<string, string> = {};
  private headersAt = 0;

  private constructor(
    private readonly kc: KubeCredentialSource,
    /** The API server URL, without a trailing slash. */
    readonly server: string,
    private readonly agent: http.Agent,
    /** Watches' own pool (one long-lived socket each). */
    private readonly watchAgent: http.Agent,
    private readonly options: Required<TransportOptions>,
  ) {
    this.bucket = new TokenBucket(options.qps, options.burst);
  }

  /** Builds a transport for the current context of `kc`. Throws when the context names no cluster. */
  static async fromKubeConfig(kc: KubeCredentialSource, options: TransportOptions = {}): Promise<KubeTransport> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
    const full: Required<TransportOptions> = {
      qps: options.qps ?? DEFAULT_QPS,
      burst: options.burst ?? DEFAULT_BURST,
      rateLimit: options.rateLimit ?? 'auto',
      maxThrottleRetries: options.maxThrottleRetries ?? 8,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxSockets: options.maxSockets ?? 32,
      maxWatchSockets: options.maxWatchSockets ?? 2_048,
      watchIdleTimeoutMs: options.watchIdleTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS,
    };
    const tls: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const server = cluster.server.replace(/\/+$/, '');
    // One TLS context (CA, client certificate and key, parsed once) for every connection of both pools. Given only
    // ca/cert/key, Node parses them again for each new socket: with a watch per socket, 200 deploys at once spent a
    // fifth of the worker's main thread in createSecureContext.
    const secureContext = server.startsWith('https:')
      ? createSecureContext({
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert ? { cert: tls.cert } : {}),
          ...(tls.key ? { key: tls.key } : {}),
        })
      : undefined;
    const agentFor = (maxSockets: number): http.Agent =>
      secureContext
        ? new https.Agent({
            keepAlive: true,
            maxSockets,
            secureContext,
            ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
            ...(tls.servername ? { servername: tls.servername } : {}),
          })
        : new http.Agent({ keepAlive: true, maxSockets });
    return new KubeTransport(kc, server, agentFor(full.maxSockets), agentFor(full.maxWatchSockets), full);
  }

  /** Sends one request and parses the JSON answer. 404 and other failures throw {@link KubeApiError}. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.admit();
      const res = await this.send(method, path, opts, false);
      const text = await readBody(res);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        return (opts.responseType === 'text' ? text : text ? JSON.parse(text) : undefined) as T;
      }
      const retryAfter = headerValue(res.headers['retry-after']);
      const err = kubeErrorFromResponse(status, text, opts.subject, retryAfter);
      if ((status === 429 || (status === 503 && retryAfter)) && attempt < this.options.maxThrottleRetries) {
        this.stats.throttled++;
        // An HTTP-date far in the future must not park the request: wait at most MAX_RETRY_AFTER_SECONDS.
        await sleep(Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, err.retryAfterSeconds ?? 1)) * 1000);
        continue;
      }
      throw err;
    }
  }

  /**
   * Opens a streaming GET (a watch) and calls `onLine` for every non-empty line. Resolves when the server ends the
   * stream cleanly or `signal` aborts. Otherwise destroys the response and rejects:
   * - with whatever `onLine` threw, unchanged when it is an `Error` (the callback classifies its own failures: the
   *   gateway throws a {@link KubeApiError} for an ERROR event or a malformed line, and a caller's bug stays a
   *   bug, not a network failure to retry);
   * - with a {@link KubeApiError} for an HTTP error status, a connection dropped mid-stream (status 0) or a stall
   *   (status 0, reason {@link STREAM_STALLED_REASON}).
   */
  async stream(
    path: string,
    query: RequestOptions['query'],
    onLine: (line: string) => void,
    signal: AbortSignal,
    options: StreamOptions = {},
  ): Promise<void> {
    const idleMs = options.idleTimeoutMs ?? this.options.watchIdleTimeoutMs;
    // `ended` stops the request for the stream's own reasons; `failure` says which one, first wins.
    const ended = new AbortController();
    let failure: Error | undefined;
    const fail = (error: unknown): void => {
      failure ??= error instanceof Error ? error : new Error(`stream callback failed: ${String(error)}`);
      ended.abort();
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(stalledError(this.server, idleMs)), idleMs);
    };
    const stop = AbortSignal.any([signal, ended.signal]);
    // The request is cancelled only while its response is incomplete: destroying a request whose response has
    // fully arrived (its socket back in the keep-alive pool) emits an error nobody can catch.
    const cancel = new AbortController();
    let responded: http.IncomingMessage | undefined;
    const cancelRequest = (): void => {
      if (!responded?.complete) cancel.abort();
    };
    stop.addEventListener('abort', cancelRequest, { once: true });
    if (stop.aborted) cancel.abort();
    let opened = false;
    try {
      await this.admit();
      touch(); // from here on silence is the server's: waiting for a token is not a stall
      const res = await this.send('GET', path, { query }, true, cancel.signal).catch((err: unknown) => {
        // the caller's abort before the response headers arrived is a clean end, as it is once they have
        if (failure === undefined && signal.aborted) return undefined;
        throw failure ?? err;
      });
      if (res === undefined) return;
      responded = res;
      touch();
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        let body: string;
        try {
          body = await readBody(res);
        } catch (err) {
          throw failure ?? kubeErrorFromNetwork(err, this.server);
        }
        throw kubeErrorFromResponse(status, body, undefined, headerValue(res.headers['retry-after']));
      }
      this.stats.watchOpens++;
      this.stats.watchesOpen++;
      opened = true;
      await new Promise<void>((resolve, reject) => {
        const finish = (error?: Error): void => {
          stop.removeEventListener('abort', onStop);
          if (!res.complete) res.destroy();
          if (error === undefined) resolve();
          else reject(error);
        };
        // The caller's abort is a clean end; the stream's own (stall, callback failure) is not.
        const onStop = (): void => finish(failure);
        if (stop.aborted) return onStop();
        stop.addEventListener('abort', onStop, { once: true });
        const deliver = (line: string): boolean => {
          try {
            onLine(line);
          } catch (err) {
            fail(err);
          }
          return !stop.aborted;
        };
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (stop.aborted) return; // a complete response is not destroyed: its last chunks still come
          touch();
          buf += chunk;
          let nl: number;
          while (!stop.aborted && (nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line && !deliver(line)) return;
          }
        });
        res.on('end', () => {
          if (stop.aborted) return;
          // A last line without its newline is still handed over: the callback judges whether it is whole.
          const rest = buf.trim();
          buf = '';
          if (rest && !deliver(rest)) return;
          finish();
        });
        res.on('error', (e) => finish(signal.aborted ? undefined : (failure ?? kubeErrorFromNetwork(e, this.server))));
        res.on('close', () => {
          if (res.complete || signal.aborted) finish(failure);
          else finish(failure ?? kubeErrorFromNetwork(droppedError(), this.server));
        });
      });
    } finally {
      if (opened) this.stats.watchesOpen--;
      clearTimeout(idle);
      stop.removeEventListener('abort', cancelRequest);
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
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

  /** Waits for the client-side token bucket when it applies (see {@link ClientRateLimit}). */
  private admit(): Promise<void> | undefined {
    const mode = this.options.rateLimit;
    if (mode === 'off' || (mode === 'auto' && this.stats.serverFlowControl)) return undefined;
    if (!this.bucket.ready()) this.stats.delayed++;
    return this.bucket.take();
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
    const headers: Record<string, string> = {
      Accept: opts.responseType === 'text' ? 'text/plain, */*' : 'application/json',
      'User-Agent': USER_AGENT,
      ...(await this.authHeaders()),
    };
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    this.stats.requests++;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const agent = streaming ? this.watchAgent : this.agent;
      const req = mod.request(url, { method, headers, agent, ...(signal ? { signal } : {}) }, (res) => {
        if (res.headers[FLOW_SCHEMA_HEADER] !== undefined) this.stats.serverFlowControl = true;
        resolve(res);
      });
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

function stalledError(server: string, idleMs: number): KubeApiError {
  return new KubeApiError({
    status: 0,
    reason: STREAM_STALLED_REASON,
    message: `the watch stream from ${server} sent nothing for ${idleMs} ms (no event, no bookmark): presumed dead`,
  });
}

function droppedError(): Error {
  return Object.assign(new Error('the connection closed before the stream ended'), { code: 'ECONNRESET' });
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
