/**
 * The one HTTP path every alert channel uses: a single POST with a timeout, no redirects followed, and every
 * failure classified once into an {@link AlertDeliveryError} whose message names only the channel and the
 * receiver's host. Secrets a channel declares are blanked out of anything quoted from the receiver.
 * @module
 */
import { httpReason } from '../domain/http-reason.js';
import { parseRetryAfter } from '../domain/retry-after.js';
import { AlertEvent as AlertEventSchema } from '../schemas/alerts.js';
import { AlertDeliveryError, MAX_ERROR_BODY_CHARS, type AlertChannelType, type AlertEvent } from './types.js';

/** The `Retry-After` parser channels use (one for the whole package: `domain/retry-after`). */
export { parseRetryAfter };

/** What channels get from outside. Tests substitute both; production uses the defaults. */
export interface ChannelDeps {
  /** The fetch implementation (default: the global `fetch`). */
  fetch?: typeof globalThis.fetch;
  /** The clock, in milliseconds since the epoch (default: `Date.now`). */
  now?: () => number;
}

/** {@link ChannelDeps} with every field filled in. */
export type ResolvedChannelDeps = Required<ChannelDeps>;

/** Fills in the defaults of {@link ChannelDeps}. */
export function resolveDeps(deps: ChannelDeps = {}): ResolvedChannelDeps {
  return { fetch: deps.fetch ?? ((input, init) => globalThis.fetch(input, init)), now: deps.now ?? Date.now };
}

/** Identifies a channel in error messages without revealing its URL: `alert channel "ops" (slack, host)`. */
export interface ChannelIdentity {
  name: string;
  type: AlertChannelType;
  /** The receiver's host (and port), the only part of its URL that may appear in messages. */
  host: string;
}

/** One request to send. */
export interface PostJsonRequest {
  url: string;
  /** The serialized JSON body. */
  body: string;
  /** Extra headers (a channel's own headers win over nothing: callers merge before). */
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Strings that must never appear in an error message (keys, tokens, URL paths). */
  secrets: readonly string[];
  signal?: AbortSignal | undefined;
}

/** The User-Agent every channel sends. */
export const ALERTS_USER_AGENT = 'kube-workflows-alerts';

/** Whether a failed HTTP status is worth retrying: 429 and 5xx yes; 3xx and other 4xx no. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The host (and port) of a URL, for messages; `invalid URL` when it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}

/** Replaces every occurrence of every secret in `text` with `[redacted]`, longest secrets first. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('[redacted]');
  }
  return out;
}

/**
 * Checks the event against its schema (`AlertEvent` of `schemas/alerts`), which holds what every receiver relies on;
 * a malformed event is rejected before sending, never retried. The message names the field.
 */
export function checkEvent(event: AlertEvent, who: ChannelIdentity): void {
  const parsed = AlertEventSchema.safeParse(event);
  if (parsed.success) return;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ');
  throw rejectedBeforeSending(who, 'InvalidEvent', `invalid alert event: ${problems}`);
}

/** A non-retryable error for an event refused before any request was made. */
export function rejectedBeforeSending(who: ChannelIdentity, reason: string, detail: string): AlertDeliveryError {
  return new AlertDeliveryError({
    channel: who.name,
    status: 0,
    retryable: false,
    reason,
    message: `${describe(who)}: ${detail}`,
  });
}

/**
 * POSTs a JSON body once. Resolves with the 2xx status; throws {@link AlertDeliveryError} for any other answer,
 * a network failure or the timeout. When `request.signal` aborts, rejects with its reason unchanged, so an
 * activity cancellation stays a cancellation.
 */
