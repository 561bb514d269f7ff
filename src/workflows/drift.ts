/**
 * `detectDrift`: finds what changed in an app's deployed objects since kube-workflows applied them, says who changed
 * each field and from which value to which, and ignores, alerts or corrects it per class of field manager.
 *
 * ```
 * validate → scan ─────────────▶ scanDrift        inventory + live reads; a server-side dry-run (our field manager,
 *                                                 no force) only of objects whose resourceVersion or manifest moved
 *                                                 since the previous scan; each drifted field attributed through
 *                                                 managedFields: us / controller / human / unknown
 *          → alert ────────────▶ deliverAlert     once per run, to each channel, dedupe key from the drift's content
 *          → correct           (approveCorrection, with a timeout, when asked)
 *              deploy lock ────▶ correctDrift     forced server-side apply of only the fields the policy corrects
 *          → report                               old → new values and who set them; the next scan's state
 * ```
 *
 * One scan per run. The state a scan hands to the next (per object: resourceVersion, manifest fingerprint,
 * findings) is the report itself: pass it as `previous`, or let a Temporal Schedule hand the last completion result
 * over (the run reads `workflowInfo().lastResult`), so a periodic scan of an app nobody touched sends no dry-run.
 * @module
 */
import type { DetectDriftInput, DriftReport } from '../schemas/drift.js';
import { DriftRun } from './drift-run.js';

export { approveCorrectionUpdate, driftStatusQuery } from './drift-definitions.js';
export type { ApproveCorrectionResult, DriftPhase, DriftStatus } from './drift-definitions.js';

/** Scans an app's objects for drift, alerts and corrects per policy, and reports every drifted field. */
export async function detectDrift(rawInput: DetectDriftInput): Promise<DriftReport> {
  const run = new DriftRun();
  run.validate(rawInput); // first task: bad input fails here, nothing has run
  await run.scanObjects(); // dry-runs only what moved since the previous scan
  await run.alertDrift(); // one alert per run for what the policy alerts or corrects
  await run.correct(); // approval when asked; deploy lock; forced apply of the corrected fields only
  return run.finish();
}
