/**
 * A fault-injecting HTTP proxy for integration tests, between our code and the local stack's kube-apiserver.
 * It listens on plain http on 127.0.0.1 (a free port) and forwards every request to the API server of a
 * kubeconfig with that kubeconfig's credentials (the kwokctl stack serves https and wants the admin client
 * certificate; the proxy holds it, its clients need none). {@link FaultProxy.kubeconfig} is a kubeconfig for the
 * proxied cluster, for `createKubeGateway` or kubectl.
 *
 * Driven per test, it can:
 * - answer matching requests itself (429 with Retry-After, 500, 503, …), delay them, drop their connection
 *   without an answer, or stall them (a watch gets its headers, then silence): {@link FaultProxy.add};
 * - act on the watches open now: inject an ERROR event (410 Expired by default) at a line boundary and end the
 *   stream as kube-apiserver does ({@link FaultProxy.injectWatchError}), drop their connections
 *   ({@link FaultProxy.dropConnections}), or stall them, discarding what the server sends from then on
 *   ({@link FaultProxy.stallWatches});
 * - tell what happened: every request with its status, fault, and the ERROR events the real server sent in its
 *   watch stream ({@link FaultProxy.requests}), so a test can tell a genuine 410 from an injected one.
 * @module
 */
import { rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { closeNow, listenLocal, plainHttpKubeconfig } from './local-http.js';

/** Which requests a rule or an action applies to. Omitted fields match anything. */
export interface RequestMatch {
  /** HTTP method, upper case (`GET`, `PATCH`, …). */
  method?: string;
  /** A substring of, or a pattern for, the path without its query (`/configmaps`, `/namespaces/shop/`). */
  path?: string | RegExp;
  /** `true`: only watches (`watch=true` or `watch=1`); `false`: only other requests. */
  watch?: boolean;
}

/** What the proxy does to a matching request instead of simply forwarding it. */
export type Fault =
  /** Answers with this status and a Kubernetes `Status` body; `Retry-After` when `retryAfterSeconds` is set. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; message?: string }
  /** Waits this long, then forwards. */
  | { kind: 'delay'; ms: number }
  /** Closes the client's connection without answering. */
  | { kind: 'drop' }
  /** Never answers (a watch gets 200 and its headers first, then nothing, ever). */
  | { kind: 'stall' };

/** A fault for matching requests. Rules are tried in the order they were added; the first that matches applies. */
export interface FaultRule {
  /** Which requests (default: all). */
  match?: RequestMatch;
  fault: Fault;
  /** How many matching requests it applies to before it retires itself (default: until removed). */
  times?: number;
}

/** One request the proxy received, updated as it goes. */
export interface ProxiedRequest {
  method: string;
  /** The path without its query. */
  path: string;
  query: URLSearchParams;
  /** A watch (`watch=true` or `watch=1`). */
  watch: boolean;
  /** `performance.now()` when it arrived. */
  at: number;
  /** The status sent to the client, once sent. */
  status?: number;
  /** The fault a rule applied to it, if any. */
  fault?: Fault['kind'];
  /** Codes of the ERROR events the real API server sent in this watch stream (a genuine 410 shows here). */
  upstreamErrors: number[];
  /** Codes of the ERROR events the proxy injected into it. */
  injectedErrors: number[];
  /** True once the client's connection for it is closed (or the exchange is over). */
  closed: boolean;
  /** True while the proxy stalls it (it then forwards nothing). */
  stalled: boolean;
}

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Path of the kubeconfig of the cluster to proxy. */
  kubeconfig: string;
  /** Its context (default: its current context). */
  context?: string;
}

/** Hop-by-hop headers never forwarded (RFC 9110 §7.6.1), plus those the proxy sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
]);

interface Exchange {
  record: ProxiedRequest;
  clientReq: http.IncomingMessage;
  clientRes: http.ServerResponse;
  upstream?: http.ClientRequest;
}

/** A running fault proxy. Build with {@link FaultProxy.start}; always {@link FaultProxy.close} it. */
export class FaultProxy {
  /** Every request received, in arrival order. */
  readonly requests: ProxiedRequest[] = [];
  private rules: { rule: FaultRule; left: number }[] = [];
  private readonly open = new Set<Exchange>();

