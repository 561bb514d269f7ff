/**
 * Node maintenance from the client: typed starters for `maintainNode`, `drainNode` and `uncordonNode` that validate
 * their input with the workflows' schemas before anything starts, and a handle to follow a run (`status`), approve
 * deleting blocking pods past their budget (`approveBypass`), cancel it (it uncordons) and wait for its report.
 * The workflow id `node/<cluster>/<node>` is the per-node lock.
 * @module
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { z } from 'zod';
import { nodeWorkflowId } from '../domain/node-maintenance.js';
import {
  ApproveBypassInput,
  NodeMaintenanceInput,
  UncordonNodeInput,
  type NodeMaintenanceReport,
} from '../schemas/node.js';
import {
  approveBypassUpdate,
  nodeMaintenanceQuery,
  type ApproveBypassResult,
  type NodeMaintenanceStatus,
} from '../workflows/node-definitions.js';
import { InvalidInputError, LockHeldError } from './errors.js';

/** A started (or found) node maintenance. */
export interface NodeMaintenanceHandle {
  workflowId: string;
  /** Waits for the report. Rejects with `WorkflowFailedError` when the run was refused or cancelled. */
  result(): Promise<NodeMaintenanceReport>;
  /** Phase, evicted pods, pods blocking and their budgets. */
  status(): Promise<NodeMaintenanceStatus>;
  /**
   * Allows deleting the blocking pods (all, or `pods`) past their PodDisruptionBudget. Accepted only while the run
   * waits for it (status phase `awaitingBypass`); otherwise rejects with {@link InvalidInputError}.
   * @example await handle.approveBypass({ by: 'alice', reason: 'single replica, maintenance window' })
   */
  approveBypass(approval: ApproveBypassInput): Promise<ApproveBypassResult>;
  /** Cancels the run: it stops evicting and uncordons the node (unless the policy keeps it cordoned). */
  cancel(): Promise<void>;
  raw: WorkflowHandle;
}

/** Where node operations start: the Temporal client, the task queue and the canonical default cluster. */
export interface NodeClientContext {
  temporal: Client;
  taskQueue: string;
  defaultCluster: string;
}

/** `client.nodes`: node maintenance starters and handles. */
export class KubeNodes {
  constructor(private readonly ctx: NodeClientContext) {}

  /**
   * Validates and starts a maintenance: drain within budgets, action hook, wait for Ready, uncordon.
   * @example
   * const m = await client.nodes.maintain({ node: 'worker-3', action: { webhook: { url: 'https://ops/reboot' } } });
   * const report = await m.result();
   */
  maintain(input: NodeMaintenanceInput): Promise<NodeMaintenanceHandle> {
    return this.start('maintainNode', input, 'maintain');
  }

  /** Validates and starts a drain that leaves the node cordoned (uncordoned if the drain fails). */
  drain(input: NodeMaintenanceInput): Promise<NodeMaintenanceHandle> {
    if (input.action) return Promise.reject(new InvalidInputError('drain takes no action hook: use maintain'));
    return this.start('drainNode', input, 'drain');
  }

  /** Uncordons a node (whoever cordoned it). */
  async uncordon(input: z.input<typeof UncordonNodeInput>): Promise<NodeMaintenanceHandle> {
    const parsed = UncordonNodeInput.safeParse(input);
    if (!parsed.success) throw new InvalidInputError(`invalid uncordon input:\n${z.prettifyError(parsed.error)}`);
    return this.startRun('uncordonNode', parsed.data.node, input.cluster, input, `uncordon Node/${input.node}`);
  }

  /** A handle to the current (or last) operation on a node. */
  get(node: string, cluster?: string): NodeMaintenanceHandle {
    const workflowId = nodeWorkflowId({ cluster: cluster ?? this.ctx.defaultCluster, node });
    return wrap(this.ctx.temporal.workflow.getHandle(workflowId));
  }

  private start(
    type: 'maintainNode' | 'drainNode',
    input: NodeMaintenanceInput,
    verb: string,
  ): Promise<NodeMaintenanceHandle> {
    const parsed = NodeMaintenanceInput.safeParse(input);
    if (!parsed.success) {
      return Promise.reject(new InvalidInputError(`invalid node maintenance input:\n${z.prettifyError(parsed.error)}`));
    }
    const action = parsed.data.action ? ', then the action hook' : '';
    return this.startRun(type, parsed.data.node, input.cluster, input, `${verb} Node/${input.node}${action}`);
  }

  private async startRun(
    type: 'maintainNode' | 'drainNode' | 'uncordonNode',
    node: string,
    cluster: string | undefined,
    input: unknown,
    summary: string,
  ): Promise<NodeMaintenanceHandle> {
    const workflowId = nodeWorkflowId({ cluster: cluster ?? this.ctx.defaultCluster, node });
    try {
      const handle = await this.ctx.temporal.workflow.start(type, {
        taskQueue: this.ctx.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: summary,
      });
      return wrap(handle);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      throw new LockHeldError(
        `an operation on Node/${node} is already running: ${workflowId}. One per node at a time: nothing was ` +
          `started; follow or cancel it (kube-workflows status ${workflowId})`,
        workflowId,
        workflowId,
        { cause: err },
      );
    }
  }
}

function wrap(handle: WorkflowHandle): NodeMaintenanceHandle {
  return {
    workflowId: handle.workflowId,
    result: () => handle.result() as Promise<NodeMaintenanceReport>,
    status: () => handle.query(nodeMaintenanceQuery),
    approveBypass: async (approval) => {
      const parsed = ApproveBypassInput.safeParse(approval);
      if (!parsed.success) throw new InvalidInputError(`invalid approveBypass:\n${z.prettifyError(parsed.error)}`);
      try {
        return await handle.executeUpdate(approveBypassUpdate, { args: [parsed.data] });
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError)
          throw new InvalidInputError(err.cause?.message ?? err.message, { cause: err });
        throw err;
      }
    },
    cancel: async () => {
      await handle.cancel();
    },
    raw: handle,
  };
}
