/**
 * `detectDrift`'s approval branch on the time-skipping test server with scripted activities: a correction nobody
 * approves within `approvalTimeout` is not applied (decision `timedOut`, the drift reported and alerted); an
 * approved one is applied under the app's deploy lock and reported with who approved it; a rejected one is not.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DeliverAlertInput } from '../../src/activities/index.js';
import type { CorrectDriftInput, CorrectedObject, DriftReport, ScanDriftResult } from '../../src/schemas/drift.js';
import type { DriftStatus } from '../../src/workflows/drift.js';
import { waitFor } from '../support/poll.js';
import { useTimeSkippingWorker } from './support.js';

const taskQueue = 'drift-approval';
const WEB = 'Deployment/shop/web';
const manifests = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: app, image: web:1 }] }
`;

/** Every scripted activity call, by name, in order. */
const calls: string[] = [];
const alerts: DeliverAlertInput[] = [];
const corrections: CorrectDriftInput[] = [];

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => ({
    scanDrift: (): Promise<ScanDriftResult> => {
      calls.push('scanDrift');
      return Promise.resolve({
        cluster: 'local',
        dryRuns: 2,
        notInManifests: [],
        notInInventory: [],
        objects: [
          {
            subject: WEB,
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            namespace: 'shop',
            name: 'web',
            state: 'drifted',
            resourceVersion: '100',
            desiredHash: 'h1',
            scanned: true,
            fields: [
              {
                path: 'spec.replicas',
                from: '3',
                to: '5',
                owners: [{ manager: 'kubectl-edit', operation: 'Update' }],
                class: 'human',
                action: 'correct',
              },
            ],
          },
        ],
      });
    },
    deliverAlert: (input: DeliverAlertInput) => {
      calls.push('deliverAlert');
      alerts.push(input);
      return Promise.resolve({ channel: input.channel, status: 204 });
    },
    correctDrift: (input: CorrectDriftInput): Promise<CorrectedObject[]> => {
      calls.push('correctDrift');
      corrections.push(input);
      return Promise.resolve([
        { subject: WEB, result: 'corrected', fields: ['spec.replicas'], resourceVersion: '101' },
      ]);
    },
  }),
});

const input = (extra: object = {}) => ({
  app: 'shop',
  namespace: 'shop',
  cluster: 'local',
  manifests,
  policy: { human: 'correct' },
  requireApproval: true,
  approvalTimeout: '2h',
  ...extra,
});

async function startAndWait(extra: object = {}) {
  calls.length = 0;
  alerts.length = 0;
  corrections.length = 0;
  const handle = await ts.env.client.workflow.start('detectDrift', {
    taskQueue,
    workflowId: `drift-${randomBytes(4).toString('hex')}`,
    args: [input(extra)],
  });
  await waitFor(
    async () => (await handle.query<DriftStatus>('status')).phase === 'awaitingApproval',
    'the correction to wait for approval',
  );
  return handle;
}

describe('detectDrift approval (time-skipping server, scripted activities)', () => {
  it('does not correct when nobody approves within approvalTimeout; the drift is alerted and reported', async () => {
    const handle = await startAndWait({ channels: ['oncall'] });
    const startedAt = await ts.env.currentTimeMs();
    expect((await handle.query<DriftStatus>('status')).toCorrect).toEqual([WEB]);

    await ts.env.sleep(3_600_000); // half the timeout: still waiting
    expect((await handle.query<DriftStatus>('status')).phase).toBe('awaitingApproval');

    await ts.env.sleep(3_600_000 + 1_000);
    const report = (await handle.result()) as DriftReport;
    expect(report.outcome).toBe('drifted');
    expect(report.correction).toEqual({ decision: 'timedOut', corrected: [], failed: [] });
    expect(calls).toEqual(['scanDrift', 'deliverAlert']);
    expect(alerts[0]?.event.dedupKey).toBe(report.alert?.dedupKey);
    expect(alerts[0]?.event.details?.[`${WEB} spec.replicas`]).toBe(
      'spec.replicas: 3 → 5 (kubectl-edit, human) → correct',
    );
    expect(report.objects[0]?.fields[0]?.corrected).toBeUndefined();
    expect(await ts.env.currentTimeMs()).toBeGreaterThanOrEqual(startedAt + 2 * 3_600_000);
  });

  it('corrects under the deploy lock once approved, and says who approved it', async () => {
    const handle = await startAndWait();
    const answer = await handle.executeUpdate<{ subjects: string[] }, [unknown]>('approveCorrection', {
      args: [{ by: 'alice', comment: 'restore the count' }],
    });
    expect(answer.subjects).toEqual([WEB]);
    const report = (await handle.result()) as DriftReport;
    expect(report.outcome).toBe('corrected');
    expect(report.correction).toEqual({
      decision: 'approved',
      by: 'alice',
      comment: 'restore the count',
      corrected: [WEB],
      failed: [],
    });
    expect(calls).toEqual(['scanDrift', 'correctDrift']);
    expect(corrections[0]?.subjects).toEqual([WEB]);
    expect(report.objects[0]).toMatchObject({ state: 'inSync', resourceVersion: '101', correction: 'corrected' });
    expect(report.objects[0]?.fields[0]).toMatchObject({ path: 'spec.replicas', corrected: true });
  });

  it('does not correct a rejected correction', async () => {
    const handle = await startAndWait();
    await handle.executeUpdate('approveCorrection', { args: [{ by: 'bob', approve: false }] });
    const report = (await handle.result()) as DriftReport;
    expect(report.outcome).toBe('drifted');
    expect(report.correction).toEqual({ decision: 'rejected', by: 'bob', corrected: [], failed: [] });
    expect(calls).toEqual(['scanDrift']);
  });

  it('fails at once on bad input, naming the field (controller drift is never corrected)', async () => {
    const bad = await ts.env.client.workflow.start('detectDrift', {
      taskQueue,
      workflowId: `drift-bad-${randomBytes(4).toString('hex')}`,
      args: [{ app: 'shop', namespace: 'shop', manifests, policy: { controller: 'correct' } }],
    });
    const err = await bad.result().then(
      () => undefined,
      (e: unknown) => e as { cause?: { message?: string; type?: string } },
    );
    expect(err?.cause?.type).toBe('InvalidInput');
    expect(err?.cause?.message).toMatch(/never fight a controller\)\n {2}→ at policy\.controller/);
  });
});
