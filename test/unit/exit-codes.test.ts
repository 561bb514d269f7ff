import { WorkflowFailedError } from '@temporalio/client';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  WorkflowNotFoundError,
} from '@temporalio/common';
import { describe, it, expect } from 'vitest';
import { ExitCode, exitCodeForError, exitCodeForReport, failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import { ApprovalRefusedError, InvalidInputError } from '../../src/client/index.js';
import { FailureType } from '../../src/domain/failures.js';
import type { DeployOutcome, DeployReport } from '../../src/schemas/deploy.js';

function report(outcome: DeployOutcome): DeployReport {
  return { outcome, cluster: 'default', app: 'web', objects: [], durationsMs: {}, message: `deploy ${outcome}` };
}

/** A workflow failure as `handle.result()` throws it: the workflow's own failure is the cause. */
function workflowFailed(cause: Error | undefined): WorkflowFailedError {
  return new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);
}

/** A failure raised by an activity, wrapped as the workflow sees it. */
function activityFailed(cause: ApplicationFailure): ActivityFailure {
  return new ActivityFailure(
    'Activity task failed',
    'applyStage',
    '7',
    RetryState.NON_RETRYABLE_FAILURE,
    'worker@host',
    cause,
  );
}

function appFailure(type: string, message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...(cause ? { cause } : {}) });
}

describe('exitCodeForReport', () => {
  it.each([
    ['succeeded', ExitCode.Ok],
    ['planned', ExitCode.Ok],
    ['failed', ExitCode.Failed],
    ['rolledBack', ExitCode.Failed],
  ] as const)('exits %s with %i', (outcome, code) => {
    expect(exitCodeForReport(report(outcome))).toBe(code);
  });
});

describe('ExitCode', () => {
  it('is 0 for ok, 1 for failed, 2 for bad input, 3 for unreachable', () => {
    expect(ExitCode).toEqual({ Ok: 0, Failed: 1, BadInput: 2, Unreachable: 3 });
  });
});

describe('exitCodeForError', () => {
  it('exits 2 for input the client rejected before starting', () => {
    expect(exitCodeForError(new InvalidInputError('invalid deploy input'))).toBe(ExitCode.BadInput);
  });

  it('exits 2 when the workflow failed with InvalidInput', () => {
    expect(
      exitCodeForError(workflowFailed(appFailure(FailureType.InvalidInput, 'the manifests contain no objects'))),
    ).toBe(ExitCode.BadInput);
  });

  it('exits 2 when an activity failed with PolicyViolation', () => {
    const err = workflowFailed(activityFailed(appFailure(FailureType.PolicyViolation, 'policy forbids 1 object')));
    expect(exitCodeForError(err)).toBe(ExitCode.BadInput);
  });

  it('exits 1 when the rollout failed', () => {
    const err = workflowFailed(
      activityFailed(appFailure(FailureType.RolloutFailed, 'Deployment/shop/web: CrashLoopBackOff')),
    );
    expect(exitCodeForError(err)).toBe(ExitCode.Failed);
  });

  it('exits 1 when the cluster rejected an object', () => {
    const err = workflowFailed(activityFailed(appFailure(FailureType.KubeInvalid, 'Deployment/shop/web: is invalid')));
    expect(exitCodeForError(err)).toBe(ExitCode.Failed);
  });

  it('exits 1 when the workflow failed without an ApplicationFailure (cancelled)', () => {
    expect(exitCodeForError(workflowFailed(new CancelledFailure('cancelled')))).toBe(ExitCode.Failed);
  });

  it('exits 1 when the workflow failed without any cause', () => {
    expect(exitCodeForError(workflowFailed(undefined))).toBe(ExitCode.Failed);
  });

  it('exits 2 when an approval was refused (stale plan, not waiting)', () => {
    expect(exitCodeForError(new ApprovalRefusedError('stale approval: it names plan-1'))).toBe(ExitCode.BadInput);
  });

  it('exits 2 for a workflow id that does not exist', () => {
    expect(exitCodeForError(new WorkflowNotFoundError('not found', 'deploy/default/shop/cart', undefined))).toBe(
      ExitCode.BadInput,
    );
  });

  it('exits 3 when the workflow failed because the cluster could not be reached', () => {
    const err = workflowFailed(
      activityFailed(appFailure(FailureType.KubeUnavailable, 'cannot reach the Kubernetes API at https://k:6443')),
    );
    expect(exitCodeForError(err)).toBe(ExitCode.Unreachable);
  });

  it('exits 3 for an error that is not a workflow failure (e.g. Temporal unreachable)', () => {
    expect(exitCodeForError(new Error('14 UNAVAILABLE: No connection established'))).toBe(ExitCode.Unreachable);
  });

  it('exits 3 for an ApplicationFailure that did not come through a workflow failure', () => {
    expect(exitCodeForError(appFailure(FailureType.InvalidInput, 'bad'))).toBe(ExitCode.Unreachable);
  });

  it('exits 3 for a thrown non-Error value', () => {
    expect(exitCodeForError('boom')).toBe(ExitCode.Unreachable);
  });
});

describe('failureTypeOf', () => {
  it('is the type of the innermost ApplicationFailure in the cause chain', () => {
    const err = workflowFailed(
      appFailure(
        FailureType.RolloutFailed,
        'rollout failed',
        activityFailed(appFailure(FailureType.KubeUnavailable, 'refused')),
      ),
    );
    expect(failureTypeOf(err)).toBe(FailureType.KubeUnavailable);
  });

  it('is undefined when the chain holds no ApplicationFailure', () => {
    expect(failureTypeOf(workflowFailed(new CancelledFailure('cancelled')))).toBeUndefined();
  });
});

describe('messageOf', () => {
  it('is the innermost ApplicationFailure message, not the wrappers', () => {
    const err = workflowFailed(
      activityFailed(appFailure(FailureType.PolicyViolation, 'policy forbids 1 object; nothing was written')),
    );
    expect(messageOf(err)).toBe('policy forbids 1 object; nothing was written');
  });

  it('prefers the deepest ApplicationFailure when they are nested', () => {
    const err = workflowFailed(
      appFailure(
        FailureType.RolloutFailed,
        'rollout failed',
        activityFailed(appFailure(FailureType.KubeInvalid, 'spec.replicas: Invalid value')),
      ),
    );
    expect(messageOf(err)).toBe('spec.replicas: Invalid value');
  });

  it('is the error message when the chain holds no ApplicationFailure', () => {
    expect(messageOf(workflowFailed(new CancelledFailure('cancelled')))).toBe('Workflow execution failed');
  });

  it('is the message of a plain Error', () => {
    expect(messageOf(new Error('14 UNAVAILABLE: No connection established'))).toBe(
      '14 UNAVAILABLE: No connection established',
    );
  });

  it('is the text of a thrown non-Error value', () => {
    expect(messageOf('boom')).toBe('boom');
  });
});
