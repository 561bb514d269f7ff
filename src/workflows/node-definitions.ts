/**
 * The messages of a node maintenance run, defined apart from the workflow so the client can import them without
 * the workflow's code: the `status` query and the `approveBypass` update.
 * @module
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApproveBypassInput, BlockingPod, NodeMaintenancePhase, NodeMaintenanceReport } from '../schemas/node.js';

/** What the `status` query of a node maintenance returns. */
export interface NodeMaintenanceStatus {
  phase: NodeMaintenancePhase;
  node: string;
  message: string;
  /** Pods evicted so far (`namespace/name`). */
  evicted: string[];
  /** Pods still to leave the node. */
  remaining: string[];
  /** Pods a budget (or the policy) keeps on the node now, with the budgets' names and since when (epoch ms). */
  blocking: (BlockingPod & { since: number })[];
  /** Pods deleted past their budget, with who approved it and why. */
  bypassed: { pod: string; by: string; reason: string }[];
  /** Pods stayed blocked past `escalateAfter`: the channels were alerted. */
  escalated: boolean;
  /** The final report, once the run has ended (also after a cancellation). */
  report?: NodeMaintenanceReport;
}

/** Query: the phase of a maintenance, what was evicted, what blocks it. */
export const nodeMaintenanceQuery = defineQuery<NodeMaintenanceStatus>('status');

/** What `approveBypass` answers: the pods that will be deleted past their budget. */
export interface ApproveBypassResult {
  pods: string[];
}

/**
 * Update: allows deleting the blocking pods (all, or `pods`) past their PodDisruptionBudget. Accepted only while
 * the run waits for it (after escalation, `onBlocked: approve`); who and why are recorded in the report.
 */
export const approveBypassUpdate = defineUpdate<ApproveBypassResult, [ApproveBypassInput]>('approveBypass');
