/**
 * kube-workflows: Kubernetes operations (deploy, scale, monitor, alert) as durable Temporal workflows.
 *
 * The package root re-exports the client API. Other entry points: `kube-workflows/client`, `kube-workflows/worker`
 * (run a worker in your own process), `kube-workflows/workflows` (workflow functions and their queries/updates),
 * `kube-workflows/schemas` (zod schemas of every input and report), `kube-workflows/codec` (payload encryption
 * and codec server), `kube-workflows/alerts` (alert channel adapters), `kube-workflows/dev` (the local stack).
 * @module
 */
export * from './client/index.js';
