/**
 * `kube-workflows scale` and `kube-workflows schedule …` commands.
 * @module
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import type { OverlapPolicy } from '../client/index.js';
import type { ScaleReport } from '../schemas/scale.js';
import { ExitCode, messageOf } from './exit-codes.js';
import { withClient } from './with-client.js';
import { loadManifestSources } from './files.js';
import { addNotifyOptions, notifyInput, type NotifyCliOptions } from './notify.js';
import {
  addOutputOptions,
  durationSecondsArg,
  formatDocument,
  isMachineOutput,
  outputFormatOf,
  type OutputOptions,
} from './options.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Parses `deployment/web`, `deploy/web`, `statefulset/db`, `sts/db`. */
export function parseWorkload(value: string): { kind: 'Deployment' | 'StatefulSet'; name: string } {
  const m = /^(deployment|deployments|deploy|statefulset|statefulsets|sts)\/([a-z0-9][-a-z0-9.]*)$/i.exec(value);
  if (!m) throw new InvalidArgumentError('expected KIND/NAME with KIND deployment or statefulset, e.g. deployment/web');
  const kind = (m[1] ?? '').toLowerCase().startsWith('deploy') ? 'Deployment' : 'StatefulSet';
  return { kind, name: m[2] ?? '' };
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected a whole number');
  return n;
}

