/**
 * The clusters of a stack, as one list: how cluster `i` of `dev up --clusters N` is named, labelled and laid out on
 * disk, the combined kubeconfig with one context per cluster (`<dir>/kubeconfig-all.yaml`), and the worker
 * configuration file that lists them all (`<dir>/clusters.json`). Pure functions over {@link StackState} and file
 * text, plus the two writers; nothing here starts or stops a process.
 *
 * | cluster | kube-workflows name | kwok name | kwokctl workdir | labels |
 * |---|---|---|---|---|
 * | 1 | `local` | `<stack>` | `<dir>/kwok` | `env: staging`, `region: r1`, `stack: local` |
 * | i ≥ 2 | `local-<i>` | `<stack>-<i>` | `<dir>/kwok-<i>` | `env: prod`, `region: r<i>`, `stack: local` |
 *
 * Cluster 1 is the stack's original cluster: the top-level fields of {@link StackState} and {@link StackInfo}
 * describe it, unchanged, so single-cluster callers never look at the list.
 * @module
 */

import { join } from 'node:path';
import { clusterDirOf, kubeContextOf, readText, TEMPORAL_NAMESPACE, writeFileAtomic } from './state.js';
import type { ClusterPorts, ExtraClusterState, StackCluster, StackInfo, StackState } from './state.js';

/** The kube-workflows name of cluster 1 (what workflows, ids and the worker configuration call it). */
export const FIRST_CLUSTER_NAME = 'local';
/** Most clusters one stack runs (`dev up --clusters` accepts 1 to this). */
export const MAX_STACK_CLUSTERS = 5;
/** The combined kubeconfig in the stack folder: one context per cluster, named like the cluster. */
export const KUBECONFIG_ALL_FILE = 'kubeconfig-all.yaml';
/** The worker configuration file in the stack folder that lists every cluster (`KUBE_WORKFLOWS_CONFIG`). */
export const CLUSTERS_CONFIG_FILE = 'clusters.json';

/**
 * One cluster of a stack with everything needed to reach, stop and start it (cluster 1 first): what `stack.json`
 * records of every cluster ({@link ExtraClusterState}; for cluster 1, its top-level fields) plus its kwokctl files.
 */
export interface ClusterRecord extends ExtraClusterState {
  /** The generated kwokctl configuration it was created with. */
  readonly kwokctlConfigFile: string;
  /** Where its kwokctl runs are logged. */
  readonly kwokctlLogFile: string;
}

/** kube-workflows name of cluster `index` (1-based): `local`, `local-2`, … */
export function clusterNameOf(index: number): string {
  return index === 1 ? FIRST_CLUSTER_NAME : `${FIRST_CLUSTER_NAME}-${index}`;
}

/** kwok name of cluster `index` of the stack `stackName`: the stack's name for cluster 1, `<stack>-<i>` after. */
export function kwokNameOf(stackName: string, index: number): string {
  return index === 1 ? stackName : `${stackName}-${index}`;
}

/** `KWOK_WORKDIR` of cluster `index`: `<dir>/kwok` for cluster 1, `<dir>/kwok-<i>` after. */
export function kwokWorkdirOf(dir: string, index: number): string {
  return join(dir, index === 1 ? 'kwok' : `kwok-${index}`);
}

/**
 * Labels of cluster `index` in the worker configuration: `region: r<i>`, `env: staging` for cluster 1 and
 * `env: prod` for the others, and `stack: local`, so fleets can pick "staging first, then prod".
 */
export function clusterLabelsOf(index: number): Record<string, string> {
  return { env: index === 1 ? 'staging' : 'prod', region: `r${index}`, stack: 'local' };
}

/** The generated kwokctl configuration and the kwokctl log of cluster `index`, in the stack folder. */
function kwokctlFilesOf(dir: string, index: number): { config: string; log: string } {
  const suffix = index === 1 ? '' : `-${index}`;
  return { config: join(dir, `kwokctl${suffix}.yaml`), log: join(dir, `kwokctl${suffix}.log`) };
}

/** The state record of an extra cluster (index ≥ 2) before it is created. */
export function extraClusterState(
  dir: string,
  stackName: string,
  index: number,
  ports: ClusterPorts,
): ExtraClusterState {
  const kwokName = kwokNameOf(stackName, index);
  const kwokWorkdir = kwokWorkdirOf(dir, index);
  return {
    index,
    name: clusterNameOf(index),
    kwokName,
    kwokWorkdir,
    kubeconfig: join(clusterDirOf({ kwokWorkdir, clusterName: kwokName }), 'kubeconfig.yaml'),
    clusterPorts: ports,
    clusterPids: {},
  };
}

