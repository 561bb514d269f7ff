/**
 * The steps of one `deployManifests` run, as a small class over explicit state (the run's input, plan, ledger,
 * progress and approval decision), in the order the workflow calls them: validate → plan → await approval (re-plan)
 * → apply stages → record and report, or undo and report. Each step is one short method; the workflow body in
 * `deploy.ts` reads like that list. Deterministic: runs inside the workflow sandbox.
 * @module
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type {
  Activities,
  ApplyFailureDetails,
  DeployPlan,
  HealthResult,
  ObjectRefWithSubject,
  ObjectSource,
  PlanEntry,
} from '../activities/index.js';
import { MissingTemplateArgsError, renderProvider } from '../domain/analysis-template.js';
import { planId as computePlanId } from '../domain/changes.js';
import { prepareObjects } from '../domain/deploy-input.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatProblems } from '../domain/manifests.js';
import { deletionOrder, planStages, type Stage } from '../domain/ordering.js';
import { DeployLedger, sagaVerdict, type ObjectCompensation, type SagaVerdict } from '../domain/saga.js';
import { parseDuration } from '../domain/duration.js';
import { isSecret } from '../domain/secrets.js';
import { deployEvidenceRefs } from '../domain/op-alert-facts.js';
import { subjectOf } from '../domain/subject.js';
import type { AnalysisReport } from '../schemas/analysis.js';
import {
  ApprovalInput,
  DecideAnalysisInput,
  DeployManifestsInput,
  type DeployManifestsOptions,
  type DeployOutcome,
  type DeployReport,
  type ObjectReport,
} from '../schemas/deploy.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { runAnalysis } from './analysis.js';
import {
  approveUpdate,
  decideAnalysisUpdate,
  INLINE_OBJECTS_LIMIT,
  progressQuery,
  rejectUpdate,
  INVENTORY_LOCAL_PATCH,
  REPLAN_PATCH,
  SAGA_PATCH,
  type AnalysisDecisionResult,
  type ApprovalResult,
  type DeployPhase,
  type DeployProgress,
} from './deploy-definitions.js';
import type { OutcomeAlert } from './notify-outcome.js';
import { KubeApp, KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { planDeploy, applyObjects, deleteObjects, restoreObjects, recordInventory } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  // An API server that stays unavailable ends the attempt series: the saga then compensates what may have changed.
  scheduleToCloseTimeout: '15m',
  // Activities heartbeat after every object: a worker that dies is noticed within this and the work resumes.
  heartbeatTimeout: '20s',
  retry,
});
/** The inventory write of a deploy that prunes nothing, in the workflow task that saw health (see the patch). */
const { recordInventory: recordInventoryLocally } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '15m',
  retry,
});
/** The undo: retried longer than the do, since giving up leaves the app half-changed. */
const { compensateObjects } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  scheduleToCloseTimeout: '30m',
  heartbeatTimeout: '20s',
  retry,
});

/**
 * What ended the apply phase (and the analysis after it): nothing, a thrown failure, health that is not Current, or
 * an analysis that failed (or was inconclusive and not promoted).
 */
type ApplyEnd = { failure?: unknown; health?: HealthResult | undefined; analysis?: Cause };

/** A failure type (closed list) and its message, as the report's `failure` shows it. */
type Cause = { type: string; message: string };

/** Who decided on the plan, as the report shows it. */
type Decision = NonNullable<DeployReport['approval']>;

/** One deploy run: its state and its steps. */
export class DeployRun {
  private readonly started = Date.now();
  private readonly durationsMs: Record<string, number> = {};
  private phaseStart = Date.now();
  private readonly progress: DeployProgress = { phase: 'validating', objects: [], message: 'validating input' };
  private decision: Decision | undefined;
  private analysisReport: AnalysisReport | undefined;
  private analysisDecision: DeployReport['analysisDecision'];
  private input!: DeployManifestsOptions;
  private objects: KubeObject[] = [];
  private stages: Stage<{ kind: string; metadata: KubeObject['metadata']; index: number }>[] = [];
  private homeNamespace: string | undefined;
  private byReference = false;
  /** The current plan (re-planned after an approval). */
  plan!: DeployPlan;
  private counts = '';
  /** The plan's counts, e.g. `2 created, 1 configured, 0 unchanged`. */
  get summary(): string {
    return this.counts;
  }
  private ledger!: DeployLedger;
  /** Whether this run uses the saga ({@link SAGA_PATCH}), decided once when the apply phase starts. */
  private saga = false;
  private bySubject = new Map<string, PlanEntry>();
  /** The run's end-of-run alert (`notify`): it reads the failure's evidence before the rollback removes it. */
  alert: OutcomeAlert<DeployReport> | undefined;
  /** The deploy's namespace (the input's, else the first object's), once validated. */
  get namespace(): string | undefined {
    return this.homeNamespace;
  }

