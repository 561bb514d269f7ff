/**
 * Direct access to the local stack's etcd for fault tests: compaction, which makes kube-apiserver answer watches
 * from before it with a genuine 410 Gone.
 * @module
 */
import { readStackState } from '../../src/dev/index.js';

/**
 * Compacts the etcd of the stack in `stackDir` to its current revision through etcd's v3 HTTP gateway (kwokctl runs
 * etcd on plain http on 127.0.0.1) and returns that revision.
 */
export async function compactEtcd(stackDir: string): Promise<number> {
  const state = readStackState(stackDir);
  if (!state) throw new Error('no stack state file: cannot find etcd');
  const etcd = `http://127.0.0.1:${state.clusterPorts.etcd}`;
  const post = async (path: string, body: unknown): Promise<{ header?: { revision?: string } }> => {
    const res = await fetch(`${etcd}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  // Any key will do: the answer's header carries the store's current revision.
  const { header } = await post('/v3/kv/range', { key: Buffer.from('kube-workflows-test').toString('base64') });
  const revision = Number(header?.revision);
  if (!Number.isFinite(revision) || revision <= 0) throw new Error(`etcd gave no revision: ${JSON.stringify(header)}`);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
