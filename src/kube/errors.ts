/**
 * The one place where Kubernetes API failures become typed errors. `ApiException`s and raw HTTP answers are
 * never passed on: their messages embed whole bodies and headers. A {@link KubeApiError} carries the HTTP
 * status, the API's `reason`, the object's subject and a short message, and knows its {@link FailureType}.
 * @module
 */
import { FailureType } from '../domain/failures.js';
import { httpReason } from '../domain/http-reason.js';
import { parseRetryAfter } from '../domain/retry-after.js';

/** A failed call to the Kubernetes API, classified once. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status (0 for network errors). */
  readonly status: number;
  /** The `reason` of the API's Status object (`Conflict`, `Invalid`, `NotFound`, …) or the network error code. */
  readonly reason: string;
  /** `Kind/namespace/name` of the object concerned, when there is one. */
  readonly subject: string | undefined;
  /** Seconds the server asked us to wait (429 / 503 `Retry-After`, as delay-seconds or an HTTP-date). */
  readonly retryAfterSeconds: number | undefined;
  /** How a workflow should treat it. */
  readonly failureType: FailureType;

  constructor(init: {
    status: number;
    reason: string;
    message: string;
    subject?: string | undefined;
    retryAfterSeconds?: number | undefined;
    /** Overrides the classification derived from status and reason. */
    failureType?: FailureType | undefined;
  }) {
    super(init.subject ? `${init.subject}: ${init.message}` : init.message);
    this.status = init.status;
    this.reason = init.reason;
    this.subject = init.subject;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.failureType = init.failureType ?? failureTypeForStatus(init.status, init.reason);
  }
}

/** Type guard for {@link KubeApiError}. */
export function isKubeApiError(err: unknown): err is KubeApiError {
  return err instanceof KubeApiError;
}

/** Maps an HTTP status (and API reason) to the failure type retry policies act on. */
export function failureTypeForStatus(status: number, reason = ''): FailureType {
  if (status === 400 || status === 422) return FailureType.KubeInvalid;
  if (status === 401 || status === 403) return FailureType.KubeForbidden;
  if (status === 404) return FailureType.KubeNotFound;
  if (status === 409 && reason !== 'AlreadyExists') return FailureType.ApplyConflict;
  return FailureType.KubeUnavailable;
}

/** The parts of a Kubernetes `Status` body we read. */
interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

/**
 * Builds a {@link KubeApiError} from an HTTP answer. Reads the `Status` body when there is one and keeps only
 * its message (for 422, each cause with its field); never headers. `Retry-After` is read with the package's one
 * parser (`domain/retry-after`): delay-seconds or an HTTP-date counted from `nowMs`.
 */
export function kubeErrorFromResponse(
  status: number,
  body: string,
  subject: string | undefined,
  retryAfterHeader: string | undefined,
  nowMs: number = Date.now(),
): KubeApiError {
  let parsed: StatusBody | undefined;
  try {
    parsed = JSON.parse(body) as StatusBody;
  } catch {
    parsed = undefined;
  }
  const reason = parsed?.reason ?? httpReason(status, 'kubernetes');
  let message = parsed?.message ?? (body.trim().slice(0, 300) || `HTTP ${status}`);
  const causes = (parsed?.details?.causes ?? []).filter((c) => c.message && !message.includes(c.message));
  if (causes.length) message += `: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join('; ')}`;
  if (status === 409 && reason === 'Conflict' && /conflict/i.test(message)) {
    message = `${message} (another field manager owns these fields; set force: true to take them over)`;
  }
  return new KubeApiError({
    status,
    reason,
    message: `${message} [HTTP ${status} ${reason}]`,
    subject,
    retryAfterSeconds: parseRetryAfter(retryAfterHeader, nowMs),
    // "the object has been modified" is optimistic concurrency, not a field-manager conflict: a retry fixes it.
    failureType: status === 409 && /has been modified/.test(message) ? FailureType.KubeUnavailable : undefined,
  });
}

/** A network-level failure (connection refused, reset, TLS, timeout) as a retryable error. */
export function kubeErrorFromNetwork(err: unknown, server: string, subject?: string): KubeApiError {
  const code = (err as { code?: string }).code ?? 'NetworkError';
  const detail = err instanceof Error ? err.message : String(err);
  return new KubeApiError({
    status: 0,
    reason: code,
    message: `cannot reach the Kubernetes API at ${server}: ${detail}`,
    subject,
  });
}
