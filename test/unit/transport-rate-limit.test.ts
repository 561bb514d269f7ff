/**
 * The transport's client-side rate limit against a real local HTTP server: in `auto` mode the token bucket paces
 * requests only until the server shows API Priority and Fairness (the `X-Kubernetes-PF-FlowSchema-UID` answer
 * header, as kube-apiserver sends on every answer); `always` keeps it, `off` never uses it. Counted through the
 * transport's `delayed` stat (requests that had to wait for a token), not through time.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_SCHEMA_HEADER, KubeTransport, type ClientRateLimit } from '../../src/kube/transport.js';
import { closeNow, listenLocal, plainHttpKubeconfig } from '../support/local-http.js';

let server: Server;
let url: string;
let dir: string;
let kubeconfig: string;
/** Whether the server announces API Priority and Fairness on its answers. */
let announce = true;
let received = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    received++;
    res.setHeader('Content-Type', 'application/json');
    if (announce) res.setHeader(FLOW_SCHEMA_HEADER, '5e3a1c0b-0000-4000-8000-000000000001');
    res.end(JSON.stringify({ kind: 'Namespace', metadata: { name: req.url } }));
  });
  url = await listenLocal(server);
  ({ dir, kubeconfig } = plainHttpKubeconfig('rate', url));
});
afterAll(async () => {
  await closeNow(server);
  rmSync(dir, { recursive: true, force: true });
});

/** A transport with a bucket of one token refilled fast (1,000/s): concurrent requests after the first must wait. */
async function transport(rateLimit?: ClientRateLimit): Promise<KubeTransport> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return KubeTransport.fromKubeConfig(kc, { qps: 1_000, burst: 1, ...(rateLimit ? { rateLimit } : {}) });
}

/** One request, then `n` at once. */
async function burst(t: KubeTransport, n: number): Promise<void> {
  await t.request('GET', '/api/v1/namespaces/first');
  await Promise.all(Array.from({ length: n }, (_, i) => t.request('GET', `/api/v1/namespaces/n${i}`)));
}

describe('client-side rate limit', () => {
  it('auto (the default): once the server shows API Priority and Fairness, no request waits for a token', async () => {
    announce = true;
    const t = await transport();
    const before = received;
    await burst(t, 20);
    expect(received - before).toBe(21);
    expect(t.stats).toMatchObject({ requests: 21, serverFlowControl: true, delayed: 0 });
  });

  it('auto against a server without flow control: the bucket paces every request after its one token', async () => {
    announce = false;
    const t = await transport();
    await burst(t, 20);
    expect(t.stats.serverFlowControl).toBe(false);
    // the first of the 20 may find the token refilled since the lone request; the others queue behind it
    expect(t.stats.delayed).toBeGreaterThanOrEqual(19);
  });

  it('always: the bucket paces requests although the server has flow control', async () => {
    announce = true;
    const t = await transport('always');
    await burst(t, 20);
    expect(t.stats.serverFlowControl).toBe(true);
    expect(t.stats.delayed).toBeGreaterThanOrEqual(19);
  });

  it('off: no request waits, whatever the server', async () => {
    announce = false;
    const t = await transport('off');
    await burst(t, 20);
    expect(t.stats.delayed).toBe(0);
  });
});
