/**
 * Turns errors met by activities into `ApplicationFailure`s with a type from the closed list, so retry policies
 * and workflows can act on them, and rejects malformed activity inputs at the boundary ({@link parseInput}).
 * Messages never carry response headers or credentials.
 * @module
 */
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
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

/**
 * Parses an activity's input with its schema (`schemas/activities`) at the boundary. A malformed input fails at
 * once as a non-retryable `InvalidInput` whose message names the activity and each wrong field
 * (`planDeploy: invalid input: source.objects[2]: expected a Kubernetes object`): retrying cannot fix it, and a
 * `TypeError` deep inside would be retried as an internal error.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw ApplicationFailure.create({
    message: `${currentActivityType() ?? 'activity'}: invalid input: ${describeIssues(parsed.error.issues).join('; ')}`,
    type: FailureType.InvalidInput,
    nonRetryable: true,
  });
}

/**
 * One `path: problem` line per issue. A union that matched no option names the problems of the option the input
 * got furthest into (`source.objects[2]: …`, not `source: Invalid input`), or of every option when none did.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [`${formatPath(path)}: ${issue.message}`];
    const depth = (branch: readonly z.core.$ZodIssue[]): number => Math.max(0, ...branch.map((i) => i.path.length));
    const [best, next] = [...issue.errors].sort((a, b) => depth(b) - depth(a));
    if (best && next && depth(best) > depth(next)) return describeIssues(best, path);
    const options = issue.errors.map((branch) => describeIssues(branch).join(', '));
    return [`${formatPath(path)}: expected one of: ${options.join('; or ')}`];
  });
}

/** `source.objects[2].metadata`; `input` for the whole argument. */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'input';
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}

/** The running activity's type, or undefined outside an activity (unit tests call activities directly too). */
function currentActivityType(): string | undefined {
  try {
    return activityInfo().activityType;
  } catch {
    return undefined;
  }
}
