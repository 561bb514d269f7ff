/**
 * Worker Versioning from the operator's side: the builds of a Worker Deployment, which one is current or ramping,
 * how many runs are still open on each (pinned ones keep a build needed, auto-upgrade ones move at their next
 * workflow task), and the switch step of an upgrade (set the current build, or ramp a share of new runs to one).
 *
 * Reads and writes through the Temporal client's `workflowService` (the Worker Deployment API and visibility
 * counts over the server's `TemporalWorkerDeploymentVersion` / `TemporalWorkflowVersioningBehavior` search
 * attributes): the SDK has no higher-level deployment client yet. The server's own drainage status lags by its
 * visibility grace period (minutes); the counts here are what visibility says now.
 * @module
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { InvalidInputError } from './errors.js';

const VersionStatus = proto.temporal.api.enums.v1.WorkerDeploymentVersionStatus;
/** gRPC status NOT_FOUND. */
const NOT_FOUND = 5;
/** gRPC status codes the deployment API answers for a missing deployment or build, or a refused change. */
const REFUSED_CODES: ReadonlySet<number> = new Set([3 /* INVALID_ARGUMENT */, NOT_FOUND, 9 /* FAILED_PRECONDITION */]);

/** Where a build stands in its deployment's routing (the server's version status, lower-cased). */
export type WorkerVersionStatus = 'current' | 'ramping' | 'draining' | 'drained' | 'inactive' | 'unknown';

/** One build of a Worker Deployment. */
export interface WorkerVersionSummary {
  buildId: string;
  /**
   * `current` takes new runs (and auto-upgrade runs' next tasks); `ramping` takes {@link rampPercentage} of new
   * runs; `draining` was current and still has open pinned runs (per the server's periodic check); `drained` has
   * none left; `inactive` never took traffic.
   */
  status: WorkerVersionStatus;
  /** Share of new runs sent to this build while it is ramping (0-100). */
  rampPercentage?: number | undefined;
  /**
   * Open runs whose last workflow task ran on this build: `pinned` runs stay on it until they end (the build's
   * workers must keep running); `autoUpgrade` runs (monitors) move to the current build at their next workflow task.
   */
  openRuns: { pinned: number; autoUpgrade: number };
  /**
   * True when the build's workers can be stopped: it is neither current nor ramping and no run is open on it. Pinned
   * runs leave when they end; auto-upgrade runs at their next workflow task (a quiet monitor's comes within its
   * 30-minute resync). Auto-upgrade runs count too: until they have moved, their next task still goes to this build.
   */
  safeToStop: boolean;
  /** When the server first saw a worker of this build. */
  createdAt?: Date | undefined;
  /** Since when it is current (current builds only). */
  currentSince?: Date | undefined;
}

/** A Worker Deployment's routing and builds, newest first. */
export interface WorkerDeploymentStatus {
  deploymentName: string;
  /** The current build; undefined while new runs go to unversioned workers. */
  currentBuildId: string | undefined;
  /** The ramping build and its share of new runs, if any. */
  ramping?: { buildId: string; percentage: number } | undefined;
  versions: WorkerVersionSummary[];
}

/** What {@link setCurrentWorkerVersion} / {@link setRampingWorkerVersion} changed. */
export interface RoutingChange {
  deploymentName: string;
  /** The build that was current (or ramping) before; undefined when none (unversioned). */
  previousBuildId: string | undefined;
  /** Open runs of the auto-upgrade types given an AUTO_UPGRADE override ({@link followCurrentBuild}); set-current only. */
  autoUpgradeRuns?: number;
}

/**
 * Long-running workflow types that follow the current build: `versions set-current` gives each open run an
 * AUTO_UPGRADE versioning override, so it moves to the new build at its next workflow task (their code changes go
 * through `patched()` and the replay test). Every other type stays PINNED through the worker's default
 * behaviour: a deploy, scale, canary or node maintenance finishes on the build it started on. (Workflow files
 * declare no behaviour themselves: the dev server refuses a declared behaviour from an unversioned worker.)
 */
