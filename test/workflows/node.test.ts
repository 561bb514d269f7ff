/**
 * `maintainNode` / `drainNode` / `uncordonNode` branch by branch on Temporal's time-skipping test server, with
 * scripted activities and the real workflows (and their maintenance-slot child `holdDeployLock`): a maintenance
 * that succeeds; one whose pods stay blocked past `escalateAfter` (alert, then the drain timeout, uncordoned); an
 * `approveBypass` that deletes the blocking pods; a failed action hook (uncordoned); a cancelled run (uncordoned);
 * `keepCordoned` (left cordoned, alerted); preflight refusals before any write; a second maintenance of the cluster
 * waiting for the slot; a drain that leaves the node cordoned. What only real servers show (budgets honoured by the
 * API server, pods rescheduled on other nodes) is in test/integration/node-maintenance.test.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  Client,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeliverAlertInput } from '../../src/activities/index.js';
import type {
  CordonInput,
  DeletePodsInput,
  EvictPodsInput,
  EvictPodsResult,
  NodeFacts,
  NodeInspection,
  NodeMaintenanceInput,
  NodeMaintenanceReport,
  PodFacts,
  RunNodeActionInput,
} from '../../src/schemas/node.js';
import {
  approveBypassUpdate,
  nodeMaintenanceQuery,
  type NodeMaintenanceStatus,
} from '../../src/workflows/node-definitions.js';
import { useTimeSkippingWorker } from './support.js';

const NODE = 'worker-1';
const uid = (): string => randomBytes(4).toString('hex');

/** One scripted run: the cluster it sees, what each eviction round answers, and every call made. */
interface Script {
  cluster: string;
  calls: { name: string; input: unknown }[];
  inspection: Omit<NodeInspection, 'cluster'>;
  /** Answer of the n-th evictPods round (0-based). */
  evict: (round: number, input: EvictPodsInput) => EvictPodsResult;
  action: (input: RunNodeActionInput) => Promise<{ status: number; message: string }>;
  ready: { ready: boolean; message: string };
}

function facts(name: string, over: Partial<NodeFacts> = {}): NodeFacts {
  return {
    name,
    labels: { 'node.kubernetes.io/pool': 'workers' },
    unschedulable: false,
    ready: true,
    problems: [],
    allocatable: { cpuMillis: 4000, memoryBytes: 2 ** 34, pods: 110 },
    requested: { cpuMillis: 0, memoryBytes: 0, pods: 0 },
    ...over,
  };
}

function pod(name: string): PodFacts {
  return {
    namespace: 'shop',
    name,
    uid: name,
    labels: { app: 'web' },
    controllerKind: 'ReplicaSet',
    mirror: false,
    emptyDir: false,
    ready: true,
    terminal: false,
    terminating: false,
    requests: { cpuMillis: 100, memoryBytes: 2 ** 20 },
  };
}

const empty: EvictPodsResult = { evicted: [], remaining: [], blocked: [], skipped: [] };
const blockedForever = (): EvictPodsResult => ({
  ...empty,
  remaining: ['shop/web-1'],
  blocked: [{ pod: 'shop/web-1', pdbs: ['shop/web'], message: 'shop/web allows 0 disruptions now' }],
});

function script(over: Partial<Script> = {}): Script {
  return {
    cluster: `c-${uid()}`,
    calls: [],
    inspection: {
      node: facts(NODE),
      others: [facts('worker-2'), facts('worker-3')],
      pods: [pod('web-1'), pod('web-2')],
      pdbs: [],
    },
    evict: (round) =>
      round === 0
        ? { ...empty, evicted: ['shop/web-1', 'shop/web-2'], remaining: ['shop/web-1', 'shop/web-2'] }
        : empty,
    action: () => Promise.resolve({ status: 200, message: 'action webhook answered 200' }),
    ready: { ready: true, message: 'Ready, no pressure or network problem' },
    ...over,
  };
}

const callsOf = (s: Script, name: string): unknown[] => s.calls.filter((c) => c.name === name).map((c) => c.input);
const names = (s: Script): string[] => s.calls.map((c) => c.name);

