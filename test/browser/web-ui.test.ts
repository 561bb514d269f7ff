/**
 * The Temporal Web UI with payload encryption, in a real browser (Debian's Chromium driven by playwright-core).
 *
 * The test runs its own Temporal dev server whose embedded Web UI is started with `--ui-codec-endpoint` pointing at
 * a codec server (`startCodecServer`, CORS-restricted to the UI's origin, no token); the worker and the client
 * encrypt every payload with AES-256-GCM. The Kubernetes cluster is the shared one from test/global-setup.ts.
 *
 * A deploy whose manifest holds a canary value runs to completion, then:
 * - with the codec endpoint, the UI shows the run as Completed, its static summary (`deploy …`, itself an
 *   encrypted payload) and the decoded input holding the canary — and the plaintext reached the browser only
 *   from the codec server: no answer of the UI server's own HTTP API contains the canary in any form;
 * - without it (a fresh browser context in which the UI's `/api/v1/settings` answer has its codec endpoint
 *   removed, and the codec server unreachable), the same page shows only the encrypted payload, no summary and no
 *   canary; the history the UI server serves over HTTP does not contain it either.
 *
 * Screenshots: test/artifacts/web-ui-decoded.png and test/artifacts/web-ui-undecoded.png.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../../src/client/index.js';
import { AesGcmPayloadCodec, startCodecServer, type CodecServer } from '../../src/codec/index.js';
import { resolveToolchain } from '../../src/dev/index.js';
import { freePorts, isAlive, pollUntil, tailLines, waitForExit } from '../../src/dev/process.js';
import { createKubeGateway, type KubeGateway } from '../../src/kube/index.js';
import { createKubeWorker, loadWorkerConfig, type KubeWorker } from '../../src/worker/index.js';
import { forgetChild, killWithThisProcess } from '../support/children.js';
import { canaryNeedles, newCanary } from '../support/canary.js';

const CHROMIUM = process.env.KUBE_WORKFLOWS_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const UI_TIMEOUT_MS = 30_000;

const keyId = 'web-ui-key';
const keyBase64 = randomBytes(32).toString('base64');
const encryption = { keys: [{ id: keyId, key: keyBase64 }], encryptWith: keyId };
const suffix = randomBytes(3).toString('hex');
const kubeNamespace = `web-ui-${suffix}`;
const taskQueue = `test-web-ui-${suffix}`;
const app = 'web-ui';
const canary = newCanary();

const needles = canaryNeedles(canary);
const canaryIn = (text: string): boolean => needles.some((n) => text.includes(n));
const base64 = (text: string): string => Buffer.from(text).toString('base64');

let workdir = '';
let temporalPid: number | undefined;
let temporalLog = '';
let temporalAddress = '';
let uiUrl = '';
let codecServer: CodecServer | undefined;
/** Every request the codec server answered (path and status; never payloads). */
const codecRequests: { path: string; status: number }[] = [];
let kube: KubeGateway | undefined;
let connection: NativeConnection | undefined;
let worker: KubeWorker | undefined;
let running: Promise<void> | undefined;
let client: KubeWorkflowsClient | undefined;
let browser: Browser | undefined;

