/**
 * The monitor's incident state machine (src/domain/incidents.ts) driven through timelines: what is observed at
 * which second, and which alerts each tick decides. Effects are written `<kind> <dedupe key>`, so a timeline's
 * expected log reads like the page a person would get.
 */
import { describe, expect, it } from 'vitest';
import {
  AlertKind,
  alertEvent,
  carryOver,
  dedupeKey,
  describeIncidents,
  keepAliveOnly,
  nextDeadline,
  NO_LONGER_MONITORED,
  observe,
  restoreIncidents,
  setPaused,
  summarize,
  tick,
  transition,
  type AlertEffect,
  type CarriedIncidents,
  type HealthChange,
  type IncidentRules,
  type IncidentState,
} from '../../src/domain/incidents.js';

const WF = 'monitor/shop';
const WEB = 'Deployment/shop/web';
const API = 'Deployment/shop/api';
const T0 = Date.UTC(2026, 0, 1);
const rules = (overrides: Partial<IncidentRules> = {}): IncidentRules => ({
  workflowId: WF,
  forSeconds: 60,
  keepAliveSeconds: 120,
  ...overrides,
});
const ms = (seconds: number): number => T0 + seconds * 1000;
const log = (effects: AlertEffect[]): string[] => effects.map((e) => `${e.kind} ${e.dedupKey}`);

/** A monitor's incident state driven through time, the way the workflow drives it. */
class Timeline {
  state: IncidentState;
  now = 0;
  constructor(
    readonly rules: IncidentRules,
    carried?: CarriedIncidents,
  ) {
    this.state = restoreIncidents(carried);
  }
  at(seconds: number): this {
    this.now = seconds;
    return this;
  }
  /** Observes health (`true` healthy, `false` or a message unhealthy), then ticks: one streamed batch. */
  see(health: Record<string, boolean | string>, more: Partial<HealthChange> = {}): string[] {
    const observations = Object.entries(health).map(([key, h]) => ({
      key,
      healthy: h === true,
      message: typeof h === 'string' ? h : h ? 'Current Ready: ok' : 'Failed CrashLoopBackOff',
    }));
    return this.apply([{ observations, ...more }]);
  }
  gone(...keys: string[]): string[] {
    return this.apply([{ observations: [], removed: keys }]);
  }
  apply(changes: HealthChange[]): string[] {
    const step = transition(this.state, changes, ms(this.now), this.rules);
    this.state = step.state;
    return log(step.effects);
  }
  /** A timer fired. */
  tick(): string[] {
    const step = tick(this.state, ms(this.now), this.rules);
    this.state = step.state;
    return log(step.effects);
  }
  /** Seconds until the next deadline, as the workflow's timer would be set. */
  deadline(): number | undefined {
    const d = nextDeadline(this.state, ms(this.now), this.rules);
    return d === undefined ? undefined : d / 1000;
  }
  phase(key: string): string | undefined {
    return summarize(this.state).targets.find((t) => t.key === key)?.state;
  }
  /** Ticks every second from now to `seconds` (inclusive), collecting effects with their time. */
  run(seconds: number): string[] {
    const out: string[] = [];
    for (let s = this.now + 1; s <= seconds; s += 1)
      out.push(
        ...this.at(s)
          .tick()
          .map((e) => `${s}s ${e}`),
      );
    return out;
  }
}