let active: Script = script();
let plain: Client;
const taskQueue = 'node-maintenance';

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => {
    const record = (name: string, input: unknown): void => {
      active.calls.push({ name, input });
    };
    return {
      inspectNode: (input: unknown) => {
        record('inspectNode', input);
        return Promise.resolve({ cluster: active.cluster, ...active.inspection });
      },
      cordonNode: (input: CordonInput) => {
        record('cordonNode', input);
        return Promise.resolve({ wasCordoned: active.inspection.node.unschedulable });
      },
      removeCordon: (input: CordonInput) => {
        record('removeCordon', input);
        return Promise.resolve({ uncordoned: true, message: 'uncordoned' });
      },
      evictPods: (input: EvictPodsInput) => {
        record('evictPods', input);
        const n = callsOf(active, 'evictPods').length - 1;
        return Promise.resolve(active.evict(n, input));
      },
      deletePods: (input: DeletePodsInput) => {
        record('deletePods', input);
        active.evict = () => empty; // the blocking pods are gone
        return Promise.resolve({ deleted: input.pods });
      },
      runNodeAction: (input: RunNodeActionInput) => {
        record('runNodeAction', input);
        return active.action(input);
      },
      waitNodeReady: (input: unknown) => {
        record('waitNodeReady', input);
        return Promise.resolve(active.ready);
      },
      deliverAlert: (input: DeliverAlertInput) => {
        record('deliverAlert', input);
        return Promise.resolve({ channel: input.channel, status: 200 });
      },
    };
  },
});

beforeAll(() => {
  plain = new Client({ connection: ts.env.connection, namespace: ts.env.namespace ?? 'default' });
});

async function start(
  s: Script,
  input: Partial<NodeMaintenanceInput> = {},
  type: 'maintainNode' | 'drainNode' = 'maintainNode',
): Promise<WorkflowHandle> {
  active = s;
  return ts.env.client.workflow.start(type, {
    taskQueue,
    workflowId: `node/${s.cluster}/${NODE}-${uid()}`,
    args: [{ cluster: s.cluster, node: NODE, ...input }],
  });
}

/** The message an update was refused with (the validator's error). */
async function refusal(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause?.message ?? '';
}

