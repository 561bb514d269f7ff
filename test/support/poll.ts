/**
 * Waiting for a condition in tests, never for a fixed time: `pollUntil` reads until the value satisfies `done`,
 * `waitFor` until a check holds.
 * @module
 */
import { expect } from 'vitest';

/**
 * Calls `read` every 200 ms until `done(value)` holds and returns that value; read errors count as "not yet" (the
 * first workflow task may not have run). Throws after `timeoutMs` with the last value seen.
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch {
      // not readable yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
}

/** Polls `check` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 50, message: `timed out waiting for ${what}` }).toBe(true);
}