describe('for windows', () => {
  it('a new healthy target is healthy and nothing is due', () => {
    const m = new Timeline(rules());
    expect(m.at(0).see({ [WEB]: true })).toEqual([]);
    expect(m.phase(WEB)).toBe('healthy');
    expect(m.deadline()).toBeUndefined();
  });

  it('an unhealthy target is pending, and its window ends forSeconds after it turned', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: true });
    expect(m.at(10).see({ [WEB]: false })).toEqual([]);
    expect(m.phase(WEB)).toBe('pending');
    expect(m.at(25).deadline()).toBe(45);
  });

  it('a pending target that recovers before forSeconds never alerts', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: true });
    m.at(10).see({ [WEB]: false });
    expect(m.run(69)).toEqual([]);
    expect(m.at(69).see({ [WEB]: true })).toEqual([]);
    expect(m.run(600)).toEqual([]);
    expect(m.phase(WEB)).toBe('healthy');
    expect(summarize(m.state).targets[0]?.incidents).toBe(0);
  });

  it('a pending target that stays unhealthy for forSeconds triggers exactly once', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: true });
    m.at(10).see({ [WEB]: false });
    expect(m.run(119)).toEqual([`70s trigger ${WF}/${WEB}/1`]);
    expect(m.phase(WEB)).toBe('degraded');
  });

  it('the window is measured from the last flip: a flapping target alerts only after it stays down', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: true });
    m.at(10).see({ [WEB]: false });
    m.at(50).see({ [WEB]: true });
    m.at(55).see({ [WEB]: false });
    m.at(100).see({ [WEB]: true });
    m.at(105).see({ [WEB]: false });
    expect(m.run(170)).toEqual([`165s trigger ${WF}/${WEB}/1`]);
  });

  it('an unhealthy message change does not restart the window', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: 'InProgress Progressing: 1/2 ready' });
    m.at(30).see({ [WEB]: 'Failed CrashLoopBackOff' });
    expect(m.run(60)).toEqual([`60s trigger ${WF}/${WEB}/1`]);
  });

  it('with forSeconds 0 the first tick after the change triggers', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    expect(m.at(0).see({ [WEB]: false })).toEqual([`trigger ${WF}/${WEB}/1`]);
  });

  it('changes that arrive together are all recorded before the one tick: a flap inside a batch is no alert', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    m.at(0).see({ [WEB]: true });
    const down = { observations: [{ key: WEB, healthy: false, message: 'down' }] };
    const up = { observations: [{ key: WEB, healthy: true, message: 'up' }] };
    expect(m.at(5).apply([down, up])).toEqual([]);
  });

  it('observing alone never alerts: time decides', () => {
    const state = observe(restoreIncidents(), { observations: [{ key: WEB, healthy: false, message: 'x' }] }, ms(0));
    expect(tick(state, ms(59), rules()).effects).toEqual([]);
    expect(log(tick(state, ms(60), rules()).effects)).toEqual([`trigger ${WF}/${WEB}/1`]);
  });
});

describe('incidents', () => {
  it('recovery resolves the incident once, with the trigger’s dedupe key', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: false });
    m.run(60);
    expect(m.at(90).see({ [WEB]: true })).toEqual([`resolve ${WF}/${WEB}/1`]);
    expect(m.run(1000)).toEqual([]);
    expect(m.phase(WEB)).toBe('healthy');
    expect(m.deadline()).toBeUndefined();
  });

  it('each new degradation of a target is a new incident: numbering continues per target', () => {
    const m = new Timeline(rules({ forSeconds: 10 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    expect(m.run(10)).toEqual([`10s trigger ${WF}/${WEB}/1`]);
    m.at(20).see({ [WEB]: true });
    m.at(30).see({ [WEB]: false, [API]: false });
    expect(m.run(40)).toEqual([`40s trigger ${WF}/${WEB}/2`, `40s trigger ${WF}/${API}/1`]);
    expect(m.at(50).see({ [WEB]: true, [API]: true })).toEqual([`resolve ${WF}/${WEB}/2`, `resolve ${WF}/${API}/1`]);
  });

  it('effects come out in the order targets were first seen', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    m.at(0).see({ [API]: true, [WEB]: true });
    expect(m.at(1).see({ [WEB]: false, [API]: false })).toEqual([`trigger ${WF}/${API}/1`, `trigger ${WF}/${WEB}/1`]);
  });

  it('dedupe keys are `<workflowId>/<target>/<n>`, cut to 255 characters', () => {
    expect(dedupeKey(WF, WEB, 3)).toBe('monitor/shop/Deployment/shop/web/3');
    expect(dedupeKey(WF, `Deployment/shop/${'a'.repeat(300)}`, 1)).toHaveLength(255);
  });

  it('tick never changes the state it is given', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: false });
    const before = structuredClone(carryOver(m.state));
    tick(m.state, ms(600), m.rules);
    expect(carryOver(m.state)).toEqual(before);
  });
});