  /** Registers the `progress` query and the `approve` / `reject` updates (before anything can fail). */
  constructor() {
    setHandler(progressQuery, () => this.progress);
    setHandler(approveUpdate, this.decide('approved'), { validator: (a: ApprovalInput) => this.validateApproval(a) });
    setHandler(rejectUpdate, this.decide('rejected'), { validator: (a: ApprovalInput) => this.validateApproval(a) });
    setHandler(decideAnalysisUpdate, (d) => this.decideAnalysis(d), {
      validator: (d: DecideAnalysisInput) => this.validateAnalysisDecision(d),
    });
  }

  /**
   * Step 1, in the first workflow task: parses the input and prepares the objects. Bad input fails the run with a
   * non-retryable `InvalidInput` naming the document and field; nothing has run.
   */
  validate(raw: DeployManifestsInput): DeployManifestsOptions {
    const parsed = DeployManifestsInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid deploy input:\n${z.prettifyError(parsed.error)}`);
    const input = parsed.data;
    if (input.prune && !input.app) throw invalid('prune needs an app name (input.app)');
    const prepared = prepareObjects(input, input.app);
    if (!prepared.ok) throw invalid(formatProblems(prepared.problems));
    if (!prepared.objects.length) throw invalid('the manifests contain no objects');
    if (input.analysis) checkAnalysisArgs(input, this.analysisArgs(input, prepared.objects));
    this.input = input;
    this.objects = prepared.objects;
    // Sized on the prepared objects, not the (possibly compressed) input: that is what each activity would carry.
    // A Secret always travels by reference: only the start event (encrypted, or refused) may hold its values.
    this.byReference = JSON.stringify(this.objects).length > INLINE_OBJECTS_LIMIT || this.objects.some(isSecret);
    const namespaces = [...new Set(this.objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
    this.homeNamespace = input.namespace ?? namespaces[0];
    this.stages = planStages(this.objects.map((o, index) => ({ kind: o.kind, metadata: o.metadata, index })));
    upsertKubeAttributes([
      ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
      ...(this.homeNamespace ? [{ key: KubeNamespace, value: this.homeNamespace }] : []),
      ...(input.app ? [{ key: KubeApp, value: input.app }] : []),
    ]);
    return input;
  }

  /** Step 2: policy check and server-side dry-run of every object; shows the plan in `progress`. */
  async makePlan(): Promise<DeployPlan> {
    this.enter('planning', `server-side dry-run of ${this.objects.length} objects`);
    this.plan = await this.dryRun();
    upsertKubeAttributes([{ key: KubeCluster, value: this.plan.cluster }]);
    this.showPlan();
    return this.plan;
  }

  /**
   * Step 3: waits for `approve` / `reject` until the approval timeout. An approved plan is re-planned against the
   * live objects; when any moved meanwhile, the new plan is shown (`progress.moved`) and asked again. Returns the
   * report when the deploy ends here (rejected or timed out), else undefined.
   */
  async awaitApproval(): Promise<DeployReport | undefined> {
    const deadline = Date.now() + this.input.approvalTimeoutSeconds * 1000;
    for (;;) {
      const moved = this.progress.moved?.length ? `; re-planned: ${this.progress.moved.join(', ')} changed since` : '';
      this.enter('awaitingApproval', `plan ${this.progress.planId} (${this.counts}) waits for approve/reject${moved}`);
      const answered = await condition(() => this.decision !== undefined, Math.max(1, deadline - Date.now()));
      if (!answered) {
        const seconds = this.input.approvalTimeoutSeconds;
        this.decision = { decision: 'timedOut', comment: `no approval within ${seconds}s` };
        return this.report('rejected', `not approved within ${seconds}s; nothing was written`);
      }
      if (this.decision?.decision === 'rejected') {
        return this.report('rejected', `plan rejected by ${this.decision.by}; nothing was written`);
      }
      if (!patched(REPLAN_PATCH)) return undefined;
      // The cluster may have moved while the plan waited: what was approved must still be what will happen.
      this.enter('planning', `re-planning the approved plan ${this.progress.planId} against the live objects`);
      const fresh = await this.dryRun();
      const changed = movedObjects(this.plan.entries, fresh.entries);
      this.plan = fresh;
      this.counts = countActions(fresh.entries);
      if (!changed.length) return undefined;
      this.showPlan();
      this.progress.moved = changed;
      this.decision = undefined; // the approval was for a picture that is no longer true: ask again
    }
  }

  /**
   * Step 4: applies stage by stage (definitions first), waiting after each. Every write is in the ledger before
   * it starts and confirmed after; a failed `applyObjects` says which of its writes happened. Never throws: returns
   * what ended the phase (before the saga patch, a non-cancellation failure is rethrown as it always was).
   */
  async applyStages(): Promise<ApplyEnd> {
    this.saga = patched(SAGA_PATCH);
    this.bySubject = new Map(this.plan.entries.map((e) => [e.subject, e]));
    this.ledger = new DeployLedger(
      this.stages.flatMap((stage, i) =>
        stage.items.map((o) => ({ ...refOf(this.entryOf(o)), action: this.entryOf(o).action, stage: i })),
      ),
    );
    let health: HealthResult | undefined;
    try {
      for (const stage of this.stages) {
        await this.applyStage(stage);
        if (!this.input.wait && stage.name === 'resources') break;
        const refs = stage.items.map((o) => refOf(this.entryOf(o)));
        this.enter('waiting', `${stage.name}: waiting for ${refs.length} objects to become Current`);
        health = await this.waitFor(refs, this.input.timeoutSeconds);
        mergeHealth(this.progress.objects, health);
        if (health.outcome !== 'Current') return { health };
      }
      return { health };
    } catch (err) {
      if (this.saga) return { failure: err };
      if (!isCancellation(err)) throw err;
      // Cancelled (runs before the saga): roll back what was applied without being cancelled again ourselves.
      await CancellationScope.nonCancellable(() => this.legacyRollBack(this.confirmedEntries()));
      this.report('rolledBack', 'cancelled; rolled back');
      throw err;
    }
  }

  /** True when the apply phase ended with every stage applied and (if waited on) Current, and no analysis failed. */
  succeeded(end: ApplyEnd): boolean {
    return end.failure === undefined && end.analysis === undefined && (!end.health || end.health.outcome === 'Current');
  }

  /**
   * Step 4b, when the input asks for an analysis: runs it as a child `runAnalysis` against the healthy release.
   * Successful → nothing ends; failed → the analysis' reason ends the phase (the deploy rolls back); inconclusive →
   * waits for `decideAnalysis` until `analysisDecisionTimeout`: promote → nothing ends; rollback or no decision →
   * rolls back. Without an analysis it issues no command (histories from before analysis replay unchanged).
   */
  async analyze(): Promise<ApplyEnd> {
    const spec = this.input.analysis;
    if (!spec) return {};
    this.enter('analyzing', `analysis ${spec.name}: measuring the release`);
    const info = workflowInfo();
    let report: AnalysisReport;
    try {
      report = await executeChild(runAnalysis, {
        args: [{ spec, cluster: this.plan.cluster, args: this.analysisArgs(this.input, this.objects) }],
        workflowId: `${info.workflowId}/analysis/${spec.name}-${info.runId.slice(0, 8)}`,
      });
    } catch (err) {
      return { failure: err };
    }
    this.analysisReport = report;
    this.progress.analysis = report;
    const what = `analysis ${spec.name} ${report.outcome}: ${report.reason}`;
    if (report.outcome === 'successful') return {};
    if (report.outcome === 'failed') return { analysis: { type: FailureType.AnalysisFailed, message: what } };
    const timeoutMs = parseDuration(this.input.analysisDecisionTimeout);
    this.enter('awaitingDecision', `${what}; waiting for decideAnalysis (promote or rollback)`);
    if (!(await condition(() => this.analysisDecision !== undefined, Math.max(1, timeoutMs)))) {
      const reason = `no decision within ${this.input.analysisDecisionTimeout}`;
      this.analysisDecision = { decision: 'timedOut', reason };
    }
    const d = this.analysisDecision as NonNullable<DeployReport['analysisDecision']>;
    if (d.decision === 'promote') return {};
    const why = d.decision === 'timedOut' ? (d.reason as string) : `rollback decided${d.by ? ` by ${d.by}` : ''}`;
    return {
      analysis: {
        type: FailureType.AnalysisFailed,
        message: `${what}; ${why}${d.reason && d.decision !== 'timedOut' ? `: ${d.reason}` : ''}`,
      },
    };
  }

  /** Step 5a: records the app's inventory (and prunes what left the set), then reports success. */
  async recordAndReport(): Promise<DeployReport> {
    const what = this.input.wait ? 'all objects Current' : 'applied (not waited for)';
    let pruned: string[] = [];
    if (this.input.app && this.homeNamespace) {
      if (this.input.prune) this.enter('pruning', 'deleting objects that left the set');
      const args = {
        cluster: this.plan.cluster,
        app: this.input.app,
        namespace: this.homeNamespace,
        objects: this.plan.entries.map(refOf),
        prune: this.input.prune,
      };
      const local = !this.input.prune && patched(INVENTORY_LOCAL_PATCH);
      const inv = await (local ? recordInventoryLocally(args) : recordInventory(args));
      pruned = inv.pruned;
      for (const subject of pruned) this.progress.objects.push({ subject, action: 'pruned' });
    }
    const prunedText = pruned.length ? `, ${pruned.length} pruned` : '';
    return this.report('succeeded', `${this.counts}${prunedText}; ${what}`, pruned.length ? { pruned } : {});
  }

  /**
   * Step 5b, the saga's failure path: undoes exactly what may have changed and reports truthfully — `failed` when
   * nothing was written (a failure before any write is rethrown as the run's failure) or rollback is off,
   * `rolledBack` / `rollbackFailed` after compensating. A cancelled run still compensates, then ends cancelled.
   */
  async undo(end: ApplyEnd): Promise<DeployReport> {
    if (!this.saga) return this.legacyHealthRollBack(end.health as HealthResult);
    const { failure } = end;
    const cancelled = failure !== undefined && isCancellation(failure);
    const cause =
      failure !== undefined ? failureOf(failure) : (end.analysis ?? healthFailure(end.health as HealthResult));
    const finish = (r: DeployReport): DeployReport => {
      if (cancelled) throw failure as Error; // the run ends cancelled; the progress query holds the report
      return r;
    };
    if (this.ledger.untouched) {
      if (failure !== undefined && !cancelled) throw failure as Error; // nothing was written: the failure says it
      return finish(this.report('failed', `${cause.message}; nothing was written`, { failure: cause }));
    }
    // the failing pods' logs and Events, before compensation deletes or replaces those pods
    await this.alert?.capture([{ cluster: this.plan.cluster, objects: deployEvidenceRefs(this.progress.objects) }]);
    if (!this.input.rollback) {
      const left = this.ledger
        .mayHaveChanged()
        .filter((e) => e.action !== 'unchanged')
        .map((e) => `${e.subject}: ${e.action}, not rolled back (rollback is off)`);
      const message = `${cause.message}; rollback is off: ${left.length} objects left changed`;
      return finish(this.report('failed', message, { failure: cause, left }));
    }
    const verdict = await CancellationScope.nonCancellable(() => this.compensate());
    const extra = { failure: cause, ...(verdict.left.length ? { left: verdict.left } : {}) };
    return finish(this.report(verdict.outcome, `${cause.message}; rolled back: ${verdict.summary}`, extra));
  }

  // --- the steps' parts ------------------------------------------------------------------------------------------

  /** Applies the objects of one stage that the plan says drift; the ledger records intent, then the answer. */
  private async applyStage(stage: (typeof this.stages)[number]): Promise<void> {
    const drifted = stage.items.filter((o) => this.entryOf(o).action !== 'unchanged');
    if (!drifted.length) return;
    const counts = `${drifted.length} of ${stage.items.length} objects (${this.counts})`;
    this.enter('applying', `${stage.name}: applying ${counts}`);
    const subjects = drifted.map(subjectOf);
    this.ledger.beginWrite(subjects);
    try {
      await applyObjects({
        cluster: this.plan.cluster,
        source: this.sourceOf(drifted.map((o) => o.index)),
        force: this.input.force,
      });
    } catch (err) {
      const details = applyFailureDetails(err);
      if (details) {
        this.ledger.confirm(details.applied);
        this.ledger.refuse(details.refused);
      }
      throw err;
    }
    this.ledger.confirm(subjects);
  }

  /**
   * Runs the ledger's compensation plan stage by stage (last stage first), then waits for the restored objects.
   * Each object's line in the report says what its undo did.
   */
  private async compensate(): Promise<SagaVerdict> {
    const steps = this.ledger.compensationPlan();
    const restoreCount = steps.reduce((n, s) => n + s.restore.length, 0);
    const removeCount = steps.reduce((n, s) => n + s.remove.length, 0);
    this.enter('rollingBack', `restoring ${restoreCount} and deleting ${removeCount} objects, last stage first`);
    const results: ObjectCompensation[] = [];
    for (const step of steps) {
      try {
        const input = { cluster: this.plan.cluster, rollbackState: this.plan.rollbackState };
        results.push(
          ...(await compensateObjects({ ...input, restore: step.restore.map((r) => r.subject), remove: step.remove })),
        );
      } catch (err) {
        // Retries ran out (the API server stayed unreachable): these objects are left as they are.
        const message = failureOf(err).message;
        for (const r of [...step.restore, ...step.remove])
          results.push({ subject: r.subject, result: 'failed', message });
      }
    }
    this.showUndo(results);
    const restored = results
      .filter((r) => r.result === 'restored')
      .map((r) => refOf(this.bySubject.get(r.subject) as PlanEntry));
    const unhealthy = new Map<string, string>();
    if (restored.length) {
      this.enter('rollingBack', `waiting for ${restored.length} restored objects to become Current`);
      const after = await this.waitFor(restored, this.input.timeoutSeconds);
      mergeHealth(this.progress.objects, after); // the report shows the restored objects' health, not the rollout's
      for (const h of after.objects) if (h.status !== 'Current') unhealthy.set(h.subject, `${h.status}: ${h.message}`);
    }
    return sagaVerdict(results, unhealthy);
  }

  /** Puts each object's undo result on its report line. */
  private showUndo(results: readonly ObjectCompensation[]): void {
    const byResult = new Map(results.map((r) => [r.subject, r]));
    for (const o of this.progress.objects) {
      const r = byResult.get(o.subject);
      if (!r) continue;
      o.rollback = r.result;
      if (r.result === 'restored' || r.result === 'deleted') o.action = r.result;
      if (r.result === 'failed') o.message = r.message ?? 'rollback failed';
    }
  }

  /** The failure path of runs started before {@link SAGA_PATCH}: only failed or timed-out health rolled back. */
  private async legacyHealthRollBack(health: HealthResult): Promise<DeployReport> {
    const cause = health.outcome === 'Failed' ? `rollout failed: ${health.message}` : health.message;
    const applied = this.confirmedEntries();
    if (!this.input.rollback || !applied.length) return this.report('failed', cause);
    const restored = await this.legacyRollBack(applied);
    const message = restored ? `${cause}; rolled back` : `${cause}; rollback did not become healthy`;
    return this.report(restored ? 'rolledBack' : 'failed', message);
  }

  /**
   * The rollback of runs started before {@link SAGA_PATCH}: restores configured objects and deletes created ones
   * that were confirmed applied. Kept so those runs replay; new runs use {@link DeployRun.compensate}.
   */
  private async legacyRollBack(changed: PlanEntry[]): Promise<boolean> {
    const p = this.plan;
    const restore = changed.filter((e) => e.action === 'configured');
    const created = changed.filter((e) => e.action === 'created');
    this.enter('rollingBack', `restoring ${restore.length} and deleting ${created.length} objects`);
    if (restore.length && p.rollbackState) {
      await restoreObjects({
        cluster: p.cluster,
        rollbackState: p.rollbackState,
        subjects: restore.map((e) => e.subject),
      });
    }
    const toDelete = deletionOrder(created.map((e) => ({ ...e, metadata: { name: e.name, namespace: e.namespace } })));
    if (toDelete.length) await deleteObjects({ cluster: p.cluster, objects: toDelete.map(refOf) });
    const restoredSubjects = new Set(restore.map((e) => e.subject));
    const deletedSubjects = new Set(created.map((e) => e.subject));
    for (const e of this.progress.objects) {
      if (restoredSubjects.has(e.subject)) e.action = 'restored';
      if (deletedSubjects.has(e.subject)) e.action = 'deleted';
    }
    if (!restore.length) return true;
    const after = await this.waitFor(restore.map(refOf), this.input.timeoutSeconds);
    mergeHealth(this.progress.objects, after);
    return after.outcome === 'Current';
  }

  /** Plan entries whose write the ledger confirms (the pre-saga rollback only knew about these). */
  private confirmedEntries(): PlanEntry[] {
    return this.ledger
      .mayHaveChanged()
      .filter((e) => e.state === 'written')
      .map((e) => this.bySubject.get(e.subject) as PlanEntry);
  }

  private dryRun(): Promise<DeployPlan> {
    const source = this.sourceOf(this.objects.map((_, i) => i));
    return planDeploy({ cluster: this.input.cluster ?? '', source, force: this.input.force });
  }

  private waitFor(refs: ObjectRefWithSubject[], timeoutSeconds: number): Promise<HealthResult> {
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${timeoutSeconds + 120}s`,
      heartbeatTimeout: '20s',
      retry,
    });
    const deadlineMs = Date.now() + timeoutSeconds * 1000;
    return waitForHealth({ cluster: this.plan.cluster, objects: refs, deadlineMs, timeoutSeconds });
  }

  /** The objects an activity works on: inline, or by reference to this run's start input (large manifests). */
  private sourceOf(indexes: number[]): ObjectSource {
    const info = workflowInfo();
    return this.byReference
      ? { workflowInput: { workflowId: info.workflowId, runId: info.runId }, indexes }
      : { objects: indexes.map((i) => this.objects[i] as KubeObject) };
  }

  private entryOf(o: { index: number }): PlanEntry {
    return this.plan.entries[o.index] as PlanEntry;
  }

  /** Shows the current plan in `progress`, in apply order (definitions first, then by kind), with its id. */
  private showPlan(): void {
    this.progress.objects = this.stages.flatMap((s) => s.items.map((o) => entryReport(this.entryOf(o))));
    this.progress.planId = computePlanId(this.plan.entries);
    this.counts = countActions(this.plan.entries);
  }

  /** Enters a phase: accounts the time spent in the previous one and shows the new one in the Web UI. */
  private enter(phase: DeployPhase, message: string): void {
    const p = this.progress;
    this.durationsMs[p.phase] = (this.durationsMs[p.phase] ?? 0) + (Date.now() - this.phaseStart);
    this.phaseStart = Date.now();
    p.phase = phase;
    p.message = message;
    setCurrentDetails(`**${phase}** — ${message}`);
  }

  /** Ends the run: the final phase, the outcome search attribute and the report. */
  report(outcome: DeployOutcome, message: string, extra: Partial<DeployReport> = {}): DeployReport {
    this.enter('done', message);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    this.durationsMs.total = Date.now() - this.started;
    delete this.durationsMs.done;
    return {
      outcome,
      cluster: this.plan.cluster,
      ...(this.input.app ? { app: this.input.app } : {}),
      objects: this.progress.objects,
      ...extra,
      ...(this.decision ? { approval: this.decision } : {}),
      ...(this.analysisReport ? { analysis: this.analysisReport } : {}),
      ...(this.analysisDecision ? { analysisDecision: this.analysisDecision } : {}),
      durationsMs: this.durationsMs,
      message,
    };
  }

  private decide(kind: 'approved' | 'rejected') {
    return (a: ApprovalInput): ApprovalResult => {
      this.decision = { decision: kind, by: a.by, ...(a.comment !== undefined ? { comment: a.comment } : {}) };
      return { decision: kind, planId: a.planId };
    };
  }

  private decideAnalysis(d: DecideAnalysisInput): AnalysisDecisionResult {
    this.analysisDecision = {
      decision: d.decision,
      ...(d.by !== undefined ? { by: d.by } : {}),
      ...(d.reason !== undefined ? { reason: d.reason } : {}),
    };
    return { decision: d.decision };
  }

  private validateAnalysisDecision(d: DecideAnalysisInput): void {
    const parsed = DecideAnalysisInput.safeParse(d);
    if (!parsed.success) throw new Error(`invalid analysis decision: ${z.prettifyError(parsed.error)}`);
    if (this.progress.phase !== 'awaitingDecision' || this.analysisDecision)
      throw new Error(`this deploy is not waiting for an analysis decision (phase ${this.progress.phase})`);
  }

  /** The analysis' template arguments: the deploy's app and namespace, then the input's `analysisArgs`. */
  private analysisArgs(input: DeployManifestsOptions, objects: readonly KubeObject[]): Record<string, string> {
    const namespace = input.namespace ?? objects.find((o) => o.metadata.namespace)?.metadata.namespace;
    return {
      ...(input.app ? { app: input.app } : {}),
      ...(namespace ? { namespace } : {}),
      ...input.analysisArgs,
    };
  }

  private validateApproval(a: ApprovalInput): void {
    const parsed = ApprovalInput.safeParse(a);
    if (!parsed.success) throw new Error(`invalid approval: ${z.prettifyError(parsed.error)}`);
    if (this.progress.phase !== 'awaitingApproval' || this.decision)
      throw new Error(`this deploy is not waiting for approval (phase ${this.progress.phase})`);
    if (a.planId !== this.progress.planId)
      throw new Error(`stale approval: it names ${a.planId}, the current plan is ${this.progress.planId}`);
  }
}

