/**
 * The end-of-run alert as pure code (domain/op-alert, domain/op-alert-facts, schemas/notify, dev/pod-logs): which
 * pods fail and why, bounded log tails and Events, the event built from a report, the `notify` schema's errors, and
 * the node shape the local stack uses so the API server reaches KWOK's kubelet for pod logs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { metricsNodeResource } from '../../src/dev/metrics.js';
import { criLogLines, kubeletReachableNodeResource } from '../../src/dev/pod-logs.js';
import {
  buildOperationAlert,
  lastLogLines,
  newestEvents,
  OP_ALERT_LIMITS,
  operationDedupKey,
  triagePod,
  workflowUiLink,
} from '../../src/domain/op-alert.js';
import { deployAlertFacts, deployEvidenceRefs, nodeAlertFacts } from '../../src/domain/op-alert-facts.js';
import { AlertEvent } from '../../src/schemas/alerts.js';
import { DeployManifestsInput, type DeployReport } from '../../src/schemas/deploy.js';
import { notifiesOn, type EventContext, type FailureContext } from '../../src/schemas/notify.js';
import { ScaleWorkloadInput } from '../../src/schemas/scale.js';

const crashing = {
  metadata: { name: 'web-1', namespace: 'shop' },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'False' }],
    containerStatuses: [
      { name: 'sidecar', ready: true, restartCount: 0, state: { running: {} } },
      {
        name: 'web',
        ready: false,
        restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
        lastState: { terminated: { reason: 'Error', exitCode: 1 } },
      },
    ],
  },
};

describe('triagePod', () => {
  it('names the crash-looping container, and reads its previous instance', () => {
    expect(triagePod(crashing)).toEqual({
      problem: 'CrashLoopBackOff: container web restarted 4 times',
      rank: 4,
      containers: [
        {
          name: 'web',
          state: 'waiting: CrashLoopBackOff (back-off 40s restarting failed container)',
          restarts: 4,
          readPrevious: true,
        },
      ],
    });
  });

  it('says why a pod is pending, and leaves Ready and Succeeded pods alone', () => {
    const pending = {
      metadata: { name: 'web-2' },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes fit' }],
      },
    };
    expect(triagePod(pending)).toMatchObject({ problem: 'Pending: Unschedulable: 0/3 nodes fit', containers: [] });
    const ready = {
      metadata: { name: 'ok' },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    expect(triagePod(ready)).toBeUndefined();
    expect(triagePod({ metadata: { name: 'job' }, status: { phase: 'Succeeded' } })).toBeUndefined();
  });
});

describe('bounds', () => {
  it('keeps the last lines of a log, each clipped', () => {
    const long = 'x'.repeat(1000);
    expect(lastLogLines(`a\nb\r\nc\n${long}\n`, 2)).toEqual(['c', `${'x'.repeat(OP_ALERT_LIMITS.lineChars - 1)}…`]);
    expect(lastLogLines('a\nb', 0)).toEqual([]);
  });

  it('keeps Warnings first when there are too many Events, listed newest first', () => {
    const ev = (i: number, type: string): EventContext => ({
      subject: 'Pod/shop/web-1',
      type,
      reason: `R${i}`,
      message: 'm',
      count: 1,
      lastSeen: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z`,
    });
    const kept = newestEvents([ev(1, 'Warning'), ev(2, 'Normal'), ev(3, 'Normal'), ev(4, 'Warning')], 3);
    expect(kept.map((e) => e.reason)).toEqual(['R4', 'R3', 'R1']);
  });

  it('an alert with huge evidence stays a few kilobytes and valid', () => {
    const line = 'y'.repeat(300);
    const context: FailureContext = {
      link: 'http://ui/x',
      pods: Array.from({ length: 5 }, (_, i) => ({
        subject: `Pod/shop/web-${i}`,
        phase: 'Running',
        problem: 'CrashLoopBackOff',
        containers: [{ name: 'web', state: 'waiting', restarts: 3, log: Array.from({ length: 100 }, () => line) }],
      })),
      events: [],
      notes: [],
    };
    const facts = { workflowType: 'deployManifests', workflowId: 'deploy/local/shop/web', runId: 'r1' };
    const event = buildOperationAlert(
      { ...facts, outcome: 'rolledBack', reason: 'r'.repeat(10_000), done: [], undone: [] },
      context,
      { startsAt: '2026-01-01T00:00:00Z' },
    );
    expect(AlertEvent.safeParse(event).success).toBe(true);
    expect(JSON.stringify(event).length).toBeLessThan(12_000);
    expect(event.details?.logs?.startsWith('…')).toBe(true); // the end of the logs is kept
  });
});

describe('identity and links', () => {
  it('one dedup key per run, at most 255 characters', () => {
    expect(operationDedupKey('deploy/local/shop/web', 'run-1')).toBe('op/deploy/local/shop/web/run-1');
    expect(operationDedupKey('deploy/local/shop/web', 'run-2')).not.toBe(
      operationDedupKey('deploy/local/shop/web', 'run-1'),
    );
    expect(operationDedupKey('x'.repeat(400), 'run-1').length).toBeLessThanOrEqual(255);
  });

  it('links the run in the Web UI with its ids encoded', () => {
    expect(workflowUiLink('http://127.0.0.1:8233/', 'default', 'deploy/local/shop/web', 'abc')).toBe(
      'http://127.0.0.1:8233/namespaces/default/workflows/deploy%2Flocal%2Fshop%2Fweb/abc/history',
    );
  });
});

describe('facts from reports', () => {
  const report: DeployReport = {
    outcome: 'rollbackFailed',
    cluster: 'local',
    objects: [
      { subject: 'ConfigMap/shop/cfg', action: 'restored', rollback: 'restored', status: 'Current' },
      { subject: 'Deployment/shop/web', action: 'configured', rollback: 'failed', message: 'denied', status: 'Failed' },
      { subject: 'Service/shop/web', action: 'unchanged' },
    ],
    failure: { type: 'RolloutFailed', message: 'rollout failed: CrashLoopBackOff' },
    left: ['Deployment/shop/web: denied'],
    durationsMs: {},
    message: 'm',
  };

  it('a deploy: what was written, what its rollback did and left, the unhealthy workloads as evidence', () => {
    const facts = deployAlertFacts(report, 'shop');
    expect(facts.done).toEqual(['ConfigMap/shop/cfg written', 'Deployment/shop/web written']);
    expect(facts.undone).toEqual([
      'ConfigMap/shop/cfg restored',
      'Deployment/shop/web failed: denied',
      'left: Deployment/shop/web: denied',
    ]);
    expect(facts.reason).toBe('RolloutFailed: rollout failed: CrashLoopBackOff');
    expect(facts.evidence).toEqual([
      { cluster: 'local', objects: [{ kind: 'Deployment', namespace: 'shop', name: 'web' }] },
    ]);
    expect(
      buildOperationAlert({ ...facts, workflowType: 'deployManifests', workflowId: 'd', runId: 'r' }, undefined, {
        startsAt: '2026-01-01T00:00:00Z',
      }).severity,
    ).toBe('critical');
  });

  it('healthy workloads are the evidence when none is unhealthy (an analysis failed)', () => {
    expect(
      deployEvidenceRefs([{ subject: 'ConfigMap/shop/cfg' }, { subject: 'Deployment/shop/web', status: 'Current' }]),
    ).toEqual([{ kind: 'Deployment', namespace: 'shop', name: 'web' }]);
  });

  it('a node maintenance: evictions done, the node and its blocked pods as evidence', () => {
    const facts = nodeAlertFacts({
      outcome: 'failed',
      cluster: 'local',
      node: 'n1',
      wasCordoned: false,
      evicted: ['shop/a'],
      bypassed: [],
      skipped: [],
      blocked: [{ pod: 'shop/b', pdbs: ['shop/pdb'], forMs: 1 }],
      action: { status: 'none', message: '' },
      uncordoned: true,
      warnings: [],
      durationsMs: {},
      message: 'drain timed out',
    });
    expect(facts.done).toEqual(['evicted Pod/shop/a']);
    expect(facts.undone).toEqual(['Node/n1 uncordoned']);
    expect(facts.evidence[0]?.objects).toEqual([
      { kind: 'Node', name: 'n1' },
      { kind: 'Pod', namespace: 'shop', name: 'b' },
    ]);
  });
});

describe('the notify schema', () => {
  const scale = { kind: 'Deployment', name: 'web', namespace: 'shop', replicas: 2 };
  const problems = (r: { success: boolean; error?: z.ZodError }) => (r.error ? z.prettifyError(r.error) : '');

  it('names the field of a bad value', () => {
    expect(problems(ScaleWorkloadInput.safeParse({ ...scale, notify: { channels: [] } }))).toMatch(/notify\.channels/);
    expect(problems(ScaleWorkloadInput.safeParse({ ...scale, notify: { channels: ['a', 'a'] } }))).toMatch(
      /named twice/,
    );
    expect(
      problems(ScaleWorkloadInput.safeParse({ ...scale, notify: { channels: ['a'], on: ['rolledBack'] } })),
    ).toMatch(/notify\.on\[0\]/);
    expect(problems(ScaleWorkloadInput.safeParse({ ...scale, notify: { channels: ['a'], typo: 1 } }))).toMatch(/typo/);
  });

  it('each workflow accepts its own outcomes; logLines defaults to 20; default `on` is every non-success', () => {
    const parsed = DeployManifestsInput.parse({
      manifests: 'x',
      notify: { channels: ['am'], on: ['rolledBack', 'cancelled'] },
    });
    expect(parsed.notify).toEqual({ channels: ['am'], on: ['rolledBack', 'cancelled'], logLines: 20 });
    expect(notifiesOn({}, 'rolledBack')).toBe(true);
    expect(notifiesOn({}, 'succeeded')).toBe(false);
    expect(notifiesOn({ on: ['succeeded'] }, 'succeeded')).toBe(true);
  });
});

describe('pod logs on the local stack', () => {
  it('gives every node an InternalDNS address the API server dials, keeping its InternalIP', () => {
    const shape = readFileSync(new URL('../../tools/kwok/node.yaml', import.meta.url), 'utf8');
    const text = kubeletReachableNodeResource(shape);
    expect(text).toMatch(/addresses:\n {4}- address: localhost\n {6}type: InternalDNS\n/);
    expect(text).toContain('type: InternalIP');
    expect(() => kubeletReachableNodeResource('kind: Node')).toThrow(/addresses/);
  });

  it('composes with the metrics-server node shape (InternalIP 127.0.0.1 for every node)', () => {
    const text = kubeletReachableNodeResource(
      metricsNodeResource(fileURLToPath(new URL('../../tools/kwok/node.yaml', import.meta.url))),
    );
    expect(text).toContain('- address: localhost\n      type: InternalDNS');
    expect(text).toContain('- address: "127.0.0.1"');
  });

  it('writes log lines in the CRI format KWOK reads', () => {
    expect(criLogLines(['hello'], new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00.000Z stdout F hello\n');
  });
});
