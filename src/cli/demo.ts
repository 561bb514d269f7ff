/**
 * `kube-workflows demo`: the whole product in two minutes on the embedded local stack. Builds the toolchain if
 * needed, starts Temporal + a local cluster, runs a worker in this process, then deploys the example app,
 * scales it, ships a broken release (pods crash-loop via a KWOK stage) that fails fast and rolls back, and
 * prints where to see every run in the Temporal Web UI. Stops everything it started, also on Ctrl-C.
 *
 * Payloads are encrypted, as they should be anywhere: with the stack's own key (made in its folder, mode 0600), and
 * a codec server the Web UI can use to show them decrypted.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pc from 'picocolors';
import { parseAllDocuments, stringify } from 'yaml';
import { createKubeWorkflowsClient } from '../client/index.js';
import { AesGcmPayloadCodec, startCodecServer, type CodecServer } from '../codec/index.js';
import { ensureDevEncryptionKey } from '../dev/encryption-key.js';
import {
  ensureToolchain,
  findProjectRoot,
  STACK_BINARIES,
  startStack,
  stopStack,
  type StackInfo,
} from '../dev/index.js';
import type { DeployReport } from '../schemas/deploy.js';
import { createKubeWorker, installRuntime, loadWorkerConfig } from '../worker/index.js';
import { ExitCode, messageOf } from './exit-codes.js';
import { followDeploy } from './follow.js';
import { renderReport } from './render.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Keep the stack (and the UI) up at the end until Ctrl-C. */
  keep: boolean;
  log: (line: string) => void;
}

