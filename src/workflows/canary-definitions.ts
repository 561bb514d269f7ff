/**
 * The canary workflow's public surface besides its input and report: the `status` query and the `promote`,
 * `abort` and `newRevision` updates (validated: a refused update changes nothing and says why).
 * @module
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { AbortInput, CanaryStatus, NewRevisionInput, PromoteInput } from '../schemas/canary.js';

/** What the `promote` update returns. */
export interface PromoteResult {
  /** `resumed`: the pause (or the wait after an inconclusive analysis) ended; `promoting`: every step skipped. */
  action: 'resumed' | 'promoting';
  stepIndex: number;
}

/** What the `newRevision` update returns. */
export interface NewRevisionResult {
  /** The policy applied: the steps restart from the first, or the canary's template is replaced in place. */
  action: 'restart' | 'supersede';
  /** The new template's revision number (1 is the start input's). */
  revision: number;
}

/** Query: phase, step, weight, replica counts, steps run so far and analysis results. */
export const canaryStatusQuery = defineQuery<CanaryStatus>('status');
/**
 * Update: without `full`, ends the current pause (or the wait after an inconclusive analysis) and goes on with the
 * next step — refused when the canary is not waiting; with `full: true`, skips every remaining step (a running one
 * is interrupted) and promotes now.
 */
export const promoteUpdate = defineUpdate<PromoteResult, [PromoteInput]>('promote');
/** Update: abort now — the canary is deleted, the stable replica count restored, the channels alerted. */
export const abortUpdate = defineUpdate<{ reason: string }, [AbortInput]>('abort');
/** Update: a newer template, handled per the run's `onNewRevision` (`refuse` rejects the update). */
export const newRevisionUpdate = defineUpdate<NewRevisionResult, [NewRevisionInput]>('newRevision');
