/**
 * coalesce (health watches): the first event of a burst is assessed at once (one timer tick later), a burst is
 * assessed once with its latest state, an expensive assessment spaces the next ones by twice its cost, never
 * more than maxDelayMs, and a cheap one by COALESCE_MIN_GAP_MS at least.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COALESCE_MIN_GAP_MS, coalesce } from '../../src/activities/related.js';

describe('coalesce', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A clock the test moves: fake timers' time plus what each run "costs". */
  function clock(): { now: () => number; spend: (ms: number) => void } {
    let extra = 0;
    return { now: () => Date.now() + extra, spend: (ms) => (extra += ms) };
  }

  it('runs the first call of a quiet period on the next tick, with the latest arguments of its burst', () => {
    const c = clock();
    const seen: number[] = [];
    const f = coalesce((n: number) => seen.push(n), 100, c.now);
    f(1);
    f(2);
    f(3);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([3]);
    vi.advanceTimersByTime(10_000);
    f(4); // quiet since: at once again
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([3, 4]);
  });

  it('spaces runs by twice the cost of the last one, at most maxDelayMs', () => {
    const c = clock();
    const at: number[] = [];
    const f = coalesce(
      () => {
        at.push(c.now());
        c.spend(20); // each run costs 20 ms
      },
      100,
      c.now,
    );
    const start = c.now();
    f();
    vi.advanceTimersByTime(1);
    f(); // arrives while the next run must wait 40 ms after the end of the first (which ended 20 ms after it began)
    vi.advanceTimersByTime(37);
    expect(at).toHaveLength(1);
    vi.advanceTimersByTime(30);
    expect(at).toHaveLength(2);
    expect((at[1] ?? 0) - start).toBeGreaterThanOrEqual(20 + 40);

    const slow = clock();
    let runs = 0;
    const g = coalesce(
      () => {
        runs++;
        slow.spend(500); // a very costly run: the gap is capped at maxDelayMs
      },
      100,
      slow.now,
    );
    g();
    vi.advanceTimersByTime(1);
    g();
    vi.advanceTimersByTime(98);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(2);
    expect(runs).toBe(2);
  });

  it(`keeps at least ${COALESCE_MIN_GAP_MS} ms between runs of a cheap function while events keep coming`, () => {
    const c = clock();
    const at: number[] = [];
    const f = coalesce(() => at.push(c.now()), 100, c.now); // costs nothing
    f();
    vi.advanceTimersByTime(1);
    expect(at).toHaveLength(1);
    // an event every millisecond for 200 ms: runs at most every COALESCE_MIN_GAP_MS, the last state always run
    for (let i = 0; i < 200; i++) {
      f();
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(COALESCE_MIN_GAP_MS);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(COALESCE_MIN_GAP_MS);
    expect(at.length).toBeLessThanOrEqual(2 + Math.ceil(200 / COALESCE_MIN_GAP_MS));
    expect(at.at(-1)).toBeGreaterThanOrEqual(200); // the burst's last event was run
  });

  it('cancel drops a pending run; flush runs it now', () => {
    const seen: string[] = [];
    const f = coalesce((s: string) => seen.push(s));
    f('a');
    f.cancel();
    vi.advanceTimersByTime(1_000);
    expect(seen).toEqual([]);
    f('b');
    f.flush();
    expect(seen).toEqual(['b']);
  });
});
