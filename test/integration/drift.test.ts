/**
 * Drift detection on the real stack, one story in order: an app (ConfigMap, Deployment `web`, Deployment `api` with a
 * real HorizontalPodAutoscaler whose controller raises it to its minReplicas) is deployed; a scan finds only the
 * HPA's count, attributed to the controller and ignored; a second scan with nothing changed sends no dry-run (the
 * API server's audit log agrees), also between two runs of a Temporal Schedule; a real `kubectl edit` is reported with old → new value and who set it, and
 * corrected (live value restored) under policy `correct`; another edit under policy `alert` reaches a signed
 * webhook receiver exactly once and is left as it is. The deploy plan's old → new values are checked on the same
 * objects through the `planDeploy` activity. With RECORD_DRIFT_FIXTURES=1 the live objects are written to
 * test/fixtures/drift/ for the attribution unit tests.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { createDeployActivities } from '../../src/activities/deploy.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import type { DeployPlan } from '../../src/schemas/activities.js';
import type { DriftReport } from '../../src/schemas/drift.js';
import { auditMark, readAuditWrites } from '../support/audit.js';
import { runCli } from '../support/cli.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { pollUntil } from '../support/poll.js';
import { deploymentObject } from '../support/workloads.js';
import { recordHistory, useHarness } from './harness.js';

const execFileP = promisify(execFile);
const secret = `whsec_${randomBytes(32).toString('base64')}`;
let hooks: TestReceiver;
const verified: {
  id: string;
  type: string;
  data: { dedupKey?: string; summary?: string; details?: Record<string, string> };
}[] = [];

const h = useHarness('drift', {
  env: async () => {
    hooks = await startReceiver((req) => {
      verified.push(
        new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as (typeof verified)[0],
      );
      return { status: 204 };
    });
    const dir = mkdtempSync(join(tmpdir(), 'kwf-drift-'));
    const file = join(dir, 'worker.yaml');
    writeFileSync(file, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    return { KUBE_WORKFLOWS_CONFIG: file };
  },
});

afterAll(async () => {
  await hooks?.close();
});

const APP = 'shop';

function manifests(ns: string): string {
  const objects = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: ns }, data: { color: 'blue' } },
    deploymentObject({ name: 'web', namespace: ns, replicas: 3, image: 'web:1' }),
    deploymentObject({ name: 'api', namespace: ns, replicas: 1, image: 'api:1' }),
    {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'api', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
        minReplicas: 3,
        maxReplicas: 5,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
        ],
      },
    },
  ];
  return objects.map((o) => toYaml(o)).join('---\n');
}

/** Runs `kubectl edit` for real, with an editor that rewrites the file with `sed` (kubectl records `kubectl-edit`). */
async function kubectlEdit(ns: string, target: string, sedExpression: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-editor-'));
  const editor = join(dir, 'edit.sh');
  writeFileSync(editor, `#!/bin/sh\nexec sed -i '${sedExpression}' "$1"\n`);
  chmodSync(editor, 0o755);
  await execFileP('kubectl', ['--kubeconfig', h.kubeconfig, 'edit', '-n', ns, target], {
    env: { ...process.env, EDITOR: editor, KUBE_EDITOR: editor },
  });
}

async function deployment(
  name: string,
): Promise<{ replicas: number | undefined; image: string | undefined; available: number | undefined }> {
  const d = (await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name })) as {
    spec?: { replicas?: number; template?: { spec?: { containers?: { image?: string }[] } } };
    status?: { availableReplicas?: number };
  };
  return {
    replicas: d.spec?.replicas,
    image: d.spec?.template?.spec?.containers?.[0]?.image,
    available: d.status?.availableReplicas,
  };
}

async function scan(input: Partial<Parameters<typeof h.client.drift.detect>[0]> = {}): Promise<DriftReport> {
  const handle = await h.client.drift.detect({
    app: APP,
    namespace: h.namespace,
    manifests: manifests(h.namespace),
    ...input,
  });
  return handle.result();
}

/** The drifted fields a policy does not ignore, one line each (a readable assertion). */
const notable = (r: DriftReport): string[] =>
  r.objects.flatMap((o) =>
    o.fields.filter((f) => f.action !== 'ignore').map((f) => `${o.subject} ${f.path}: ${f.from} → ${f.to} ${f.class}`),
  );

const fieldOf = (r: DriftReport, subject: string, path: string) =>
  r.objects.find((o) => o.subject === subject)?.fields.find((f) => f.path === path);

