/**
 * Build step (`npm run build`): bundles the workflow code once into `dist/workflow-bundle.js`, so production
 * workers start without webpack and run exactly the code that was tested and replayed.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_PATH, workflowsPath } from './workflow-code.js';

const quiet = (): void => undefined;
const logger = { trace: quiet, debug: quiet, info: quiet, log: quiet, warn: console.warn, error: console.error };
const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger });
await writeFile(WORKFLOW_BUNDLE_PATH, code);
process.stderr.write(`workflow bundle written to ${WORKFLOW_BUNDLE_PATH} (${(code.length / 1024).toFixed(0)} KiB)\n`);
