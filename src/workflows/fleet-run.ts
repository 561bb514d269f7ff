/**
 * The steps of one `rolloutFleet` run, as a class over explicit state (the validated input, each cluster's plan and
 * pre-deploy snapshot, the wave × cluster matrix, the pause / promote / stop requests), in the order the workflow
 * calls them: validate → choose clusters → per wave: hold (freeze windows, pause) → deploy → bake → finish (halt
 * policy or abort: alert, roll back, report). Decisions (selection, overrides, freeze windows, rollback targets,
 * the markdown matrix) are pure functions in `domain/fleet`. Deterministic: runs inside the workflow sandbox.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { packJson } from '../domain/compression.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import {
  applyOverride,
  assignClusters,
  fleetAnalysisWorkflowId,
  freezeState,
  matrixMarkdown,
  objectsRevision,
  probeDelayMs,
  rollbackTargets,
  scopeOfPolicy,
  type RollbackScope,
} from '../domain/fleet.js';
import { formatProblems, parseManifests } from '../domain/manifests.js';
import { WORKLOAD_API_VERSIONS } from '../domain/op-alert.js';
import { deletionOrder } from '../domain/ordering.js';
import { subjectOf } from '../domain/subject.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import type { AnalysisReport } from '../schemas/analysis.js';
import type { DeployManifestsInput, DeployReport } from '../schemas/deploy.js';
import {
  AbortFleetInput,
  MAX_FLEET_CLUSTERS,
  PauseFleetInput,
  PromoteFleetInput,
  RolloutFleetInput,
  SkipClusterInput,
  type FleetCell,
  type FleetOutcome,
  type FleetReport,
  type FleetStatus,
  type FleetWaveStatus,
  type ObjectsSnapshot,
  type RolloutFleetOptions,
} from '../schemas/fleet.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { runAnalysis } from './analysis.js';
import { deployManifests } from './deploy.js';
import {
  abortFleetUpdate,
  FLEET_COMPRESS_ABOVE_BYTES,
  FLEET_LOCK_RETRY_DELAYS_SECONDS,
  fleetStatusQuery,
  pauseFleetUpdate,
  promoteFleetUpdate,
  resumeFleetUpdate,
  skipClusterUpdate,
} from './fleet-definitions.js';
import { KubeApp, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { listClusters, snapshotObjects, deleteObjects } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '10m',
  retry,
});
/** A probe answers reachable or not; its own failures (a bug, a lost worker) are retried a few times. */
const { probeCluster } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { ...retry, maximumAttempts: 3 },
});
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '10m',
  retry: { ...retry, initialInterval: '2s' },
});

/** What one cluster gets: its objects after overrides, where, and under which deploy id (its lock). */
interface ClusterPlan {
  objects: KubeObject[];
  namespace: string | undefined;
  deployId: string;
  revision: string;
}

/** Why the fleet stopped before the end. */
interface Stop {
  kind: 'failure' | 'abort';
  waveIndex: number;
  reason: string;
  scope: RollbackScope;
}

type Wave = FleetWaveStatus;

/** `paused.by` of a pause the fleet made itself (an inconclusive analysis), which `promote` also ends. */
const ANALYSIS_PAUSE = 'inconclusive analysis';

/** One fleet run: its state and its steps. */
export class FleetRun {
  private readonly started = Date.now();
  private readonly id = workflowInfo().workflowId;
  private input!: RolloutFleetOptions;
  private readonly plans = new Map<string, ClusterPlan>();
  private readonly snapshots = new Map<string, ObjectsSnapshot>();
  private stop: Stop | undefined;
  private promotedBy: string | undefined;
  private waveIndex = -1;
  private waveScope: CancellationScope | undefined;
  private readonly alerts: FleetReport['alerts'] = [];
  /** The matrix and what the fleet waits on (the `status` query). */
  readonly status: FleetStatus = {
    fleet: '',
    app: '',
    workflowId: this.id,
    phase: 'validating',
    waves: [],
    unassigned: [],
    haltPolicy: 'rollbackWave',
    message: 'validating input',
  };

