/**
 * Write counting from the local API server's own audit log (`StackInfo.auditLogPath`).
 *
 * The dev stack's kube-apiserver writes one JSON line per write request (create, update, patch, delete,
 * deletecollection) at Metadata level, at the `ResponseComplete` stage, leaving out leases, events, node status and
 * token/access reviews (tools/kwok/audit-policy.yaml). This module parses that log and answers "how many writes did
 * this run send to which object": the evidence for "no duplicate side effects" claims.
 *
 * What counts as a write here: an event at stage `ResponseComplete` whose verb is a write verb and whose request was
 * not a dry run (`dryRun` in the request URI's query; `kubectl --dry-run=server` sends `dryRun=All`). Failed writes
 * (409, 422, ...) are writes too (they were sent); pass `succeededOnly: true` to keep only 2xx responses.
 *
 * ```ts
 * const mark = auditMark(stack.auditLogPath);               // before the action
 * await doSomething();
 * const writes = await waitForAuditWrites(stack.auditLogPath, { ...mark, namespace: ns }, (w) => w.length >= 1);
 * expect(countAuditWrites(stack.auditLogPath, { ...mark, namespace: ns }).byObject).toEqual({ 'configmaps:ns/cfg': 1 });
 * ```
 *
 * The API server writes an event when the response is complete, so a write a client has just seen answered may
 * reach the file a few milliseconds later: wait for what you expect ({@link waitForAuditWrites}) before counting.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Verbs that change something (as the audit log names them). */
export const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** The fields of an audit.k8s.io/v1 Event this module reads. */
export interface AuditEvent {
  readonly auditID: string;
  readonly stage: string;
  readonly level: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly user?: { readonly username?: string; readonly groups?: readonly string[] };
  readonly userAgent?: string;
  readonly objectRef?: {
    readonly resource?: string;
    readonly subresource?: string;
    readonly namespace?: string;
    readonly name?: string;
    readonly apiGroup?: string;
    readonly apiVersion?: string;
  };
  readonly responseStatus?: { readonly code?: number; readonly reason?: string };
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
}

/** One write request, flattened. */
export interface AuditWrite {
  readonly auditID: string;
  /** `create`, `update`, `patch`, `delete` or `deletecollection`. */
  readonly verb: string;
  /** Plural resource, e.g. `configmaps`, `deployments`. */
  readonly resource: string;
  /** e.g. `status`, `scale`; undefined for the object itself. */
  readonly subresource: string | undefined;
  /** API group, `''` for the core group. */
  readonly apiGroup: string;
  readonly namespace: string | undefined;
  /** Undefined for a create whose name the server generated before it was known, or a deletecollection. */
  readonly name: string | undefined;
  /** `resource[.group][/subresource]:[namespace/]name`, see {@link auditObjectKey}. */
  readonly key: string;
  readonly user: string;
  readonly userAgent: string;
  /** HTTP status of the response (0 when the log has none). */
  readonly code: number;
  /** True for a dry-run request (only present when `includeDryRun` asked for them). */
  readonly dryRun: boolean;
  /** When the API server received the request. */
  readonly receivedAt: Date;
  readonly requestURI: string;
}

/** Where and what to read. Every field is optional; all given ones must match. */
export interface AuditFilter {
  /**
   * Objects in this namespace, plus the Namespace object of that name (whose create the API server logs without a
   * namespace).
   */
  readonly namespace?: string;
  /** Requests received at or after this time (Date, ISO string or epoch milliseconds). */
  readonly since?: Date | string | number;
  /** Requests received before this time. */
  readonly until?: Date | string | number;
  /** Start reading at this byte offset of the file (from {@link auditMark}); default 0. */
  readonly offset?: number;
  /** Only these verbs (default: every write verb). */
  readonly verbs?: readonly string[];
  /** Only this plural resource (e.g. `deployments`), optionally with `/subresource` (e.g. `deployments/scale`). */
  readonly resource?: string;
  /** Only this object name. */
  readonly name?: string;
  /** Only requests whose user agent contains this string or matches this pattern. */
  readonly userAgent?: string | RegExp;
  /** Only requests by this user name. */
  readonly user?: string;
  /** Only 2xx responses (default false: every write request sent counts). */
  readonly succeededOnly?: boolean;
  /** Also return dry-run requests, marked `dryRun: true` (default false: dry runs are not writes). */
  readonly includeDryRun?: boolean;
}

/** A point in the log to count from: spread it into an {@link AuditFilter}. */
export interface AuditMark {
  /** Size of the file when marked. */
  readonly offset: number;
  /** The time when marked. */
  readonly since: Date;
}

/** Totals of {@link countAuditWrites}. */
export interface AuditWriteCounts {
  readonly total: number;
  /** By {@link AuditWrite.key}. */
  readonly byObject: Record<string, number>;
  /** By verb. */
  readonly byVerb: Record<string, number>;
  /** By user agent. */
  readonly byUserAgent: Record<string, number>;
  /** The writes counted, in log order. */
  readonly writes: readonly AuditWrite[];
}

/** The current end of the log: writes after this point are what an action that follows sends. */
export function auditMark(path: string): AuditMark {
  let offset = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      offset = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch {
    // no log yet: count from the start
  }
  return { offset, since: new Date() };
}

