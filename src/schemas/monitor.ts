/**
 * Input, state and status of the `monitorHealth` workflow, and the alert events it sends. The monitor's state is
 * part of its input so that continue-as-new carries it: open incidents survive, and are never re-fired.
 * @module
 */
import { z } from 'zod';
import { parseLabelSelector } from '../domain/selectors.js';
import { parseThreshold } from '../domain/resource-usage.js';
import { AlertSeverity, type AlertEvent } from './alerts.js';
import { DurationText } from './duration.js';
import { NamespaceName } from './kube-object.js';

/**
 * Alert severities, worst first.
 * @deprecated Use {@link AlertSeverity} (`schemas/alerts`), the one definition; this alias will be removed.
 */
export const Severity = AlertSeverity;
/**
 * An alert severity.
 * @deprecated Use {@link AlertSeverity} (`schemas/alerts`); this alias will be removed.
 */
export type Severity = AlertSeverity;

const TargetId = z
  .string()
  .regex(/^[a-z0-9][-a-z0-9_.]*$/, 'an id is lowercase letters, digits, "-", "_" and "."')
  .max(100);

/**
 * A Kubernetes label selector (`app=web`, `tier in (front,back)`, `!canary`), checked as the API server checks it:
 * a selector it would reject is an input error here, never a watch that silently matches nothing.
 */
