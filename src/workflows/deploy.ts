/**
 * `deployManifests`: validate → plan (policy, server-side dry-run, change set) → optional approval (then re-plan:
 * a plan approved after the cluster moved is asked again) → apply in stages (definitions first, waited on) → wait
 * for health → optional analysis (failed → roll back; inconclusive → operator decision) → record inventory and prune
 * → report.
 *
 * It is a saga: every write is preceded by an entry in the ledger (`DeployLedger`, workflow state) and confirmed
 * after. Any failure after the first write (an API error, an activity timeout, failed or timed-out health,
 * cancellation) compensates exactly what may have changed, last stage first, waits for the restored objects and
 * reports per object what was restored, deleted, needed no undo or is left. The outcome says which:
 * `rolledBack` only when everything was undone and is healthy, `rollbackFailed` otherwise. The `progress` query
 * and the run's current details show the phase and per-object status at any time.
 *
 * Large manifests are never copied into history twice: above `INLINE_OBJECTS_LIMIT` bytes, activities get a
 * reference to this run's start input and read the objects from there.
 *
 * The steps live in {@link DeployRun} (deploy-run.ts); this function is their order.
 * @module
 */
import { deployAlertFacts } from '../domain/op-alert-facts.js';
import type { DeployManifestsInput, DeployManifestsOptions, DeployReport } from '../schemas/deploy.js';
import { DeployRun } from './deploy-run.js';
import { OutcomeAlert } from './notify-outcome.js';

export {
  approveUpdate,
  decideAnalysisUpdate,
  INLINE_OBJECTS_LIMIT,
  INVENTORY_LOCAL_PATCH,
  progressQuery,
  rejectUpdate,
  REPLAN_PATCH,
  SAGA_PATCH,
} from './deploy-definitions.js';
export type { AnalysisDecisionResult, ApprovalResult, DeployPhase, DeployProgress } from './deploy-definitions.js';
export { movedObjects } from './deploy-run.js';

/**
 * Deploys manifests with server-side apply and waits until they are healthy. One object argument
 * ({@link DeployManifestsInput}); returns a {@link DeployReport}. Bad input fails at once with a non-retryable
 * `InvalidInput` naming the document and field; nothing is written.
 */
export async function deployManifests(rawInput: DeployManifestsInput): Promise<DeployReport> {
  const run = new DeployRun(); // progress query, approve / reject updates
  const input = run.validate(rawInput); // 1. first workflow task: bad input fails here, nothing has run
  // `notify`: channels checked before any write; evidence read before a rollback; one alert at the end
  run.alert = new OutcomeAlert(input.notify, (r: DeployReport) => deployAlertFacts(r, run.namespace));
  return run.alert.around(
    () => deploySteps(run, input),
    () => ({ cluster: input.cluster, namespace: run.namespace, done: [], undone: [], evidence: [] }),
  );
}

async function deploySteps(run: DeployRun, input: DeployManifestsOptions): Promise<DeployReport> {
  await run.makePlan(); // 2. policy + server-side dry-run
  if (input.dryRun) return run.report('planned', `dry run: ${run.summary}; nothing was written`);
  if (input.requireApproval) {
    const ended = await run.awaitApproval(); // 3. approve / reject, re-planned when the cluster moved
    if (ended) return ended;
  }
  let end = await run.applyStages(); // 4. ledger, apply, wait — stage by stage
  if (run.succeeded(end)) end = await run.analyze(); // 4b. analysis (when asked): failed, or not promoted, ends here
  if (run.succeeded(end)) return run.recordAndReport(); // 5a. inventory (+ prune), report
  return run.undo(end); // 5b. compensate what may have changed, report truthfully
}
