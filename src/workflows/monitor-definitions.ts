/**
 * The monitor workflow's public surface besides its input and status: the `observations` signal, the `status`
 * query, the `addTargets` / `removeTargets` / `setPaused` updates, the timing constants callers may rely on, and
 * the patch ids that keep running monitors on the code they started with. The client imports these without
 * importing the workflow body (monitor.ts).
 * @module
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ObservationBatch } from '../activities/index.js';
import { OBSERVATIONS_SIGNAL, type MonitorStatus, type MonitorTarget } from '../schemas/monitor.js';

/**
 * Patch ids (`patched()`): runs started before a change keep replaying the code they started with.
 * - {@link STREAMING_PATCH}: the observation streams changes as signals and stays open (before it, the activity
 *   returned on each change).
 * - {@link REMINDER_CLOCK_PATCH}: reminders count from the last reminder (or the trigger), not from the last send of
 *   any kind, so keep-alives no longer postpone them (asked only by monitors with `remindEverySeconds`).
 */
export const STREAMING_PATCH = 'observations-by-signal';
/** See {@link STREAMING_PATCH}. */
export const REMINDER_CLOCK_PATCH = 'monitor-reminder-clock';

/** Signal (internal, sent by the `observeHealth` activity): targets whose health changed. */
export const observationsSignal = defineSignal<[ObservationBatch]>(OBSERVATIONS_SIGNAL);
/** Query: every target's state. */
export const monitorStatusQuery = defineQuery<MonitorStatus>('status');
/** Update: add targets (validated with the same schema as the input). Returns the number of targets. */
export const addTargetsUpdate = defineUpdate<number, [{ targets: MonitorTarget[] }]>('addTargets');
/**
 * Update: remove targets by key (`Deployment/ns/name`, `http:<id>`, `prom:<id>`) or by spec; open incidents are
 * resolved. Returns the number of targets left.
 */
export const removeTargetsUpdate = defineUpdate<number, [{ targets: MonitorTarget[] }]>('removeTargets');
/** Update: pause (no observation, no new alerts; open incidents stay open) or resume. */
export const setPausedUpdate = defineUpdate<boolean, [{ paused: boolean; reason?: string }]>('setPaused');

/**
 * Longest an observation activity runs before it returns and the next one relists everything: a full resync every
 * 30 minutes, like an informer's. Transitions do not wait for it; they arrive as signals.
 */
export const OBSERVE_MAX_SECONDS = 1_800;
/** A delivery still failing after this long is given up (and shown in the status query's deliveryErrors). */
export const DELIVERY_GIVE_UP_AFTER = '15m';
