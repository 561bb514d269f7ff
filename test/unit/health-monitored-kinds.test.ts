/**
 * Health rules for the kinds a monitor watches beyond workloads: Nodes (NotReady, pressure conditions), CronJobs
 * judged by their runs (last run failed, too long since the last success) and the timer that re-checks the latter.
 * Every fixture is an object read from the local API server (KWOK), times moved to the test clock
 * (test/fixtures/health, each file says how it was made).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { assessHealth, healthRecheckAt, type KubeLike } from '../../src/domain/health.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/health/', import.meta.url));
/** The clock every fixture was written against. */
const NOW = new Date('2025-09-15T10:15:00Z');

/** The first document and the Jobs after it. */
function load(name: string): { obj: KubeLike; jobs: KubeLike[] } {
  const [obj, ...rest] = parseAllDocuments(readFileSync(`${FIXTURES}${name}`, 'utf8')).map((d) => d.toJS() as KubeLike);
  if (obj === undefined) throw new Error(`fixture ${name} is empty`);
  return { obj, jobs: rest.filter((d) => d.kind === 'Job') };
}

describe('assessHealth: Node', () => {
  it('a Ready node without pressure is Current', () => {
    expect(assessHealth(load('node-ready.yaml').obj, {}, { now: NOW })).toEqual({
      status: 'Current',
      reason: 'Ready',
      message: 'node is Ready',
    });
  });

  it('a node reporting Ready=False is Failed with the kubelet reason and message', () => {
    expect(assessHealth(load('node-not-ready.yaml').obj, {}, { now: NOW })).toEqual({
      status: 'Failed',
      reason: 'NodeNotReady',
      message: 'Ready=False KubeletNotReady: container runtime is down',
    });
  });

  it('a Ready node under memory pressure is Failed naming the condition', () => {
    expect(assessHealth(load('node-memory-pressure.yaml').obj, {}, { now: NOW })).toEqual({
      status: 'Failed',
      reason: 'MemoryPressure',
      message: 'MemoryPressure=True KubeletHasInsufficientMemory: kubelet has insufficient memory available',
    });
  });

  it('a node whose kubelet stopped reporting (Ready=Unknown) is Failed as NodeStatusUnknown', () => {
    const { obj } = load('node-ready.yaml');
    const status = obj.status as { conditions: { type: string; status: string; reason: string; message: string }[] };
    const conditions = status.conditions.map((c) =>
      c.type === 'Ready'
        ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }
        : c,
    );
    expect(assessHealth({ ...obj, status: { ...status, conditions } }, {}, { now: NOW })).toMatchObject({
      status: 'Failed',
      reason: 'NodeStatusUnknown',
      message: 'Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status.',
    });
  });

  it('a cordoned Ready node is Current and says it is cordoned', () => {
    const { obj } = load('node-ready.yaml');
    expect(assessHealth({ ...obj, spec: { unschedulable: true } }, {}, { now: NOW }).message).toBe(
      'node is Ready (cordoned: no new pods are placed on it)',
    );
  });
});

describe('assessHealth: CronJob judged by its runs', () => {
  it('without cronJobRuns a CronJob is always Current, as in kstatus (a deploy has nothing to wait for)', () => {
    const { obj, jobs } = load('cronjob-last-run-failed.yaml');
    expect(assessHealth(obj, { jobs }, { now: NOW }).status).toBe('Current');
  });

  it('a CronJob whose last run failed is Failed naming the Job and the Job controller reason', () => {
    const { obj, jobs } = load('cronjob-last-run-failed.yaml');
    expect(assessHealth(obj, { jobs }, { now: NOW, cronJobRuns: {} })).toEqual({
      status: 'Failed',
      reason: 'LastRunFailed',
      message:
        'last run Job shop/billing-29932032 failed: [DeadlineExceeded] Job was active longer than specified deadline',
    });
  });

  it('a CronJob whose last run succeeded is Current and says when', () => {
    const { obj, jobs } = load('cronjob-succeeded.yaml');
    expect(assessHealth(obj, { jobs }, { now: NOW, cronJobRuns: { maxSinceSuccessSeconds: 300 } })).toEqual({
      status: 'Current',
      reason: 'LastRunSucceeded',
      message: 'last successful run at 2025-09-15T10:12:01.000Z',
    });
  });

  it('a CronJob with no success for longer than maxSinceSuccessSeconds is Failed', () => {
    const { obj, jobs } = load('cronjob-succeeded.yaml');
    expect(assessHealth(obj, { jobs }, { now: NOW, cronJobRuns: { maxSinceSuccessSeconds: 120 } })).toEqual({
      status: 'Failed',
      reason: 'NoRecentSuccess',
      message: 'no successful run for more than 2m: the last succeeded at 2025-09-15T10:12:01.000Z',
    });
  });

  it('a CronJob that never succeeded counts from its creation', () => {
    const { obj } = load('cronjob-last-run-failed.yaml');
    // its Jobs are gone (failedJobsHistoryLimit): only the time since creation (10:11:40) is left
    expect(assessHealth(obj, { jobs: [] }, { now: NOW, cronJobRuns: { maxSinceSuccessSeconds: 60 } })).toEqual({
      status: 'Failed',
      reason: 'NoRecentSuccess',
      message: 'no successful run for more than 1m: none since it was created at 2025-09-15T10:11:40Z',
    });
  });

  it('a suspended CronJob is Current whatever its runs say', () => {
    const { obj, jobs } = load('cronjob-last-run-failed.yaml');
    const suspended = { ...obj, spec: { ...(obj.spec as object), suspend: true } };
    expect(assessHealth(suspended, { jobs }, { now: NOW, cronJobRuns: { maxSinceSuccessSeconds: 60 } })).toMatchObject({
      status: 'Current',
      reason: 'Suspended',
    });
  });

  it('healthRecheckAt names the instant the success limit is passed, so a waiter re-assesses with no event', () => {
    const { obj, jobs } = load('cronjob-succeeded.yaml');
    const at = healthRecheckAt(obj, { jobs }, { now: NOW, cronJobRuns: { maxSinceSuccessSeconds: 600 } });
    expect(at?.toISOString()).toBe('2025-09-15T10:22:01.001Z');
    expect(assessHealth(obj, { jobs }, { now: at, cronJobRuns: { maxSinceSuccessSeconds: 600 } }).status).toBe(
      'Failed',
    );
    expect(healthRecheckAt(obj, { jobs }, { now: NOW })).toBeUndefined();
  });
});
