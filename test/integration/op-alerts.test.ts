/**
 * Operation alerts (`notify`) end to end on the real stack: a real Alertmanager (Debian `prometheus-alertmanager`)
 * and a webhook receiver that verifies Standard Webhooks signatures independently (the `standardwebhooks` package).
 * A deploy whose pods crash-loop rolls back and sends exactly ONE alert to each, carrying the reason, what was
 * undone, the pod's last log lines (its previous instance's, read through `pods/log` from KWOK, whose `ClusterLogs`
 * this file points at log files it wrote), its Events, and the run's Web UI link. A succeeded deploy is silent by
 * default and alerts once when `on` names `succeeded`; a failed scale alerts once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { criLogLines } from '../../src/dev/pod-logs.js';
import { operationDedupKey } from '../../src/domain/op-alert.js';
import type { AlertEvent } from '../../src/schemas/alerts.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { deploymentObject } from '../support/workloads.js';
import { useHarness } from './harness.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'kwf-op-alerts-'));
const uiUrl = inject('stack').temporalUiUrl;
let am: RunningAlertmanager;
let hooks: TestReceiver;
/** Every webhook that passed signature verification: its id and the event it carried. */
const verified: { id: string; event: AlertEvent }[] = [];

const h = useHarness('op-alerts', {
  env: async () => {
    am = await startAlertmanager();
    hooks = await startReceiver((req) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        data: AlertEvent;
      };
      verified.push({ id: String(req.headers['webhook-id']), event: payload.data });
      return { status: 204 };
    });
    const file = join(dir, 'worker.yaml');
    writeFileSync(
      file,
      `alerts:\n  am: { type: alertmanager, url: "${am.url}" }\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`,
    );
    return { KUBE_WORKFLOWS_CONFIG: file, TEMPORAL_UI_URL: uiUrl };
  },
});

/** What the containers of this file's namespace "logged" (KWOK serves these files through the kubelet API). */
const CURRENT_LOG = ['starting web v2', 'listening on :8080'];
const PREVIOUS_LOG = ['starting web v2', 'FATAL: config key DATABASE_URL is missing', 'exiting with code 1'];
const logsName = (): string => `op-alerts-${h.namespace}`;

beforeAll(async () => {
  writeFileSync(join(dir, 'current.log'), criLogLines(CURRENT_LOG));
  writeFileSync(join(dir, 'previous.log'), criLogLines(PREVIOUS_LOG));
  await h.kube.apply({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterLogs',
    metadata: { name: logsName() },
    spec: {
      selector: { matchNamespaces: [h.namespace] },
      logs: [{ containers: [], logsFile: join(dir, 'current.log'), previousLogsFile: join(dir, 'previous.log') }],
    },
  });
});

