import { setImmediate as afterPendingCallbacks, setTimeout as sleep } from 'node:timers/promises';
import { describe, it, expect } from 'vitest';
import { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from '../../src/kube/rate-limit.js';

/**
 * A clock the test moves by hand. The bucket still sleeps on real timers between checks, so with a high qps it
 * polls every millisecond; whether a token is granted depends only on this clock.
 */
class FakeClock {
  ms = 0;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

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

/** Lets every promise that can settle without a timer settle. */
async function settle(): Promise<void> {
  await afterPendingCallbacks();
}

describe('TokenBucket', () => {
  it('defaults to 200 requests per second with a burst of 400', () => {
    expect([DEFAULT_QPS, DEFAULT_BURST]).toEqual([200, 400]);
  });

  it('grants the whole burst at once without the clock moving', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 5, clock.now);
    const { granted } = takeMany(bucket, 5);
    await settle();
    expect(granted).toHaveLength(5);
  });

  it('holds the request after the burst until the clock has refilled a token', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 2, clock.now);
    const { granted, all } = takeMany(bucket, 3);
    await sleep(10); // real time passes, the fake clock does not: the third request must still wait
    expect(granted).toEqual(['0', '1']);
    clock.advance(1_000); // release the waiting request so its polling stops
    await all;
  });

  it('grants the waiting request once the clock has moved by one token interval', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 2, clock.now);
    const { granted, all } = takeMany(bucket, 3);
    await settle();
    clock.advance(1); // 1 ms at 1000 qps = one token
    await all;
    expect(granted).toEqual(['0', '1', '2']);
  });

  it('refills qps tokens per second: 3 ms at 1000 qps lets exactly 3 more requests through', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 5, clock.now);
    await Promise.all(Array.from({ length: 5 }, () => bucket.take()));
    const { granted, takes, all } = takeMany(bucket, 4);
    await settle();
    clock.advance(3);
    await takes[2];
    await sleep(5); // the fourth request polls again but the clock has not moved
    expect(granted).toEqual(['0', '1', '2']);
    clock.advance(1_000);
    await all;
  });

  it('never saves up more than the burst, however long it was idle', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 2, clock.now);
    await Promise.all([bucket.take(), bucket.take()]);
    clock.advance(60_000);
    const { granted, all } = takeMany(bucket, 3);
    await sleep(5);
    expect(granted).toEqual(['0', '1']);
    clock.advance(1_000);
    await all;
  });

  it('grants waiting requests in the order they asked (FIFO)', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 3, clock.now);
    await Promise.all([bucket.take(), bucket.take(), bucket.take()]);
    const { granted, all } = takeMany(bucket, 3, (i) => ['first', 'second', 'third'][i] ?? '?');
    await settle();
    clock.advance(3); // three tokens become available at the same moment
    await all;
    expect(granted).toEqual(['first', 'second', 'third']);
  });

  it('grants a burst in the order the requests were made', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 4, clock.now);
    const { granted, all } = takeMany(bucket, 4, (i) => `req${i}`);
    await all;
    expect(granted).toEqual(['req0', 'req1', 'req2', 'req3']);
  });
});
