/**
 * `kube-workflows canary <deployment> -f new.yaml --steps "setWeight=20,pause=1m,analysis=a.yaml,setWeight=50,pause"`
 * starts a canary (`--steps-file` reads the steps as YAML instead); `canary status|promote|abort <deployment|id>`
 * follow and steer it. `--wait` follows it to the end (a line per phase on stderr). Exit codes: 0 promoted (or
 * started without `--wait`), 1 aborted or promotion failed, 2 bad input or a refused update, 3 unreachable.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import pc from 'picocolors';
import { parse as parseYaml } from 'yaml';
import {
  CanaryUpdateRefusedError,
  canaryWorkflowId,
  type CanaryHandle,
  type CanaryReport,
  type CanaryStepInput,
  type KubeWorkflowsClient,
} from '../client/index.js';
import type { CanaryRolloutInput } from '../schemas/canary.js';
import { ExitCode, messageOf } from './exit-codes.js';
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

/** Options of `canary` (its subcommands see them too). */
interface CanaryCliOptions extends OutputOptions {
  filename?: string;
  steps?: string;
  stepsFile?: string;
  namespace?: string;
  cluster?: string;
  service?: string;
  onNewRevision?: CanaryRolloutInput['onNewRevision'];
  channel?: string[];
  timeout?: number;
  wait: boolean;
}

/**
 * Parses `--steps`: comma-separated `setWeight=N`, `pause` (until promoted), `pause=DURATION` and
 * `analysis=FILE` (a YAML/JSON analysis spec, read with `readSpec`). Throws naming the token it cannot read.
 */
export async function parseStepsFlag(
  text: string,
  readSpec: (path: string) => Promise<unknown>,
): Promise<CanaryStepInput[]> {
  const steps: CanaryStepInput[] = [];
  for (const token of text.split(',').map((t) => t.trim())) {
    const [key, ...rest] = token.split('=');
    const value = rest.join('=');
    if (key === 'setWeight' && /^\d+$/.test(value)) steps.push({ setWeight: Number(value) });
    else if (key === 'pause' && !rest.length) steps.push({ pause: {} });
    else if (key === 'pause' && value) steps.push({ pause: { duration: value } });
    else if (key === 'analysis' && value) steps.push({ analysis: (await readSpec(value)) as never });
    else
      throw new Error(`--steps: cannot read "${token}" (expected setWeight=N, pause, pause=DURATION or analysis=FILE)`);
  }
  return steps;
}

const readYaml = async (path: string): Promise<unknown> => parseYaml(await readFile(path, 'utf8'));

