/**
 * `monitorHealth` branch by branch on Temporal's time-skipping test server, with scripted activities: a target
 * unhealthy for its `for` window pages once, recovery resolves with the same dedupe key, keep-alives follow their
 * interval, hours of quiet continue-as-new with the open incident carried over, and a paused monitor neither
 * observes nor alerts. Rules with time of the wider monitor (a resource threshold's own `for` window, a CronJob's
 * `maxSinceSuccess`) run the real assessment (`KubeAssessor`) over scripted watch caches at a clock that moves with
 * the skipped time. What only real servers can show (watches, Alertmanager, webhooks) is in
 * test/integration/monitor.test.ts.
 *
 * The scripted observer works like `observeHealth` (src/activities/monitor.ts): it signals the workflow what
 * changed (`observations`, with the epoch it was started with; relative to `known` on a first attempt, a full
 * snapshot on a retried one) and stays open for more. The test server does not skip time while an activity runs,
 * so while the test lets time pass the observer is away: it "loses its watch" (fails retryably, `nextRetryDelay`
 * up to the moment the test wants it back, at most {@link RESYNC_MS}), and a retried attempt that comes back
 * before that moment returns every observation at once, as the real observer does at each 30-minute resync.
 * It is never running when the workflow continues-as-new after such a round: the test server would keep an
 * activity of a closed run pending, and no time would be skipped after it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeAssessor, type MetricsRead } from '../../src/activities/monitor-kube.js';
import type {
  DeliverAlertInput,
  Observation,
  ObservationBatch,
  ObserveHealthInput,
  ObserveHealthResult,
} from '../../src/activities/index.js';
import type { PodMetricsSample } from '../../src/domain/resource-usage.js';
import type { LiveObject, WatchedState } from '../../src/kube/index.js';
import {
  MonitorTarget,
  OBSERVATIONS_SIGNAL,
  type MonitorHealthInput,
  type MonitorStatus,
} from '../../src/schemas/monitor.js';
import { waitFor } from '../support/poll.js';
import { useTimeSkippingWorker } from './support.js';

/** Longest the scripted observer stays away: the real observer's resync interval (OBSERVE_MAX_SECONDS). */
const RESYNC_MS = 30 * 60_000;
const taskQueue = 'monitor-workflow';

const http = (id: string): MonitorTarget => ({
  type: 'http',
  id,
  url: `http://${id}.shop.example/healthz`,
  expectStatus: 200,
  timeoutMs: 5_000,
});
/** A target's key, as the real observer names it (only HTTP targets are scripted here). */
const keyOf = (t: MonitorTarget): string => (t.type === 'http' ? `http:${t.id}` : `unscripted:${t.type}`);

/** What one monitor's scripted world looks like, and what its activities were asked to do. */
class World {
  /** Health of each target key, as the observer sees it now. */
  readonly health = new Map<string, boolean>();
  /**
   * What the observer sees of `kube` targets at a server time (ms), computed by the real assessment code over a
   * scripted watch cache (test/workflows/monitor-breadth.test.ts).
   */
  kube?: (nowMs: number) => Observation[];
  /** Server time (ms) before which the observer stays away, so the test server can skip time. */
  resumeAt = 0;
  /** Quiet: the observer only resyncs, it does not come back to listen when `resumeAt` has passed. */
  quiet = false;
  /** Observer attempts open and listening for changes (two overlap while a replaced one is being cancelled). */
  listening = 0;
  /** Activity attempts running now, and when one last started or ended (real time). */
  running = 0;
  lastActivityAt = 0;
  /** The observer's access is refused: every attempt fails with this. */
  refuse?: ApplicationFailure;
  readonly observations: { input: ObserveHealthInput; attempt: number; runId: string }[] = [];
  readonly deliveries: DeliverAlertInput[] = [];
  private readonly listeners = new Set<() => void>();

