/**
 * End-of-run alerts (`notify`) on Temporal's time-skipping test server, with scripted activities and the real
 * `scaleWorkload` and `deployManifests`: one alert per channel per run whatever the retries (a delivery retried
 * after a 503 carries the same event and dedup key), a channel that refuses never changes the outcome (it is
 * recorded in `notifications`), success is silent unless asked for, an unknown channel fails the run before any
 * write, a deploy reads its evidence before it rolls back, and a run without `notify` issues no extra command.
 * What only real servers show (Alertmanager, the signed webhook, pod logs and Events through the API server) is in
 * test/integration/op-alerts.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type {
  CompensateObjectsInput,
  DeliverAlertInput,
  DeployPlan,
  HealthResult,
  PlanEntry,
  WaitForHealthInput,
} from '../../src/activities/index.js';
import type { WorkloadRef } from '../../src/activities/scale.js';
import type { AlertEvent } from '../../src/schemas/alerts.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import type { FailureContext, GatherFailureContextInput } from '../../src/schemas/notify.js';
import type { ScaleReport, ScaleWorkloadInput } from '../../src/schemas/scale.js';
import { useTimeSkippingWorker } from './support.js';

const NS = 'shop';
const WEB = `Deployment/${NS}/web`;
const CONFIGURED = ['am', 'hook', 'strict'];
const manifests = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "registry.example/web:2" }] }
`;

/** The evidence the scripted `gatherFailureContext` returns. */
const EVIDENCE: FailureContext = {
  link: 'http://ui.example/namespaces/default/workflows/x/y/history',
  pods: [
    {
      subject: `Pod/${NS}/web-1`,
      phase: 'Running',
      problem: 'CrashLoopBackOff: container web restarted 3 times',
      containers: [
        { name: 'web', state: 'waiting: CrashLoopBackOff', restarts: 3, previous: true, log: ['panic: no db'] },
      ],
    },
  ],
  events: [
    {
      subject: `Pod/${NS}/web-1`,
      type: 'Warning',
      reason: 'BackOff',
      message: 'Back-off restarting failed container',
      count: 4,
      lastSeen: '2026-01-01T00:00:00Z',
    },
  ],
  notes: [],
};

/** One scripted run: what the workload does, how each channel answers, and every call made. */
interface Script {
  calls: { name: string; input: unknown; attempt?: number }[];
  health: (input: WaitForHealthInput) => HealthResult;
  /** How channel `channel` answers attempt `attempt` (1-based). */
  channel: (channel: string, attempt: number) => { status: number; skipped?: string };
}

const failedHealth = (input: WaitForHealthInput): HealthResult => ({
  outcome: 'Failed',
  objects: input.objects.map((o) => ({
    subject: o.subject,
    status: 'Failed',
    reason: 'CrashLoopBackOff',
    message: 'pod web-1: container web CrashLoopBackOff',
  })),
  message: `${WEB}: CrashLoopBackOff`,
});
const currentHealth = (input: WaitForHealthInput): HealthResult => ({
  outcome: 'Current',
  objects: input.objects.map((o) => ({ subject: o.subject, status: 'Current', reason: 'Ready', message: 'ok' })),
  message: 'all Current',
});

function script(overrides: Partial<Script> = {}): Script {
  return { calls: [], health: failedHealth, channel: () => ({ status: 200 }), ...overrides };
}

let active: Script = script();
const taskQueue = 'op-alerts';
const uid = (): string => randomBytes(4).toString('hex');
const callsOf = (s: Script, name: string) => s.calls.filter((c) => c.name === name);
const namesOf = (s: Script): string[] => s.calls.map((c) => c.name);
const delivered = (s: Script) =>
  callsOf(s, 'deliverAlert').map((c) => ({ ...(c.input as DeliverAlertInput), attempt: c.attempt }));

