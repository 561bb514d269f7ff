/**
 * The messages of a drift scan, defined apart from the workflow so the client can import them without the
 * workflow's code: the `status` query and the `approveCorrection` update.
 * @module
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApproveCorrectionInput, DriftObjectReport, DriftReport } from '../schemas/drift.js';

/** Where a drift scan is. */
export type DriftPhase = 'validating' | 'scanning' | 'alerting' | 'awaitingApproval' | 'correcting' | 'done';

/** What the `status` query of a drift scan returns. */
export interface DriftStatus {
  phase: DriftPhase;
  message: string;
  /** What the scan found, once it has run (drifted and missing objects first). */
  objects: DriftObjectReport[];
  /** Objects the policy would correct (subjects): what `approveCorrection` approves. */
  toCorrect: string[];
  /** The final report, once the run has ended. */
  report?: DriftReport;
}

/** Query: the phase of a drift scan and what it found. */
export const driftStatusQuery = defineQuery<DriftStatus>('status');

/** What `approveCorrection` answers. */
export interface ApproveCorrectionResult {
  /** The objects that will be corrected (none when rejected). */
  subjects: string[];
}

/**
 * Update: approves (or, with `approve: false`, rejects) the correction a scan waits for (`requireApproval`).
 * Accepted only while the run is in phase `awaitingApproval`.
 */
export const approveCorrectionUpdate = defineUpdate<ApproveCorrectionResult, [ApproveCorrectionInput]>(
  'approveCorrection',
);
