/**
 * A token bucket for client-side request rate limiting. `@kubernetes/client-node` has none; without one a
 * large deploy floods the API server and meets API Priority & Fairness 429s.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Default sustained requests per second to one API server. High enough that a 500-object deploy plans and applies
 * in seconds; the API server's own priority & fairness still protects it, and 429 Retry-After is honoured.
 */
export const DEFAULT_QPS = 200;
/** Default burst above the sustained rate. */
export const DEFAULT_BURST = 400;

/** Token bucket: `take()` resolves when a request may go. FIFO under contention. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  /** Takes not yet granted. */
  private waiting = 0;

  constructor(
    private readonly qps: number = DEFAULT_QPS,
    private readonly burst: number = DEFAULT_BURST,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** True when a `take()` now would be granted without waiting (a token is there and nobody queues before it). */
  ready(): boolean {
    return this.waiting === 0 && this.tokensAt(this.now()) >= 1;
  }

  /** Waits for one token. */
  take(): Promise<void> {
    this.waiting++;
    const next = this.queue.then(() => this.waitForToken()).finally(() => this.waiting--);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The tokens there are at time `t`: what is left, refilled at `qps` since the last take, at most `burst`. */
  private tokensAt(t: number): number {
    return Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const t = this.now();
      this.tokens = this.tokensAt(t);
      this.last = t;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.qps) * 1000));
    }
  }
}