/** `resource[.group][/subresource]:[namespace/]name`, e.g. `configmaps:shop/cfg`, `deployments.apps/scale:shop/web`. */
export function auditObjectKey(
  w: Pick<AuditWrite, 'resource' | 'apiGroup' | 'subresource' | 'namespace' | 'name'>,
): string {
  const kind = `${w.resource}${w.apiGroup ? `.${w.apiGroup}` : ''}${w.subresource ? `/${w.subresource}` : ''}`;
  return `${kind}:${w.namespace ? `${w.namespace}/` : ''}${w.name ?? '*'}`;
}

/** Parses the JSON lines of an audit log (from `offset`); lines that are not complete JSON events are skipped. */
export function readAuditEvents(path: string, offset = 0): AuditEvent[] {
  const text = readFrom(path, offset);
  const out: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const ev = JSON.parse(line) as AuditEvent;
      if (typeof ev.verb === 'string' && typeof ev.stage === 'string') out.push(ev);
    } catch {
      // a line being written right now
    }
  }
  return out;
}

/** True when a request URI asks for a dry run (`?dryRun=All`, any value). */
export function isDryRun(requestURI: string): boolean {
  const q = requestURI.indexOf('?');
  if (q < 0) return false;
  return new URLSearchParams(requestURI.slice(q + 1)).getAll('dryRun').some((v) => v !== '');
}

/** The write requests in the log that match `filter`, in log order (see the module comment for what counts). */
export function readAuditWrites(path: string, filter: AuditFilter = {}): AuditWrite[] {
  const since = toMs(filter.since);
  const until = toMs(filter.until);
  const verbs = new Set(filter.verbs ?? WRITE_VERBS);
  const out: AuditWrite[] = [];
  for (const ev of readAuditEvents(path, filter.offset ?? 0)) {
    if (ev.stage !== 'ResponseComplete' || !verbs.has(ev.verb) || !WRITE_VERBS.has(ev.verb)) continue;
    const dryRun = isDryRun(ev.requestURI);
    if (dryRun && !filter.includeDryRun) continue;
    const received = Date.parse(ev.requestReceivedTimestamp);
    if (since !== undefined && !(received >= since)) continue;
    if (until !== undefined && !(received < until)) continue;
    const ref = ev.objectRef ?? {};
    const resource = ref.resource ?? '';
    const code = ev.responseStatus?.code ?? 0;
    const w: Omit<AuditWrite, 'key'> = {
      auditID: ev.auditID,
      verb: ev.verb,
      resource,
      subresource: ref.subresource || undefined,
      apiGroup: ref.apiGroup ?? '',
      namespace: ref.namespace || undefined,
      name: ref.name || undefined,
      user: ev.user?.username ?? '',
      userAgent: ev.userAgent ?? '',
      code,
      dryRun,
      receivedAt: new Date(received),
      requestURI: ev.requestURI,
    };
    if (filter.namespace !== undefined) {
      const isTheNamespace = resource === 'namespaces' && w.name === filter.namespace;
      if (w.namespace !== filter.namespace && !isTheNamespace) continue;
    }
    if (filter.resource !== undefined) {
      const [res, sub] = filter.resource.split('/');
      if (resource !== res || (sub !== undefined && w.subresource !== sub)) continue;
    }
    if (filter.name !== undefined && w.name !== filter.name) continue;
    if (filter.user !== undefined && w.user !== filter.user) continue;
    if (filter.userAgent !== undefined) {
      const ua = filter.userAgent;
      if (typeof ua === 'string' ? !w.userAgent.includes(ua) : !ua.test(w.userAgent)) continue;
    }
    if (filter.succeededOnly && !(code >= 200 && code < 300)) continue;
    out.push({ ...w, key: auditObjectKey(w) });
  }
  return out;
}

/** Counts the writes that match `filter`: in all, per object, per verb and per user agent. */
export function countAuditWrites(path: string, filter: AuditFilter = {}): AuditWriteCounts {
  const writes = readAuditWrites(path, filter);
  const byObject: Record<string, number> = {};
  const byVerb: Record<string, number> = {};
  const byUserAgent: Record<string, number> = {};
  const inc = (m: Record<string, number>, k: string): void => {
    m[k] = (m[k] ?? 0) + 1;
  };
  for (const w of writes) {
    inc(byObject, w.key);
    inc(byVerb, w.verb);
    inc(byUserAgent, w.userAgent);
  }
  return { total: writes.length, byObject, byVerb, byUserAgent, writes };
}

/**
 * Polls the log until `until(writes)` is true for the writes matching `filter` and returns them; throws after
 * `timeoutMs` (default 10 s) with what it saw. Use it to let an expected write reach the file before counting.
 */
export async function waitForAuditWrites(
  path: string,
  filter: AuditFilter,
  until: (writes: AuditWrite[]) => boolean,
  timeoutMs = 10_000,
): Promise<AuditWrite[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const writes = readAuditWrites(path, filter);
    if (until(writes)) return writes;
    if (Date.now() > deadline) {
      throw new Error(
        `audit log ${path}: condition not met within ${timeoutMs} ms; writes seen: ${JSON.stringify(
          writes.map((w) => `${w.verb} ${w.key} ${w.code}${w.dryRun ? ' (dry run)' : ''}`),
        )}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function toMs(t: Date | string | number | undefined): number | undefined {
  if (t === undefined) return undefined;
  if (t instanceof Date) return t.getTime();
  return typeof t === 'number' ? t : Date.parse(t);
}

function readFrom(path: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.min(Math.max(0, offset), size);
    const buf = Buffer.alloc(size - start);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, start + read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
