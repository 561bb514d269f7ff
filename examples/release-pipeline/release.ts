/**
 * A release pipeline written with kube-workflows' task library: deploy to staging → check (an analysis of the
 * staging workloads' health) → wait for a person's approval → deploy to prod → scale prod up → start a monitor.
 * Each step is one of our operations, run as a child workflow under its canonical id (so it takes the same lock a
 * CLI deploy would); a failure is a typed error this code decides on.
 */
import { condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import { analyze, deploy, isRolledBack, notify, reportOf, scale, startMonitor } from 'kube-workflows/workflows';
import type { DeployReport } from 'kube-workflows/schemas';

/** Input of {@link releasePipeline}. */
export interface ReleaseInput {
  /** The manifests of the release (multi-document YAML). */
  manifests: string;
  namespace: string;
  /** App name: lock and inventory of each deploy. */
  app: string;
  /** Label selector of the release's workloads (for the check and the monitor). */
  selector: string;
  /** The Deployment scaled up in prod. */
  deployment: string;
  stagingCluster: string;
  prodCluster: string;
  prodReplicas: number;
  /** Alert channels configured on the worker, told about a prod rollback and used by the monitor. */
  channels?: string[];
  /** How long to wait for the approval (default 1 hour). */
  approvalTimeout?: string;
}

/** What {@link releasePipeline} did. */
export interface ReleaseResult {
  outcome: 'released' | 'notApproved' | 'prodRolledBack';
  steps: string[];
  monitor?: string;
}

/** Someone approves the release to prod. */
export const approveRelease = defineSignal<[{ by: string }]>('approveRelease');
/** Where the pipeline is. */
export const releaseStepsQuery = defineQuery<string[]>('releaseSteps');

/** The pipeline. */
export async function releasePipeline(input: ReleaseInput): Promise<ReleaseResult> {
  const steps: string[] = [];
  let approvedBy: string | undefined;
  setHandler(approveRelease, ({ by }) => void (approvedBy = by));
  setHandler(releaseStepsQuery, () => steps);
  const target = { manifests: input.manifests, namespace: input.namespace, app: input.app };

  const staging = await deploy({ ...target, cluster: input.stagingCluster });
  steps.push(`staging: ${staging.outcome}`);

  const check = await analyze({
    cluster: input.stagingCluster,
    spec: {
      name: 'staging-health',
      provider: { kubernetes: { namespace: input.namespace, selector: input.selector } },
      successCondition: 'result.status == "Current"',
      count: 2,
      interval: '1s',
    },
  });
  steps.push(`check: ${check.outcome}`);
  if (check.outcome !== 'successful') return { outcome: 'notApproved', steps };

  steps.push('waiting for approval');
  if (!(await condition(() => approvedBy !== undefined, input.approvalTimeout ?? '1 hour'))) {
    steps.push('approval timed out');
    return { outcome: 'notApproved', steps };
  }
  steps.push(`approved by ${approvedBy}`);

  try {
    const prod = await deploy({ ...target, cluster: input.prodCluster });
    steps.push(`prod: ${prod.outcome}`);
  } catch (err) {
    if (!isRolledBack(err)) throw err;
    steps.push(`prod: rolled back (${reportOf<DeployReport>(err)?.message ?? ''})`);
    if (input.channels?.length) {
      await notify(input.channels, {
        action: 'trigger',
        dedupKey: `release/${input.app}/prod-rollback`,
        summary: `${input.app}: prod deploy rolled back`,
        source: `deploy/${input.prodCluster}/${input.namespace}/${input.app}`,
        severity: 'warning',
        startsAt: new Date().toISOString(),
      });
    }
    return { outcome: 'prodRolledBack', steps };
  }

  const scaled = await scale({
    kind: 'Deployment',
    name: input.deployment,
    namespace: input.namespace,
    cluster: input.prodCluster,
    replicas: input.prodReplicas,
  });
  steps.push(`prod scaled ${scaled.from} → ${scaled.to}`);

  const monitor = await startMonitor({
    name: `${input.app}-${input.prodCluster}`,
    cluster: input.prodCluster,
    targets: [{ type: 'kube', namespace: input.namespace, selector: input.selector }],
    channels: input.channels ?? [],
  });
  steps.push(`monitor: ${monitor}`);
  return { outcome: 'released', steps, monitor };
}