function temporalLogTail(): string {
  try {
    return tailLines(readFileSync(temporalLog, 'utf8'), 25);
  } catch {
    return '(no log)';
  }
}

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  const stack = inject('stack');
  workdir = mkdtempSync(join(tmpdir(), 'kwf-web-ui-'));
  mkdirSync(ARTIFACTS, { recursive: true });

  // Ports first: the codec server must know the UI's origin before the UI knows the codec server's URL.
  const [grpcPort, uiPort, httpPort, metricsPort] = (await freePorts(4)) as [number, number, number, number];
  uiUrl = `http://127.0.0.1:${uiPort}`;
  temporalAddress = `127.0.0.1:${grpcPort}`;
  codecServer = await startCodecServer({
    port: 0,
    codec: new AesGcmPayloadCodec(encryption),
    allowedOrigins: [uiUrl],
    onRequest: ({ path, status }) => codecRequests.push({ path, status }),
  });

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(grpcPort),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--ui-codec-endpoint',
    codecServer.url,
    '--namespace',
    'default',
    ...['KubeCluster', 'KubeNamespace', 'KubeApp', 'KubeOutcome'].flatMap((a) => [
      '--search-attribute',
      `${a}=Keyword`,
    ]),
    '--log-level',
    'warn',
  ];
  temporalLog = join(workdir, 'temporal.log');
  const fd = openSync(temporalLog, 'a');
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
    const child = spawn(resolveToolchain().temporal, args, {
      cwd: workdir,
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    child.unref();
    temporalPid = child.pid;
    if (temporalPid !== undefined) killWithThisProcess(temporalPid, true); // also on Ctrl-C of the test run
  } finally {
    closeSync(fd);
  }
  if (temporalPid === undefined) throw new Error('could not start the Temporal dev server');

  // Ready when the UI server answers for the namespace (it proxies to the frontend over gRPC).
  const ready = await pollUntil(
    async () => {
      if (temporalPid !== undefined && !isAlive(temporalPid)) return 'exited' as const;
      const status = await fetch(`${uiUrl}/api/v1/namespaces/default`).then(
        (r) => r.status,
        () => 0,
      );
      return status === 200 ? ('ok' as const) : false;
    },
    60_000,
    250,
  );
  if (ready !== 'ok') {
    throw new Error(
      `${ready === 'exited' ? 'the Temporal dev server exited' : `Temporal UI ${uiUrl} did not answer within 60s`}:\n${temporalLogTail()}`,
    );
  }

  kube = await createKubeGateway('local', { kubeconfig: stack.kubeconfig });
  await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: kubeNamespace } });
  const config = loadWorkerConfig({
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: taskQueue,
    KUBECONFIG: stack.kubeconfig,
    KUBE_WORKFLOWS_CLUSTER: 'local',
    KUBE_WORKFLOWS_ENCRYPTION_KEYS: `${keyId}:${keyBase64}`,
  });
  expect(config.encryption?.encryptWith).toBe(keyId);
  connection = await NativeConnection.connect({ address: temporalAddress });
  worker = await createKubeWorker({ config, connection, workflowsFromSource: true });
  running = worker.worker.run();
  client = await createKubeWorkflowsClient({
    address: temporalAddress,
    namespace: 'default',
    taskQueue,
    encryption,
    defaultCluster: 'local', // the worker's cluster name: ids and the summary name it
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await client?.close().catch(() => undefined);
  if (running && worker) {
    worker.worker.shutdown();
    await running.catch(() => undefined);
  }
  await worker?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await codecServer?.close().catch(() => undefined);
  if (temporalPid !== undefined) forgetChild(temporalPid);
  if (temporalPid !== undefined && isAlive(temporalPid)) {
    // its own process group (detached): the dev server and anything it started
    process.kill(-temporalPid, 'SIGTERM');
    if ((await waitForExit([temporalPid], 10_000)).length > 0) {
      process.kill(-temporalPid, 'SIGKILL');
      await waitForExit([temporalPid], 5_000);
    }
  }
  if (kube) {
    await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name: kubeNamespace }).catch(() => undefined);
    kube.close();
  }
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

/** An answer of the UI server's HTTP API, as the browser received it. */
interface ApiAnswer {
  url: string;
  body: string;
}

/**
 * A browser context whose page records the body of every answer of the UI server's HTTP API (`/api/v1/…`);
 * `apiAnswers()` waits until every body seen so far has been read.
 */
async function recordingContext(): Promise<{
  context: BrowserContext;
  page: Page;
  apiAnswers: () => Promise<ApiAnswer[]>;
}> {
  if (!browser) throw new Error('no browser');
  const context = await browser.newContext({ viewport: { width: 1400, height: 2400 } });
  const page = await context.newPage();
  const reads: Promise<ApiAnswer | undefined>[] = [];
  page.on('response', (res) => {
    if (!res.url().startsWith(`${uiUrl}/api/v1/`)) return;
    reads.push(
      res.text().then(
        (body) => ({ url: res.url(), body }),
        () => undefined,
      ),
    );
  });
  const apiAnswers = async (): Promise<ApiAnswer[]> =>
    (await Promise.all(reads)).filter((a): a is ApiAnswer => a !== undefined);
  return { context, page, apiAnswers };
}

/** The `Summary` field of the event history (the start event's row). */
const summaryField = (page: Page): Locator => page.getByText('Summary', { exact: true }).first().locator('..');

/** Opens the workflow list, waits until it lists `workflowId` and opens that run. */
async function openFromList(page: Page, workflowId: string): Promise<void> {
  await page.goto(`${uiUrl}/namespaces/default/workflows`);
  const link = page.getByRole('link', { name: workflowId, exact: true });
  await link.first().waitFor({ timeout: UI_TIMEOUT_MS });
  await link.first().click();
  await page.waitForURL(/\/namespaces\/default\/workflows\/.+\/history/, { timeout: UI_TIMEOUT_MS });
  await page.getByRole('heading', { name: 'Input' }).waitFor({ timeout: UI_TIMEOUT_MS });
}

