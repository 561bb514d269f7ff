/**
 * The watch machinery (transport stream, gateway watch, watchKinds) against a real local HTTP server speaking the
 * Kubernetes list/watch wire format (test/support/fake-kube-api.ts) that misbehaves on purpose. Every test also
 * checks that nothing escaped as an uncaught exception or unhandled rejection: that used to crash the worker.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError } from '../../src/kube/errors.js';
import { HttpKubeGateway, MALFORMED_WATCH_EVENT_REASON, type WatchEvent } from '../../src/kube/gateway.js';
import { STREAM_STALLED_REASON, type KubeTransport } from '../../src/kube/transport.js';
import { watchKinds, type WatchKindsOptions, type WatchedState } from '../../src/kube/watch.js';
import { FakeKubeApi, type FakeWatch } from '../support/fake-kube-api.js';

let api: FakeKubeApi;
let transport: KubeTransport;
let gateway: HttpKubeGateway;
const escaped: unknown[] = [];
const recordEscape = (err: unknown): void => void escaped.push(err);
const running: { abort: AbortController; done: Promise<unknown> }[] = [];

beforeEach(async () => {
  escaped.length = 0;
  process.on('uncaughtException', recordEscape);
  process.on('unhandledRejection', recordEscape);
  api = await FakeKubeApi.start();
  transport = await api.transport();
  gateway = new HttpKubeGateway('fake', transport);
});

afterEach(async () => {
  vi.useRealTimers();
  for (const r of running.splice(0)) {
    r.abort.abort();
    await r.done.catch(() => undefined);
  }
  transport.close();
  await api.close();
  process.off('uncaughtException', recordEscape);
  process.off('unhandledRejection', recordEscape);
  expect(escaped).toEqual([]);
});

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 5, message: `timed out waiting for ${what}` }).toBe(true);
}

/** The one open watch, once it is open (a list can be done before its watch is). */
async function theOpenWatch(): Promise<FakeWatch> {
  await waitFor(() => api.openWatches().length === 1, 'one open watch');
  const [watch] = api.openWatches();
  if (!watch) throw new Error('no open watch');
  return watch;
}

/** ConfigMaps of a watched state, `name -> data`, comparable with {@link FakeKubeApi.snapshot}. */
function dataOf(state: WatchedState): Record<string, Record<string, string>> {
  return Object.fromEntries(
    [...state.values()].map((o) => [o.metadata.name, (o as unknown as { data: Record<string, string> }).data]),
  );
}

/** Runs watchKinds on the fake's ConfigMaps; `view()` is what the caller last saw. */
function watchConfigMaps(options: WatchKindsOptions = {}, onChange?: (state: WatchedState) => void) {
  const abort = new AbortController();
  let seen: Record<string, Record<string, string>> = {};
  let synced = false;
  const done = watchKinds(
    gateway,
    [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: api.namespace }],
    (state, isSynced) => {
      onChange?.(state);
      seen = dataOf(state);
      synced = isSynced;
    },
    abort.signal,
    options,
  );
  running.push({ abort, done });
  return {
    done,
    view: () => seen,
    synced: () => synced,
    converged: () => synced && JSON.stringify(sorted(seen)) === JSON.stringify(sorted(api.snapshot())),
  };
}

