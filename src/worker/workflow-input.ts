/**
 * Reads a workflow run's first argument from its start event, so activities can work on large manifests that
 * are held in history only once (see `INLINE_OBJECTS_LIMIT` in the deploy workflow). Decoding goes through the
 * client's data converter, so an encrypting payload codec is honoured. A small cache serves the activities of
 * one deploy (plan, apply per stage) with one read.
 * @module
 */
import type { Client } from '@temporalio/client';
// The SDK's own helper for "payloads → value through converter and codecs".
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';

/** How many runs' inputs are kept decoded. */
export const WORKFLOW_INPUT_CACHE_SIZE = 8;

/** Returns a reader of workflow start inputs over `client`. */
export function workflowInputReader(client: Client): (ref: { workflowId: string; runId: string }) => Promise<unknown> {
  const cache = new Map<string, Promise<unknown>>();
  return (ref) => {
    const key = `${ref.workflowId}/${ref.runId}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = read(client, ref);
      cache.set(key, hit);
      hit.catch(() => cache.delete(key));
      while (cache.size > WORKFLOW_INPUT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    }
    return hit;
  };
}

async function read(client: Client, ref: { workflowId: string; runId: string }): Promise<unknown> {
  const res = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: ref.workflowId, runId: ref.runId },
    maximumPageSize: 1,
  });
  const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new Error(`workflow ${ref.workflowId} run ${ref.runId}: no start event in history`);
  return decodeFromPayloadsAtIndex(client.options.loadedDataConverter, 0, started.input?.payloads);
}