export const LabelSelectorText = z.string().superRefine((text, ctx) => {
  const parsed = parseLabelSelector(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid label selector "${text}": ${parsed.error}` });
});

/** The kinds a kube target watches by default: the workloads that run replicas. */
export const DEFAULT_MONITORED_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
/** Every kind a kube target can watch. Node is cluster-scoped; the others live in a namespace. */
export const MonitoredKind = z.enum([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Pod',
  'Job',
  'CronJob',
  'PersistentVolumeClaim',
  'Node',
]);
/** One of {@link MonitoredKind}. */
export type MonitoredKind = z.infer<typeof MonitoredKind>;
/** Kinds whose pods' CPU and memory use a resource threshold can measure. */
export const POD_RUNNING_KINDS: readonly MonitoredKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'Pod', 'Job'];

/**
 * A resource threshold: unhealthy while the pods' use is above `above` (a percentage, `'80%'`) of their `of`
 * (requests or limits), for `for` (default: the monitor's `forSeconds`). Use comes from the metrics API
 * (metrics.k8s.io PodMetrics, served by metrics-server), read once per namespace every `probeIntervalSeconds`.
 */
export const ResourceThreshold = z.object({
  above: z
    .union([z.string(), z.number()])
    .refine((v) => parseThreshold(v) !== undefined, 'a percentage above 0, such as "80%"'),
  of: z.enum(['requests', 'limits']).default('requests'),
  /** How long use must stay above before the target is degraded (`2m`, `90s` or seconds). */
  for: DurationText.optional(),
});
/** A resource threshold as callers write it. */
export type ResourceThreshold = z.input<typeof ResourceThreshold>;

/**
 * Kubernetes objects selected by kind, namespace and label selector (or names): each object becomes one monitored
 * target, keyed `Kind/namespace/name` (`Node/name` for nodes). Named objects that do not exist, and selected objects
 * that are deleted, are targets too: see `ignoreDeletions`.
 */
export const KubeTarget = z
  .object({
    type: z.literal('kube'),
    /** The objects' namespace; omitted for Nodes (cluster-scoped), required for every other kind. */
    namespace: NamespaceName.optional(),
    /** Label selector, e.g. `app.kubernetes.io/part-of=shop` or `tier in (web,api)`. */
    selector: LabelSelectorText.optional(),
    /** Only these object names: each is expected to exist (missing or deleted raises an incident). */
    names: z.array(z.string().min(1)).optional(),
    /** Kinds watched (default Deployment, StatefulSet, DaemonSet). */
    kinds: z
      .array(MonitoredKind)
      .min(1)
      .default([...DEFAULT_MONITORED_KINDS]),
    /** CronJobs: unhealthy when no run succeeded for longer than this (`26h`, `90m` or seconds). */
    maxSinceSuccess: DurationText.optional(),
    /**
     * Forget an object matched by the selector when it is deleted, instead of raising an incident
     * ("Deployment/shop/web was deleted") that resolves when it comes back. Named objects always raise one; Pods,
     * Jobs and Nodes matched by a selector are replaced, cleaned up and scaled away by design, so their deletion
     * never does.
     */
    ignoreDeletions: z.boolean().optional(),
    /** CPU / memory thresholds over the pods of each selected workload (Deployment, StatefulSet, DaemonSet, Pod, Job). */
    resources: z.object({ cpu: ResourceThreshold.optional(), memory: ResourceThreshold.optional() }).optional(),
  })
  .superRefine((t, ctx) => {
    const namespaced = t.kinds.filter((k) => k !== 'Node');
    if (t.namespace === undefined && namespaced.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['namespace'],
        message: `a namespace is required for ${namespaced.join(', ')} (only Nodes are cluster-scoped)`,
      });
    }
    if (t.namespace !== undefined && t.kinds.includes('Node')) {
      ctx.addIssue({
        code: 'custom',
        path: ['kinds'],
        message: 'Nodes are cluster-scoped: watch them in a target of their own, without namespace',
      });
    }
    if (t.maxSinceSuccess !== undefined && !t.kinds.includes('CronJob')) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxSinceSuccess'],
        message: 'maxSinceSuccess applies to CronJobs: add CronJob to kinds',
      });
    }
    if (t.resources !== undefined) {
      if (!t.resources.cpu && !t.resources.memory) {
        ctx.addIssue({ code: 'custom', path: ['resources'], message: 'give a cpu or memory threshold' });
      }
      if (!t.kinds.some((k) => POD_RUNNING_KINDS.includes(k))) {
        ctx.addIssue({
          code: 'custom',
          path: ['resources'],
          message: `resource thresholds measure pods: add one of ${POD_RUNNING_KINDS.join(', ')} to kinds`,
        });
      }
    }
  });

/** An HTTP probe: healthy when the URL answers with the expected status within the timeout. */
export const HttpTarget = z.object({
  type: z.literal('http'),
  id: TargetId,
  url: z.url({ protocol: /^https?$/ }),
  expectStatus: z.number().int().min(100).max(599).default(200),
  timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
});

/** A Prometheus instant query: unhealthy while `value <op> threshold` holds for any series. */
export const PrometheusTarget = z.object({
  type: z.literal('prometheus'),
  id: TargetId,
  /** Prometheus base URL, e.g. http://prometheus:9090. */
  url: z.url({ protocol: /^https?$/ }),
  query: z.string().min(1),
  op: z.enum(['>', '>=', '<', '<=', '==', '!=']),
  threshold: z.number(),
});

/** Anything a monitor watches. */
export const MonitorTarget = z.discriminatedUnion('type', [KubeTarget, HttpTarget, PrometheusTarget]);
/** Anything a monitor watches. */
export type MonitorTarget = z.output<typeof MonitorTarget>;

/** One target's state machine (healthy → pending → degraded → healthy) and its incident bookkeeping. */
export const TargetState = z.object({
  key: z.string(),
  healthy: z.boolean(),
  /** Workflow time (ms) when the current health began. */
  since: z.number(),
  message: z.string(),
  /**
   * Seconds this target must stay unhealthy before it is degraded, when its rule has a window of its own (a
   * resource threshold's `for`); absent: the monitor's `forSeconds`.
   */
  forSeconds: z.number().int().min(0).optional(),
  /** Incidents opened so far for this target (the next one gets this + 1): part of the alert dedupe key. */
  incidents: z.number().int().min(0),
  /**
   * The open incident, if any: when it fired, when it was last sent (trigger, keep-alive or reminder) and last
   * reminded (absent until its first reminder).
   */
  open: z
    .object({
      number: z.number().int().min(1),
      firedAt: z.number(),
      lastSentAt: z.number(),
      lastRemindedAt: z.number().optional(),
    })
    .optional(),
});
/** One target's state. */
export type TargetState = z.infer<typeof TargetState>;

/** Default seconds a target must stay unhealthy before it is degraded (and alerts). */
export const DEFAULT_FOR_SECONDS = 60;
/** Default seconds between re-sends of a firing alert to channels that expire alerts (Alertmanager). */
export const DEFAULT_KEEPALIVE_SECONDS = 120;

/** Input of `monitorHealth`. */
export const MonitorHealthInput = z.object({
  /** Monitor name (workflow id `monitor/<name>`, alert source). */
  name: z
    .string()
    .regex(/^[a-z0-9][-a-z0-9.]*$/, 'lowercase letters, digits, "-" and "."')
    .max(100),
  cluster: z.string().min(1).optional(),
  targets: z.array(MonitorTarget).min(1).max(200),
  /** Alert channel names configured on the worker. */
  channels: z.array(z.string().min(1)).default([]),
  severity: AlertSeverity.default('critical'),
  /** Seconds a target must stay unhealthy before it is degraded and alerts (anti-flapping). */
  forSeconds: z.number().int().min(0).max(86_400).default(DEFAULT_FOR_SECONDS),
  /** Re-send firing alerts to channels that expire them (Alertmanager) this often. */
  keepAliveSeconds: z.number().int().min(10).max(3_600).default(DEFAULT_KEEPALIVE_SECONDS),
  /** Also remind every channel (Slack, PagerDuty, webhook) this often while an incident is open (default: never). */
  remindEverySeconds: z.number().int().min(60).optional(),
  /** Seconds between HTTP / Prometheus probes. */
  probeIntervalSeconds: z.number().int().min(1).max(3_600).default(15),
  /** Link shown in alerts (e.g. the Temporal UI). */
  url: z.string().optional(),
  /** Continue-as-new after this many observation rounds even if Temporal does not suggest it yet. */
  maxIterationsPerRun: z.number().int().min(1).max(10_000).default(400),
  /** Carried across continue-as-new; leave empty when starting. */
  state: z.object({ targets: z.array(TargetState), paused: z.boolean() }).optional(),
});
/** Input of `monitorHealth` as callers write it. */
export type MonitorHealthInput = z.input<typeof MonitorHealthInput>;

/**
 * The alert event sent to channels.
 * @deprecated Use {@link AlertEvent} (`schemas/alerts`), the one definition the channels also use; this alias will
 * be removed.
 */
export type AlertEventData = AlertEvent;

/** What the monitor's `status` query returns. */
export interface MonitorStatus {
  name: string;
  paused: boolean;
  targets: (TargetState & { state: 'healthy' | 'pending' | 'degraded' })[];
  healthy: number;
  degraded: number;
  pending: number;
  /** Last delivery error per alert channel (cleared by the next success). */
  deliveryErrors: Record<string, string>;
}

/**
 * Name of the signal a streaming `observeHealth` activity sends its monitor workflow with each batch of changed
 * observations (internal: sent by the worker, not by people).
 */
export const OBSERVATIONS_SIGNAL = 'observations';
