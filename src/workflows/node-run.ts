/**
 * The steps of one node maintenance, as a small class over explicit state, in the order `maintainNode` calls them:
 * validate → take a maintenance slot → preflight → cordon → drain (evict within budgets; escalate; bypass on
 * approval) → action hook and wait for Ready → finish (uncordon unless kept, report). Deterministic: runs inside
 * the workflow sandbox; every decision is a pure function of `domain/node-maintenance`.
 * @module
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { BlockedClock, preflight } from '../domain/node-maintenance.js';
import type { AlertEvent } from '../schemas/alerts.js';
import {
  ApproveBypassInput,
  NodeMaintenanceInput,
  type EvictPodsResult,
  type NodeMaintenanceOptions,
  type NodeMaintenancePhase,
  type NodeMaintenanceReport,
} from '../schemas/node.js';
import {
  approveBypassUpdate,
  nodeMaintenanceQuery,
  type ApproveBypassResult,
  type NodeMaintenanceStatus,
} from './node-definitions.js';
import { takeMaintenanceSlot, type HeldSlot } from './node-lock.js';
import { KubeCluster, KubeOutcome } from './search-attributes.js';
import { upsertKubeAttributes } from './upsert.js';

/** Longest eviction round: the activity returns at least this often (or when something changes). */
export const EVICTION_ROUND_MS = 5 * 60_000;
/** Pause between rounds that changed nothing (the back-off between attempts of a blocked eviction). */
export const ROUND_PAUSE_MS = 5_000;

const retry = { maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };
const { inspectNode, cordonNode, removeCordon, deletePods } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry,
});
// They heartbeat every poll (2 s): a worker that dies mid-round is noticed within 20 s and the round resumes.
const { evictPods, waitNodeReady } = proxyActivities<Activities>({
  startToCloseTimeout: `${EVICTION_ROUND_MS / 1000 + 120}s`,
  heartbeatTimeout: '20s',
  retry,
});
/** A failing hook is retried a little (5xx, network), then the maintenance fails and the node is uncordoned. */
const { runNodeAction } = proxyActivities<Activities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { ...retry, maximumAttempts: 3 },
});
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '10m',
  retry,
});

/** A bypass the `approveBypass` update asked for, not yet carried out. */
type BypassRequest = { by: string; reason: string; pods: string[] };

/** One maintenance run: its state and its steps. */
export class NodeRun {
  private readonly started = Date.now();
  private readonly durationsMs: Record<string, number> = {};
  private phaseStart = Date.now();
  private readonly status: NodeMaintenanceStatus;
  private input!: NodeMaintenanceOptions;
  private cluster = '';
  private warnings: string[] = [];
  private skipped: NodeMaintenanceReport['skipped'] = [];
  private readonly clock = new BlockedClock();
  private escalation: NodeMaintenanceReport['escalated'];
  private escalationResolved = false;
  private bypassRequest: BypassRequest | undefined;
  /** A cordon was sent (it may have landed even if its activity failed): the uncordon must be tried. */
  private cordonSent = false;
  private wasCordoned = false;
  private action: NodeMaintenanceReport['action'] = { status: 'none', message: 'no action hook' };
  private ready: NodeMaintenanceReport['ready'];

  /** Registers the `status` query and the `approveBypass` update (before anything can fail). */
  constructor(private readonly purpose: 'maintain' | 'drain') {
    this.status = {
      phase: 'locking',
      node: '',
      message: 'starting',
      evicted: [],
      remaining: [],
      blocking: [],
      bypassed: [],
      escalated: false,
    };
    setHandler(nodeMaintenanceQuery, () => this.status);
    setHandler(approveBypassUpdate, (a: ApproveBypassInput) => this.approve(a), {
      validator: (a: ApproveBypassInput) => this.validateBypass(a),
    });
  }

