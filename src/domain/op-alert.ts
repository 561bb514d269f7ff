/**
 * The end-of-run alert of an operation (deploy, scale, fleet rollout, node maintenance), as pure code: which pods
 * count as failing and why, which log lines and Events an alert keeps, its dedup key, and the one
 * {@link AlertEvent} built from the run's facts and the evidence `gatherFailureContext` read. Everything here is
 * bounded: an alert stays a few kilobytes whatever the cluster holds (PROTOCOLS.md: PagerDuty takes 512 KB, Slack
 * fields 2,000 characters, Alertmanager annotations are kept in memory), and a run's history holds one per channel.
 * Deterministic and free of I/O: the workflows build the event, the activities gather the evidence.
 * @module
 */
import type { AlertEvent, AlertSeverity } from '../schemas/alerts.js';
import type { EventContext, FailureContext, PodContext } from '../schemas/notify.js';

/** The bounds of one alert. */
export const OP_ALERT_LIMITS = {
  /** Failing pods described (worst first). */
  pods: 5,
  /** Containers per pod whose log is read. */
  containersPerPod: 3,
  /** Bytes of log asked of the API server per container (`limitBytes`). */
  logBytesPerContainer: 16_384,
  /** Characters kept of one log line or Event message. */
  lineChars: 300,
  /** Events kept in all. */
  events: 12,
  /** Characters of the `logs` detail (the tails of every container). */
  logsChars: 6_000,
  /** Characters of each other long detail (`reason`, `done`, `undone`, `events`, `pods`). */
  detailChars: 2_000,
  /** Characters of the summary line. */
  summaryChars: 200,
} as const;

/** `alertname` (Alertmanager) of every operation alert. */
export const OP_ALERT_NAME = 'KubeWorkflowsOperation';

/** Kinds whose pods are found through their `spec.selector`, with their API version. */
export const WORKLOAD_API_VERSIONS: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
};

/** Container reasons that are failures, not progress (HEALTH.md "fail fast from pods"). */
const FAILING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
  'Error',
  'OOMKilled',
]);

interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: unknown;
    terminated?: { reason?: string; exitCode?: number; message?: string };
  };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

