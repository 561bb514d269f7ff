/**
 * What each operation's report tells its end-of-run alert: outcome, reason, what was done and undone, and where the
 * evidence is (the objects whose pods and Events `gatherFailureContext` reads). One pure function per report
 * shape; the workflows hand them to `OutcomeAlert` (src/workflows/notify-outcome.ts). Never claims more than the
 * report does.
 * @module
 */
import type { DeployReport } from '../schemas/deploy.js';
import type { FleetReport } from '../schemas/fleet.js';
import type { NodeMaintenanceReport } from '../schemas/node.js';
import type { FailingObjectRef } from '../schemas/notify.js';
import type { ScaleReport } from '../schemas/scale.js';
import type { OperationFacts } from './op-alert.js';
import { WORKLOAD_API_VERSIONS } from './op-alert.js';

/** Where the evidence of an outcome is: per cluster, the objects whose pods and Events explain it. */
export interface Evidence {
  /** Configured cluster name ('' for the worker's default). */
  cluster: string;
  objects: FailingObjectRef[];
}

/** What a run's report tells its alert. */
export type OutcomeFacts = Omit<OperationFacts, 'workflowType' | 'workflowId' | 'runId'> & {
  /** Read at the end only when the run did not capture its evidence earlier (a deploy does, before rolling back). */
  evidence: Evidence[];
};

/** `Kind/ns/name` (or `Kind/name`) back to a reference. */
export function refOfSubject(subject: string): FailingObjectRef | undefined {
  const parts = subject.split('/');
  if (parts.length === 3) return { kind: parts[0] as string, namespace: parts[1] as string, name: parts[2] as string };
  if (parts.length === 2) return { kind: parts[0] as string, name: parts[1] as string };
  return undefined;
}

/**
 * The objects of a deploy whose pods and Events explain a failure: the workloads (and pods) that are not Current,
 * else every workload of the deploy (an analysis failed on healthy objects), else every object.
 */
export function deployEvidenceRefs(
  objects: readonly { subject: string; status?: string | undefined }[],
  limit = 20,
): FailingObjectRef[] {
  const refs = objects
    .map((o) => ({ ref: refOfSubject(o.subject), status: o.status }))
    .filter((x): x is { ref: FailingObjectRef; status: string | undefined } => x.ref !== undefined);
  const workloads = refs.filter((x) => WORKLOAD_API_VERSIONS[x.ref.kind] || x.ref.kind === 'Pod');
  const unhealthy = workloads.filter((x) => x.status !== undefined && x.status !== 'Current');
  return (unhealthy.length ? unhealthy : workloads.length ? workloads : refs).slice(0, limit).map((x) => x.ref);
}

/** A deploy report's facts: done = objects written, undone = their rollback and what is left. */
export function deployAlertFacts(report: DeployReport, namespace: string | undefined): OutcomeFacts {
  const done: string[] = [];
  const undone: string[] = [];
  for (const o of report.objects) {
    if (o.rollback && o.rollback !== 'untouched') {
      done.push(`${o.subject} written`);
      undone.push(`${o.subject} ${o.rollback}${o.rollback === 'failed' && o.message ? `: ${o.message}` : ''}`);
    } else if (o.action !== 'unchanged' && !o.rollback) {
      done.push(`${o.subject} ${o.action}`);
    }
  }
  for (const left of report.left ?? []) undone.push(`left: ${left}`);
  return {
    outcome: report.outcome,
    reason: report.failure ? `${report.failure.type}: ${report.failure.message}` : report.message,
    cluster: report.cluster,
    namespace,
    done: report.outcome === 'planned' || report.outcome === 'rejected' ? [] : done,
    undone,
    evidence: [{ cluster: report.cluster, objects: deployEvidenceRefs(report.objects) }],
  };
}

/** A scale report's facts: the count written; evidence is the workload. */
export function scaleAlertFacts(report: ScaleReport, namespace: string): OutcomeFacts {
  const ref = refOfSubject(report.subject);
  const bounds = report.autoscaler
    ? [
        `${report.autoscaler.kind}/${report.autoscaler.name} bounds ${report.autoscaler.from.minReplicas}-${report.autoscaler.from.maxReplicas} → ${report.autoscaler.to.minReplicas}-${report.autoscaler.to.maxReplicas}`,
      ]
    : [];
  return {
    outcome: report.outcome,
    reason: report.message,
    cluster: report.cluster,
    namespace,
    done: [...bounds, `${report.subject} replicas ${report.from} → ${report.to}`],
    undone: [],
    evidence: ref ? [{ cluster: report.cluster, objects: [ref] }] : [],
  };
}

/** A fleet report's facts: clusters deployed and rolled back; evidence is each failed cluster's workloads. */
export function fleetAlertFacts(
  report: FleetReport,
  workloadsOf: (cluster: string) => FailingObjectRef[],
): OutcomeFacts {
  const cells = report.waves.flatMap((w) => w.cells.map((c) => ({ ...c, wave: w.name })));
  const done = cells
    .filter((c) => c.deployOutcome)
    .map((c) => `${c.wave}/${c.cluster}: deploy ${c.deployOutcome}${c.health ? ` (${c.health})` : ''}`);
  const undone = cells
    .filter((c) => c.rollback)
    .map((c) => `${c.wave}/${c.cluster}: rollback ${c.rollback?.outcome}: ${c.rollback?.message}`);
  const failed = cells.filter((c) => c.phase === 'failed');
  return {
    outcome: report.outcome,
    reason: report.haltReason ?? report.message,
    done,
    undone,
    evidence: failed.map((c) => ({ cluster: c.cluster, objects: workloadsOf(c.cluster) })),
  };
}

/** A node maintenance report's facts: pods evicted and deleted; evidence is the node and the pods left on it. */
export function nodeAlertFacts(report: NodeMaintenanceReport): OutcomeFacts {
  const done = [
    ...report.evicted.map((p) => `evicted Pod/${p}`),
    ...report.bypassed.map((b) => `deleted Pod/${b.pod} past its budget (approved by ${b.by})`),
    ...(report.action.status !== 'none' ? [`action ${report.action.status}: ${report.action.message}`] : []),
  ];
  const undone = [
    report.uncordoned
      ? `Node/${report.node} uncordoned`
      : `Node/${report.node} left cordoned${report.keptCordoned ? `: ${report.keptCordoned}` : ''}`,
  ];
  const pods = report.blocked
    .map((b) => refOfSubject(`Pod/${b.pod}`))
    .filter((r): r is FailingObjectRef => r !== undefined);
  return {
    outcome: report.outcome,
    reason: report.failure ? `${report.failure.type}: ${report.failure.message}` : report.message,
    cluster: report.cluster,
    done,
    undone,
    evidence: [{ cluster: report.cluster, objects: [{ kind: 'Node', name: report.node }, ...pods] }],
  };
}