  /** Step 1, in the first workflow task: parses the input; bad input fails with `InvalidInput`, nothing has run. */
  validate(raw: NodeMaintenanceInput): NodeMaintenanceOptions {
    const parsed = NodeMaintenanceInput.safeParse(raw);
    if (!parsed.success) throw invalid(`invalid node maintenance input:\n${z.prettifyError(parsed.error)}`);
    if (this.purpose === 'drain' && parsed.data.action)
      throw invalid('drainNode takes no action hook: use maintainNode');
    this.input = parsed.data;
    // drainNode leaves the node cordoned when it succeeds (as kubectl drain does), and uncordons when it fails.
    if (this.purpose === 'drain')
      this.input.keepCordoned = { onFailure: false, ...this.input.keepCordoned, onSuccess: true };
    this.status.node = this.input.node;
    return this.input;
  }

  /** Step 2: resolves the cluster name and takes one of its `maxUnavailable` maintenance slots. */
  async takeSlot(): Promise<HeldSlot> {
    const first = await inspectNode({ cluster: this.input.cluster ?? '', node: this.input.node });
    this.cluster = first.cluster;
    upsertKubeAttributes([{ key: KubeCluster, value: this.cluster }]);
    this.enter('locking', `taking a maintenance slot of ${this.cluster} (maxUnavailable ${this.input.maxUnavailable})`);
    return takeMaintenanceSlot(this.cluster, this.input.maxUnavailable, `${this.purpose} of Node/${this.input.node}`);
  }

  /** Step 3, under the slot: the preflight verdict on fresh facts. A refusal ends the run; nothing was written. */
  async preflight(): Promise<void> {
    this.enter('preflight', 'checking the pool, budgets and room for the pods');
    const facts = await inspectNode({ cluster: this.cluster, node: this.input.node });
    const verdict = preflight(facts, { ...this.input.drain, ...this.input });
    this.warnings = verdict.warnings;
    this.skipped = verdict.plan.skip;
    this.status.remaining = verdict.plan.evict.map((p) => `${p.namespace}/${p.name}`);
    if (verdict.refusals.length) {
      throw ApplicationFailure.nonRetryable(
        `maintenance of Node/${this.input.node} refused; nothing was written:\n  ${verdict.refusals.join('\n  ')}`,
        FailureType.PolicyViolation,
        { refusals: verdict.refusals, warnings: verdict.warnings },
      );
    }
  }

  /** Step 4: cordons (recording whether someone else had cordoned it: then it is never uncordoned by us). */
  async cordon(): Promise<void> {
    this.enter('cordoning', `cordoning Node/${this.input.node}`);
    this.cordonSent = true;
    this.wasCordoned = (await cordonNode(this.cordonInput(false))).wasCordoned;
  }

  /**
   * Step 5: evicts round after round within the budgets until the node is empty. Pods blocked for `escalateAfter`
   * raise an alert; with `onBlocked: approve` an `approveBypass` then deletes them past their budget. Pods still
   * there at the drain timeout fail the run (RolloutTimeout).
   */
  async drain(): Promise<void> {
    const deadline = Date.now() + this.input.drain.timeout;
    this.enter('draining', `evicting ${this.status.remaining.length} pods within their budgets`);
    for (;;) {
      const round = await this.evictRound(deadline);
      if (round === 'bypass') {
        await this.bypass();
        continue;
      }
      this.absorb(round);
      if (!round.remaining.length) return this.resolveEscalation();
      if (Date.now() >= deadline) throw this.drainTimeout();
      if (this.dueForEscalation()) await this.escalate();
      if (!round.evicted.length) await condition(() => this.bypassRequest !== undefined, ROUND_PAUSE_MS);
    }
  }

  /** Step 6: the action hook, then the node Ready with no pressure or network problem. */
  async act(): Promise<void> {
    const { action, afterAction } = this.input;
    if (!action) return;
    this.enter('action', `calling the action hook for Node/${this.input.node}`);
    try {
      const r = await runNodeAction({
        cluster: this.cluster,
        node: this.input.node,
        workflowId: workflowInfo().workflowId,
        url: action.webhook.url,
        ...(action.webhook.headers ? { headers: action.webhook.headers } : {}),
        timeoutMs: action.webhook.timeout,
      });
      this.action = { status: 'succeeded', message: r.message };
    } catch (err) {
      this.action = { status: 'failed', message: failureOf(err).message };
      throw err;
    }
    if (!afterAction.waitReady) return;
    this.enter('waitingReady', `waiting up to ${afterAction.timeout / 1000}s for Node/${this.input.node} Ready`);
    this.ready = await waitNodeReady({
      cluster: this.cluster,
      node: this.input.node,
      deadlineMs: Date.now() + afterAction.timeout,
    });
    if (!this.ready.ready) {
      throw ApplicationFailure.nonRetryable(
        `Node/${this.input.node} not Ready ${afterAction.timeout / 1000}s after the action: ${this.ready.message}`,
        FailureType.RolloutTimeout,
      );
    }
  }

