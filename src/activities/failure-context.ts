/**
 * The activities of end-of-run alerts (`notify` on deploy, scale, fleet and node inputs):
 *
 * - `checkAlertChannels`: at the start of a run, before any write, a channel name the worker does not have fails
 *   the run with `InvalidInput` naming it and the configured ones.
 * - `gatherFailureContext`: the evidence an alert carries, read through the cluster's gateway: the failing pods of
 *   the given objects (not Ready: crash-looping, pending, failed), the last lines of each failing container's log
 *   (`pods/log` with `tailLines` and `limitBytes`; the previous instance's for a restarted container; a log that
 *   cannot be read says why instead of failing), the recent Events of the objects and those pods (newest first),
 *   and the run's page in the Temporal Web UI when the worker knows the UI's address. Read-only and bounded (see
 *   `domain/op-alert` for the limits): what cannot be read becomes a note, never a failure, so an alert is never
 *   held back by the evidence for it.
 * @module
 */
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AlertChannel } from '../alerts/types.js';
import { toLabelSelector, type DeploymentSelector } from '../domain/canary.js';
import { FailureType } from '../domain/failures.js';
import {
  clip,
  lastLogLines,
  newestEvents,
  OP_ALERT_LIMITS,
  triagePod,
  workflowUiLink,
  WORKLOAD_API_VERSIONS,
  type PodLike,
} from '../domain/op-alert.js';
import { formatSelector } from '../domain/selectors.js';
import { formatSubject } from '../domain/subject.js';
import type { KubeGateway, LiveObject } from '../kube/index.js';
import {
  CheckAlertChannelsInput,
  GatherFailureContextInput,
  type ContainerContext,
  type EventContext,
  type FailingObjectRef,
  type FailureContext,
  type PodContext,
} from '../schemas/notify.js';
import { parseInput } from './failures.js';

/** What the end-of-run alert activities need. */
export interface FailureContextDeps {
  gateway(cluster: string): KubeGateway;
  /** Alert channels configured on the worker, by name. */
  alertChannels?: ReadonlyMap<string, AlertChannel>;
  /** The Temporal Web UI's address (`TEMPORAL_UI_URL`, `temporal.uiUrl`): alerts link to the run there. */
  temporalUiUrl?: string | undefined;
}

interface RawEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  series?: { count?: number; lastObservedTime?: string };
  lastTimestamp?: string;
  eventTime?: string;
  firstTimestamp?: string;
  metadata?: { creationTimestamp?: string };
  involvedObject?: { kind?: string; namespace?: string; name?: string };
}

/** Builds `checkAlertChannels` and `gatherFailureContext`. */
export function createFailureContextActivities(deps: FailureContextDeps) {
  return {
    /** Fails with a non-retryable `InvalidInput` when a named channel is not configured on this worker. */
    checkAlertChannels(raw: CheckAlertChannelsInput): Promise<{ channels: string[] }> {
      const input = parseInput(CheckAlertChannelsInput, raw);
      const configured = [...(deps.alertChannels?.keys() ?? [])];
      const unknown = input.channels.filter((c) => !deps.alertChannels?.has(c));
      if (unknown.length) {
        throw ApplicationFailure.nonRetryable(
          `notify.channels: ${unknown.map((c) => `"${c}"`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not ` +
            `configured on this worker (configured: ${configured.join(', ') || 'none'})`,
          FailureType.InvalidInput,
        );
      }
      return Promise.resolve({ channels: input.channels });
    },

    /** Reads the evidence of a failure (see the module contract). Never fails for what it cannot read. */
    async gatherFailureContext(raw: GatherFailureContextInput): Promise<FailureContext> {
      const input = parseInput(GatherFailureContextInput, raw);
      const notes: string[] = [];
      const context: FailureContext = { pods: [], events: [], notes };
      const link = runLink(deps.temporalUiUrl);
      if (link) context.link = link;
      if (!input.objects.length) return context;
      let gw: KubeGateway;
      try {
        gw = deps.gateway(input.cluster ?? '');
      } catch (err) {
        notes.push(`cluster ${input.cluster || '(default)'}: ${messageOf(err)}`);
        return context;
      }
      const failing: { pod: LiveObject; triage: NonNullable<ReturnType<typeof triagePod>> }[] = [];
      const seen = new Set<string>();
      for (const ref of input.objects) {
        for (const pod of await podsOf(gw, ref, notes)) {
          const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
          const triage = triagePod(pod as unknown as PodLike);
          if (!triage || seen.has(key)) continue;
          seen.add(key);
          failing.push({ pod, triage });
        }
      }
      failing.sort((a, b) => b.triage.rank - a.triage.rank);
      const shown = failing.slice(0, OP_ALERT_LIMITS.pods);
      if (failing.length > shown.length) notes.push(`${failing.length - shown.length} more failing pods not shown`);
      for (const { pod, triage } of shown) {
        const namespace = pod.metadata.namespace as string;
        const containers: ContainerContext[] = [];
        for (const c of triage.containers) {
          containers.push(await containerLog(gw, { namespace, name: pod.metadata.name }, c, input.logLines));
        }
        const podContext: PodContext = {
          subject: formatSubject({ kind: 'Pod', namespace, name: pod.metadata.name }),
          phase: (pod.status as { phase?: string } | undefined)?.phase ?? 'Unknown',
          problem: triage.problem,
          containers,
        };
        context.pods.push(podContext);
      }
      const involved = new Map<string, FailingObjectRef>();
      for (const ref of [
        ...input.objects,
        ...shown.map(({ pod }) => ({ kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name })),
      ]) {
        involved.set(formatSubject(ref), ref);
      }
      const events: EventContext[] = [];
      for (const ref of involved.values()) events.push(...(await eventsOf(gw, ref, notes)));
      context.events = newestEvents(events);
      return context;
    },
  };
}