export const AUTO_UPGRADE_WORKFLOW_TYPES: readonly string[] = ['monitorHealth', 'rolloutFleet'];

/** Identity recorded by the server as the last modifier of the deployment's routing. */
export const VERSIONS_IDENTITY = 'kube-workflows versions';

/** Builds of a Worker Deployment with their routing status and open runs. */
export async function describeWorkerDeployment(
  client: Client,
  deploymentName: string,
): Promise<WorkerDeploymentStatus> {
  const { namespace } = client.options;
  const described = await call(deploymentName, () =>
    client.workflowService.describeWorkerDeployment({ namespace, deploymentName }),
  );
  const info = described.workerDeploymentInfo;
  const routing = info?.routingConfig;
  const currentBuildId = routing?.currentDeploymentVersion?.buildId || undefined;
  const rampingBuildId = routing?.rampingDeploymentVersion?.buildId || undefined;
  const rampPercentage = routing?.rampingVersionPercentage ?? 0;
  const versions = await Promise.all(
    (info?.versionSummaries ?? []).map(async (v): Promise<WorkerVersionSummary> => {
      const buildId = v.deploymentVersion?.buildId ?? '';
      const status = statusName(v.status);
      const openRuns = await countOpenRuns(client, deploymentName, buildId);
      return {
        buildId,
        status,
        ...(buildId === rampingBuildId ? { rampPercentage } : {}),
        openRuns,
        safeToStop: status !== 'current' && status !== 'ramping' && openRuns.pinned + openRuns.autoUpgrade === 0,
        createdAt: dateOf(v.createTime),
        currentSince: status === 'current' ? dateOf(v.currentSinceTime) : undefined,
      };
    }),
  );
  versions.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
  return {
    deploymentName,
    currentBuildId,
    ...(rampingBuildId ? { ramping: { buildId: rampingBuildId, percentage: rampPercentage } } : {}),
    versions,
  };
}

/**
 * Makes `buildId` the current build: new runs start on it and auto-upgrade runs move to it at their next workflow
 * task; pinned runs stay where they are. A ramp of that build ends. The build's workers must be polling.
 */
export async function setCurrentWorkerVersion(
  client: Client,
  deploymentName: string,
  buildId: string,
  identity = VERSIONS_IDENTITY,
): Promise<RoutingChange> {
  const { namespace } = client.options;
  const r = await call(
    deploymentName,
    () => client.workflowService.setWorkerDeploymentCurrentVersion({ namespace, deploymentName, buildId, identity }),
    buildId,
  );
  const autoUpgradeRuns = await followCurrentBuild(client, deploymentName, AUTO_UPGRADE_WORKFLOW_TYPES, identity);
  return {
    deploymentName,
    previousBuildId: previousBuild(r.previousDeploymentVersion, r.previousVersion),
    autoUpgradeRuns,
  };
}

/**
 * Gives every open run of `types` in the deployment a versioning override AUTO_UPGRADE, so that it moves to the
 * current build at its next workflow task whatever its last task declared. Needed because SDK 1.24's core completes
 * a workflow task that needs no workflow code (after an activity cancellation, say) with the worker's default
 * behaviour, PINNED, which would hold a monitor on that build until a later task runs workflow code. Idempotent;
 * returns how many runs it set.
 */
export async function followCurrentBuild(
  client: Client,
  deploymentName: string,
  types: readonly string[] = AUTO_UPGRADE_WORKFLOW_TYPES,
  identity = VERSIONS_IDENTITY,
): Promise<number> {
  if (!types.length) return 0;
  const { namespace } = client.options;
  const query =
    `TemporalWorkerDeployment = '${deploymentName}' AND ExecutionStatus = 'Running' AND ` +
    `WorkflowType IN (${types.map((t) => `'${t}'`).join(', ')})`;
  let count = 0;
  for await (const run of client.workflow.list({ query })) {
    try {
      await client.workflowService.updateWorkflowExecutionOptions({
        namespace,
        workflowExecution: { workflowId: run.workflowId, runId: run.runId },
        workflowExecutionOptions: { versioningOverride: { autoUpgrade: true } },
        updateMask: { paths: ['versioning_override'] },
        identity,
      });
      count += 1;
    } catch (err) {
      // the run ended (or continued-as-new) since the list: its successor starts on the current build anyway
      if ((err as { code?: number }).code !== NOT_FOUND) throw err;
    }
  }
  return count;
}