async function failureOf(result: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause = (err as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** Polls the status query (in real time) until `done` holds. */
async function statusUntil(handle: WorkflowHandle, done: (s: NodeMaintenanceStatus) => boolean): Promise<void> {
  await expect
    .poll(async () => done(await plain.workflow.getHandle(handle.workflowId).query(nodeMaintenanceQuery)), {
      timeout: 60_000,
      interval: 200,
    })
    .toBe(true);
}

/**
 * Moves the test server's clock 5 s at a time until the run closes, and returns its status. Explicit steps instead of
 * one long sleep: a run that reaches its timers late (a busy machine) still sees them fire, and nothing here waits in
 * real time for a timer, even when the server's automatic skipping is locked.
 */
async function advanceUntilClosed(workflowId: string, maxSteps = 60): Promise<string> {
  for (let step = 0; ; step++) {
    const status = (await plain.workflow.getHandle(workflowId).describe()).status.name;
    if (status !== 'RUNNING' || step >= maxSteps) return status;
    await ts.env.sleep('5s');
  }
}

const action = { webhook: { url: 'https://ops.example/reboot', timeout: '30s' } };

describe('maintainNode (time-skipping server, scripted activities)', () => {
  it('cordons, evicts, calls the action, waits for Ready and uncordons: succeeded', async () => {
    const s = script();
    const report = (await (await start(s, { action })).result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({
      outcome: 'succeeded',
      cluster: s.cluster,
      node: NODE,
      wasCordoned: false,
      evicted: ['shop/web-1', 'shop/web-2'],
      bypassed: [],
      action: { status: 'succeeded', message: 'action webhook answered 200' },
      ready: { ready: true },
      uncordoned: true,
    });
    expect(names(s)).toEqual([
      'inspectNode',
      'inspectNode',
      'cordonNode',
      'evictPods',
      'evictPods',
      'runNodeAction',
      'waitNodeReady',
      'removeCordon',
    ]);
    expect(callsOf(s, 'runNodeAction')[0]).toMatchObject({ url: action.webhook.url, node: NODE, timeoutMs: 30_000 });
    expect(report.message).toMatch(/maintained: 2 evicted, 0 deleted past their budget; .*; uncordoned$/);
  });

  it('alerts after escalateAfter with pods blocked, keeps trying until the drain timeout, then uncordons: failed', async () => {
    const s = script({ evict: blockedForever });
    const handle = await start(s, {
      channels: ['oncall'],
      drain: { escalateAfter: '2m', timeout: '5m', onBlocked: 'wait' },
    });
    const report = (await handle.result()) as NodeMaintenanceReport;
    expect(report.outcome).toBe('failed');
    expect(report.failure?.type).toBe('RolloutTimeout');
    expect(report.failure?.message).toMatch(
      /timed out after 300s with 1 pods left \(shop\/web-1\); blocked: shop\/web-1: shop\/web allows 0/,
    );
    expect(report.uncordoned).toBe(true);
    expect(report.escalated).toEqual({ afterMs: expect.any(Number), channels: ['oncall'] });
    expect(report.escalated?.afterMs).toBeGreaterThanOrEqual(120_000);
    expect(report.escalated?.afterMs).toBeLessThan(130_000);
    expect(report.blocked).toEqual([{ pod: 'shop/web-1', pdbs: ['shop/web'], forMs: expect.any(Number) }]);
    expect(report.blocked[0]?.forMs).toBeGreaterThanOrEqual(295_000);
    const alerts = callsOf(s, 'deliverAlert') as DeliverAlertInput[];
    expect(alerts.map((a) => [a.channel, a.event.action])).toEqual([
      ['oncall', 'trigger'],
      ['oncall', 'resolve'],
    ]);
    expect(alerts[0]?.event).toMatchObject({
      dedupKey: `${handle.workflowId}/blocked`,
      source: `Node/${NODE}`,
      labels: { alertname: 'NodeDrainBlocked', node: NODE, cluster: s.cluster },
    });
    expect(alerts[0]?.event.summary).toMatch(/blocked for 12\ds by shop\/web-1 \(shop\/web\)/);
    expect(names(s).slice(-2)).toEqual(['removeCordon', 'deliverAlert']); // uncordon first, then resolve
  });

  it('after escalation, approveBypass deletes the blocking pods (who and why recorded) and the run succeeds', async () => {
    const s = script({ evict: blockedForever });
    const handle = await start(s, { channels: ['oncall'], drain: { escalateAfter: '1m', timeout: '1h' } });
    // before escalation the update is refused
    await statusUntil(handle, (st) => st.phase === 'draining' && st.blocking.length > 0);
    expect(
      await refusal(
        plain.workflow
          .getHandle(handle.workflowId)
          .executeUpdate(approveBypassUpdate, { args: [{ by: 'alice', reason: 'early' }] }),
      ),
    ).toMatch(/not waiting for a bypass approval \(phase draining\)/);
    await ts.env.sleep('2m');
    await statusUntil(handle, (st) => st.phase === 'awaitingBypass');
    expect(
      await refusal(
        plain.workflow
          .getHandle(handle.workflowId)
          .executeUpdate(approveBypassUpdate, { args: [{ by: 'alice', reason: 'x', pods: ['shop/other'] }] }),
      ),
    ).toMatch(/not blocking now: shop\/other/);
    const approved = await plain.workflow
      .getHandle(handle.workflowId)
      .executeUpdate(approveBypassUpdate, { args: [{ by: 'alice', reason: 'single replica, window agreed' }] });
    expect(approved).toEqual({ pods: ['shop/web-1'] });
    const report = (await handle.result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({
      outcome: 'succeeded',
      bypassed: [{ pod: 'shop/web-1', by: 'alice', reason: 'single replica, window agreed' }],
      uncordoned: true,
    });
    expect(callsOf(s, 'deletePods')).toEqual([{ cluster: s.cluster, node: NODE, pods: ['shop/web-1'] }]);
    const alerts = (callsOf(s, 'deliverAlert') as DeliverAlertInput[]).map((a) => a.event.action);
    expect(alerts).toEqual(['trigger', 'resolve']);
  });

  it('a failed action hook fails the run and still uncordons the node', async () => {
    const s = script({
      action: () => Promise.reject(ApplicationFailure.nonRetryable('action webhook answered 500', 'KubeUnavailable')),
    });
    const report = (await (await start(s, { action })).result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({
      outcome: 'failed',
      action: { status: 'failed', message: 'action webhook answered 500' },
      failure: { type: 'KubeUnavailable', message: 'action webhook answered 500' },
      uncordoned: true,
    });
    expect(names(s)).not.toContain('waitNodeReady');
    expect(names(s).at(-1)).toBe('removeCordon');
  });

  it('a node not Ready after the action fails the run (RolloutTimeout) and is uncordoned', async () => {
    const s = script({ ready: { ready: false, message: 'Ready=False (KubeletNotReady)' } });
    const report = (await (
      await start(s, { action, afterAction: { timeout: '2m' } })
    ).result()) as NodeMaintenanceReport;
    expect(report.failure).toEqual({
      type: 'RolloutTimeout',
      message: `Node/${NODE} not Ready 120s after the action: Ready=False (KubeletNotReady)`,
    });
    expect(report.uncordoned).toBe(true);
  });

  it('a cancelled run stops evicting, uncordons the node and ends cancelled; the query keeps the report', async () => {
    const s = script({ evict: blockedForever });
    const handle = await start(s, { drain: { escalateAfter: '1h' } });
    await statusUntil(handle, (st) => st.blocking.length > 0);
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(names(s).at(-1)).toBe('removeCordon');
    const st = await plain.workflow.getHandle(handle.workflowId).query(nodeMaintenanceQuery);
    expect(st.report).toMatchObject({ outcome: 'failed', failure: { type: 'Cancelled' }, uncordoned: true });
  });

  it('keepCordoned.onFailure leaves the node cordoned, records the reason and alerts it', async () => {
    const s = script({
      action: () => Promise.reject(ApplicationFailure.nonRetryable('action webhook answered 500', 'KubeUnavailable')),
    });
    const report = (await (
      await start(s, {
        action,
        channels: ['oncall'],
        keepCordoned: { onFailure: true, reason: 'disk replaced by hand' },
      })
    ).result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({ outcome: 'failed', uncordoned: false, keptCordoned: 'disk replaced by hand' });
    expect(names(s)).not.toContain('removeCordon');
    const alerts = callsOf(s, 'deliverAlert') as DeliverAlertInput[];
    expect(alerts.map((a) => [a.event.action, a.event.labels?.alertname])).toEqual([['trigger', 'NodeKeptCordoned']]);
    expect(alerts[0]?.event.summary).toBe(`Node/${NODE} left cordoned: disk replaced by hand`);
  });

  it('a node cordoned by someone else before the run is never uncordoned', async () => {
    const s = script();
    s.inspection.node.unschedulable = true;
    const report = (await (await start(s)).result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({
      outcome: 'succeeded',
      wasCordoned: true,
      uncordoned: false,
      keptCordoned: 'it was cordoned before this run',
    });
    expect(report.warnings).toContain(`${NODE} was already cordoned before this run: it stays cordoned afterwards`);
    expect(names(s)).not.toContain('removeCordon');
  });

  it('refuses a control-plane node and the last schedulable node of its pool before any write', async () => {
    const cp = script();
    cp.inspection.node.labels['node-role.kubernetes.io/control-plane'] = '';
    const f = await failureOf((await start(cp)).result());
    expect(f.type).toBe('PolicyViolation');
    expect(f.message).toMatch(/is a control-plane node/);
    expect(names(cp)).toEqual(['inspectNode', 'inspectNode']);

    const last = script();
    last.inspection.others = [facts('worker-2', { unschedulable: true })];
    const g = await failureOf((await start(last)).result());
    expect(g.message).toMatch(/last Ready schedulable node of pool node.kubernetes.io\/pool=workers/);
    expect(names(last)).not.toContain('cordonNode');
  });

  it('rejects bad input in the first task, naming the field', async () => {
    const s = script();
    const f = await failureOf((await start(s, { drain: { escalateAfter: 'soon' } })).result());
    expect(f.type).toBe('InvalidInput');
    expect(f.message).toMatch(/drain\.escalateAfter/);
    expect(s.calls).toEqual([]);
  });

  it('drainNode leaves the node cordoned when it succeeds', async () => {
    const s = script();
    const report = (await (await start(s, {}, 'drainNode')).result()) as NodeMaintenanceReport;
    expect(report).toMatchObject({ outcome: 'succeeded', uncordoned: false, keptCordoned: 'keepCordoned.onSuccess' });
    expect(report.message).toMatch(/drained: 2 evicted/);
    expect(names(s)).not.toContain('removeCordon');
  });

  it('a second maintenance of the cluster waits for the slot and is refused naming it; with maxUnavailable 2 it runs', async () => {
    const s = script({ evict: blockedForever });
    const first = await start(s, { drain: { escalateAfter: '1h', timeout: '2h' } });
    await statusUntil(first, (st) => st.blocking.length > 0);
    const second = script({ cluster: s.cluster });
    second.inspection = s.inspection;
    const other = await ts.env.client.workflow.start('maintainNode', {
      taskQueue,
      workflowId: `node/${s.cluster}/worker-2-${uid()}`,
      args: [{ cluster: s.cluster, node: 'worker-2' }],
    });
    // past the slot's retry delays (about a minute of workflow time), whenever the run reaches them
    expect(await advanceUntilClosed(other.workflowId)).toBe('FAILED');
    const f = await failureOf(plain.workflow.result(other.workflowId));
    expect(f.type).toBe('PolicyViolation');
    expect(f.message).toMatch(new RegExp(`every node maintenance slot of cluster ${s.cluster} is held`));
    expect(f.message).toMatch(new RegExp(`node-maintenance/${s.cluster}/0; maxUnavailable 1`));
    // with maxUnavailable 2 the same second maintenance takes the cluster's next slot and runs
    active = script({ cluster: s.cluster });
    const next = await ts.env.client.workflow.start('maintainNode', {
      taskQueue,
      workflowId: `node/${s.cluster}/worker-3-${uid()}`,
      args: [{ cluster: s.cluster, node: 'worker-3', maxUnavailable: 2 }],
    });
    expect(await advanceUntilClosed(next.workflowId)).toBe('COMPLETED');
    expect(await plain.workflow.result(next.workflowId)).toMatchObject({ outcome: 'succeeded', uncordoned: true });
    await first.cancel();
    await plain.workflow.result(first.workflowId).catch(() => undefined);
  });
});
