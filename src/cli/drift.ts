/**
 * `kube-workflows drift APP -f FILES`: scans an app's deployed objects for drift against its manifests and prints
 * every drifted field with its old → new value and who set it; `--correct human,unknown` takes those classes back.
 * Exit 0 when nothing drifts that the policy alerts (or all of it was corrected), 1 when drift is left.
 * @module
 */
import { InvalidArgumentError, type Command } from 'commander';
import pc from 'picocolors';
import type { DetectDriftInput, DriftReport } from '../schemas/drift.js';
import { ExitCode, messageOf } from './exit-codes.js';
import { loadManifestSources } from './files.js';
import {
  addOutputOptions,
  durationSecondsArg,
  formatDocument,
  isMachineOutput,
  outputFormatOf,
  type OutputOptions,
} from './options.js';
import { withClient } from './with-client.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The classes of drift, as `--correct` / `--alert` / `--ignore` take them. */
const CLASSES = ['us', 'controller', 'human', 'unknown'] as const;
type ClassName = (typeof CLASSES)[number];

/** Commander parser: a comma-separated list of drift classes. */
export function driftClassesArg(value: string): ClassName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(CLASSES as readonly string[]).includes(n));
  if (bad.length || !names.length)
    throw new InvalidArgumentError(`expected classes from ${CLASSES.join(', ')} (comma-separated), got "${value}"`);
  return names as ClassName[];
}

/** Options of `drift`. */
export interface DriftCliOptions extends OutputOptions {
  filename: string[];
  recursive: boolean;
  namespace: string;
  cluster?: string;
  correct?: ClassName[];
  alert?: ClassName[];
  ignore?: ClassName[];
  channel?: string[];
  requireApproval: boolean;
  approvalTimeout: number;
}

/** The workflow input the flags describe (later flags win: --ignore over --alert over --correct). */
export function driftInputFromFlags(
  app: string,
  opts: DriftCliOptions,
  sources: { name?: string; text: string }[],
): DetectDriftInput {
  const policy: Partial<Record<ClassName, 'ignore' | 'alert' | 'correct'>> = {};
  for (const c of opts.correct ?? []) policy[c] = 'correct';
  for (const c of opts.alert ?? []) policy[c] = 'alert';
  for (const c of opts.ignore ?? []) policy[c] = 'ignore';
  return {
    app,
    namespace: opts.namespace,
    ...(opts.cluster ? { cluster: opts.cluster } : {}),
    sources,
    policy: policy as DetectDriftInput['policy'],
    channels: opts.channel ?? [],
    requireApproval: opts.requireApproval,
    approvalTimeout: opts.approvalTimeout,
  };
}

/** Adds `drift APP`. */
export function addDriftCommand(program: Command): void {
  const drift = program
    .command('drift <app>')
    .description(
      "find fields of an app's objects changed since they were deployed, who changed them, and alert or correct",
    )
    .requiredOption('-f, --filename <path...>', "the app's manifests: file, folder, glob or - (stdin); repeatable")
    .option('-R, --recursive', 'read folders given with -f recursively', false)
    .option('-n, --namespace <ns>', "the app's namespace (its inventory; objects that name none)", 'default')
    .option('--cluster <name>', 'configured cluster name (worker default when absent)')
    .option('--correct <classes>', 'take these classes of drift back (us,human,unknown)', driftClassesArg)
    .option('--alert <classes>', 'alert these classes (default human,unknown)', driftClassesArg)
    .option('--ignore <classes>', 'ignore these classes (default us,controller)', driftClassesArg)
    .option('--channel <name...>', 'alert channels configured on the worker')
    .option('--require-approval', 'correct only after drift-approve (or approveCorrection: client, Web UI)', false)
    .option('--approval-timeout <duration>', 'how long a correction waits for approval', durationSecondsArg, 3600)
    .addHelpText(
      'after',
      `
Classes: us (kube-workflows: manifests changed since the last deploy, scale), controller (HPA, VPA, cert-manager,
KEDA, …: never corrected), human (kubectl edit/scale/patch/…), unknown. Defaults: us,controller ignored;
human,unknown alerted.

Examples:
  kube-workflows drift cart -f k8s/ -n shop
  kube-workflows drift cart -f k8s/ -n shop --correct human --channel oncall -o json`,
    )
    .action(async (app: string, opts: DriftCliOptions) => {
      process.exitCode = await driftCommand(app, opts);
    });
  addOutputOptions(drift, 'the report');
}