  /** Registers the `status` query and the operator updates (before anything can fail). */
  constructor() {
    setHandler(fleetStatusQuery, () => this.status);
    const update = <T>(schema: z.ZodType<T>, check: (v: T) => void, apply: (v: T) => void) => ({
      handler: (v: T): FleetStatus => {
        apply(v);
        this.show();
        return this.status;
      },
      validator: (v: T): void => check(parseUpdate(schema, v)),
    });
    const pause = update(
      PauseFleetInput,
      () => this.checkPause(),
      (v) => this.pause(v.reason ?? 'paused', v.by),
    );
    setHandler(pauseFleetUpdate, pause.handler, { validator: pause.validator });
    setHandler(resumeFleetUpdate, () => this.resume(), { validator: () => this.checkResume() });
    const skip = update(
      SkipClusterInput,
      (v) => this.checkSkip(v),
      (v) => this.skip(v),
    );
    setHandler(skipClusterUpdate, skip.handler, { validator: skip.validator });
    const promote = update(
      PromoteFleetInput,
      (v) => this.checkPromote(v),
      (v) => this.promote(v),
    );
    setHandler(promoteFleetUpdate, promote.handler, { validator: promote.validator });
    const abort = update(
      AbortFleetInput,
      () => this.checkAbort(),
      (v) => this.abort(v),
    );
    setHandler(abortFleetUpdate, abort.handler, { validator: abort.validator });
  }