const entry: PlanEntry = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  namespace: NS,
  name: 'web',
  subject: WEB,
  action: 'configured',
  namespaced: true,
  fingerprint: 'fp-web',
  changes: ['spec.template.spec.containers[0].image'],
};

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => {
    const record = (name: string, input: unknown, attempt?: number): void => {
      active.calls.push({ name, input, ...(attempt !== undefined ? { attempt } : {}) });
    };
    return {
      readScale: (ref: WorkloadRef) => {
        record('readScale', ref);
        return Promise.resolve({ cluster: 'local', replicas: 2 });
      },
      setScale: (input: WorkloadRef & { replicas: number }) => {
        record('setScale', input);
        return Promise.resolve({ previous: 2, replicas: input.replicas });
      },
      waitForHealth: (input: WaitForHealthInput) => {
        record('waitForHealth', input);
        return Promise.resolve(active.health(input));
      },
      planDeploy: (input: unknown): Promise<DeployPlan> => {
        record('planDeploy', input);
        return Promise.resolve({ cluster: 'local', entries: [entry], rollbackState: 'snapshot' });
      },
      applyObjects: (input: unknown) => {
        record('applyObjects', input);
        return Promise.resolve([]);
      },
      compensateObjects: (input: CompensateObjectsInput) => {
        record('compensateObjects', input);
        return Promise.resolve(input.restore.map((subject) => ({ subject, result: 'restored' as const })));
      },
      recordInventory: (input: unknown) => {
        record('recordInventory', input);
        return Promise.resolve({ pruned: [], skipped: [] });
      },
      checkAlertChannels: (input: { channels: string[] }) => {
        record('checkAlertChannels', input);
        const unknown = input.channels.filter((c) => !CONFIGURED.includes(c));
        if (unknown.length) {
          throw ApplicationFailure.nonRetryable(
            `notify.channels: "${unknown.join('", "')}" is not configured`,
            'InvalidInput',
          );
        }
        return Promise.resolve({ channels: input.channels });
      },
      gatherFailureContext: (input: GatherFailureContextInput) => {
        record('gatherFailureContext', input);
        return Promise.resolve(input.objects.length ? EVIDENCE : { ...EVIDENCE, pods: [], events: [] });
      },
      deliverAlert: (input: DeliverAlertInput) => {
        const attempt = Context.current().info.attempt;
        record('deliverAlert', input, attempt);
        if (input.channel === 'strict') {
          throw ApplicationFailure.nonRetryable('alertmanager "strict": 400 Bad Request', 'AlertRejected');
        }
        const answer = active.channel(input.channel, attempt);
        if (answer.status >= 500) {
          throw ApplicationFailure.create({ message: `${input.channel}: 503`, type: 'AlertUnavailable' });
        }
        return Promise.resolve({ channel: input.channel, ...answer });
      },
    };
  },
});

async function scale(s: Script, input: Partial<ScaleWorkloadInput> = {}): Promise<ScaleReport> {
  active = s;
  return ts.env.client.workflow.execute<(i: unknown) => Promise<ScaleReport>>('scaleWorkload', {
    taskQueue,
    workflowId: `scale/local/${NS}/Deployment/web-${uid()}`,
    args: [{ kind: 'Deployment', name: 'web', namespace: NS, replicas: 3, ...input }],
  });
}

async function deploy(s: Script, input: Record<string, unknown> = {}): Promise<DeployReport> {
  active = s;
  return ts.env.client.workflow.execute<(i: unknown) => Promise<DeployReport>>('deployManifests', {
    taskQueue,
    workflowId: `deploy/local/${NS}/shop-${uid()}`,
    args: [{ manifests, app: 'shop', ...input }],
  });
}

