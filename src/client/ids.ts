/**
 * Workflow id conventions (the id is the lock: one deploy per (cluster, namespace, app), one scale per workload).
 * The functions live in `src/domain/workflow-ids.ts` so that workflows (a scale taking its app's deploy lock) build
 * the same ids as the client. Give them the canonical cluster name: `KubeWorkflowsClient` resolves the
 * default cluster's name the way the worker does (see `resolveDefaultCluster`).
 * @module
 */
export {
  CLUSTER_SCOPED_NAMESPACE_PART,
  deployWorkflowId,
  monitorWorkflowId,
  scaleWorkflowId,
} from '../domain/workflow-ids.js';
