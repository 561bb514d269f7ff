#!/usr/bin/env node
// Writes the JSON Schema of every workflow's input and report (generated from the zod schemas, see
// src/schemas/catalog.ts) to dist/schemas/json/<workflow>.input.json and .report.json. Run by `npm run build`
// after tsc, so the files ship in the package (kube-workflows/schemas/json/*).
import { mkdirSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogWorkflowTypes, WORKFLOW_CATALOG, workflowJsonSchema } from '../dist/schemas/catalog.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'schemas', 'json');
mkdirSync(out, { recursive: true });
let written = 0;
for (const type of catalogWorkflowTypes()) {
  for (const which of WORKFLOW_CATALOG[type].report ? ['input', 'report'] : ['input']) {
    writeFileSync(join(out, `${type}.${which}.json`), `${JSON.stringify(workflowJsonSchema(type, which), null, 2)}\n`);
    written++;
  }
}
process.stderr.write(`wrote ${written} JSON Schemas to ${out}\n`);
