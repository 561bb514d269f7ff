/**
 * The one `Retry-After` parser (RFC 9110 §10.2.3), shared by the Kubernetes transport and the alert channels: a
 * header is either delay-seconds (`"3"`) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Both forms become
 * whole seconds to wait, so a retry policy (`nextRetryDelay`) or a backoff can use either the same way.
 * @module
 */

/**
 * Seconds a `Retry-After` header asks to wait: delay-seconds as given, an HTTP-date as the whole seconds from
 * `nowMs` until then (rounded up, never negative). Anything else (a negative or fractional number, a bare number
 * with trailing text, an unparseable date, no header) gives `undefined`: no server-given delay.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10);
  // Only HTTP-dates from here: Date.parse alone would also accept numbers and fragments such as "1.5" or "-1".
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