  /**
   * Step 7, never cancelled: uncordons unless the policy keeps the node cordoned (then alerts the reason), resolves
   * the escalation alert, and reports. A cancelled run ends cancelled after this; the query holds the report.
   */
  async finish(failure: unknown): Promise<NodeMaintenanceReport> {
    const report = await CancellationScope.nonCancellable(async () => {
      const cause = failure === undefined ? undefined : failureOf(failure);
      this.enter('uncordoning', cause ? `${cause.message}; cleaning up` : 'cleaning up');
      const { kept, uncordoned } = await this.releaseNode(cause !== undefined);
      await this.resolveEscalation();
      return this.report(cause, kept, uncordoned);
    });
    if (failure !== undefined && isCancellation(failure)) throw failure as Error; // ends the run cancelled
    return report;
  }

  // --- the steps' parts ------------------------------------------------------------------------------------------

  /** One `evictPods` round; while a bypass may be approved, the approval interrupts it. */
  private async evictRound(deadline: number): Promise<EvictPodsResult | 'bypass'> {
    const now = Date.now();
    const escalateAt =
      this.clock.blockedSince !== undefined && !this.escalation
        ? this.clock.blockedSince + this.input.drain.escalateAfter
        : Infinity;
    const input = {
      cluster: this.cluster,
      node: this.input.node,
      emptyDir: this.input.drain.emptyDir,
      unmanagedPods: this.input.drain.unmanagedPods,
      ...(this.input.drain.gracePeriodSeconds !== undefined
        ? { gracePeriodSeconds: this.input.drain.gracePeriodSeconds }
        : {}),
      returnBy: Math.min(deadline, now + EVICTION_ROUND_MS, escalateAt),
      knownBlocked: this.status.blocking.map((b) => b.pod),
    };
    if (this.status.phase !== 'awaitingBypass') return evictPods(input);
    if (this.bypassRequest) return 'bypass';
    // Both run in one scope, cancelled once either settles: the loser (the round, or the waiting) is dropped.
    const scope = new CancellationScope();
    const round = scope.run(() => evictPods(input));
    const approval = scope.run(() => condition(() => this.bypassRequest !== undefined));
    const approved = await Promise.race([
      round.then(
        () => false,
        () => false,
      ),
      approval.then(
        () => true,
        () => false,
      ),
    ]);
    scope.cancel();
    if (!approved) return round;
    await round.catch(() => undefined);
    return 'bypass';
  }

  /** Takes in a round's result: evicted pods, what remains, what blocks (with since when). */
  private absorb(round: EvictPodsResult): void {
    const now = Date.now();
    for (const pod of round.evicted) if (!this.status.evicted.includes(pod)) this.status.evicted.push(pod);
    this.status.remaining = round.remaining;
    for (const s of round.skipped) if (!this.skipped.some((k) => k.pod === s.pod)) this.skipped.push(s);
    this.clock.observe(round.blocked, now);
    const since = new Map(this.status.blocking.map((b) => [b.pod, b.since]));
    this.status.blocking = round.blocked.map((b) => ({ ...b, since: since.get(b.pod) ?? now }));
    const blocked = round.blocked.length
      ? `; ${round.blocked.length} blocked: ${round.blocked.map((b) => b.pod).join(', ')}`
      : '';
    this.enter(
      this.status.phase === 'awaitingBypass' ? 'awaitingBypass' : 'draining',
      `${this.status.evicted.length} evicted, ${round.remaining.length} to go${blocked}`,
    );
  }

  private dueForEscalation(): boolean {
    const since = this.clock.blockedSince;
    return !this.escalation && since !== undefined && Date.now() - since >= this.input.drain.escalateAfter;
  }

