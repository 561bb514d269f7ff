/**
 * Process settings the worker image runs with (Dockerfile `ENV`), measured on this project's worker:
 * - `MALLOC_ARENA_MAX=2`: glibc otherwise gives each thread that allocates (Node's, V8's, the Temporal core's tokio
 *   threads) a malloc arena of its own, and memory freed in one is not reused by another;
 * - `NODE_OPTIONS=--max-semi-space-size=2`: V8's young generation is committed up to 16 MB per semi-space in each
 *   isolate (the main one and the workflow thread's); 2 MB keeps scavenges short without the growth.
 *
 * Together they take an idle worker (after `/readyz`, nothing to do) from about 246 MB to 200 MB resident on the
 * local stack; 1 MB semi-spaces saved nothing more, 4 MB gave back 8 MB. The monitor benchmark runs its worker
 * process with the same environment, so its RSS is the image's. Processes you start yourself may set them too.
 * @module
 */

/** Environment of the worker process in the image (Dockerfile `ENV`) and in the monitor benchmark. */
export const WORKER_PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  NODE_OPTIONS: '--max-semi-space-size=2',
};