  private constructor(
    private readonly server: http.Server,
    private readonly upstream: { url: URL; agent: http.Agent; headers: Record<string, string> },
    /** `http://127.0.0.1:<port>`, what clients connect to. */
    readonly url: string,
    /** A kubeconfig file for the proxied cluster (plain http, no credentials: the proxy adds them). */
    readonly kubeconfig: string,
    private readonly dir: string,
  ) {}

  /** Starts a proxy in front of the API server of `options.kubeconfig`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const kc = new KubeConfig();
    kc.loadFromFile(options.kubeconfig);
    if (options.context) kc.setCurrentContext(options.context);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig ${options.kubeconfig} has no current cluster`);
    const tls: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const url = new URL(cluster.server);
    const agent =
      url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
          })
        : new http.Agent({ keepAlive: true });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(tls.headers ?? {})) if (typeof v === 'string') headers[k] = v;

    const server = http.createServer();
    const proxyUrl = await listenLocal(server);
    const { dir, kubeconfig } = plainHttpKubeconfig('fault-proxy', proxyUrl);
    const proxy = new FaultProxy(server, { url, agent, headers }, proxyUrl, kubeconfig, dir);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => proxy.handle(req, res));
    return proxy;
  }

  /** Adds a rule; returns a function that removes it. */
  add(rule: FaultRule): () => void {
    const entry = { rule, left: rule.times ?? Infinity };
    this.rules.push(entry);
    return () => {
      this.rules = this.rules.filter((r) => r !== entry);
    };
  }

  /** Removes every rule. */
  clearRules(): void {
    this.rules = [];
  }

  /** The watches open now (matching `match`). */
  openWatches(match: RequestMatch = {}): ProxiedRequest[] {
    return this.exchanges({ ...match, watch: true }).map((e) => e.record);
  }

  /** Requests received so far that match. */
  matching(match: RequestMatch): ProxiedRequest[] {
    return this.requests.filter((r) => matches(match, r));
  }

  /**
   * Writes an ERROR event into every open watch that matches, after the last whole event it forwarded, then ends
   * those streams and abandons their upstream requests, as kube-apiserver does. Returns how many it hit.
   */
  injectWatchError(options: { code?: number; reason?: string; message?: string; match?: RequestMatch } = {}): number {
    const code = options.code ?? 410;
    const reason = options.reason ?? (code === 410 ? 'Expired' : reasonFor(code));
    const message = options.message ?? `injected by the fault proxy: ${reason}`;
    const hit = this.exchanges({ ...options.match, watch: true });
    for (const e of hit) {
      e.record.injectedErrors.push(code);
      e.clientRes.end(`${JSON.stringify({ type: 'ERROR', object: statusBody(code, reason, message) })}\n`);
      e.upstream?.destroy();
    }
    return hit.length;
  }

  /** Destroys the client connections of every open request that matches, mid-stream. Returns how many. */
  dropConnections(match: RequestMatch = {}): number {
    const hit = this.exchanges(match);
    for (const e of hit) {
      e.clientReq.socket.destroy();
      e.upstream?.destroy();
    }
    return hit.length;
  }

  /**
   * Stops forwarding on every open watch that matches: the client sees silence; what the server sends from now
   * on is discarded, the stream is never ended. Returns how many.
   */
  stallWatches(match: RequestMatch = {}): number {
    const hit = this.exchanges({ ...match, watch: true });
    for (const e of hit) e.record.stalled = true;
    return hit.length;
  }

