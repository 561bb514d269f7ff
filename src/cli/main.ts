/**
 * The `kube-workflows` command. Thin: parses arguments, calls the client / worker / dev stack, maps outcomes to
 * exit codes (0 ok, 1 failed or rolled back, 2 bad input, 3 unreachable). Reports go to stdout, progress to
 * stderr.
 * @module
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { ApprovalRefusedError } from '../client/index.js';
import {
  AesGcmPayloadCodec,
  ENCRYPTION_KEYS_ENV,
  EncryptionConfigError,
  loadEncryptionConfig,
  startCodecServer,
} from '../codec/index.js';
import { MAX_STACK_CLUSTERS, startStack, stackEnvLines, stackStatus, stopStack, type StackInfo } from '../dev/index.js';
import { devEncryptionEnvLines, ensureDevEncryptionKey } from '../dev/encryption-key.js';
import { ConfigError, loadWorkerConfig, runWorker } from '../worker/index.js';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from './completion.js';
import { runDemo } from './demo.js';
import { ExitCode, exitCodeForReport, messageOf } from './exit-codes.js';
import { loadManifestSources } from './files.js';
import {
  addOutputOptions,
  durationSecondsArg,
  formatDocument,
  isMachineOutput,
  outputFormatOf,
  type OutputOptions,
} from './options.js';
import { followDeploy } from './follow.js';
import { renderReport, renderStatus } from './render.js';
import { addCanaryCommands } from './canary.js';
import { addDriftApproveCommand, addDriftCommand } from './drift.js';
import { addMonitorCommands } from './monitor.js';
import { addNodeCommands } from './node.js';
import { addNotifyOptions, notifyInput, type NotifyCliOptions } from './notify.js';
import { addRolloutCommands } from './rollout.js';
import { addScaleAndScheduleCommands } from './scale-schedule.js';
import { addSchemaCommand } from './schema.js';
import { addVersionsCommand } from './versions.js';
import { withClient } from './with-client.js';

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * The `KEY=value` lines of a running stack: its own, then its payload encryption key (made on first use in the
 * stack folder, mode 0600), so a shell configured from them encrypts by default.
 */
function stackLines(info: StackInfo): string[] {
  return [...stackEnvLines(info), ...devEncryptionEnvLines(ensureDevEncryptionKey(info.dir))];
}

/** `--clusters`: a whole number from 1 to {@link MAX_STACK_CLUSTERS}. */
function clusterCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_STACK_CLUSTERS) {
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_STACK_CLUSTERS}`);
  }
  return n;
}

/** One stderr line per cluster of a stack: name, API server, labels. */
function describeClusters(info: StackInfo): void {
  for (const c of info.clusters) {
    const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`);
    progress(`cluster ${c.name}: ${c.apiServerUrl}  labels ${labels.join(',')}  (kubectl --context ${c.kubeContext})`);
  }
  if (info.clusters.length > 1) progress(`kubeconfig with a context per cluster: ${info.kubeconfigAll}`);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