  /** Alerts every channel that pods stay blocked; with `onBlocked: approve`, starts accepting `approveBypass`. */
  private async escalate(): Promise<void> {
    const afterMs = Date.now() - (this.clock.blockedSince ?? Date.now());
    this.escalation = { afterMs, channels: this.input.channels };
    this.status.escalated = true;
    const pods = this.status.blocking.map((b) => `${b.pod}${b.pdbs.length ? ` (${b.pdbs.join(', ')})` : ''}`);
    await this.alert(
      'trigger',
      'blocked',
      `drain of Node/${this.input.node} blocked for ${Math.round(afterMs / 1000)}s by ${pods.join(', ')}`,
    );
    if (this.input.drain.onBlocked === 'approve')
      this.enter('awaitingBypass', `blocked by ${pods.join(', ')}: waiting for approveBypass (or the budgets)`);
  }

  /** Deletes the approved pods past their budget and records who allowed it. */
  private async bypass(): Promise<void> {
    const request = this.bypassRequest as BypassRequest;
    this.enter('awaitingBypass', `deleting ${request.pods.join(', ')} past their budget (approved by ${request.by})`);
    const { deleted } = await deletePods({
      cluster: this.cluster,
      node: this.input.node,
      pods: request.pods,
      ...(this.input.drain.gracePeriodSeconds !== undefined
        ? { gracePeriodSeconds: this.input.drain.gracePeriodSeconds }
        : {}),
    });
    for (const pod of deleted) this.status.bypassed.push({ pod, by: request.by, reason: request.reason });
    this.bypassRequest = undefined;
  }

  private async resolveEscalation(): Promise<void> {
    if (!this.escalation || this.escalationResolved) return;
    this.escalationResolved = true;
    await this.alert('resolve', 'blocked', `drain of Node/${this.input.node} no longer blocked`);
  }

  /** Uncordons, unless someone else had cordoned the node or the policy keeps it cordoned. */
  private async releaseNode(failed: boolean): Promise<{ kept: string | undefined; uncordoned: boolean }> {
    if (!this.cordonSent) return { kept: undefined, uncordoned: false };
    if (this.wasCordoned) return { kept: 'it was cordoned before this run', uncordoned: false };
    const keep = this.input.keepCordoned;
    if (keep && (failed ? keep.onFailure : keep.onSuccess)) {
      const why = keep.reason ?? (failed ? 'keepCordoned.onFailure' : 'keepCordoned.onSuccess');
      if (failed || this.purpose !== 'drain')
        await this.alert('trigger', 'kept-cordoned', `Node/${this.input.node} left cordoned: ${why}`);
      return { kept: why, uncordoned: false };
    }
    const r = await removeCordon(this.cordonInput(false));
    return { kept: r.uncordoned ? undefined : r.message, uncordoned: r.uncordoned };
  }

  /** Sends one alert event to every channel; a channel that fails is a warning, never the run's failure. */
  private async alert(action: AlertEvent['action'], what: string, summary: string): Promise<void> {
    const event: AlertEvent = {
      action,
      dedupKey: `${workflowInfo().workflowId}/${what}`.slice(0, 255),
      summary,
      source: `Node/${this.input.node}`,
      severity: 'warning',
      startsAt: new Date(this.started).toISOString(),
      labels: {
        alertname: what === 'blocked' ? 'NodeDrainBlocked' : 'NodeKeptCordoned',
        node: this.input.node,
        cluster: this.cluster,
      },
      details: { workflowId: workflowInfo().workflowId, blocking: this.status.blocking.map((b) => b.pod).join(', ') },
    };
    for (const channel of this.input.channels) {
      try {
        await deliverAlert({ channel, event });
      } catch (err) {
        this.warnings.push(`alert to ${channel} failed: ${failureOf(err).message}`);
      }
    }
  }

  private approve(a: ApproveBypassInput): ApproveBypassResult {
    const pods = a.pods ?? this.status.blocking.map((b) => b.pod);
    this.bypassRequest = { by: a.by, reason: a.reason, pods };
    return { pods };
  }