  /** Closes every connection, the server and the upstream agent, and deletes the kubeconfig. */
  async close(): Promise<void> {
    for (const e of this.open) e.upstream?.destroy();
    await closeNow(this.server);
    this.upstream.agent.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private exchanges(match: RequestMatch): Exchange[] {
    return [...this.open].filter((e) => !e.record.closed && matches(match, e.record));
  }

  private handle(clientReq: http.IncomingMessage, clientRes: http.ServerResponse): void {
    const url = new URL(clientReq.url ?? '/', this.url);
    const watchParam = url.searchParams.get('watch');
    const record: ProxiedRequest = {
      method: clientReq.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      watch: watchParam === 'true' || watchParam === '1',
      at: performance.now(),
      upstreamErrors: [],
      injectedErrors: [],
      closed: false,
      stalled: false,
    };
    this.requests.push(record);
    const exchange: Exchange = { record, clientReq, clientRes };
    this.open.add(exchange);
    clientRes.on('close', () => {
      record.closed = true;
      this.open.delete(exchange);
      exchange.upstream?.destroy();
    });

    const entry = this.rules.find((r) => r.left > 0 && matches(r.rule.match ?? {}, record));
    if (entry) {
      entry.left--;
      if (entry.left === 0) this.rules = this.rules.filter((r) => r !== entry);
    }
    const fault = entry?.rule.fault;
    if (fault) record.fault = fault.kind;
    switch (fault?.kind) {
      case 'status': {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
        record.status = fault.status;
        clientRes.writeHead(fault.status, headers);
        clientRes.end(
          JSON.stringify(
            statusBody(fault.status, reasonFor(fault.status), fault.message ?? 'injected by the fault proxy'),
          ),
        );
        return;
      }
      case 'drop':
        clientReq.socket.destroy();
        return;
      case 'stall':
        record.stalled = true;
        if (record.watch) {
          record.status = 200;
          clientRes.writeHead(200, { 'Content-Type': 'application/json' });
          clientRes.flushHeaders();
        }
        return;
      case 'delay':
        setTimeout(() => this.forward(exchange, url), fault.ms);
        return;
      default:
        this.forward(exchange, url);
    }
  }

  private forward(exchange: Exchange, url: URL): void {
    const { record, clientReq, clientRes } = exchange;
    if (record.closed) return;
    const headers: Record<string, string | string[]> = { ...this.upstream.headers };
    for (const [k, v] of Object.entries(clientReq.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    const target = new URL(url.pathname + url.search, this.upstream.url);
    const mod = target.protocol === 'https:' ? https : http;
    const upstream = mod.request(target, { method: record.method, headers, agent: this.upstream.agent });
    exchange.upstream = upstream;
    upstream.on('response', (res) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k) && !(record.watch && k === 'content-length')) out[k] = v;
      }
      record.status = res.statusCode ?? 502;
      clientRes.writeHead(record.status, out);
      if (!record.watch) {
        res.on('error', () => clientRes.socket?.destroy());
        res.pipe(clientRes);
        return;
      }
      clientRes.flushHeaders();
      this.relayWatch(record, res, clientRes);
    });
    upstream.on('error', (err) => {
      if (record.closed) return;
      if (!clientRes.headersSent) {
        record.status = 502;
        clientRes.writeHead(502, { 'Content-Type': 'application/json' });
        clientRes.end(JSON.stringify(statusBody(502, 'BadGateway', `fault proxy: upstream failed: ${err.message}`)));
      } else {
        clientReq.socket.destroy();
      }
    });
    clientReq.pipe(upstream);
  }

  /** Forwards whole lines only, so that an injected event always starts a line; notes ERROR events. */
  private relayWatch(record: ProxiedRequest, res: http.IncomingMessage, clientRes: http.ServerResponse): void {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (record.stalled || clientRes.writableEnded) return;
      buf += chunk;
      const last = buf.lastIndexOf('\n');
      if (last < 0) return;
      const whole = buf.slice(0, last + 1);
      buf = buf.slice(last + 1);
      for (const line of whole.split('\n')) {
        const code = errorEventCode(line);
        if (code !== undefined) record.upstreamErrors.push(code);
      }
      clientRes.write(whole);
    });
    res.on('end', () => {
      if (record.stalled || clientRes.writableEnded) return;
      clientRes.end(buf);
    });
    // A stream the proxy ended itself (an injected ERROR event) is already whole: let it flush.
    res.on('error', () => {
      if (!record.stalled && !clientRes.writableEnded) clientRes.socket?.destroy();
    });
  }
}

/** Whether a request (its method, path without the query, and whether it is a watch) is one `match` names. */
export function matches(match: RequestMatch, r: Pick<ProxiedRequest, 'method' | 'path' | 'watch'>): boolean {
  if (match.method && match.method !== r.method) return false;
  if (match.watch !== undefined && match.watch !== r.watch) return false;
  if (match.path instanceof RegExp) return match.path.test(r.path);
  return match.path === undefined || r.path.includes(match.path);
}

function errorEventCode(line: string): number | undefined {
  if (!line.includes('"ERROR"')) return undefined;
  try {
    const event = JSON.parse(line) as { type?: string; object?: { code?: number } };
    return event.type === 'ERROR' ? (event.object?.code ?? 0) : undefined;
  } catch {
    return undefined;
  }
}

function statusBody(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function reasonFor(code: number): string {
  return (
    { 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' }[code] ??
    (http.STATUS_CODES[code] ?? 'Unknown').replace(/\s+/g, '')
  );
}