/** Subjects whose planned action, changes or live fingerprint differ between two plans of the same objects. */
export function movedObjects(before: readonly PlanEntry[], after: readonly PlanEntry[]): string[] {
  const old = new Map(before.map((e) => [e.subject, e]));
  return after
    .filter((e) => {
      const o = old.get(e.subject);
      return (
        !o ||
        o.action !== e.action ||
        o.fingerprint !== e.fingerprint ||
        (o.changes ?? []).join(',') !== (e.changes ?? []).join(',')
      );
    })
    .map((e) => e.subject);
}

/** The per-object outcome an `applyObjects` failure carries, if it is one. */
function applyFailureDetails(err: unknown): ApplyFailureDetails | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const d = cause.details?.[0] as Partial<ApplyFailureDetails> | undefined;
  if (!d || !Array.isArray(d.applied) || !Array.isArray(d.refused)) return undefined;
  return { applied: d.applied, refused: d.refused, uncertain: Array.isArray(d.uncertain) ? d.uncertain : [] };
}

/** The failure type and message of whatever ended the apply phase (activity failure, timeout, cancellation). */
function failureOf(err: unknown): { type: string; message: string } {
  if (isCancellation(err)) return { type: 'Cancelled', message: 'cancelled' };
  let e: unknown = err;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { type: e.type ?? FailureType.Internal, message: e.message };
  if (e instanceof TimeoutFailure)
    return { type: FailureType.KubeUnavailable, message: `activity ${e.timeoutType} timeout` };
  return { type: FailureType.Internal, message: e instanceof Error ? e.message : String(e) };
}

