/**
 * The closed list of failure types. Every `ApplicationFailure` kube-workflows throws carries one of these as its
 * `type`, and retry policies match them (`nonRetryableErrorTypes`), so the list lives in one place.
 * @module
 */

/** Failure type names, used as `ApplicationFailure.type`. */
export const FailureType = {
  /** The workflow or activity input is malformed (bad YAML, missing field, duplicate object). Never retried. */
  InvalidInput: 'InvalidInput',
  /** The worker's policy forbids the operation (namespace, kind, cluster-scoped). Never retried. */
  PolicyViolation: 'PolicyViolation',
  /** The API server rejected an object (400/422). Never retried. */
  KubeInvalid: 'KubeInvalid',
  /** The worker's credentials may not do this (401/403). Never retried. */
  KubeForbidden: 'KubeForbidden',
  /** A required object or API type does not exist (404 where it must exist). Never retried. */
  KubeNotFound: 'KubeNotFound',
  /** Server-side apply conflict with another field manager (409) and `force` was not set. Never retried. */
  ApplyConflict: 'ApplyConflict',
  /** The API server is unreachable, throttling (429) or failing (5xx). Retried with backoff. */
  KubeUnavailable: 'KubeUnavailable',
  /** A workload failed to become healthy (crash loop, image pull error, failed pod, …). */
  RolloutFailed: 'RolloutFailed',
  /** Objects did not become healthy before the deadline. */
  RolloutTimeout: 'RolloutTimeout',
  /** A release's analysis failed (or an inconclusive one was rolled back): in a deploy report's `failure`. */
  AnalysisFailed: 'AnalysisFailed',
  /** An alert channel refused an alert (4xx other than 429). Never retried. */
  AlertRejected: 'AlertRejected',
  /** An alert channel could not be reached or throttled us (429, 5xx, network). Retried, honouring Retry-After. */
  AlertUnavailable: 'AlertUnavailable',
  /**
   * The worker is shutting down and handed a long-running activity (a monitor's observation) back at once, instead
   * of holding it for the shutdown grace time. Retried, on another worker.
   */
  WorkerShutdown: 'WorkerShutdown',
  /** A bug or an unexpected error in the worker. Retried: deploying a fixed worker resumes the workflow. */
  Internal: 'InternalError',
} as const;
/** One of {@link FailureType}. */
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that retrying cannot fix: pass to `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = [
  FailureType.InvalidInput,
  FailureType.PolicyViolation,
  FailureType.KubeInvalid,
  FailureType.KubeForbidden,
  FailureType.KubeNotFound,
  FailureType.ApplyConflict,
  FailureType.RolloutFailed,
  FailureType.RolloutTimeout,
  FailureType.AlertRejected,
];