  /** Runs a scripted activity, counting it in `running`. */
  async activity<T>(fn: () => Promise<T>): Promise<T> {
    this.running += 1;
    this.lastActivityAt = Date.now();
    try {
      return await fn();
    } finally {
      this.running -= 1;
      this.lastActivityAt = Date.now();
    }
  }
  set(health: Record<string, boolean>): void {
    for (const [key, healthy] of Object.entries(health)) this.health.set(key, healthy);
    this.changed();
  }
  changed(): void {
    for (const l of this.listeners) l();
  }
  listen(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** Alert events as `<action>[ keep-alive] <dedupKey>`, one per event: every event goes to every channel. */
  alerts(): string[] {
    return this.deliveries
      .filter((d) => d.channel === channels[0])
      .map((d) => `${d.event.action}${d.keepAliveOnly ? ' keep-alive' : ''} ${d.event.dedupKey}`);
  }
}

const channels = ['am', 'hook'];
const worlds = new Map<string, World>();

/** The world of the workflow an activity runs for. */
function worldOf(ctx: Context): { world: World; workflowId: string; runId: string } {
  const run = ctx.info.workflowExecution;
  const world = worlds.get(run?.workflowId ?? '');
  if (!run || !world) throw ApplicationFailure.nonRetryable(`no scripted world for ${run?.workflowId}`);
  return { world, ...run };
}

/** The scripted `observeHealth`. */
async function observeHealth(input: ObserveHealthInput): Promise<ObserveHealthResult> {
  const ctx = Context.current();
  const { world } = worldOf(ctx);
  return world.activity(() => observe(input, ctx));
}

/** One attempt of the scripted observer. */
async function observe(input: ObserveHealthInput, ctx: Context): Promise<ObserveHealthResult> {
  const { world, workflowId, runId } = worldOf(ctx);
  const { attempt } = ctx.info;
  world.observations.push({ input, attempt, runId });
  if (world.refuse) throw world.refuse;
  const keys = new Set(input.targets.map(keyOf));
  const reported = new Map(attempt > 1 ? [] : Object.entries(input.known));
  const epoch = input.stream?.epoch ?? 0;
  const watchesKube = input.targets.some((t) => t.type === 'kube');
  const visible = async (): Promise<Observation[]> => [
    ...[...world.health]
      .filter(([key]) => keys.has(key))
      .map(([key, healthy]) => ({ key, healthy, message: healthy ? 'HTTP 200' : 'HTTP 503, expected 200' })),
    ...(watchesKube && world.kube ? world.kube(await ts.env.currentTimeMs()) : []),
  ];
  const send = async (full: boolean): Promise<void> => {
    const obs = await visible();
    const batch: ObservationBatch = full
      ? { epoch, observations: obs, removed: [], full: true }
      : {
          epoch,
          observations: obs.filter((o) => reported.get(o.key) !== o.healthy),
          removed: [...reported.keys()].filter((k) => !obs.some((o) => o.key === k)),
        };
    if (!full && !batch.observations.length && !batch.removed.length) return;
    await ts.env.client.workflow.getHandle(workflowId, runId).signal(OBSERVATIONS_SIGNAL, batch);
    if (full) reported.clear();
    for (const o of batch.observations) reported.set(o.key, o.healthy);
    for (const k of batch.removed) reported.delete(k);
  };
  const away = async (): Promise<number> => world.resumeAt - (await ts.env.currentTimeMs());

  let remaining = await away();
  // back before the test wants it, or quiet: a resync, as when the real observer reaches its maximum duration
  if (attempt > 1 && (remaining > 0 || world.quiet)) return { observations: await visible(), changed: [] };
  await send(attempt > 1);
  if (remaining <= 0 && !world.quiet) remaining = await hold(world, ctx, send, away);
  throw ApplicationFailure.create({
    message: 'scripted: watch lost while time passes',
    type: 'KubeUnavailable',
    nextRetryDelay: remaining > 0 ? Math.max(100, Math.min(remaining, RESYNC_MS)) : RESYNC_MS,
  });
}

/** Keeps the observation open, signalling each change, until cancelled or told to go away (returns for how long). */
async function hold(
  world: World,
  ctx: Context,
  send: (full: boolean) => Promise<void>,
  away: () => Promise<number>,
): Promise<number> {
  world.listening += 1;
  const beat = setInterval(() => ctx.heartbeat(), 1_000);
  let chain = Promise.resolve();
  let stop: (() => void) | undefined;
  try {
    return await new Promise<number>((resolve, reject) => {
      const check = (): void => {
        chain = chain
          .then(() => send(false))
          .then(away)
          .then((ms) => (ms > 0 ? resolve(ms) : undefined), reject);
      };
      stop = world.listen(check);
      check(); // what changed since the first report, before this listener was there
      ctx.cancelled.catch(reject);
    });
  } finally {
    world.listening -= 1;
    stop?.();
    clearInterval(beat);
  }
}

const ts = useTimeSkippingWorker({
  taskQueue,
  activities: () => ({
    observeHealth,
    deliverAlert: (input: DeliverAlertInput) => {
      const { world } = worldOf(Context.current());
      return world.activity(() => {
        world.deliveries.push(input);
        return Promise.resolve({ channel: input.channel, status: 202 });
      });
    },
  }),
});

afterEach(async () => {
  // Time skipping is global to the test server and a running activity holds it; so does, for good, one still
  // running when its run closes. Send the observer away and let every attempt end before cancelling.
  for (const m of monitors.splice(0)) {
    m.world.resumeAt = Infinity;
    m.world.changed();
    await waitFor(
      () => m.world.running === 0 && Date.now() - m.world.lastActivityAt >= 500,
      'every activity to end (and no new one to start)',
    );
    await ts.env.client.workflow
      .getHandle(m.workflowId)
      .cancel()
      .catch(() => undefined);
  }
});

interface Monitor {
  handle: WorkflowHandle;
  /** The run the monitor started with. */
  firstRunId: string;
  world: World;
  workflowId: string;
  /** The status of the current run (after continue-as-new too). */
  status(): Promise<MonitorStatus>;
  target(key: string): Promise<MonitorStatus['targets'][number] | undefined>;
}

/**
 * Starts a monitor of HTTP targets whose health is scripted; returns once every target is observed healthy (with
 * `refuse`, at once: its observer fails every attempt with it).
 */
async function startMonitor(
  ids: string[],
  input: Partial<MonitorHealthInput> = {},
  refuse?: ApplicationFailure,
): Promise<Monitor> {
  const workflowId = `monitor/ts-${randomBytes(4).toString('hex')}`;
  const world = new World();
  if (refuse) world.refuse = refuse;
  for (const id of ids) world.health.set(`http:${id}`, true);
  worlds.set(workflowId, world);
  const handle = await ts.env.client.workflow.start('monitorHealth', {
    taskQueue,
    workflowId,
    args: [{ name: 'shop', targets: ids.map(http), channels, forSeconds: 60, keepAliveSeconds: 120, ...input }],
  });
  const latest = (): WorkflowHandle => ts.env.client.workflow.getHandle(workflowId);
  const m: Monitor = {
    handle,
    firstRunId: handle.firstExecutionRunId,
    world,
    workflowId,
    status: () => latest().query<MonitorStatus>('status'),
    target: async (key) => (await m.status()).targets.find((t) => t.key === key),
  };
  monitors.push(m);
  if (refuse) return m;
  await waitFor(async () => (await m.status()).healthy === ids.length && world.listening > 0, 'every target healthy');
  return m;
}

/** The observer sees new health; returns once the workflow has recorded it. */
async function report(m: Monitor, health: Record<string, boolean>): Promise<void> {
  m.world.set(health);
  await waitFor(
    async () => {
      const s = await m.status();
      return Object.entries(health).every(
        ([key, healthy]) => s.targets.find((t) => t.key === key)?.healthy === healthy,
      );
    },
    `the workflow to record ${JSON.stringify(health)}`,
  );
}

/**
 * Lets workflow time pass (skipped) while the observer is away. `observer`: `back` (listening again afterwards,
 * with a full snapshot), `quiet` (it only resyncs, every {@link RESYNC_MS}, until told otherwise), `none` (the
 * monitor is paused: nobody observes).
 */
async function passTime(m: Monitor, ms: number, observer: 'back' | 'quiet' | 'none' = 'back'): Promise<void> {
  m.world.quiet = observer === 'quiet';
  m.world.resumeAt = (await ts.env.currentTimeMs()) + ms;
  m.world.changed();
  await ts.env.sleep(ms);
  if (observer === 'back') await waitFor(() => m.world.listening > 0, 'the observer to be back');
}

const monitors: Monitor[] = [];
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('monitorHealth (time-skipping server, scripted activities)', () => {
  it('a target unhealthy for less than forSeconds does not alert; one that stays fires exactly one trigger', async () => {
    const m = await startMonitor(['web', 'api']);
    await report(m, { 'http:web': false });
    expect((await m.target('http:web'))?.state).toBe('pending');
    await passTime(m, 30_000);
    await report(m, { 'http:web': true });
    await passTime(m, 5 * MINUTE);
    expect(m.world.deliveries).toEqual([]);

    await report(m, { 'http:web': false });
    await passTime(m, 50_000);
    expect((await m.target('http:web'))?.state).toBe('pending');
    await passTime(m, 15_000);
    expect(await m.target('http:web')).toMatchObject({ state: 'degraded', incidents: 1 });
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`]);
    // one activity per channel, each with the same event
    expect(m.world.deliveries.map((d) => `${d.channel} keepAliveOnly=${d.keepAliveOnly}`).sort()).toEqual([
      'am keepAliveOnly=false',
      'hook keepAliveOnly=false',
    ]);
    expect(m.world.deliveries[0]?.event).toEqual(m.world.deliveries[1]?.event);
    expect(m.world.deliveries[0]?.event).toMatchObject({
      summary: 'http:web is degraded: HTTP 503, expected 200',
      labels: { monitor: 'shop', target: 'http:web', incident: '1' },
    });
    expect((await m.target('http:api'))?.state).toBe('healthy');
  });

  it('recovery resolves the incident once, with the trigger’s dedupe key, and nothing follows', async () => {
    const m = await startMonitor(['web'], { forSeconds: 10 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000);
    await report(m, { 'http:web': true });
    await waitFor(() => m.world.alerts().length === 2, 'the resolve');
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`, `resolve ${m.workflowId}/http:web/1`]);
    expect(m.world.deliveries.at(-1)?.event).toMatchObject({
      summary: 'http:web recovered',
      endsAt: expect.any(String),
    });
    await passTime(m, HOUR);
    expect(m.world.alerts()).toHaveLength(2);
    expect(await m.target('http:web')).toMatchObject({ state: 'healthy', incidents: 1 });
  });

