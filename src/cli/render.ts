/**
 * Human output: progress lines on stderr while a deploy runs, and the final report as a table.
 * Colours only on a TTY.
 * @module
 */
import pc from 'picocolors';
import type { DeployStatus } from '../client/index.js';
import type { DeployReport, ObjectReport } from '../schemas/deploy.js';
import { formatDocument, type OutputFormat } from './options.js';

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
  const widths = header.map((h, i) =>
    Math.min(i === 3 ? 120 : 60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))),
  );
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
  const what = describeChange(o);
  // what the plan decided about ownership, e.g. replicas left to a HorizontalPodAutoscaler
  const notes = o.notes?.length ? o.notes.join('; ') : '';
  return what && notes ? `${what}; ${notes}` : what || notes;
}

function describeChange(o: ObjectReport): string {
  if (o.rollback === 'failed') return `rollback failed: ${o.message ?? ''}`;
  if (o.rollback === 'untouched') return 'not written, nothing to undo';
  if (o.status && o.status !== 'Current' && o.message) return `${o.reason ?? ''}: ${o.message}`;
  if (o.changedFields?.length) {
    // old → new per field (values already bounded and redacted by the plan)
    const shown = o.changedFields.slice(0, 3).map((f) => (f.from || f.to ? `${f.path}: ${f.from} → ${f.to}` : f.path));
    return `changed ${shown.join(', ')}${o.changedFields.length > 3 ? ', …' : ''}`;
  }
  if (o.changes?.length) return `changed ${o.changes.slice(0, 3).join(', ')}${o.changes.length > 3 ? ', …' : ''}`;
  return '';
}

/**
 * What `kube-workflows status` prints for a deploy id: one JSON or YAML document with `--json` / `-o`; else the run's status (and
 * what holds the id when it is not a deploy: a scale holding the app's lock), the phase, the plan id to approve,
 * and one line per object.
 */
export function renderStatus(s: DeployStatus, format: OutputFormat | boolean): string {
  const p = s.progress;
  const machine = format === true ? 'json' : format === false ? 'text' : format;
  if (machine !== 'text') {
    return formatDocument(
      { status: s.status, type: s.type, ...(s.parent ? { parent: s.parent } : {}), progress: p },
      machine,
    );
  }
  const holder = s.type === 'deployManifests' ? '' : ` (${s.type}${s.parent ? ` held by ${s.parent}` : ''})`;
  const lines = [`${s.workflowId}: ${s.status}${holder}${p ? `, phase ${p.phase}: ${p.message}` : ''}`];
  if (p?.planId) lines.push(`plan: ${p.planId}`);
  for (const o of p?.objects ?? []) lines.push(`  ${o.subject} ${o.action} ${o.status ?? ''} ${o.message ?? ''}`);
  return `${lines.join('\n')}\n`;
}
