/**
 * The workflow types the worker registers, as the client starts them: their names are checked at compile time
 * against the workflow functions the worker bundles, and their argument and result types come with them. Only
 * types are imported here (`import type`): no workflow code is loaded by the client for this.
 * @module
 */
import type { Workflow } from '@temporalio/common';
import type * as workflows from '../workflows/index.js';

/** Every workflow function of the worker's bundle, by workflow type name. */
export type KubeWorkflows = {
  [K in keyof typeof workflows as (typeof workflows)[K] extends Workflow ? K : never]: (typeof workflows)[K];
};

/** A workflow type name the worker registers (`deployManifests`, `scaleWorkload`, `monitorHealth`, …). */
export type KubeWorkflowType = keyof KubeWorkflows;
