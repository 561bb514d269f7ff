// Starts a release and approves it when you press Enter:
//   node examples/release-pipeline/start.mjs examples/demo-app/app.yaml
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { createKubeWorkflowsClient } from 'kube-workflows/client';

const client = await createKubeWorkflowsClient();
const manifests = readFileSync(process.argv[2] ?? 'examples/demo-app/app.yaml', 'utf8');
const handle = await client.temporal.workflow.start('releasePipeline', {
  taskQueue: client.taskQueue,
  workflowId: `release/demo-shop/${Date.now()}`,
  args: [
    {
      manifests,
      namespace: 'demo',
      app: 'demo-shop',
      selector: 'app.kubernetes.io/part-of=demo-shop',
      deployment: 'web',
      stagingCluster: process.env.STAGING_CLUSTER ?? 'local',
      prodCluster: process.env.PROD_CLUSTER ?? 'local-2',
      prodReplicas: 4,
    },
  ],
});
console.error(`started ${handle.workflowId}; press Enter to approve the release to prod`);
await createInterface({ input: process.stdin }).question('');
await handle.signal('approveRelease', { by: process.env.USER ?? 'someone' });
console.log(JSON.stringify(await handle.result(), null, 2));
await client.close();
