/**
 * The Kubernetes gateway: every verb kube-workflows needs against one cluster, for any kind (resolved through
 * discovery, like client-node's `KubernetesObjectApi`): server-side apply (with dry-run), get, delete, list,
 * watch and the scale subresource. Activities depend on the {@link KubeGateway} interface only.
 * @module
 */
import type { KubeObject } from '../schemas/kube-object.js';
import { formatSubject } from '../domain/subject.js';
import { KubeApiError } from './errors.js';
import type { KubeTransport, TransportStats } from './transport.js';

/** The constant field manager of every write: one owner for all of kube-workflows' fields. */
export const FIELD_MANAGER = 'kube-workflows';

/** What discovery tells about one kind. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name used in URLs (`deployments`). */
  plural: string;
  namespaced: boolean;
}

/** A reference to one object. */
export interface ObjectKey {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
}

/** A live object as the API server returns it. */
export type LiveObject = KubeObject & {
  metadata: KubeObject['metadata'] & { uid?: string; resourceVersion?: string; generation?: number };
  status?: unknown;
};

/** One watch event. `BOOKMARK` events carry only a resourceVersion. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: LiveObject;
}

/** Options of {@link KubeGateway.watch}. */
export interface WatchRequestOptions {
  namespace?: string | undefined;
  /** Where to start: the list's resourceVersion, or the last one seen when resuming. */
  resourceVersion: string;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Server-side lifetime of the request (default 300). */
  timeoutSeconds?: number | undefined;
  /** Silence after which the watch is presumed dead and rejects (default: the transport's, 90 s). */
  idleTimeoutMs?: number | undefined;
}

/** Options of a server-side apply. */
export interface ApplyOptions {
  /** `true` asks the server to validate and return the result without persisting (dryRun=All). */
  dryRun?: boolean;
  /** Take ownership of fields other managers own instead of failing with 409. */
  force?: boolean;
  /**
   * Field manager of this apply. Default {@link FIELD_MANAGER}: every write of kube-workflows is one owner, except the
   * few that must not be (the replicas handover to an autoscaler, `scale`'s writes of autoscaler bounds).
   */
  fieldManager?: string;
}

/** Options of {@link KubeGateway.podLog}. */
export interface PodLogOptions {
  /** The container (required when the pod has several). */
  container: string;
  /** Only the last this many lines. */
  tailLines?: number | undefined;
  /** At most this many bytes (the API server stops there, possibly mid-line). */
  limitBytes?: number | undefined;
  /** The log of the container's previous instance (before its last restart). */
  previous?: boolean | undefined;
}

