/**
 * Turns errors met by activities into `ApplicationFailure`s with a type from the closed list, so retry policies
 * and workflows can act on them. Messages never carry response headers or credentials.
 * @module
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { isKubeApiError } from '../kube/errors.js';

/** Wraps any error as an ApplicationFailure (KubeApiError keeps its classification). */
export function toApplicationFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (isKubeApiError(err)) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.failureType,
      nonRetryable: NON_RETRYABLE_FAILURE_TYPES.includes(err.failureType),
      details: [{ status: err.status, reason: err.reason, subject: err.subject }],
      ...(err.retryAfterSeconds ? { nextRetryDelay: `${err.retryAfterSeconds}s` } : {}),
    });
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return ApplicationFailure.create({ message, type: FailureType.Internal, nonRetryable: false });
}

/** Runs `fn`, converting whatever it throws with {@link toApplicationFailure}. */
export async function classified<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}
