/**
 * The monitor's incident state machine, one per target, as pure functions over explicit state:
 *
 *   healthy ──unhealthy──▶ pending ──unhealthy for forSeconds──▶ degraded ──healthy──▶ healthy
 *      ▲                      │                                 (trigger)  │  (resolve)
 *      └──────healthy─────────┘ (no alert)                                 └─ keep-alive / reminder while open
 *
 * Contract:
 * - Observations only record health ({@link observe}); time decides ({@link tick}): a target is degraded when it
 *   has been unhealthy for `forSeconds` (the monitor's, or the target's own window when its observation carries
 *   one, as a resource threshold's `for` does), whatever woke the caller (a streamed change, a timer). So a target that
 *   flaps back inside its window never alerts, and one that stays alerts once.
 * - Every incident has a stable dedupe key `<workflowId>/<target>/<n>` ({@link dedupeKey}), `n` counting the
 *   target's incidents: the trigger, its keep-alives and reminders and its resolve share it, and the next
 *   degradation of the same target gets `n + 1`. Channels use it to collapse retries into one page.
 * - {@link tick} returns the new state and the alerts to send ({@link AlertEffect}), in target order; it never
 *   mutates its input. No clock and no I/O: `now` (epoch ms, workflow time) is passed in, so the same inputs give
 *   the same outputs — safe in workflow code, and testable with fixtures.
 * - Paused ({@link setPaused}): nothing fires and no deadline is due; open incidents stay open.
 * - A target that disappears (deleted object, removed target) with an open incident is marked recovered ("no
 *   longer monitored") so that the next tick resolves it; without one it is forgotten at once.
 * - Continue-as-new carries {@link carryOver}'s plain JSON, and {@link restoreIncidents} rebuilds an equal state:
 *   an open incident keeps its number and is neither re-fired nor lost.
 * @module
 */
import type { AlertEventData, Severity, TargetState } from '../schemas/monitor.js';

/** The rules the machine applies (from the monitor's input). */
export interface IncidentRules {
  /** The monitor's workflow id: the first part of every dedupe key, the same across continue-as-new. */
  workflowId: string;
  /** Seconds a target must stay unhealthy before it is degraded and alerts (anti-flapping). */
  forSeconds: number;
  /** Seconds between re-sends of an open incident to channels that expire alerts (Alertmanager). */
  keepAliveSeconds: number;
  /** Seconds between reminders of an open incident to every channel; never when absent. */
  remindEverySeconds?: number | undefined;
  /**
   * Count reminders from the last send of any kind, keep-alives included, as runs started before the reminder
   * clock did (they replay with it; a keep-alive more frequent than the reminder then postponed it for good).
   * Default: reminders count from the last reminder, or from when the incident fired.
   */
  legacyReminderClock?: boolean | undefined;
}

/** Every target's state, by key in first-seen order (the order effects come out in), and whether paused. */
export interface IncidentState {
  readonly targets: ReadonlyMap<string, Readonly<TargetState>>;
  readonly paused: boolean;
}

/** What continue-as-new carries in the input's `state` field: plain JSON. */
export interface CarriedIncidents {
  targets: TargetState[];
  paused: boolean;
}

/** One target's health as the observation reports it. */
export interface ObservedHealth {
  /** Target key: `Deployment/ns/name`, `http:<id>`, `prom:<id>`. */
  key: string;
  healthy: boolean;
  message: string;
  /** The target's own `for` window in seconds (a resource threshold's `for`); absent: the monitor's. */
  forSeconds?: number | undefined;
}

/** What the observation reports at once: changed targets, or (with `full`) every current one. */
export interface HealthChange {
  observations: readonly ObservedHealth[];
  /** Keys no longer observed (object deleted, target removed). Ignored when `full`. */
  removed?: readonly string[] | undefined;
  /** `observations` is everything observed now: a target not in it has disappeared. */
  full?: boolean | undefined;
}

/** Where a target stands, as the status query and the UI show it. */
export const TargetPhase = {
  /** Healthy, no open incident. */
  Healthy: 'healthy',
  /** Unhealthy for less than `forSeconds`: no alert yet. */
  Pending: 'pending',
  /** An incident is open (until a tick sees the target healthy again). */
  Degraded: 'degraded',
} as const;
/** One of {@link TargetPhase}. */
export type TargetPhase = (typeof TargetPhase)[keyof typeof TargetPhase];

/** Why an alert is sent. */
export const AlertKind = {
  /** A target became degraded: a new incident fires. */
  Trigger: 'trigger',
  /** The open incident is re-sent to channels that expire alerts unless re-sent (Alertmanager) only. */
  KeepAlive: 'keepAlive',
  /** The open incident is re-sent to every channel (`remindEverySeconds`). */
  Reminder: 'reminder',
  /** The target recovered (or is no longer monitored): the incident is resolved. */
  Resolve: 'resolve',
} as const;
/** One of {@link AlertKind}. */
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