afterAll(async () => {
  await h.kube
    .delete({ apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterLogs', name: logsName() })
    .catch(() => undefined);
  await hooks?.close();
  await am?.stop();
});

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  generatorURL?: string;
}

async function alertsIn(dedupKey: string): Promise<AmAlert[]> {
  const all = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as AmAlert[];
  return all.filter((a) => a.labels.dedup_key === dedupKey);
}

const hooksFor = (dedupKey: string) => verified.filter((v) => v.event.dedupKey === dedupKey);

function manifests(name: string, chaos?: string): string {
  return JSON.stringify(
    deploymentObject({ name, namespace: h.namespace, replicas: 1, image: `registry.example/${name}:2`, chaos }),
  );
}

const link = (workflowId: string, runId: string): string =>
  `${uiUrl}/namespaces/${inject('stack').temporalNamespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;

describe('operation alerts (notify)', () => {
  it('a deploy whose pods crash-loop rolls back and sends ONE alert to Alertmanager and ONE signed webhook, with logs, Events and the link', async () => {
    const handle = await h.client.deploy({
      manifests: manifests('web', 'crash'),
      app: 'web',
      timeoutSeconds: 60,
      notify: { channels: ['am', 'hook'] },
    });
    const report = await handle.result();
    expect(report.outcome).toBe('rolledBack');
    const key = operationDedupKey(handle.workflowId, handle.runId);
    expect(report.notifications).toEqual([
      { channel: 'am', status: 'sent', httpStatus: 200, dedupKey: key },
      { channel: 'hook', status: 'sent', httpStatus: 204, dedupKey: key },
    ]);

    const [hook, ...more] = hooksFor(key);
    expect(more).toHaveLength(0);
    const event = hook?.event as AlertEvent;
    expect(event.summary).toMatch(/^deployManifests rolledBack: /);
    expect(event.url).toBe(link(handle.workflowId, handle.runId));
    expect(event.details?.reason).toMatch(/^RolloutFailed: rollout failed: .*CrashLoopBackOff/);
    expect(event.details?.undone).toBe(`Deployment/${h.namespace}/web deleted`);
    expect(event.details?.pods).toMatch(
      new RegExp(`^Pod/${h.namespace}/web-[a-z0-9-]+: CrashLoopBackOff: container app`),
    );
    // the crashed instance's last lines, read through pods/log?previous=true before the rollback deleted the pod
    expect(event.details?.logs).toContain('(previous instance)');
    expect(event.details?.logs).toContain('FATAL: config key DATABASE_URL is missing');
    expect(event.details?.events).toMatch(/Warning BackOff Pod\//);

    const inAm = await alertsIn(key);
    expect(inAm).toHaveLength(1);
    expect(inAm[0]?.labels).toMatchObject({
      alertname: 'KubeWorkflowsOperation',
      outcome: 'rolledBack',
      severity: 'error',
    });
    expect(inAm[0]?.annotations.logs).toContain('FATAL: config key DATABASE_URL is missing');
    expect(inAm[0]?.generatorURL).toBe(link(handle.workflowId, handle.runId));
  });

  it('a succeeded deploy sends nothing by default, and one alert when on names succeeded', async () => {
    const quiet = await h.client.deploy({
      manifests: manifests('api'),
      app: 'api',
      notify: { channels: ['am', 'hook'] },
    });
    const silent = await quiet.result();
    expect(silent.outcome).toBe('succeeded');
    expect(silent.notifications).toBeUndefined();
    expect(hooksFor(operationDedupKey(quiet.workflowId, quiet.runId))).toHaveLength(0);
    expect(await alertsIn(operationDedupKey(quiet.workflowId, quiet.runId))).toHaveLength(0);

    const asked = await h.client.deploy({
      manifests: manifests('api', 'slow'),
      app: 'api',
      notify: { channels: ['hook'], on: ['succeeded'] },
    });
    const report = await asked.result();
    expect(report.outcome).toBe('succeeded');
    const sent = hooksFor(operationDedupKey(asked.workflowId, asked.runId));
    expect(sent).toHaveLength(1);
    expect(sent[0]?.event).toMatchObject({ severity: 'info', labels: { outcome: 'succeeded' } });
    expect(sent[0]?.event.url).toBe(link(asked.workflowId, asked.runId));
    expect(report.notifications).toEqual([expect.objectContaining({ channel: 'hook', status: 'sent' })]);
  });

  it('a failed scale alerts once, with the unready pods and their current log', async () => {
    await h.kube.apply(
      deploymentObject({
        name: 'worker',
        namespace: h.namespace,
        replicas: 1,
        image: 'registry.example/worker:1',
        chaos: 'unready',
      }),
    );
    const handle = await h.client.scale({
      kind: 'Deployment',
      name: 'worker',
      namespace: h.namespace,
      replicas: 2,
      timeoutSeconds: 5,
      notify: { channels: ['am', 'hook'], logLines: 1 },
    });
    const report = await handle.result();
    expect(report.outcome).toBe('failed');
    const runId = (await handle.raw.describe()).runId;
    const key = operationDedupKey(handle.workflowId, runId);
    const sent = hooksFor(key);
    expect(sent).toHaveLength(1);
    const event = sent[0]?.event as AlertEvent;
    expect(event.summary).toMatch(/^scaleWorkload failed: /);
    expect(event.details?.done).toBe(`Deployment/${h.namespace}/worker replicas 1 → 2`);
    expect(event.details?.pods).toContain('not Ready');
    // logLines 1: only the last line of the running container's log
    expect(event.details?.logs).toContain('listening on :8080');
    expect(event.details?.logs).not.toContain('starting web v2');
    expect(await alertsIn(key)).toHaveLength(1);
    expect(report.notifications?.map((n) => n.status)).toEqual(['sent', 'sent']);
  });
});
