/**
 * Where the worker gets its workflow code: the prebuilt bundle (`dist/workflow-bundle.js`, written by
 * `npm run build`) in production, the TypeScript/JavaScript sources (bundled on start) otherwise.
 * @module
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Path of the prebuilt workflow bundle next to the compiled worker (`dist/workflow-bundle.js`). */
export const WORKFLOW_BUNDLE_PATH = join(here, '..', 'workflow-bundle.js');

/** Path of the workflows entry module, `.ts` when running from sources, `.js` when compiled. */
export function workflowsPath(): string {
  const ts = join(here, '..', 'workflows', 'index.ts');
  return existsSync(ts) ? ts : join(here, '..', 'workflows', 'index.js');
}

/**
 * The worker's `workflowBundle` option: `KUBE_WORKFLOWS_WORKFLOW_BUNDLE` when set, else the prebuilt bundle when
 * it exists; otherwise `workflowsPath` (bundled on start).
 */
export function workflowCodeOption(
  preferSource = false,
): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const fromEnv = process.env.KUBE_WORKFLOWS_WORKFLOW_BUNDLE;
  if (fromEnv) return { workflowBundle: { codePath: fromEnv } };
  if (!preferSource && existsSync(WORKFLOW_BUNDLE_PATH)) return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  return { workflowsPath: workflowsPath() };
}