/** Builds the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('kube-workflows')
    .description('Kubernetes operations as durable Temporal workflows')
    .showHelpAfterError()
    .exitOverride();

  const deploy = program
    .command('deploy')
    .description('server-side apply manifests, wait until healthy, roll back on failure')
    .requiredOption('-f, --filename <path...>', "file, folder, glob ('k8s/**/*.yaml') or - (stdin); repeatable")
    .option('-R, --recursive', 'read folders given with -f recursively', false)
    .option('-n, --namespace <ns>', 'namespace for objects that name none')
    .option('--cluster <name>', 'configured cluster name (worker default when absent)')
    .option('--app <name>', 'application name (workflow id and inventory); inferred from labels when absent')
    .option('--timeout <duration>', 'time to wait for health (600s, 10m, 1h30m or seconds)', durationSecondsArg, 300)
    .option('--dry-run', 'plan only: server-side dry-run and change set, nothing written', false)
    .option('--force', 'take over fields owned by other field managers', false)
    .option('--no-wait', 'do not wait for health after applying')
    .option('--no-rollback', 'leave a failed rollout in place instead of restoring the previous state')
    .option('--prune', "delete objects of the app's previous deploy that are no longer in the set (needs --app)", false)
    .option('--require-approval', 'stop after the plan until `kube-workflows approve` (or reject)', false)
    .option('--approval-timeout <duration>', 'time to wait for an approval (e.g. 1h, 30m)', durationSecondsArg, 3600)
    .addOption(
      new Option('--on-conflict <policy>', 'when a deploy of the same app runs')
        .choices(['reject', 'latest-wins'])
        .default('reject'),
    )
    .option(
      '--allow-plaintext-secrets',
      'deploy Secrets even though payloads are not encrypted: their values stay readable in workflow history',
      false,
    );
  addNotifyOptions(deploy)
    .addHelpText(
      'after',
      `
Manifests that contain a Secret are refused unless payloads are encrypted (KUBE_WORKFLOWS_ENCRYPTION_KEYS, see
README) or --allow-plaintext-secrets / KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS=true is given (the worker must
allow it too).

Examples:
  kube-workflows deploy -f app.yaml -n shop
  kube-workflows deploy -f k8s/ --app cart --timeout 10m -o yaml
  kube-workflows deploy -f 'k8s/**/*.yaml' --app cart --timeout 600s --json
  kustomize build overlays/prod | kube-workflows deploy -f - --dry-run
  kube-workflows deploy -f k8s/ --app cart --prune --require-approval`,
    )
    .action(async (opts: DeployCliOptions) => {
      process.exitCode = await deployCommand(opts);
    });
  addOutputOptions(deploy, 'the final report');

  program
    .command('worker')
    .description('run a worker (holds the cluster credentials) until SIGINT/SIGTERM')
    .option('--kubeconfig <path>', 'kubeconfig of the default cluster (overrides KUBECONFIG)')
    .option('--context <name>', 'context in that kubeconfig (overrides KUBE_CONTEXT)')
    .option('--config <path>', 'worker configuration file (overrides KUBE_WORKFLOWS_CONFIG)')
    .addHelpText(
      'after',
      '\nConfigured by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, KUBECONFIG, KUBE_CONTEXT, KUBE_WORKFLOWS_CONFIG (see README).' +
        '\nWorker Versioning: KUBE_WORKFLOWS_DEPLOYMENT_NAME and KUBE_WORKFLOWS_BUILD_ID (README "Upgrading workers").',
    )
    .action(async (opts: { kubeconfig?: string; context?: string; config?: string }) => {
      let config;
      try {
        config = loadWorkerConfig({
          ...process.env,
          ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
          ...(opts.context ? { KUBE_CONTEXT: opts.context } : {}),
          ...(opts.config ? { KUBE_WORKFLOWS_CONFIG: opts.config } : {}),
        });
      } catch (err) {
        if (err instanceof ConfigError) {
          progress(pc.red(`configuration error: ${err.message}`));
          process.exitCode = ExitCode.BadInput;
          return;
        }
        throw err;
      }
      try {
        await runWorker(config, progress);
      } catch (err) {
        progress(pc.red(`worker stopped: ${messageOf(err)}`));
        process.exitCode = ExitCode.Unreachable;
      }
    });

  const dev = program
    .command('dev')
    .description('the embedded local stack (Temporal dev server + local Kubernetes control plane)');
  dev
    .command('up')
    .description('start the stack in the background; prints KEY=value lines (eval-able) on stdout')
    .option('--nodes <n>', 'simulated nodes per cluster', positiveInt, 3)
    .option(
      '--clusters <n>',
      `independent clusters, 1 to ${MAX_STACK_CLUSTERS}: local, local-2, … (labels env, region, stack)`,
      clusterCount,
      1,
    )
    .option(
      '--metrics-server',
      'run metrics-server on cluster local, with pod CPU/memory use simulated from kwok.x-k8s.io/usage-cpu|memory annotations, so HPAs scale',
    )
    .addHelpText(
      'after',
      '\nThe lines include a payload encryption key made for this stack (kept in its folder, mode 0600), so workers\n' +
        'and the CLI configured from them encrypt workflow payloads.\n\nExample:\n  set -a; eval "$(kube-workflows dev up)"; set +a',
    )
    .action(async (opts: { nodes: number; clusters: number; metricsServer?: boolean }) => {
      try {
        const info = await startStack({
          nodes: opts.nodes,
          clusters: opts.clusters,
          metricsServer: opts.metricsServer === true,
          onProgress: progress,
        });
        process.stdout.write(`${stackLines(info).join('\n')}\n`);
        describeClusters(info);
        progress(`Temporal UI: ${info.temporalUiUrl}   (stop with: kube-workflows dev down)`);
        progress(
          `payloads are encrypted with the stack's key; to read them in the UI run: kube-workflows codec-server --origin ${info.temporalUiUrl}`,
        );
      } catch (err) {
        progress(pc.red(`dev up failed: ${messageOf(err)}`));
        process.exitCode = ExitCode.Unreachable;
      }
    });
  dev
    .command('status')
    .description('print the KEY=value lines of the running stack (exit 1 when none runs); its clusters go to stderr')
    .action(async () => {
      const info = await stackStatus();
      if (!info) {
        progress('no local stack is running (start one with: kube-workflows dev up)');
        process.exitCode = ExitCode.Failed;
        return;
      }
      process.stdout.write(`${stackLines(info).join('\n')}\n`);
      describeClusters(info);
    });
  dev
    .command('down')
    .description('stop everything dev up started and delete the local clusters (Temporal history is kept)')
    .option('--purge', "also delete Temporal's database and the logs: the next dev up starts clean", false)
    .action(async (opts: { purge: boolean }) => {
      await stopStack({ onProgress: progress, purge: opts.purge });
    });

  program
    .command('demo')
    .description('bring up the local stack and a worker, then deploy, scale, break and heal an example app')
    .option('--keep', 'keep the stack running at the end until Ctrl-C (default on a terminal)')
    .option('--no-keep', 'stop everything as soon as the demo ends')
    .action(async (opts: { keep?: boolean }) => {
      process.exitCode = await runDemo({ keep: opts.keep ?? Boolean(process.stdin.isTTY), log: progress });
    });

  for (const verb of ['approve', 'reject'] as const) {
    program
      .command(`${verb} <workflowId>`)
      .description(`${verb} the plan of a deploy waiting for approval (see: kube-workflows status <workflowId>)`)
      .requiredOption('--plan <planId>', 'the plan id shown by status; a stale id is refused')
      .option('--by <name>', 'who decides', process.env.USER ?? 'unknown')
      .option('--comment <text>', 'why')
      .addHelpText(
        'after',
        `\nExample:\n  kube-workflows ${verb} deploy/default/shop/cart --plan plan-1a2b3c4d-12 --comment "reviewed diff"`,
      )
      .action(async (workflowId: string, opts: { plan: string; by: string; comment?: string }) => {
        process.exitCode = await withClient(async (client) => {
          const handle = client.getDeploy(workflowId);
          const input = { planId: opts.plan, by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) };
          try {
            const result = verb === 'approve' ? await handle.approve(input) : await handle.reject(input);
            process.stdout.write(`${workflowId}: plan ${result.planId} ${result.decision}\n`);
            return ExitCode.Ok;
          } catch (err) {
            if (!(err instanceof ApprovalRefusedError)) throw err;
            progress(pc.red(`${verb} refused: ${messageOf(err)}`));
            return ExitCode.BadInput;
          }
        });
      });
  }

  const status = program
    .command('status <workflowId>')
    .description('show the phase and per-object status of a deploy')
    .action(async (workflowId: string, opts: OutputOptions) => {
      process.exitCode = await withClient(async (client) => {
        process.stdout.write(renderStatus(await client.getDeploy(workflowId).describe(), outputFormatOf(opts)));
        return ExitCode.Ok;
      });
    });
  addOutputOptions(status, 'the status');
  program
    .command('codec-server')
    .description(
      'decrypt/encrypt payloads for the Temporal UI and CLI (POST /encode, /decode) with the configured keys',
    )
    .option('--port <port>', 'TCP port (0 picks a free one)', portNumber, 8081)
    .option('--host <address>', 'listen address; keep it on loopback unless a proxy guards it', '127.0.0.1')
    .option(
      '--origin <origin...>',
      'browser origin allowed to call it (the Temporal UI), repeatable; default: the origin of TEMPORAL_UI_URL',
    )
    .option('--token-env <name>', 'require "Authorization: Bearer <token>", the token read from this variable')
    .addHelpText(
      'after',
      `
Keys come from ${ENCRYPTION_KEYS_ENV} / KUBE_WORKFLOWS_ENCRYPTION_KEY_ID or the encryption section of
KUBE_WORKFLOWS_CONFIG, as for the worker. Whoever can call /decode reads every encrypted history.

Examples:
  kube-workflows codec-server --port 8081 --origin http://localhost:8233
  temporal workflow show -w deploy/default/shop/cart --codec-endpoint http://127.0.0.1:8081`,
    )
    .action(async (opts: CodecServerCliOptions) => {
      process.exitCode = await codecServerCommand(opts);
    });
  addScaleAndScheduleCommands(program);
  addMonitorCommands(program);
  addRolloutCommands(program);
  addCanaryCommands(program);
  addNodeCommands(program);
  addDriftCommand(program);
  addDriftApproveCommand(program);
  addSchemaCommand(program);
  addVersionsCommand(program);

  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash | zsh')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(kube-workflows completion bash)\n  kube-workflows completion zsh > "${fpath[1]}/_kube-workflows"',
    )
    .action((shell: string) => {
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) {
        progress(pc.red(`completion: unknown shell "${shell}" (expected ${COMPLETION_SHELLS.join(' or ')})`));
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.stdout.write(completionScript(program, shell as CompletionShell));
    });

  return program;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, 0-65535');
  return n;
}

