/**
 * Bounded concurrency for the calls within one apply stage.
 * @module
 */

/** Default number of concurrent API calls within a stage. */
export const DEFAULT_APPLY_CONCURRENCY = 16;

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, preserving order. Every item is attempted;
 * failures are collected and returned alongside the successes, so one bad object does not hide the others.
 */
export async function mapSettledLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i] as T, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
