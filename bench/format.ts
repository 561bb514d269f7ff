/**
 * Formatting and the run's results folder, without the stack and worker imports of support.ts, so the summary
 * (bench/summary.ts, loaded by vitest's main process) stays light.
 * @module
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
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
 * The environment variable naming the folder where each benchmark writes the results of the current run, whatever
 * its sizes (`<name>.json`), for the summary table printed at the end of `npm run bench` (bench/summary.ts). The
 * summary's vitest `globalSetup` creates a fresh folder per run and sets it before the benchmark processes start, so
 * runs of other people on the same machine never mix.
 */
export const RUN_RESULTS_ENV = 'KUBE_WORKFLOWS_BENCH_RUN_DIR';

/** Creates this run's results folder under the system temp folder and names it in {@link RUN_RESULTS_ENV}. */
export function startRunResults(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-bench-run-'));
  process.env[RUN_RESULTS_ENV] = dir;
  return dir;
}

/** Writes one benchmark's results of this run to the run's folder (nothing when no summary runs: no folder set). */
export function writeRunResult(name: string, doc: unknown): void {
  const dir = process.env[RUN_RESULTS_ENV];
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
}

/** The machine a result was measured on, with the load average (rounded) at the start and end of the run. */
export function machineFacts(
  loadAverageAtStart: readonly number[],
  loadAverageAtEnd: readonly number[] = loadavg(),
): Record<string, unknown> {
  const round = (l: readonly number[]): number[] => l.map((x) => Math.round(x * 100) / 100);
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: round(loadAverageAtStart),
    loadAverageAtEnd: round(loadAverageAtEnd),
  };
}