  it('an open incident is re-sent to expiring channels every keepAliveSeconds, under the same dedupe key', async () => {
    const m = await startMonitor(['web'], { forSeconds: 10, keepAliveSeconds: 120 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000);
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`]);
    await passTime(m, 110_000);
    expect(m.world.alerts()).toHaveLength(1);
    await passTime(m, 20_000);
    expect(m.world.alerts()).toEqual([
      `trigger ${m.workflowId}/http:web/1`,
      `trigger keep-alive ${m.workflowId}/http:web/1`,
    ]);
    await passTime(m, 120_000);
    expect(m.world.alerts().filter((a) => a.includes('keep-alive'))).toHaveLength(2);
    expect(
      m.world.deliveries
        .filter((d) => d.keepAliveOnly)
        .map((d) => d.channel)
        .sort(),
    ).toEqual(['am', 'am', 'hook', 'hook']);
  });

  it('reminders go to every channel every remindEverySeconds, keep-alives in between do not postpone them', async () => {
    const m = await startMonitor(['web'], { forSeconds: 10, keepAliveSeconds: 120, remindEverySeconds: 300 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000); // fired at 10 s
    await passTime(m, 300_000); // keep-alives at 130 s and 250 s, the reminder at 310 s
    const key = `${m.workflowId}/http:web/1`;
    expect(m.world.alerts()).toEqual([
      `trigger ${key}`,
      `trigger keep-alive ${key}`,
      `trigger keep-alive ${key}`,
      `trigger ${key}`,
    ]);
    await passTime(m, 300_000); // keep-alives at 430 s and 550 s, the next reminder at 610 s
    expect(m.world.alerts().slice(4)).toEqual([
      `trigger keep-alive ${key}`,
      `trigger keep-alive ${key}`,
      `trigger ${key}`,
    ]);
    // a reminder is a full re-send: channels that ignore keep-alives (keepAliveOnly) get it too
    expect(m.world.deliveries.filter((d) => d.channel === 'hook').map((d) => d.keepAliveOnly)).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
      false,
    ]);
  });

  it('hours of quiet continue-as-new with the open incident carried over; its resolve uses the same key', async () => {
    const m = await startMonitor(['web', 'api'], { forSeconds: 10, keepAliveSeconds: 1_800, maxIterationsPerRun: 4 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000, 'quiet');
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`]);

    // one observation round per resync: a run hands over after 4 of them, about every two hours
    await passTime(m, 5 * HOUR, 'quiet');
    const runs = [...new Set(m.world.observations.map((o) => o.runId))];
    expect(runs.length).toBeGreaterThanOrEqual(3);
    const first = await ts.env.client.workflow.getHandle(m.workflowId, m.firstRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    // the latest run started with the state the previous one carried: it knows the target is down
    const latest = m.world.observations.filter((o) => o.runId === runs.at(-1));
    expect(latest[0]?.input.known).toEqual({ 'http:web': false, 'http:api': true });
    expect(await m.target('http:web')).toMatchObject({ state: 'degraded', incidents: 1, open: { number: 1 } });
    expect(await m.target('http:api')).toMatchObject({ state: 'healthy', incidents: 0 });
    // never re-fired: keep-alives every 30 minutes across the runs, all for incident 1
    const alerts = m.world.alerts();
    expect(alerts.filter((a) => a.startsWith('trigger ') && !a.includes('keep-alive'))).toHaveLength(1);
    expect(alerts.filter((a) => a.includes('keep-alive'))).toHaveLength(10);
    expect(new Set(alerts.map((a) => a.split(' ').at(-1)))).toEqual(new Set([`${m.workflowId}/http:web/1`]));

    // it recovers; the next resync sees it
    m.world.set({ 'http:web': true });
    await passTime(m, 31 * MINUTE, 'quiet');
    expect(m.world.alerts().at(-1)).toBe(`resolve ${m.workflowId}/http:web/1`);
    expect(await m.target('http:web')).toMatchObject({ state: 'healthy', incidents: 1 });
  });

