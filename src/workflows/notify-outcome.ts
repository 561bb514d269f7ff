/**
 * The end-of-run alert of an operation (`notify` on the deploy, scale, fleet and node inputs), as one small helper
 * every operation workflow wraps its steps in:
 *
 * ```
 * const alert = new OutcomeAlert(input.notify, factsOf);        // patched('op-alerts'): only runs that ask
 * return alert.around(() => steps(), whereIfThrown);            // 1. unknown channels → InvalidInput, no write
 *                                                               // 2. the steps (a deploy calls alert.capture()
 *                                                               //    before it rolls back: the evidence first)
 *                                                               // 3. outcome in `on` → gatherFailureContext once,
 *                                                               //    deliverAlert once per channel → notifications
 * ```
 *
 * Exactly once per run: the alert is built once, its dedup key is the run's (`op/<workflowId>/<runId>`), so a
 * retried delivery carries the same key / webhook-id and a replay re-sends nothing (activities are not re-run on
 * replay). A channel that fails (after its retries) is recorded in the report's `notifications`, never changes the
 * outcome; the evidence that cannot be read becomes a note in the alert. A run that ends by throwing (a failure
 * before any write, a cancellation) alerts as `failed` / `cancelled` before the failure propagates.
 *
 * Runs without `notify` issue no command and no patch marker: histories recorded before it replay unchanged.
 * @module
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { buildOperationAlert, newestEvents, operationDedupKey } from '../domain/op-alert.js';
import type { Evidence, OutcomeFacts } from '../domain/op-alert-facts.js';
import {
  CANCELLED_OUTCOME,
  MAX_CONTEXT_OBJECTS,
  notifiesOn,
  SUCCESS_OUTCOMES,
  type FailureContext,
  type NotificationResult,
  type NotifyOptions,
} from '../schemas/notify.js';

/** Patch id of end-of-run alerts: marked only by runs whose input has `notify`. */
export const OP_ALERTS_PATCH = 'op-alerts';

/** Clusters whose evidence one alert gathers at most (a fleet may fail on several). */
export const MAX_EVIDENCE_CLUSTERS = 3;

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { checkAlertChannels } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { ...retry, maximumAttempts: 5 },
});
/** Evidence is a courtesy: a few quick attempts, then the alert goes without it (saying why). */
const { gatherFailureContext } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 3 },
});
/** Each channel gets a few minutes of retries (Retry-After honoured); then the failure is recorded, not thrown. */
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '5m',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 5 },
});

export type { Evidence, OutcomeFacts };

/** A report an alert can be added to. */
type Report = { outcome: string; message: string; notifications?: NotificationResult[] | undefined };

/** The end-of-run alert of one run (see the module contract). */
export class OutcomeAlert<R extends Report> {
  private readonly notify: NotifyOptions | undefined;
  private readonly workflowType = workflowInfo().workflowType;
  private evidence: { context?: FailureContext; problem?: string } | undefined;
  private sent = false;

  /**
   * @param notify the input's `notify` (after defaults); undefined: the helper does nothing at all.
   * @param factsOf what the report says for the alert.
   */
  constructor(
    notify: NotifyOptions | undefined,
    private readonly factsOf: (report: R) => OutcomeFacts,
  ) {
    this.notify = notify !== undefined && patched(OP_ALERTS_PATCH) ? notify : undefined;
  }

  /**
   * Runs the operation's steps between the channel check and the alert. `ifThrown` describes a run that ends by
   * throwing (no report): its cluster and namespace, and where its evidence is.
   */
  async around(body: () => Promise<R>, ifThrown: () => Omit<OutcomeFacts, 'outcome' | 'reason'>): Promise<R> {
    await this.checkChannels();
    let report: R;
    try {
      report = await body();
    } catch (err) {
      const cancelled = isCancellation(err);
      const facts = { ...ifThrown(), outcome: cancelled ? CANCELLED_OUTCOME : 'failed', reason: messageOf(err) };
      await this.send(facts);
      throw err;
    }
    const notifications = await this.send(this.factsOf(report));
    return notifications ? { ...report, notifications } : report;
  }