describe('keep-alive and reminders', () => {
  /** A timeline whose target degrades at 0 s (forSeconds 0): its incident is open from the start. */
  const degradedAtZero = (overrides: Partial<IncidentRules>): Timeline => {
    const m = new Timeline(rules({ forSeconds: 0, ...overrides }));
    m.at(0).see({ [WEB]: false });
    return m;
  };

  it('an open incident is re-sent to expiring channels every keepAliveSeconds, with its own dedupe key', () => {
    const m = new Timeline(rules({ forSeconds: 0, keepAliveSeconds: 120 }));
    m.at(0).see({ [WEB]: false });
    expect(m.deadline()).toBe(120);
    expect(m.run(400)).toEqual([
      `120s keepAlive ${WF}/${WEB}/1`,
      `240s keepAlive ${WF}/${WEB}/1`,
      `360s keepAlive ${WF}/${WEB}/1`,
    ]);
  });

  it('a keep-alive that is overdue (the timer fired late) is sent at once and the next is counted from then', () => {
    const m = new Timeline(rules({ forSeconds: 0, keepAliveSeconds: 120 }));
    m.at(0).see({ [WEB]: false });
    expect(m.at(500).deadline()).toBe(0);
    expect(m.tick()).toEqual([`keepAlive ${WF}/${WEB}/1`]);
    expect(m.deadline()).toBe(120);
  });

  it('a reminder goes to every channel when remindEverySeconds has passed since the last one', () => {
    const m = degradedAtZero({ keepAliveSeconds: 600, remindEverySeconds: 300 });
    expect(m.deadline()).toBe(300);
    expect(m.run(900)).toEqual([
      `300s reminder ${WF}/${WEB}/1`,
      `600s reminder ${WF}/${WEB}/1`,
      `900s reminder ${WF}/${WEB}/1`,
    ]);
  });

  it('reminders keep their own clock: keep-alives in between do not postpone them (remind > keepAlive)', () => {
    const m = degradedAtZero({ keepAliveSeconds: 120, remindEverySeconds: 300 });
    expect(m.deadline()).toBe(120);
    expect(m.run(720)).toEqual([
      `120s keepAlive ${WF}/${WEB}/1`,
      `240s keepAlive ${WF}/${WEB}/1`,
      `300s reminder ${WF}/${WEB}/1`,
      `420s keepAlive ${WF}/${WEB}/1`,
      `540s keepAlive ${WF}/${WEB}/1`,
      `600s reminder ${WF}/${WEB}/1`,
      `720s keepAlive ${WF}/${WEB}/1`,
    ]);
  });

  it('with the legacy reminder clock (runs started before it) keep-alives postpone reminders, as they did', () => {
    const m = degradedAtZero({ keepAliveSeconds: 120, remindEverySeconds: 300, legacyReminderClock: true });
    expect(m.run(720)).toEqual([120, 240, 360, 480, 600, 720].map((s) => `${s}s keepAlive ${WF}/${WEB}/1`));
  });

  it('the reminder clock survives continue-as-new: the next run reminds on time', () => {
    const m = degradedAtZero({ keepAliveSeconds: 120, remindEverySeconds: 300 });
    m.run(299);
    const next = new Timeline(m.rules, JSON.parse(JSON.stringify(carryOver(m.state))) as CarriedIncidents);
    expect(next.at(299).deadline()).toBe(1);
    expect(next.run(420)).toEqual([`300s reminder ${WF}/${WEB}/1`, `420s keepAlive ${WF}/${WEB}/1`]);
  });

  it('the next deadline is the earlier of the keep-alive and the reminder', () => {
    const m = degradedAtZero({ keepAliveSeconds: 120, remindEverySeconds: 300 });
    m.run(240);
    expect(m.deadline()).toBe(60); // the reminder at 300 s, before the keep-alive at 360 s
  });

  it('a reminder and a keep-alive due together are one reminder (it reaches the expiring channels too)', () => {
    const m = new Timeline(rules({ forSeconds: 0, keepAliveSeconds: 120, remindEverySeconds: 120 }));
    m.at(0).see({ [WEB]: false });
    const step = tick(m.state, ms(120), m.rules);
    expect(step.effects.map((e) => [e.kind, keepAliveOnly(e)])).toEqual([[AlertKind.Reminder, false]]);
  });

  it('a keep-alive goes only to channels that expire alerts; trigger and resolve go everywhere', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    const fire = tick(
      observe(m.state, { observations: [{ key: WEB, healthy: false, message: 'x' }] }, ms(0)),
      ms(0),
      m.rules,
    );
    const keep = tick(fire.state, ms(120), m.rules);
    expect([...fire.effects, ...keep.effects].map(keepAliveOnly)).toEqual([false, true]);
  });
});