/** Registers `canary` and its subcommands. */
export function addCanaryCommands(program: Command): void {
  const canary = program
    .command('canary')
    .description('canary a Deployment behind a Service by replica ratio (no mesh), then promote or abort')
    .argument('[deployment]', 'the stable Deployment')
    .option('-f, --filename <path>', 'the new version: a Deployment manifest (its spec.template) or a pod template')
    .option('--steps <list>', 'setWeight=N, pause, pause=DURATION, analysis=FILE, comma-separated, in order')
    .option('--steps-file <path>', 'the steps as a YAML/JSON list instead of --steps')
    .option('-n, --namespace <ns>', 'namespace of the Deployment', 'default')
    .option('--cluster <name>', 'configured cluster name')
    .option('--service <name>', 'the Service (default: every Service selecting the stable pods)')
    .addOption(
      new Option('--on-new-revision <policy>', 'what a newRevision update does').choices([
        'restart',
        'supersede',
        'refuse',
      ]),
    )
    .option('--channel <name...>', 'alert channel(s) told when the canary aborts')
    .option('--timeout <duration>', 'how long each replica change may take to be healthy', durationSecondsArg)
    .option('--wait', 'follow the canary until it ends and exit with its outcome', false)
    .addHelpText(
      'after',
      `
Examples:
  kube-workflows canary web -n shop -f web-v2.yaml --steps "setWeight=25,pause=5m,analysis=error-rate.yaml,setWeight=50,pause" --wait
  kube-workflows canary status web -n shop
  kube-workflows canary promote web -n shop          # end the current pause
  kube-workflows canary promote web -n shop --full   # skip every remaining step
  kube-workflows canary abort web -n shop --reason "p99 latency up"`,
    )
    .action(async (deployment: string | undefined, opts: CanaryCliOptions) => {
      process.exitCode = await startCommand(deployment, opts);
    });

  addOutputOptions(canary, 'the report (or status)');
  canary
    .command('status <deployment>')
    .description('phase, step, weight and replica counts (a Deployment name, or the id canary/<cluster>/<ns>/<name>)')
    .action(async (target: string, _own: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CanaryCliOptions>();
      process.exitCode = await withClient(async (client) => {
        const status = await handleOf(client, target, opts).status();
        process.stdout.write(
          isMachineOutput(opts)
            ? formatDocument(status, outputFormatOf(opts))
            : `${status.phase}: step ${status.stepIndex}/${status.stepCount}, weight ${status.weight}%, stable ` +
                `${status.replicas.stable} / canary ${status.replicas.canary} — ${status.message}\n`,
        );
        return ExitCode.Ok;
      });
    });
  canary
    .command('promote <deployment>')
    .description('end the current pause, or with --full skip every remaining step and promote now')
    .option('--full', 'skip every remaining step', false)
    .action(async (target: string, own: { full: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CanaryCliOptions>();
      process.exitCode = await steer(target, opts, (h) => h.promote({ full: own.full }));
    });
  canary
    .command('abort <deployment>')
    .description('delete the canary now and restore the stable replica count')
    .requiredOption('--reason <text>', 'why (sent to the alert channels)')
    .action(async (target: string, own: { reason: string }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CanaryCliOptions>();
      process.exitCode = await steer(target, opts, (h) => h.abort(own.reason));
    });
}

async function startCommand(deployment: string | undefined, opts: CanaryCliOptions): Promise<number> {
  let input: CanaryRolloutInput;
  try {
    if (!deployment) throw new Error('name the stable Deployment: kube-workflows canary <deployment> -f new.yaml');
    if (!opts.filename) throw new Error('-f: give the new version (a Deployment manifest or a pod template)');
    if (!opts.steps === !opts.stepsFile) throw new Error('give the steps with --steps or --steps-file (one of them)');
    const steps = opts.steps
      ? await parseStepsFlag(opts.steps, readYaml)
      : ((await readYaml(opts.stepsFile as string)) as CanaryStepInput[]);
    input = {
      namespace: opts.namespace ?? 'default',
      deployment,
      template: (await readYaml(opts.filename)) as CanaryRolloutInput['template'],
      steps,
      ...(opts.cluster ? { cluster: opts.cluster } : {}),
      ...(opts.service ? { service: opts.service } : {}),
      ...(opts.onNewRevision ? { onNewRevision: opts.onNewRevision } : {}),
      ...(opts.channel ? { channels: opts.channel } : {}),
      ...(opts.timeout !== undefined ? { timeoutSeconds: opts.timeout } : {}),
    };
  } catch (err) {
    log(pc.red(`rejected before anything ran: ${messageOf(err)}`));
    return ExitCode.BadInput;
  }
  return withClient(async (client) => {
    const handle = await client.canary(input);
    log(`canary started: ${handle.workflowId}`);
    if (!opts.wait) {
      process.stdout.write(`${handle.workflowId}\n`);
      return ExitCode.Ok;
    }
    const report = await follow(handle);
    process.stdout.write(isMachineOutput(opts) ? formatDocument(report, outputFormatOf(opts)) : `${report.message}\n`);
    return report.outcome === 'promoted' ? ExitCode.Ok : ExitCode.Failed;
  });
}

/** Prints a line on stderr each time the phase or step changes, until the report. */
async function follow(handle: CanaryHandle): Promise<CanaryReport> {
  let last = '';
  const timer = setInterval(() => {
    handle
      .status()
      .then((s) => {
        const line = `${s.phase} step ${s.stepIndex}/${s.stepCount} weight ${s.weight}% (stable ${s.replicas.stable} / canary ${s.replicas.canary}): ${s.message}`;
        if (line !== last) log((last = line));
      })
      .catch(() => undefined);
  }, 1_000);
  try {
    return await handle.result();
  } finally {
    clearInterval(timer);
  }
}

function handleOf(client: KubeWorkflowsClient, target: string, opts: CanaryCliOptions): CanaryHandle {
  const id = target.startsWith('canary/')
    ? target
    : canaryWorkflowId({
        cluster: opts.cluster ?? client.defaultCluster,
        namespace: opts.namespace ?? 'default',
        deployment: target,
      });
  return client.getCanary(id);
}

async function steer(target: string, opts: CanaryCliOptions, call: (h: CanaryHandle) => Promise<unknown>) {
  return withClient(async (client) => {
    try {
      const result = await call(handleOf(client, target, opts));
      process.stdout.write(formatDocument(result, isMachineOutput(opts) ? outputFormatOf(opts) : 'yaml'));
      return ExitCode.Ok;
    } catch (err) {
      if (!(err instanceof CanaryUpdateRefusedError)) throw err;
      log(pc.red(`refused: ${err.message}`));
      return ExitCode.BadInput;
    }
  });
}
