/**
 * `kube-workflows schema [workflow] [--report]`: the JSON Schema of a workflow's input (or report), for the Web UI's
 * "Start workflow" form and `temporal workflow start --input`; without a workflow, the catalog.
 * @module
 */
import type { Command } from 'commander';
import pc from 'picocolors';
import { catalogWorkflowTypes, WORKFLOW_CATALOG, workflowJsonSchema } from '../schemas/catalog.js';
import { ExitCode, messageOf } from './exit-codes.js';

/** Adds the `schema` command. */
export function addSchemaCommand(program: Command): void {
  program
    .command('schema [workflow]')
    .description("print a workflow's input (or report) as JSON Schema; without a workflow, list them")
    .option('--report', 'the schema of the report instead of the input', false)
    .option('--example', 'print a minimal valid input instead of the schema', false)
    .addHelpText(
      'after',
      `
Examples:
  kube-workflows schema
  kube-workflows schema deployManifests > deploy.input.schema.json
  kube-workflows schema scaleWorkload --example   # paste into the Web UI's Start workflow form
  temporal workflow start --type scaleWorkload --task-queue kube-workflows --workflow-id scale/local/default/Deployment/web \\
    --input "$(kube-workflows schema scaleWorkload --example)"`,
    )
    .action((workflow: string | undefined, opts: { report: boolean; example: boolean }) => {
      if (!workflow) {
        for (const type of catalogWorkflowTypes()) {
          process.stdout.write(`${type.padEnd(18)} ${WORKFLOW_CATALOG[type]?.description ?? ''}\n`);
        }
        return;
      }
      try {
        const doc = opts.example
          ? (WORKFLOW_CATALOG[workflow]?.example ?? workflowJsonSchema(workflow))
          : workflowJsonSchema(workflow, opts.report ? 'report' : 'input');
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } catch (err) {
        process.stderr.write(`${pc.red(messageOf(err))}\n`);
        process.exitCode = ExitCode.BadInput;
      }
    });
}
