/**
 * Input and report of the `scaleWorkload` workflow.
 * @module
 */
import { z } from 'zod';
import { NamespaceName } from './kube-object.js';

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
  })
  .refine((v) => (v.replicas === undefined) !== (v.delta === undefined), {
    message: 'give exactly one of replicas (a target count) or delta (a change)',
    path: ['replicas'],
  });
/** Input of `scaleWorkload` as callers write it. */
export type ScaleWorkloadInput = z.input<typeof ScaleWorkloadInput>;

/** Report of `scaleWorkload`. */
export const ScaleReport = z.object({
  outcome: z.enum(['succeeded', 'unchanged', 'failed']),
  cluster: z.string(),
  subject: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  status: z.string().optional(),
  reason: z.string().optional(),
  durationsMs: z.record(z.string(), z.number()),
  message: z.string(),
});
/** Report of `scaleWorkload`. */
export type ScaleReport = z.infer<typeof ScaleReport>;
