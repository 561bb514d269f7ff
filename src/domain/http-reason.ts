/**
 * The one table of reason names for HTTP statuses, shared by the adapters that turn a response without a readable
 * body into a typed error: the alert channels (HTTP's own reason phrases) and the Kubernetes transport (the API
 * server's `Status.reason` values where they differ from HTTP's).
 * @module
 */

/** HTTP reason phrases without spaces (`Not Found` → `NotFound`), for the statuses our adapters meet. */
const HTTP_REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  408: 'RequestTimeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'PayloadTooLarge',
  422: 'UnprocessableEntity',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** Where the Kubernetes API server names a status differently (`metav1.StatusReason`). */
const KUBERNETES_REASONS: Readonly<Record<number, string>> = {
  410: 'Expired',
  422: 'Invalid',
};

/**
 * Which names {@link httpReason} uses: `http` (reason phrases; other statuses `Redirect`, `ClientError`,
 * `ServerError`) or `kubernetes` (the API server's reasons: `Expired` for 410, `Invalid` for 422, `InternalError`
 * for every 5xx, `Unknown` for a status it does not name).
 */
export type ReasonVocabulary = 'http' | 'kubernetes';

/** The reason name of an HTTP status, in the given vocabulary (default `http`). */
export function httpReason(status: number, vocabulary: ReasonVocabulary = 'http'): string {
  if (vocabulary === 'kubernetes') {
    if (status >= 500) return 'InternalError';
    return KUBERNETES_REASONS[status] ?? HTTP_REASONS[status] ?? 'Unknown';
  }
  return (
    HTTP_REASONS[status] ?? (status >= 300 && status < 400 ? 'Redirect' : status >= 500 ? 'ServerError' : 'ClientError')
  );
}
