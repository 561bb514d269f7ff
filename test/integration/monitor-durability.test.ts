/**
 * A monitor whose worker is SIGKILLed while an incident is open: after a new worker takes over, the incident is
 * neither re-fired nor lost — exactly one firing alert in Alertmanager and one signed trigger webhook, and fixing
 * the Deployment resolves both once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../../src/client/index.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { spawnCliWorker, useHarness } from './harness.js';

const h = useHarness('mondur');
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const verified: { id: string; type: string }[] = [];
const children = new Set<ChildProcess>();
let am: RunningAlertmanager;
let hooks: TestReceiver;
let configFile: string;
let client: KubeWorkflowsClient;
let taskQueue: string;

beforeAll(async () => {
  am = await startAlertmanager();
  hooks = await startReceiver((req) => {
    const p = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as { type: string };
    verified.push({ id: String(req.headers['webhook-id']), type: p.type });
    return { status: 204 };
  });
  configFile = join(mkdtempSync(join(tmpdir(), 'kwf-mondur-')), 'worker.yaml');
  writeFileSync(
    configFile,
    `alerts:\n  am: { type: alertmanager, url: "${am.url}" }\n  hook: { type: webhook, url: "${hooks.url}/a", secret: "${secret}" }\n`,
  );
  taskQueue = `${h.taskQueue}-child`;
  const stack = inject('stack');
  client = await createKubeWorkflowsClient({
    address: stack.temporalAddress,
    namespace: stack.temporalNamespace,
    taskQueue,
    encryption: false,
  });
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await client?.close();
  await hooks?.close();
  await am?.stop();
});

function startWorker(): ChildProcess {
  const child = spawnCliWorker({ TEMPORAL_TASK_QUEUE: taskQueue, KUBE_WORKFLOWS_CONFIG: configFile });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function deployment(chaos: boolean): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: h.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api', ...(chaos ? { 'kube-workflows.dev/chaos': 'crash' } : {}) } },
        spec: { containers: [{ name: 'api', image: `registry.example/api:${chaos ? 2 : 1}` }] },
      },
    },
  };
}

async function firing(target: string): Promise<number> {
  const alerts = (await (await fetch(`${am.url}/api/v2/alerts?active=true`)).json()) as {
    labels: Record<string, string>;
  }[];
  return alerts.filter((a) => a.labels.target === target).length;
}

describe('a monitor whose worker is killed while an incident is open', () => {
  it('neither re-fires nor loses the incident', async () => {
    const key = `Deployment/${h.namespace}/api`;
    await h.kube.apply(deployment(false) as never);
    const first = startWorker();
    const m = await client.monitor({
      name: `dur-${h.namespace}`,
      targets: [{ type: 'kube', namespace: h.namespace }],
      channels: ['am', 'hook'],
      forSeconds: 1,
      keepAliveSeconds: 15,
    });
    const state = async (): Promise<string | undefined> => (await m.status()).targets.find((t) => t.key === key)?.state;
    await expect.poll(state, { timeout: 60_000, interval: 250 }).toBe('healthy');
    await h.kube.apply(deployment(true) as never);
    await expect.poll(() => verified.filter((v) => v.type === 'alert.triggered').length, { timeout: 60_000 }).toBe(1);
    await expect.poll(() => firing(key), { timeout: 30_000 }).toBe(1);

    const exited = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await exited;
    startWorker();

    await h.kube.apply(deployment(false) as never);
    await expect
      .poll(() => verified.filter((v) => v.type === 'alert.resolved').length, { timeout: 120_000, interval: 250 })
      .toBe(1);
    await expect.poll(() => firing(key), { timeout: 30_000 }).toBe(0);
    expect(verified.filter((v) => v.type === 'alert.triggered')).toHaveLength(1);
    expect(new Set(verified.map((v) => v.id)).size).toBe(2);
    expect((await m.status()).targets.find((t) => t.key === key)?.incidents).toBe(1);
    await m.stop();
  });
});
