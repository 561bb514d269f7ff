/**
 * The local HTTP servers of the test support (receivers, relays, fakes): listening on a free port of 127.0.0.1,
 * closing at once, and a kubeconfig for the clients of one that plays or fronts a kube-apiserver.
 * @module
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Starts `server` on a free port of 127.0.0.1; resolves with its URL, `http://127.0.0.1:<port>`. */
export async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes every connection of `server` (open watches and held requests included), then the server. */
export async function closeNow(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Writes a kubeconfig for clients of the plain-http server at `url` (no credentials; client-node refuses plain
 * http unless TLS verification is explicitly off) into a new temporary folder `kwf-<name>-*`, with cluster, user
 * and context all named `name`. Returns the folder (delete it when done) and the file. JSON is YAML.
 */
export function plainHttpKubeconfig(name: string, url: string): { dir: string; kubeconfig: string } {
  const dir = mkdtempSync(join(tmpdir(), `kwf-${name}-`));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name, user: {} }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      'current-context': name,
    }),
  );
  return { dir, kubeconfig };
}
