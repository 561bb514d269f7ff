/**
 * monitorHealth beyond workloads that crash, on the real stack (Temporal dev server, kube-apiserver, KWOK), each
 * incident delivered to a real HTTP receiver as a signed webhook (verified with the `standardwebhooks` package):
 * - a monitored Deployment that is deleted raises "Deployment/<ns>/web was deleted"; re-created, it resolves;
 * - a Node that reports NotReady raises an incident; Ready again, it resolves. The stack's kwok controller manages
 *   every node (`--manage-all-nodes`) and its node-initialize stage re-readies at once any node whose Ready is not
 *   True, so the test holds its own node NotReady with a ValidatingAdmissionPolicy that refuses status updates
 *   setting Ready=True on nodes labelled `kube-workflows.dev/hold-not-ready`: the node stays as a kubelet that keeps
 *   reporting NotReady would leave it, and dropping the label lets kwok re-ready it;
 * - a Job that fails (its pod never becomes ready and the Job controller ends it at activeDeadlineSeconds) and a
 *   PersistentVolumeClaim that stays Pending (a StorageClass nobody provisions) raise one incident each.
 * CPU thresholds need metrics-server: test/integration/monitor-resources.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MonitorHandle } from '../../src/client/index.js';
import { startReceiver, type TestReceiver } from '../support/http-receiver.js';
import { deploymentObject } from '../support/workloads.js';
import { recordHistory, useHarness } from './harness.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let hooks: TestReceiver;
/** Every verified webhook: its id, event type, target label and summary. */
const received: { id: string; type: string; target: string; summary: string }[] = [];

const h = useHarness('monitor-breadth', {
  env: async () => {
    hooks = await startReceiver((req) => {
      const payload = new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as {
        type: string;
        data: { labels?: Record<string, string>; summary?: string };
      };
      received.push({
        id: String(req.headers['webhook-id']),
        type: payload.type,
        target: payload.data.labels?.target ?? '',
        summary: payload.data.summary ?? '',
      });
      return { status: 204 };
    });
    const file = join(mkdtempSync(join(tmpdir(), 'kwf-monitor-breadth-')), 'worker.yaml');
    writeFileSync(file, `alerts:\n  hook: { type: webhook, url: "${hooks.url}/alerts", secret: "${secret}" }\n`);
    return { KUBE_WORKFLOWS_CONFIG: file };
  },
});

const HOLD_LABEL = 'kube-workflows.dev/hold-not-ready';
const suffix = randomBytes(3).toString('hex');
const nodeName = `spare-${suffix}`;
const policyName = `hold-not-ready-${suffix}`;

beforeAll(async () => {
  // Created first so that it is in force by the time the node test runs (admission policies load asynchronously).
  await h.kube.apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: policyName },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes/status'] }],
      },
      validations: [
        {
          expression:
            `!(has(object.metadata.labels) && '${HOLD_LABEL}' in object.metadata.labels) || ` +
            "!has(object.status.conditions) || object.status.conditions.all(c, c.type != 'Ready' || c.status != 'True')",
          message: `the node is held NotReady (label ${HOLD_LABEL})`,
        },
      ],
    },
  });
  await h.kube.apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policyName },
    spec: { policyName, validationActions: ['Deny'] },
  });
});

afterAll(async () => {
  for (const key of [
    { apiVersion: 'v1', kind: 'Node', name: nodeName },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', name: policyName },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', name: policyName },
  ]) {
    await h.kube?.delete(key).catch(() => undefined);
  }
  await hooks?.close();
});

async function waitForState(m: MonitorHandle, key: string, state: string, timeout = 60_000): Promise<void> {
  await expect
    .poll(async () => (await m.status()).targets.find((t) => t.key === key)?.state, { timeout, interval: 250 })
    .toBe(state);
}

/** Webhooks received for a target, as `<type>: <summary>`. */
function alertsFor(target: string): string[] {
  return received.filter((r) => r.target === target).map((r) => `${r.type}: ${r.summary}`);
}

async function stop(m: MonitorHandle): Promise<void> {
  await m.stop();
  await m.raw.result().catch(() => undefined); // cancelled
}

