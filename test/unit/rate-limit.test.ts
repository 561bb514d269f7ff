import type * as timersPromises from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from '../../src/kube/rate-limit.js';

// Fake timers move the bucket's clock (`performance.now`) and fire its sleeps together: time passes only when a
// test advances it. The bucket sleeps with `node:timers/promises`, which vitest's fake timers leave real: its
// `setTimeout` is routed to the global (faked) one.
vi.mock('node:timers/promises', async (importOriginal) => ({
  ...(await importOriginal<typeof timersPromises>()),
  setTimeout: (ms: number) => new Promise<void>((resolve) => globalThis.setTimeout(resolve, ms)),
}));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Calls `take()` `n` times and records which grants have arrived, in arrival order. */
function takeMany(
  bucket: TokenBucket,
  n: number,
  label = (i: number) => String(i),
): { granted: string[]; takes: Promise<void>[]; all: Promise<void> } {
  const granted: string[] = [];
  const takes = Array.from({ length: n }, (_, i) => bucket.take().then(() => void granted.push(label(i))));
  return { granted, takes, all: Promise.all(takes).then(() => undefined) };
}

/** Moves the clock by `ms`, running the sleeps that come due and every promise they settle. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

describe('TokenBucket', () => {
  it('defaults to 200 requests per second with a burst of 400', () => {
    expect([DEFAULT_QPS, DEFAULT_BURST]).toEqual([200, 400]);
  });

  it('grants the whole burst at once without the clock moving', async () => {
    const bucket = new TokenBucket(1000, 5);
    const { granted } = takeMany(bucket, 5);
    await advance(0);
    expect(granted).toHaveLength(5);
  });

  it('holds the request after the burst until the clock has refilled a token', async () => {
    const bucket = new TokenBucket(1, 2);
    const { granted } = takeMany(bucket, 3);
    await advance(999); // one token takes 1 s at 1 qps
    expect(granted).toEqual(['0', '1']);
    await advance(1);
    expect(granted).toEqual(['0', '1', '2']);
  });

  it('grants the waiting request once the clock has moved by one token interval', async () => {
    const bucket = new TokenBucket(1000, 2);
    const { granted, all } = takeMany(bucket, 3);
    await advance(1); // 1 ms at 1000 qps = one token
    await all;
    expect(granted).toEqual(['0', '1', '2']);
  });

  it('refills qps tokens per second: 3 ms at 1000 qps lets exactly 3 more requests through', async () => {
    const bucket = new TokenBucket(1000, 5);
    const burst = Promise.all(Array.from({ length: 5 }, () => bucket.take()));
    await advance(0);
    await burst;
    const { granted } = takeMany(bucket, 4);
    await advance(3);
    expect(granted).toEqual(['0', '1', '2']);
  });

  it('never saves up more than the burst, however long it was idle', async () => {
    const bucket = new TokenBucket(1000, 2);
    const burst = Promise.all([bucket.take(), bucket.take()]);
    await advance(0);
    await burst;
    await advance(60_000);
    const { granted } = takeMany(bucket, 3);
    await advance(0);
    expect(granted).toEqual(['0', '1']);
  });

  it('grants waiting requests in the order they asked (FIFO)', async () => {
    const bucket = new TokenBucket(1000, 3);
    const burst = Promise.all([bucket.take(), bucket.take(), bucket.take()]);
    await advance(0);
    await burst;
    const { granted, all } = takeMany(bucket, 3, (i) => ['first', 'second', 'third'][i] ?? '?');
    await advance(3); // three tokens become available
    await all;
    expect(granted).toEqual(['first', 'second', 'third']);
  });

  it('grants a burst in the order the requests were made', async () => {
    const bucket = new TokenBucket(1000, 4);
    const { granted, all } = takeMany(bucket, 4, (i) => `req${i}`);
    await advance(0);
    await all;
    expect(granted).toEqual(['req0', 'req1', 'req2', 'req3']);
  });
});