  it('a paused monitor neither observes nor alerts; resumed, it observes again and resolves what recovered', async () => {
    const m = await startMonitor(['web', 'api'], { forSeconds: 10 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000);
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`]);

    await m.handle.executeUpdate('setPaused', { args: [{ paused: true, reason: 'maintenance' }] });
    await waitFor(() => m.world.listening === 0, 'the observation to stop');
    expect((await m.status()).paused).toBe(true);
    const observationsBefore = m.world.observations.length;
    const alertsBefore = m.world.alerts().length;
    m.world.set({ 'http:api': false });
    await passTime(m, 2 * HOUR, 'none');
    expect(m.world.observations).toHaveLength(observationsBefore);
    expect(m.world.alerts()).toHaveLength(alertsBefore);
    expect(await m.target('http:web')).toMatchObject({ state: 'degraded', open: { number: 1 } });
    expect((await m.target('http:api'))?.state).toBe('healthy');

    m.world.set({ 'http:web': true });
    await m.handle.executeUpdate('setPaused', { args: [{ paused: false }] });
    await waitFor(() => m.world.alerts().at(-1)?.startsWith('resolve') ?? false, 'the resolve');
    expect(m.world.alerts().at(-1)).toBe(`resolve ${m.workflowId}/http:web/1`);
    expect((await m.status()).paused).toBe(false);
    expect((await m.target('http:api'))?.state).toBe('pending');
  });

  it('removing a target with an open incident resolves it as no longer monitored', async () => {
    const m = await startMonitor(['web', 'api'], { forSeconds: 10 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000);
    const left = await m.handle.executeUpdate<number, [{ targets: MonitorTarget[] }]>('removeTargets', {
      args: [{ targets: [http('web')] }],
    });
    expect(left).toBe(1);
    await waitFor(() => m.world.alerts().length === 2, 'the resolve');
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/http:web/1`, `resolve ${m.workflowId}/http:web/1`]);
    expect(m.world.deliveries.at(-1)?.event.details).toMatchObject({ message: 'no longer monitored' });
    expect(m.world.observations.at(-1)?.input.targets.map(keyOf)).toEqual(['http:api']);
  });
});