describe('detectDrift on the local stack', () => {
  let baseline: DriftReport;

  it("ignores the HPA controller's count, attributed to it, and finds nothing else after a deploy", async () => {
    const deploy = await h.client.deploy({
      manifests: manifests(h.namespace),
      app: APP,
      namespace: h.namespace,
      wait: false,
    });
    expect((await deploy.result()).outcome).toBe('succeeded');
    // The real HPA controller raises api to minReplicas (no metrics needed below the minimum); pods become Ready.
    await pollUntil(
      () => deployment('api'),
      (d) => d.replicas === 3 && d.available === 3,
      90_000,
    );
    await pollUntil(
      () => deployment('web'),
      (d) => d.available === 3,
      60_000,
    );
    if (process.env.RECORD_DRIFT_FIXTURES === '1') await recordFixture('deployment-api-hpa', 'api');

    baseline = await scan();
    expect(notable(baseline)).toEqual([]);
    expect(baseline.outcome).toBe('inSync');
    expect(baseline.dryRuns).toBeGreaterThanOrEqual(4);
    const replicas = fieldOf(baseline, `Deployment/${h.namespace}/api`, 'spec.replicas');
    expect(replicas).toMatchObject({ from: '1', to: '3', class: 'controller', action: 'ignore' });
    // The HPA controller writes through the scale subresource; this API server records no managedFields entry for
    // that write (see the fixture deployment-api-hpa.yaml), so the class comes from the HPA that targets it.
    expect(replicas?.leftTo).toContain(`replicas left to HorizontalPodAutoscaler ${h.namespace}/api`);
    for (const o of replicas?.owners ?? []) expect(o.manager).toBe('kube-controller-manager');
    for (const name of ['web', 'web-config']) {
      const o = baseline.objects.find((x) => x.name === name);
      expect(o?.state).toBe('inSync');
      expect(o?.fields).toEqual([]);
    }
    expect(baseline.notInManifests).toEqual([]);
    expect(baseline.notInInventory).toEqual([]);
  });

  it('dry-runs no object in a second scan when nothing changed (report and audit log)', async () => {
    const mark = auditMark(inject('stack').auditLogPath);
    const again = await scan({ previous: baseline });
    expect(again.dryRuns).toBe(0);
    expect(again.objects.every((o) => !o.scanned)).toBe(true);
    expect(again.outcome).toBe('inSync');
    expect(fieldOf(again, `Deployment/${h.namespace}/api`, 'spec.replicas')?.class).toBe('controller');
    const dryRuns = readAuditWrites(inject('stack').auditLogPath, {
      ...mark,
      namespace: h.namespace,
      includeDryRun: true,
    }).filter((w) => w.dryRun);
    expect(dryRuns).toEqual([]);
    baseline = again;
  });

  it('hands each scheduled scan the previous report (last completion result): the second run dry-runs nothing', async () => {
    const scheduleId = `drift-${h.namespace}`;
    await h.client.schedules.createDriftScan({
      scheduleId,
      cron: '0 4 1 1 *', // never during the test: runs are triggered
      input: { app: APP, namespace: h.namespace, manifests: manifests(h.namespace) },
    });
    try {
      // A trigger with the schedule's own overlap policy (skip): Temporal hands the last completion result only to
      // such runs (the SDK's default for a trigger, ALLOW_ALL, runs outside that chain). Until the scheduler has seen
      // the previous run complete, it skips the trigger: trigger again until the run starts.
      const runOf = async (n: number): Promise<DriftReport> => {
        const d = await pollUntil(
          async () => {
            const described = await h.client.schedules.describe(scheduleId);
            if (described.info.recentActions.length < n) await h.client.schedules.trigger(scheduleId); // the schedule's own overlap (skip): keeps the chain
            return described;
          },
          (x) => x.info.recentActions.length >= n,
        );
        const id = d.info.recentActions[n - 1]?.action.workflow.workflowId ?? '';
        return (await h.client.temporal.workflow.getHandle(id).result()) as DriftReport;
      };
      const first = await runOf(1);
      expect(first.dryRuns).toBeGreaterThanOrEqual(4); // no previous report: everything is dry-run
      const second = await runOf(2);
      expect(second.dryRuns).toBe(0);
      expect(second.objects.map((o) => o.scanned)).toEqual(first.objects.map(() => false));
      expect(second.outcome).toBe('inSync');
    } finally {
      await h.client.schedules.delete(scheduleId);
    }
  });

  it('reports a kubectl edit with old → new value and who made it, and corrects it under policy correct', async () => {
    await kubectlEdit(h.namespace, 'deployment/web', '0,/replicas: 3/s//replicas: 5/');
    expect((await deployment('web')).replicas).toBe(5);
    if (process.env.RECORD_DRIFT_FIXTURES === '1') await recordFixture('deployment-web-kubectl-edit', 'web');

    const handle = await h.client.drift.detect({
      app: APP,
      namespace: h.namespace,
      manifests: manifests(h.namespace),
      previous: baseline,
      policy: { human: 'correct' },
    });
    const report = await handle.result();
    await recordHistory('drift-correct', handle.raw); // RECORD_HISTORIES=1: a history for the replay test
    const web = report.objects.find((o) => o.subject === `Deployment/${h.namespace}/web`);
    expect(web?.scanned).toBe(true);
    expect(report.objects.filter((o) => o.scanned).map((o) => o.name)).toEqual(['web']); // only what moved
    const field = web?.fields.find((f) => f.path === 'spec.replicas');
    expect(field).toMatchObject({ from: '3', to: '5', class: 'human', action: 'correct', corrected: true });
    expect(field?.owners[0]?.manager).toBe('kubectl-edit');
    expect(web?.conflict).toContain('kubectl-edit');
    expect(web?.correction).toBe('corrected');
    expect(report.outcome).toBe('corrected');
    expect(report.correction).toMatchObject({ decision: 'automatic', corrected: [web?.subject], failed: [] });
    expect(report.message).toContain('spec.replicas: 3 → 5 (kubectl-edit, human)');
    expect((await deployment('web')).replicas).toBe(3);
    // The HPA's count stays the HPA's: a correction never carries it.
    expect((await deployment('api')).replicas).toBe(3);
    baseline = report;
  });

  it('alerts a human edit once to a signed webhook under policy alert, and leaves it', async () => {
    await kubectlEdit(h.namespace, 'deployment/web', 's/image: web:1/image: web:2/');
    const before = verified.length;
    const report = await scan({ previous: baseline, policy: { human: 'alert' }, channels: ['hook'] });
    expect(report.outcome).toBe('drifted');
    const field = fieldOf(report, `Deployment/${h.namespace}/web`, 'spec.template.spec.containers[0].image');
    expect(field).toMatchObject({ from: 'web:1', to: 'web:2', class: 'human', action: 'alert' });
    expect(field?.owners[0]?.manager).toBe('kubectl-edit');
    expect(report.correction).toBeUndefined();
    expect(report.alert?.channels).toEqual(['hook']);
    const received = verified.slice(before);
    expect(received).toHaveLength(1);
    expect(received[0]?.data.dedupKey).toBe(report.alert?.dedupKey);
    expect(Object.values(received[0]?.data.details ?? {}).join('\n')).toContain(
      'spec.template.spec.containers[0].image: web:1 → web:2 (kubectl-edit, human)',
    );
    expect((await deployment('web')).image).toBe('web:2');
  });

  it('waits for drift-approve (the CLI) before correcting, and says who approved', async () => {
    // the image edit the previous test left in place, corrected this time behind an approval
    const handle = await h.client.drift.detect({
      app: APP,
      namespace: h.namespace,
      manifests: manifests(h.namespace),
      previous: baseline,
      policy: { human: 'correct' },
      requireApproval: true,
    });
    await pollUntil(
      () => handle.status(),
      (s) => s.phase === 'awaitingApproval',
    );
    expect((await deployment('web')).image).toBe('web:2');
    const cluster = handle.workflowId.split('/')[1] ?? 'local';
    const cli = await runCli(
      ['drift-approve', APP, '-n', h.namespace, '--cluster', cluster, '--by', 'alice', '--comment', 'revert'],
      h.taskQueue,
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toContain('correction approved by alice');
    const report = await handle.result();
    expect(report.outcome).toBe('corrected');
    expect(report.correction).toMatchObject({ decision: 'approved', by: 'alice' });
    expect((await deployment('web')).image).toBe('web:1');
    baseline = report;
  });

  it('shows old → new values in the deploy plan, bounded', async () => {
    const activities = createDeployActivities({ gateway: () => h.kube, policy: DEFAULT_POLICY });
    const objects = [deploymentObject({ name: 'web', namespace: h.namespace, replicas: 3, image: 'web:3' })].map(
      (o) => ({
        ...o,
        metadata: {
          ...o.metadata,
          labels: { 'kube-workflows.dev/app': APP, 'app.kubernetes.io/managed-by': 'kube-workflows' },
        },
      }),
    );
    const plan: DeployPlan = await new MockActivityEnvironment().run(
      (input: Parameters<typeof activities.planDeploy>[0]) => activities.planDeploy(input),
      { cluster: 'local', source: { objects }, force: true },
    );
    const entry = plan.entries[0];
    expect(entry?.action).toBe('configured');
    expect(entry?.changes).toContain('spec.template.spec.containers[0].image'); // unchanged contract
    expect(entry?.changedFields).toContainEqual({
      path: 'spec.template.spec.containers[0].image',
      from: 'web:1', // live since the approved correction above
      to: 'web:3',
    });
  });
});

/** Writes a live object as a YAML fixture (for test/unit/drift.test.ts). */
async function recordFixture(name: string, deploymentName: string): Promise<void> {
  const live = await h.kube.get({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: h.namespace,
    name: deploymentName,
  });
  const dir = new URL('../fixtures/drift/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const header = `# Captured from kube-apiserver + kube-controller-manager on the local stack by test/integration/drift.test.ts\n# (RECORD_DRIFT_FIXTURES=1).\n`;
  writeFileSync(new URL(`${name}.yaml`, dir), header + toYaml(live));
}