/** Every call the activities make to one cluster. */
export interface KubeGateway {
  /** The configured cluster name. */
  readonly cluster: string;
  /** Request counters (for benchmarks and metrics). */
  readonly stats: TransportStats;
  resolve(apiVersion: string, kind: string): Promise<ResourceInfo>;
  apply(obj: KubeObject, options?: ApplyOptions): Promise<LiveObject>;
  get(key: ObjectKey): Promise<LiveObject | undefined>;
  /** Deletes with foreground-safe background propagation; returns false when it was already gone. */
  delete(key: ObjectKey): Promise<boolean>;
  list(
    apiVersion: string,
    kind: string,
    options?: {
      namespace?: string | undefined;
      labelSelector?: string | undefined;
      /** Field selector (`spec.nodeName=n1`), as the API server takes it. */
      fieldSelector?: string | undefined;
    },
  ): Promise<{ items: LiveObject[]; resourceVersion: string }>;
  /**
   * Watches from `resourceVersion` (bookmarks requested) until the server closes the stream or `signal` aborts.
   * Never throws from inside the stream: an ERROR event rejects with a {@link KubeApiError} carrying its code
   * (410 when the resourceVersion is too old), and so do a malformed line, a dropped connection and a stall;
   * whatever `onEvent` throws rejects unchanged.
   */
  watch(
    apiVersion: string,
    kind: string,
    options: WatchRequestOptions,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** Asks the API server for its version (allowed to every authenticated user): reachability for readiness. */
  ping(): Promise<string>;
  /**
   * Sets `spec.replicas` through the scale subresource; returns the previous count. Writes nothing when the count
   * already holds, so a retry after a write that landed does not write again.
   */
  scale(key: ObjectKey, replicas: number): Promise<{ previous: number }>;
  /** A JSON merge patch (RFC 7386) of one object: `null` removes a field. Returns the patched object. */
  mergePatch(key: ObjectKey, patch: unknown): Promise<LiveObject>;
  /**
   * Evicts a pod through the Eviction subresource (policy/v1), which honours its PodDisruptionBudgets. Resolves
   * `evicted`, or `gone` when the pod no longer exists (or is another pod of that name: `uid` is a precondition).
   * A budget's refusal rejects with a {@link KubeApiError} of status 429 after the transport's throttle retries.
   */
  evict(
    pod: { namespace: string; name: string; uid?: string | undefined },
    options?: { gracePeriodSeconds?: number | undefined },
  ): Promise<'evicted' | 'gone'>;
  /**
   * A container's log through the `pods/log` subresource (the API server asks the node's kubelet), as text. Rejects
   * with a {@link KubeApiError} saying why when there is none (container waiting, no previous instance, the kubelet
   * unreachable).
   */
  podLog(pod: { namespace: string; name: string }, options: PodLogOptions): Promise<string>;
  close(): void;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** {@link KubeGateway} over HTTP with a discovery cache. */
export class HttpKubeGateway implements KubeGateway {
  private readonly discovery = new Map<string, Promise<ApiResourceList>>();

  constructor(
    readonly cluster: string,
    private readonly transport: KubeTransport,
  ) {}

  get stats(): TransportStats {
    return this.transport.stats;
  }

  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const [group, version] = apiVersion.includes('/')
      ? (apiVersion.split('/', 2) as [string, string])
      : ['', apiVersion];
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    let list = this.discovery.get(apiVersion);
    if (!list) {
      list = this.transport.request<ApiResourceList>('GET', path);
      this.discovery.set(apiVersion, list);
      list.catch(() => this.discovery.delete(apiVersion));
    }
    let resources: ApiResourceList;
    try {
      resources = await list;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        throw new KubeApiError({
          status: 404,
          reason: 'NotFound',
          message: `the API server does not serve ${apiVersion}`,
        });
      }
      throw err;
    }
    const found = resources.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!found) {
      this.discovery.delete(apiVersion); // a CRD may be established later in the same run
      throw new KubeApiError({
        status: 404,
        reason: 'NotFound',
        message: `the API server has no kind ${kind} in ${apiVersion}`,
      });
    }
    return { group, version, kind, plural: found.name, namespaced: found.namespaced };
  }

  async apply(obj: KubeObject, options: ApplyOptions = {}): Promise<LiveObject> {
    const key = keyOf(obj);
    const path = await this.objectPath(key);
    return this.transport.request<LiveObject>('PATCH', path, {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: {
        fieldManager: options.fieldManager ?? FIELD_MANAGER,
        force: options.force ? true : undefined,
        dryRun: options.dryRun ? 'All' : undefined,
      },
      subject: formatSubject(key),
    });
  }

  async get(key: ObjectKey): Promise<LiveObject | undefined> {
    try {
      return await this.transport.request<LiveObject>('GET', await this.objectPath(key), {
        subject: formatSubject(key),
      });
    } catch (err) {
      if (
        err instanceof KubeApiError &&
        err.status === 404 &&
        err.reason === 'NotFound' &&
        !/does not serve|has no kind/.test(err.message)
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async delete(key: ObjectKey): Promise<boolean> {
    try {
      await this.transport.request('DELETE', await this.objectPath(key), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
        subject: formatSubject(key),
      });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  async list(
    apiVersion: string,
    kind: string,
    options: {
      namespace?: string | undefined;
      labelSelector?: string | undefined;
      fieldSelector?: string | undefined;
    } = {},
  ): Promise<{ items: LiveObject[]; resourceVersion: string }> {
    const path = await this.collectionPath(apiVersion, kind, options.namespace);
    const res = await this.transport.request<{ items: LiveObject[]; metadata: { resourceVersion: string } }>(
      'GET',
      path,
      {
        query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
      },
    );
    // Lists omit apiVersion/kind on items; put them back so callers can name subjects.
    for (const item of res.items) {
      item.apiVersion = apiVersion;
      item.kind = kind;
    }
    return { items: res.items, resourceVersion: res.metadata.resourceVersion };
  }

  async watch(
    apiVersion: string,
    kind: string,
    options: WatchRequestOptions,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const path = await this.collectionPath(apiVersion, kind, options.namespace);
    await this.transport.stream(
      path,
      {
        watch: true,
        allowWatchBookmarks: true,
        resourceVersion: options.resourceVersion,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        timeoutSeconds: options.timeoutSeconds ?? 300,
      },
      (line) => onEvent(parseWatchEvent(line)),
      signal,
      { idleTimeoutMs: options.idleTimeoutMs },
    );
  }

  async ping(): Promise<string> {
    const v = await this.transport.request<{ gitVersion?: string }>('GET', '/version');
    return v.gitVersion ?? 'unknown';
  }

  async scale(key: ObjectKey, replicas: number): Promise<{ previous: number }> {
    const path = `${await this.objectPath(key)}/scale`;
    const current = await this.transport.request<{ spec?: { replicas?: number } }>('GET', path, {
      subject: formatSubject(key),
    });
    // Idempotent: a retried write whose first attempt landed (the worker died before it could report) writes nothing.
    if (current.spec?.replicas === replicas) return { previous: replicas };
    await this.transport.request('PATCH', path, {
      body: { spec: { replicas } },
      contentType: 'application/merge-patch+json',
      subject: formatSubject(key),
    });
    return { previous: current.spec?.replicas ?? 0 };
  }

  async mergePatch(key: ObjectKey, patch: unknown): Promise<LiveObject> {
    return this.transport.request<LiveObject>('PATCH', await this.objectPath(key), {
      body: patch,
      contentType: 'application/merge-patch+json',
      subject: formatSubject(key),
    });
  }

  async evict(
    pod: { namespace: string; name: string; uid?: string | undefined },
    options: { gracePeriodSeconds?: number | undefined } = {},
  ): Promise<'evicted' | 'gone'> {
    const key = { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name };
    const deleteOptions = {
      ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
      ...(pod.uid ? { preconditions: { uid: pod.uid } } : {}),
    };
    try {
      await this.transport.request('POST', `${await this.objectPath(key)}/eviction`, {
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: pod.name, namespace: pod.namespace },
          ...(Object.keys(deleteOptions).length ? { deleteOptions } : {}),
        },
        subject: formatSubject(key),
      });
      return 'evicted';
    } catch (err) {
      // 404: already gone; 409 on the uid precondition: a new pod took the name, ours is gone.
      if (err instanceof KubeApiError && (err.status === 404 || (err.status === 409 && pod.uid))) return 'gone';
      throw err;
    }
  }

  async podLog(pod: { namespace: string; name: string }, options: PodLogOptions): Promise<string> {
    const key = { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name };
    return this.transport.request<string>('GET', `${await this.objectPath(key)}/log`, {
      query: {
        container: options.container,
        tailLines: options.tailLines,
        limitBytes: options.limitBytes,
        previous: options.previous ? true : undefined,
      },
      responseType: 'text',
      subject: formatSubject(key),
    });
  }

  close(): void {
    this.transport.close();
  }

  private async collectionPath(apiVersion: string, kind: string, namespace: string | undefined): Promise<string> {
    const info = await this.resolve(apiVersion, kind);
    const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
    return info.namespaced && namespace ? `${base}/namespaces/${namespace}/${info.plural}` : `${base}/${info.plural}`;
  }

  private async objectPath(key: ObjectKey): Promise<string> {
    const info = await this.resolve(key.apiVersion, key.kind);
    if (info.namespaced && !key.namespace) {
      throw new KubeApiError({
        status: 400,
        reason: 'BadRequest',
        message: 'metadata.namespace is required for this kind',
        subject: formatSubject(key),
      });
    }
    const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
    const ns = info.namespaced ? `/namespaces/${key.namespace}` : '';
    return `${base}${ns}/${info.plural}/${encodeURIComponent(key.name)}`;
  }
}

/** Reason of the {@link KubeApiError} for a watch line that is not a JSON watch event. */
export const MALFORMED_WATCH_EVENT_REASON = 'MalformedWatchEvent';

/**
 * One line of a watch stream as an event. An ERROR event becomes the {@link KubeApiError} its Status describes
 * (an expired resourceVersion is 410 even when the Status only says `Expired`/`Gone`); a line that is not an event
 * becomes a retryable one (status 0), whose message never quotes the line, which may hold a Secret.
 */
export function parseWatchEvent(line: string): WatchEvent {
  let event: { type?: unknown; object?: unknown } | undefined;
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    event = undefined;
  }
  if (typeof event?.type !== 'string' || typeof event.object !== 'object' || event.object === null) {
    throw new KubeApiError({
      status: 0,
      reason: MALFORMED_WATCH_EVENT_REASON,
      message: `the watch stream sent a line that is not a JSON watch event (${line.length} characters)`,
    });
  }
  if (event.type === 'ERROR') {
    const status = event.object as { code?: unknown; reason?: unknown; message?: unknown };
    const reason = typeof status.reason === 'string' ? status.reason : 'Unknown';
    const code = typeof status.code === 'number' ? status.code : reason === 'Expired' || reason === 'Gone' ? 410 : 500;
    const message = typeof status.message === 'string' ? status.message : 'watch error';
    throw new KubeApiError({ status: code, reason, message: `${message} [watch ERROR ${code} ${reason}]` });
  }
  return event as WatchEvent;
}

/** The {@link ObjectKey} of an object. */
export function keyOf(obj: KubeObject): ObjectKey {
  return { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name };
}