/**
 * Sends `percentage` (0-100) of new runs to `buildId` while the current build keeps the rest; `percentage` 0 with
 * the ramping build stops the ramp. Auto-upgrade runs follow the ramp too, by workflow id.
 */
export async function setRampingWorkerVersion(
  client: Client,
  deploymentName: string,
  buildId: string,
  percentage: number,
  identity = VERSIONS_IDENTITY,
): Promise<RoutingChange> {
  if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
    throw new InvalidInputError(`ramp percentage: expected 0 to 100, got ${percentage}`);
  }
  const { namespace } = client.options;
  // percentage 0 of the ramping build: no ramping build at all (the server's way to end a ramp)
  const stop = percentage === 0;
  const r = await call(
    deploymentName,
    () =>
      client.workflowService.setWorkerDeploymentRampingVersion({
        namespace,
        deploymentName,
        buildId: stop ? '' : buildId,
        percentage,
        identity,
      }),
    buildId,
  );
  return { deploymentName, previousBuildId: previousBuild(r.previousDeploymentVersion, r.previousVersion) };
}

/** Open runs last handled by `buildId`, split by versioning behaviour (visibility: eventually consistent). */
async function countOpenRuns(
  client: Client,
  deploymentName: string,
  buildId: string,
): Promise<WorkerVersionSummary['openRuns']> {
  const version = `${deploymentName}:${buildId}`; // the search attribute's spelling (the API's is name.buildId)
  const count = async (behavior: 'Pinned' | 'AutoUpgrade'): Promise<number> => {
    const query =
      `TemporalWorkerDeploymentVersion = '${version}' AND ExecutionStatus = 'Running' AND ` +
      `TemporalWorkflowVersioningBehavior = '${behavior}'`;
    const r = await client.workflowService.countWorkflowExecutions({ namespace: client.options.namespace, query });
    return Number(r.count ?? 0);
  };
  const [pinned, autoUpgrade] = await Promise.all([count('Pinned'), count('AutoUpgrade')]);
  return { pinned, autoUpgrade };
}

/** Runs a deployment API call; a missing deployment or build becomes an {@link InvalidInputError} saying so. */
async function call<T>(deploymentName: string, fn: () => Promise<T>, buildId?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as { code?: number }).code;
    const message = (err as Error).message.replace(/^\d+ [A-Z_]+: /, '');
    if (code !== undefined && REFUSED_CODES.has(code)) {
      const hint =
        /deployment/i.test(message) && !/version/i.test(message)
          ? ` (a deployment exists once a worker with KUBE_WORKFLOWS_DEPLOYMENT_NAME=${deploymentName} has polled)`
          : /version not found/i.test(message) && buildId
            ? ` (no worker of build "${buildId}" has polled deployment "${deploymentName}" yet)`
            : '';
      throw new InvalidInputError(`worker deployment "${deploymentName}": ${message}${hint}`, { cause: err });
    }
    throw err;
  }
}

function statusName(status: number | null | undefined): WorkerVersionStatus {
  switch (status) {
    case VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT:
      return 'current';
    case VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING:
      return 'ramping';
    case VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING:
      return 'draining';
    case VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED:
      return 'drained';
    case VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE:
      return 'inactive';
    default:
      return 'unknown';
  }
}

function previousBuild(
  version: { buildId?: string | null } | null | undefined,
  legacy: string | null | undefined,
): string | undefined {
  if (version?.buildId) return version.buildId;
  // servers that answer only the deprecated `name.buildId` string (`__unversioned__` when none)
  if (!legacy || legacy === '__unversioned__') return undefined;
  const dot = legacy.indexOf('.');
  return dot < 0 ? legacy : legacy.slice(dot + 1);
}

function dateOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): Date | undefined {
  if (!ts?.seconds) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}
