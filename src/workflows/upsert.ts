/**
 * Search attribute upserts that never send an empty command.
 * @module
 */
import { upsertSearchAttributes } from '@temporalio/workflow';

/**
 * Upserts the given typed search attributes, skipping the call when there are none (the server rejects an
 * empty upsert, which would fail the workflow task and leave the run stuck).
 */
export function upsertKubeAttributes(pairs: Parameters<typeof upsertSearchAttributes>[0] & unknown[]): void {
  if (pairs.length) upsertSearchAttributes(pairs);
}