/** Every cluster `state` describes, cluster 1 (its top-level fields) first. A state from before multi-cluster has one. */
export function clusterRecords(state: StackState): ClusterRecord[] {
  const first: ClusterRecord = {
    index: 1,
    name: FIRST_CLUSTER_NAME,
    kwokName: state.clusterName,
    kwokWorkdir: state.kwokWorkdir,
    kubeconfig: state.kubeconfig,
    clusterPorts: state.clusterPorts,
    clusterPids: state.clusterPids,
    kwokctlConfigFile: kwokctlFilesOf(state.dir, 1).config,
    kwokctlLogFile: kwokctlFilesOf(state.dir, 1).log,
  };
  const extra = (state.extraClusters ?? []).map((c): ClusterRecord => ({
    ...c,
    kwokctlConfigFile: kwokctlFilesOf(state.dir, c.index).config,
    kwokctlLogFile: kwokctlFilesOf(state.dir, c.index).log,
  }));
  return [first, ...extra];
}

/** The cluster of `state` called `name` (`local`, `local-2`, …); throws listing the stack's clusters otherwise. */
export function clusterRecordNamed(state: StackState, name: string = FIRST_CLUSTER_NAME): ClusterRecord {
  const records = clusterRecords(state);
  const found = records.find((c) => c.name === name);
  if (!found) {
    throw new Error(
      `kube-workflows: the stack in ${state.dir} has no cluster "${name}" (it has ${records.map((c) => c.name).join(', ')})`,
    );
  }
  return found;
}

/** `state` with the recorded pids of cluster `index` replaced. */
export function withClusterPids(state: StackState, index: number, pids: Record<string, number>): StackState {
  if (index === 1) return { ...state, clusterPids: pids };
  return {
    ...state,
    extraClusters: (state.extraClusters ?? []).map((c) => (c.index === index ? { ...c, clusterPids: pids } : c)),
  };
}

/** What a kwok kubeconfig says about its cluster (kwokctl writes one cluster, one user, one context). */
export interface KubeconfigCluster {
  /** API server URL, `https://127.0.0.1:PORT`. */
  readonly server: string;
  /** CA certificate file. */
  readonly certificateAuthority: string;
  /** Client certificate file (the admin user). */
  readonly clientCertificate: string;
  /** Client key file. */
  readonly clientKey: string;
}

/**
 * Reads server, CA and client certificate paths from a kubeconfig kwokctl wrote (one cluster, one user), or
 * undefined when one of them is missing.
 */
export function parseKwokKubeconfig(text: string): KubeconfigCluster | undefined {
  const field = (key: string): string | undefined => {
    const m = new RegExp(`^\\s*${key}:\\s*(.+?)\\s*$`, 'm').exec(text);
    const raw = m?.[1];
    if (raw === undefined) return undefined;
    return /^["'].*["']$/.test(raw) ? raw.slice(1, -1) : raw;
  };
  const [server, certificateAuthority, clientCertificate, clientKey] = [
    field('server'),
    field('certificate-authority'),
    field('client-certificate'),
    field('client-key'),
  ];
  if (!server || !certificateAuthority || !clientCertificate || !clientKey) return undefined;
  return { server, certificateAuthority, clientCertificate, clientKey };
}

/** What a kwok cluster's kubeconfig would say when it cannot be read: the files kwokctl always writes. */
function expectedKubeconfigCluster(record: ClusterRecord): KubeconfigCluster {
  const pki = join(clusterDirOf({ kwokWorkdir: record.kwokWorkdir, clusterName: record.kwokName }), 'pki');
  return {
    server: `https://127.0.0.1:${record.clusterPorts.kubeApiserver}`,
    certificateAuthority: join(pki, 'ca.crt'),
    clientCertificate: join(pki, 'admin.crt'),
    clientKey: join(pki, 'admin.key'),
  };
}

/** Cluster `record`'s connection details, from its kwok kubeconfig (or what kwokctl writes, when unreadable). */
export function kubeconfigClusterOf(record: ClusterRecord): KubeconfigCluster {
  return parseKwokKubeconfig(readText(record.kubeconfig)) ?? expectedKubeconfigCluster(record);
}

/**
 * A kubeconfig with one cluster, user and context per entry, each named after the entry (`local`, `local-2`, …),
 * the first one current. Paths and URLs are written as JSON strings, which YAML reads as they are.
 */
export function combinedKubeconfig(clusters: ReadonlyArray<{ name: string } & KubeconfigCluster>): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = ['# Generated by kube-workflows (src/dev/clusters.ts): one context per cluster of the stack.'];
  lines.push('apiVersion: v1', 'kind: Config', 'clusters:');
  for (const c of clusters) {
    lines.push(`- name: ${q(c.name)}`, '  cluster:', `    server: ${q(c.server)}`);
    lines.push(`    certificate-authority: ${q(c.certificateAuthority)}`);
  }
  lines.push('users:');
  for (const c of clusters) {
    lines.push(`- name: ${q(c.name)}`, '  user:', `    client-certificate: ${q(c.clientCertificate)}`);
    lines.push(`    client-key: ${q(c.clientKey)}`);
  }
  lines.push('contexts:');
  for (const c of clusters) {
    lines.push(`- name: ${q(c.name)}`, '  context:', `    cluster: ${q(c.name)}`, `    user: ${q(c.name)}`);
  }
  lines.push(`current-context: ${q(clusters[0]?.name ?? '')}`, '');
  return lines.join('\n');
}

