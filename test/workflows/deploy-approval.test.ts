/**
 * `deployManifests` waiting for an approval that never comes, on its own time-skipping test server with scripted
 * activities: after `approvalTimeoutSeconds` of workflow time the deploy ends `rejected` with the approval
 * `timedOut`, and nothing is written.
 *
 * It has a server of its own (this file) because the test server skips time only while nothing holds it: an
 * activity still pending from another test (the saga tests leave some heartbeating until cancelled) would keep the
 * approval timer from ever firing. Here the one activity before the wait (the plan) has completed before the test
 * lets time pass, so nothing is pending while the timer runs.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DeployPlan } from '../../src/activities/index.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import type { DeployProgress } from '../../src/workflows/deploy.js';
import { waitFor } from '../support/poll.js';
import { useTimeSkippingWorker } from './support.js';

const taskQueue = 'deploy-approval';
const CM = 'ConfigMap/shop/cfg';
const manifests = `apiVersion: v1
kind: ConfigMap
metadata: { name: cfg, namespace: shop }
data: { release: v2 }
`;

/** Every scripted activity call, by name, in order. */
const calls: string[] = [];
/** Records a call to an activity that must never run here; resolves to nothing useful. */
const mustNotRun = (name: string) => (): Promise<never[]> => {
  calls.push(name);
  return Promise.resolve([]);
};

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => ({
    planDeploy: (): Promise<DeployPlan> => {
      calls.push('planDeploy');
      return Promise.resolve({
        cluster: 'local',
        rollbackState: 'snapshot',
        entries: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            namespace: 'shop',
            name: 'cfg',
            subject: CM,
            action: 'configured',
            namespaced: true,
            fingerprint: 'fp-cfg',
            changes: ['data.release'],
          },
        ],
      });
    },
    applyObjects: mustNotRun('applyObjects'),
    waitForHealth: mustNotRun('waitForHealth'),
    compensateObjects: mustNotRun('compensateObjects'),
    recordInventory: mustNotRun('recordInventory'),
  }),
});

describe('deployManifests approval timeout (time-skipping server, scripted activities)', () => {
  it('a plan nobody approves within approvalTimeoutSeconds ends rejected, approval timedOut, nothing written', async () => {
    const handle = await ts.env.client.workflow.start('deployManifests', {
      taskQueue,
      workflowId: `deploy-approval-${randomBytes(4).toString('hex')}`,
      args: [{ manifests, app: 'shop', requireApproval: true, approvalTimeoutSeconds: 2 * 3_600 }],
    });
    // The plan is done and shown: from here on only the approval timer runs.
    await waitFor(
      async () => (await handle.query<DeployProgress>('progress')).phase === 'awaitingApproval',
      'the plan to wait for approval',
    );
    const startedAt = await ts.env.currentTimeMs();

    await ts.env.sleep(3_600_000); // half the timeout: still waiting
    expect((await handle.query<DeployProgress>('progress')).phase).toBe('awaitingApproval');

    await ts.env.sleep(3_600_000 + 1_000);
    const report = (await handle.result()) as DeployReport;
    expect(report.outcome).toBe('rejected');
    expect(report.approval).toEqual({ decision: 'timedOut', comment: 'no approval within 7200s' });
    expect(report.message).toBe('not approved within 7200s; nothing was written');
    expect(calls).toEqual(['planDeploy']);
    expect(await ts.env.currentTimeMs()).toBeGreaterThanOrEqual(startedAt + 2 * 3_600_000);
    expect((await handle.query<DeployProgress>('progress')).phase).toBe('done');
  });
});