describe('monitorHealth: deleted, NotReady, failed and pending objects', () => {
  it('deleting a monitored Deployment raises an incident saying so; re-creating it resolves it', async () => {
    const web = deploymentObject({
      name: 'web',
      namespace: h.namespace,
      labels: { tier: 'web' },
      replicas: 1,
      image: 'registry.example/web:1',
    });
    await h.kube.apply(web);
    const key = `Deployment/${h.namespace}/web`;
    const m = await h.client.monitor({
      name: `deleted-${h.namespace}`,
      targets: [{ type: 'kube', namespace: h.namespace, selector: 'tier=web' }],
      channels: ['hook'],
      forSeconds: 2,
    });
    await waitForState(m, key, 'healthy');

    expect(
      await h.kube.delete({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' }),
    ).toBe(true);
    await waitForState(m, key, 'degraded');
    expect((await m.status()).targets.find((t) => t.key === key)?.message).toBe(`NotFound Deleted: ${key} was deleted`);
    await expect
      .poll(() => alertsFor(key), { timeout: 30_000 })
      .toEqual([`alert.triggered: ${key} is degraded: NotFound Deleted: ${key} was deleted`]);

    await h.kube.apply(web);
    await waitForState(m, key, 'healthy');
    await expect
      .poll(() => alertsFor(key), { timeout: 30_000 })
      .toEqual([
        `alert.triggered: ${key} is degraded: NotFound Deleted: ${key} was deleted`,
        `alert.resolved: ${key} recovered`,
      ]);
    await stop(m);
    await recordHistory('monitor-deleted-workload', m.raw);
  });

  it('a Node that reports NotReady raises an incident, and Ready again resolves it', async () => {
    // Tainted and cordoned: nothing of other tests lands on it.
    await h.kube.apply({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } },
      spec: { unschedulable: true, taints: [{ key: 'kube-workflows.dev/test-node', effect: 'NoSchedule' }] },
    });
    const key = `Node/${nodeName}`;
    const m = await h.client.monitor({
      name: `node-${h.namespace}`,
      targets: [{ type: 'kube', kinds: ['Node'], names: [nodeName] }],
      channels: ['hook'],
      forSeconds: 2,
    });
    await waitForState(m, key, 'healthy'); // kwok initialised it: Ready

    await h.kubectl('label', 'node', nodeName, `${HOLD_LABEL}=true`);
    // The policy is in force once a server-side dry run that sets Ready=True is refused.
    const setReady = (status: string, dryRun: boolean): Promise<string> =>
      h.kubectl(
        'patch',
        'node',
        nodeName,
        '--subresource=status',
        '--type=strategic',
        ...(dryRun ? ['--dry-run=server'] : []),
        '-p',
        JSON.stringify({
          status: {
            conditions: [
              {
                type: 'Ready',
                status,
                reason: status === 'True' ? 'KubeletReady' : 'KubeletNotReady',
                message: status === 'True' ? 'kubelet is posting ready status' : 'container runtime is down',
                lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
                lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
              },
            ],
          },
        }),
      );
    await expect
      .poll(
        () =>
          setReady('True', true).then(
            () => 'accepted',
            (e: Error) => (/held NotReady/.test(e.message) ? 'refused' : e.message),
          ),
        {
          timeout: 30_000,
          interval: 500,
        },
      )
      .toBe('refused');
    await setReady('False', false);
    await waitForState(m, key, 'degraded');
    expect((await m.status()).targets.find((t) => t.key === key)?.message).toBe(
      'Failed NodeNotReady: Ready=False KubeletNotReady: container runtime is down',
    );
    await expect
      .poll(() => alertsFor(key), { timeout: 30_000 })
      .toEqual([
        `alert.triggered: ${key} is degraded: Failed NodeNotReady: Ready=False KubeletNotReady: container runtime is down`,
      ]);

    // released: kwok's node-initialize stage re-readies it
    await h.kubectl('label', 'node', nodeName, `${HOLD_LABEL}-`);
    await waitForState(m, key, 'healthy');
    await expect.poll(() => alertsFor(key).at(-1), { timeout: 30_000 }).toBe(`alert.resolved: ${key} recovered`);
    expect(alertsFor(key)).toHaveLength(2);
    await stop(m);
  });

  it('a failed Job and a Pending PersistentVolumeClaim each raise one incident', async () => {
    const labels = { 'example.com/monitored': 'yes' };
    await h.kube.apply({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'nightly', namespace: h.namespace, labels },
      spec: {
        activeDeadlineSeconds: 3,
        backoffLimit: 0,
        template: {
          // KWOK never makes this pod Ready, so it never completes; the Job controller fails the Job at its deadline
          metadata: { labels: { 'kube-workflows.dev/chaos': 'unready' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'nightly', image: 'registry.example/nightly:1' }] },
        },
      },
    });
    await h.kube.apply({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: h.namespace, labels },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'no-such-class',
        resources: { requests: { storage: '1Gi' } },
      },
    });
    const job = `Job/${h.namespace}/nightly`;
    const pvc = `PersistentVolumeClaim/${h.namespace}/data`;
    const m = await h.client.monitor({
      name: `batch-${h.namespace}`,
      targets: [
        {
          type: 'kube',
          namespace: h.namespace,
          selector: 'example.com/monitored=yes',
          kinds: ['Job', 'PersistentVolumeClaim'],
        },
      ],
      channels: ['hook'],
      forSeconds: 2,
    });
    await waitForState(m, job, 'degraded');
    await waitForState(m, pvc, 'degraded');
    const status = await m.status();
    expect(status.targets.find((t) => t.key === job)?.message).toMatch(/^Failed DeadlineExceeded: /);
    expect(status.targets.find((t) => t.key === pvc)?.message).toBe(
      'InProgress NotBound: PVC is not Bound (phase Pending)',
    );
    await expect.poll(() => alertsFor(job).length, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => alertsFor(pvc).length, { timeout: 30_000 }).toBe(1);
    expect(alertsFor(job)[0]).toMatch(new RegExp(`^alert.triggered: ${job} is degraded: Failed DeadlineExceeded`));
    expect(alertsFor(pvc)).toEqual([
      `alert.triggered: ${pvc} is degraded: InProgress NotBound: PVC is not Bound (phase Pending)`,
    ]);
    await stop(m);
  });
});
