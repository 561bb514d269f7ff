/**
 * The clusters of a multi-cluster dev stack as files: names and labels per cluster, the combined kubeconfig (one
 * context per cluster, read back by @kubernetes/client-node as the worker reads it), the worker configuration
 * `clusters.json` (read back by loadWorkerConfig), and the `stack.env` lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterRecordNamed, clusterRecords, extraClusterState } from '../../src/dev/clusters.js';
import {
  clusterLabelsOf,
  clusterNameOf,
  clustersWorkerConfig,
  combinedKubeconfig,
  parseKwokKubeconfig,
  stackEnvLines,
  stackInfoFromState,
  stackPids,
  type ClusterPorts,
  type StackState,
} from '../../src/dev/index.js';
import { loadWorkerConfig } from '../../src/worker/config.js';

const tmp = mkdtempSync(join(tmpdir(), 'kwf-dev-clusters-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ports = (base: number): ClusterPorts => ({
  kubeApiserver: base,
  etcd: base + 1,
  etcdPeer: base + 2,
  kwokController: base + 3,
  kubeControllerManager: base + 4,
  kubeScheduler: base + 5,
});

/** A stack.json as `startStack({ name: 'fleet', clusters })` writes it (no files behind it). */
function stateWith(clusters: number): StackState {
  const dir = join(tmp, `stack-${clusters}`);
  return {
    version: 1,
    phase: 'ready',
    name: 'fleet',
    dir,
    clusterName: 'fleet',
    kwokWorkdir: join(dir, 'kwok'),
    kubeconfig: join(dir, 'kwok', 'clusters', 'fleet', 'kubeconfig.yaml'),
    nodes: 3,
    temporal: { pid: 100, grpcPort: 7233, uiPort: 8233, httpPort: 7243, metricsPort: 7244 },
    clusterPorts: ports(30_000),
    clusterPids: { etcd: 101, 'kube-apiserver': 102 },
    extraClusters: Array.from({ length: clusters - 1 }, (_, i) => ({
      ...extraClusterState(dir, 'fleet', i + 2, ports(31_000 + 100 * i)),
      clusterPids: { etcd: 200 + 10 * i },
    })),
    binaries: { temporal: '/bin/temporal', kwokctl: '/bin/kwokctl', kubectl: '/bin/kubectl' },
    starterPid: 1,
    createdAt: '2026-11-28T00:00:00.000Z',
  };
}

const KWOK_KUBECONFIG = `apiVersion: v1
clusters:
- cluster:
    certificate-authority: /s/kwok-2/clusters/fleet-2/pki/ca.crt
    server: https://127.0.0.1:37327
  name: kwok-fleet-2
contexts:
- context:
    cluster: kwok-fleet-2
    user: kwok-fleet-2
  name: kwok-fleet-2
current-context: kwok-fleet-2
kind: Config
users:
- name: kwok-fleet-2
  user:
    client-certificate: /s/kwok-2/clusters/fleet-2/pki/admin.crt
    client-key: /s/kwok-2/clusters/fleet-2/pki/admin.key
`;

describe('names and labels of the clusters of a stack', () => {
  it('names cluster 1 "local" and the others "local-<i>"', () => {
    expect([1, 2, 3].map(clusterNameOf)).toEqual(['local', 'local-2', 'local-3']);
  });

  it('labels cluster 1 staging and the others prod, each in its own region, all stack=local', () => {
    expect([1, 2, 3].map(clusterLabelsOf)).toEqual([
      { env: 'staging', region: 'r1', stack: 'local' },
      { env: 'prod', region: 'r2', stack: 'local' },
      { env: 'prod', region: 'r3', stack: 'local' },
    ]);
  });

  it('gives each extra cluster its own kwok name, workdir, ports and kwokctl files', () => {
    const records = clusterRecords(stateWith(3));
    expect(records.map((r) => [r.name, r.kwokName, r.kwokWorkdir.split('/').at(-1)])).toEqual([
      ['local', 'fleet', 'kwok'],
      ['local-2', 'fleet-2', 'kwok-2'],
      ['local-3', 'fleet-3', 'kwok-3'],
    ]);
    expect(new Set(records.map((r) => r.clusterPorts.kubeApiserver)).size).toBe(3);
    expect(new Set(records.map((r) => r.kwokctlConfigFile)).size).toBe(3);
    expect(new Set(records.map((r) => r.kwokctlLogFile)).size).toBe(3);
  });

  it('reads a stack.json from before multi-cluster stacks as one cluster', () => {
    const { extraClusters: _, ...old } = stateWith(2);
    expect(clusterRecords(old).map((r) => r.name)).toEqual(['local']);
  });

  it('finds a cluster by name and names the ones there are when it does not exist', () => {
    expect(clusterRecordNamed(stateWith(2), 'local-2').kwokName).toBe('fleet-2');
    expect(() => clusterRecordNamed(stateWith(2), 'local-3')).toThrow(/no cluster "local-3" \(it has local, local-2\)/);
  });

  it('records the pids of every cluster', () => {
    expect(stackPids(stateWith(3)).sort()).toEqual([100, 101, 102, 200, 210]);
  });
});