/** The failure a health result stands for. */
function healthFailure(health: HealthResult): { type: string; message: string } {
  return health.outcome === 'Failed'
    ? { type: FailureType.RolloutFailed, message: `rollout failed: ${health.message}` }
    : { type: FailureType.RolloutTimeout, message: health.message };
}

function entryReport(e: PlanEntry): ObjectReport {
  return {
    subject: e.subject,
    action: e.action,
    ...(e.changes ? { changes: e.changes } : {}),
    ...(e.changedFields ? { changedFields: e.changedFields } : {}),
    ...(e.notes ? { notes: e.notes } : {}),
  };
}

function mergeHealth(objects: ObjectReport[], health: HealthResult): void {
  const bySubject = new Map(health.objects.map((h) => [h.subject, h]));
  for (const o of objects) {
    const h = bySubject.get(o.subject);
    if (h) Object.assign(o, { status: h.status, reason: h.reason, message: h.message });
  }
}

function countActions(entries: readonly PlanEntry[]): string {
  const n = (a: string): number => entries.filter((e) => e.action === a).length;
  return `${n('created')} created, ${n('configured')} configured, ${n('unchanged')} unchanged`;
}

function refOf(e: {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  subject: string;
}): ObjectRefWithSubject {
  return { apiVersion: e.apiVersion, kind: e.kind, namespace: e.namespace, name: e.name, subject: e.subject };
}

/** Fails the run at once (nothing written) when the analysis refers to template arguments it will not have. */
function checkAnalysisArgs(input: DeployManifestsOptions, args: Record<string, string>): void {
  const spec = input.analysis;
  if (!spec) return;
  try {
    renderProvider(spec.provider, { cluster: input.cluster ?? 'default', args });
  } catch (err) {
    if (!(err instanceof MissingTemplateArgsError)) throw err;
    const given = Object.keys(args).join(', ') || 'none';
    throw invalid(`analysis ${spec.name}: provider.${err.message} (known: ${given}; add them to analysisArgs)`);
  }
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}
