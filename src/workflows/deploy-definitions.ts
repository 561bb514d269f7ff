/**
 * The deploy workflow's public surface besides its input and report: phases, the `progress` query, the
 * `approve` / `reject` updates, and the patch ids that keep running deploys on the code they started with.
 * @module
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { AnalysisReport } from '../schemas/analysis.js';
import type { ApprovalInput, DecideAnalysisInput, ObjectReport } from '../schemas/deploy.js';

/**
 * Patch ids (`patched()`): runs started before a change keep replaying the code they started with.
 * - {@link SAGA_PATCH}: failures after the first write compensate through the ledger (`compensateObjects`);
 *   before it, only failed health and cancellation rolled back (`restoreObjects` + `deleteObjects`).
 * - {@link REPLAN_PATCH}: an approved plan is re-planned and compared before anything is written.
 * - {@link INVENTORY_LOCAL_PATCH}: a deploy that prunes nothing records its inventory in a local activity.
 */
export const SAGA_PATCH = 'deploy-saga-ledger';
/** See {@link SAGA_PATCH}. */
export const REPLAN_PATCH = 'deploy-replan-after-approval';
/**
 * See {@link SAGA_PATCH}. Recording the inventory (one write) between "all Current" and the report as a local
 * activity saves an activity task's dispatch and a workflow task: readiness lag, issue 12. With `prune` it stays an
 * activity (deletions heartbeat their progress, which local activities cannot).
 */
export const INVENTORY_LOCAL_PATCH = 'deploy-inventory-local';

/** Above this many bytes of objects, activities read them from the start event instead of their own input. */
export const INLINE_OBJECTS_LIMIT = 128 * 1024;

/** Phases of a deploy, in order. */
export type DeployPhase =
  | 'validating'
  | 'planning'
  | 'awaitingApproval'
  | 'applying'
  | 'waiting'
  | 'analyzing'
  | 'awaitingDecision'
  | 'pruning'
  | 'rollingBack'
  | 'done';

/** What the `progress` query returns. */
export interface DeployProgress {
  phase: DeployPhase;
  /** One line per object: planned action, then health as it is observed. */
  objects: ObjectReport[];
  message: string;
  /** Id of the current plan; an approval must name it. */
  planId?: string;
  /**
   * Objects that changed in the cluster after the plan an approval was given for: the deploy re-planned and waits
   * for an approval of the new plan.
   */
  moved?: string[];
  /** The analysis' report once it ended (`awaitingDecision`: it was inconclusive and waits for `decideAnalysis`). */
  analysis?: AnalysisReport;
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

/** What the `decideAnalysis` update returns. */
export interface AnalysisDecisionResult {
  decision: 'promote' | 'rollback';
}

/**
 * Update: the decision on an inconclusive analysis (validated: the deploy must be in `awaitingDecision`).
 * `promote` keeps the release; `rollback` undoes it like a failed analysis.
 */
export const decideAnalysisUpdate = defineUpdate<AnalysisDecisionResult, [DecideAnalysisInput]>('decideAnalysis');
