/**
 * `kube-workflows rollout -f app/ --fleet fleet.yaml [--wait]` starts a fleet rollout; `rollout status|pause|resume|
 * promote|abort|skip <fleet>` follow and steer it. While waiting, a terminal shows a live wave × cluster table
 * (redrawn in place on stderr); without a terminal, one plain line per change. `--json` / `-o json|yaml` print the
 * final report (or the status) as one document on stdout. Exit codes: 0 succeeded, 1 halted / rolled back /
 * aborted / failed, 2 bad input or a refused update, 3 Temporal unreachable.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import pc from 'picocolors';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FleetUpdateRefusedError, type FleetHandle, type KubeWorkflowsClient } from '../client/index.js';
import { cellText } from '../domain/fleet.js';
import { FleetFile, type FleetReport, type FleetStatus, type RolloutFleetInput } from '../schemas/fleet.js';
import { ExitCode, messageOf } from './exit-codes.js';
import { loadManifestSources } from './files.js';
import { addOutputOptions, formatDocument, isMachineOutput, outputFormatOf, type OutputOptions } from './options.js';
import type { StatusStream } from './status-line.js';
import { withClient } from './with-client.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Options of `rollout` itself (the subcommands see them too: `optsWithGlobals`). */
interface RolloutCliOptions extends OutputOptions {
  filename?: string[];
  fleet?: string;
  namespace?: string;
  wait: boolean;
}