/** The run's Web UI page, from the activity's own workflow execution; undefined without a UI address. */
function runLink(base: string | undefined): string | undefined {
  if (!base) return undefined;
  const { workflowNamespace, workflowExecution } = activityInfo();
  if (!workflowNamespace || !workflowExecution) return undefined; // a standalone activity has no run to link to
  return workflowUiLink(base, workflowNamespace, workflowExecution.workflowId, workflowExecution.runId);
}

/** The pods to look at for one object: itself (Pod), those on it (Node), or those its selector picks (workloads). */
async function podsOf(gw: KubeGateway, ref: FailingObjectRef, notes: string[]): Promise<LiveObject[]> {
  const subject = formatSubject(ref);
  try {
    if (ref.kind === 'Pod') {
      const pod = await gw.get({ apiVersion: 'v1', kind: 'Pod', namespace: ref.namespace, name: ref.name });
      if (!pod) notes.push(`${subject}: gone`);
      return pod ? [pod] : [];
    }
    if (ref.kind === 'Node') {
      return (await gw.list('v1', 'Pod', { fieldSelector: `spec.nodeName=${ref.name}` })).items;
    }
    const apiVersion = ref.apiVersion ?? WORKLOAD_API_VERSIONS[ref.kind];
    if (!apiVersion || !WORKLOAD_API_VERSIONS[ref.kind]) return [];
    const workload = await gw.get({ apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name });
    if (!workload) {
      notes.push(`${subject}: gone (its pods went with it)`);
      return [];
    }
    const selector = (workload as { spec?: { selector?: DeploymentSelector } }).spec?.selector;
    if (!selector) return [];
    const labelSelector = formatSelector(toLabelSelector(selector));
    if (!labelSelector) return [];
    return (await gw.list('v1', 'Pod', { namespace: ref.namespace, labelSelector })).items;
  } catch (err) {
    notes.push(`${subject}: pods not read: ${messageOf(err)}`);
    return [];
  }
}

/** The last lines of one container's log, or why there are none; the previous instance first when it restarted. */
async function containerLog(
  gw: KubeGateway,
  pod: { namespace: string; name: string },
  c: { name: string; state: string; restarts: number; readPrevious: boolean },
  lines: number,
): Promise<ContainerContext> {
  const base = { name: c.name, state: c.state, restarts: c.restarts };
  if (lines <= 0) return base;
  const read = (previous: boolean): Promise<string> =>
    gw.podLog(pod, {
      container: c.name,
      tailLines: lines,
      limitBytes: OP_ALERT_LIMITS.logBytesPerContainer,
      previous,
    });
  const problems: string[] = [];
  for (const previous of c.readPrevious ? [true, false] : [false]) {
    try {
      const log = lastLogLines(await read(previous), lines);
      return { ...base, log, ...(previous ? { previous: true } : {}) };
    } catch (err) {
      problems.push(`${previous ? 'previous instance: ' : ''}${messageOf(err)}`);
    }
  }
  return { ...base, logUnavailable: clip(`logs unavailable: ${problems.join('; ')}`, OP_ALERT_LIMITS.lineChars) };
}

/** The Events whose involved object is `ref` (core/v1 Events, field selector on name and kind). */
async function eventsOf(gw: KubeGateway, ref: FailingObjectRef, notes: string[]): Promise<EventContext[]> {
  const subject = formatSubject(ref);
  try {
    const fieldSelector = `involvedObject.name=${ref.name},involvedObject.kind=${ref.kind}`;
    const { items } = await gw.list('v1', 'Event', { namespace: ref.namespace, fieldSelector });
    return (items as unknown as RawEvent[]).map((e) => ({
      subject,
      type: e.type ?? 'Normal',
      reason: e.reason ?? '',
      message: clip((e.message ?? '').trim(), OP_ALERT_LIMITS.lineChars),
      count: e.series?.count ?? e.count ?? 1,
      lastSeen:
        e.series?.lastObservedTime ??
        e.lastTimestamp ??
        e.eventTime ??
        e.firstTimestamp ??
        e.metadata?.creationTimestamp ??
        '',
    }));
  } catch (err) {
    notes.push(`${subject}: events not read: ${messageOf(err)}`);
    return [];
  }
}

function messageOf(err: unknown): string {
  return clip(err instanceof Error ? err.message : String(err), OP_ALERT_LIMITS.lineChars);
}
