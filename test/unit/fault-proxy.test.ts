/**
 * The fault proxy (test/support/fault-proxy.ts) in front of the fake API server (test/support/fake-kube-api.ts):
 * each fault does what the integration tests rely on, seen through the same gateway and watch code the worker
 * uses, built from the kubeconfig the proxy writes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeGateway, type KubeGateway } from '../../src/kube/index.js';
import { watchKinds, type WatchedState } from '../../src/kube/watch.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { FaultProxy } from '../support/fault-proxy.js';

let api: FakeKubeApi;
let proxy: FaultProxy;
let gateway: KubeGateway;
let dir: string;
const stops: AbortController[] = [];

beforeEach(async () => {
  api = await FakeKubeApi.start();
  dir = mkdtempSync(join(tmpdir(), 'kwf-fault-proxy-test-'));
  const upstream = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    upstream,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    }),
  );
  proxy = await FaultProxy.start({ kubeconfig: upstream });
  gateway = await createKubeGateway('proxied', { kubeconfig: proxy.kubeconfig });
});

afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  gateway.close();
  await proxy.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 5, message: `timed out waiting for ${what}` }).toBe(true);
}

/** watchKinds on the fake's ConfigMaps through the proxy; `names()` is what the caller last saw. */
function watchThroughProxy(idleTimeoutMs?: number) {
  const stop = new AbortController();
  stops.push(stop);
  let names: string[] = [];
  const done = watchKinds(
    gateway,
    [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: api.namespace }],
    (state: WatchedState) => {
      names = [...state.values()].map((o) => o.metadata.name).sort();
    },
    stop.signal,
    { idleTimeoutMs },
  );
  return {
    done,
    converged: () => JSON.stringify(names) === JSON.stringify(Object.keys(api.snapshot()).sort()),
  };
}

describe('FaultProxy', () => {
  it('forwards lists and watches unchanged', async () => {
    api.put('a', { v: '1' });
    const w = watchThroughProxy();
    await waitFor(w.converged, 'the list through the proxy');
    api.put('b', { v: '1' });
    await waitFor(w.converged, 'the event through the proxy');
    expect(proxy.openWatches()).toHaveLength(1);
    expect(proxy.matching({ watch: false, path: '/configmaps' })[0]?.status).toBe(200);
  });

  it('injects a 410 ERROR event into open watches and ends them: the client relists', async () => {
    const w = watchThroughProxy();
    await waitFor(() => proxy.openWatches().length === 1, 'the watch');
    expect(proxy.injectWatchError()).toBe(1);
    await waitFor(() => api.requestsOf('list').length === 2, 'the relist');
    expect(proxy.matching({ watch: true })[0]?.injectedErrors).toEqual([410]);
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'convergence after the relist');
  });

  it('records ERROR events the server itself sends, apart from injected ones', async () => {
    const w = watchThroughProxy();
    await waitFor(() => api.openWatches().length === 1, 'the watch');
    api.openWatches()[0]?.sendError(410, 'Expired', 'too old resource version');
    await waitFor(() => api.requestsOf('list').length === 2, 'the relist');
    expect(proxy.matching({ watch: true })[0]).toMatchObject({ upstreamErrors: [410], injectedErrors: [] });
    await waitFor(w.converged, 'convergence');
  });

  it('drops open connections mid-stream: the client resumes from its last resourceVersion', async () => {
    api.put('a', { v: '1' });
    const w = watchThroughProxy();
    await waitFor(w.converged, 'the list');
    const rv = api.resourceVersion;
    await waitFor(() => proxy.openWatches().length === 1, 'the watch');
    expect(proxy.dropConnections({ watch: true })).toBe(1);
    await waitFor(() => proxy.openWatches().length === 1 && proxy.matching({ watch: true }).length === 2, 'resume');
    expect(proxy.matching({ watch: true })[1]?.query.get('resourceVersion')).toBe(rv);
    expect(api.requestsOf('list')).toHaveLength(1);
  });

  it('stalls open watches: the client gives up after its idle timeout and resumes', async () => {
    const w = watchThroughProxy(300);
    await waitFor(() => proxy.openWatches().length === 1, 'the watch');
    expect(proxy.stallWatches()).toBe(1);
    api.put('a', { v: '1' }); // discarded by the stalled stream
    await waitFor(() => proxy.matching({ watch: true })[0]?.closed === true, 'the client to close the stalled watch');
    await waitFor(w.converged, 'a, through the resumed watch');
  });

  it('answers matching requests with 429 and Retry-After, then lets them through', async () => {
    proxy.add({
      match: { method: 'GET', watch: false, path: '/configmaps' },
      fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      times: 1,
    });
    const started = performance.now();
    const listed = await gateway.list('v1', 'ConfigMap', { namespace: api.namespace });
    expect(listed.resourceVersion).toBe(api.resourceVersion);
    expect(performance.now() - started).toBeGreaterThanOrEqual(995);
    expect(proxy.matching({ path: '/configmaps' }).map((r) => [r.status, r.fault])).toEqual([
      [429, 'status'],
      [200, undefined],
    ]);
  });

  it('answers 503 to matching requests until the rule is removed', async () => {
    const remove = proxy.add({ match: { watch: false, path: '/configmaps' }, fault: { kind: 'status', status: 503 } });
    await expect(gateway.list('v1', 'ConfigMap', { namespace: api.namespace })).rejects.toMatchObject({
      status: 503,
    });
    remove();
    await expect(gateway.list('v1', 'ConfigMap', { namespace: api.namespace })).resolves.toMatchObject({
      items: [],
    });
  });

  it('delays matching requests before forwarding them', async () => {
    proxy.add({ match: { path: '/configmaps' }, fault: { kind: 'delay', ms: 300 }, times: 1 });
    await gateway.list('v1', 'ConfigMap', { namespace: api.namespace });
    const [seen] = proxy.matching({ path: '/configmaps' });
    const [arrived] = api.requestsOf('list');
    expect((arrived?.at ?? 0) - (seen?.at ?? 0)).toBeGreaterThanOrEqual(295);
  });

  it('stalls new watches by rule: headers, then silence, until the client gives up', async () => {
    proxy.add({ match: { watch: true }, fault: { kind: 'stall' }, times: 1 });
    const w = watchThroughProxy(300);
    await waitFor(() => proxy.matching({ watch: true }).length === 2, 'the client to give up and watch again');
    expect(proxy.matching({ watch: true })[0]).toMatchObject({ fault: 'stall', status: 200, closed: true });
    api.put('a', { v: '1' });
    await waitFor(w.converged, 'a, through the second watch');
  });
});