describe('the combined kubeconfig', () => {
  it('reads server and certificate paths from a kubeconfig kwokctl wrote', () => {
    expect(parseKwokKubeconfig(KWOK_KUBECONFIG)).toEqual({
      server: 'https://127.0.0.1:37327',
      certificateAuthority: '/s/kwok-2/clusters/fleet-2/pki/ca.crt',
      clientCertificate: '/s/kwok-2/clusters/fleet-2/pki/admin.crt',
      clientKey: '/s/kwok-2/clusters/fleet-2/pki/admin.key',
    });
    expect(parseKwokKubeconfig('apiVersion: v1\nkind: Config\n')).toBeUndefined();
  });

  it('has one context per cluster, named like it, each reaching its own API server with its own certificates', () => {
    const text = combinedKubeconfig(
      [1, 2, 3].map((i) => ({
        name: clusterNameOf(i),
        server: `https://127.0.0.1:${30_000 + i}`,
        certificateAuthority: `/s/kwok-${i}/pki/ca.crt`,
        clientCertificate: `/s/kwok-${i}/pki/admin.crt`,
        clientKey: `/s/kwok-${i}/pki/admin.key`,
      })),
    );
    const kc = new KubeConfig();
    kc.loadFromString(text);
    expect(kc.getContexts().map((c) => c.name)).toEqual(['local', 'local-2', 'local-3']);
    expect(kc.getCurrentContext()).toBe('local');
    kc.setCurrentContext('local-2');
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://127.0.0.1:30002', caFile: '/s/kwok-2/pki/ca.crt' });
    expect(kc.getCurrentUser()).toMatchObject({
      certFile: '/s/kwok-2/pki/admin.crt',
      keyFile: '/s/kwok-2/pki/admin.key',
    });
  });

  it('keeps paths with spaces and colons intact', () => {
    const text = combinedKubeconfig([
      {
        name: 'local',
        server: 'https://127.0.0.1:1',
        certificateAuthority: '/my stacks/a: b/ca.crt',
        clientCertificate: '/c',
        clientKey: '/k',
      },
    ]);
    const kc = new KubeConfig();
    kc.loadFromString(text);
    expect(kc.getCurrentCluster()?.caFile).toBe('/my stacks/a: b/ca.crt');
  });
});

describe('the worker configuration of a multi-cluster stack', () => {
  const info = stackInfoFromState(stateWith(3));

  it('lists every cluster in StackInfo, cluster 1 first, through the combined kubeconfig', () => {
    expect(info.clusters.map((c) => [c.name, c.kubeContext, c.kwokName, c.apiServerUrl])).toEqual([
      ['local', 'local', 'fleet', 'https://127.0.0.1:30000'],
      ['local-2', 'local-2', 'fleet-2', 'https://127.0.0.1:31000'],
      ['local-3', 'local-3', 'fleet-3', 'https://127.0.0.1:31100'],
    ]);
    expect(new Set(info.clusters.map((c) => c.kubeconfig))).toEqual(new Set([info.kubeconfigAll]));
    expect(info.clusters[1]?.auditLogPath).toMatch(/kwok-2\/clusters\/fleet-2\/logs\/audit\.log$/);
    // the single-cluster fields describe cluster 1, as before
    expect([info.clusterName, info.kubeconfig]).toEqual(['fleet', stateWith(3).kubeconfig]);
  });

  it('is a configuration file the worker reads: every cluster with its context and labels, default local', () => {
    const file = join(tmp, 'clusters.json');
    writeFileSync(file, clustersWorkerConfig(info.clusters, '/s/kubeconfig-all.yaml'));
    const config = loadWorkerConfig({ KUBE_WORKFLOWS_CONFIG: file });
    expect(config.clusters).toEqual({
      default: 'local',
      entries: {
        local: { kubeconfig: '/s/kubeconfig-all.yaml', context: 'local', labels: clusterLabelsOf(1) },
        'local-2': { kubeconfig: '/s/kubeconfig-all.yaml', context: 'local-2', labels: clusterLabelsOf(2) },
        'local-3': { kubeconfig: '/s/kubeconfig-all.yaml', context: 'local-3', labels: clusterLabelsOf(3) },
      },
    });
  });

  it('exports KUBE_WORKFLOWS_CONFIG and KUBE_WORKFLOWS_CLUSTER=local in stack.env; a one-cluster stack only the four lines', () => {
    const keys = (lines: string[]): string[] => lines.map((l) => l.split('=')[0] ?? '');
    const four = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_UI_URL', 'KUBECONFIG'];
    expect(keys(stackEnvLines(stackInfoFromState(stateWith(1))))).toEqual(four);
    expect(stackEnvLines(info).slice(4)).toEqual([
      `KUBE_WORKFLOWS_CONFIG=${info.workerConfigFile}`,
      'KUBE_WORKFLOWS_CLUSTER=local',
    ]);
  });

  it('gives a worker configured from stack.env exactly the stack clusters (no second name for local)', () => {
    const file = join(tmp, 'clusters-env.json');
    writeFileSync(file, clustersWorkerConfig(info.clusters, '/s/kubeconfig-all.yaml'));
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      stackEnvLines({ ...info, workerConfigFile: file }).map((l) => [
        l.slice(0, l.indexOf('=')),
        l.slice(l.indexOf('=') + 1),
      ]),
    );
    const config = loadWorkerConfig(env);
    expect([config.clusters.default, Object.keys(config.clusters.entries)]).toEqual([
      'local',
      ['local', 'local-2', 'local-3'],
    ]);
    expect(config.clusters.entries['local']).toMatchObject({ context: 'local', labels: clusterLabelsOf(1) });
  });
});
