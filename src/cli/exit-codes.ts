/**
 * CLI exit codes (DESIGN.md contract) and how errors map to them.
 * @module
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { FailureType } from '../domain/failures.js';
import { ApprovalRefusedError, InvalidInputError } from '../client/index.js';
import type { DeployReport } from '../schemas/deploy.js';

/** Exit codes of every command. */
export const ExitCode = {
  /** Succeeded and healthy (or a dry run that planned). */
  Ok: 0,
  /** The workflow failed or rolled back. */
  Failed: 1,
  /** Bad input or usage: rejected before anything ran. */
  BadInput: 2,
  /** Could not reach Temporal or the cluster. */
  Unreachable: 3,
} as const;
/** One of {@link ExitCode}. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Exit code for a finished deploy's report. */
export function exitCodeForReport(report: DeployReport): ExitCode {
  return report.outcome === 'succeeded' || report.outcome === 'planned' ? ExitCode.Ok : ExitCode.Failed;
}

/** The failure type deepest in a cause chain (`WorkflowFailedError` → `ActivityFailure` → `ApplicationFailure`). */
export function failureTypeOf(err: unknown): string | undefined {
  let type: string | undefined;
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure && e.type) type = e.type;
  }
  return type;
}

/**
 * Exit code for an error thrown while starting, following or controlling a workflow:
 * - 2 for input refused before anything ran: by the client (invalid input, a held lock), by the workflow
 *   (`InvalidInput`, `PolicyViolation`), a refused approval, or a workflow id that does not exist;
 * - 3 when the workflow failed because the cluster could not be reached (`KubeUnavailable`: its retries ran out
 *   before anything was written), and for every error that is not a workflow's answer (Temporal unreachable);
 * - 1 for any other workflow failure.
 */
export function exitCodeForError(err: unknown): ExitCode {
  if (err instanceof InvalidInputError || err instanceof ApprovalRefusedError) return ExitCode.BadInput;
  if (err instanceof WorkflowNotFoundError) return ExitCode.BadInput;
  if (err instanceof WorkflowFailedError) {
    const type = failureTypeOf(err);
    if (type === FailureType.InvalidInput || type === FailureType.PolicyViolation) return ExitCode.BadInput;
    return type === FailureType.KubeUnavailable ? ExitCode.Unreachable : ExitCode.Failed;
  }
  return ExitCode.Unreachable;
}

/** The most useful message of an error chain (the innermost ApplicationFailure's, else the error's own). */
export function messageOf(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure && e.message) msg = e.message;
  }
  return msg;
}
