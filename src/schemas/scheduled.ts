/**
 * Inputs and the "skipped" report of the schedule wrappers `scheduledDeploy` and `scheduledScale`. Temporal
 * Schedules append a timestamp to the workflow id of every run they start, so a schedule cannot start a deploy
 * under its lock id itself: it starts a wrapper that starts the operation as a child under the canonical id.
 * @module
 */
import { z } from 'zod';
import { DeployManifestsInput } from './deploy.js';
import { ScaleWorkloadInput } from './scale.js';

/** Input of `scheduledDeploy`: the deploy and the lock id it runs under (computed by the client). */
export const ScheduledDeployInput = z.object({
  /** The canonical deploy id `deploy/<cluster>/<namespace>/<app>`: the same lock any deploy of this app takes. */
  deployWorkflowId: z
    .string()
    .regex(/^deploy\/[^/]+\/[^/]+\/[^/]+$/, 'a deploy id: deploy/<cluster>/<namespace>/<app>'),
  /** The deploy's input, as `deployManifests` takes it. */
  deploy: DeployManifestsInput,
});
/** Input of `scheduledDeploy` as callers write it. */
export type ScheduledDeployInput = z.input<typeof ScheduledDeployInput>;

/** Input of `scheduledScale`: the scale and the id it runs under (computed by the client). */
export const ScheduledScaleInput = z.object({
  /** The canonical scale id `scale/<cluster>/<namespace>/<Kind>/<name>`. */
  scaleWorkflowId: z
    .string()
    .regex(/^scale\/[^/]+\/[^/]+\/[^/]+\/[^/]+$/, 'a scale id: scale/<cluster>/<namespace>/<Kind>/<name>'),
  /** The scale's input, as `scaleWorkload` takes it. */
  scale: ScaleWorkloadInput,
});
/** Input of `scheduledScale` as callers write it. */
export type ScheduledScaleInput = z.input<typeof ScheduledScaleInput>;

/** What a schedule wrapper returns when the operation's id was taken: nothing ran this time. */
export const ScheduledRunSkipped = z.object({
  outcome: z.literal('skipped'),
  /** The id that was taken (the lock). */
  workflowId: z.string(),
  message: z.string(),
});
/** What a schedule wrapper returns when it skipped. */
export type ScheduledRunSkipped = z.infer<typeof ScheduledRunSkipped>;