describe('end-of-run alerts (time-skipping server, scripted activities)', () => {
  it('a failed scale alerts each channel once, the same event again when a delivery is retried', async () => {
    const s = script({ channel: (c, attempt) => ({ status: c === 'hook' && attempt === 1 ? 503 : 200 }) });
    const report = await scale(s, { notify: { channels: ['am', 'hook'] } });

    expect(report.outcome).toBe('failed');
    const sends = delivered(s);
    // `am` once; `hook` twice (503, then 200): two attempts of ONE activity, carrying the same event
    expect(sends.filter((d) => d.channel === 'am').map((d) => d.attempt)).toEqual([1]);
    expect(sends.filter((d) => d.channel === 'hook').map((d) => d.attempt)).toEqual([1, 2]);
    const [first, retry] = sends.filter((d) => d.channel === 'hook');
    expect(retry?.event).toEqual(first?.event);
    const event = first?.event as AlertEvent;
    expect(event.dedupKey).toMatch(/^op\/scale\/local\/shop\/Deployment\/web-[0-9a-f]{8}\/[0-9a-f-]{36}$/);
    expect(event.severity).toBe('error');
    expect(event.summary).toMatch(/^scaleWorkload failed: /);
    expect(event.details?.reason).toMatch(/not healthy: Deployment\/shop\/web: CrashLoopBackOff/);
    expect(event.details?.logs).toContain('panic: no db');
    expect(event.details?.events).toContain('Warning BackOff Pod/shop/web-1');
    expect(event.url).toBe(EVIDENCE.link);
    // the evidence is read once, for the workload
    expect(callsOf(s, 'gatherFailureContext').map((c) => c.input)).toEqual([
      { cluster: 'local', objects: [{ kind: 'Deployment', namespace: NS, name: 'web' }], logLines: 20 },
    ]);
    expect(report.notifications).toEqual([
      { channel: 'am', status: 'sent', httpStatus: 200, dedupKey: event.dedupKey },
      { channel: 'hook', status: 'sent', httpStatus: 200, dedupKey: event.dedupKey },
    ]);
  });

  it('a channel that refuses the alert does not change the outcome: it is recorded in notifications', async () => {
    const s = script();
    const report = await scale(s, { notify: { channels: ['strict', 'am'] } });
    expect(report.outcome).toBe('failed');
    expect(report.message).toMatch(/scaled to 3 but is not healthy/);
    expect(report.notifications).toEqual([
      expect.objectContaining({ channel: 'strict', status: 'failed', error: expect.stringContaining('400') }),
      expect.objectContaining({ channel: 'am', status: 'sent' }),
    ]);
    expect(delivered(s).filter((d) => d.channel === 'strict')).toHaveLength(1); // refused: not retried
  });

  it('a succeeded scale sends nothing by default, and one info alert when `on` names succeeded', async () => {
    const quiet = script({ health: currentHealth });
    const silent = await scale(quiet, { notify: { channels: ['am'] } });
    expect(silent.outcome).toBe('succeeded');
    expect(silent.notifications).toBeUndefined();
    expect(namesOf(quiet)).not.toContain('deliverAlert');
    expect(namesOf(quiet)).not.toContain('gatherFailureContext');

    const asked = script({ health: currentHealth });
    const report = await scale(asked, { notify: { channels: ['am'], on: ['succeeded', 'failed'] } });
    expect(report.outcome).toBe('succeeded');
    const [send] = delivered(asked);
    expect(send?.event).toMatchObject({ severity: 'info', labels: { outcome: 'succeeded' } });
    expect(send?.event.details?.logs).toBeUndefined();
    // no evidence to read for a success: only the link
    expect(callsOf(asked, 'gatherFailureContext').map((c) => (c.input as GatherFailureContextInput).objects)).toEqual([
      [],
    ]);
    expect(report.notifications).toEqual([expect.objectContaining({ channel: 'am', status: 'sent' })]);
  });

  it('an unknown channel fails the run with InvalidInput before the workload is read or written', async () => {
    const s = script();
    const err = await scale(s, { notify: { channels: ['am', 'nowhere'] } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toContain('"nowhere"');
    expect(namesOf(s)).toEqual(['checkAlertChannels']);
  });

  it('a bad notify fails at once naming the field, and a run without notify issues no alert command', async () => {
    const bad = script();
    const err = await scale(bad, { notify: { channels: ['am'], on: ['halted'] } as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(/notify\.on\[0\]/);
    expect(namesOf(bad)).toEqual([]);

    const plain = script();
    const report = await scale(plain);
    expect(report.outcome).toBe('failed');
    expect(namesOf(plain)).toEqual(['readScale', 'setScale', 'waitForHealth']);
    expect(report.notifications).toBeUndefined();
  });

  it('a deploy that rolls back reads its evidence before compensating and alerts once with what was undone', async () => {
    // the release crash-loops; the restored Deployment is Current again
    const s = script({
      health: (input) => (callsOf(s, 'waitForHealth').length > 1 ? currentHealth : failedHealth)(input),
    });
    const report = await deploy(s, { notify: { channels: ['am', 'hook'], logLines: 5 } });
    expect(report.outcome).toBe('rolledBack');
    const names = namesOf(s);
    expect(names.filter((n) => n === 'gatherFailureContext')).toHaveLength(1);
    expect(names.indexOf('gatherFailureContext')).toBeLessThan(names.indexOf('compensateObjects'));
    expect(callsOf(s, 'gatherFailureContext')[0]?.input).toEqual({
      cluster: 'local',
      objects: [{ kind: 'Deployment', namespace: NS, name: 'web' }],
      logLines: 5,
    });
    const sends = delivered(s);
    expect(sends.map((d) => d.channel).sort()).toEqual(['am', 'hook']);
    const event = sends[0]?.event as AlertEvent;
    expect(event.labels).toMatchObject({ workflow_type: 'deployManifests', outcome: 'rolledBack', namespace: NS });
    expect(event.details?.reason).toMatch(/^RolloutFailed: rollout failed: /);
    expect(event.details?.done).toBe(`${WEB} written`);
    expect(event.details?.undone).toBe(`${WEB} restored`);
    expect(report.notifications?.map((n) => n.status)).toEqual(['sent', 'sent']);
  });
});
