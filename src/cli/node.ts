/**
 * `kube-workflows node drain|maintain|uncordon NODE`, `node status NODE` and `node approve-bypass NODE`: node
 * maintenance through the client. Flags follow `kubectl drain` where it has one (`--delete-emptydir-data`,
 * `--force` for unmanaged pods, `--grace-period`, `--timeout`).
 * @module
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import type { NodeMaintenanceHandle } from '../client/index.js';
import type { NodeMaintenanceInput, NodeMaintenanceReport } from '../schemas/node.js';
import { ExitCode } from './exit-codes.js';
import {
  addOutputOptions,
  durationSecondsArg,
  durationSecondsOrZeroArg,
  formatDocument,
  isMachineOutput,
  outputFormatOf,
  type OutputOptions,
} from './options.js';
import { withClient } from './with-client.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Options of `node drain` / `node maintain`. */
interface NodeCliOptions extends OutputOptions {
  cluster?: string;
  timeout: number;
  gracePeriod?: number;
  deleteEmptydirData: boolean;
  force: boolean;
  escalateAfter: number;
  onBlocked: 'wait' | 'approve';
  channel?: string[];
  maxUnavailable?: number;
  poolLabel?: string;
  keepCordonedOnFailure: boolean;
  reason?: string;
  forceControlPlane: boolean;
  forceDegraded: boolean;
  forceCapacity: boolean;
  actionUrl?: string;
  actionHeader?: string[];
  actionTimeout: number;
  readyTimeout: number;
  wait: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of seconds (0 or more)');
  return n;
}

