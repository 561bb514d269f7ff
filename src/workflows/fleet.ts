/**
 * `rolloutFleet`: the same manifests (with per-cluster overrides) to many clusters, in ordered waves.
 *
 * validate → list clusters and assign them to waves → for each wave: hold while a freeze window is open or the
 * fleet is paused → deploy its clusters (probe → snapshot → child `deployManifests` under the app's deploy lock on
 * that cluster, at most `maxParallel` at once) → bake (a minimum time AND N passing `runAnalysis` children per
 * cluster, or `promote`) → next wave. A failed deploy, a failed analysis or an unreachable cluster (with
 * `unreachable.then: halt`) halts the fleet: the halt policy's clusters are rolled back to their snapshots, the
 * alert channels told why, and the report says what happened to every wave × cluster. Operators steer it with the
 * `pause`, `resume`, `skipCluster`, `promote` and `abort` updates; the `status` query and the Web UI's current
 * details show the matrix.
 *
 * History stays small: each cluster costs its parent about a dozen events (a probe, a snapshot, a child), so
 * the fleet needs no continue-as-new below its {@link MAX_FLEET_CLUSTERS} clusters (README: measured sizes).
 *
 * The steps live in {@link FleetRun} (fleet-run.ts); this function is their order.
 * @module
 */
import { fleetAlertFacts } from '../domain/op-alert-facts.js';
import type { FleetReport, RolloutFleetInput } from '../schemas/fleet.js';
import { FleetRun } from './fleet-run.js';
import { OutcomeAlert } from './notify-outcome.js';

export { MAX_FLEET_CLUSTERS } from '../schemas/fleet.js';
export {
  abortFleetUpdate,
  fleetStatusQuery,
  pauseFleetUpdate,
  promoteFleetUpdate,
  resumeFleetUpdate,
  skipClusterUpdate,
} from './fleet-definitions.js';
export type { FleetUpdateResult } from './fleet-definitions.js';

/**
 * Rolls an app out to a fleet of clusters in waves. One object argument ({@link RolloutFleetInput}); returns a
 * {@link FleetReport}. Bad input (including a cluster or override the worker does not know) fails at once with a
 * non-retryable `InvalidInput` naming the field; nothing is written.
 */
export async function rolloutFleet(rawInput: RolloutFleetInput): Promise<FleetReport> {
  const run = new FleetRun(); // status query, pause / resume / skipCluster / promote / abort updates
  const input = run.validate(rawInput); // 1. first workflow task: bad input fails here, nothing has run
  // `notify`: channels checked before any write; one alert when the rollout ends (default: unless it succeeded)
  const alert = new OutcomeAlert(input.notify, (r: FleetReport) => fleetAlertFacts(r, (c) => run.workloadsOf(c)));
  return alert.around(
    () => rolloutSteps(run),
    () => ({ namespace: input.namespace, done: [], undone: [], evidence: [] }),
  );
}

async function rolloutSteps(run: FleetRun): Promise<FleetReport> {
  await run.chooseClusters(); // 2. listClusters → waves × clusters, overrides applied per cluster
  for (const wave of run.waves) {
    if (!(await run.holdBeforeWave(wave))) break; // 3. freeze windows, pause
    if (!(await run.deployWave(wave))) break; // 4. probe → snapshot → child deploy, ≤ maxParallel at once
    if (!(await run.bake(wave))) break; // 5. minTime AND passing analysis runs (or promote)
  }
  return run.finish(); // 6. halt policy / abort: alert, roll back, report
}
