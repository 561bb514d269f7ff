/**
 * Reading workflow histories in tests and benchmarks: every payload, wherever it sits (start input, activity
 * inputs and results, signals, markers), to check what a workflow keeps in Temporal.
 */

/** The data of every payload anywhere in `node` (a history, or any part of one), in document order. */
export function historyPayloads(node: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return out;
  const rec = node as Record<string, unknown>;
  if (rec.data instanceof Uint8Array && rec.metadata) out.push(rec.data);
  for (const v of Object.values(rec)) historyPayloads(v, out);
  return out;
}