/** `Name: value` headers as a record; a header without a colon is bad input. */
export function parseHeaders(lines: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) throw new InvalidArgumentError(`--action-header "${line}": expected "Name: value"`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The workflow input the flags describe. */
export function nodeInputFromFlags(node: string, opts: NodeCliOptions): NodeMaintenanceInput {
  const headers = parseHeaders(opts.actionHeader);
  return {
    node,
    ...(opts.cluster ? { cluster: opts.cluster } : {}),
    drain: {
      timeout: opts.timeout,
      ...(opts.gracePeriod !== undefined ? { gracePeriodSeconds: opts.gracePeriod } : {}),
      emptyDir: opts.deleteEmptydirData ? 'delete' : 'refuse',
      unmanagedPods: opts.force ? 'delete' : 'refuse',
      escalateAfter: opts.escalateAfter,
      onBlocked: opts.onBlocked,
    },
    ...(opts.actionUrl
      ? {
          action: {
            webhook: {
              url: opts.actionUrl,
              timeout: opts.actionTimeout,
              ...(Object.keys(headers).length ? { headers } : {}),
            },
          },
        }
      : {}),
    afterAction: { waitReady: true, timeout: opts.readyTimeout },
    ...(opts.keepCordonedOnFailure || opts.reason
      ? { keepCordoned: { onFailure: opts.keepCordonedOnFailure, ...(opts.reason ? { reason: opts.reason } : {}) } }
      : {}),
    channels: opts.channel ?? [],
    ...(opts.maxUnavailable ? { maxUnavailable: opts.maxUnavailable } : {}),
    ...(opts.poolLabel ? { poolLabel: opts.poolLabel } : {}),
    force: { controlPlane: opts.forceControlPlane, degraded: opts.forceDegraded, capacity: opts.forceCapacity },
  };
}

/** Prints the report and returns the exit code (0 succeeded, 1 failed). */
async function follow(handle: NodeMaintenanceHandle, opts: OutputOptions & { wait: boolean }): Promise<number> {
  log(pc.dim(`started ${handle.workflowId}`));
  if (!opts.wait) return ExitCode.Ok;
  const report: NodeMaintenanceReport = await handle.result();
  process.stdout.write(
    isMachineOutput(opts) ? formatDocument(report, outputFormatOf(opts)) : `${report.outcome}: ${report.message}\n`,
  );
  return report.outcome === 'succeeded' ? ExitCode.Ok : ExitCode.Failed;
}

function addDrainOptions(command: Command): Command {
  return command
    .option('--cluster <name>', 'configured cluster name (worker default when absent)')
    .option('--timeout <duration>', 'give up draining after this long (600s, 10m, 1h)', durationSecondsArg, 3600)
    .option('--grace-period <seconds>', "override each pod's termination grace period", nonNegativeInt)
    .option('--delete-emptydir-data', 'evict pods with emptyDir volumes (their data is lost)', false)
    .option('--force', 'evict pods no controller owns (they are not recreated)', false)
    .option(
      '--escalate-after <duration>',
      'alert when pods stay blocked by their budget this long',
      durationSecondsOrZeroArg,
      600,
    )
    .addOption(
      new Option('--on-blocked <mode>', 'after escalating: wait, or also accept approve-bypass')
        .choices(['wait', 'approve'])
        .default('approve'),
    )
    .option('--channel <name...>', 'alert channel(s) configured on the worker')
    .option('--max-unavailable <n>', 'nodes of the cluster in maintenance at once', positiveInt)
    .option('--pool-label <label>', 'node label naming the pool (default: well-known pool labels)')
    .option('--keep-cordoned-on-failure', 'leave the node cordoned when a step fails', false)
    .option('--reason <text>', 'why the node is kept cordoned (recorded and alerted)')
    .option('--force-control-plane', 'allow a control-plane node', false)
    .option('--force-degraded', 'go on although other nodes of the pool are NotReady', false)
    .option('--force-capacity', 'go on although the other nodes lack room for the pods', false)
    .option('--no-wait', 'print the workflow id and return at once');
}

/** Adds `node` and its subcommands to the program. */
export function addNodeCommands(program: Command): void {
  const node = program.command('node').description('node maintenance: drain, maintain (drain + action), uncordon');

  const drain = addDrainOptions(
    node
      .command('drain <node>')
      .description('cordon and evict within PodDisruptionBudgets; the node stays cordoned (uncordoned on failure)'),
  ).action(async (name: string, opts: NodeCliOptions) => {
    process.exitCode = await withClient(async (client) =>
      follow(await client.nodes.drain(nodeInputFromFlags(name, opts)), opts),
    );
  });
  addOutputOptions(drain, 'the report');

  const maintain = addDrainOptions(
    node
      .command('maintain <node>')
      .description('drain, call the action hook (reboot/upgrade), wait for Ready, uncordon — always uncordon'),
  )
    .option('--action-url <url>', 'webhook POSTed {"node","cluster","workflowId"} once the node is drained')
    .option('--action-header <header...>', 'extra "Name: value" header(s) for the action webhook')
    .option('--action-timeout <duration>', 'how long the action webhook may take', durationSecondsArg, 300)
    .option(
      '--ready-timeout <duration>',
      'how long to wait for the node Ready after the action',
      durationSecondsArg,
      600,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  kube-workflows node maintain worker-3 --action-url https://ops.internal/reboot --channel oncall\n' +
        '  kube-workflows node drain worker-3 --delete-emptydir-data --timeout 30m\n' +
        '  kube-workflows node approve-bypass worker-3 --by alice --reason "single replica, window agreed"',
    )
    .action(async (name: string, opts: NodeCliOptions) => {
      process.exitCode = await withClient(async (client) =>
        follow(await client.nodes.maintain(nodeInputFromFlags(name, opts)), opts),
      );
    });
  addOutputOptions(maintain, 'the report');

  const uncordon = node
    .command('uncordon <node>')
    .description('make the node schedulable again (whoever cordoned it)')
    .option('--cluster <name>', 'configured cluster name')
    .action(async (name: string, opts: OutputOptions & { cluster?: string }) => {
      process.exitCode = await withClient(async (client) =>
        follow(await client.nodes.uncordon({ node: name, ...(opts.cluster ? { cluster: opts.cluster } : {}) }), {
          ...opts,
          wait: true,
        }),
      );
    });
  addOutputOptions(uncordon, 'the report');

  const status = node
    .command('status <node>')
    .description('phase, evicted pods and the pods blocking the drain (with their budgets)')
    .option('--cluster <name>', 'configured cluster name')
    .action(async (name: string, opts: OutputOptions & { cluster?: string }) => {
      process.exitCode = await withClient(async (client) => {
        const s = await client.nodes.get(name, opts.cluster).status();
        if (isMachineOutput(opts)) process.stdout.write(formatDocument(s, outputFormatOf(opts)));
        else {
          process.stdout.write(`${s.phase}: ${s.message}\n`);
          for (const b of s.blocking)
            process.stdout.write(`  blocked ${b.pod} by ${b.pdbs.join(', ') || '-'}: ${b.message}\n`);
        }
        return ExitCode.Ok;
      });
    });
  addOutputOptions(status, 'the status');

  node
    .command('approve-bypass <node>')
    .description('delete the pods blocking an escalated drain past their PodDisruptionBudget')
    .requiredOption('--by <who>', 'who approves')
    .requiredOption('--reason <why>', 'why the budget may be bypassed')
    .option('--pod <namespace/name...>', 'only these blocking pods (default: all blocking now)')
    .option('--cluster <name>', 'configured cluster name')
    .action(async (name: string, opts: { by: string; reason: string; pod?: string[]; cluster?: string }) => {
      process.exitCode = await withClient(async (client) => {
        const r = await client.nodes
          .get(name, opts.cluster)
          .approveBypass({ by: opts.by, reason: opts.reason, ...(opts.pod ? { pods: opts.pod } : {}) });
        log(`approved: ${r.pods.join(', ')} will be deleted past their budget`);
        return ExitCode.Ok;
      });
    });
}