  private validateBypass(a: ApproveBypassInput): void {
    const parsed = ApproveBypassInput.safeParse(a);
    if (!parsed.success) throw new Error(`invalid approveBypass: ${z.prettifyError(parsed.error)}`);
    if (this.status.phase !== 'awaitingBypass' || this.bypassRequest)
      throw new Error(`this maintenance is not waiting for a bypass approval (phase ${this.status.phase})`);
    const blocking = new Set(this.status.blocking.map((b) => b.pod));
    const unknown = (a.pods ?? []).filter((p) => !blocking.has(p));
    if (unknown.length)
      throw new Error(`not blocking now: ${unknown.join(', ')} (blocking: ${[...blocking].join(', ') || 'none'})`);
    if (!blocking.size) throw new Error('no pod is blocking now');
  }

  private drainTimeout(): ApplicationFailure {
    const blocked = this.status.blocking.map((b) => `${b.pod}: ${b.message}`);
    return ApplicationFailure.nonRetryable(
      `drain of Node/${this.input.node} timed out after ${this.input.drain.timeout / 1000}s with ` +
        `${this.status.remaining.length} pods left (${this.status.remaining.join(', ')})` +
        (blocked.length ? `; blocked: ${blocked.join('; ')}` : ''),
      FailureType.RolloutTimeout,
    );
  }

  private cordonInput(force: boolean): { cluster: string; node: string; owner: string; force: boolean } {
    return { cluster: this.cluster, node: this.input.node, owner: workflowInfo().workflowId, force };
  }

  /** Enters a phase: accounts the time of the previous one and shows the new one in the Web UI. */
  private enter(phase: NodeMaintenancePhase, message: string): void {
    const s = this.status;
    this.durationsMs[s.phase] = (this.durationsMs[s.phase] ?? 0) + (Date.now() - this.phaseStart);
    this.phaseStart = Date.now();
    s.phase = phase;
    s.message = message;
    setCurrentDetails(`**${phase}** Node/${this.input?.node ?? ''} — ${message}`);
  }

  private report(
    cause: { type: string; message: string } | undefined,
    kept: string | undefined,
    uncordoned: boolean,
  ): NodeMaintenanceReport {
    const outcome = cause ? 'failed' : 'succeeded';
    const what = `${this.status.evicted.length} evicted, ${this.status.bypassed.length} deleted past their budget`;
    const end = uncordoned ? 'uncordoned' : kept ? `left cordoned (${kept})` : 'not cordoned';
    const message = cause
      ? `${cause.message}; ${what}; ${end}`
      : `Node/${this.input.node} ${this.purpose === 'drain' ? 'drained' : 'maintained'}: ${what}; ${this.action.message}; ${end}`;
    this.enter('done', message);
    upsertKubeAttributes([{ key: KubeOutcome, value: outcome }]);
    this.durationsMs.total = Date.now() - this.started;
    delete this.durationsMs.done;
    const { escalation } = this;
    const report: NodeMaintenanceReport = {
      outcome,
      cluster: this.cluster,
      node: this.input.node,
      wasCordoned: this.wasCordoned,
      evicted: this.status.evicted,
      bypassed: this.status.bypassed,
      skipped: this.skipped,
      blocked: this.clock.report(Date.now()),
      ...(escalation ? { escalated: { afterMs: escalation.afterMs, channels: escalation.channels } } : {}),
      action: this.action,
      ...(this.ready ? { ready: this.ready } : {}),
      uncordoned,
      ...(kept ? { keptCordoned: kept } : {}),
      ...(cause ? { failure: cause } : {}),
      warnings: this.warnings,
      durationsMs: this.durationsMs,
      message,
    };
    this.status.report = report;
    return report;
  }
}

/** The failure type and message of whatever ended a step (activity failure, timeout, cancellation). */
export function failureOf(err: unknown): { type: string; message: string } {
  if (isCancellation(err)) return { type: 'Cancelled', message: 'cancelled' };
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { type: e.type ?? FailureType.Internal, message: e.message };
  if (e instanceof TimeoutFailure)
    return { type: FailureType.KubeUnavailable, message: `activity ${e.timeoutType} timeout` };
  return { type: FailureType.Internal, message: e instanceof Error ? e.message : String(e) };
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}
