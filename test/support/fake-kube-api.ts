/**
 * A real local HTTP server that speaks just enough of the Kubernetes API wire format for the watch machinery's
 * unit tests: discovery of `v1` ConfigMaps, a namespaced LIST (JSON with `metadata.resourceVersion`) and a WATCH
 * (chunked JSON lines from a resourceVersion, bookmarks, `410 Expired` as an ERROR event for a compacted
 * version, as kube-apiserver answers). Tests mutate its objects and misbehave on purpose through each open
 * {@link FakeWatch}: ERROR events, malformed lines, dropped connections, stalls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeTransport, type TransportOptions } from '../../src/kube/transport.js';
import { closeNow, listenLocal } from './local-http.js';

/** A ConfigMap as the fake server stores it. */
export interface FakeObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; resourceVersion: string; managedFields?: unknown[] };
  data: Record<string, string>;
}

/** One request the server received. */
export interface FakeRequest {
  /** `list`, `watch` or `discovery`. */
  verb: 'list' | 'watch' | 'discovery' | 'other';
  path: string;
  query: URLSearchParams;
  /** `performance.now()` when it arrived. */
  at: number;
}

/** A watch the server holds open, which the test can make misbehave. */
export interface FakeWatch {
  /** The query string the client sent (`resourceVersion`, `allowWatchBookmarks`, …). */
  readonly query: URLSearchParams;
  /** True once the client or the server closed the connection. */
  readonly closed: boolean;
  /** While true the server writes nothing to this watch: a stall (events meanwhile are lost to it). */
  stalled: boolean;
  /** Writes one raw line (a newline is appended). */
  sendLine(line: string): void;
  /** Sends an ERROR event with a Status of this code and reason, then ends the response, as kube-apiserver does. */
  sendError(code: number, reason: string, message?: string): void;
  /** Sends a BOOKMARK at the server's current resourceVersion. */
  bookmark(): void;
  /** Destroys the connection mid-stream, without the chunked terminator. */
  drop(): void;
  /** Ends the response cleanly (as when timeoutSeconds runs out). */
  end(): void;
}

/**
 * Decides the answer to a new watch before the server does. Return `true` when the hook answered (wrote and
 * ended `res`); `false` lets the server serve the watch normally.
 */
export type WatchHook = (query: URLSearchParams, res: ServerResponse) => boolean;

