/**
 * Alertmanager channel (API v2): `POST /api/v2/alerts` with a JSON array of one alert.
 *
 * Alertmanager identifies an alert by its label set, so the labels are built only from what a trigger and its
 * resolve share (`alertname`, `dedup_key`, `severity`, `source` and the event's labels); the summary and details
 * go into annotations, which may change. A trigger has no `endsAt`: Alertmanager then considers it firing for its
 * `resolve_timeout` (5 minutes by default), so callers re-send firing alerts more often than that. A resolve sends
 * the same labels with `endsAt` in the past.
 *
 * Label and annotation names must match `[a-zA-Z_][a-zA-Z0-9_]*` (Alertmanager 0.25 rejects anything else with
 * 400); other characters are replaced with `_` (`app.kubernetes.io/name` becomes `app_kubernetes_io_name`),
 * as Prometheus does. Labels with empty values are dropped: Alertmanager treats them as absent.
 * @module
 */
import { DEFAULT_ALERT_TIMEOUT_MS, DEFAULT_MIN_SEVERITY, type AlertmanagerChannelConfig } from './config.js';
import { checkEvent, hostOf, postJson, resolveDeps, type ChannelDeps, type ChannelIdentity } from './http.js';
import type { AlertChannel, AlertEvent, AlertSeverity, DeliveryResult, SendOptions } from './types.js';

/** `alertname` of alerts whose event labels do not name one. */
export const DEFAULT_ALERTNAME = 'KubeWorkflowsAlert';

/** One element of the array `POST /api/v2/alerts` takes (Alertmanager's `postableAlert`). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

/** Makes a key a valid Alertmanager label name: invalid characters become `_`, a leading digit gets a `_`. */
export function alertmanagerLabelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) || name === '' ? `_${name}` : name;
}

/** Options of {@link buildAlertmanagerAlerts}. */
export interface AlertmanagerBuildOptions {
  /** Used when the event has no `url`. */
  generatorURL?: string | undefined;
  /** Now, in ms: the `endsAt` of a resolve without one, and the latest `endsAt` a resolve may carry. */
  nowMs: number;
}

/** Builds the request body for an event: an array of exactly one alert. */
export function buildAlertmanagerAlerts(event: AlertEvent, options: AlertmanagerBuildOptions): AlertmanagerAlert[] {
  const own = nameSafe(event.labels ?? {});
  const labels: Record<string, string> = {
    ...own,
    // The event may name its alert; the identity labels below are ours and always win.
    alertname: own.alertname ?? DEFAULT_ALERTNAME,
    dedup_key: event.dedupKey,
    severity: event.severity,
    source: event.source,
  };
  const alert: AlertmanagerAlert = {
    labels,
    annotations: { ...nameSafe(event.details ?? {}), summary: event.summary },
    startsAt: event.startsAt,
  };
  if (event.action === 'resolve') alert.endsAt = resolvedAt(event, options.nowMs);
  const generatorURL = event.url ?? options.generatorURL;
  if (generatorURL) alert.generatorURL = generatorURL;
  return [alert];
}

/** Sends alerts to an Alertmanager. */
export class AlertmanagerChannel implements AlertChannel {
  readonly type = 'alertmanager';
  readonly minSeverity: AlertSeverity;
  private readonly who: ChannelIdentity;
  private readonly deps: Required<ChannelDeps>;
  private readonly endpoint: string;

  constructor(
    readonly name: string,
    private readonly config: AlertmanagerChannelConfig,
    deps: ChannelDeps = {},
  ) {
    this.minSeverity = config.minSeverity ?? DEFAULT_MIN_SEVERITY;
    this.who = { name, type: this.type, host: hostOf(config.url) };
    this.deps = resolveDeps(deps);
    this.endpoint = alertmanagerAlertsUrl(config.url);
  }

  /** Posts the alert once (a trigger fires or refreshes it, a resolve ends it). */
  async send(event: AlertEvent, options: SendOptions = {}): Promise<DeliveryResult> {
    checkEvent(event, this.who);
    const alerts = buildAlertmanagerAlerts(event, { generatorURL: this.config.generatorURL, nowMs: this.deps.now() });
    const status = await postJson(
      this.who,
      {
        url: this.endpoint,
        body: JSON.stringify(alerts),
        timeoutMs: this.config.timeoutMs ?? DEFAULT_ALERT_TIMEOUT_MS,
        secrets: [],
        signal: options.signal,
      },
      this.deps,
    );
    return { channel: this.name, status };
  }
}

/** `<base>/api/v2/alerts`, keeping a path prefix of the base URL (`http://host/alertmanager`). */
export function alertmanagerAlertsUrl(base: string): string {
  return new URL('api/v2/alerts', base.endsWith('/') ? base : `${base}/`).toString();
}

function nameSafe(pairs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(pairs)) if (value !== '') out[alertmanagerLabelName(key)] = value;
  return out;
}

/** `endsAt` of a resolve: the event's, never in the future (it would keep firing), never before `startsAt`. */
function resolvedAt(event: AlertEvent, nowMs: number): string {
  const wanted = event.endsAt === undefined ? nowMs : Math.min(Date.parse(event.endsAt), nowMs);
  return new Date(Math.max(wanted, Date.parse(event.startsAt))).toISOString();
}
