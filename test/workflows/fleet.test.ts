/**
 * `rolloutFleet` branch by branch on Temporal's time-skipping test server. The activities are scripted (clusters,
 * probes, snapshots, the deploy activities, measurements, alerts); the children are the real `deployManifests` and
 * `runAnalysis` workflows. What only real servers can show (three real clusters, a stopped API server, a killed
 * worker) is in test/integration/fleet.test.ts.
 */
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { ApplyObjectsInput, DeployPlan, HealthResult, WaitForHealthInput } from '../../src/activities/index.js';
import { packJson } from '../../src/domain/compression.js';
import type { AlertEvent } from '../../src/schemas/alerts.js';
import { FleetReport, type FleetStatus, type RolloutFleetInput } from '../../src/schemas/fleet.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { useTimeSkippingWorker } from './support.js';

const manifests = `apiVersion: v1
kind: ConfigMap
metadata: { name: cfg, namespace: shop }
data: { release: v2 }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "registry.example/web:2" }] }
`;

/** The scripted world the activities answer from. */
interface World {
  clusters: { name: string; labels: Record<string, string> }[];
  /** Cluster → probes that fail before it answers (Infinity: never). */
  unreachable: Map<string, number>;
  /** Clusters whose first health wait fails (the rollout; the deploy's own undo then succeeds). */
  failHealth: Set<string>;
  /** Cluster → the metric value analyses read (default 1: passing). */
  metric: Map<string, number>;
  /** Clusters where nothing of the app existed before (empty snapshot). */
  freshInstall: Set<string>;
  calls: { name: string; cluster: string; images?: string[] }[];
  alerts: { channel: string; event: AlertEvent }[];
  probes: Map<string, number>;
  waits: Map<string, number>;
}

const defaultClusters = () => [
  { name: 'local', labels: { env: 'staging', region: 'r1' } },
  { name: 'local-2', labels: { env: 'prod', region: 'r2' } },
  { name: 'local-3', labels: { env: 'prod', region: 'r3' } },
];

function newWorld(over: Partial<World> = {}): World {
  return {
    clusters: defaultClusters(),
    unreachable: new Map(),
    failHealth: new Set(),
    metric: new Map(),
    freshInstall: new Set(),
    calls: [],
    alerts: [],
    probes: new Map(),
    waits: new Map(),
    ...over,
  };
}

let world = newWorld();
const taskQueue = 'fleet';

function imagesOf(objects: KubeObject[]): string[] {
  return objects.flatMap((o) =>
    o.kind === 'Deployment'
      ? ((
          o as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }
        ).spec.template.spec.containers.map((c) => c.image) ?? [])
      : [],
  );
}

