/**
 * Formatting and the run's results folder, without the stack and worker imports of support.ts, so the summary
 * (bench/summary.ts, loaded by vitest's main process) stays light.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A plain-text table with right-aligned columns (the first one left-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Seconds with two decimals. */
export const secs = (ms: number): string => (ms / 1000).toFixed(2);

/**
 * Where each benchmark writes the results of the current run, whatever its sizes (`<name>.json`), for the summary
 * table printed at the end of `npm run bench` (bench/summary.ts). Emptied when a bench run starts.
 */
export const RUN_RESULTS_DIR = join(tmpdir(), 'kube-workflows-bench-run');

/** Writes one benchmark's results of this run to {@link RUN_RESULTS_DIR} (see bench/summary.ts). */
export function writeRunResult(name: string, doc: unknown): void {
  mkdirSync(RUN_RESULTS_DIR, { recursive: true });
  writeFileSync(join(RUN_RESULTS_DIR, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
}