/** A health fixture's documents (objects read from the local API server, times on the fixture clock). */
function fixture(name: string): LiveObject[] {
  const text = readFileSync(fileURLToPath(new URL(`../fixtures/health/${name}`, import.meta.url)), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJS() as LiveObject);
}

/** A watch cache of these objects, keyed as the real one is. */
function watchCache(objects: readonly LiveObject[]): WatchedState {
  return new Map(objects.map((o) => [`${o.apiVersion}|${o.kind}|${o.metadata.namespace ?? ''}|${o.metadata.name}`, o]));
}

/**
 * Starts a monitor of one kube target whose observations the real {@link KubeAssessor} computes, at a clock that
 * starts at `clockStart` (the fixtures' time) and moves with the test server's skipped time; returns once the
 * workflow knows every observation.
 */
async function startKubeMonitor(
  target: MonitorTarget,
  cache: () => WatchedState,
  metrics: () => ReadonlyMap<string, MetricsRead>,
  input: Partial<MonitorHealthInput>,
  clockStart = Date.parse('2025-09-15T10:15:00Z'),
): Promise<Monitor & { clock(nowMs: number): Date }> {
  const workflowId = `monitor/ts-${randomBytes(4).toString('hex')}`;
  const world = new World();
  const serverStart = await ts.env.currentTimeMs();
  const clock = (nowMs: number): Date => new Date(clockStart + (nowMs - serverStart));
  const kube = target.type === 'kube' ? [target] : [];
  world.kube = (nowMs) => new KubeAssessor(kube, {}).assess(cache(), clock(nowMs), metrics()).observations;
  worlds.set(workflowId, world);
  const expected = world.kube(serverStart).length;
  const handle = await ts.env.client.workflow.start('monitorHealth', {
    taskQueue,
    workflowId,
    args: [{ name: 'shop', targets: [target], channels, keepAliveSeconds: 3_600, ...input }],
  });
  const latest = (): WorkflowHandle => ts.env.client.workflow.getHandle(workflowId);
  const m = {
    handle,
    firstRunId: handle.firstExecutionRunId,
    world,
    workflowId,
    status: () => latest().query<MonitorStatus>('status'),
    target: async (key: string) => (await m.status()).targets.find((t) => t.key === key),
    clock,
  };
  monitors.push(m);
  await waitFor(
    async () => (await m.status()).targets.length === expected && world.listening > 0,
    'every kube observation recorded',
  );
  return m;
}

