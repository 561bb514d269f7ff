/**
 * The fleet workflow's public surface besides its input and report: the `status` query and the operator updates
 * (`pause`, `resume`, `skipCluster`, `promote`, `abort`), each validated by the running fleet: an update that does
 * not apply now is refused with a message saying why, and changes nothing.
 * @module
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type {
  AbortFleetInput,
  FleetStatus,
  PauseFleetInput,
  PromoteFleetInput,
  SkipClusterInput,
} from '../schemas/fleet.js';

/** What every fleet update returns: the status after it applied. */
export type FleetUpdateResult = FleetStatus;

/** Query: the wave × cluster matrix, the current wave, pause / freeze state and the next timer. */
export const fleetStatusQuery = defineQuery<FleetStatus>('status');
/** Update: no new cluster deploy or wave starts until `resume` (running deploys and bakes go on). */
export const pauseFleetUpdate = defineUpdate<FleetUpdateResult, [PauseFleetInput]>('pause');
/** Update: resume a paused fleet (also after an inconclusive analysis paused it: the analysis run is repeated). */
export const resumeFleetUpdate = defineUpdate<FleetUpdateResult, []>('resume');
/** Update: skip a cluster that has not started deploying (pending, or being probed while unreachable). */
export const skipClusterUpdate = defineUpdate<FleetUpdateResult, [SkipClusterInput]>('skipCluster');
/** Update: end the current wave's bake now (the minimum time and the remaining analysis runs are waived). */
export const promoteFleetUpdate = defineUpdate<FleetUpdateResult, [PromoteFleetInput]>('promote');
/** Update: stop the fleet; running cluster deploys are cancelled (each undoes its writes), then roll back per `rollback`. */
export const abortFleetUpdate = defineUpdate<FleetUpdateResult, [AbortFleetInput]>('abort');

/** Seconds between attempts to start a cluster's deploy while another run holds that app's deploy lock. */
export const FLEET_LOCK_RETRY_DELAYS_SECONDS: readonly number[] = [2, 4, 8, 15, 30];
/** Above this many bytes of objects, a cluster's deploy gets them packed (`compressed`) instead of inline. */
export const FLEET_COMPRESS_ABOVE_BYTES = 64 * 1024;
