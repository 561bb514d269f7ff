#!/usr/bin/env node
// Starting a deploy from application code (a release script, a CI job, an HTTP handler).
//   npm run build && set -a && eval "$(node bin/kube-workflows.js dev up)" && set +a
//   node bin/kube-workflows.js worker &      # with KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED=true for the demo Namespace
//   node examples/deploy-from-script.mjs examples/demo-app/app.yaml
// In your own project: import { createKubeWorkflowsClient } from 'kube-workflows/client';
import { readFile } from 'node:fs/promises';
import { createKubeWorkflowsClient, InvalidInputError } from '../dist/client/index.js';

const file = process.argv[2] ?? new URL('./demo-app/app.yaml', import.meta.url).pathname;
const client = await createKubeWorkflowsClient();
try {
  const handle = await client.deploy({
    manifests: await readFile(file, 'utf8'),
    app: 'demo-shop',
    timeoutSeconds: 120,
  });
  console.error(`started ${handle.workflowId}`);
  const timer = setInterval(() => {
    handle
      .progress()
      .then((p) => console.error(`${p.phase}: ${p.message}`))
      .catch(() => undefined);
  }, 1000);
  const report = await handle.result().finally(() => clearInterval(timer));
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.outcome === 'succeeded' ? 0 : 1;
} catch (err) {
  console.error(err instanceof InvalidInputError ? `invalid input: ${err.message}` : err);
  process.exitCode = err instanceof InvalidInputError ? 2 : 1;
} finally {
  await client.close();
}
