/**
 * CLI exit codes (DESIGN.md contract) and how errors map to them.
 * @module
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../domain/failures.js';
import { InvalidInputError } from '../client/index.js';
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

/** Exit code for an error thrown while starting or following a workflow. */
export function exitCodeForError(err: unknown): ExitCode {
  if (err instanceof InvalidInputError) return ExitCode.BadInput;
  if (err instanceof WorkflowFailedError) {
    const type = failureTypeOf(err);
    return type === FailureType.InvalidInput || type === FailureType.PolicyViolation
      ? ExitCode.BadInput
      : ExitCode.Failed;
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
