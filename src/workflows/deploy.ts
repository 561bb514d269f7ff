/**
 * `deployManifests`: validate → plan (policy, server-side dry-run, change set) → optional approval → apply in
 * stages (definitions first, waited on) → wait for health → record inventory and prune → report. On failed
 * health, timeout or cancellation it rolls back what it changed. The `progress` query and the run's current
 * details show the phase and per-object status at any time.
 *
 * Large manifests are never copied into history twice: above {@link INLINE_OBJECTS_LIMIT} bytes, activities get a
 * reference to this run's start input and read the objects from there.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type {
  Activities,
  DeployPlan,
  HealthResult,
  ObjectRefWithSubject,
  ObjectSource,
  PlanEntry,
} from '../activities/index.js';
import { planId as computePlanId } from '../domain/changes.js';
import { prepareObjects } from '../domain/deploy-input.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatProblems } from '../domain/manifests.js';
import { deletionOrder, planStages } from '../domain/ordering.js';
import { subjectOf } from '../domain/subject.js';
import {
  ApprovalInput,
  DeployManifestsInput,
  type DeployOutcome,
  type DeployReport,
  type ObjectReport,
} from '../schemas/deploy.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { KubeApp, KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

/** Above this many bytes of objects, activities read them from the start event instead of their own input. */
export const INLINE_OBJECTS_LIMIT = 128 * 1024;

/** Phases of a deploy, in order. */
export type DeployPhase =
  'validating' | 'planning' | 'awaitingApproval' | 'applying' | 'waiting' | 'pruning' | 'rollingBack' | 'done';

/** What the `progress` query returns. */
export interface DeployProgress {
  phase: DeployPhase;
  /** One line per object: planned action, then health as it is observed. */
  objects: ObjectReport[];
  message: string;
  /** Id of the current plan; an approval must name it. */
  planId?: string;
}

/** What the `approve` / `reject` updates return. */
export interface ApprovalResult {
  decision: 'approved' | 'rejected';
  planId: string;
}

/** Query: the current phase and per-object status. */
export const progressQuery = defineQuery<DeployProgress>('progress');
/** Update: approve the shown plan (validated: the deploy must be waiting and `planId` must match). */
export const approveUpdate = defineUpdate<ApprovalResult, [ApprovalInput]>('approve');
/** Update: reject the shown plan; the deploy ends with outcome `rejected` and writes nothing. */
export const rejectUpdate = defineUpdate<ApprovalResult, [ApprovalInput]>('reject');

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { planDeploy, applyObjects, deleteObjects, restoreObjects, recordInventory } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  // Activities heartbeat after every object: a worker that dies is noticed within this and the work resumes.
  heartbeatTimeout: '20s',
  retry,
});

/**
 * Deploys manifests with server-side apply and waits until they are healthy. One object argument
 * ({@link DeployManifestsInput}); returns a {@link DeployReport}. Bad input fails at once with a non-retryable
 * `InvalidInput` naming the document and field; nothing is written.
 */
