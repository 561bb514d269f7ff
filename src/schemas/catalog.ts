/**
 * The self-describing catalog: for every workflow type a person can start (from code, the CLI, the Temporal Web
 * UI's "Start workflow" form or `temporal workflow start --input`), its input and report as zod schemas and as
 * JSON Schema (draft 2020-12) generated from them. `kube-workflows schema [workflow]` prints them; the build writes
 * them to `dist/schemas/json/<workflow>.input.json` / `.report.json` (shipped in the package). Every workflow
 * validates its input with the same zod schema in its first workflow task, so a malformed input started from any
 * tool fails the run at once with a non-retryable `InvalidInput` naming the field.
 * @module
 */
import { z } from 'zod';
import { AnalysisReport, RunAnalysisInput } from './analysis.js';
import { CanaryReport, CanaryRolloutInput } from './canary.js';
import { DeployManifestsInput, DeployReport } from './deploy.js';
import { DetectDriftInput, DriftReport } from './drift.js';
import { FleetReport, RolloutFleetInput } from './fleet.js';
import { NodeMaintenanceInput, NodeMaintenanceReport, UncordonNodeInput } from './node.js';
import { MonitorHealthInput } from './monitor.js';
import { ScaleReport, ScaleWorkloadInput } from './scale.js';
import { ScheduledDeployInput, ScheduledRunSkipped, ScheduledScaleInput } from './scheduled.js';

/** One catalog entry. */
export interface CatalogEntry {
  /** What the workflow does, one sentence. */
  readonly description: string;
  /** The one argument it takes. */
  readonly input: z.ZodType;
  /** What it returns, as a zod schema (absent when the workflow runs until stopped, or its report has none yet). */
  readonly report?: z.ZodType;
  /** True for workflows that run until stopped (monitors): they have no report. */
  readonly runsUntilStopped?: boolean;
  /** A minimal valid input, shown by `kube-workflows schema` and in the README. */
  readonly example: unknown;
}