  /** Step 1, in the first workflow task: parses the input. Bad input fails with `InvalidInput`; nothing has run. */
  validate(raw: RolloutFleetInput): RolloutFleetOptions {
    const parsed = RolloutFleetInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid fleet input:\n${z.prettifyError(parsed.error)}`);
    this.input = parsed.data;
    Object.assign(this.status, {
      fleet: this.input.name,
      app: this.input.app,
      haltPolicy: this.input.haltPolicy,
      message: 'listing clusters',
    });
    upsertKubeAttributes([
      { key: KubeApp, value: this.input.app },
      ...(this.input.namespace ? [{ key: KubeNamespace, value: this.input.namespace }] : []),
    ]);
    return this.input;
  }

  /**
   * Step 2: lists the worker's clusters, assigns them to waves (first match wins) and prepares each cluster's
   * objects (overrides applied). Problems (an unknown cluster name, an override naming a missing container, a
   * manifest error) fail the run with `InvalidInput` listing them all; nothing has been written.
   */
  async chooseClusters(): Promise<void> {
    const { clusters } = await listClusters();
    const assignment = assignClusters(this.input.waves, clusters);
    const problems = [...assignment.problems];
    const known = new Set(clusters.map((c) => c.name));
    for (const name of Object.keys(this.input.overrides))
      if (!known.has(name)) problems.push(`overrides.${name}: cluster "${name}" is not configured on the worker`);
    const chosen = assignment.waves.flatMap((w) => w.clusters);
    if (!problems.length && !chosen.length) problems.push('waves: no configured cluster matches any wave');
    if (chosen.length > MAX_FLEET_CLUSTERS)
      problems.push(`waves: ${chosen.length} clusters selected; one fleet deploys at most ${MAX_FLEET_CLUSTERS}`);
    for (const cluster of chosen) problems.push(...this.planCluster(cluster));
    if (problems.length) throw invalid(`invalid fleet ${this.input.name}:\n  ${problems.join('\n  ')}`);
    this.status.unassigned = assignment.unassigned;
    this.status.waves = assignment.waves.map((w, i) => {
      const spec = this.input.waves[i] as RolloutFleetOptions['waves'][number];
      return {
        name: w.name,
        phase: 'pending',
        maxParallel: spec.maxParallel,
        cells: w.clusters.map((c) => this.newCell(c)),
        bake: { minTimeMs: spec.bake.minTime, passesRequired: spec.bake.passes, passes: 0 },
        heldMs: 0,
      };
    });
    const notes = assignment.notes.length ? `; ${assignment.notes.join('; ')}` : '';
    this.enter('running', `${chosen.length} clusters in ${this.status.waves.length} waves${notes}`);
  }

  /** The waves, in order. */
  get waves(): readonly Wave[] {
    return this.status.waves;
  }

  /** The workloads (Deployments, StatefulSets, …) the fleet applies to `cluster`: where a failure's pods are. */
  workloadsOf(cluster: string): { apiVersion: string; kind: string; namespace?: string; name: string }[] {
    const objects = this.plans.get(cluster)?.objects ?? [];
    return objects.filter((o) => WORKLOAD_API_VERSIONS[o.kind]).map(refOf);
  }

  /**
   * Step 3: holds the wave while a freeze window is open (a durable timer to the window's end, shown in the
   * status) or the fleet is paused. Returns false when the fleet was stopped meanwhile.
   */
  async holdBeforeWave(wave: Wave): Promise<boolean> {
    this.waveIndex = this.status.waves.indexOf(wave);
    this.status.currentWave = wave.name;
    const held = Date.now();
    for (;;) {
      if (this.stop) return false;
      const freeze = freezeState(this.input.freezeWindows, Date.now());
      if (freeze.frozen) {
        wave.phase = 'frozen';
        this.status.frozen = { until: iso(freeze.untilMs), cron: freeze.cron };
        this.enter('frozen', `wave ${wave.name} waits for the freeze window (${freeze.cron}) to end`);
        await this.waitUntil(freeze.untilMs, `freeze window ends; wave ${wave.name} may start`);
        continue;
      }
      delete this.status.frozen;
      if (this.status.paused) {
        wave.phase = 'paused';
        this.enter('paused', `wave ${wave.name} waits for resume (${this.status.paused.reason})`);
        await condition(() => !this.status.paused || this.stop !== undefined);
        continue;
      }
      wave.heldMs = Date.now() - held;
      return true;
    }
  }

  /**
   * Step 4: deploys the wave's clusters, at most `maxParallel` at once: each is probed (retried while unreachable,
   * then skipped or halting per policy), snapshotted, and deployed by a child `deployManifests` under the app's
   * deploy lock on that cluster. A failed cluster halts the fleet: no further cluster of the wave starts. Returns
   * true when every cluster ended deployed or skipped.
   */
  async deployWave(wave: Wave): Promise<boolean> {
    wave.phase = 'deploying';
    wave.startedAt = iso(Date.now());
    this.enter('running', `wave ${wave.name}: deploying ${wave.cells.length} clusters, ${wave.maxParallel} at a time`);
    const queue = [...wave.cells];
    const lane = async (): Promise<void> => {
      for (let cell = queue.shift(); cell; cell = queue.shift()) {
        await condition(() => !this.status.paused || this.stop !== undefined);
        if (this.stop) return;
        await this.deployCluster(cell);
      }
    };
    const lanes = Math.max(1, Math.min(wave.maxParallel, wave.cells.length));
    await this.inWave(() => Promise.all(Array.from({ length: lanes }, lane)));
    if (this.stop) return false;
    wave.deployedAt = iso(Date.now());
    return true;
  }

  /**
   * Step 5: the bake. Ends when `minTime` has passed since the wave was deployed AND `passes` analysis runs passed
   * on every deployed cluster of the wave — or at once on `promote`. A failed analysis halts the fleet; an
   * inconclusive one pauses it for an operator (resume repeats the run, promote accepts, abort stops).
   */
  async bake(wave: Wave): Promise<boolean> {
    const cells = wave.cells.filter((c) => c.phase === 'deployed');
    for (const c of cells) c.phase = 'baking';
    wave.phase = 'baking';
    wave.bake.startedAt = iso(Date.now());
    this.promotedBy = undefined;
    const baked = cells.length ? await this.inWave(() => this.bakeCells(wave, cells)) : true;
    if (!baked || this.stop) return false;
    wave.bake.endedAt = iso(Date.now());
    const promotedBy = this.promoter(); // set by an update during the bake
    if (promotedBy !== undefined) wave.bake.promotedBy = promotedBy;
    for (const c of cells) {
      c.phase = 'succeeded';
      c.finishedAt = iso(Date.now());
    }
    wave.phase = 'succeeded';
    wave.finishedAt = iso(Date.now());
    delete this.status.nextTimer;
    this.enter('running', `wave ${wave.name} succeeded${promotedBy ? ` (promoted by ${promotedBy})` : ''}`);
    return true;
  }

  /**
   * Step 6: ends the run. After a halt or an abort: alerts the channels with the reason, rolls back the clusters
   * the policy (or the abort) names, latest wave first, and reports what each rollback did.
   */
  async finish(): Promise<FleetReport> {
    const stop = this.stop;
    if (!stop) return this.report('succeeded', `all ${this.status.waves.length} waves succeeded`);
    for (const w of this.status.waves.slice(stop.waveIndex)) {
      if (w.phase === 'pending' || w.phase === 'frozen' || w.phase === 'paused') w.phase = 'notStarted';
      for (const c of w.cells) if (c.phase === 'pending' || c.phase === 'probing') c.phase = 'notStarted';
    }
    const wave = this.status.waves[stop.waveIndex];
    if (wave && wave.phase !== 'notStarted') wave.phase = stop.kind === 'abort' ? 'aborted' : 'failed';
    const what = stop.kind === 'abort' ? 'aborted' : 'halted';
    await CancellationScope.nonCancellable(async () => {
      await this.alert(stop.kind === 'abort' ? 'warning' : 'error', `fleet ${this.input.name} ${what}: ${stop.reason}`);
      await this.rollBack(stop);
    });
    return this.report(this.outcomeOf(stop), `${what} in wave ${wave?.name ?? '?'}: ${stop.reason}`);
  }

  // --- clusters --------------------------------------------------------------------------------------------------

  /** Probes, snapshots and deploys one cluster; a failure halts the fleet. */
  private async deployCluster(cell: FleetCell): Promise<void> {
    if (cell.phase === 'skipped') return;
    if (!(await this.probeUntilReachable(cell))) return;
    const plan = this.plans.get(cell.cluster) as ClusterPlan;
    cell.phase = 'deploying';
    cell.startedAt = iso(Date.now());
    this.show();
    try {
      const refs = plan.objects.map(refOf);
      this.snapshots.set(cell.cluster, await snapshotObjects({ cluster: cell.cluster, objects: refs }));
      const report = await this.startDeploy(plan, this.deployInput(cell.cluster, plan), 'deploy');
      cell.deployOutcome = report.outcome;
      cell.health = healthOf(report);
      if (report.outcome !== 'succeeded') return this.failCell(cell, `deploy ${report.outcome}: ${report.message}`);
      cell.phase = 'deployed';
      cell.deployedAt = iso(Date.now());
      this.show();
    } catch (err) {
      if (isCancellation(err)) {
        cell.phase = 'cancelled';
        cell.message = 'deploy cancelled by abort: it undid its own writes (see its workflow)';
        throw err;
      }
      this.failCell(cell, `deploy failed: ${messageOf(err)}`);
    }
  }

  /**
   * Probes the cluster until it answers or `unreachable.retryFor` has passed (timers between probes: 5 s, 10 s,
   * 20 s, then every 30 s), then applies `unreachable.then`: skip the cluster (with an alert) or halt the fleet.
   * A `skipCluster` update or a stop ends the wait at once. Never hangs: the deadline is a durable timer.
   */
  private async probeUntilReachable(cell: FleetCell): Promise<boolean> {
    cell.phase = 'probing';
    const deadline = Date.now() + this.input.unreachable.retryFor;
    for (let attempt = 1; ; attempt++) {
      const probe = await probeCluster({ cluster: cell.cluster });
      cell.probes = attempt;
      if (probe.reachable) return true;
      const reason = `unreachable after ${attempt} probes: ${probe.reason ?? 'no answer'}`;
      if (Date.now() >= deadline) return this.giveUpOn(cell, reason);
      cell.message = `${reason}; retrying until ${iso(deadline)}`;
      this.show();
      const at = Math.min(deadline, Date.now() + probeDelayMs(attempt));
      await this.waitUntil(at, `probe ${cell.cluster} again`, () => skipped(cell));
      if (skipped(cell) || this.stop) return false;
    }
  }

  private async giveUpOn(cell: FleetCell, reason: string): Promise<boolean> {
    if (this.input.unreachable.then === 'halt') {
      this.failCell(cell, reason);
      return false;
    }
    cell.phase = 'skipped';
    cell.skipReason = `skipped: ${reason}`;
    this.show();
    await this.alert('warning', `fleet ${this.input.name}: cluster ${cell.cluster} skipped (${reason})`, cell.cluster);
    return false;
  }

  private failCell(cell: FleetCell, reason: string): void {
    cell.phase = 'failed';
    cell.message = reason;
    cell.finishedAt = iso(Date.now());
    this.halt(`cluster ${cell.cluster}: ${reason}`);
  }

  /** Records a failure: the fleet stops after what is running now, with the halt policy's rollback. */
  private halt(reason: string): void {
    this.stop ??= { kind: 'failure', waveIndex: this.waveIndex, reason, scope: scopeOfPolicy(this.input.haltPolicy) };
    this.show();
  }

  /**
   * Starts a child `deployManifests` under the app's deploy id on that cluster (its lock) and waits for its report.
   * While another run holds the lock, retries with {@link FLEET_LOCK_RETRY_DELAYS_SECONDS}, then fails.
   */
  private async startDeploy(plan: ClusterPlan, args: DeployManifestsInput, what: string): Promise<DeployReport> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await executeChild(deployManifests, {
          workflowId: plan.deployId,
          args: [args],
          // Closing the fleet asks a running deploy to stop; it then undoes its own writes.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: `${what} ${this.input.app} to ${args.cluster} (revision ${plan.revision}) for ${this.id}`,
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const delay = FLEET_LOCK_RETRY_DELAYS_SECONDS[attempt];
        if (delay === undefined) throw new Error(`the deploy lock ${plan.deployId} stays held by another run`);
        await sleep(`${delay}s`);
      }
    }
  }

  private deployInput(cluster: string, plan: ClusterPlan): DeployManifestsInput {
    const d = this.input.deploy;
    const large = JSON.stringify(plan.objects).length > FLEET_COMPRESS_ABOVE_BYTES;
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plan.objects });
    return {
      ...(large
        ? { compressed: packJson([{ name: `fleet ${this.input.name}`, text: list }]) }
        : { objects: plan.objects }),
      cluster,
      app: this.input.app,
      ...(plan.namespace ? { namespace: plan.namespace } : {}),
      ...(d.timeoutSeconds !== undefined ? { timeoutSeconds: d.timeoutSeconds } : {}),
      ...(d.prune !== undefined ? { prune: d.prune } : {}),
      ...(d.force !== undefined ? { force: d.force } : {}),
      ...(d.rollback !== undefined ? { rollback: d.rollback } : {}),
    };
  }

  // --- bake --------------------------------------------------------------------------------------------------------

  /** The bake's timer and analysis runs in one scope, ended by whichever decides first. */
  private async bakeCells(wave: Wave, cells: FleetCell[]): Promise<boolean> {
    const scope = new CancellationScope();
    let minTimeUp = wave.bake.minTimeMs === 0;
    let analysis: boolean | undefined = wave.bake.passesRequired === 0 ? true : undefined;
    const endsAt = Date.now() + wave.bake.minTimeMs;
    if (!minTimeUp) this.status.nextTimer = { purpose: `bake of wave ${wave.name} may end`, at: iso(endsAt) };
    this.enter(
      'running',
      `wave ${wave.name} bakes until ${iso(endsAt)} and ${wave.bake.passesRequired} passing analysis runs`,
    );
    void scope
      .run(() => sleep(wave.bake.minTimeMs))
      .then(
        () => (minTimeUp = true),
        () => undefined,
      );
    void scope
      .run(() => this.analysisRuns(wave, cells))
      .then(
        (ok) => (analysis = ok),
        () => undefined,
      );
    try {
      await condition(() => this.promotedBy !== undefined || analysis === false || (minTimeUp && analysis === true));
    } finally {
      scope.cancel(); // the timer and any analysis still running (promoted, or the wave is being stopped)
      delete this.status.nextTimer;
    }
    return this.promotedBy !== undefined || analysis === true;
  }

  /** Runs `passes` analysis rounds, each on every cluster at once; false on the first failed one. */
  private async analysisRuns(wave: Wave, cells: FleetCell[]): Promise<boolean> {
    const spec = this.input.waves[this.waveIndex]?.bake.analysis;
    if (!spec) return true;
    for (let round = 1; wave.bake.passes < wave.bake.passesRequired; round++) {
      const results = await Promise.all(cells.map((c) => this.analyse(wave, c, round, spec)));
      const failed = results.find((r) => r.outcome === 'failed');
      if (failed) {
        const cell = cells[results.indexOf(failed)] as FleetCell;
        this.failCell(cell, `analysis ${failed.outcome}: ${failed.reason}`);
        return false;
      }
      const unsure = results.findIndex((r) => r.outcome === 'inconclusive');
      if (unsure >= 0) {
        const who = (cells[unsure] as FleetCell).cluster;
        const why = (results[unsure] as AnalysisReport).reason;
        this.pause(
          `analysis inconclusive on ${who} (${why}): resume repeats the run, promote accepts, abort stops`,
          ANALYSIS_PAUSE,
        );
        await condition(() => !this.status.paused);
        continue;
      }
      wave.bake.passes += 1;
      this.show();
    }
    return true;
  }

  private async analyse(
    wave: Wave,
    cell: FleetCell,
    round: number,
    spec: NonNullable<RolloutFleetOptions['waves'][number]['bake']['analysis']>,
  ): Promise<Pick<AnalysisReport, 'outcome' | 'reason'>> {
    const workflowId = fleetAnalysisWorkflowId(this.id, wave.name, cell.cluster, round);
    const plan = this.plans.get(cell.cluster) as ClusterPlan;
    const args = { cluster: cell.cluster, app: this.input.app, namespace: plan.namespace ?? '' };
    try {
      const report = await executeChild(runAnalysis, {
        workflowId,
        args: [{ spec, cluster: cell.cluster, args }],
        cancellationType: ChildWorkflowCancellationType.TRY_CANCEL,
        staticSummary: `analysis ${round} of ${cell.cluster} in wave ${wave.name} of ${this.id}`,
      });
      cell.analysis.push({ run: round, workflowId, outcome: report.outcome, report });
      this.show();
      return report;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const reason = `the analysis workflow failed: ${messageOf(err)}`;
      cell.analysis.push({ run: round, workflowId, outcome: 'failed', message: reason });
      return { outcome: 'failed', reason };
    }
  }

  // --- rollback ----------------------------------------------------------------------------------------------------

  /** Rolls back the clusters the stop's scope names, latest wave first, each wave `maxParallel` at a time. */
  private async rollBack(stop: Stop): Promise<void> {
    const targets = rollbackTargets(this.status.waves, stop.waveIndex, stop.scope);
    if (!targets.length) return;
    this.enter('rollingBack', `rolling back ${targets.length} clusters: ${targets.map((t) => t.cluster).join(', ')}`);
    for (const wave of [...this.status.waves].reverse()) {
      const queue = wave.cells.filter((c) => targets.some((t) => t.cluster === c.cluster));
      const lane = async (): Promise<void> => {
        for (let cell = queue.shift(); cell; cell = queue.shift()) await this.rollBackCluster(cell);
      };
      await Promise.all(Array.from({ length: Math.min(wave.maxParallel, queue.length) }, lane));
    }
  }

  /**
   * Restores one cluster to its snapshot: a child deploy of the snapshot with `prune` (the objects the fleet
   * created leave the app's inventory and are deleted), or — nothing existed before — deletes what the fleet created.
   */
  private async rollBackCluster(cell: FleetCell): Promise<void> {
    const plan = this.plans.get(cell.cluster) as ClusterPlan;
    const snapshot = this.snapshots.get(cell.cluster);
    cell.phase = 'rollingBack';
    this.show();
    try {
      if (snapshot?.compressed) {
        const args = { ...this.deployInput(cell.cluster, plan), prune: true, force: true };
        delete args.objects;
        const report = await this.startDeploy(plan, { ...args, compressed: snapshot.compressed }, 'roll back');
        const ok = report.outcome === 'succeeded';
        cell.rollback = { outcome: report.outcome, workflowId: plan.deployId, message: report.message };
        cell.phase = ok ? 'rolledBack' : 'rollbackFailed';
      } else {
        const refs = deletionOrder(plan.objects).map(refOf);
        await deleteObjects({ cluster: cell.cluster, objects: refs });
        cell.rollback = { outcome: 'deleted', message: `deleted ${refs.length} objects the fleet created` };
        cell.phase = 'rolledBack';
      }
    } catch (err) {
      cell.rollback = { outcome: 'failed', message: messageOf(err) };
      cell.phase = 'rollbackFailed';
    }
    this.show();
  }

  private outcomeOf(stop: Stop): FleetOutcome {
    const cells = this.status.waves.flatMap((w) => w.cells);
    if (cells.some((c) => c.phase === 'rollbackFailed')) return 'failed';
    if (stop.kind === 'abort') return 'aborted';
    return cells.some((c) => c.phase === 'rolledBack') ? 'rolledBack' : 'halted';
  }

  // --- operator updates ------------------------------------------------------------------------------------------

  private checkPause(): void {
    this.checkRunning('pause');
    if (this.status.paused) throw new Error(`the fleet is already paused (${this.status.paused.reason})`);
  }

  private pause(reason: string, by?: string): void {
    this.status.paused = { reason, since: iso(Date.now()), ...(by ? { by } : {}) };
    this.show();
  }

  private checkResume(): void {
    this.checkRunning('resume');
    if (!this.status.paused) throw new Error('the fleet is not paused');
  }

  private resume(): FleetStatus {
    delete this.status.paused;
    this.enter('running', 'resumed');
    return this.status;
  }

  private checkSkip(v: SkipClusterInput): void {
    this.checkRunning('skip a cluster');
    const cell = this.status.waves.flatMap((w) => w.cells).find((c) => c.cluster === v.cluster);
    if (!cell) {
      const all = this.status.waves.flatMap((w) => w.cells.map((c) => c.cluster));
      throw new Error(
        `cluster ${v.cluster} is not in this fleet (its clusters: ${all.join(', ') || 'not chosen yet'})`,
      );
    }
    if (cell.phase !== 'pending' && cell.phase !== 'probing')
      throw new Error(
        `cluster ${v.cluster} is ${cell.phase}: only a pending or unreachable (probing) cluster can be skipped; abort stops a running deploy`,
      );
  }

  private skip(v: SkipClusterInput): void {
    const cell = this.status.waves.flatMap((w) => w.cells).find((c) => c.cluster === v.cluster) as FleetCell;
    cell.phase = 'skipped';
    cell.skipReason = `skipped by operator${v.reason ? `: ${v.reason}` : ''}`;
  }

  private checkPromote(v: PromoteFleetInput): void {
    this.checkRunning('promote');
    const wave = this.status.waves[this.waveIndex];
    if (!wave || wave.phase !== 'baking')
      throw new Error(
        `no wave is baking (current wave ${wave?.name ?? 'none'} is ${wave?.phase ?? 'not started'}): promote ends a bake`,
      );
    if (v.wave !== undefined && v.wave !== wave.name)
      throw new Error(`wave ${v.wave} is not the baking wave (${wave.name} is)`);
  }

  private promote(v: PromoteFleetInput): void {
    this.promotedBy = v.by ?? 'operator';
    // An inconclusive analysis that paused the fleet is accepted; an operator's own pause stays.
    if (this.status.paused?.by === ANALYSIS_PAUSE) delete this.status.paused;
  }

  private promoter(): string | undefined {
    return this.promotedBy;
  }

  private checkAbort(): void {
    this.checkRunning('abort');
  }

  private abort(v: AbortFleetInput): void {
    this.stop = { kind: 'abort', waveIndex: Math.max(0, this.waveIndex), reason: v.reason, scope: v.rollback };
    delete this.status.paused;
    this.waveScope?.cancel();
  }

  private checkRunning(what: string): void {
    if (this.status.phase === 'done') throw new Error(`the fleet has ended (${this.status.outcome}): cannot ${what}`);
    if (this.stop) throw new Error(`the fleet is stopping (${this.stop.reason}): cannot ${what}`);
  }

  // --- plumbing ----------------------------------------------------------------------------------------------------

  /** Runs part of a wave in a scope that `abort` cancels; returns false when it was cancelled. */
  private async inWave<T>(fn: () => Promise<T>): Promise<T | false> {
    const scope = new CancellationScope();
    this.waveScope = scope;
    try {
      return await scope.run(fn);
    } catch (err) {
      if (isCancellation(err) && this.stop) return false;
      throw err;
    } finally {
      this.waveScope = undefined;
    }
  }

  /** Sleeps until `atMs` (shown as the next timer), waking early on a stop or when `early` says so. */
  private async waitUntil(atMs: number, purpose: string, early: () => boolean = () => false): Promise<void> {
    this.status.nextTimer = { purpose, at: iso(atMs) };
    this.show();
    await condition(() => this.stop !== undefined || early(), Math.max(1, atMs - Date.now()));
    delete this.status.nextTimer;
  }

  /** Parses and overrides one cluster's objects; returns problems. */
  private planCluster(cluster: string): string[] {
    const override = this.input.overrides[cluster];
    const namespace = override?.namespace ?? this.input.namespace;
    const m = this.input.manifests;
    const sources =
      typeof m === 'string' ? m : m.map((s) => (s.name ? { name: s.name, text: s.text } : { text: s.text }));
    const parsed = parseManifests(sources, namespace ? { defaultNamespace: namespace } : {});
    if (!parsed.ok) return [`manifests (for cluster ${cluster}): ${formatProblems(parsed.problems)}`];
    if (!parsed.objects.length) return ['manifests: they contain no objects'];
    const result = applyOverride(parsed.objects, override, cluster);
    if (!result.ok) return result.problems;
    const home = namespace ?? result.objects.find((o) => o.metadata.namespace)?.metadata.namespace;
    this.plans.set(cluster, {
      objects: result.objects,
      namespace,
      deployId: deployWorkflowId({ cluster, namespace: home, app: this.input.app }),
      revision: objectsRevision(result.objects),
    });
    return [];
  }

  private newCell(cluster: string): FleetCell {
    const plan = this.plans.get(cluster) as ClusterPlan;
    return { cluster, phase: 'pending', revision: plan.revision, deployWorkflowId: plan.deployId, analysis: [] };
  }

  /** Sends one alert event to every configured channel; a channel that fails is recorded, never fatal. */
  private async alert(severity: 'error' | 'warning', summary: string, cluster?: string): Promise<void> {
    const channels = this.input.alerts?.channels ?? [];
    const key = `${this.id}#${workflowInfo().firstExecutionRunId.slice(0, 8)}/${cluster ?? 'fleet'}`;
    const event = {
      action: 'trigger' as const,
      dedupKey: key.slice(0, 255),
      summary,
      source: `fleet/${this.input.name}`,
      severity,
      startsAt: iso(Date.now()),
      labels: { fleet: this.input.name, app: this.input.app, ...(cluster ? { cluster } : {}) },
      details: { workflowId: this.id, haltPolicy: this.input.haltPolicy },
    };
    const results = await Promise.allSettled(channels.map((channel) => deliverAlert({ channel, event })));
    results.forEach((r, i) => {
      const channel = channels[i] as string;
      this.alerts.push({
        channel,
        event: summary,
        ok: r.status === 'fulfilled',
        ...(r.status === 'rejected' ? { error: messageOf(r.reason) } : {}),
      });
    });
  }