describe('monitor breadth: rules with time (time-skipping server, real assessment over scripted caches)', () => {
  it('a CPU threshold with its own for window stays pending past the monitor’s window and fires after its own', async () => {
    const objects = fixture('resource-usage-web.yaml');
    const pods = objects.filter((o) => o.kind === 'Pod');
    const rs = (pods[0]?.metadata as { ownerReferences?: { uid: string; name: string }[] }).ownerReferences?.[0];
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop', uid: 'web-uid' },
      spec: { replicas: 2 },
      status: {
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
        conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
      },
    } as unknown as LiveObject;
    const replicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rs?.name ?? 'web-rs',
        namespace: 'shop',
        uid: rs?.uid,
        ownerReferences: [{ uid: 'web-uid', kind: 'Deployment', name: 'web' }],
      },
    } as unknown as LiveObject;
    const hot = objects.filter((o) => o.kind === ('PodMetrics' as string)) as unknown as PodMetricsSample[];
    const cool: PodMetricsSample[] = hot.map((s) => ({
      ...s,
      containers: (s.containers ?? []).map((c) => ({ ...c, usage: { cpu: '50m' } })),
    }));
    let samples = cool;
    const cache = watchCache([deployment, replicaSet, ...pods]);
    const m = await startKubeMonitor(
      MonitorTarget.parse({
        type: 'kube',
        namespace: 'shop',
        names: ['web'],
        kinds: ['Deployment'],
        resources: { cpu: { above: '80%', of: 'requests', for: '2m' } },
      }),
      () => cache,
      () => new Map([['shop', { samples }]]),
      { forSeconds: 10 },
    );
    const key = 'cpu:Deployment/shop/web';
    expect(await m.target(key)).toMatchObject({
      state: 'healthy',
      message: expect.stringMatching(/^cpu at 50% of requests \(100m of 200m, 2 pods; .*\), threshold 80%$/),
    });

    samples = hot; // KWOK's simulated use rises to 300% of requests
    m.world.changed();
    await waitFor(async () => (await m.target(key))?.state === 'pending', 'the threshold to be crossed');
    expect(await m.target(key)).toMatchObject({
      forSeconds: 120,
      message: expect.stringMatching(/^cpu at 300% of requests/),
    });
    await passTime(m, 60_000); // well past the monitor's 10 s window, inside the threshold's 2 minutes
    expect((await m.target(key))?.state).toBe('pending');
    expect(m.world.alerts()).toEqual([]);
    await passTime(m, 65_000);
    expect(await m.target(key)).toMatchObject({ state: 'degraded', incidents: 1 });
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/${key}/1`]);
    expect(m.world.deliveries[0]?.event.summary).toMatch(
      /^cpu:Deployment\/shop\/web is degraded: cpu at 300% of requests/,
    );
    expect((await m.target('Deployment/shop/web'))?.state).toBe('healthy');

    samples = cool;
    m.world.changed();
    await waitFor(() => m.world.alerts().length === 2, 'the resolve');
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/${key}/1`, `resolve ${m.workflowId}/${key}/1`]);
  });

  it('a CronJob with no success within maxSinceSuccess turns unhealthy as time passes, alerts after the window, and a new success resolves it', async () => {
    const [cronJob, job] = fixture('cronjob-succeeded.yaml') as [LiveObject, LiveObject];
    let current = cronJob; // last success 10:12:01 on the fixture clock; the clock starts at 10:15:00
    const m = await startKubeMonitor(
      MonitorTarget.parse({ type: 'kube', namespace: 'shop', kinds: ['CronJob'], maxSinceSuccess: '10m' }),
      () => watchCache([current, job]),
      () => new Map(),
      { forSeconds: 60 },
    );
    const key = 'CronJob/shop/report';
    expect(await m.target(key)).toMatchObject({
      state: 'healthy',
      message: 'Current LastRunSucceeded: last successful run at 2025-09-15T10:12:01.000Z',
    });

    await passTime(m, 6 * MINUTE); // 10:21:00: 8m59s since the last success
    expect((await m.target(key))?.state).toBe('healthy');
    await passTime(m, 2 * MINUTE); // 10:23:00: past 10 minutes, no event needed
    expect(await m.target(key)).toMatchObject({
      state: 'pending',
      message:
        'Failed NoRecentSuccess: no successful run for more than 10m: the last succeeded at 2025-09-15T10:12:01.000Z',
    });
    await passTime(m, 70_000);
    expect(await m.target(key)).toMatchObject({ state: 'degraded', incidents: 1 });
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/${key}/1`]);

    // the next run succeeds: the CronJob controller records it
    const at = m.clock(await ts.env.currentTimeMs()).toISOString();
    current = { ...cronJob, status: { ...(cronJob.status as object), lastSuccessfulTime: at } };
    m.world.changed();
    await waitFor(() => m.world.alerts().length === 2, 'the resolve');
    expect(m.world.alerts()).toEqual([`trigger ${m.workflowId}/${key}/1`, `resolve ${m.workflowId}/${key}/1`]);
    expect((await m.target(key))?.message).toMatch(/^Current LastRunSucceeded/);
  });
});

describe('how a monitor ends (time-skipping server, scripted activities)', () => {
  it('input that fails the schema fails the run in its first task, InvalidInput naming the field', async () => {
    const err = await ts.env.client.workflow
      .execute('monitorHealth', {
        taskQueue,
        workflowId: `monitor/ts-bad-${randomBytes(4).toString('hex')}`,
        args: [{ name: 'shop', targets: [http('web')], channels, forSeconds: -1 }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(cause.message).toMatch(/invalid monitor input:[\s\S]*forSeconds/);
  });

  it('an observation refused for good (a non-retryable failure) fails the run with that failure', async () => {
    const forbidden = ApplicationFailure.create({
      message: 'deployments.apps is forbidden',
      type: 'KubeForbidden',
      nonRetryable: true,
    });
    const m = await startMonitor(['web'], {}, forbidden);
    const err = await m.handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const activity = (err as WorkflowFailedError).cause;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect(activity?.cause).toMatchObject({ type: 'KubeForbidden', message: forbidden.message });
    expect(m.world.observations).toHaveLength(1);
    expect(m.world.deliveries).toEqual([]);
  });

  it('cancelled, it ends cancelled, its open incident left to the channels', async () => {
    const m = await startMonitor(['web'], { forSeconds: 10 });
    await report(m, { 'http:web': false });
    await passTime(m, 15_000);
    const sent = m.world.alerts();
    // as in afterEach: no activity may be running when the run closes
    m.world.resumeAt = Infinity;
    m.world.changed();
    await waitFor(() => m.world.running === 0, 'the observation to end');
    await m.handle.cancel();
    const err = await m.handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(sent).toEqual([`trigger ${m.workflowId}/http:web/1`]);
    expect(m.world.alerts()).toEqual(sent);
  });
});