/** An alert to send, as of the tick that decided it. */
export interface AlertEffect {
  kind: AlertKind;
  /** Target key. */
  target: string;
  /** The incident's number for this target (1, 2, …). */
  incident: number;
  /** `<workflowId>/<target>/<incident>`, at most 255 characters. */
  dedupKey: string;
  /** The target's latest health message. */
  message: string;
  /** When the incident fired (epoch ms). */
  firedAt: number;
  /** When the tick decided this (epoch ms): a resolve's end time. */
  at: number;
}

/** What {@link tick} returns: the next state and the alerts to send, in target order. */
export interface IncidentStep {
  state: IncidentState;
  effects: AlertEffect[];
}

/** What an alert event says besides the incident itself (from the monitor's input). */
export interface AlertContext {
  workflowId: string;
  /** Monitor name (a label on every alert). */
  monitor: string;
  severity: Severity;
  /** Link shown in alerts. */
  url?: string | undefined;
}

/** The longest dedupe key channels accept (PagerDuty's limit). */
export const DEDUPE_KEY_MAX_LENGTH = 255;
/** The message a target that disappeared while degraded resolves with. */
export const NO_LONGER_MONITORED = 'no longer monitored';

/** The state a monitor starts with, or continues with after continue-as-new. */
export function restoreIncidents(carried?: CarriedIncidents): IncidentState {
  return {
    targets: new Map((carried?.targets ?? []).map((t) => [t.key, copyTarget(t)])),
    paused: carried?.paused ?? false,
  };
}

/** The plain JSON continue-as-new carries (deep copies: later changes to the state do not leak into it). */
export function carryOver(state: IncidentState): CarriedIncidents {
  return { targets: [...state.targets.values()].map(copyTarget), paused: state.paused };
}

/** Records observed health. Never alerts by itself: {@link tick} decides at the time it is given. */
export function observe(state: IncidentState, change: HealthChange, now: number): IncidentState {
  const targets = new Map(state.targets);
  for (const o of change.observations) {
    const t = targets.get(o.key);
    const window = o.forSeconds === undefined ? {} : { forSeconds: o.forSeconds };
    if (!t)
      targets.set(o.key, { key: o.key, healthy: o.healthy, since: now, message: o.message, ...window, incidents: 0 });
    else {
      const { forSeconds: _previous, ...rest } = t;
      targets.set(o.key, {
        ...rest,
        ...window,
        healthy: o.healthy,
        message: o.message,
        since: t.healthy !== o.healthy ? now : t.since,
      });
    }
  }
  const seen = new Set(change.observations.map((o) => o.key));
  const gone = change.full ? [...targets.keys()].filter((k) => !seen.has(k)) : (change.removed ?? []);
  for (const key of gone) forget(targets, key);
  return { ...state, targets };
}

/**
 * Applies the machine at `now`: fires incidents whose `for` window has elapsed, resolves those whose target is
 * healthy, re-sends open ones whose keep-alive or reminder is due. Paused: nothing.
 */
export function tick(state: IncidentState, now: number, rules: IncidentRules): IncidentStep {
  if (state.paused) return { state, effects: [] };
  const targets = new Map(state.targets);
  const effects: AlertEffect[] = [];
  for (const t of state.targets.values()) {
    const step = tickTarget(t, now, rules);
    if (!step) continue;
    targets.set(t.key, step.target);
    effects.push(step.effect);
  }
  return { state: effects.length ? { ...state, targets } : state, effects };
}

/** Records every change, then ticks once: what the monitor does when observations arrive. */
export function transition(
  state: IncidentState,
  changes: readonly HealthChange[],
  now: number,
  rules: IncidentRules,
): IncidentStep {
  return tick(
    changes.reduce((s, c) => observe(s, c, now), state),
    now,
    rules,
  );
}

/**
 * Milliseconds from `now` until the next time-based transition (a pending target's `for` window ending, a
 * keep-alive or reminder falling due); 0 when one is overdue; undefined when nothing is waiting on time or paused.
 */
export function nextDeadline(state: IncidentState, now: number, rules: IncidentRules): number | undefined {
  if (state.paused) return undefined;
  const times: number[] = [];
  for (const t of state.targets.values()) {
    if (t.open) times.push(Math.min(t.open.lastSentAt + rules.keepAliveSeconds * 1000, reminderDueAt(t.open, rules)));
    else if (!t.healthy) times.push(t.since + windowOf(t, rules) * 1000);
  }
  return times.length ? Math.max(0, Math.min(...times) - now) : undefined;
}

/** Pauses (no alert fires, no deadline is due, open incidents stay open) or resumes. */
export function setPaused(state: IncidentState, paused: boolean): IncidentState {
  return state.paused === paused ? state : { ...state, paused };
}

/** A target's phase: degraded while an incident is open, else healthy or pending. */
export function targetPhase(t: Readonly<TargetState>): TargetPhase {
  return t.open ? TargetPhase.Degraded : t.healthy ? TargetPhase.Healthy : TargetPhase.Pending;
}

