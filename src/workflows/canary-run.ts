/**
 * The steps of one `canaryRollout` run, as a small class over explicit state (input, preflight facts and plan, the
 * template and its revision, the replica counts set so far, the saga's ledger, the status), in the order the
 * workflow calls them: validate → preflight → lock → steps → promote, or abort. Operator updates steer it: each
 * records an interruption and cancels the running step's scope; the step loop then acts on it. Deterministic.
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
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities, HealthResult } from '../activities/index.js';
import {
  canaryDeployment,
  canaryName,
  checkSteps,
  describeStep,
  pauseMs,
  planCanary,
  podTemplateOf,
  promotedTemplate,
  replicaSplit,
  shiftPlan,
  type CanaryPlan,
} from '../domain/canary.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatSubject } from '../domain/subject.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import type { CanaryTargetFacts } from '../schemas/activities.js';
import type { AnalysisReport, RunAnalysisInput } from '../schemas/analysis.js';
import {
  AbortInput,
  CanaryRolloutInput,
  NewRevisionInput,
  PromoteInput,
  type CanaryOutcome,
  type CanaryPhase,
  type CanaryReport,
  type CanaryRolloutOptions,
  type CanaryStatus,
  type CanaryStep,
  type CanaryStepReport,
  type PodTemplate,
  type ReplicaCounts,
} from '../schemas/canary.js';
import {
  abortUpdate,
  canaryStatusQuery,
  newRevisionUpdate,
  promoteUpdate,
  type NewRevisionResult,
  type PromoteResult,
} from './canary-definitions.js';
import { takeDeployLock, type HeldDeployLock } from './locks.js';
import { KubeApp, KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
/** The do: one GET or write each; an API server that stays down for 10 minutes aborts the canary. */
const act = proxyActivities<Activities>({ startToCloseTimeout: '40s', scheduleToCloseTimeout: '10m', retry });
/** The undo: retried longer than the do, since giving up leaves the canary or a reduced stable behind. */
const undo = proxyActivities<Activities>({ startToCloseTimeout: '40s', scheduleToCloseTimeout: '30m', retry });
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: '5m',
  retry: { ...retry, initialInterval: '2s' },
});

/** How the step phase ended. */
export type StepsEnd =
  | { kind: 'completed'; skipped?: boolean }
  | { kind: 'aborted'; reason: string }
  | { kind: 'cancelled'; error: unknown };

/** What an operator asked for while a step ran. */
type Interruption =
  | { kind: 'abort'; reason: string }
  | { kind: 'promoteFull' }
  | { kind: 'restart' | 'supersede'; template: PodTemplate; plan: CanaryPlan };

/** What the saga may have changed, recorded before each write (the undo reads it). */
interface Ledger {
  /** `applyCanary` was called: the canary Deployment may exist. */
  canaryMayExist: boolean;
  /** A stable count write was called: it may differ from the total. */
  stableChanged: boolean;
}

/** One canary run: its state and its steps. */
export class CanaryRun {
  private readonly started = Date.now();
  private phaseStart = Date.now();
  private readonly durationsMs: Record<string, number> = {};
  private input!: CanaryRolloutOptions;
  private subject = '';
  private canarySubject = '';
  private facts!: CanaryTargetFacts;
  private plan!: CanaryPlan;
  private template!: PodTemplate;
  private counts: ReplicaCounts = { stable: 0, canary: 0 };
  private readonly ledger: Ledger = { canaryMayExist: false, stableChanged: false };
  private readonly created: string[] = [];
  private readonly deleted: string[] = [];
  private interruption: Interruption | undefined;
  private resumed = false;
  private stepScope: CancellationScope | undefined;
  private readonly status: CanaryStatus = {
    phase: 'validating',
    stepIndex: 0,
    stepCount: 0,
    weight: 0,
    total: 0,
    replicas: { stable: 0, canary: 0 },
    revision: 1,
    steps: [],
    analyses: [],
    message: 'validating input',
  };

  /** Registers the `status` query and the `promote` / `abort` / `newRevision` updates. */
  constructor() {
    setHandler(canaryStatusQuery, () => this.status);
    setHandler(promoteUpdate, (p) => this.onPromote(p), { validator: (p) => this.checkPromote(p) });
    setHandler(abortUpdate, (a) => this.onAbort(a), { validator: (a) => this.checkAbort(a) });
    setHandler(newRevisionUpdate, (r) => this.onNewRevision(r), { validator: (r) => this.checkNewRevision(r) });
  }