function sorted(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

const collectionPath = (): string => `/api/v1/namespaces/${api.namespace}/configmaps`;

describe('KubeTransport.stream', () => {
  it('rejects with the error the line callback threw, and closes the connection', async () => {
    api.put('a', { v: '1' });
    const boom = new Error('callback bug');
    const streaming = transport.stream(
      collectionPath(),
      { watch: true, resourceVersion: '0' },
      () => {
        throw boom;
      },
      new AbortController().signal,
    );
    await expect(streaming).rejects.toBe(boom);
    await waitFor(() => api.watches[0]?.closed === true, 'the server to see the connection closed');
  });

  it('rejects with a retryable network KubeApiError when the connection drops mid-stream', async () => {
    const lines: string[] = [];
    const streaming = transport.stream(
      collectionPath(),
      { watch: true, resourceVersion: api.resourceVersion },
      (l) => lines.push(l),
      new AbortController().signal,
    );
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    api.put('a', { v: '1' });
    await waitFor(() => lines.length === 1, 'the first event');
    (await theOpenWatch()).drop();
    const err = await streaming.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 0, failureType: 'KubeUnavailable' });
  });

  it('rejects with WatchStalled when nothing arrives for idleTimeoutMs, and closes the connection', async () => {
    const started = performance.now();
    const streaming = transport.stream(
      collectionPath(),
      { watch: true, resourceVersion: api.resourceVersion },
      () => undefined,
      new AbortController().signal,
      { idleTimeoutMs: 300 },
    );
    await expect(streaming).rejects.toMatchObject({ status: 0, reason: STREAM_STALLED_REASON });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    await waitFor(() => api.watches[0]?.closed === true, 'the server to see the connection closed');
  });

  it('keeps a stream that receives bytes before each idle timeout', async () => {
    // The idle timeout's clock (setTimeout) is fake and moved on by the test; the stream itself is real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const lines: string[] = [];
    const abort = new AbortController();
    const streaming = transport.stream(
      collectionPath(),
      { watch: true, resourceVersion: api.resourceVersion },
      (l) => lines.push(l),
      abort.signal,
      { idleTimeoutMs: 400 },
    );
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    const watch = await theOpenWatch();
    // Five bookmarks 300 ms apart: 1.5 s in all, longer than the idle timeout, never silent for that long.
    for (let i = 0; i < 5; i++) {
      watch.bookmark();
      await waitFor(() => lines.length === i + 1, `bookmark ${i + 1}`);
      await vi.advanceTimersByTimeAsync(300);
    }
    expect(watch.closed).toBe(false);
    abort.abort();
    await expect(streaming).resolves.toBeUndefined();
  });

  it('resolves when the signal aborts, and closes the connection', async () => {
    const abort = new AbortController();
    const streaming = transport.stream(
      collectionPath(),
      { watch: true, resourceVersion: api.resourceVersion },
      () => undefined,
      abort.signal,
    );
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    abort.abort();
    await expect(streaming).resolves.toBeUndefined();
    await waitFor(() => api.watches[0]?.closed === true, 'the server to see the connection closed');
  });
});

