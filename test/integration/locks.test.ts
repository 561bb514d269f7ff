/**
 * Locks without holes, against the real local stack. The worker names its cluster `local`; a client configured like
 * it (KUBECONFIG + KUBE_WORKFLOWS_CLUSTER) puts that name into workflow ids, so naming the default cluster or
 * omitting it takes one lock. Scheduled re-applies run under the app's deploy id (skipped while a deploy of the app
 * runs). A scale of a workload the app owns takes the app's deploy lock while it writes: refused while a deploy of
 * the app runs, waiting for a lock released within its wait, and a deploy is refused while the lock is held.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import {
  createKubeWorkflowsClient,
  LockHeldError,
  resolveDefaultCluster,
  type DeployHandle,
  type KubeWorkflowsClient,
} from '../../src/client/index.js';
import { runCli } from '../support/cli.js';
import { pollUntil } from '../support/poll.js';
import { useHarness } from './harness.js';

const h = useHarness('locks');
const dir = mkdtempSync(join(tmpdir(), 'kwf-locks-'));

/** The worker's configuration as the harness gives it: what a client sharing it resolves. */
const workerEnv = (): Record<string, string> => ({
  KUBECONFIG: inject('stack').kubeconfig,
  KUBE_WORKFLOWS_CLUSTER: 'local',
});

let client: KubeWorkflowsClient;
beforeAll(async () => {
  const stack = inject('stack');
  client = await createKubeWorkflowsClient({
    address: stack.temporalAddress,
    namespace: stack.temporalNamespace,
    taskQueue: h.taskQueue,
    encryption: false,
    defaultCluster: resolveDefaultCluster(workerEnv()),
  });
});
afterAll(async () => {
  await client?.close();
});

const shop = (release: string): string => `apiVersion: v1
kind: ConfigMap
metadata: { name: shop-release }
data: { release: "${release}" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "registry.example/web:1" }] }
`;

const lockId = (): string => `deploy/local/${h.namespace}/shop`;

function awaitingApproval(handle: DeployHandle): Promise<unknown> {
  return pollUntil(
    () => handle.progress(),
    (p) => p.phase === 'awaitingApproval',
  );
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('deploy locks', () => {
  let held: DeployHandle;

  it('are one lock whether the deploy names the default cluster or omits it (client and CLI)', async () => {
    held = await client.deploy({ manifests: shop('1'), namespace: h.namespace, app: 'shop', requireApproval: true });
    expect(held.workflowId).toBe(lockId());
    await awaitingApproval(held);

    const named = await errorOf(
      client.deploy({ manifests: shop('2'), namespace: h.namespace, app: 'shop', cluster: 'local' }),
    );
    expect(named).toBeInstanceOf(LockHeldError);
    expect(named).toMatchObject({ lockId: lockId(), heldBy: lockId() });
    expect((named as Error).message).toMatch(
      new RegExp(`^a deploy of this app is already running: ${lockId()} \\(run [-0-9a-f]+, started `),
    );

    // The CLI resolves the default cluster from KUBECONFIG / KUBE_WORKFLOWS_CLUSTER as the worker does.
    const path = join(dir, 'shop.yaml');
    writeFileSync(path, shop('3'));
    const r = await runCli(['deploy', '-f', path, '-n', h.namespace, '--app', 'shop'], h.taskQueue, workerEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`rejected before anything ran: a deploy of this app is already running: ${lockId()}`);
  });

  it('hold scheduled re-applies: skipped while a deploy of the app runs, then run under the deploy id', async () => {
    const scheduleId = `reapply-${h.namespace}`;
    await client.schedules.createReapply({
      scheduleId,
      cron: '0 4 1 1 *',
      input: { manifests: shop('1'), namespace: h.namespace, app: 'shop', timeoutSeconds: 60 },
    });
    try {
      const runOf = async (n: number): Promise<string> => {
        await client.schedules.trigger(scheduleId);
        const d = await pollUntil(
          () => client.schedules.describe(scheduleId),
          (x) => x.info.recentActions.length >= n,
        );
        return d.info.recentActions[n - 1]?.action.workflow.workflowId ?? '';
      };
      const first = await runOf(1);
      expect(await client.temporal.workflow.getHandle(first).result()).toEqual({
        outcome: 'skipped',
        workflowId: lockId(),
        message: `skipped: ${lockId()} is taken by a running workflow (see: kube-workflows status ${lockId()}); nothing was written, the next scheduled run tries again`,
      });
      expect((await held.progress()).phase).toBe('awaitingApproval'); // the running deploy is untouched

      const { planId = '' } = await held.progress();
      await held.approve({ planId, by: 'test' });
      expect((await held.result()).outcome).toBe('succeeded');

      const second = await runOf(2);
      expect(await client.temporal.workflow.getHandle(second).result()).toMatchObject({ outcome: 'succeeded' });
      const child = await client.temporal.workflow.getHandle(lockId()).describe();
      expect([child.type, child.parentExecution?.workflowId]).toEqual(['deployManifests', second]);
    } finally {
      await client.schedules.delete(scheduleId);
    }
  });

  it('refuse a scale of the app’s Deployment while a deploy of the app runs, naming the deploy', async () => {
    const deploy = await client.deploy({
      manifests: shop('4'),
      namespace: h.namespace,
      app: 'shop',
      requireApproval: true,
    });
    await awaitingApproval(deploy);
    try {
      const scale = await client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 2 });
      const error = await errorOf(scale.result());
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(failureTypeOf(error)).toBe('PolicyViolation');
      expect(messageOf(error)).toBe(
        `scale of Deployment/${h.namespace}/web (app shop) refused: the deploy lock ${lockId()} is held — by a ` +
          `running deploy of that app, or by a scale of another of its workloads (see: kube-workflows status ` +
          `${lockId()}). Nothing was written; try again when it has ended.`,
      );
      const web = await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' });
      expect((web?.spec as { replicas: number }).replicas).toBe(1);
    } finally {
      const { planId = '' } = await deploy.progress();
      await deploy.reject({ planId, by: 'test' });
      await deploy.result();
    }
  }, 90_000);

  it('make a scale wait for a held lock and a deploy meanwhile refused, naming the holder', async () => {
    // An operator's freeze: a lock started by hand under the deploy id.
    const freeze = await client.temporal.workflow.start('holdDeployLock', {
      taskQueue: h.taskQueue,
      workflowId: lockId(),
      args: [{ holder: 'operator', purpose: 'freeze for the test' }],
    });
    const refused = await errorOf(client.deploy({ manifests: shop('5'), namespace: h.namespace, app: 'shop' }));
    expect(refused).toBeInstanceOf(LockHeldError);
    expect((refused as Error).message).toMatch(
      new RegExp(
        `^the deploy lock ${lockId()} is held by a holdDeployLock run \\(run [-0-9a-f]+, started .*\\) started by hand`,
      ),
    );

    const scale = await client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 3 });
    // The scale tried to take the lock and is waiting for it.
    await pollUntil(
      async () => (await scale.raw.fetchHistory()).events ?? [],
      (events) => events.some((e) => e.startChildWorkflowExecutionFailedEventAttributes),
    );
    await freeze.signal('release');
    expect(await scale.result()).toMatchObject({ outcome: 'succeeded', from: 1, to: 3 });
    // It wrote under the lock: the latest run under the deploy id is its lock, with the scale as parent.
    const lock = await client.temporal.workflow.getHandle(lockId()).describe();
    expect([lock.type, lock.parentExecution?.workflowId, lock.status.name]).toEqual([
      'holdDeployLock',
      scale.workflowId,
      'COMPLETED',
    ]);
  });
});