/** Every target with its phase, and how many are in each phase. */
export function summarize(state: IncidentState): {
  targets: (TargetState & { state: TargetPhase })[];
  healthy: number;
  pending: number;
  degraded: number;
} {
  const targets = [...state.targets.values()].map((t) => ({ ...copyTarget(t), state: targetPhase(t) }));
  const count = (phase: TargetPhase): number => targets.filter((t) => t.state === phase).length;
  return {
    targets,
    healthy: count(TargetPhase.Healthy),
    pending: count(TargetPhase.Pending),
    degraded: count(TargetPhase.Degraded),
  };
}

/** One line (plus the degraded keys) saying where the monitor stands, for the workflow's current details. */
export function describeIncidents(state: IncidentState, paused = state.paused): string {
  const s = summarize(state);
  const degraded = s.targets.filter((t) => t.state === TargetPhase.Degraded).map((t) => t.key);
  return (
    `${paused ? '**paused** — ' : ''}${s.targets.length} targets: ${s.healthy} healthy, ${s.pending} pending, ${s.degraded} degraded` +
    (degraded.length ? `\n\ndegraded: ${degraded.join(', ')}` : '')
  );
}

/** The dedupe key of a target's `incident`-th incident: `<workflowId>/<target>/<incident>`, at most 255 characters. */
export function dedupeKey(workflowId: string, target: string, incident: number): string {
  return `${workflowId}/${target}/${incident}`.slice(0, DEDUPE_KEY_MAX_LENGTH);
}

/** Whether an alert goes only to channels that expire alerts unless re-sent (Alertmanager). */
export function keepAliveOnly(effect: AlertEffect): boolean {
  return effect.kind === AlertKind.KeepAlive;
}

/** The alert event channels receive for an effect. */
export function alertEvent(effect: AlertEffect, context: AlertContext): AlertEventData {
  const action = effect.kind === AlertKind.Resolve ? 'resolve' : 'trigger';
  return {
    action,
    dedupKey: effect.dedupKey,
    summary: action === 'trigger' ? `${effect.target} is degraded: ${effect.message}` : `${effect.target} recovered`,
    source: effect.target,
    severity: context.severity,
    startsAt: new Date(effect.firedAt).toISOString(),
    ...(action === 'resolve' ? { endsAt: new Date(effect.at).toISOString() } : {}),
    labels: { monitor: context.monitor, target: effect.target, incident: String(effect.incident) },
    details: { message: effect.message, workflowId: context.workflowId },
    ...(context.url ? { url: context.url } : {}),
  };
}

/** One target's tick: its next state and the alert to send, or undefined when nothing is due. */
function tickTarget(
  t: Readonly<TargetState>,
  now: number,
  rules: IncidentRules,
): { target: TargetState; effect: AlertEffect } | undefined {
  const effect = (kind: AlertKind, incident: number, firedAt: number): AlertEffect => ({
    kind,
    target: t.key,
    incident,
    dedupKey: dedupeKey(rules.workflowId, t.key, incident),
    message: t.message,
    firedAt,
    at: now,
  });
  if (!t.open) {
    if (t.healthy || now - t.since < windowOf(t, rules) * 1000) return undefined;
    const number = t.incidents + 1;
    return {
      target: { ...t, incidents: number, open: { number, firedAt: now, lastSentAt: now } },
      effect: effect(AlertKind.Trigger, number, now),
    };
  }
  const { open } = t;
  if (t.healthy) {
    const { open: _resolved, ...rest } = t;
    return { target: rest, effect: effect(AlertKind.Resolve, open.number, open.firedAt) };
  }
  // A reminder reaches every channel, the expiring ones too: it is also a keep-alive.
  const remind = now >= reminderDueAt(open, rules);
  if (!remind && now - open.lastSentAt < rules.keepAliveSeconds * 1000) return undefined;
  return {
    target: { ...t, open: { ...open, lastSentAt: now, ...(remind ? { lastRemindedAt: now } : {}) } },
    effect: effect(remind ? AlertKind.Reminder : AlertKind.KeepAlive, open.number, open.firedAt),
  };
}

/**
 * When the open incident's next reminder is due (epoch ms; never without `remindEverySeconds`): counted from its
 * last reminder, else from when it fired; with {@link IncidentRules.legacyReminderClock}, from its last send.
 */
function reminderDueAt(open: NonNullable<TargetState['open']>, rules: IncidentRules): number {
  if (rules.remindEverySeconds === undefined) return Infinity;
  const from = rules.legacyReminderClock ? open.lastSentAt : (open.lastRemindedAt ?? open.firedAt);
  return from + rules.remindEverySeconds * 1000;
}

/** Seconds a target must stay unhealthy before it is degraded: its own window, else the monitor's. */
function windowOf(t: Readonly<TargetState>, rules: IncidentRules): number {
  return t.forSeconds ?? rules.forSeconds;
}

/** A target that disappeared: an open incident is marked recovered so that the next tick resolves it. */
function forget(targets: Map<string, Readonly<TargetState>>, key: string): void {
  const t = targets.get(key);
  if (!t) return;
  if (t.open) targets.set(key, { ...t, healthy: true, message: NO_LONGER_MONITORED });
  else targets.delete(key);
}

function copyTarget(t: Readonly<TargetState>): TargetState {
  return { ...t, ...(t.open ? { open: { ...t.open } } : {}) };
}
