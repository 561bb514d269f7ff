/**
 * `kube-workflows monitor start|status|stop|pause|resume`.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import pc from 'picocolors';
import { parse as parseYaml } from 'yaml';
import type { MonitorHealthInput } from '../client/index.js';
import type { MonitoredKind } from '../schemas/monitor.js';
import { ExitCode, messageOf } from './exit-codes.js';
import {
  addOutputOptions,
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

interface StartOptions {
  file?: string;
  namespace?: string;
  selector?: string;
  kind?: string[];
  http?: string[];
  channel?: string[];
  severity?: string;
  for?: number;
  cluster?: string;
}

/** Adds the `monitor` command group. */
export function addMonitorCommands(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('long-running health monitors that alert once per degradation');
  monitor
    .command('start <name>')
    .description('start a monitor (workflow id monitor/<name>) from flags or a YAML spec (-f)')
    .option('-f, --file <path>', 'YAML/JSON file with the monitor input (targets, channels, forSeconds, …)')
    .option('-n, --namespace <ns>', 'watch the workloads of this namespace')
    .option('-l, --selector <selector>', 'label selector of the workloads, e.g. app.kubernetes.io/part-of=shop')
    .option(
      '--kind <kind...>',
      'kinds watched (default Deployment StatefulSet DaemonSet; also Pod Job CronJob PersistentVolumeClaim, and Node without -n)',
    )
    .option('--http <id=url...>', 'HTTP probe(s) expecting 200')
    .option('--channel <name...>', 'alert channel(s) configured on the worker')
    .option('--severity <s>', 'critical | error | warning | info')
    .option('--for <duration>', 'how long unhealthy before alerting (90s, 5m or seconds)', durationSecondsOrZeroArg)
    .option('--cluster <name>', 'configured cluster name')
    .addHelpText(
      'after',
      '\nExamples:\n  kube-workflows monitor start shop -n shop -l app.kubernetes.io/part-of=shop --channel oncall --for 60\n  kube-workflows monitor start nodes --kind Node --channel oncall\n  kube-workflows monitor start edge -f monitors/edge.yaml   (CronJob maxSinceSuccess, resources thresholds: see the README)',
    )
    .action(async (name: string, opts: StartOptions) => {
      let input: MonitorHealthInput;
      try {
        const fromFile = opts.file ? (parseYaml(await readFile(opts.file, 'utf8')) as Partial<MonitorHealthInput>) : {};
        const targets = [...(fromFile.targets ?? [])];
        if (opts.namespace || opts.kind)
          targets.push({
            type: 'kube',
            ...(opts.namespace ? { namespace: opts.namespace } : {}),
            ...(opts.selector ? { selector: opts.selector } : {}),
            ...(opts.kind ? { kinds: opts.kind as MonitoredKind[] } : {}),
          });
        for (const h of opts.http ?? []) {
          const [id, ...url] = h.split('=');
          targets.push({ type: 'http', id: id ?? '', url: url.join('=') });
        }
        input = {
          ...fromFile,
          name,
          targets,
          ...(opts.channel ? { channels: opts.channel } : {}),
          ...(opts.severity ? { severity: opts.severity as MonitorHealthInput['severity'] } : {}),
          ...(opts.for !== undefined ? { forSeconds: opts.for } : {}),
          ...(opts.cluster ? { cluster: opts.cluster } : {}),
        };
      } catch (err) {
        log(pc.red(`cannot read the monitor spec: ${messageOf(err)}`));
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.exitCode = await withClient(async (client) => {
        const m = await client.monitor(input);
        process.stdout.write(`monitor ${name} started (${m.workflowId})\n`);
        return ExitCode.Ok;
      });
    });
  const status = monitor
    .command('status <name>')
    .description("every target's state: healthy, pending (inside its for window) or degraded")
    .action(async (name: string, opts: OutputOptions) => {
      process.exitCode = await withClient(async (client) => {
        const s = await client.getMonitor(name).status();
        if (isMachineOutput(opts)) process.stdout.write(formatDocument(s, outputFormatOf(opts)));
        else {
          process.stdout.write(
            `${s.name}${s.paused ? ' (paused)' : ''}: ${s.healthy} healthy, ${s.pending} pending, ${s.degraded} degraded\n`,
          );
          for (const t of s.targets) {
            const colour = t.state === 'healthy' ? pc.green : t.state === 'degraded' ? pc.red : pc.yellow;
            process.stdout.write(`  ${colour(t.state.padEnd(8))} ${t.key}  ${t.message}\n`);
          }
          for (const [c, e] of Object.entries(s.deliveryErrors)) process.stdout.write(pc.red(`  channel ${c}: ${e}\n`));
        }
        return s.degraded ? ExitCode.Failed : ExitCode.Ok;
      });
    });
  addOutputOptions(status, 'the status');
  for (const verb of ['stop', 'pause', 'resume'] as const) {
    monitor
      .command(`${verb} <name>`)
      .description(
        verb === 'stop' ? 'stop the monitor (open incidents stay as they are)' : `${verb} observation and alerting`,
      )
      .action(async (name: string) => {
        process.exitCode = await withClient(async (client) => {
          await client.getMonitor(name)[verb]();
          process.stdout.write(`monitor ${name}: ${verb === 'stop' ? 'stopped' : `${verb}d`}\n`);
          return ExitCode.Ok;
        });
      });
  }
}