  /** Step 1, in the first workflow task: parses the input and the steps; bad input fails here, nothing has run. */
  validate(raw: CanaryRolloutInput): CanaryRolloutOptions {
    const parsed = CanaryRolloutInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid canary input:\n${z.prettifyError(parsed.error)}`);
    const input = parsed.data;
    const template = podTemplateOf(input.template, input.deployment);
    if (!template.ok) throw invalid(template.error);
    const problems = checkSteps(input.steps);
    if (problems.length) throw invalid(`invalid canary steps:\n${problems.join('\n')}`);
    this.input = input;
    this.template = template.template;
    this.subject = formatSubject({ kind: 'Deployment', namespace: input.namespace, name: input.deployment });
    this.canarySubject = formatSubject({
      kind: 'Deployment',
      namespace: input.namespace,
      name: canaryName(input.deployment),
    });
    this.status.stepCount = input.steps.length;
    upsertKubeAttributes([
      { key: KubeNamespace, value: input.namespace },
      ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
    ]);
    return input;
  }

  /**
   * Step 2: reads the stable Deployment, its Services, autoscalers and any leftover canary, and decides
   * ({@link planCanary}); a refusal fails the run with a non-retryable `PolicyViolation`, nothing written.
   */
  async preflight(): Promise<void> {
    this.enter('preflight', `reading ${this.subject} and the Services selecting its pods`);
    const { cluster, namespace, deployment, service } = this.input;
    this.facts = await act.readCanaryTarget({
      cluster: cluster ?? '',
      namespace,
      deployment,
      ...(service ? { service } : {}),
    });
    upsertKubeAttributes([
      { key: KubeCluster, value: this.facts.cluster },
      { key: KubeApp, value: this.facts.app ?? deployment },
    ]);
    const decided = planCanary(this.facts, this.template.metadata?.labels ?? {});
    if (!decided.ok) throw ApplicationFailure.nonRetryable(decided.reason, FailureType.PolicyViolation);
    this.plan = decided.plan;
    this.counts = { stable: this.facts.replicas, canary: 0 };
    Object.assign(this.status, { total: this.facts.replicas, replicas: { ...this.counts } });
  }

  /** Step 3: the app's deploy lock (when a deploy owns the Deployment), so no deploy or scale of it interleaves. */
  async lock(): Promise<HeldDeployLock | undefined> {
    if (!this.facts.app) return undefined;
    const lockId = deployWorkflowId({
      cluster: this.facts.cluster,
      namespace: this.input.namespace,
      app: this.facts.app,
    });
    return takeDeployLock(
      lockId,
      `canary of ${this.subject}`,
      `canary of ${this.subject} (app ${this.facts.app}) refused`,
    );
  }

  /**
   * Step 4: creates the canary (0 pods), then runs the steps in order; operator updates interrupt the running
   * step and are acted on between steps. Never throws: returns how the phase ended.
   */
  async runSteps(): Promise<StepsEnd> {
    try {
      if (!this.interruption) await this.applyCanary();
      for (;;) {
        const interruption = this.interruption;
        this.interruption = undefined;
        if (interruption) {
          const end = await this.interrupt(interruption);
          if (end) return end;
        }
        const step = this.input.steps[this.status.stepIndex];
        if (!step) return { kind: 'completed' };
        const failed = await this.runStep(step);
        if (failed) return { kind: 'aborted', reason: failed };
      }
    } catch (err) {
      if (isCancellation(err)) return { kind: 'cancelled', error: err };
      return { kind: 'aborted', reason: failureMessage(err) };
    }
  }

  /**
   * Step 5a: the new template and the total count onto the stable Deployment, wait until it is Current, then delete
   * the canary. Not cancellable once begun. If the stable does not become healthy the canary is left serving
   * (`promotionFailed`), and the channels are told.
   */
  async promote(end: StepsEnd): Promise<CanaryReport> {
    return CancellationScope.nonCancellable(async () => {
      const skipped = end.kind === 'completed' && end.skipped ? ' (remaining steps skipped)' : '';
      const total = this.facts.replicas;
      this.enter('promoting', `applying the new template to ${this.subject} with ${total} replicas${skipped}`);
      this.ledger.stableChanged = true;
      const { generation } = await undo.promoteCanary({
        ...this.stableRef(),
        template: promotedTemplate(this.plan, this.template) as never,
        replicas: total,
      });
      const promoted = { subject: this.subject, ...(generation !== undefined ? { generation } : {}) };
      const health = await this.waitFor([this.subject]);
      if (health.outcome !== 'Current') {
        const reason = `the promoted ${this.subject} did not become healthy: ${health.message}`;
        const alerts = await this.alert(reason);
        return this.report('promotionFailed', `${reason}; ${this.canarySubject} left serving`, {
          promoted,
          reason,
          alerts,
        });
      }
      this.counts.stable = total;
      await this.deleteCanary(undo);
      this.setCounts({ stable: total, canary: 0 });
      return this.report(
        'promoted',
        `${this.subject} promoted to revision ${this.status.revision} with ${total} replicas${skipped}; canary deleted`,
        { promoted, alerts: [] },
      );
    });
  }

  /**
   * Step 5b, the saga's undo: deletes the canary at once, puts the stable count back to the total, waits for it,
   * alerts with the reason. The stable template was never touched. A cancelled run ends cancelled after this.
   */
  async abort(end: Exclude<StepsEnd, { kind: 'completed' }>): Promise<CanaryReport> {
    const reason = end.kind === 'cancelled' ? 'cancelled' : end.reason;
    const report = await CancellationScope.nonCancellable(async () => {
      this.enter(
        'aborting',
        `${reason}: deleting ${this.canarySubject}, restoring ${this.subject} to ${this.facts.replicas} replicas`,
      );
      const left: string[] = [];
      const restored: CanaryReport['restored'] = [];
      await this.deleteCanary(undo).catch((err: unknown) => left.push(`${this.canarySubject}: ${failureMessage(err)}`));
      if (this.ledger.stableChanged) {
        const from = this.counts.stable;
        try {
          await undo.scaleCanarySide({ ...this.stableRef(), replicas: this.facts.replicas });
          this.counts.stable = this.facts.replicas;
          restored.push({ subject: this.subject, from, to: this.facts.replicas });
          const health = await this.waitFor([this.subject]);
          if (health.outcome !== 'Current') left.push(`${this.subject}: restored but not healthy: ${health.message}`);
        } catch (err) {
          left.push(`${this.subject}: replica count not restored: ${failureMessage(err)}`);
        }
      }
      this.setCounts({ ...this.counts });
      const alerts = await this.alert(reason);
      const tail = left.length
        ? `; left: ${left.join('; ')}`
        : `; ${this.canarySubject} deleted, ${this.subject} at ${this.facts.replicas} replicas, template untouched`;
      return this.report('aborted', `canary aborted: ${reason}${tail}`, {
        reason,
        restored,
        alerts,
        ...(left.length ? { left } : {}),
      });
    });
    if (end.kind === 'cancelled') throw end.error; // the run ends cancelled; the status query holds the report
    return report;
  }

  // --- the steps ---------------------------------------------------------------------------------------------

  /** Runs one step in its own cancellation scope; returns why it failed (the canary then aborts), or undefined. */
  private async runStep(step: CanaryStep): Promise<string | undefined> {
    const index = this.status.stepIndex;
    const startedAt = new Date().toISOString();
    const started = Date.now();
    const scope = new CancellationScope();
    this.stepScope = scope;
    let line: Pick<CanaryStepReport, 'result' | 'message'>;
    try {
      line = await scope.run(() => this.execute(step, index));
    } catch (err) {
      if (!isCancellation(err) || !this.interruption) throw err; // a cancel of the whole run, or a real failure
      line = { result: 'interrupted', message: `interrupted by ${this.interruption.kind}` };
    } finally {
      this.stepScope = undefined;
    }
    this.status.steps.push({
      index,
      step: describeStep(step),
      revision: this.status.revision,
      startedAt,
      durationMs: Date.now() - started,
      weight: this.status.weight,
      replicas: { ...this.counts },
      ...line,
    });
    if (line.result === 'failed') return line.message ?? 'step failed';
    if (line.result !== 'interrupted') this.status.stepIndex = index + 1;
    return undefined;
  }

  private async execute(step: CanaryStep, index: number): Promise<Pick<CanaryStepReport, 'result' | 'message'>> {
    const where = `step ${index + 1}/${this.input.steps.length}`;
    if ('setWeight' in step) {
      this.enter('shifting', `${where}: setWeight ${step.setWeight}`);
      const failure = await this.shiftTo(replicaSplit(this.facts.replicas, step.setWeight));
      if (failure) return { result: 'failed', message: failure };
      this.status.weight = step.setWeight;
      return { result: 'done' };
    }
    if ('pause' in step) {
      const ms = pauseMs(step);
      this.enter('paused', `${where}: ${describeStep(step)} (promote to go on)`);
      this.resumed = false;
      if (ms === undefined) await condition(() => this.resumed);
      else await condition(() => this.resumed, ms);
      return this.resumed ? { result: 'promoted', message: 'ended by promote' } : { result: 'done' };
    }
    return this.analyse(step.analysis, index, where);
  }

  /** Scales the growing side first and waits for it, then the shrinking side: capacity never drops. */
  private async shiftTo(target: ReplicaCounts): Promise<string | undefined> {
    for (const change of shiftPlan(this.counts, target)) {
      const name = change.side === 'stable' ? this.input.deployment : canaryName(this.input.deployment);
      const subject = change.side === 'stable' ? this.subject : this.canarySubject;
      if (change.side === 'stable') this.ledger.stableChanged = true;
      await act.scaleCanarySide({ ...this.stableRef(), name, replicas: change.replicas });
      this.setCounts({ ...this.counts, [change.side]: change.replicas });
      const health = await this.waitFor([subject]);
      if (health.outcome !== 'Current')
        return `${subject} not healthy at ${change.replicas} replicas: ${health.message}`;
    }
    return undefined;
  }

  /** Runs the analysis as a child `runAnalysis`; failed aborts, inconclusive waits for an operator's decision. */
  private async analyse(
    spec: RunAnalysisInput['spec'],
    index: number,
    where: string,
  ): Promise<Pick<CanaryStepReport, 'result' | 'message'>> {
    const revision = this.status.revision;
    // Named from the canary's target, not this run's id: one canary per Deployment runs at a time (the lock).
    const { cluster, namespace, name } = this.stableRef();
    const workflowId = `canary-analysis/${cluster}/${namespace}/${name}/step-${index + 1}-r${revision}`;
    this.enter('analysing', `${where}: analysis ${spec.name} of revision ${revision}`);
    let report: Pick<AnalysisReport, 'outcome' | 'reason'>;
    try {
      report = await executeChild<(input: RunAnalysisInput) => Promise<AnalysisReport>>('runAnalysis', {
        workflowId,
        args: [{ spec, ...(this.facts.cluster ? { cluster: this.facts.cluster } : {}), args: this.analysisArgs() }],
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      report = { outcome: 'failed', reason: `the analysis could not run: ${failureMessage(err)}` };
    }
    this.status.analyses.push({ step: index, revision, outcome: report.outcome, message: report.reason, workflowId });
    const message = `analysis ${spec.name}: ${report.outcome} (${report.reason})`;
    if (report.outcome === 'successful') return { result: 'done', message };
    if (report.outcome === 'failed') return { result: 'failed', message };
    const seconds = this.input.decisionTimeoutSeconds;
    this.enter('awaitingDecision', `${message}: promote to go on or abort (within ${seconds}s)`);
    this.resumed = false;
    if (await condition(() => this.resumed, seconds * 1000))
      return { result: 'inconclusive', message: `${message}; promoted by an operator` };
    return { result: 'failed', message: `${message}; no decision within ${seconds}s` };
  }

  /** Acts on an operator's interruption between steps; returns how the step phase ends, or undefined to go on. */
  private async interrupt(i: Interruption): Promise<StepsEnd | undefined> {
    if (i.kind === 'abort') return { kind: 'aborted', reason: `aborted by an operator: ${i.reason}` };
    if (i.kind === 'promoteFull') return { kind: 'completed', skipped: true };
    this.template = i.template;
    this.plan = i.plan;
    this.status.revision += 1;
    if (i.kind === 'restart') {
      this.enter('shifting', `revision ${this.status.revision}: back to 0% before restarting the steps`);
      const failure = await this.shiftTo(replicaSplit(this.facts.replicas, 0));
      if (failure) return { kind: 'aborted', reason: failure };
      Object.assign(this.status, { stepIndex: 0, weight: 0 });
    }
    await this.applyCanary();
    if (this.counts.canary === 0) return undefined;
    const health = await this.waitFor([this.canarySubject]);
    return health.outcome === 'Current'
      ? undefined
      : {
          kind: 'aborted',
          reason: `revision ${this.status.revision}: ${this.canarySubject} not healthy: ${health.message}`,
        };
  }

  // --- updates -----------------------------------------------------------------------------------------------

  private checkPromote(p: unknown): void {
    const parsed = PromoteInput.safeParse(p ?? {});
    if (!parsed.success) throw new Error(`invalid promote: ${z.prettifyError(parsed.error)}`);
    this.refuseWhenEnding('promote');
    if (!parsed.data.full && this.status.phase !== 'paused' && this.status.phase !== 'awaitingDecision')
      throw new Error(
        `the canary is not paused (phase ${this.status.phase}): nothing to resume; promote with full: true to skip every remaining step`,
      );
  }

  private onPromote(p: unknown): PromoteResult {
    const { full } = PromoteInput.parse(p ?? {});
    if (!full) {
      this.resumed = true;
      return { action: 'resumed', stepIndex: this.status.stepIndex };
    }
    this.raise({ kind: 'promoteFull' });
    return { action: 'promoting', stepIndex: this.status.stepIndex };
  }

  private checkAbort(a: unknown): void {
    const parsed = AbortInput.safeParse(a);
    if (!parsed.success) throw new Error(`invalid abort: ${z.prettifyError(parsed.error)}`);
    this.refuseWhenEnding('abort');
  }

  private onAbort(a: AbortInput): { reason: string } {
    this.raise({ kind: 'abort', reason: a.reason });
    return { reason: a.reason };
  }

  private checkNewRevision(r: unknown): void {
    const parsed = NewRevisionInput.safeParse(r);
    if (!parsed.success) throw new Error(`invalid newRevision: ${z.prettifyError(parsed.error)}`);
    this.refuseWhenEnding('newRevision');
    if (this.input.onNewRevision === 'refuse')
      throw new Error(
        `this canary refuses new revisions (onNewRevision: refuse): abort it and start a new canary with the new template, or start canaries with onNewRevision restart or supersede`,
      );
    if (!this.plan)
      throw new Error('the canary is still in its preflight: send the new revision once it runs its steps');
    const template = podTemplateOf(parsed.data.template, this.input.deployment);
    if (!template.ok) throw new Error(template.error);
    const decided = planCanary(this.facts, template.template.metadata?.labels ?? {});
    if (!decided.ok) throw new Error(decided.reason.replace('; nothing was written', '; the revision was refused'));
  }

  private onNewRevision(r: NewRevisionInput): NewRevisionResult {
    const template = podTemplateOf(r.template, this.input.deployment) as { ok: true; template: PodTemplate };
    const decided = planCanary(this.facts, template.template.metadata?.labels ?? {}) as { ok: true; plan: CanaryPlan };
    const action = this.input.onNewRevision as 'restart' | 'supersede';
    this.raise({ kind: action, template: template.template, plan: decided.plan });
    return { action, revision: this.status.revision + 1 };
  }

  /** Records what the operator asked for and interrupts the running step (its scope is cancelled). */
  private raise(i: Interruption): void {
    if (this.interruption?.kind === 'abort') return; // an abort already asked for wins
    this.interruption = i;
    this.stepScope?.cancel();
  }

  private refuseWhenEnding(what: string): void {
    const { phase } = this.status;
    if (phase === 'promoting' || phase === 'aborting' || phase === 'done')
      throw new Error(`${what} refused: the canary is ${phase === 'done' ? 'over' : phase} (${this.status.message})`);
    if (this.interruption?.kind === 'abort') throw new Error(`${what} refused: the canary is being aborted`);
  }

  // --- parts -------------------------------------------------------------------------------------------------

  /** Applies the canary Deployment with the current template and canary count; the ledger records it first. */
  private async applyCanary(): Promise<void> {
    this.ledger.canaryMayExist = true;
    const obj = canaryDeployment(this.facts, this.plan, this.template, this.counts.canary);
    const { created } = await act.applyCanary({ cluster: this.facts.cluster, deployment: obj });
    if (created && !this.created.includes(this.canarySubject)) this.created.push(this.canarySubject);
  }

  private async deleteCanary(via: typeof undo): Promise<void> {
    if (!this.ledger.canaryMayExist) return;
    const { deleted } = await via.deleteCanary({ ...this.stableRef(), deployment: this.input.deployment });
    if (deleted) this.deleted.push(this.canarySubject);
    this.counts.canary = 0;
  }

  private waitFor(subjects: string[]): Promise<HealthResult> {
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${this.input.timeoutSeconds + 120}s`,
      heartbeatTimeout: '20s',
      retry,
    });
    const objects = subjects.map((subject) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: this.input.namespace,
      name: subject.split('/')[2] as string,
      subject,
    }));
    const { timeoutSeconds } = this.input;
    return waitForHealth({
      cluster: this.facts.cluster,
      objects,
      deadlineMs: Date.now() + timeoutSeconds * 1000,
      timeoutSeconds,
    });
  }

  /** Tells every configured channel why the canary ended badly; delivery errors are reported, never thrown. */
  private async alert(reason: string): Promise<CanaryReport['alerts']> {
    const event = {
      action: 'trigger' as const,
      dedupKey: `${workflowInfo().workflowId}/${workflowInfo().runId}/end`.slice(0, 255),
      summary: `canary of ${this.subject} (revision ${this.status.revision}) ended: ${reason}`.slice(0, 1_000),
      source: this.subject,
      severity: 'error' as const,
      startsAt: new Date().toISOString(),
      labels: {
        workflow: 'canaryRollout',
        cluster: this.facts.cluster,
        namespace: this.input.namespace,
        deployment: this.input.deployment,
      },
      details: {
        workflowId: workflowInfo().workflowId,
        step: String(this.status.stepIndex),
        weight: String(this.status.weight),
      },
    };
    const results = await Promise.allSettled(this.input.channels.map((channel) => deliverAlert({ channel, event })));
    return results.map((r, i) => {
      const channel = this.input.channels[i] ?? '';
      return r.status === 'fulfilled'
        ? { channel, status: r.value.status }
        : { channel, error: failureMessage(r.reason) };
    });
  }

  private analysisArgs(): Record<string, string> {
    return {
      namespace: this.input.namespace,
      deployment: this.input.deployment,
      canary: canaryName(this.input.deployment),
      revision: String(this.status.revision),
    };
  }

  private stableRef(): { cluster: string; namespace: string; name: string } {
    return { cluster: this.facts.cluster, namespace: this.input.namespace, name: this.input.deployment };
  }

  private setCounts(counts: ReplicaCounts): void {
    this.counts = counts;
    this.status.replicas = { ...counts };
  }

  /** Enters a phase: accounts the time spent in the previous one and shows the new one in the Web UI. */
  private enter(phase: CanaryPhase, message: string): void {
    const s = this.status;
    this.durationsMs[s.phase] = (this.durationsMs[s.phase] ?? 0) + (Date.now() - this.phaseStart);
    this.phaseStart = Date.now();
    s.phase = phase;
    s.message = message;
    const { stable, canary } = this.counts;
    setCurrentDetails(
      `**${phase}** ${this.subject} — weight ${s.weight}%, stable ${stable} / canary ${canary} — ${message}`,
    );
  }

  private report(outcome: CanaryOutcome, message: string, extra: Partial<CanaryReport>): CanaryReport {
    this.enter('done', message);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    this.durationsMs.total = Date.now() - this.started;
    delete this.durationsMs.done;
    return {
      outcome,
      cluster: this.facts.cluster,
      subject: this.subject,
      canary: this.canarySubject,
      total: this.facts.replicas,
      revision: this.status.revision,
      steps: this.status.steps,
      analyses: this.status.analyses,
      created: this.created,
      deleted: this.deleted,
      restored: [],
      alerts: [],
      ...extra,
      durationsMs: this.durationsMs,
      message,
    };
  }
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}

/** The innermost message of an activity or child failure. */
function failureMessage(err: unknown): string {
  let e: unknown = err;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