describe('Temporal Web UI with the codec server', () => {
  let workflowId = '';
  let summary = '';

  it('runs an encrypted deploy to completion', async () => {
    const manifests = `
apiVersion: v1
kind: ConfigMap
metadata: { name: web-ui-secrets, namespace: ${kubeNamespace} }
data: { API_TOKEN: ${canary} }
`;
    const handle = await client!.deploy({ manifests, app, timeoutSeconds: 60 });
    workflowId = handle.workflowId;
    const report = await handle.result();
    expect(report.outcome).toBe('succeeded');
    summary = `deploy ${app} (1 objects) to local/${kubeNamespace}`;
    const description = await client!.temporal.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(await description.staticSummary()).toBe(summary);
  });

  it('shows the status, the summary and the decoded input (canary) through the codec endpoint', async () => {
    expect(workflowId).not.toBe('');
    const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as { Codec: { Endpoint: string } };
    expect(settings.Codec.Endpoint).toBe(codecServer!.url);

    const { context, page, apiAnswers } = await recordingContext();
    try {
      const decodes = codecRequests.filter((r) => r.path === '/decode').length;
      await openFromList(page, workflowId);
      await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: UI_TIMEOUT_MS });
      // the static summary (an encrypted payload too) in the start event's row of the event history
      await summaryField(page).getByText(summary, { exact: true }).waitFor({ timeout: UI_TIMEOUT_MS });
      const input = page.getByRole('heading', { name: 'Input' }).locator('..');
      await input.getByText(canary).first().waitFor({ timeout: UI_TIMEOUT_MS });
      await expect.poll(() => input.innerText(), { timeout: UI_TIMEOUT_MS }).toContain(`API_TOKEN: ${canary}`);
      // the browser got the plaintext from the codec server (successful /decode calls from the UI's origin) …
      const ok = codecRequests.slice(decodes).filter((r) => r.path === '/decode' && r.status === 200);
      expect(ok.length).toBeGreaterThan(0);
      // … and never from the UI server
      const answers = await apiAnswers();
      expect(answers.some((a) => a.url.includes('/history'))).toBe(true);
      expect(answers.filter((a) => canaryIn(a.body)).map((a) => a.url)).toEqual([]);
      await page.screenshot({ path: join(ARTIFACTS, 'web-ui-decoded.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('without the codec endpoint, the same page and the UI server API show only ciphertext', async () => {
    expect(workflowId).not.toBe('');
    const { context, page, apiAnswers } = await recordingContext();
    try {
      // A UI configured without a codec endpoint: its settings answer is rewritten, and the codec server is
      // unreachable from this context anyway.
      await context.route(`${uiUrl}/api/v1/settings**`, async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { Codec: Record<string, unknown> };
        await route.fulfill({ response, json: { ...body, Codec: { ...body.Codec, Endpoint: '' } } });
      });
      let codecCalls = 0;
      await context.route(`${codecServer!.url}/**`, async (route) => {
        codecCalls++;
        await route.abort();
      });
      const served = codecRequests.length;

      await openFromList(page, workflowId);
      await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: UI_TIMEOUT_MS });
      // the payload as stored: the UI shows its metadata (encoding, key id) and data, all base64
      const input = page.getByRole('heading', { name: 'Input' }).locator('..');
      await input.getByText(base64('binary/encrypted')).waitFor({ timeout: UI_TIMEOUT_MS });
      await input.getByText(base64(keyId)).waitFor({ timeout: UI_TIMEOUT_MS });
      const text = await page.locator('body').innerText();
      const html = await page.content();
      expect(canaryIn(text)).toBe(false);
      expect(canaryIn(html)).toBe(false);
      expect(text).not.toContain(summary);
      expect(codecCalls).toBe(0);
      expect(codecRequests.length).toBe(served);
      const answers = await apiAnswers();
      expect(answers.some((a) => a.url.includes('/history'))).toBe(true);
      expect(answers.filter((a) => canaryIn(a.body)).map((a) => a.url)).toEqual([]);
      await page.screenshot({ path: join(ARTIFACTS, 'web-ui-undecoded.png'), fullPage: true });
    } finally {
      await context.close();
    }

    // The UI server's HTTP API, called directly: the history holds the input only encrypted.
    const res = await fetch(
      `${uiUrl}/api/v1/namespaces/default/workflows/${encodeURIComponent(workflowId)}/history?maximumPageSize=1000`,
    );
    expect(res.status).toBe(200);
    const body = await res.text();
    const history = JSON.parse(body) as {
      history: {
        events: {
          workflowExecutionStartedEventAttributes?: { input: { payloads: { metadata: Record<string, string> }[] } };
        }[];
      };
    };
    const input = history.history.events[0]?.workflowExecutionStartedEventAttributes?.input.payloads ?? [];
    expect(input.map((p) => Buffer.from(p.metadata.encoding ?? '', 'base64').toString())).toEqual(['binary/encrypted']);
    expect(canaryIn(body)).toBe(false);
  });
});
