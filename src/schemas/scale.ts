/**
 * Input and report of the `scaleWorkload` workflow.
 * @module
 */
import { z } from 'zod';
import { NamespaceName } from './kube-object.js';
import { Notifications, notifySpec } from './notify.js';

/** Input of `scaleWorkload`: a target count (`replicas`) or a change (`delta`), not both. */
export const ScaleWorkloadInput = z
  .object({
    kind: z.enum(['Deployment', 'StatefulSet'], { error: 'kind must be Deployment or StatefulSet' }),
    name: z.string().min(1).max(253),
    namespace: NamespaceName,
    /** Configured cluster name; the worker's default when absent. */
    cluster: z.string().min(1).optional(),
    /** Target replica count. */
    replicas: z.number().int().min(0).optional(),
    /** Change relative to the current count (e.g. +2, -1), read when the workflow runs. */
    delta: z.number().int().optional(),
    /** Wait until the workload is Current with the new count (default true). */
    wait: z.boolean().default(true),
    /** Seconds to wait for health. */
    timeoutSeconds: z.number().int().positive().max(86_400).default(300),
    /**
     * What to do when a HorizontalPodAutoscaler (or a KEDA ScaledObject) targets the workload, whose replica count is
     * then the autoscaler's: `adjust` (default) moves the autoscaler's floor to the target (`minReplicas = target`,
     * `maxReplicas = max(current max, target)`), so the workload runs at least that many replicas and the autoscaler
     * keeps scaling above it; `refuse` fails naming the autoscaler. Nothing else writes the count of an autoscaled
     * workload.
     */
    hpa: z.enum(['adjust', 'refuse'], { error: "hpa must be 'adjust' or 'refuse'" }).default('adjust'),
    /**
     * Scale an autoscaled workload to 0 anyway: refused without it, because the HPA controller stops at 0 replicas
     * and never scales the workload up again (silently off). With it, the workload is scaled to 0 and the autoscaler
     * is left as it is. Default false.
     */
    force: z.boolean().default(false),
    /** Alert channels told when the run ends (default: when it fails); see `schemas/notify`. */
    notify: notifySpec(['succeeded', 'unchanged', 'failed']).optional(),
  })
  .refine((v) => (v.replicas === undefined) !== (v.delta === undefined), {
    message: 'give exactly one of replicas (a target count) or delta (a change)',
    path: ['replicas'],
  });
/** Input of `scaleWorkload` as callers write it. */
export type ScaleWorkloadInput = z.input<typeof ScaleWorkloadInput>;

/** An autoscaler as `readScale` reports it: which one, and its bounds (`minReplicas`/`maxReplicas`, or KEDA's counts). */
export const AutoscalerRef = z.object({
  apiVersion: z.string(),
  kind: z.enum(['HorizontalPodAutoscaler', 'ScaledObject']),
  namespace: z.string(),
  name: z.string(),
  minReplicas: z.number().int().min(0),
  maxReplicas: z.number().int().min(0),
});
/** An autoscaler as `readScale` reports it. */
export type AutoscalerRef = z.infer<typeof AutoscalerRef>;

/** Bounds of an autoscaler. */
export const AutoscalerBounds = z.object({
  minReplicas: z.number().int().min(0),
  maxReplicas: z.number().int().min(0),
});
/** Bounds of an autoscaler. */
export type AutoscalerBounds = z.infer<typeof AutoscalerBounds>;

/** Report of `scaleWorkload`. */
export const ScaleReport = z.object({
  outcome: z.enum(['succeeded', 'unchanged', 'failed']),
  cluster: z.string(),
  subject: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  status: z.string().optional(),
  reason: z.string().optional(),
  /**
   * For an autoscaled workload: the autoscaler and its bounds before and after (`from`/`to` are then the workload's
   * counts before the scale and once the autoscaler acted, or its new floor when not waited for).
   */
  autoscaler: z.object({ kind: z.string(), name: z.string(), from: AutoscalerBounds, to: AutoscalerBounds }).optional(),
  /** What each `notify` channel answered to this run's alert (absent when no alert was due). */
  notifications: Notifications,
  durationsMs: z.record(z.string(), z.number()),
  message: z.string(),
});
/** Report of `scaleWorkload`. */
export type ScaleReport = z.infer<typeof ScaleReport>;