export async function deployManifests(rawInput: DeployManifestsInput): Promise<DeployReport> {
  const started = Date.now();
  const durationsMs: Record<string, number> = {};
  const progress: DeployProgress = { phase: 'validating', objects: [], message: 'validating input' };
  let decision:
    { decision: 'approved' | 'rejected' | 'timedOut'; by?: string; comment?: string | undefined } | undefined;
  setHandler(progressQuery, () => progress);
  const decide =
    (kind: 'approved' | 'rejected') =>
    (a: ApprovalInput): ApprovalResult => {
      decision = { decision: kind, by: a.by, comment: a.comment };
      return { decision: kind, planId: a.planId };
    };
  const validateApproval = (a: ApprovalInput): void => {
    const parsed = ApprovalInput.safeParse(a);
    if (!parsed.success) throw new Error(`invalid approval: ${z.prettifyError(parsed.error)}`);
    if (progress.phase !== 'awaitingApproval' || decision)
      throw new Error(`this deploy is not waiting for approval (phase ${progress.phase})`);
    if (a.planId !== progress.planId)
      throw new Error(`stale approval: it names ${a.planId}, the current plan is ${progress.planId}`);
  };
  setHandler(approveUpdate, decide('approved'), { validator: validateApproval });
  setHandler(rejectUpdate, decide('rejected'), { validator: validateApproval });

  let phaseStart = Date.now();
  const enter = (phase: DeployPhase, message: string): void => {
    durationsMs[progress.phase] = (durationsMs[progress.phase] ?? 0) + (Date.now() - phaseStart);
    phaseStart = Date.now();
    progress.phase = phase;
    progress.message = message;
    setCurrentDetails(`**${phase}** — ${message}`);
  };

  // 1. validate (the first workflow task: nothing has run yet)
  const parsedInput = DeployManifestsInput.safeParse(rawInput);
  if (!parsedInput.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid deploy input:\n${z.prettifyError(parsedInput.error)}`,
      FailureType.InvalidInput,
    );
  }
  const input = parsedInput.data;
  if (input.prune && !input.app)
    throw ApplicationFailure.nonRetryable('prune needs an app name (input.app)', FailureType.InvalidInput);
  const prepared = prepareObjects(input, input.app);
  if (!prepared.ok) throw ApplicationFailure.nonRetryable(formatProblems(prepared.problems), FailureType.InvalidInput);
  const objects = prepared.objects;
  if (!objects.length)
    throw ApplicationFailure.nonRetryable('the manifests contain no objects', FailureType.InvalidInput);

  // Sized on the prepared objects, not the (possibly compressed) input: that is what each activity would carry.
  const byReference = JSON.stringify(objects).length > INLINE_OBJECTS_LIMIT;
  const info = workflowInfo();
  const sourceOf = (indexes: number[]): ObjectSource =>
    byReference
      ? { workflowInput: { workflowId: info.workflowId, runId: info.runId }, indexes }
      : { objects: indexes.map((i) => objects[i] as KubeObject) };
  const allIndexes = objects.map((_, i) => i);

  const namespaces = [...new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
  const homeNamespace = input.namespace ?? namespaces[0];
  upsertKubeAttributes([
    ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
    ...(homeNamespace ? [{ key: KubeNamespace, value: homeNamespace }] : []),
    ...(input.app ? [{ key: KubeApp, value: input.app }] : []),
  ]);

  const report = (
    outcome: DeployOutcome,
    cluster: string,
    message: string,
    extra: Partial<DeployReport> = {},
  ): DeployReport => {
    enter('done', message);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    durationsMs.total = Date.now() - started;
    delete durationsMs.done;
    return {
      outcome,
      cluster,
      ...(input.app ? { app: input.app } : {}),
      objects: progress.objects,
      ...extra,
      ...(decision ? { approval: decision } : {}),
      durationsMs,
      message,
    };
  };

  // 2. plan
  enter('planning', `server-side dry-run of ${objects.length} objects`);
  const plan: DeployPlan = await planDeploy({
    cluster: input.cluster ?? '',
    source: sourceOf(allIndexes),
    force: input.force,
  });
  upsertKubeAttributes([{ key: KubeCluster, value: plan.cluster }]);
  // reported in the order objects are applied (definitions first, then by kind), not in document order
  const indexed = objects.map((o, index) => ({ kind: o.kind, metadata: o.metadata, index }));
  const stages = planStages(indexed);
  progress.objects = stages.flatMap((s) => s.items.map((o) => entryReport(plan.entries[o.index] as PlanEntry)));
  progress.planId = computePlanId(plan.entries);
  const counts = countActions(plan.entries);
  if (input.dryRun) return report('planned', plan.cluster, `dry run: ${counts}; nothing was written`);

  // 3. approval gate
  if (input.requireApproval) {
    enter('awaitingApproval', `plan ${progress.planId} (${counts}) waits for approve/reject`);
    const answered = await condition(() => decision !== undefined, `${input.approvalTimeoutSeconds}s`);
    if (!answered) {
      decision = { decision: 'timedOut', comment: `no approval within ${input.approvalTimeoutSeconds}s` };
      return report(
        'rejected',
        plan.cluster,
        `not approved within ${input.approvalTimeoutSeconds}s; nothing was written`,
      );
    }
    if (decision?.decision === 'rejected') {
      return report('rejected', plan.cluster, `plan rejected by ${decision.by}; nothing was written`);
    }
  }

  // 4. apply in stages, waiting after each
  const bySubject = new Map(plan.entries.map((e) => [e.subject, e]));
  const applied: PlanEntry[] = [];
  let health: HealthResult | undefined;
  try {
    for (const stage of stages) {
      const drifted = stage.items.filter((o) => bySubject.get(subjectOf(o))?.action !== 'unchanged');
      if (drifted.length) {
        enter('applying', `${stage.name}: applying ${drifted.length} of ${stage.items.length} objects (${counts})`);
        await applyObjects({
          cluster: plan.cluster,
          source: sourceOf(drifted.map((o) => o.index)),
          force: input.force,
        });
        for (const o of drifted) applied.push(bySubject.get(subjectOf(o)) as PlanEntry);
      }
      if (!input.wait && stage.name === 'resources') break;
      const refs = stage.items.map((o) => refOf(bySubject.get(subjectOf(o)) as PlanEntry));
      enter('waiting', `${stage.name}: waiting for ${refs.length} objects to become Current`);
      health = await waitFor(plan.cluster, refs, input.timeoutSeconds);
      mergeHealth(progress.objects, health);
      if (health.outcome !== 'Current') break;
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: stop, and roll back what was applied without being cancelled again ourselves.
    await CancellationScope.nonCancellable(() => rollBack(plan, applied, input.timeoutSeconds));
    report('rolledBack', plan.cluster, 'cancelled; rolled back');
    throw err;
  }

  if (!health || health.outcome === 'Current') {
    const what = input.wait ? 'all objects Current' : 'applied (not waited for)';
    let pruned: string[] = [];
    if (input.app && homeNamespace) {
      if (input.prune) enter('pruning', 'deleting objects that left the set');
      const inv = await recordInventory({
        cluster: plan.cluster,
        app: input.app,
        namespace: homeNamespace,
        objects: plan.entries.map(refOf),
        prune: input.prune,
      });
      pruned = inv.pruned;
      for (const subject of pruned) progress.objects.push({ subject, action: 'pruned' });
    }
    const prunedText = pruned.length ? `, ${pruned.length} pruned` : '';
    return report('succeeded', plan.cluster, `${counts}${prunedText}; ${what}`, pruned.length ? { pruned } : {});
  }
  const cause = health.outcome === 'Failed' ? `rollout failed: ${health.message}` : health.message;
  if (!input.rollback || !applied.length) return report('failed', plan.cluster, cause);
  const restored = await rollBack(plan, applied, input.timeoutSeconds);
  return report(
    restored ? 'rolledBack' : 'failed',
    plan.cluster,
    restored ? `${cause}; rolled back` : `${cause}; rollback did not become healthy`,
  );

  async function waitFor(cluster: string, refs: ObjectRefWithSubject[], timeoutSeconds: number): Promise<HealthResult> {
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${timeoutSeconds + 120}s`,
      heartbeatTimeout: '20s',
      retry,
    });
    return waitForHealth({ cluster, objects: refs, deadlineMs: Date.now() + timeoutSeconds * 1000, timeoutSeconds });
  }

  /** Restores configured objects to their captured state and deletes created ones. True when healthy again. */
  async function rollBack(p: DeployPlan, changed: PlanEntry[], timeoutSeconds: number): Promise<boolean> {
    const restore = changed.filter((e) => e.action === 'configured');
    const created = changed.filter((e) => e.action === 'created');
    enter('rollingBack', `restoring ${restore.length} and deleting ${created.length} objects`);
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
    for (const e of progress.objects) {
      if (restoredSubjects.has(e.subject)) e.action = 'restored';
      if (deletedSubjects.has(e.subject)) e.action = 'deleted';
    }
    if (!restore.length) return true;
    const after = await waitFor(p.cluster, restore.map(refOf), timeoutSeconds);
    mergeHealth(progress.objects, after); // the report shows the restored objects' health, not the failed rollout's
    return after.outcome === 'Current';
  }
}

function entryReport(e: PlanEntry): ObjectReport {
  return { subject: e.subject, action: e.action, ...(e.changes ? { changes: e.changes } : {}) };
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