/** Every workflow type of the worker that people start, by workflow type name. */
export const WORKFLOW_CATALOG: Readonly<Record<string, CatalogEntry>> = {
  deployManifests: {
    description: 'server-side apply manifests, wait until healthy, roll back what changed on failure',
    input: DeployManifestsInput,
    report: DeployReport,
    example: {
      manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: demo }\ndata: { greeting: hello }\n',
      namespace: 'default',
      app: 'demo',
    },
  },
  scaleWorkload: {
    description: 'scale a Deployment or StatefulSet within the policy bounds and wait until it is healthy',
    input: ScaleWorkloadInput,
    report: ScaleReport,
    example: { kind: 'Deployment', name: 'web', namespace: 'default', replicas: 3 },
  },
  monitorHealth: {
    description: 'watch workloads and probes, alert once per degradation, resolve on recovery (runs until stopped)',
    input: MonitorHealthInput,
    runsUntilStopped: true,
    example: { name: 'shop', targets: [{ type: 'kube', namespace: 'shop' }], channels: ['oncall'] },
  },
  rolloutFleet: {
    description:
      'the same manifests to many clusters in waves: bake time and analysis gates, halt policy, freeze windows, pause/promote/abort',
    input: RolloutFleetInput,
    report: FleetReport,
    example: {
      name: 'shop',
      app: 'cart',
      namespace: 'shop',
      manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cart-config }\ndata: { release: "2" }\n',
      waves: [
        { name: 'staging', clusters: 'env=staging', bake: { minTime: '5m' } },
        { name: 'prod', clusters: 'env=prod', maxParallel: 2, bake: { minTime: '10m' } },
      ],
    },
  },
  canaryRollout: {
    description: 'canary a Deployment behind a Service by replica ratio (no mesh), then promote, or abort and restore',
    input: CanaryRolloutInput,
    report: CanaryReport,
    example: {
      namespace: 'default',
      deployment: 'web',
      template: {
        metadata: { labels: { app: 'web', track: 'stable' } },
        spec: { containers: [{ name: 'app', image: 'web:2' }] },
      },
      steps: [{ setWeight: 25 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
    },
  },
  runAnalysis: {
    description: 'measure a metric on a timer and judge it: successful, failed or inconclusive (with a no-data policy)',
    input: RunAnalysisInput,
    report: AnalysisReport,
    example: {
      spec: {
        name: 'error-rate',
        provider: { prometheus: { address: 'http://prometheus:9090', query: 'sum(rate(http_errors_total[1m]))' } },
        successCondition: 'result < 0.05',
        count: 3,
        interval: '30s',
      },
    },
  },
  maintainNode: {
    description: 'cordon, drain within PodDisruptionBudgets, run an action hook, wait Ready, uncordon (always)',
    input: NodeMaintenanceInput,
    report: NodeMaintenanceReport,
    example: { node: 'node-1' },
  },
  drainNode: {
    description: 'cordon and drain a node within PodDisruptionBudgets, then uncordon unless told to keep it cordoned',
    input: NodeMaintenanceInput,
    report: NodeMaintenanceReport,
    example: { node: 'node-1' },
  },
  uncordonNode: {
    description: 'make a node schedulable again (whoever cordoned it)',
    input: UncordonNodeInput,
    report: NodeMaintenanceReport,
    example: { node: 'node-1' },
  },
  detectDrift: {
    description:
      "find fields of an app's deployed objects changed since kube-workflows applied them, who changed them (managedFields), and ignore, alert or correct them per policy",
    input: DetectDriftInput,
    report: DriftReport,
    example: {
      app: 'demo',
      namespace: 'default',
      manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: demo }\ndata: { greeting: hello }\n',
      policy: { human: 'correct', unknown: 'alert' },
      channels: ['oncall'],
    },
  },
  scheduledDeploy: {
    description: 'what a Temporal Schedule starts to re-apply manifests under the app deploy lock',
    input: ScheduledDeployInput,
    report: z.union([DeployReport, ScheduledRunSkipped]),
    example: {
      deployWorkflowId: 'deploy/local/default/demo',
      deploy: { manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: demo }\n', app: 'demo' },
    },
  },
  scheduledScale: {
    description: 'what a Temporal Schedule starts to scale a workload under its scale lock',
    input: ScheduledScaleInput,
    report: z.union([ScaleReport, ScheduledRunSkipped]),
    example: {
      scaleWorkflowId: 'scale/local/default/Deployment/web',
      scale: { kind: 'Deployment', name: 'web', namespace: 'default', replicas: 5 },
    },
  },
};

/** Names of the catalog's workflow types, sorted. */
export function catalogWorkflowTypes(): string[] {
  return Object.keys(WORKFLOW_CATALOG).sort();
}

/** A JSON Schema document (draft 2020-12). */
export type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema of a workflow's input (what a caller may write: defaults optional) or report (what it returns).
 * @throws Error naming the known types when `workflowType` is not in the catalog, or when it has no report.
 */
export function workflowJsonSchema(workflowType: string, which: 'input' | 'report' = 'input'): JsonSchema {
  const entry = WORKFLOW_CATALOG[workflowType];
  if (!entry) {
    throw new Error(`unknown workflow type "${workflowType}" (known: ${catalogWorkflowTypes().join(', ')})`);
  }
  const schema = which === 'input' ? entry.input : entry.report;
  if (!schema) {
    throw new Error(
      entry.runsUntilStopped
        ? `${workflowType} runs until stopped and has no report`
        : `${workflowType} has no report schema yet (see its report type in the TypeScript API)`,
    );
  }
  const json = z.toJSONSchema(schema, { io: which === 'input' ? 'input' : 'output', unrepresentable: 'any' });
  return {
    ...json,
    $id: `https://kube-workflows.dev/schemas/${workflowType}.${which}.json`,
    title: `${workflowType} ${which}`,
    description: entry.description,
    ...(which === 'input' ? { examples: [entry.example] } : {}),
  };
}