describe('HttpKubeGateway.watch', () => {
  async function watchOnce(): Promise<{ events: WatchEvent[]; error: unknown }> {
    const events: WatchEvent[] = [];
    const error = await gateway
      .watch(
        'v1',
        'ConfigMap',
        { namespace: api.namespace, resourceVersion: api.resourceVersion },
        (e) => events.push(e),
        new AbortController().signal,
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    return { events, error };
  }

  it('asks for bookmarks and passes ADDED, MODIFIED, DELETED and BOOKMARK events in order', async () => {
    const watching = watchOnce();
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    api.put('a', { v: '1' });
    api.put('a', { v: '2' });
    api.remove('a');
    const watch = await theOpenWatch();
    watch.bookmark();
    watch.end();
    const { events, error } = await watching;
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(events[3]?.object.metadata.resourceVersion).toBe(api.resourceVersion);
    expect(api.watches[0]?.query.get('allowWatchBookmarks')).toBe('true');
  });

  it('rejects with a 410 KubeApiError on an ERROR event with code 410', async () => {
    const watching = watchOnce();
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    (await theOpenWatch()).sendError(410, 'Expired', 'too old resource version: 1 (200)');
    const { error } = await watching;
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 410, reason: 'Expired' });
    expect((error as Error).message).toContain('too old resource version');
  });

  it('classifies other ERROR events by their code (500 retryable, 403 forbidden)', async () => {
    for (const [code, reason, failureType] of [
      [500, 'InternalError', 'KubeUnavailable'],
      [403, 'Forbidden', 'KubeForbidden'],
    ] as const) {
      const watching = watchOnce();
      await waitFor(() => api.openWatches().length === 1, 'the watch to open');
      (await theOpenWatch()).sendError(code, reason);
      const { error } = await watching;
      expect(error).toMatchObject({ status: code, reason, failureType });
    }
  });

  it('rejects with a retryable MalformedWatchEvent error on a line that is not JSON, without quoting it', async () => {
    const watching = watchOnce();
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    (await theOpenWatch()).sendLine('{"type":"ADDED","object":{"data":{"password":"hunter2"');
    const { error } = await watching;
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 0, reason: MALFORMED_WATCH_EVENT_REASON, failureType: 'KubeUnavailable' });
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('watchKinds', () => {
  it('converges to the server objects: the initial list, then additions, changes and deletions', async () => {
    api.put('a', { v: '1' });
    api.put('b', { v: '1' });
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    api.put('a', { v: '2' });
    api.put('c', { v: '1' });
    api.remove('b');
    await waitFor(w.converged, 'the events');
    expect(w.view()).toEqual({ a: { v: '2' }, c: { v: '1' } });
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('opens more watches than the request pool has sockets, all live, and requests still pass', async () => {
    // A monitor watches 3 kinds per namespace; 150 watches behind the requests' 32 sockets left most queued, blind.
    const narrow = await api.transport({ maxSockets: 2 });
    const narrowGateway = new HttpKubeGateway('fake', narrow);
    try {
      const views: WatchedState[] = [];
      for (let i = 0; i < 6; i++) {
        const abort = new AbortController();
        const at = views.length;
        views.push(new Map());
        const done = watchKinds(
          narrowGateway,
          [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: api.namespace }],
          (state) => (views[at] = new Map(state)),
          abort.signal,
        );
        running.push({ abort, done });
      }
      await waitFor(() => api.openWatches().length === 6, 'six open watches');
      api.put('seen-by-all', { v: '1' });
      await waitFor(() => views.every((v) => v.size === 1), 'the event on every watch');
      // the two request sockets are free: a GET is answered while six watches stay open
      const listed = await narrowGateway.list('v1', 'ConfigMap', { namespace: api.namespace });
      expect(listed.items.map((o) => o.metadata.name)).toEqual(['seen-by-all']);
      expect(api.openWatches()).toHaveLength(6);
    } finally {
      for (const r of running.splice(0)) {
        r.abort.abort();
        await r.done.catch(() => undefined);
      }
      narrow.close();
    }
  });

  it('caches objects without metadata.managedFields (listed and watched)', async () => {
    api.put('listed', { v: '1' });
    let state: WatchedState = new Map();
    const w = watchConfigMaps({}, (s) => (state = s));
    await waitFor(w.converged, 'the initial list');
    api.put('watched', { v: '1' });
    await waitFor(w.converged, 'the event');
    expect(state.size).toBe(2);
    for (const obj of state.values()) {
      expect(obj.metadata.name).toBeTruthy();
      expect(obj.metadata).not.toHaveProperty('managedFields');
    }
  });

  it('relists after a 410 ERROR event on an open watch and converges, deletions included', async () => {
    api.put('a', { v: '1' });
    api.put('b', { v: '1' });
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    // Changes the watch never sees, then the 410 an open watch gets after etcd compaction.
    const first = await theOpenWatch();
    first.stalled = true;
    api.remove('a');
    api.put('b', { v: '2' });
    api.put('c', { v: '1' });
    first.sendError(410, 'Expired', 'too old resource version');
    await waitFor(w.converged, 'the relist');
    expect(w.view()).toEqual({ b: { v: '2' }, c: { v: '1' } });
    expect(api.requestsOf('list')).toHaveLength(2);
  });

  it('resumes from the last resourceVersion after a dropped connection, without relisting', async () => {
    api.put('a', { v: '1' });
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    api.put('b', { v: '1' });
    await waitFor(w.converged, 'the event for b');
    const lastSeen = api.resourceVersion;
    (await theOpenWatch()).drop();
    await waitFor(() => api.openWatches().length === 1 && api.watches.length === 2, 'the watch to resume');
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(lastSeen);
    api.put('c', { v: '1' });
    await waitFor(w.converged, 'the event for c');
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('resumes from the last resourceVersion after a clean end of the stream', async () => {
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'the event for a');
    const lastSeen = api.resourceVersion;
    (await theOpenWatch()).end();
    await waitFor(() => api.watches.length === 2, 'the watch to resume');
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(lastSeen);
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('survives a malformed line: resumes from the last resourceVersion and still sees the event it lost', async () => {
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'the event for a');
    const lastSeen = api.resourceVersion;
    const first = await theOpenWatch();
    first.stalled = true; // the next event reaches this watch only as garbage
    api.put('b', { v: '1' });
    first.sendLine('{"type":"ADDED","object":{"metadata":');
    await waitFor(w.converged, 'b, replayed by the resumed watch');
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(lastSeen);
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('destroys a stalled watch after idleTimeoutMs and resumes it from the last resourceVersion', async () => {
    const w = watchConfigMaps({ idleTimeoutMs: 300 });
    await waitFor(w.converged, 'the initial list');
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'the event for a');
    const lastSeen = api.resourceVersion;
    const first = await theOpenWatch();
    first.stalled = true;
    api.put('b', { v: '1' }); // lost to the stalled watch
    await waitFor(() => first.closed === true, 'the stalled watch to be destroyed');
    await waitFor(w.converged, 'b, replayed by the resumed watch');
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(lastSeen);
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('takes the resourceVersion of a bookmark to resume from', async () => {
    api.put('a', { v: '1' });
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    api.advance(); // writes elsewhere in the cluster
    api.advance();
    const bookmarked = api.resourceVersion;
    // The stream ends right behind the bookmark: the resumed watch must start from the bookmark's version.
    const watch = await theOpenWatch();
    watch.bookmark();
    watch.end();
    await waitFor(() => api.watches.length === 2, 'the watch to resume');
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(bookmarked);
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('relists when resuming from a compacted resourceVersion (410 on the resumed watch) and converges', async () => {
    api.put('a', { v: '1' });
    api.put('b', { v: '1' });
    const w = watchConfigMaps();
    await waitFor(w.converged, 'the initial list');
    const lastSeen = api.resourceVersion;
    const first = await theOpenWatch();
    first.stalled = true;
    api.remove('a');
    api.put('c', { v: '1' });
    api.compact();
    first.drop();
    await waitFor(() => api.requestsOf('list').length === 2, 'the relist');
    await waitFor(w.converged, 'convergence after the relist');
    expect(w.view()).toEqual({ b: { v: '1' }, c: { v: '1' } });
    expect(api.watches[1]?.query.get('resourceVersion')).toBe(lastSeen);
    await waitFor(() => api.watches.length === 3, 'the watch after the relist');
    expect(api.watches[2]?.query.get('resourceVersion')).toBe(api.resourceVersion);
  });

  it('backs off between consecutive relists, doubling up to retryMaxMs, then converges', async () => {
    api.put('a', { v: '1' });
    let refusals = 7;
    api.watchHook = (_query, res) => {
      if (refusals === 0) return false;
      refusals--;
      const body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: body })}\n`);
      return true;
    };
    const w = watchConfigMaps({ retryInitialMs: 40, retryMaxMs: 160 });
    await waitFor(() => refusals === 0 && w.converged() && api.requestsOf('list').length === 8, 'convergence', 10_000);
    const at = api.requestsOf('list').map((r) => r.at);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? t));
    // First retry at once, then 40, 80, 160, 160, 160, 160 ms (timers never fire early; 2 ms for clock rounding).
    const expected = [0, 40, 80, 160, 160, 160, 160];
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual((expected[i] ?? 0) - 2));
    expect(Math.max(...gaps)).toBeLessThan(160 + 1_000);
  });

  it('waits at least the Retry-After of a 429 before watching again', async () => {
    let throttled = false;
    api.watchHook = (_query, res) => {
      if (throttled) return false;
      throttled = true;
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' });
      res.end(JSON.stringify({ kind: 'Status', reason: 'TooManyRequests', code: 429, message: 'slow down' }));
      return true;
    };
    const w = watchConfigMaps();
    await waitFor(() => api.openWatches().length === 1, 'the second watch', 5_000);
    const watches = api.requestsOf('watch');
    expect(watches).toHaveLength(2);
    expect((watches[1]?.at ?? 0) - (watches[0]?.at ?? 0)).toBeGreaterThanOrEqual(995);
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'the event for a');
  });

  it('rejects on a 403 from the list, which retrying cannot fix', async () => {
    api.listHook = () => 403;
    const w = watchConfigMaps();
    await expect(w.done).rejects.toMatchObject({ status: 403, failureType: 'KubeForbidden' });
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('rejects with the error onChange threw during an event, and closes the watch', async () => {
    const bug = new Error('onChange bug');
    const w = watchConfigMaps({}, (state) => {
      if (state.size > 0) throw bug;
    });
    await waitFor(w.synced, 'the initial list');
    api.put('a', { v: '1' });
    await expect(w.done).rejects.toBe(bug);
    await waitFor(() => api.watches[0]?.closed === true, 'the server to see the watch closed');
    expect(api.watches).toHaveLength(1);
  });

  it('resolves, closing its watch, when the signal aborts', async () => {
    const w = watchConfigMaps();
    await waitFor(() => api.openWatches().length === 1, 'the watch to open');
    running[0]?.abort.abort();
    await expect(w.done).resolves.toBeUndefined();
    await waitFor(() => api.watches[0]?.closed === true, 'the server to see the watch closed');
  });
});