/** The running fake. */
export class FakeKubeApi {
  /** Every request received, in order. */
  readonly requests: FakeRequest[] = [];
  /** Every watch served (open or closed), in order. */
  readonly watches: FakeWatch[] = [];
  /** Consulted for each new watch (see {@link WatchHook}). */
  watchHook: WatchHook | undefined;
  /** Consulted for each list: return a status to fail it with (e.g. 403, 503), or undefined to serve it. */
  listHook: (() => number | undefined) | undefined;
  private revision = 100;
  private compactedBelow = 0;
  private readonly objects = new Map<string, FakeObject>();
  private readonly history: { revision: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: FakeObject }[] = [];
  private readonly open = new Set<{ watch: FakeWatch; push: (line: string) => void }>();

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>`. */
    readonly url: string,
    /** The namespace whose ConfigMaps the server serves. */
    readonly namespace: string,
  ) {}

  /** Starts a server on a free port of 127.0.0.1. */
  static async start(namespace = 'watched'): Promise<FakeKubeApi> {
    const server = createServer();
    const fake = new FakeKubeApi(server, await listenLocal(server), namespace);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => fake.handle(req, res));
    return fake;
  }

  /** A transport to this server, built the way the worker builds one (from a kubeconfig). */
  async transport(options: TransportOptions = {}): Promise<KubeTransport> {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      // client-node refuses plain http unless TLS verification is explicitly off (there is no TLS to verify).
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return KubeTransport.fromKubeConfig(kc, options);
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.revision);
  }

  /** The objects as the server has them now, `name -> data`. */
  snapshot(): Record<string, Record<string, string>> {
    return Object.fromEntries([...this.objects.values()].map((o) => [o.metadata.name, o.data]));
  }

  /** Creates or replaces a ConfigMap; open watches get ADDED/MODIFIED. */
  put(name: string, data: Record<string, string>): void {
    const type = this.objects.has(name) ? 'MODIFIED' : 'ADDED';
    const object: FakeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: this.namespace,
        resourceVersion: String(++this.revision),
        // as a real API server sends them: watches must not cache them (see kube/watch.ts)
        managedFields: [
          { manager: 'fake-kube-api', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } },
        ],
      },
      data,
    };
    this.objects.set(name, object);
    this.record(type, object);
  }

  /** Deletes a ConfigMap; open watches get DELETED. */
  remove(name: string): void {
    const object = this.objects.get(name);
    if (!object) return;
    this.objects.delete(name);
    this.record('DELETED', {
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(++this.revision) },
    });
  }

  /** Moves the resourceVersion on without touching these objects, as writes elsewhere in the cluster do. */
  advance(): void {
    this.revision++;
  }

  /** Forgets the history, as etcd compaction does: a watch from an older resourceVersion now gets 410. */
  compact(): void {
    this.compactedBelow = this.revision;
    this.history.length = 0;
  }

  /** The open watches. */
  openWatches(): FakeWatch[] {
    return this.watches.filter((w) => !w.closed);
  }

  /** Requests of one verb. */
  requestsOf(verb: FakeRequest['verb']): FakeRequest[] {
    return this.requests.filter((r) => r.verb === verb);
  }

  /** Closes every connection and the server. */
  async close(): Promise<void> {
    await closeNow(this.server);
  }

  private record(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: FakeObject): void {
    this.history.push({ revision: this.revision, type, object });
    const line = JSON.stringify({ type, object });
    for (const o of this.open) o.push(line);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const collection = `/api/v1/namespaces/${this.namespace}/configmaps`;
    const watch = url.searchParams.get('watch') === 'true';
    const verb =
      url.pathname === '/api/v1' ? 'discovery' : url.pathname !== collection ? 'other' : watch ? 'watch' : 'list';
    this.requests.push({ verb, path: url.pathname, query: url.searchParams, at: performance.now() });
    if (verb === 'discovery') {
      return json(res, 200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }],
      });
    }
    if (verb === 'list') {
      const failWith = this.listHook?.();
      if (failWith) return json(res, failWith, status(failWith, 'Forbidden', 'the fake says no'));
      return json(res, 200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: this.resourceVersion },
        items: [...this.objects.values()].map(({ apiVersion: _a, kind: _k, ...item }) => item),
      });
    }
    if (verb === 'watch') return this.serveWatch(url.searchParams, res);
    return json(res, 404, status(404, 'NotFound', `the fake serves no ${url.pathname}`));
  }

  private serveWatch(query: URLSearchParams, res: ServerResponse): void {
    if (this.watchHook?.(query, res)) return;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let closed = false;
    const currentVersion = (): string => this.resourceVersion;
    const write = (line: string): void => {
      if (!closed) res.write(`${line}\n`);
    };
    const watch: FakeWatch = {
      query,
      get closed() {
        return closed;
      },
      stalled: false,
      sendLine: write,
      sendError(code, reason, message = 'the fake watch failed') {
        write(JSON.stringify({ type: 'ERROR', object: status(code, reason, message) }));
        watch.end();
      },
      bookmark() {
        const object = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: currentVersion() } };
        write(JSON.stringify({ type: 'BOOKMARK', object }));
      },
      drop() {
        res.socket?.destroy();
      },
      end() {
        if (!closed) res.end();
      },
    };
    const entry = { watch, push: (line: string) => (watch.stalled ? undefined : write(line)) };
    this.watches.push(watch);
    res.on('close', () => {
      closed = true;
      this.open.delete(entry);
    });
    const from = Number(query.get('resourceVersion') ?? '0');
    if (from < this.compactedBelow) {
      return watch.sendError(410, 'Expired', `too old resource version: ${from} (${this.compactedBelow})`);
    }
    for (const h of this.history) if (h.revision > from) write(JSON.stringify({ type: h.type, object: h.object }));
    this.open.add(entry);
  }
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
