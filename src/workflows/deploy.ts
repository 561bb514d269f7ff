/**
 * `deployManifests`: validate → plan (policy, server-side dry-run, change set) → apply in stages → wait for
 * health → report; on failed health, timeout or cancellation, roll back what it changed. The `progress` query
 * and the run's current details show the phase and per-object status at any time.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities, DeployPlan, HealthResult, ObjectRefWithSubject, PlanEntry } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { formatProblems, parseManifests, validateObjects, type ParseResult } from '../domain/manifests.js';
import { deletionOrder, planStages } from '../domain/ordering.js';
import { subjectOf } from '../domain/subject.js';
import { DeployManifestsInput, type DeployOutcome, type DeployReport, type ObjectReport } from '../schemas/deploy.js';
import type { KubeObject } from '../schemas/kube-object.js';
import { KubeApp, KubeCluster, KubeNamespace, KubeOutcome } from './search-attributes.js';

/** Phases of a deploy, in order. */
export type DeployPhase = 'validating' | 'planning' | 'applying' | 'waiting' | 'rollingBack' | 'done';

/** What the `progress` query returns. */
export interface DeployProgress {
  phase: DeployPhase;
  objects: ObjectReport[];
  message: string;
}

/** Query: the current phase and per-object status. */
export const progressQuery = defineQuery<DeployProgress>('progress');

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { planDeploy, applyObjects, deleteObjects } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  retry,
});

/**
 * Deploys manifests with server-side apply and waits until they are healthy. One object argument
 * ({@link DeployManifestsInput}); returns a {@link DeployReport}. Bad input fails at once with a non-retryable
 * `InvalidInput` naming the document and field.
 */
