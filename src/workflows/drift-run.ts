/**
 * The steps of a drift scan over explicit state, in the order `detectDrift` calls them: validate → scan → alert →
 * correct (optionally after `approveCorrection`, under the app's deploy lock) → report. Decisions (attribution,
 * policy, dedupe key) are pure code in `domain/drift`.
 * @module
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { describeField, driftDedupKey, prepareDesired } from '../domain/drift.js';
import { parseDuration } from '../domain/duration.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatProblems } from '../domain/manifests.js';
import { isSecret } from '../domain/secrets.js';
import { deployWorkflowId } from '../domain/workflow-ids.js';
import {
  ApproveCorrectionInput,
  DetectDriftInput,
  DriftScanState,
  type CorrectedObject,
  type DetectDriftOptions,
  type DriftObjectReport,
  type DriftOutcome,
  type DriftReport,
  type ScanDriftInput,
  type ScanDriftResult,
} from '../schemas/drift.js';
import type { KubeObject } from '../schemas/kube-object.js';
import {
  approveCorrectionUpdate,
  driftStatusQuery,
  type ApproveCorrectionResult,
  type DriftPhase,
  type DriftStatus,
} from './drift-definitions.js';
import { takeDeployLock } from './locks.js';
import { KubeApp, KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

/** Above this many bytes of prepared objects, activities read the manifests from the start input (by reference). */
export const DRIFT_INLINE_OBJECTS_LIMIT = 128 * 1024;

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { scanDrift, correctDrift } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '60s',
  retry,
});
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '10m',
  retry: { ...retry, nonRetryableErrorTypes: [...retry.nonRetryableErrorTypes, FailureType.AlertRejected] },
});

/** The state and steps of one drift scan. */
export class DriftRun {
  private input!: DetectDriftOptions;
  private source!: ScanDriftInput['source'];
  private previous: DriftScanState | undefined;
  private scan: ScanDriftResult | undefined;
  private alert: DriftReport['alert'];
  private correction: DriftReport['correction'];
  private decision: { approve: boolean; by: string; comment?: string | undefined } | undefined;
  private readonly status: DriftStatus = {
    phase: 'validating',
    message: 'validating input',
    objects: [],
    toCorrect: [],
  };

  /** Registers the `status` query and the `approveCorrection` update (before anything can fail). */
  constructor() {
    setHandler(driftStatusQuery, () => this.status);
    setHandler(approveCorrectionUpdate, (a: ApproveCorrectionInput) => this.approve(a), {
      validator: (a: ApproveCorrectionInput) => this.validateApproval(a),
    });
  }

  /** Step 1, in the first workflow task: parses the input and the manifests; bad input fails here (InvalidInput). */
  validate(raw: DetectDriftInput): void {
    const parsed = DetectDriftInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid drift input:\n${z.prettifyError(parsed.error)}`);
    this.input = parsed.data;
    const prepared = prepareDesired(this.input);
    if (!prepared.ok) throw invalid(formatProblems(prepared.problems));
    if (!prepared.objects.length) throw invalid('the manifests contain no objects');
    this.source = byReference(prepared.objects)
      ? { workflowInput: { workflowId: workflowInfo().workflowId, runId: workflowInfo().runId } }
      : { objects: prepared.objects };
    this.previous = this.input.previous ?? previousResult();
    upsertKubeAttributes([
      { key: KubeApp, value: this.input.app },
      { key: KubeNamespace, value: this.input.namespace },
    ]);
  }

  /** Step 2: reads inventory and live objects; dry-runs only what moved since the previous scan. */
  async scanObjects(): Promise<void> {
    const moved = this.previous ? ' (what moved since the previous scan)' : '';
    this.enter('scanning', `dry-running ${this.input.app}'s objects${moved}`);
    this.scan = await scanDrift({
      cluster: this.input.cluster ?? '',
      app: this.input.app,
      namespace: this.input.namespace,
      source: this.source,
      policy: this.input.policy,
      ...(this.previous ? { previous: this.previous } : {}),
    });
    upsertKubeAttributes([{ key: KubeCluster, value: this.scan.cluster }]);
    this.status.objects = [...this.scan.objects].sort((a, b) => rank(a) - rank(b));
    this.status.toCorrect = this.scan.objects
      .filter((o) => o.fields.some((f) => f.action === 'correct'))
      .map((o) => o.subject);
  }