  /**
   * Reads the evidence now, before a rollback removes the failing pods (a deploy calls it before compensating).
   * Does nothing without `notify`, when no failure outcome would alert, or once done.
   */
  async capture(evidence: Evidence[]): Promise<void> {
    const notify = this.notify;
    if (!notify || this.evidence || (notify.on && notify.on.every((o) => SUCCESS_OUTCOMES.includes(o)))) return;
    this.evidence = await this.gather(evidence);
  }

  /** Fails the run with `InvalidInput` (before any write) when the worker lacks a named channel. */
  private async checkChannels(): Promise<void> {
    if (!this.notify) return;
    try {
      await checkAlertChannels({ channels: this.notify.channels });
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === FailureType.InvalidInput) {
        throw ApplicationFailure.nonRetryable(cause.message, FailureType.InvalidInput);
      }
      // The check could not run (no worker answered in time): the delivery will say what is wrong, if anything.
    }
  }

  /** Sends the alert once when the outcome is one of `on`; returns what each channel answered. */
  private async send(facts: OutcomeFacts): Promise<NotificationResult[] | undefined> {
    const notify = this.notify;
    if (!notify || this.sent || !notifiesOn(notify, facts.outcome)) return undefined;
    this.sent = true;
    // A cancelled run still tells its channels: nothing here may be cancelled with it.
    return CancellationScope.nonCancellable(async () => {
      const { workflowId, runId } = workflowInfo();
      this.evidence ??= await this.gather(SUCCESS_OUTCOMES.includes(facts.outcome) ? [] : facts.evidence);
      const { evidence: _evidence, ...rest } = facts;
      const event = buildOperationAlert(
        { ...rest, workflowType: this.workflowType, workflowId, runId },
        this.evidence.context,
        { startsAt: new Date(Date.now()).toISOString(), contextProblem: this.evidence.problem },
      );
      const dedupKey = operationDedupKey(workflowId, runId);
      const results = await Promise.allSettled(notify.channels.map((channel) => deliverAlert({ channel, event })));
      return results.map((r, i): NotificationResult => {
        const channel = notify.channels[i] as string;
        if (r.status === 'rejected') return { channel, status: 'failed', error: messageOf(r.reason), dedupKey };
        const status = r.value.skipped ? 'skipped' : 'sent';
        return { channel, status, ...(r.value.status ? { httpStatus: r.value.status } : {}), dedupKey };
      });
    });
  }

  /** One `gatherFailureContext` per cluster (at most {@link MAX_EVIDENCE_CLUSTERS}), merged; failures become notes. */
  private async gather(evidence: Evidence[]): Promise<{ context?: FailureContext; problem?: string }> {
    const logLines = this.notify?.logLines;
    const parts = evidence.length ? evidence.slice(0, MAX_EVIDENCE_CLUSTERS) : [{ cluster: '', objects: [] }];
    const merged: FailureContext = { pods: [], events: [], notes: [] };
    const problems: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const part of parts) {
        try {
          const objects = part.objects.slice(0, MAX_CONTEXT_OBJECTS);
          const c = await gatherFailureContext({ cluster: part.cluster, objects, logLines });
          if (c.link) merged.link ??= c.link;
          merged.pods.push(...c.pods);
          merged.events.push(...c.events);
          merged.notes.push(...c.notes.map((n) => (parts.length > 1 ? `${part.cluster}: ${n}` : n)));
        } catch (err) {
          problems.push(`evidence${part.cluster ? ` of cluster ${part.cluster}` : ''} not read: ${messageOf(err)}`);
        }
      }
    });
    merged.events = newestEvents(merged.events);
    return { context: merged, ...(problems.length ? { problem: problems.join('; ') } : {}) };
  }
}

/** The innermost message of a failure (an activity's or a child's cause, not the wrapper's). */
function messageOf(err: unknown): string {
  let e: unknown = err;
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