export async function deployManifests(rawInput: DeployManifestsInput): Promise<DeployReport> {
  const started = Date.now();
  const durationsMs: Record<string, number> = {};
  const progress: DeployProgress = { phase: 'validating', objects: [], message: 'validating input' };
  setHandler(progressQuery, () => progress);
  let phaseStart = Date.now();
  const enter = (phase: DeployPhase, message: string): void => {
    durationsMs[progress.phase] = (durationsMs[progress.phase] ?? 0) + (Date.now() - phaseStart);
    phaseStart = Date.now();
    progress.phase = phase;
    progress.message = message;
    setCurrentDetails(`**${phase}** — ${message}`);
  };

  // 1. validate (first workflow task: nothing has run yet)
  const parsedInput = DeployManifestsInput.safeParse(rawInput);
  if (!parsedInput.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid deploy input:\n${z.prettifyError(parsedInput.error)}`,
      FailureType.InvalidInput,
    );
  }
  const input = parsedInput.data;
  const parseOptions = input.namespace ? { defaultNamespace: input.namespace } : {};
  const parsed: ParseResult =
    input.objects !== undefined
      ? validateObjects(input.objects, parseOptions)
      : parseManifests(
          input.sources?.map((src) => (src.name ? { name: src.name, text: src.text } : { text: src.text })) ??
            input.manifests ??
            '',
          parseOptions,
        );
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(formatProblems(parsed.problems), FailureType.InvalidInput);
  const objects = parsed.objects;
  if (!objects.length)
    throw ApplicationFailure.nonRetryable('the manifests contain no objects', FailureType.InvalidInput);

  const namespaces = [...new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
  upsertSearchAttributes([
    ...(input.cluster ? [{ key: KubeCluster, value: input.cluster }] : []),
    ...(namespaces.length ? [{ key: KubeNamespace, value: namespaces[0] as string }] : []),
    ...(input.app ? [{ key: KubeApp, value: input.app }] : []),
  ]);

  const report = (outcome: DeployOutcome, cluster: string, message: string, extra: ObjectReport[]): DeployReport => {
    enter('done', message);
    upsertSearchAttributes([{ key: KubeOutcome, value: outcome }]);
    durationsMs.total = Date.now() - started;
    delete durationsMs.done;
    return { outcome, cluster, ...(input.app ? { app: input.app } : {}), objects: extra, durationsMs, message };
  };

  // 2. plan
  enter('planning', `server-side dry-run of ${objects.length} objects`);
  const plan: DeployPlan = await planDeploy({ cluster: input.cluster ?? '', objects, force: input.force });
  upsertSearchAttributes([{ key: KubeCluster, value: plan.cluster }]);
  progress.objects = plan.entries.map(entryReport);
  const counts = countActions(plan.entries);
  if (input.dryRun) return report('planned', plan.cluster, `dry run: ${counts}; nothing was written`, progress.objects);

  // 3. apply in stages, 4. wait
  const bySubject = new Map(plan.entries.map((e) => [e.subject, e]));
  const applied: PlanEntry[] = [];
  let health: HealthResult | undefined;
  try {
    for (const stage of planStages(objects)) {
      const toApply = stage.items.filter((o) => bySubject.get(subjectOf(o))?.action !== 'unchanged');
      if (toApply.length) {
        enter('applying', `${stage.name}: applying ${toApply.length} of ${stage.items.length} objects (${counts})`);
        await applyObjects({ cluster: plan.cluster, objects: toApply, force: input.force });
        for (const o of toApply) applied.push(bySubject.get(subjectOf(o)) as PlanEntry);
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
    // Cancelled: stop and roll back what was applied, without being cancelled again ourselves.
    await CancellationScope.nonCancellable(() => rollBack(plan.cluster, applied, input.timeoutSeconds, enter));
    report('rolledBack', plan.cluster, 'cancelled; rolled back', progress.objects);
    throw err;
  }

  if (!health || health.outcome === 'Current') {
    const what = input.wait ? 'all objects Current' : 'applied (not waited for)';
    return report('succeeded', plan.cluster, `${counts}; ${what}`, progress.objects);
  }
  const cause = health.outcome === 'Failed' ? `rollout failed: ${health.message}` : health.message;
  if (!input.rollback || !applied.length) return report('failed', plan.cluster, cause, progress.objects);
  const restored = await rollBack(plan.cluster, applied, input.timeoutSeconds, enter);
  return report(
    restored ? 'rolledBack' : 'failed',
    plan.cluster,
    restored ? `${cause}; rolled back` : `${cause}; rollback did not become healthy`,
    progress.objects,
  );

  async function waitFor(cluster: string, refs: ObjectRefWithSubject[], timeoutSeconds: number): Promise<HealthResult> {
    const { waitForHealth } = proxyActivities<Activities>({
      startToCloseTimeout: `${timeoutSeconds + 120}s`,
      heartbeatTimeout: '30s',
      retry,
    });
    return waitForHealth({ cluster, objects: refs, deadlineMs: Date.now() + timeoutSeconds * 1000, timeoutSeconds });
  }

  /** Restores configured objects to their captured state and deletes created ones. True when healthy again. */
  async function rollBack(
    cluster: string,
    changed: PlanEntry[],
    timeoutSeconds: number,
    enterPhase: (p: DeployPhase, m: string) => void,
  ): Promise<boolean> {
    const restore = changed.filter((e) => e.action === 'configured' && e.previous).map((e) => e.previous as KubeObject);
    const created = changed.filter((e) => e.action === 'created');
    enterPhase('rollingBack', `restoring ${restore.length} and deleting ${created.length} objects`);
    if (restore.length) await applyObjects({ cluster, objects: restore, force: true });
    const toDelete = deletionOrder(created.map((e) => ({ ...e, metadata: { name: e.name, namespace: e.namespace } })));
    if (toDelete.length) await deleteObjects({ cluster, objects: toDelete.map(refOf) });
    for (const e of progress.objects) {
      if (restore.some((r) => subjectOf(r) === e.subject)) e.action = 'restored';
      if (created.some((c) => c.subject === e.subject)) e.action = 'deleted';
    }
    if (!restore.length) return true;
    const after = await waitFor(cluster, changed.filter((e) => e.action === 'configured').map(refOf), timeoutSeconds);
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