/**
 * The worker configuration (`KUBE_WORKFLOWS_CONFIG`, JSON is YAML) listing every cluster of the stack through the
 * combined kubeconfig, with its labels, and `local` as the default cluster.
 */
export function clustersWorkerConfig(
  clusters: ReadonlyArray<Pick<StackCluster, 'name' | 'labels'>>,
  kubeconfig: string,
): string {
  const entries = Object.fromEntries(
    clusters.map((c) => [c.name, { kubeconfig, context: c.name, labels: c.labels }] as const),
  );
  return JSON.stringify({ clusters: { default: FIRST_CLUSTER_NAME, entries } }, null, 2) + '\n';
}

/** The clusters of a stack as {@link StackInfo} lists them (kubeconfig: the combined one, context: the name). */
export function stackClustersOf(state: StackState): StackCluster[] {
  const kubeconfig = join(state.dir, KUBECONFIG_ALL_FILE);
  return clusterRecords(state).map((r) => ({
    name: r.name,
    kubeconfig,
    kubeContext: r.name,
    kwokName: r.kwokName,
    labels: clusterLabelsOf(r.index),
    auditLogPath: join(clusterDirOf({ kwokWorkdir: r.kwokWorkdir, clusterName: r.kwokName }), 'logs', 'audit.log'),
    apiServerUrl: `https://127.0.0.1:${r.clusterPorts.kubeApiserver}`,
  }));
}

/** Writes `<dir>/kubeconfig-all.yaml` and `<dir>/clusters.json` for the clusters `state` describes. */
export function writeClusterFiles(state: StackState): void {
  const records = clusterRecords(state);
  const kubeconfig = join(state.dir, KUBECONFIG_ALL_FILE);
  writeFileAtomic(kubeconfig, combinedKubeconfig(records.map((r) => ({ name: r.name, ...kubeconfigClusterOf(r) }))));
  writeFileAtomic(join(state.dir, CLUSTERS_CONFIG_FILE), clustersWorkerConfig(stackClustersOf(state), kubeconfig));
}

/** The {@link StackInfo} described by a state file. */
export function stackInfoFromState(state: StackState): StackInfo {
  return {
    name: state.name,
    dir: state.dir,
    temporalAddress: `127.0.0.1:${state.temporal.grpcPort}`,
    temporalNamespace: TEMPORAL_NAMESPACE,
    temporalUiUrl: `http://127.0.0.1:${state.temporal.uiPort}`,
    kubeconfig: state.kubeconfig,
    kubeContext: kubeContextOf(state.kubeconfig, state.clusterName),
    clusterName: state.clusterName,
    auditLogPath: join(clusterDirOf(state), 'logs', 'audit.log'),
    clusters: stackClustersOf(state),
    kubeconfigAll: join(state.dir, KUBECONFIG_ALL_FILE),
    workerConfigFile: join(state.dir, CLUSTERS_CONFIG_FILE),
  };
}
