/**
 * `kube-workflows versions [set-current <buildId> [--ramp <percent>]]`: the builds of the workers' Worker
 * Deployment (which is current or ramping, how many runs each still has open, which can be stopped), and the
 * switch step of an upgrade. See the README's "Upgrading workers".
 * @module
 */
import { InvalidArgumentError, type Command } from 'commander';
import pc from 'picocolors';
import {
  describeWorkerDeployment,
  setCurrentWorkerVersion,
  setRampingWorkerVersion,
  type WorkerDeploymentStatus,
} from '../client/versions.js';
import { DEPLOYMENT_NAME_ENV } from '../worker/config.js';
import { ExitCode } from './exit-codes.js';
import { addOutputOptions, formatDocument, outputFormatOf, type OutputOptions } from './options.js';
import { withClient } from './with-client.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface DeploymentOption {
  deployment?: string | undefined;
}

function percentArg(value: string): number {
  const n = Number(value.replace(/%$/, ''));
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new InvalidArgumentError('expected a percentage from 0 to 100');
  }
  return n;
}

/** The deployment named by `--deployment`, else by the worker's own variable; undefined (and a message) when none. */
function deploymentNameOf(opts: DeploymentOption): string | undefined {
  const name = opts.deployment ?? (process.env[DEPLOYMENT_NAME_ENV] || undefined);
  if (!name) log(pc.red(`no worker deployment named: pass --deployment <name> or set ${DEPLOYMENT_NAME_ENV}`));
  return name;
}

/** Adds the `versions` command (and its `set-current` subcommand). */
export function addVersionsCommand(program: Command): void {
  const versions = program
    .command('versions')
    .description("show the workers' builds (Worker Versioning): current, ramping, open runs, safe to stop")
    .option('--deployment <name>', `worker deployment name (default: $${DEPLOYMENT_NAME_ENV})`)
    .addHelpText(
      'after',
      `
A pinned run (deploy, scale, scheduled run, deploy lock) finishes on the build it started on; a monitor moves to
the current build at its next workflow task. Stop a build's workers once it shows "safe to stop".

Examples:
  kube-workflows versions --deployment kube-workflows
  kube-workflows versions set-current 1.5.0 --ramp 10   # 10% of new runs on 1.5.0
  kube-workflows versions set-current 1.5.0             # all new runs on 1.5.0; 1.4.0 drains`,
    )
    .action(async (opts: DeploymentOption & OutputOptions) => {
      const name = deploymentNameOf(opts);
      if (!name) {
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.exitCode = await withClient(async (client) => {
        const status = await describeWorkerDeployment(client.temporal, name);
        const format = outputFormatOf(opts);
        process.stdout.write(format === 'text' ? renderVersions(status) : formatDocument(status, format));
        return ExitCode.Ok;
      });
    });
  addOutputOptions(versions, 'the deployment and its builds');

  versions
    .command('set-current <buildId>')
    .description('send new runs (and monitors) to this build; with --ramp, only that share of new runs')
    .option('--deployment <name>', `worker deployment name (default: $${DEPLOYMENT_NAME_ENV})`)
    .option('--ramp <percent>', 'ramp instead: this share (0-100) of new runs; 0 ends the ramp', percentArg)
    .action(async (buildId: string, opts: DeploymentOption & { ramp?: number }, command: Command) => {
      // `--deployment` given before the subcommand belongs to `versions`
      const name = deploymentNameOf({
        deployment: opts.deployment ?? (command.parent?.opts() as DeploymentOption).deployment,
      });
      if (!name) {
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.exitCode = await withClient(async (client) => {
        if (opts.ramp !== undefined) {
          const change = await setRampingWorkerVersion(client.temporal, name, buildId, opts.ramp);
          log(
            opts.ramp === 0
              ? `${name}: ramp ended (was ${change.previousBuildId ?? 'none'}); new runs go to the current build`
              : `${name}: ${opts.ramp}% of new runs go to ${buildId} (ramping before: ${change.previousBuildId ?? 'none'})`,
          );
        } else {
          const change = await setCurrentWorkerVersion(client.temporal, name, buildId);
          log(
            `${name}: current build ${buildId} (was ${change.previousBuildId ?? 'unversioned'}); ` +
              `${change.autoUpgradeRuns ?? 0} monitor run(s) follow it at their next workflow task; pinned runs ` +
              `finish on their build: watch \`kube-workflows versions\` until it says safe to stop`,
          );
        }
        return ExitCode.Ok;
      });
    });
}

/** The deployment as a table: one line per build, newest first. */
export function renderVersions(status: WorkerDeploymentStatus): string {
  const head = `worker deployment ${status.deploymentName}: current ${status.currentBuildId ?? '(unversioned)'}${
    status.ramping ? `, ramping ${status.ramping.buildId} at ${status.ramping.percentage}%` : ''
  }\n`;
  const rows = [
    ['BUILD', 'STATUS', 'RAMP', 'OPEN PINNED', 'OPEN AUTO-UPGRADE', 'SAFE TO STOP', 'CREATED'],
    ...status.versions.map((v) => [
      v.buildId,
      v.status,
      v.rampPercentage === undefined ? '-' : `${v.rampPercentage}%`,
      String(v.openRuns.pinned),
      String(v.openRuns.autoUpgrade),
      v.safeToStop ? 'yes' : 'no',
      v.createdAt?.toISOString() ?? '-',
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return (
    head +
    rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] ?? 0) : c)).join('  ')).join('\n') +
    '\n'
  );
}