/** Registers `rollout` and its subcommands on the program. */
export function addRolloutCommands(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('roll manifests out to a fleet of clusters in waves (bake, analysis, halt policy), and steer it')
    .option('-f, --filename <path...>', 'manifests: file, folder or - (stdin); repeatable')
    .option('--fleet <file>', 'the fleet file (YAML or JSON): waves, bake, overrides, halt policy, freeze windows')
    .option('-n, --namespace <ns>', "namespace for objects that name none (overrides the fleet file's)")
    .option('--wait', 'follow the rollout until it ends (live table on a terminal), exit with its outcome', false)
    .addHelpText(
      'after',
      `
Examples:
  kube-workflows rollout -f k8s/ --fleet fleet.yaml --wait
  kube-workflows rollout status shop
  kube-workflows rollout pause shop --reason "incident in eu"
  kube-workflows rollout skip shop local-3 --reason "region maintenance"
  kube-workflows rollout promote shop
  kube-workflows rollout abort shop --rollback wave --reason "error rate up"`,
    )
    .action(async (opts: RolloutCliOptions) => {
      process.exitCode = await startCommand(opts);
    });

  addOutputOptions(rollout, 'the report (or status)');
  rollout
    .command('status <fleet>')
    .description('show the wave × cluster matrix of a fleet (name or fleet/<name>)')
    .option('--watch', 'keep showing it until the rollout ends', false)
    .action(async (fleet: string, own: { watch: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<RolloutCliOptions>();
      process.exitCode = await withClient(async (client) => {
        const handle = client.getFleet(fleet);
        if (own.watch) return finishWith(await followFleet(handle), opts);
        const status = await handle.status();
        process.stdout.write(
          isMachineOutput(opts) ? formatDocument(status, outputFormatOf(opts)) : `${renderFleet(status)}\n`,
        );
        return ExitCode.Ok;
      });
    });

  steer(rollout, 'pause <fleet>', 'no new cluster deploy or wave starts until resume', (c) =>
    c.option('--reason <text>', 'why (shown in the status)').option('--by <name>', 'who', process.env.USER),
  ).action(update((h, o: { reason?: string; by?: string }) => h.pause(defined({ reason: o.reason, by: o.by }))));
  steer(rollout, 'resume <fleet>', 'resume a paused fleet (after an inconclusive analysis: run it again)').action(
    update((h) => h.resume()),
  );
  steer(rollout, 'promote <fleet>', "end the current wave's bake now", (c) =>
    c.option('--wave <name>', 'refuse unless this is the baking wave').option('--by <name>', 'who', process.env.USER),
  ).action(update((h, o: { wave?: string; by?: string }) => h.promote(defined({ wave: o.wave, by: o.by }))));
  steer(rollout, 'abort <fleet>', 'stop the fleet; cancel running cluster deploys, then roll back', (c) =>
    c
      .requiredOption('--reason <text>', 'why (sent to the alert channels)')
      .addOption(
        new Option('--rollback <scope>', 'roll back none, the current wave, or all clusters done so far')
          .choices(['none', 'wave', 'all'])
          .default('wave'),
      ),
  ).action(update((h, o: { reason: string; rollback: 'none' | 'wave' | 'all' }) => h.abort(o)));
  rollout
    .command('skip <fleet> <cluster>')
    .description('skip a cluster that has not started deploying (pending, or unreachable and being retried)')
    .option('--reason <text>', 'why')
    .action(async (fleet: string, cluster: string, o: { reason?: string }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<RolloutCliOptions>();
      process.exitCode = await runUpdate(fleet, opts, (h) => h.skip(defined({ cluster, reason: o.reason })));
    });
}

/** A steering subcommand `<verb> <fleet>` with its own options. */
function steer(parent: Command, usage: string, description: string, more: (c: Command) => Command = (c) => c) {
  return more(parent.command(usage).description(description));
}

/** The action of a steering subcommand: runs the update, prints the status after it. */
function update<O>(call: (h: FleetHandle, o: O) => Promise<FleetStatus>) {
  return async (fleet: string, o: O, cmd: Command): Promise<void> => {
    process.exitCode = await runUpdate(fleet, cmd.optsWithGlobals<RolloutCliOptions>(), (h) => call(h, o));
  };
}

async function runUpdate(
  fleet: string,
  opts: RolloutCliOptions,
  call: (h: FleetHandle) => Promise<FleetStatus>,
): Promise<number> {
  return withClient(async (client) => {
    try {
      const status = await call(client.getFleet(fleet));
      process.stdout.write(
        isMachineOutput(opts) ? formatDocument(status, outputFormatOf(opts)) : `${renderFleet(status)}\n`,
      );
      return ExitCode.Ok;
    } catch (err) {
      if (!(err instanceof FleetUpdateRefusedError)) throw err;
      log(pc.red(`refused: ${err.message}`));
      return ExitCode.BadInput;
    }
  });
}

/** `rollout -f … --fleet …`: reads and validates the fleet file and manifests, starts, and (with --wait) follows. */
async function startCommand(opts: RolloutCliOptions): Promise<number> {
  let input: RolloutFleetInput;
  try {
    input = await readFleetInput(opts);
  } catch (err) {
    log(pc.red(messageOf(err)));
    return ExitCode.BadInput;
  }
  return withClient(async (client: KubeWorkflowsClient) => {
    const handle = await client.rolloutFleet(input);
    log(pc.dim(`started ${handle.workflowId} (follow: kube-workflows rollout status ${input.name} --watch)`));
    if (!opts.wait) {
      process.stdout.write(
        isMachineOutput(opts)
          ? formatDocument({ workflowId: handle.workflowId }, outputFormatOf(opts))
          : `${handle.workflowId}\n`,
      );
      return ExitCode.Ok;
    }
    return finishWith(await followFleet(handle), opts);
  });
}

/** The fleet file (YAML or JSON) with the `-f` manifests, validated; errors name the file and field. */
export async function readFleetInput(opts: {
  fleet?: string | undefined;
  filename?: string[] | undefined;
  namespace?: string | undefined;
}): Promise<RolloutFleetInput> {
  if (!opts.fleet) throw new Error('--fleet <file> is required (the waves, bake and halt policy)');
  let text: string;
  try {
    text = await readFile(opts.fleet, 'utf8');
  } catch {
    throw new Error(`--fleet ${opts.fleet}: cannot read the file`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`--fleet ${opts.fleet}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = FleetFile.safeParse(data);
  if (!parsed.success) throw new Error(`--fleet ${opts.fleet}: invalid fleet file:\n${z.prettifyError(parsed.error)}`);
  const file = data as RolloutFleetInput;
  const manifests = opts.filename?.length ? await loadManifestSources(opts.filename) : file.manifests;
  if (!manifests) throw new Error('no manifests: give -f <path> (or manifests in the fleet file)');
  return { ...file, manifests, ...(opts.namespace ? { namespace: opts.namespace } : {}) };
}

/** Prints the report and returns the exit code of its outcome. */
function finishWith(report: FleetReport, opts: OutputOptions): number {
  process.stdout.write(
    isMachineOutput(opts) ? formatDocument(report, outputFormatOf(opts)) : `${renderFleet(report)}\n`,
  );
  return report.outcome === 'succeeded' ? ExitCode.Ok : ExitCode.Failed;
}

/**
 * Follows a fleet until it ends: on a terminal, the table redrawn in place; otherwise one plain line per wave or
 * cluster change. Returns the report.
 */
export async function followFleet(
  handle: FleetHandle,
  options: { intervalMs?: number; stream?: StatusStream } = {},
): Promise<FleetReport> {
  const out = options.stream ?? process.stderr;
  const live = out.isTTY ? new LiveTable(out) : undefined;
  const result = handle.result();
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  let previous: FleetStatus | undefined;
  while (!finished) {
    const status = await handle.status().catch(() => undefined);
    if (status) {
      if (live) live.draw(renderFleet(status).split('\n'));
      else for (const line of fleetChanges(previous, status)) out.write(`${line}\n`);
      previous = status;
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, options.intervalMs ?? 1000))]);
  }
  live?.clear();
  return result;
}

/** Lines redrawn in place at the bottom of a terminal. */
class LiveTable {
  private lines = 0;
  constructor(private readonly out: StatusStream) {}

  draw(lines: string[]): void {
    const width = (this.out.columns || 120) - 1;
    const clipped = lines.map((l) => ([...l].length > width ? `${[...l].slice(0, width - 1).join('')}…` : l));
    this.clear();
    this.out.write(`${clipped.join('\n')}\n`);
    this.lines = clipped.length;
  }

  clear(): void {
    // up to the first line drawn, then erase to the end of the screen
    if (this.lines) this.out.write(`\u001b[${this.lines}F\u001b[J`);
    this.lines = 0;
  }
}

/** One line per wave phase or cluster state that changed since `before` (all of them the first time). */
export function fleetChanges(before: FleetStatus | undefined, after: FleetStatus): string[] {
  const lines: string[] = [];
  if (before?.message !== after.message) lines.push(`${after.phase}: ${after.message}`);
  for (const w of after.waves) {
    const old = before?.waves.find((x) => x.name === w.name);
    if (old?.phase !== w.phase) lines.push(`wave ${w.name}: ${w.phase}`);
    for (const c of w.cells) {
      const text = cellText(c, w.bake.passesRequired);
      const was = old?.cells.find((x) => x.cluster === c.cluster);
      if (!was || cellText(was, w.bake.passesRequired) !== text) lines.push(`  ${w.name}/${c.cluster}: ${text}`);
    }
  }
  return lines;
}

/** The status or report as a table: one row per wave × cluster, then the fleet's state. */
export function renderFleet(s: FleetStatus | FleetReport): string {
  const rows = s.waves.flatMap((w) =>
    w.cells.map((c) => [
      w.name,
      c.cluster,
      c.phase,
      c.revision,
      c.health ?? '',
      analysisOf(c, w.bake.passesRequired),
      detailOf(c),
    ]),
  );
  const header = ['WAVE', 'CLUSTER', 'PHASE', 'REVISION', 'HEALTH', 'ANALYSIS', 'DETAIL'];
  const widths = header.map((h, i) => Math.min(50, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const line = (cols: string[]): string =>
    cols
      .map((c, i) => (i < cols.length - 1 ? c.padEnd(widths[i] ?? 0) : c))
      .join('  ')
      .trimEnd();
  const state = [
    `${pc.bold(s.outcome ?? s.phase)} fleet ${s.fleet} (app ${s.app}): ${s.message}`,
    ...(s.paused ? [`paused: ${s.paused.reason}`] : []),
    ...(s.frozen ? [`frozen until ${s.frozen.until} (${s.frozen.cron})`] : []),
    ...(s.nextTimer ? [pc.dim(`next: ${s.nextTimer.purpose} at ${s.nextTimer.at}`)] : []),
    ...(s.unassigned.length ? [pc.dim(`not in any wave: ${s.unassigned.join(', ')}`)] : []),
  ];
  return [pc.bold(line(header)), ...rows.map(line), '', ...state].join('\n');
}

function analysisOf(c: FleetStatus['waves'][number]['cells'][number], required: number): string {
  if (!required) return '';
  return `${c.analysis.filter((a) => a.outcome === 'successful').length}/${required}`;
}

function detailOf(c: FleetStatus['waves'][number]['cells'][number]): string {
  if (c.rollback) return `rollback ${c.rollback.outcome}: ${c.rollback.message}`;
  return c.skipReason ?? c.message ?? '';
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
