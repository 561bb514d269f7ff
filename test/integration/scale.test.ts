/**
 * scaleWorkload and scheduled scaling against the real local stack: replica counts in the cluster, KWOK pods
 * Ready, policy bounds enforced before any write, and a Temporal Schedule triggering a scale that completes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/client/index.js';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import { deploymentObject, replicaCounts } from '../support/workloads.js';
import { useHarness } from './harness.js';

const configDir = mkdtempSync(join(tmpdir(), 'kwf-scale-'));
const configFile = join(configDir, 'worker.yaml');
writeFileSync(
  configFile,
  'policy:\n  scale:\n    maxReplicas: 8\n    rules:\n      - { namespaces: ["scale-*"], names: ["web"], maxReplicas: 8, allowZero: true }\n',
);
const h = useHarness('scale', { env: { KUBE_WORKFLOWS_CONFIG: configFile } });

const replicas = (name: string): Promise<{ spec: number; ready: number }> => replicaCounts(h.kube, h.namespace, name);

beforeAll(async () => {
  for (const name of ['web', 'api']) {
    await h.kube.apply(
      deploymentObject({ name, namespace: h.namespace, replicas: 1, image: 'registry.example/app:1' }),
    );
  }
});

describe('scaleWorkload', () => {
  it('scales 1 → 5 → 0 → 2, ending with that many Ready pods each time', async () => {
    for (const [target, from] of [
      [5, 1],
      [0, 5],
      [2, 0],
    ] as const) {
      const report = await (
        await h.client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: target })
      ).result();
      expect(report).toMatchObject({
        outcome: 'succeeded',
        from,
        to: target,
        subject: `Deployment/${h.namespace}/web`,
      });
      await expect
        .poll(() => replicas('web'), { timeout: 30_000, interval: 200 })
        .toEqual({ spec: target, ready: target });
    }
  });

  it('a relative change is resolved against the current count', async () => {
    const report = await (
      await h.client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, delta: 3 })
    ).result();
    expect(report).toMatchObject({ outcome: 'succeeded', from: 2, to: 5 });
    expect((await replicas('web')).spec).toBe(5);
  });

  it('scaling to the current count reports unchanged', async () => {
    const report = await (
      await h.client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 5 })
    ).result();
    expect(report.outcome).toBe('unchanged');
  });

  it('a count above the policy maximum is rejected before any write', async () => {
    const err = await (
      await h.client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 9 })
    )
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(err)).toBe('PolicyViolation');
    expect(messageOf(err)).toMatch(/9 replicas is above the policy maximum of 8; nothing was written/);
    expect((await replicas('web')).spec).toBe(5);
  });

  it('scale to zero is refused where the policy does not allow it', async () => {
    const err = await (
      await h.client.scale({ kind: 'Deployment', name: 'api', namespace: h.namespace, replicas: 0 })
    )
      .result()
      .catch((e: unknown) => e);
    expect(failureTypeOf(err)).toBe('PolicyViolation');
    expect(messageOf(err)).toMatch(/zero is not allowed/);
    expect((await replicas('api')).spec).toBe(1);
  });

  it('malformed input is rejected by the client before anything starts', async () => {
    await expect(
      h.client.scale({ kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 2, delta: 1 }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('scheduled scaling', () => {
  it('a schedule, triggered, runs a scale that completes; pause and delete work', async () => {
    const scheduleId = `scale-web-${h.namespace}`;
    await h.client.schedules.createScale({
      scheduleId,
      cron: '0 3 1 1 *', // once a year: only the trigger below runs it
      input: { kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 3 },
      overlap: 'skip',
      note: 'integration test',
    });
    await h.client.schedules.trigger(scheduleId);
    await expect
      .poll(async () => (await h.client.schedules.describe(scheduleId)).info.recentActions.length, {
        timeout: 30_000,
        interval: 200,
      })
      .toBeGreaterThan(0);
    const action = (await h.client.schedules.describe(scheduleId)).info.recentActions[0];
    const run = h.client.temporal.workflow.getHandle(action?.action.workflow.workflowId ?? '');
    const report = (await run.result()) as { outcome: string; to: number };
    expect(report).toMatchObject({ outcome: 'succeeded', to: 3 });
    expect((await replicas('web')).spec).toBe(3);

    await h.client.schedules.pause(scheduleId, 'maintenance');
    const paused = await h.client.schedules.describe(scheduleId);
    expect(paused.state.paused).toBe(true);
    expect(paused.policies.overlap).toBe('SKIP');
    await h.client.schedules.delete(scheduleId);
    // the schedule list comes from visibility, which follows shortly after
    await expect
      .poll(async () => (await h.client.schedules.list()).map((s) => s.scheduleId), { timeout: 30_000, interval: 200 })
      .not.toContain(scheduleId);
  });
});