  /** Step 3: one alert per run for the drift the policy alerts or corrects, keyed by the drift's content. */
  async alertDrift(): Promise<void> {
    const items = this.notable();
    if (!items.length || !this.input.channels.length) return;
    const scope = { cluster: this.cluster, namespace: this.input.namespace, app: this.input.app };
    const dedupKey = driftDedupKey(scope, items);
    const objects = new Set(items.map((i) => i.subject)).size;
    const summary = `drift in ${this.input.app} (${scope.cluster}/${scope.namespace}): ${items.length} field(s) of ${objects} object(s) changed outside kube-workflows`;
    this.enter('alerting', summary);
    const details: Record<string, string> = {};
    for (const i of items.slice(0, 20)) details[`${i.subject} ${i.path}`] = `${describeField(i)} → ${i.action}`;
    if (items.length > 20) details['more'] = `${items.length - 20} more drifted fields`;
    const event = {
      action: 'trigger' as const,
      dedupKey,
      summary,
      source: items[0]?.subject ?? `app/${scope.namespace}/${scope.app}`,
      severity: 'warning' as const,
      startsAt: new Date().toISOString(),
      labels: { app: scope.app, namespace: scope.namespace, cluster: scope.cluster, kind: 'drift' },
      details,
    };
    await Promise.all(this.input.channels.map((channel) => deliverAlert({ channel, event })));
    this.alert = { dedupKey, channels: this.input.channels, summary };
  }

  /**
   * Step 4: takes back what the policy corrects: after `approveCorrection` when asked (none in time: not corrected),
   * under the app's deploy lock (so it never races a deploy), by a forced server-side apply of only those fields.
   */
  async correct(): Promise<void> {
    const subjects = this.status.toCorrect;
    if (!subjects.length) return;
    let decision: 'automatic' | 'approved' | 'rejected' | 'timedOut' = 'automatic';
    if (this.input.requireApproval) {
      this.enter('awaitingApproval', `correction of ${subjects.join(', ')} waits for approveCorrection`);
      const decided = await condition(() => this.decision !== undefined, parseDuration(this.input.approvalTimeout));
      decision = !decided ? 'timedOut' : this.decision?.approve ? 'approved' : 'rejected';
      if (decision !== 'approved') {
        this.correction = { decision, ...this.decider(), corrected: [], failed: [] };
        return;
      }
    }
    this.enter('correcting', `taking back the drifted fields of ${subjects.join(', ')}`);
    const lockId = deployWorkflowId({ cluster: this.cluster, namespace: this.input.namespace, app: this.input.app });
    let results: CorrectedObject[];
    try {
      const lock = await takeDeployLock(lockId, `correct drift of ${this.input.app}`, 'drift not corrected');
      try {
        results = await correctDrift({
          cluster: this.cluster,
          app: this.input.app,
          namespace: this.input.namespace,
          source: this.source,
          policy: this.input.policy,
          subjects,
        });
      } finally {
        await lock.release();
      }
    } catch (err) {
      const message = failureMessage(err);
      results = subjects.map((subject) => ({ subject, result: 'failed', fields: [], message }));
    }
    this.absorbCorrection(results);
    this.correction = {
      decision,
      ...this.decider(),
      corrected: results.filter((r) => r.result === 'corrected').map((r) => r.subject),
      failed: results.filter((r) => r.result === 'failed').map((r) => r.subject),
    };
  }

  /** Step 5: the report (also the state the next scan starts from). */
  finish(): DriftReport {
    const scan = this.scan as ScanDriftResult;
    const outcome = this.outcome();
    const notable = this.notable();
    const corrected = scan.objects.flatMap((o) =>
      o.fields.filter((f) => f.corrected).map((f) => `${o.subject} ${describeField(f)}`),
    );
    const lines = notable.slice(0, 5).map((i) => `${i.subject} ${describeField(i)}`);
    const ignored = scan.objects.flatMap((o) => o.fields).filter((f) => f.action === 'ignore').length;
    const message =
      (notable.length
        ? `${notable.length} drifted field(s) left: ${lines.join('; ')}${notable.length > 5 ? '; …' : ''}`
        : corrected.length
          ? 'no drift left to alert or correct'
          : 'no drift to alert or correct') +
      (corrected.length
        ? `; corrected ${corrected.length}: ${corrected.slice(0, 5).join('; ')}${corrected.length > 5 ? '; …' : ''}`
        : '') +
      (ignored ? `; ${ignored} ignored by policy` : '') +
      (this.correction
        ? `; correction ${this.correction.decision}: ${this.correction.corrected.length} object(s) corrected, ${this.correction.failed.length} failed`
        : '') +
      `; ${scan.dryRuns} dry-run request(s)`;
    const report: DriftReport = {
      outcome,
      cluster: this.cluster,
      app: this.input.app,
      namespace: this.input.namespace,
      objects: scan.objects,
      dryRuns: scan.dryRuns,
      notInManifests: scan.notInManifests,
      notInInventory: scan.notInInventory,
      ...(this.alert ? { alert: this.alert } : {}),
      ...(this.correction ? { correction: this.correction } : {}),
      message,
    };
    this.status.report = report;
    this.enter('done', `${outcome}: ${message}`);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    return report;
  }