/** The parts of a Pod the triage reads. */
export interface PodLike {
  metadata: { name: string; namespace?: string | undefined; deletionTimestamp?: string | undefined };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

/** One container of a failing pod, and whether its log should be read from the previous instance. */
export interface ContainerTriage {
  name: string;
  state: string;
  restarts: number;
  /** It restarted and is not running now: what it said before dying is in the previous instance's log. */
  readPrevious: boolean;
}

/** A failing pod: its one-line problem, how bad it is (higher first), and the containers worth reading. */
export interface PodTriage {
  problem: string;
  rank: number;
  containers: ContainerTriage[];
}

/**
 * Whether a pod is failing (not Ready: crash-looping, pending, failed, running unready) and why; undefined for a
 * pod that is Ready or Succeeded.
 */
export function triagePod(pod: PodLike): PodTriage | undefined {
  const status = pod.status ?? {};
  const phase = status.phase ?? 'Unknown';
  if (phase === 'Succeeded') return undefined;
  const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  if (ready && phase === 'Running') return undefined;
  const all = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  const containers = all
    .filter((c) => !c.ready)
    .map((c) => triageContainer(c))
    .sort((a, b) => b.rank - a.rank);
  const worst = containers[0];
  const unschedulable = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  let problem: string;
  let rank: number;
  if (worst && worst.rank >= 3) {
    problem = `${worst.reason}: container ${worst.name}${worst.restarts ? ` restarted ${worst.restarts} times` : ''}`;
    rank = worst.rank;
  } else if (phase === 'Failed') {
    problem = `Failed: ${status.reason ?? 'pod failed'}${status.message ? `: ${status.message}` : ''}`;
    rank = 3;
  } else if (unschedulable) {
    problem = `Pending: ${unschedulable.reason ?? 'Unschedulable'}${unschedulable.message ? `: ${unschedulable.message}` : ''}`;
    rank = 2;
  } else if (phase === 'Pending') {
    problem = worst ? `Pending: container ${worst.name} ${worst.state}` : 'Pending';
    rank = 1;
  } else {
    problem = worst ? `not Ready: container ${worst.name} ${worst.state}` : `${phase}, not Ready`;
    rank = 1;
  }
  if (pod.metadata.deletionTimestamp) problem += ' (terminating)';
  return {
    problem: clip(problem, OP_ALERT_LIMITS.lineChars),
    rank,
    containers: containers
      .slice(0, OP_ALERT_LIMITS.containersPerPod)
      .map(({ name, state, restarts, readPrevious }) => ({
        name,
        state,
        restarts,
        readPrevious,
      })),
  };
}

function triageContainer(c: ContainerStatus): ContainerTriage & { rank: number; reason: string } {
  const restarts = c.restartCount ?? 0;
  const waiting = c.state?.waiting;
  const terminated = c.state?.terminated;
  const name = c.name ?? '?';
  if (waiting) {
    const reason = waiting.reason ?? 'Waiting';
    const failing = FAILING_REASONS.has(reason) || /(Err|Error|BackOff)/.test(reason);
    const state = `waiting: ${reason}${waiting.message ? ` (${waiting.message})` : ''}`;
    return { name, state: clip(state, 200), restarts, readPrevious: restarts > 0, rank: failing ? 4 : 1, reason };
  }
  if (terminated) {
    const reason = terminated.reason ?? 'Terminated';
    const state = `terminated: ${reason} (exit ${terminated.exitCode ?? '?'})`;
    return { name, state, restarts, readPrevious: false, rank: terminated.exitCode ? 3 : 1, reason };
  }
  return { name, state: 'running, not ready', restarts, readPrevious: false, rank: restarts > 0 ? 2 : 1, reason: '' };
}

/** The last `count` lines of a log, each at most {@link OP_ALERT_LIMITS.lineChars} characters, oldest first. */
export function lastLogLines(text: string, count: number): string[] {
  if (count <= 0) return [];
  const lines = text.replace(/\r/g, '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count).map((l) => clip(l, OP_ALERT_LIMITS.lineChars));
}

/** Newest first, at most `cap`: Warnings are kept before Normal events when there are more than `cap`. */
export function newestEvents(events: readonly EventContext[], cap: number = OP_ALERT_LIMITS.events): EventContext[] {
  const unique = new Map<string, EventContext>();
  for (const e of events) unique.set(`${e.subject}|${e.reason}|${e.message}`, e);
  const byTime = [...unique.values()].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  const kept = [...byTime.filter((e) => e.type === 'Warning'), ...byTime.filter((e) => e.type !== 'Warning')].slice(
    0,
    cap,
  );
  return byTime.filter((e) => kept.includes(e));
}

/** What a run tells its alert about itself (from its report). */
export interface OperationFacts {
  /** `deployManifests`, `scaleWorkload`, `rolloutFleet`, `maintainNode`, `drainNode`. */
  workflowType: string;
  workflowId: string;
  runId: string;
  /** The report's outcome, or `failed` / `cancelled` for a run that ended by throwing. */
  outcome: string;
  /** Why: the report's failure or message. */
  reason: string;
  cluster?: string | undefined;
  namespace?: string | undefined;
  /** What the run changed (`Deployment/shop/web created`). */
  done: string[];
  /** What it undid, and what it left (`Deployment/shop/web deleted`, `left: …`). */
  undone: string[];
}

/** The dedup key of a run's alert: the same for every retry and replay of that run, different for the next run. */
export function operationDedupKey(workflowId: string, runId: string): string {
  const key = `op/${workflowId}/${runId}`;
  return key.length <= 255 ? key : `op/${fnv1a(workflowId)}/${runId}`;
}

/** How bad an outcome is. */
export function outcomeSeverity(outcome: string): AlertSeverity {
  switch (outcome) {
    case 'rollbackFailed':
      return 'critical';
    case 'failed':
    case 'rolledBack':
    case 'halted':
    case 'aborted':
      return 'error';
    case 'rejected':
    case 'cancelled':
      return 'warning';
    default:
      return 'info';
  }
}

/**
 * The alert of a run: summary, labels (workflow type, outcome, cluster, namespace), details (reason, done and
 * undone, failing pods, their log tails, Events, what could not be read) and the Web UI link, all bounded.
 * `contextProblem` says why there is no evidence at all (the activity failed).
 */
export function buildOperationAlert(
  facts: OperationFacts,
  context: FailureContext | undefined,
  options: { startsAt: string; contextProblem?: string | undefined },
): AlertEvent {
  const details: Record<string, string> = {
    workflowType: facts.workflowType,
    workflowId: facts.workflowId,
    runId: facts.runId,
    outcome: facts.outcome,
    reason: clip(facts.reason, OP_ALERT_LIMITS.detailChars),
  };
  if (facts.done.length) details.done = clip(facts.done.join('\n'), OP_ALERT_LIMITS.detailChars);
  if (facts.undone.length) details.undone = clip(facts.undone.join('\n'), OP_ALERT_LIMITS.detailChars);
  if (context?.pods.length) {
    details.pods = clip(context.pods.map((p) => `${p.subject}: ${p.problem}`).join('\n'), OP_ALERT_LIMITS.detailChars);
    const logs = formatLogs(context.pods);
    if (logs) details.logs = logs;
  }
  if (context?.events.length) details.events = clip(formatEvents(context.events), OP_ALERT_LIMITS.detailChars);
  const notes = [...(context?.notes ?? []), ...(options.contextProblem ? [options.contextProblem] : [])];
  if (notes.length) details.notes = clip(notes.join('\n'), OP_ALERT_LIMITS.detailChars);
  if (context?.link) details.link = context.link;
  const where = [facts.cluster && `cluster ${facts.cluster}`, facts.namespace && `namespace ${facts.namespace}`]
    .filter(Boolean)
    .join(', ');
  const summary = `${facts.workflowType} ${facts.outcome}: ${facts.workflowId}${where ? ` (${where})` : ''}: ${firstLine(facts.reason)}`;
  return {
    action: 'trigger',
    dedupKey: operationDedupKey(facts.workflowId, facts.runId),
    summary: clip(summary, OP_ALERT_LIMITS.summaryChars),
    source: clip(facts.workflowId, 255),
    severity: outcomeSeverity(facts.outcome),
    startsAt: options.startsAt,
    labels: {
      alertname: OP_ALERT_NAME,
      workflow_type: facts.workflowType,
      outcome: facts.outcome,
      ...(facts.cluster ? { cluster: facts.cluster } : {}),
      ...(facts.namespace ? { namespace: facts.namespace } : {}),
    },
    details,
    ...(context?.link ? { url: context.link } : {}),
  };
}

/** Each failing container's log tail under a `== Pod/ns/name container (previous) ==` line, bounded in all. */
export function formatLogs(pods: readonly PodContext[]): string {
  const blocks: string[] = [];
  for (const pod of pods) {
    for (const c of pod.containers) {
      const head = `== ${pod.subject} ${c.name}${c.previous ? ' (previous instance)' : ''} ==`;
      if (c.log?.length) blocks.push(`${head}\n${c.log.join('\n')}`);
      else if (c.logUnavailable) blocks.push(`${head}\n${c.logUnavailable}`);
      else if (c.log) blocks.push(`${head}\n(empty)`);
    }
  }
  const text = blocks.join('\n');
  // Keep the end: the last lines before a crash say the most.
  return text.length <= OP_ALERT_LIMITS.logsChars ? text : `…${text.slice(-(OP_ALERT_LIMITS.logsChars - 1))}`;
}

/** One line per Event: `2026-01-02T03:04:05Z Warning BackOff Pod/shop/web-1: Back-off restarting … (x5)`. */
export function formatEvents(events: readonly EventContext[]): string {
  return events
    .map((e) => `${e.lastSeen} ${e.type} ${e.reason} ${e.subject}: ${e.message}${e.count > 1 ? ` (x${e.count})` : ''}`)
    .join('\n');
}

/** The Web UI page of a run: `<base>/namespaces/<ns>/workflows/<workflowId>/<runId>/history`, ids encoded. */
export function workflowUiLink(base: string, namespace: string, workflowId: string, runId: string): string {
  const root = base.replace(/\/+$/, '');
  const enc = encodeURIComponent;
  return `${root}/namespaces/${enc(namespace)}/workflows/${enc(workflowId)}/${enc(runId)}/history`;
}

/** At most `max` characters, with `…` when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/** 32-bit FNV-1a as 8 hex digits: a short stable stand-in for an over-long id (no crypto in workflow code). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
