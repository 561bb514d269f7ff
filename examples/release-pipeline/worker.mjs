// The release worker: our activities (cluster credentials from the usual configuration: KUBECONFIG or
// KUBE_WORKFLOWS_CONFIG, TEMPORAL_ADDRESS, …) next to the pipeline in one Worker on TEMPORAL_TASK_QUEUE.
// Run: npm run build && node examples/release-pipeline/worker.mjs
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { connectTemporal, createKubeActivities, loadWorkerConfig } from 'kube-workflows/worker';

/** Builds the worker (tests call this with their own configuration and connection). */
export async function createReleaseWorker(config = loadWorkerConfig(), connection = undefined) {
  const kube = await createKubeActivities(config);
  const conn = connection ?? (await connectTemporal(config.temporal));
  const worker = await Worker.create({
    connection: conn,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
    activities: { ...kube.activities /* , ...yourActivities */ },
    ...kube.workerOptions,
  });
  kube.attach(worker);
  return {
    worker,
    async close() {
      await kube.close();
      if (!connection) await conn.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const release = await createReleaseWorker();
  const { worker } = release;
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => worker.shutdown());
  process.stderr.write(`release worker polling ${worker.options.taskQueue}\n`);
  await worker.run();
  await release.close();
}
