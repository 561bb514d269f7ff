/**
 * One canonical cluster name in workflow ids: the client resolves the default cluster exactly as the worker does
 * (same configuration file and environment), so a deploy that names the default cluster and one that omits it take
 * the same lock; schedules run under those same ids.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDefaultCluster } from '../../src/client/clusters.js';
import { prepareDeployStart } from '../../src/client/deploy-start.js';
import { ClientConfigError } from '../../src/client/errors.js';
import { deployWorkflowId, scaleWorkflowId } from '../../src/client/ids.js';
import { loadWorkerConfig } from '../../src/worker/config.js';

const dir = mkdtempSync(join(tmpdir(), 'kwf-clusters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const withDefault = file(
  'with-default.yaml',
  'clusters:\n  default: prod\n  entries:\n    prod: { inCluster: true }\n',
);
const firstListed = file(
  'first-listed.yaml',
  'clusters:\n  entries:\n    eu: { inCluster: true }\n    us: { kubeconfig: /k/us }\n',
);

describe('resolveDefaultCluster names the default cluster the way the worker does', () => {
  it.each<[string, NodeJS.ProcessEnv]>([
    ['KUBECONFIG only', { KUBECONFIG: '/k/config' }],
    ['KUBECONFIG named by KUBE_WORKFLOWS_CLUSTER', { KUBECONFIG: '/k/config', KUBE_WORKFLOWS_CLUSTER: 'local' }],
    ['the file default, whatever KUBECONFIG', { KUBE_WORKFLOWS_CONFIG: withDefault, KUBECONFIG: '/k/config' }],
    ['the first cluster the file lists', { KUBE_WORKFLOWS_CONFIG: firstListed }],
    [
      'KUBECONFIG next to a file without default',
      { KUBE_WORKFLOWS_CONFIG: firstListed, KUBECONFIG: '/k/c', KUBE_WORKFLOWS_CLUSTER: 'laptop' },
    ],
  ])('%s', (_case, env) => {
    expect(resolveDefaultCluster(env)).toBe(loadWorkerConfig(env).clusters.default);
  });

  it('is "default" when nothing is configured (a client without the worker configuration)', () => {
    expect(resolveDefaultCluster({})).toBe('default');
  });

  it('throws ClientConfigError naming an unreadable configuration file', () => {
    expect(() => resolveDefaultCluster({ KUBE_WORKFLOWS_CONFIG: join(dir, 'missing.yaml') })).toThrow(
      ClientConfigError,
    );
  });
});

describe('deploy ids', () => {
  const context = { defaultCluster: 'local', payloadsEncrypted: false, allowPlaintextSecrets: false };
  const manifests = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, namespace: shop }\n';

  it('are the same whether the input names the default cluster or omits it', () => {
    const omitted = prepareDeployStart({ manifests, app: 'cart' }, context).workflowId;
    const named = prepareDeployStart({ manifests, app: 'cart', cluster: 'local' }, context).workflowId;
    expect([omitted, named]).toEqual(['deploy/local/shop/cart', 'deploy/local/shop/cart']);
  });

  it('name another cluster when the input does', () => {
    expect(prepareDeployStart({ manifests, app: 'cart', cluster: 'eu' }, context).workflowId).toBe(
      'deploy/eu/shop/cart',
    );
  });

  it('keep their documented shapes', () => {
    expect(deployWorkflowId({ cluster: 'local', app: 'crds' })).toBe('deploy/local/_cluster/crds');
    expect(scaleWorkflowId({ cluster: 'local', namespace: 'shop', kind: 'Deployment', name: 'web' })).toBe(
      'scale/local/shop/Deployment/web',
    );
  });
});