  private get cluster(): string {
    return this.scan?.cluster ?? this.input.cluster ?? '';
  }

  /** Every drifted field the policy alerts or corrects, with its object. */
  private notable(): (DriftObjectReport['fields'][number] & { subject: string })[] {
    return (this.scan?.objects ?? []).flatMap((o) =>
      o.fields.filter((f) => f.action !== 'ignore' && !f.corrected).map((f) => ({ ...f, subject: o.subject })),
    );
  }

  private outcome(): DriftOutcome {
    if (this.correction?.failed.length) return 'correctionFailed';
    if (this.notable().length) return 'drifted';
    return this.correction?.corrected.length ? 'corrected' : 'inSync';
  }

  /** Marks corrected fields and objects; the corrected object's resourceVersion is what the next scan compares. */
  private absorbCorrection(results: readonly CorrectedObject[]): void {
    const bySubject = new Map(results.map((r) => [r.subject, r]));
    for (const o of this.scan?.objects ?? []) {
      const r = bySubject.get(o.subject);
      if (!r) continue;
      o.correction = r.result;
      if (r.message) o.message = r.message;
      if (r.result !== 'corrected') continue;
      const taken = new Set(r.fields);
      for (const f of o.fields) if (f.action === 'correct' && (taken.has(f.path) || taken.has('.'))) f.corrected = true;
      if (r.resourceVersion) o.resourceVersion = r.resourceVersion;
      o.state = o.fields.every((f) => f.corrected) ? 'inSync' : 'drifted';
    }
  }

  private decider(): { by?: string; comment?: string } {
    const d = this.decision;
    return { ...(d?.by ? { by: d.by } : {}), ...(d?.comment ? { comment: d.comment } : {}) };
  }

  private approve(a: ApproveCorrectionInput): ApproveCorrectionResult {
    const v = ApproveCorrectionInput.parse(a);
    this.decision = { approve: v.approve, by: v.by, comment: v.comment };
    return { subjects: v.approve ? this.status.toCorrect : [] };
  }

  private validateApproval(a: ApproveCorrectionInput): void {
    const parsed = ApproveCorrectionInput.safeParse(a);
    if (!parsed.success) throw new Error(`invalid approveCorrection: ${z.prettifyError(parsed.error)}`);
    if (this.status.phase !== 'awaitingApproval' || this.decision)
      throw new Error(`this drift scan is not waiting for approval (phase ${this.status.phase})`);
  }

  private enter(phase: DriftPhase, message: string): void {
    this.status.phase = phase;
    this.status.message = message;
    setCurrentDetails(`**${phase}** drift of ${this.input?.app ?? ''} — ${message}`);
  }
}

/** Drifted and missing objects first, then errors, then in sync. */
function rank(o: DriftObjectReport): number {
  return { drifted: 0, missing: 0, error: 1, inSync: 2 }[o.state];
}

/** Large manifests, and any Secret (its values stay out of activity inputs), go by reference to the start input. */
function byReference(objects: readonly KubeObject[]): boolean {
  return objects.some(isSecret) || JSON.stringify(objects).length > DRIFT_INLINE_OBJECTS_LIMIT;
}

/** The previous run's report, when Temporal hands one over (Schedules, cron, continue-as-new); else undefined. */
function previousResult(): DriftScanState | undefined {
  const last = workflowInfo().lastResult;
  const parsed = DriftScanState.safeParse(Array.isArray(last) ? last[0] : last);
  return parsed.success ? parsed.data : undefined;
}

function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}