function objectsOf(input: ApplyObjectsInput): KubeObject[] {
  return 'objects' in input.source ? input.source.objects : [];
}

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => {
    const log = (name: string, cluster: string, images?: string[]) =>
      world.calls.push({ name, cluster, ...(images ? { images } : {}) });
    const scripted = {
      listClusters: () => ({ clusters: world.clusters }),
      probeCluster: ({ cluster }: { cluster: string }) => {
        log('probeCluster', cluster);
        const n = (world.probes.get(cluster) ?? 0) + 1;
        world.probes.set(cluster, n);
        const failing = world.unreachable.get(cluster) ?? 0;
        return n > failing
          ? { cluster, reachable: true, version: 'v1.34.0' }
          : { cluster, reachable: false, reason: 'connect ECONNREFUSED 127.0.0.1:6443' };
      },
      snapshotObjects: ({ cluster, objects }: { cluster: string; objects: { subject: string }[] }) => {
        log('snapshotObjects', cluster);
        const subjects = objects.map((o) => o.subject);
        if (world.freshInstall.has(cluster))
          return { cluster, present: [], absent: subjects, takenAt: new Date().toISOString() };
        const before = manifests.replace('web:2', 'web:1').replace('release: v2', 'release: v1');
        return {
          cluster,
          present: subjects,
          absent: [],
          compressed: packJson([{ name: 'snapshot', text: before }]),
          takenAt: new Date().toISOString(),
        };
      },
      deleteObjects: ({ cluster, objects }: { cluster: string; objects: { subject: string }[] }) => {
        log('deleteObjects', cluster);
        return objects.map((o) => o.subject);
      },
      deliverAlert: ({ channel, event }: { channel: string; event: AlertEvent }) => {
        world.alerts.push({ channel, event });
        return { channel, status: 202 };
      },
      planDeploy: (input: ApplyObjectsInput): DeployPlan => {
        log('planDeploy', input.cluster);
        return {
          cluster: input.cluster,
          entries: objectsOf(input).map((o) => ({
            apiVersion: o.apiVersion,
            kind: o.kind,
            namespace: o.metadata.namespace,
            name: o.metadata.name,
            subject: `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
            action: 'configured',
            namespaced: true,
            fingerprint: 'fp',
          })),
          rollbackState: 'state',
        };
      },
      applyObjects: (input: ApplyObjectsInput) => {
        log('applyObjects', input.cluster, imagesOf(objectsOf(input)));
        return [];
      },
      waitForHealth: (input: WaitForHealthInput): HealthResult => {
        const n = (world.waits.get(input.cluster) ?? 0) + 1;
        world.waits.set(input.cluster, n);
        const failed = world.failHealth.has(input.cluster) && n === 1;
        return {
          outcome: failed ? 'Failed' : 'Current',
          objects: input.objects.map((o) => ({
            subject: o.subject,
            status: failed ? 'Failed' : 'Current',
            reason: failed ? 'CrashLoopBackOff' : 'Ready',
            message: failed ? 'container web keeps crashing' : 'ok',
          })),
          message: failed ? 'Deployment/shop/web: CrashLoopBackOff' : 'all Current',
        };
      },
      compensateObjects: (input: { cluster: string; restore: string[] }) => {
        log('compensateObjects', input.cluster);
        return input.restore.map((subject) => ({ subject, result: 'restored' as const }));
      },
      recordInventory: () => ({ pruned: [], skipped: [] }),
      measureAnalysis: (input: { cluster: string }) => {
        log('measureAnalysis', input.cluster);
        return { kind: 'value' as const, value: world.metric.get(input.cluster) ?? 1 };
      },
    };
    // activities answer asynchronously, as real ones do
    return Object.fromEntries(
      Object.entries(scripted).map(([name, fn]) => [
        name,
        (arg: never) => Promise.resolve((fn as (a: never) => unknown)(arg)),
      ]),
    );
  },
});

const analysis = {
  name: 'errors',
  provider: { http: { url: 'http://metrics.example/{{args.app}}' } },
  successCondition: 'result == 1',
};

function fleet(over: Partial<RolloutFleetInput> = {}): RolloutFleetInput {
  return {
    name: `shop-${randomBytes(3).toString('hex')}`,
    app: 'shop',
    manifests,
    waves: [
      { name: 'staging', clusters: 'env=staging', bake: { minTime: '1h', analysis, passes: 2 } },
      { name: 'prod', clusters: 'env=prod', maxParallel: 2 },
    ],
    alerts: { channels: ['oncall'] },
    ...over,
  };
}

async function start(input: RolloutFleetInput, w: World = newWorld()): Promise<WorkflowHandle> {
  world = w;
  return ts.env.client.workflow.start<(i: RolloutFleetInput) => Promise<FleetReport>>('rolloutFleet', {
    taskQueue,
    workflowId: `fleet/${input.name}`,
    args: [input],
  });
}

async function rollout(input: RolloutFleetInput, w: World = newWorld()): Promise<FleetReport> {
  return (await start(input, w)).result() as Promise<FleetReport>;
}

const status = (h: WorkflowHandle) => h.query<FleetStatus>('status');
const cell = (r: FleetStatus, cluster: string) => r.waves.flatMap((w) => w.cells).find((c) => c.cluster === cluster);
const wave = (r: FleetStatus, name: string) => r.waves.find((w) => w.name === name);
const callsOn = (cluster: string, name?: string) =>
  world.calls.filter((c) => c.cluster === cluster && (!name || c.name === name));
const ms = (iso: string | undefined) => Date.parse(iso ?? '');

async function until(h: WorkflowHandle, check: (s: FleetStatus) => boolean): Promise<FleetStatus> {
  let last: FleetStatus | undefined;
  await expect
    .poll(
      async () => {
        last = await status(h).catch(() => undefined);
        return last !== undefined && check(last);
      },
      { timeout: 20_000, interval: 100 },
    )
    .toBe(true);
  return last as FleetStatus;
}

describe('rolloutFleet (time-skipping server, scripted activities, real child workflows)', () => {
  it('deploys two waves in order: the second starts only after the first baked its minimum time and analysis passes', async () => {
    const report = await rollout(fleet());
    expect(report.outcome).toBe('succeeded');
    expect(FleetReport.parse(report)).toEqual(report); // the report is what its published schema says
    const staging = wave(report, 'staging');
    const prod = wave(report, 'prod');
    expect(staging?.cells.map((c) => c.cluster)).toEqual(['local']);
    expect(prod?.cells.map((c) => c.cluster)).toEqual(['local-2', 'local-3']);
    // the bake lasted at least its minimum time, and two analysis runs passed on local before prod started
    expect(ms(staging?.bake.endedAt) - ms(staging?.bake.startedAt)).toBeGreaterThanOrEqual(3_600_000);
    expect(staging?.bake.passes).toBe(2);
    expect(cell(report, 'local')?.analysis.map((a) => a.outcome)).toEqual(['successful', 'successful']);
    expect(ms(prod?.startedAt)).toBeGreaterThanOrEqual(ms(staging?.bake.endedAt));
    const order = world.calls.filter((c) => c.name === 'applyObjects' || c.name === 'measureAnalysis');
    const firstProd = order.findIndex((c) => c.cluster !== 'local');
    expect(order.slice(0, firstProd).map((c) => c.name)).toEqual([
      'applyObjects',
      'measureAnalysis',
      'measureAnalysis',
    ]);
    for (const c of report.waves.flatMap((w) => w.cells)) {
      expect(c).toMatchObject({ phase: 'succeeded', deployOutcome: 'succeeded', health: '2/2 Current' });
      expect(c.deployWorkflowId).toBe(`deploy/${c.cluster}/shop/shop`);
    }
    expect(world.alerts).toEqual([]);
  });

  describe.each([
    { haltPolicy: 'stop', rolledBack: [], outcome: 'halted' },
    { haltPolicy: 'rollbackWave', rolledBack: ['local-2'], outcome: 'rolledBack' },
    { haltPolicy: 'rollbackAll', rolledBack: ['local-2', 'local'], outcome: 'rolledBack' },
  ] as { haltPolicy: 'stop' | 'rollbackWave' | 'rollbackAll'; rolledBack: string[]; outcome: string }[])(
    'a failing analysis in wave 1 with haltPolicy $haltPolicy',
    ({ haltPolicy, rolledBack, outcome }) => {
      it(`halts, rolls back [${rolledBack.join(', ')}], alerts, and never touches wave 2`, async () => {
        const w = newWorld({ metric: new Map([['local-2', 0]]), freshInstall: new Set(['local']) });
        const report = await rollout(
          fleet({
            haltPolicy,
            waves: [
              { name: 'canary', clusters: ['local'] },
              { name: 'first', clusters: ['local-2'], bake: { minTime: '10m', analysis } },
              { name: 'rest', clusters: ['local-3'] },
            ],
          }),
          w,
        );
        expect(report.outcome).toBe(outcome);
        expect(report.haltReason).toMatch(/cluster local-2: analysis failed/);
        expect(wave(report, 'first')?.phase).toBe('failed');
        expect(wave(report, 'rest')).toMatchObject({ phase: 'notStarted', cells: [{ phase: 'notStarted' }] });
        expect(callsOn('local-3')).toEqual([]); // wave 2 untouched: not even probed
        const rolled = report.waves.flatMap((x) => x.cells).filter((c) => c.phase === 'rolledBack');
        expect(rolled.map((c) => c.cluster).sort()).toEqual([...rolledBack].sort());
        // latest wave first: local-2's restore ran before local's delete
        const undo = world.calls.filter(
          (c) => c.name === 'deleteObjects' || (c.name === 'applyObjects' && c.images?.[0]?.endsWith(':1')),
        );
        expect(undo.map((c) => c.cluster)).toEqual(rolledBack);
        if (rolledBack.includes('local-2')) {
          // the snapshot (web:1) was deployed back, as a normal deploy of the app on that cluster
          expect(callsOn('local-2', 'applyObjects').map((c) => c.images)).toEqual([
            ['registry.example/web:2'],
            ['registry.example/web:1'],
          ]);
          expect(cell(report, 'local-2')?.rollback).toMatchObject({
            outcome: 'succeeded',
            workflowId: 'deploy/local-2/shop/shop',
          });
        }
        if (rolledBack.includes('local')) {
          // nothing existed on local before: the rollback deleted what the fleet created
          expect(callsOn('local', 'deleteObjects')).toHaveLength(1);
          expect(cell(report, 'local')?.rollback?.outcome).toBe('deleted');
        }
        expect(w.alerts).toHaveLength(1);
        expect(w.alerts[0]?.event).toMatchObject({ severity: 'error', labels: { fleet: report.fleet, app: 'shop' } });
        expect(w.alerts[0]?.event.summary).toMatch(/halted: cluster local-2: analysis failed/);
      });
    },
  );

  it('a cluster whose deploy fails halts the fleet; its own deploy saga undid it, so the fleet does not roll it back', async () => {
    const w = newWorld({ failHealth: new Set(['local-2']) });
    const report = await rollout(
      fleet({ haltPolicy: 'rollbackWave', waves: [{ name: 'all', clusters: ['local-2', 'local-3'] }] }),
      w,
    );
    expect(report.outcome).toBe('halted');
    expect(cell(report, 'local-2')).toMatchObject({ phase: 'failed', deployOutcome: 'rolledBack' });
    expect(cell(report, 'local-3')?.phase).toBe('notStarted'); // maxParallel 1: the next cluster never started
    expect(callsOn('local-3')).toEqual([]);
  });

  it('an unreachable cluster is retried for unreachable.retryFor, then skipped with an alert; the fleet goes on', async () => {
    const w = newWorld({ unreachable: new Map([['local-2', Number.POSITIVE_INFINITY]]) });
    const report = await rollout(
      fleet({
        waves: [{ name: 'prod', clusters: 'env=prod', maxParallel: 2 }],
        unreachable: { retryFor: '2m', then: 'skip' },
      }),
      w,
    );
    expect(report.outcome).toBe('succeeded');
    const skipped = cell(report, 'local-2');
    expect(skipped?.phase).toBe('skipped');
    expect(skipped?.skipReason).toMatch(/unreachable after \d+ probes: connect ECONNREFUSED/);
    expect(skipped?.probes).toBeGreaterThanOrEqual(5); // 0 s, 5 s, 15 s, 35 s, 65 s, 95 s, 120 s
    expect(callsOn('local-2', 'applyObjects')).toEqual([]);
    expect(cell(report, 'local-3')?.phase).toBe('succeeded');
    expect(w.alerts.map((a) => a.event.severity)).toEqual(['warning']);
    expect(w.alerts[0]?.event.summary).toMatch(/cluster local-2 skipped/);
  });

  it('an unreachable cluster that comes back within retryFor is deployed', async () => {
    const w = newWorld({ unreachable: new Map([['local-2', 2]]) });
    const report = await rollout(fleet({ waves: [{ name: 'prod', clusters: ['local-2'] }] }), w);
    expect(report.outcome).toBe('succeeded');
    expect(cell(report, 'local-2')).toMatchObject({ phase: 'succeeded', probes: 3 });
  });

  it('an unreachable cluster halts the fleet when unreachable.then is halt', async () => {
    const w = newWorld({ unreachable: new Map([['local-3', Number.POSITIVE_INFINITY]]) });
    const report = await rollout(
      fleet({
        haltPolicy: 'stop',
        waves: [
          { name: 'one', clusters: ['local-2'] },
          { name: 'two', clusters: ['local-3'] },
        ],
        unreachable: { retryFor: '1m', then: 'halt' },
      }),
      w,
    );
    expect(report.outcome).toBe('halted');
    expect(report.haltReason).toMatch(/cluster local-3: unreachable after \d+ probes/);
    expect(cell(report, 'local-2')?.phase).toBe('succeeded');
    expect(w.alerts.map((a) => a.event.severity)).toEqual(['error']);
  });

  it('a freeze window defers the next wave until it ends, visible in the status query', async () => {
    const now = await ts.env.currentTimeMs();
    // a window opening 30 minutes from now, for 2 hours: wave 2 (after a 1 h bake) falls inside it
    const opens = new Date(Math.ceil((now + 30 * 60_000) / 60_000) * 60_000);
    const cron = `${opens.getUTCMinutes()} ${opens.getUTCHours()} * * *`;
    const h = await start(
      fleet({
        waves: [
          { name: 'staging', clusters: 'env=staging', bake: { minTime: '1h' } },
          { name: 'prod', clusters: 'env=prod' },
        ],
        freezeWindows: [{ cron, duration: '2h' }],
      }),
    );
    await ts.env.sleep('70m');
    const frozen = await until(h, (s) => s.phase === 'frozen');
    expect(frozen.frozen?.until).toBe(new Date(opens.getTime() + 2 * 3_600_000).toISOString());
    expect(frozen.nextTimer).toMatchObject({ purpose: expect.stringMatching(/freeze window ends/) });
    expect(wave(frozen, 'prod')?.phase).toBe('frozen');
    expect(callsOn('local-2')).toEqual([]);
    const report = (await h.result()) as FleetReport;
    expect(report.outcome).toBe('succeeded');
    expect(ms(wave(report, 'prod')?.startedAt)).toBeGreaterThanOrEqual(opens.getTime() + 2 * 3_600_000);
    expect(wave(report, 'prod')?.heldMs).toBeGreaterThan(30 * 60_000);
    expect(wave(report, 'staging')?.heldMs).toBe(0);
  });

  it('pause, skipCluster, promote and resume steer a running fleet; updates that do not apply are refused', async () => {
    const h = await start(
      fleet({
        waves: [
          { name: 'staging', clusters: 'env=staging', bake: { minTime: '10h' } },
          { name: 'prod', clusters: 'env=prod' },
        ],
      }),
    );
    const baking = await until(h, (s) => wave(s, 'staging')?.phase === 'baking');
    expect(baking).toMatchObject({ currentWave: 'staging', phase: 'running' });
    expect(baking.nextTimer?.purpose).toMatch(/bake of wave staging/);
    expect(cell(baking, 'local')).toMatchObject({ phase: 'baking', health: '2/2 Current' });
    expect(wave(baking, 'prod')?.cells.map((c) => c.phase)).toEqual(['pending', 'pending']);

    const refused = (name: string, arg?: unknown) =>
      (arg === undefined ? h.executeUpdate(name) : h.executeUpdate<unknown, [unknown]>(name, { args: [arg] })).then(
        () => 'accepted',
        (e: Error & { cause?: Error }) => e.cause?.message ?? e.message,
      );
    expect(await refused('resume')).toMatch(/not paused/);
    expect(await refused('promote', { wave: 'prod' })).toMatch(/wave prod is not the baking wave \(staging is\)/);
    expect(await refused('skipCluster', { cluster: 'nope' })).toMatch(
      /not in this fleet \(its clusters: local, local-2, local-3\)/,
    );
    expect(await refused('skipCluster', { cluster: 'local' })).toMatch(/local is baking: only a pending/);
    expect(await refused('abort', { rollback: 'sideways', reason: 'x' })).toMatch(/invalid update input/);

    await h.executeUpdate('pause', { args: [{ reason: 'change freeze', by: 'alice' }] });
    expect(await refused('pause', {})).toMatch(/already paused \(change freeze\)/);
    await h.executeUpdate('promote', { args: [{ by: 'alice' }] });
    const held = await until(h, (s) => wave(s, 'prod')?.phase === 'paused');
    expect(wave(held, 'staging')).toMatchObject({ phase: 'succeeded', bake: { promotedBy: 'alice' } });
    await h.executeUpdate('skipCluster', { args: [{ cluster: 'local-3', reason: 'region maintenance' }] });
    await h.executeUpdate('resume', { args: [] });
    const report = (await h.result()) as FleetReport;
    expect(report.outcome).toBe('succeeded');
    expect(cell(report, 'local-2')?.phase).toBe('succeeded');
    expect(cell(report, 'local-3')).toMatchObject({
      phase: 'skipped',
      skipReason: 'skipped by operator: region maintenance',
    });
    expect(callsOn('local-3')).toEqual([]);
  });

  it('abort during a bake stops the fleet and rolls back what the abort names', async () => {
    const h = await start(
      fleet({
        waves: [
          { name: 'one', clusters: ['local', 'local-2'], maxParallel: 2, bake: { minTime: '10h' } },
          { name: 'two', clusters: ['local-3'] },
        ],
      }),
    );
    await until(h, (s) => wave(s, 'one')?.phase === 'baking');
    const result = await h.executeUpdate<FleetStatus, [unknown]>('abort', {
      args: [{ rollback: 'wave', reason: 'bad release' }],
    });
    expect(result.message).toBeDefined();
    const report = (await h.result()) as FleetReport;
    expect(report).toMatchObject({ outcome: 'aborted', haltReason: 'bad release' });
    expect(wave(report, 'one')?.phase).toBe('aborted');
    expect(cell(report, 'local')?.phase).toBe('rolledBack');
    expect(cell(report, 'local-2')?.phase).toBe('rolledBack');
    expect(wave(report, 'two')?.cells[0]?.phase).toBe('notStarted');
    expect(world.alerts[0]?.event).toMatchObject({
      severity: 'warning',
      summary: expect.stringMatching(/aborted: bad release/),
    });
  });

  it('bad input fails at once naming the field: an unknown cluster, an override of a missing container', async () => {
    const err = await rollout(
      fleet({
        waves: [{ name: 'one', clusters: ['local', 'mars'] }],
        overrides: { local: { images: { api: '3' } } },
      }),
    ).catch((e: Error & { cause?: Error }) => e.cause?.message ?? e.message);
    expect(err).toMatch(/waves\.0\.clusters: cluster "mars" is not configured on the worker/);
    expect(err).toMatch(/overrides\.local\.images\.api: no container named "api"/);
    expect(world.calls).toEqual([]);
  });

  it('overrides change the image tag, replicas and namespace of one cluster only', async () => {
    const report = await rollout(
      fleet({
        waves: [{ name: 'all', clusters: 'region', maxParallel: 3 }],
        overrides: { 'local-3': { images: { web: '2-eu' }, replicas: { web: 5 }, namespace: 'shop-eu' } },
      }),
    );
    expect(report.outcome).toBe('succeeded');
    expect(callsOn('local-3', 'applyObjects')[0]?.images).toEqual(['registry.example/web:2-eu']);
    expect(callsOn('local-2', 'applyObjects')[0]?.images).toEqual(['registry.example/web:2']);
    expect(cell(report, 'local-3')?.deployWorkflowId).toBe('deploy/local-3/shop-eu/shop');
    expect(cell(report, 'local-3')?.revision).not.toBe(cell(report, 'local-2')?.revision);
  });

  it.each([3, 50])(
    'history of the fleet for %i clusters stays far below the limits',
    async (n) => {
      const clusters = Array.from({ length: n }, (_, i) => ({
        name: `c-${String(i + 1).padStart(2, '0')}`,
        labels: { env: i === 0 ? 'staging' : 'prod' },
      }));
      const h = await start(
        fleet({
          waves: [
            { name: 'staging', clusters: 'env=staging', bake: { minTime: '30m', analysis } },
            { name: 'prod', clusters: 'env=prod', maxParallel: 10, bake: { minTime: '30m', analysis } },
          ],
        }),
        newWorld({ clusters }),
      );
      const report = (await h.result()) as FleetReport;
      expect(report.outcome).toBe('succeeded');
      const history = await h.fetchHistory();
      const events = history.events?.length ?? 0;
      const bytes = JSON.stringify(history).length;
      console.log(`fleet history for ${n} clusters: ${events} events, ~${Math.round(bytes / 1024)} KiB (JSON)`);
      expect(events).toBeLessThan(20 * n + 100);
    },
    120_000,
  );
});