/** Adds `drift-approve APP`: the `approveCorrection` update of the app's running scan. */
export function addDriftApproveCommand(program: Command): void {
  program
    .command('drift-approve <app>')
    .description('approve (or --reject) the correction a drift scan started with --require-approval waits for')
    .option('-n, --namespace <ns>', "the app's namespace", 'default')
    .option('--cluster <name>', 'configured cluster name (worker default when absent)')
    .requiredOption('--by <who>', 'who decides (recorded in the history and the report)')
    .option('--reject', 'leave the drift in place (reported), instead of correcting it', false)
    .option('--comment <text>', 'why')
    .addHelpText(
      'after',
      `
Examples:
  kube-workflows drift-approve cart -n shop --by alice --comment "edit was a test"
  kube-workflows drift-approve cart -n shop --by alice --reject`,
    )
    .action(async (app: string, opts: DriftApproveOptions) => {
      process.exitCode = await withClient(async (client) => {
        const handle = client.drift.get(app, opts.namespace, opts.cluster);
        await handle.approveCorrection({
          by: opts.by,
          approve: !opts.reject,
          ...(opts.comment ? { comment: opts.comment } : {}),
        });
        log(`${handle.workflowId}: correction ${opts.reject ? 'rejected' : 'approved'} by ${opts.by}`);
        return ExitCode.Ok;
      });
    });
}

interface DriftApproveOptions {
  namespace: string;
  cluster?: string;
  by: string;
  reject: boolean;
  comment?: string;
}

async function driftCommand(app: string, opts: DriftCliOptions): Promise<number> {
  let sources;
  try {
    sources = await loadManifestSources(opts.filename, process.stdin, { recursive: opts.recursive });
  } catch (err) {
    log(pc.red(messageOf(err)));
    return ExitCode.BadInput;
  }
  return withClient(async (client) => {
    try {
      const handle = await client.drift.detect(driftInputFromFlags(app, opts, sources));
      log(pc.dim(`started ${handle.workflowId}`));
      const report = await handle.result();
      const format = outputFormatOf(opts);
      process.stdout.write(format === 'text' ? `${renderDriftReport(report)}\n` : formatDocument(report, format));
      return report.outcome === 'inSync' || report.outcome === 'corrected' ? ExitCode.Ok : ExitCode.Failed;
    } catch (err) {
      if (isMachineOutput(opts))
        process.stdout.write(formatDocument({ outcome: 'failed', message: messageOf(err) }, outputFormatOf(opts)));
      throw err;
    }
  });
}

/** The report as a table: one line per drifted field (object, field, old → new, who, action), then the outcome. */
export function renderDriftReport(report: DriftReport): string {
  const rows: string[][] = [];
  for (const o of report.objects) {
    if (!o.fields.length) {
      if (o.state !== 'inSync') rows.push([o.subject, '', o.state, o.message ?? '', '']);
      continue;
    }
    for (const f of o.fields) {
      const by = f.owners[0]?.manager ? `${f.owners[0].manager} (${f.class})` : f.class;
      const action = f.corrected ? 'corrected' : f.leftTo ? `${f.action}: ${f.leftTo}` : f.action;
      rows.push([o.subject, f.path, `${f.from} → ${f.to}`, by, action]);
    }
  }
  const header = ['OBJECT', 'FIELD', 'CHANGE', 'SET BY', 'ACTION'];
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const line = (cols: string[]): string =>
    cols
      .map((c, i) => (i < cols.length - 1 ? c.padEnd(widths[i] ?? 0) : c))
      .join('  ')
      .trimEnd();
  const colour = report.outcome === 'inSync' || report.outcome === 'corrected' ? pc.green : pc.yellow;
  const extra = [
    report.notInManifests.length ? `in the inventory, not in the manifests: ${report.notInManifests.join(', ')}` : '',
    report.notInInventory.length
      ? `in the manifests, never deployed as ${report.app}: ${report.notInInventory.join(', ')}`
      : '',
    report.alert ? `alerted ${report.alert.channels.join(', ')} (${report.alert.dedupKey})` : '',
  ].filter(Boolean);
  return [
    ...(rows.length ? [pc.bold(line(header)), ...rows.map(line), ''] : []),
    ...extra.map((e) => pc.dim(e)),
    `${colour(pc.bold(report.outcome))}: ${report.message}`,
    pc.dim(
      `cluster ${report.cluster}, app ${report.app}, namespace ${report.namespace}; ${report.objects.length} objects`,
    ),
  ].join('\n');
}