/** Adds `scale` and `schedule` to the program. */
export function addScaleAndScheduleCommands(program: Command): void {
  const scale = program
    .command('scale <workload>')
    .description('scale a Deployment or StatefulSet within the policy bounds and wait until it is healthy')
    .requiredOption('-n, --namespace <ns>', 'namespace of the workload')
    .option('--replicas <n>', 'target replica count', integer)
    .option('--delta <n>', 'change relative to the current count, e.g. 2 or -1', integer)
    .option('--cluster <name>', 'configured cluster name')
    .option('--timeout <duration>', 'time to wait for health (600s, 10m or seconds)', durationSecondsArg, 300)
    .option('--no-wait', 'do not wait for the new replicas to be ready')
    .option(
      '--hpa <mode>',
      "workload autoscaled by an HPA/ScaledObject: 'adjust' moves its floor to the target (min = N, max = max(max, N)), 'refuse' fails naming it",
      'adjust',
    )
    .option('--force', 'scale an autoscaled workload to 0 anyway (switches its HPA off)', false);
  addNotifyOptions(scale)
    .addHelpText(
      'after',
      '\nExamples:\n  kube-workflows scale deployment/web --replicas 5 -n shop\n  kube-workflows scale sts/db --delta -1 -n data --json',
    )
    .action(async (workload: string, opts: ScaleCliOptions) => {
      let ref;
      try {
        ref = parseWorkload(workload);
      } catch (err) {
        log(pc.red(messageOf(err)));
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.exitCode = await withClient(async (client) => {
        const handle = await client.scale({
          ...ref,
          namespace: opts.namespace,
          ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
          ...(opts.delta !== undefined ? { delta: opts.delta } : {}),
          ...(opts.cluster ? { cluster: opts.cluster } : {}),
          timeoutSeconds: opts.timeout,
          wait: opts.wait,
          hpa: opts.hpa as 'adjust' | 'refuse',
          force: opts.force,
          ...notifyInput(opts),
        });
        log(pc.dim(`started ${handle.workflowId}`));
        const report: ScaleReport = await handle.result();
        process.stdout.write(
          isMachineOutput(opts)
            ? formatDocument(report, outputFormatOf(opts))
            : `${report.outcome}: ${report.message}\n`,
        );
        return report.outcome === 'failed' ? ExitCode.Failed : ExitCode.Ok;
      });
    });
  addOutputOptions(scale, 'the report');

  const schedule = program
    .command('schedule')
    .description('Temporal Schedules: scheduled scaling and periodic re-apply');
  schedule
    .command('create <scheduleId>')
    .description('create a schedule that scales a workload (--scale) or re-applies manifests (-f)')
    .requiredOption('--cron <expr...>', 'cron expression(s), e.g. "0 8 * * 1-5"')
    .option('--timezone <tz>', 'IANA time zone of the cron expressions (default UTC)')
    .option('--scale <workload>', 'KIND/NAME to scale, with --replicas or --delta')
    .option('--replicas <n>', 'target replica count', integer)
    .option('--delta <n>', 'relative change', integer)
    .option('-f, --filename <path...>', 'manifests to re-apply on every run (drift correction)')
    .option('--app <name>', 'application name for re-apply')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--cluster <name>', 'configured cluster name')
    .addOption(
      new Option('--overlap <policy>', 'when the previous run is still going')
        .choices(['skip', 'bufferOne', 'bufferAll', 'cancelOther', 'terminateOther', 'allowAll'])
        .default('skip'),
    )
    .option('--catchup-window <duration>', 'how late a missed run may still start, e.g. 10m', '10m')
    .option('--paused', 'create it paused', false)
    .option('--note <text>', 'note shown in the UI')
    .option(
      '--allow-plaintext-secrets',
      're-apply Secrets even though payloads are not encrypted: their values stay readable in the schedule and history',
      false,
    )
    .addHelpText(
      'after',
      `
Examples:
  kube-workflows schedule create shop-up --cron "0 8 * * 1-5" --scale deployment/web --replicas 6 -n shop
  kube-workflows schedule create shop-down --cron "0 20 * * *" --scale deployment/web --replicas 2 -n shop
  kube-workflows schedule create shop-drift --cron "*/30 * * * *" -f k8s/ --app shop

Each run starts under the same id as a manual run (deploy/<cluster>/<namespace>/<app>, scale/<cluster>/…) and is
skipped, with a report naming that id, while another run holds it.`,
    )
    .action(async (scheduleId: string, opts: ScheduleCreateOptions) => {
      if (!opts.scale === !opts.filename) {
        log(pc.red('give either --scale KIND/NAME (with --replicas or --delta) or -f PATH'));
        process.exitCode = ExitCode.BadInput;
        return;
      }
      let workload;
      try {
        workload = opts.scale ? parseWorkload(opts.scale) : undefined;
      } catch (err) {
        log(pc.red(messageOf(err)));
        process.exitCode = ExitCode.BadInput;
        return;
      }
      const common = {
        scheduleId,
        cron: opts.cron,
        overlap: opts.overlap,
        catchupWindow: opts.catchupWindow,
        paused: opts.paused,
        ...(opts.timezone ? { timezone: opts.timezone } : {}),
        ...(opts.note ? { note: opts.note } : {}),
      };
      process.exitCode = await withClient(
        async (client) => {
          if (workload) {
            await client.schedules.createScale({
              ...common,
              input: {
                ...workload,
                namespace: opts.namespace ?? '',
                ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
                ...(opts.delta !== undefined ? { delta: opts.delta } : {}),
                ...(opts.cluster ? { cluster: opts.cluster } : {}),
              },
            });
          } else {
            const sources = await loadManifestSources(opts.filename ?? []);
            await client.schedules.createReapply({
              ...common,
              input: {
                sources,
                ...(opts.app ? { app: opts.app } : {}),
                ...(opts.namespace ? { namespace: opts.namespace } : {}),
                ...(opts.cluster ? { cluster: opts.cluster } : {}),
              },
            });
          }
          process.stdout.write(
            `schedule ${scheduleId} created (${[opts.cron].flat().join(', ')}, overlap ${opts.overlap})\n`,
          );
          return ExitCode.Ok;
        },
        opts.allowPlaintextSecrets ? { allowPlaintextSecrets: true } : {},
      );
    });
  const listCommand = schedule
    .command('list')
    .description('list schedules')
    .action(async (opts: OutputOptions) => {
      process.exitCode = await withClient(async (client) => {
        const list = await client.schedules.list();
        if (isMachineOutput(opts))
          process.stdout.write(
            formatDocument(
              list.map((s) => ({ scheduleId: s.scheduleId, state: s.state })),
              outputFormatOf(opts),
            ),
          );
        else
          for (const s of list)
            process.stdout.write(
              `${s.scheduleId}${s.state.paused ? ' (paused)' : ''}${s.state.note ? `  ${s.state.note}` : ''}\n`,
            );
        return ExitCode.Ok;
      });
    });
  addOutputOptions(listCommand, 'the schedules');
  schedule
    .command('describe <scheduleId>')
    .description('show spec, policies, state and recent runs')
    .action(async (scheduleId: string) => {
      process.exitCode = await withClient(async (client) => {
        const d = await client.schedules.describe(scheduleId);
        process.stdout.write(
          `${JSON.stringify({ spec: d.spec, policies: d.policies, state: d.state, recentActions: d.info.recentActions, nextActionTimes: d.info.nextActionTimes }, null, 2)}\n`,
        );
        return ExitCode.Ok;
      });
    });
  for (const verb of ['pause', 'unpause', 'trigger', 'delete'] as const) {
    schedule
      .command(`${verb} <scheduleId>`)
      .description(`${verb} a schedule`)
      .action(async (scheduleId: string) => {
        process.exitCode = await withClient(async (client) => {
          await client.schedules[verb](scheduleId);
          process.stdout.write(`schedule ${scheduleId}: ${verb}${verb.endsWith('e') ? 'd' : 'ed'}\n`);
          return ExitCode.Ok;
        });
      });
  }
}

interface ScaleCliOptions extends OutputOptions, NotifyCliOptions {
  namespace: string;
  replicas?: number;
  delta?: number;
  cluster?: string;
  timeout: number;
  wait: boolean;
  hpa: string;
  force: boolean;
}

interface ScheduleCreateOptions {
  cron: string[];
  timezone?: string;
  scale?: string;
  replicas?: number;
  delta?: number;
  filename?: string[];
  app?: string;
  namespace?: string;
  cluster?: string;
  overlap: OverlapPolicy;
  catchupWindow: string;
  paused: boolean;
  note?: string;
  allowPlaintextSecrets: boolean;
}