export async function postJson(
  who: ChannelIdentity,
  request: PostJsonRequest,
  deps: ResolvedChannelDeps,
): Promise<number> {
  const { url, headers, credentials } = moveCredentialsToHeader(request.url);
  const secrets = [...request.secrets, ...credentials];
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let response: Response;
  let text: string;
  try {
    response = await deps.fetch(url, {
      method: 'POST',
      headers: {
        ...request.headers,
        ...headers,
        'content-type': 'application/json',
        'user-agent': ALERTS_USER_AGENT,
      },
      body: request.body,
      redirect: 'manual',
      signal,
    });
    if (response.status >= 200 && response.status < 300) {
      // Drain the body so the keep-alive connection is reused; its content does not matter.
      await response.arrayBuffer().catch(() => undefined);
      return response.status;
    }
    text = await response.text();
  } catch (err) {
    if (request.signal?.aborted) throw request.signal.reason;
    throw deliveryErrorFromNetwork(who, err, timeout.aborted ? request.timeoutMs : undefined, secrets);
  }
  throw deliveryErrorFromResponse(who, response.status, text, response.headers.get('retry-after'), secrets, deps.now());
}

/**
 * Classifies an HTTP answer that is not 2xx. The message quotes at most {@link MAX_ERROR_BODY_CHARS}
 * characters of the body, with `secrets` blanked out, and never a header.
 */
export function deliveryErrorFromResponse(
  who: ChannelIdentity,
  status: number,
  body: string,
  retryAfterHeader: string | null | undefined,
  secrets: readonly string[],
  nowMs: number = Date.now(),
): AlertDeliveryError {
  const reason = httpReason(status);
  const retryAfterSeconds = parseRetryAfter(retryAfterHeader, nowMs);
  const redirect = status >= 300 && status < 400 ? ' (redirects are not followed: check the configured URL)' : '';
  const wait = retryAfterSeconds === undefined ? '' : ` (retry after ${retryAfterSeconds} s)`;
  const excerpt = excerptOf(body, secrets);
  return new AlertDeliveryError({
    channel: who.name,
    status,
    retryable: isRetryableStatus(status),
    reason,
    retryAfterSeconds,
    message: `${describe(who)}: HTTP ${status} ${reason}${redirect}${wait}${excerpt ? `: ${excerpt}` : ''}`,
  });
}

/** Classifies a failure to get an answer at all (refused, reset, DNS, TLS, our timeout): always retryable. */
export function deliveryErrorFromNetwork(
  who: ChannelIdentity,
  err: unknown,
  timedOutAfterMs: number | undefined,
  secrets: readonly string[],
): AlertDeliveryError {
  if (timedOutAfterMs !== undefined) {
    return new AlertDeliveryError({
      channel: who.name,
      status: 0,
      retryable: true,
      reason: 'ETIMEDOUT',
      message: `${describe(who)}: no answer within ${timedOutAfterMs} ms`,
    });
  }
  // fetch reports "fetch failed" and puts the socket error (with its code) in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  const inner = cause instanceof Error ? cause : err;
  const code =
    (inner as { code?: unknown }).code ?? (err as { code?: unknown }).code ?? (inner as { name?: unknown }).name;
  const detail = inner instanceof Error ? inner.message : String(inner);
  return new AlertDeliveryError({
    channel: who.name,
    status: 0,
    retryable: true,
    reason: typeof code === 'string' && code ? code : 'NetworkError',
    message: `${describe(who)}: no answer: ${excerptOf(detail, secrets) || 'network error'}`,
  });
}

function describe(who: ChannelIdentity): string {
  return `alert channel "${who.name}" (${who.type}, ${who.host})`;
}

function excerptOf(text: string, secrets: readonly string[]): string {
  const flat = redact(text, secrets).replace(/\s+/g, ' ').trim();
  return flat.length > MAX_ERROR_BODY_CHARS ? `${flat.slice(0, MAX_ERROR_BODY_CHARS)}…` : flat;
}

/** fetch refuses URLs with `user:password@`; send them as a Basic Authorization header instead. */
function moveCredentialsToHeader(raw: string): {
  url: string;
  headers: Record<string, string>;
  /** The password and the header value, to redact. */
  credentials: string[];
} {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url: raw, headers: {}, credentials: [] };
  const password = decodeURIComponent(url.password);
  const basic = Buffer.from(`${decodeURIComponent(url.username)}:${password}`).toString('base64');
  url.username = '';
  url.password = '';
  return { url: url.toString(), headers: { authorization: `Basic ${basic}` }, credentials: [password, basic] };
}
