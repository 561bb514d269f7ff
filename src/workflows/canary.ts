/**
 * `canaryRollout`: a canary of a Deployment behind a Service, without a service mesh. A `<name>-canary`
 * Deployment runs the new template; its pods carry the Service's labels (so they get traffic) and
 * `kube-workflows.io/canary: "true"` (so the stable Deployment's selector does not take them). Traffic follows the
 * ready pods, so a weight is a replica ratio: `setWeight` moves pods from the stable to the canary keeping the
 * total T (the growing side is ready before the other shrinks), `pause` waits (a duration, or until `promote`),
 * `analysis` runs a child `runAnalysis` (failed aborts). After the last step it promotes: the new template and T
 * replicas onto the stable Deployment, wait until Current, delete the canary.
 *
 * It is a saga: the stable template is never touched before promotion, and an abort (failed analysis or health,
 * the `abort` update, cancellation, a write that keeps failing) deletes the canary at once, restores the stable
 * count and alerts the configured channels. A worker killed at any point resumes from history and ends in a known
 * state: promoted, or canary gone and stable restored. One canary per Deployment (workflow id
 * `canary/<cluster>/<namespace>/<name>`), holding its app's deploy lock throughout.
 *
 * The steps live in {@link CanaryRun} (canary-run.ts); this function is their order.
 * @module
 */
import type { CanaryReport, CanaryRolloutInput } from '../schemas/canary.js';
import { CanaryRun } from './canary-run.js';

export { abortUpdate, canaryStatusQuery, newRevisionUpdate, promoteUpdate } from './canary-definitions.js';
export type { NewRevisionResult, PromoteResult } from './canary-definitions.js';

/**
 * Runs a canary of one Deployment and promotes or aborts it. One object argument ({@link CanaryRolloutInput});
 * returns a {@link CanaryReport}. Bad input fails at once (`InvalidInput`), a Deployment that cannot be canaried
 * fails in the preflight (`PolicyViolation`); nothing is written in either case.
 */
export async function canaryRollout(rawInput: CanaryRolloutInput): Promise<CanaryReport> {
  const run = new CanaryRun(); // status query; promote / abort / newRevision updates
  run.validate(rawInput); // 1. first workflow task: bad input fails here, nothing has run
  await run.preflight(); // 2. stable Deployment, Services, autoscalers: refuse before any write
  const lock = await run.lock(); // 3. the app's deploy lock, held to the end
  try {
    const end = await run.runSteps(); // 4. create the canary; setWeight / pause / analysis in order
    if (end.kind === 'completed') return await run.promote(end); // 5a. template onto stable, delete the canary
    return await run.abort(end); // 5b. delete the canary, restore the stable count, alert
  } finally {
    await lock?.release();
  }
}
