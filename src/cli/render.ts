/**
 * Human output: progress lines on stderr while a deploy runs, and the final report as a table.
 * Colours only on a TTY.
 * @module
 */
import pc from 'picocolors';
import type { DeployReport, ObjectReport } from '../schemas/deploy.js';

const OUTCOME_COLOUR: Record<DeployReport['outcome'], (s: string) => string> = {
  succeeded: pc.green,
  planned: pc.cyan,
  failed: pc.red,
  rolledBack: pc.yellow,
  rollbackFailed: pc.red,
  rejected: pc.yellow,
};

/** The report as lines: one per object (subject, action, health), then the outcome and durations. */
export function renderReport(report: DeployReport): string {
  const rows = report.objects.map((o) => [o.subject, o.action, o.status ?? '', describe(o)]);
  const header = ['OBJECT', 'ACTION', 'HEALTH', 'DETAIL'];
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const line = (cols: string[]): string =>
    cols
      .map((c, i) => (i < cols.length - 1 ? c.padEnd(widths[i] ?? 0) : c))
      .join('  ')
      .trimEnd();
  const durations = Object.entries(report.durationsMs)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
    .join(', ');
  return [
    pc.bold(line(header)),
    ...rows.map(line),
    '',
    `${OUTCOME_COLOUR[report.outcome](pc.bold(report.outcome))}: ${report.message}`,
    pc.dim(`cluster ${report.cluster}${report.app ? `, app ${report.app}` : ''}; ${durations}`),
  ].join('\n');
}

function describe(o: ObjectReport): string {
  if (o.rollback === 'failed') return `rollback failed: ${o.message ?? ''}`;
  if (o.rollback === 'untouched') return 'not written, nothing to undo';
  if (o.status && o.status !== 'Current' && o.message) return `${o.reason ?? ''}: ${o.message}`;
  if (o.changes?.length) return `changed ${o.changes.slice(0, 3).join(', ')}${o.changes.length > 3 ? ', …' : ''}`;
  return '';
}