  private enter(phase: FleetStatus['phase'], message: string): void {
    this.status.phase = phase === 'running' && this.status.paused ? 'paused' : phase;
    this.status.message = message;
    this.show();
  }

  /** Shows the matrix in the Web UI (current details). */
  private show(): void {
    setCurrentDetails(matrixMarkdown(this.status));
  }

  private report(outcome: FleetOutcome, message: string): FleetReport {
    for (const c of this.status.waves.flatMap((w) => w.cells)) if (c.phase === 'baking') c.phase = 'deployed';
    delete this.status.nextTimer;
    this.status.outcome = outcome;
    this.enter('done', message);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    return {
      ...this.status,
      outcome,
      ...(this.stop ? { haltReason: this.stop.reason } : {}),
      alerts: this.alerts,
      startedAt: iso(this.started),
      finishedAt: iso(Date.now()),
      durationsMs: { total: Date.now() - this.started },
    };
  }
}

function refOf(o: KubeObject): { apiVersion: string; kind: string; namespace?: string; name: string; subject: string } {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata.name,
    subject: subjectOf(o),
  };
}

/** `3/3 Current` from a deploy report. */
function healthOf(report: DeployReport): string {
  const current = report.objects.filter((o) => o.status === 'Current').length;
  return `${current}/${report.objects.length} Current`;
}

/** Whether an operator skipped the cell (read through a function: an update may change it during any await). */
function skipped(cell: FleetCell): boolean {
  return cell.phase === 'skipped';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The innermost failure message of a child / activity failure chain. */
function messageOf(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof Error && e.message) msg = e.message;
  }
  return msg;
}

function parseUpdate<T>(schema: z.ZodType<T>, v: unknown): T {
  const parsed = schema.safeParse(v ?? {});
  if (!parsed.success) throw new Error(`invalid update input: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}