describe('pause', () => {
  it('while paused nothing fires and no deadline is due; an open incident stays open', () => {
    const m = new Timeline(rules({ forSeconds: 60 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    m.run(60);
    m.at(70).see({ [API]: false });
    m.state = setPaused(m.state, true);
    expect(m.deadline()).toBeUndefined();
    expect(m.run(3600)).toEqual([]);
    expect(m.phase(WEB)).toBe('degraded');
    expect(m.phase(API)).toBe('pending');
  });

  it('resuming applies what came due while paused at the next tick', () => {
    const m = new Timeline(rules({ forSeconds: 60 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    m.run(60);
    m.at(70).see({ [API]: false });
    m.state = setPaused(m.state, true);
    m.run(3600);
    m.state = setPaused(m.state, false);
    expect(m.deadline()).toBe(0);
    expect(m.tick()).toEqual([`keepAlive ${WF}/${WEB}/1`, `trigger ${WF}/${API}/1`]);
  });

  it('setting the same pause again returns the same state', () => {
    const s = restoreIncidents();
    expect(setPaused(s, false)).toBe(s);
    expect(setPaused(setPaused(s, true), true).paused).toBe(true);
  });

  it('the current details say paused and name the degraded targets', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    expect(describeIncidents(setPaused(m.state, true))).toBe(
      `**paused** — 2 targets: 1 healthy, 0 pending, 1 degraded\n\ndegraded: ${WEB}`,
    );
  });
});

describe('targets that disappear', () => {
  it('a removed target with an open incident resolves it, as no longer monitored', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    expect(m.at(30).gone(WEB)).toEqual([`resolve ${WF}/${WEB}/1`]);
    const web = summarize(m.state).targets.find((t) => t.key === WEB);
    expect(web).toMatchObject({ state: 'healthy', message: NO_LONGER_MONITORED, incidents: 1 });
    expect(m.run(1000)).toEqual([]);
    // the next round's observation reports it gone again: now it is forgotten
    m.gone(WEB);
    expect(m.phase(WEB)).toBeUndefined();
  });

  it('a removed target without an incident is forgotten at once, pending or not', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: false, [API]: true });
    expect(m.at(10).gone(WEB, API, 'http:unknown')).toEqual([]);
    expect(summarize(m.state).targets).toEqual([]);
    expect(m.run(600)).toEqual([]);
  });

  it('a full snapshot without a target is its removal', () => {
    const m = new Timeline(rules({ forSeconds: 0 }));
    m.at(0).see({ [WEB]: false, [API]: true });
    expect(m.at(30).see({ [API]: true }, { full: true })).toEqual([`resolve ${WF}/${WEB}/1`]);
  });

  it('`removed` is ignored in a full snapshot: what it lists is what exists', () => {
    const m = new Timeline(rules());
    m.at(0).see({ [WEB]: true });
    m.at(1).see({ [WEB]: true }, { full: true, removed: [WEB] });
    expect(m.phase(WEB)).toBe('healthy');
  });
});

describe('continue-as-new', () => {
  /** A monitor mid-flight: one open incident (second of its target), one pending target, one healthy. */
  function midFlight(): Timeline {
    const m = new Timeline(rules({ forSeconds: 60, keepAliveSeconds: 120, remindEverySeconds: 900 }));
    m.at(0).see({ [WEB]: false, [API]: true, 'http:site': true });
    m.run(60);
    m.at(100).see({ [WEB]: true });
    m.at(200).see({ [WEB]: false });
    m.run(260);
    m.at(300).see({ [API]: false });
    m.state = setPaused(m.state, false);
    return m;
  }

  it('the carried state is plain JSON and restores to the same state', () => {
    const m = midFlight();
    const carried = JSON.parse(JSON.stringify(carryOver(m.state))) as CarriedIncidents;
    expect(carried.targets.map((t) => [t.key, t.incidents, t.open?.number])).toEqual([
      [WEB, 2, 2],
      [API, 0, undefined],
      ['http:site', 0, undefined],
    ]);
    expect(carryOver(restoreIncidents(carried))).toEqual(carryOver(m.state));
  });

  it('a restored state decides the same effects at the same times as the original', () => {
    const original = midFlight();
    const restored = new Timeline(
      original.rules,
      JSON.parse(JSON.stringify(carryOver(original.state))) as CarriedIncidents,
    );
    restored.at(original.now);
    const script = (m: Timeline) => [
      ...m.run(399),
      ...m.at(400).see({ 'http:site': false }),
      ...m.run(2000),
      ...m.at(2100).see({ [WEB]: true, [API]: true }),
      m.deadline(),
    ];
    const expected = script(original);
    expect(script(restored)).toEqual(expected);
    expect(expected).toContain(`360s trigger ${WF}/${API}/1`);
    expect(expected).toContain(`resolve ${WF}/${WEB}/2`);
  });

  it('an open incident is neither re-fired nor lost; the next one is numbered after it', () => {
    const carried = carryOver(midFlight().state);
    const m = new Timeline(rules({ forSeconds: 60 }), carried);
    m.at(261);
    expect(m.tick()).toEqual([]);
    expect(m.at(500).tick()).toEqual([`keepAlive ${WF}/${WEB}/2`, `trigger ${WF}/${API}/1`]);
    expect(m.at(501).tick()).toEqual([]);
    expect(m.at(600).see({ [WEB]: true })).toEqual([`resolve ${WF}/${WEB}/2`]);
    m.at(700).see({ [WEB]: false });
    expect(m.run(760)).toEqual([`760s trigger ${WF}/${WEB}/3`]);
  });

  it('the carried state keeps the pause, and a fresh start has none', () => {
    expect(carryOver(setPaused(restoreIncidents(), true))).toEqual({ targets: [], paused: true });
    expect(restoreIncidents()).toEqual({ targets: new Map(), paused: false });
  });
});

describe('alert events', () => {
  const context = { workflowId: WF, monitor: 'shop', severity: 'critical' as const };
  function fired(): { trigger: AlertEffect; resolve: AlertEffect } {
    const m = new Timeline(rules({ forSeconds: 0 }));
    const a = transition(
      m.state,
      [{ observations: [{ key: WEB, healthy: false, message: 'Failed: crash' }] }],
      ms(5),
      m.rules,
    );
    const b = transition(
      a.state,
      [{ observations: [{ key: WEB, healthy: true, message: 'Current' }] }],
      ms(65),
      m.rules,
    );
    return { trigger: a.effects[0] as AlertEffect, resolve: b.effects[0] as AlertEffect };
  }

  it('a trigger says what is degraded and why, labelled with monitor, target and incident', () => {
    expect(alertEvent(fired().trigger, { ...context, url: 'http://ui/monitor' })).toEqual({
      action: 'trigger',
      dedupKey: `${WF}/${WEB}/1`,
      summary: `${WEB} is degraded: Failed: crash`,
      source: WEB,
      severity: 'critical',
      startsAt: new Date(ms(5)).toISOString(),
      labels: { monitor: 'shop', target: WEB, incident: '1' },
      details: { message: 'Failed: crash', workflowId: WF },
      url: 'http://ui/monitor',
    });
  });

  it('a resolve carries the incident’s start and its end, and no url when none is set', () => {
    const event = alertEvent(fired().resolve, context);
    expect(event).toMatchObject({
      action: 'resolve',
      dedupKey: `${WF}/${WEB}/1`,
      summary: `${WEB} recovered`,
      startsAt: new Date(ms(5)).toISOString(),
      endsAt: new Date(ms(65)).toISOString(),
    });
    expect(event).not.toHaveProperty('url');
  });
});