/** Runs the demo; resolves to the exit code. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { log } = options;
  const root = findProjectRoot();
  const dir =
    process.env.KUBE_WORKFLOWS_DEMO_DIR ??
    join(
      process.env.KUBE_WORKFLOWS_CACHE ?? join(process.env.HOME ?? '/tmp', '.cache', 'kube-workflows'),
      'demo-stack',
    );
  const step = (n: number, text: string): void => log(`\n${pc.bold(pc.magenta(`[${n}/6]`))} ${pc.bold(text)}`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(pc.dim('stopping the local stack…'));
    // purge: every demo starts from an empty Temporal and cluster
    await stopStack({ dir, onProgress: (l) => log(pc.dim(l)), purge: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`\n${sig}: cleaning up`);
    void stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let info: StackInfo | undefined;
  let kw: Awaited<ReturnType<typeof createKubeWorker>> | undefined;
  let running: Promise<void> | undefined;
  let codecServer: CodecServer | undefined;
  try {
    step(1, 'toolchain (built once from the Go module proxy and Maven Central, then cached)');
    await ensureToolchain({ onProgress: log, only: STACK_BINARIES });
    step(2, 'local stack: Temporal dev server + Web UI, Kubernetes control plane with KWOK nodes');
    info = await startStack({ dir, name: 'kube-workflows-demo', onProgress: log });
    log(`Temporal UI: ${pc.underline(info.temporalUiUrl)}`);
    const key = ensureDevEncryptionKey(dir);
    const encryption = { keys: [{ id: key.id, key: key.key }], encryptWith: key.id };
    codecServer = await startCodecServer({
      port: 0,
      codec: new AesGcmPayloadCodec(encryption),
      allowedOrigins: [info.temporalUiUrl],
    });
    log(
      `payloads are encrypted (key ${key.id} in ${key.file}); to read them in the UI, set its codec server ` +
        `(Data Encoder settings) to ${pc.underline(codecServer.url)}`,
    );

    step(3, 'worker (holds the cluster credentials; the demo policy allows creating the demo namespace)');
    const config = loadWorkerConfig({
      TEMPORAL_ADDRESS: info.temporalAddress,
      TEMPORAL_NAMESPACE: info.temporalNamespace,
      KUBECONFIG: info.kubeconfig,
      KUBE_WORKFLOWS_CLUSTER: 'local',
      KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true',
      KUBE_WORKFLOWS_NAMESPACES: 'demo',
      KUBE_WORKFLOWS_ENCRYPTION_KEYS: `${key.id}:${key.key}`,
    });
    // The demo prints its own progress and reports; the SDK's own INFO/WARN lines (bundling, worker states, the
    // expected failure of the broken release) would bury them. Errors still show.
    try {
      installRuntime({ logLevel: 'ERROR', json: false });
    } catch {
      // a runtime is already installed in this process (the demo run from a test)
    }
    // Bundle the workflow code from this install's sources: never a stale prebuilt bundle. The worker opens its
    // connection from the configuration (connectTemporal, the options every command builds) and closes it in close().
    kw = await createKubeWorker({ config, workflowsFromSource: true });
    running = kw.worker.run();
    const client = await createKubeWorkflowsClient({
      address: info.temporalAddress,
      namespace: info.temporalNamespace,
      encryption,
      defaultCluster: 'local', // the worker's KUBE_WORKFLOWS_CLUSTER: one canonical name in workflow ids
    });
    const appText = await readFile(join(root, 'examples', 'demo-app', 'app.yaml'), 'utf8');
    const deploy = async (label: string, text: string): Promise<DeployReport> => {
      const handle = await client.deploy(
        { manifests: text, app: 'demo-shop', timeoutSeconds: 60 },
        { onConflict: 'latestWins' },
      );
      log(
        pc.dim(
          `workflow ${handle.workflowId}  →  ${info?.temporalUiUrl}/namespaces/${info?.temporalNamespace}/workflows/${encodeURIComponent(handle.workflowId)}`,
        ),
      );
      const report = await followDeploy(handle);
      log(`\n${pc.bold(label)}\n${renderReport(report)}`);
      return report;
    };

    step(4, 'deploy the example app (Namespace, ConfigMap, Deployment with 2 replicas, Service)');
    const first = await deploy('first deploy', appText);
    step(5, 'scale web to 5 replicas (a re-deploy: only the Deployment changes)');
    await deploy(
      'scaled',
      editDeployment(appText, (d) => ((d.spec as { replicas: number }).replicas = 5)),
    );
    step(6, 'break it: release 2.0.0 crash-loops (KWOK crash stage) → fail fast → automatic rollback heals it');
    const broken = await deploy(
      'broken release',
      editDeployment(appText, (d) => {
        const spec = d.spec as {
          replicas: number;
          template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } };
        };
        spec.replicas = 5;
        spec.template.metadata.labels['kube-workflows.dev/chaos'] = 'crash';
        const c = spec.template.spec.containers[0];
        if (c) c.image = 'registry.example/demo-shop/web:2.0.0';
      }),
    );
    await client.close();
    const ok = first.outcome === 'succeeded' && broken.outcome === 'rolledBack';
    log(
      `\n${ok ? pc.green(pc.bold('demo complete')) : pc.red(pc.bold('demo did not go as expected'))}: ` +
        `every run, its inputs, progress and report are in the Temporal Web UI at ${pc.underline(info.temporalUiUrl)}`,
    );
    if (options.keep) {
      log(pc.bold('the stack stays up so you can look around; press Ctrl-C to stop it and clean up'));
      await new Promise<void>(() => undefined); // until a signal handler exits
    }
    return ok ? ExitCode.Ok : ExitCode.Failed;
  } catch (err) {
    log(pc.red(`demo failed: ${messageOf(err)}`));
    return ExitCode.Failed;
  } finally {
    if (running) {
      kw?.worker.shutdown();
      await running.catch(() => undefined);
    }
    await kw?.close();
    await codecServer?.close();
    await stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function editDeployment(text: string, edit: (d: Record<string, unknown>) => void): string {
  return parseAllDocuments(text)
    .map((doc) => {
      const obj = doc.toJS() as Record<string, unknown>;
      if (obj.kind === 'Deployment') edit(obj);
      return stringify(obj);
    })
    .join('---\n');
}