interface CodecServerCliOptions {
  port: number;
  host: string;
  origin?: string[];
  tokenEnv?: string;
}

async function codecServerCommand(opts: CodecServerCliOptions): Promise<number> {
  let encryption;
  try {
    encryption = loadEncryptionConfig();
  } catch (err) {
    if (!(err instanceof EncryptionConfigError)) throw err;
    progress(pc.red(`configuration error: ${err.message}`));
    return ExitCode.BadInput;
  }
  if (!encryption) {
    progress(pc.red(`no encryption keys configured: set ${ENCRYPTION_KEYS_ENV} (id:base64,…) or encryption.keys`));
    return ExitCode.BadInput;
  }
  let token: string | undefined;
  if (opts.tokenEnv) {
    token = process.env[opts.tokenEnv];
    if (!token) {
      progress(pc.red(`--token-env ${opts.tokenEnv}: that environment variable is not set`));
      return ExitCode.BadInput;
    }
  }
  const uiUrl = process.env.TEMPORAL_UI_URL;
  const origins = opts.origin ?? (uiUrl && URL.canParse(uiUrl) ? [new URL(uiUrl).origin] : []);
  const badOrigin = origins.find((o) => !URL.canParse(o) || new URL(o).origin !== o);
  if (badOrigin !== undefined) {
    progress(pc.red(`--origin ${badOrigin}: expected scheme://host[:port], without a path or trailing slash`));
    return ExitCode.BadInput;
  }
  const codec = new AesGcmPayloadCodec(encryption);
  let server;
  try {
    server = await startCodecServer({
      port: opts.port,
      host: opts.host,
      codec,
      allowedOrigins: origins,
      ...(token !== undefined ? { token } : {}),
      onRequest: (r) =>
        progress(
          pc.dim(
            `${r.method} ${r.path} ${r.status}${r.namespace ? ` namespace=${r.namespace}` : ''}${r.payloads !== undefined ? ` payloads=${r.payloads}` : ''}`,
          ),
        ),
    });
  } catch (err) {
    progress(pc.red(`cannot listen on ${opts.host}:${opts.port}: ${messageOf(err)}`));
    return ExitCode.Unreachable;
  }
  progress(
    `codec server on ${server.url}: key ids ${codec.keyIds.join(', ')} (encrypts with ${codec.encryptWith}); ` +
      `browser origins: ${origins.length ? origins.join(', ') : 'none'}; bearer token ${token ? 'required' : 'not required'}`,
  );
  progress(`set it as the codec server endpoint in the Temporal UI (Data Encoder settings) or pass --codec-endpoint`);
  process.stdout.write(`${server.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.close();
  return ExitCode.Ok;
}

interface DeployCliOptions extends OutputOptions, NotifyCliOptions {
  filename: string[];
  recursive: boolean;
  namespace?: string;
  cluster?: string;
  app?: string;
  timeout: number;
  dryRun: boolean;
  force: boolean;
  wait: boolean;
  rollback: boolean;
  prune: boolean;
  requireApproval: boolean;
  approvalTimeout: number;
  onConflict: 'reject' | 'latest-wins';
  allowPlaintextSecrets: boolean;
}

async function deployCommand(opts: DeployCliOptions): Promise<number> {
  let sources;
  try {
    sources = await loadManifestSources(opts.filename, process.stdin, { recursive: opts.recursive });
  } catch (err) {
    progress(pc.red(messageOf(err)));
    return ExitCode.BadInput;
  }
  return withClient(
    async (client) => {
      try {
        const handle = await client.deploy(
          {
            sources,
            ...(opts.namespace ? { namespace: opts.namespace } : {}),
            ...(opts.cluster ? { cluster: opts.cluster } : {}),
            ...(opts.app ? { app: opts.app } : {}),
            timeoutSeconds: opts.timeout,
            dryRun: opts.dryRun,
            force: opts.force,
            wait: opts.wait,
            rollback: opts.rollback,
            prune: opts.prune,
            requireApproval: opts.requireApproval,
            approvalTimeoutSeconds: opts.approvalTimeout,
            ...notifyInput(opts),
          },
          { onConflict: opts.onConflict === 'latest-wins' ? 'latestWins' : 'reject' },
        );
        progress(pc.dim(`started ${handle.workflowId}`));
        const report = await followDeploy(handle);
        const format = outputFormatOf(opts);
        process.stdout.write(format === 'text' ? `${renderReport(report)}\n` : formatDocument(report, format));
        return exitCodeForReport(report);
      } catch (err) {
        // -o json|yaml promises one document on stdout whatever happens; withClient says why on stderr.
        if (isMachineOutput(opts))
          process.stdout.write(formatDocument({ outcome: 'failed', message: messageOf(err) }, outputFormatOf(opts)));
        throw err;
      }
    },
    opts.allowPlaintextSecrets ? { allowPlaintextSecrets: true } : {},
  );
}

/** Runs the CLI with `argv` (process.argv shape). */
export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code?.startsWith('commander.')) {
      process.exitCode = ExitCode.BadInput;
      return;
    }
    progress(pc.red(messageOf(err)));
    process.exitCode = ExitCode.Failed;
  }
}
