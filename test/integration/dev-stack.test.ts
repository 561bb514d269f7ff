/**
 * The local stack for real: Temporal dev server + two kwok clusters (etcd, kube-apiserver, controller-manager,
 * scheduler, kwok each) started in a temp folder, checked with the `temporal` and `kubectl` binaries, then stopped.
 * Most tests look at cluster 1 (`local`, what a one-cluster stack has); the second shows what `--clusters` adds.
 * Needs the toolchain (tools/build-toolchain.sh); the first start may take a minute.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findStackProcesses,
  readStackState,
  resolveToolchain,
  stackEnvLines,
  stackPids,
  stackStatus,
  startStack,
  stopStack,
} from '../../src/dev/index.js';
import type { StackInfo } from '../../src/dev/index.js';
import { auditMark, countAuditWrites, waitForAuditWrites } from '../support/audit.js';
import { pollUntil } from '../support/poll.js';

const run = promisify(execFile);
const toolchain = resolveToolchain();
const dir = mkdtempSync(join(tmpdir(), 'kwf-stack-'));
const name = `kwf-it-${process.pid.toString(36)}-${Date.now().toString(36).slice(-4)}`;
const NODES = 3;
const CLUSTERS = 2;
let info: StackInfo;

interface Condition {
  type: string;
  status: string;
}
interface ContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  state: { running?: { startedAt?: string }; waiting?: { reason?: string; message?: string } };
  lastState?: { terminated?: { exitCode: number; reason?: string } };
}
interface Pod {
  status?: { phase?: string; podIP?: string; conditions?: Condition[]; containerStatuses?: ContainerStatus[] };
}
interface Deployment {
  status?: { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number; conditions?: Condition[] };
}
interface Node {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    nodeInfo?: { kubeletVersion?: string; operatingSystem?: string; architecture?: string };
    conditions?: Condition[];
  };
}
interface ScheduledPod {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: (Condition & { reason?: string; message?: string })[] };
}
interface List<T> {
  items: T[];
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes; then throws with `what`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const value = await pollUntil(check, (v) => v !== undefined, timeoutMs).catch((err: unknown) => {
    throw new Error(`timed out waiting for ${what}: ${(err as Error).message}`);
  });
  return value as T;
}

/** True when `pid` runs (a zombie, exited but not yet reaped by its parent, does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function describeProcess(pid: number): string {
  try {
    return (
      readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0, 60) +
      ' ' +
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
    );
  } catch {
    return '(gone)';
  }
}

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(toolchain.kubectl, ['--kubeconfig', info.kubeconfig, ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

async function kubectlJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl(...args, '-o', 'json')) as T;
}

async function apply(manifest: string): Promise<void> {
  const file = join(dir, `manifest-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, manifest);
  await kubectl('apply', '-f', file);
}

const isReady = (obj: { status?: { conditions?: Condition[] } }): boolean =>
  (obj.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function pod(podName: string, chaos?: string, annotations: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName,
      namespace: 'default',
      labels: chaos ? { 'kube-workflows.dev/chaos': chaos } : {},
      annotations,
    },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  });
}

beforeAll(async () => {
  const t0 = Date.now();
  info = await startStack({ dir, name, nodes: NODES, clusters: CLUSTERS, onProgress: (l) => console.error(l) });
  console.error(`[timing] startStack: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}, 300_000);

afterAll(async () => {
  await stopStack({ dir, purge: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('dev stack', () => {
  it('reports its connection info and writes stack.env', () => {
    expect(info.name).toBe(name);
    expect(info.temporalAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(info.temporalUiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.kubeconfig).toBe(join(dir, 'kwok', 'clusters', name, 'kubeconfig.yaml'));
    expect(info.kubeContext).toBe(`kwok-${name}`);
    const lines = stackEnvLines(info);
    expect(lines.map((l) => l.split('=')[0])).toEqual([
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_UI_URL',
      'KUBECONFIG',
      // a stack with several clusters: the worker configuration that lists them, and the KUBECONFIG one's name
      'KUBE_WORKFLOWS_CONFIG',
      'KUBE_WORKFLOWS_CLUSTER',
    ]);
    expect(lines[1]).toBe('TEMPORAL_NAMESPACE=default');
    expect(lines.slice(4)).toEqual([
      `KUBE_WORKFLOWS_CONFIG=${join(dir, 'clusters.json')}`,
      'KUBE_WORKFLOWS_CLUSTER=local',
    ]);
    expect(readFileSync(join(dir, 'stack.env'), 'utf8')).toBe(lines.join('\n') + '\n');
  });

  it('runs a second cluster with its own control plane, reached through the context local-2', async () => {
    expect(info.clusters.map((c) => [c.name, c.kwokName, c.kubeContext])).toEqual([
      ['local', name, 'local'],
      ['local-2', `${name}-2`, 'local-2'],
    ]);
    const state = readStackState(dir);
    const second = state?.extraClusters?.[0];
    expect(Object.keys(second?.clusterPids ?? {}).sort()).toEqual(Object.keys(state?.clusterPids ?? {}).sort());
    expect(Object.values(second?.clusterPids ?? {}).filter(alive)).toHaveLength(5);
    const all = ['--kubeconfig', info.kubeconfigAll];
    const nodes = await run(toolchain.kubectl, [...all, '--context', 'local-2', 'get', 'nodes', '-o', 'json']);
    expect((JSON.parse(nodes.stdout) as List<Node>).items.filter(isReady)).toHaveLength(NODES);
    const audit = info.clusters[1]?.auditLogPath ?? '';
    const mark = auditMark(audit);
    await run(toolchain.kubectl, [...all, '--context', 'local-2', 'create', 'configmap', 'only-on-2']);
    await expect(
      run(toolchain.kubectl, [...all, '--context', 'local', 'get', 'configmap', 'only-on-2']),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('NotFound') as unknown });
    // its own audit log
    // (the controller-manager also publishes kube-root-ca.crt into every namespace of a young cluster, default
    // included, whenever it gets to it: not ours, so count only what kubectl wrote)
    const ours = (w: { key: string; userAgent: string }[]) =>
      w.filter((x) => x.key.startsWith('configmaps:default/') && x.userAgent.startsWith('kubectl'));
    const writes = await waitForAuditWrites(audit, { ...mark, resource: 'configmaps' }, (w) => ours(w).length >= 1);
    expect(ours(writes).map((w) => w.key)).toEqual(['configmaps:default/only-on-2']);
  });

  it('refuses to add clusters to a running stack, naming dev down', async () => {
    await expect(startStack({ dir, name, nodes: NODES, clusters: CLUSTERS + 1 })).rejects.toThrow(
      /has 2 cluster\(s\), 3 were asked for; stop it first \(kube-workflows dev down\)/,
    );
    await expect(startStack({ dir, clusters: 6 })).rejects.toThrow(
      /invalid cluster count 6 \(an integer from 1 to 5\)/,
    );
  });

  it('Temporal answers, with the search attributes registered', async () => {
    const flags = ['--address', info.temporalAddress, '--disable-config-file', '--disable-config-env', '-o', 'json'];
    const ns = await run(toolchain.temporal, ['operator', 'namespace', 'describe', '--namespace', 'default', ...flags]);
    expect((JSON.parse(ns.stdout) as { namespaceInfo: { name: string } }).namespaceInfo.name).toBe('default');
    const sa = await run(toolchain.temporal, [
      'operator',
      'search-attribute',
      'list',
      '--namespace',
      'default',
      ...flags,
    ]);
    for (const attr of ['KubeCluster', 'KubeNamespace', 'KubeApp', 'KubeOutcome']) expect(sa.stdout).toContain(attr);
    const ui = await fetch(info.temporalUiUrl);
    expect(ui.status).toBe(200);
  });

  it(`has ${NODES} Ready nodes`, async () => {
    const nodes = await kubectlJson<List<Pod>>('get', 'nodes');
    expect(nodes.items).toHaveLength(NODES);
    expect(nodes.items.filter(isReady)).toHaveLength(NODES);
  });

  it('has nodes shaped like real ones: capacity, allocatable, os/arch/instance-type labels, zones', async () => {
    const nodes = await kubectlJson<List<Node>>('get', 'nodes');
    for (const n of nodes.items) {
      expect(n.status?.capacity).toMatchObject({ cpu: '8', memory: '32Gi', 'ephemeral-storage': '100Gi', pods: '110' });
      expect(n.status?.allocatable).toMatchObject({
        cpu: '7910m',
        memory: '30Gi',
        'ephemeral-storage': '95Gi',
        pods: '110',
      });
      expect(n.metadata.labels).toMatchObject({
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': n.metadata.name,
        'node.kubernetes.io/instance-type': 'standard-8',
        'topology.kubernetes.io/region': 'local-1',
      });
      expect(n.metadata.labels?.['topology.kubernetes.io/zone']).toMatch(/^local-1[abc]$/);
      expect(n.status?.nodeInfo).toMatchObject({
        kubeletVersion: toolchain.versions.kube,
        operatingSystem: 'linux',
        architecture: 'amd64',
      });
    }
    const zones = new Set(nodes.items.map((n) => n.metadata.labels?.['topology.kubernetes.io/zone']));
    expect(zones.size).toBe(Math.min(NODES, 3));
  });

  it('schedules a Deployment that requests cpu, memory and ephemeral-storage, spread over zones', async () => {
    const container = {
      name: 'app',
      image: 'registry.example/app:1',
      resources: {
        requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
        limits: { memory: '512Mi', 'ephemeral-storage': '2Gi' },
      },
    };
    await apply(
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'requests', namespace: 'default' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'requests' } },
          template: {
            metadata: { labels: { app: 'requests' } },
            spec: {
              nodeSelector: { 'kubernetes.io/os': 'linux' },
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'topology.kubernetes.io/zone',
                  whenUnsatisfiable: 'DoNotSchedule',
                  labelSelector: { matchLabels: { app: 'requests' } },
                },
              ],
              containers: [container],
            },
          },
        },
      }),
    );
    const t0 = Date.now();
    await eventually(
      'Deployment requests Available with 3 replicas',
      async () => {
        const d = await kubectlJson<Deployment>('get', 'deployment', 'requests', '-n', 'default');
        const available = d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
        return available && d.status?.availableReplicas === 3 ? d : undefined;
      },
      60_000,
    );
    console.error(`[timing] deployment with requests available: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const pods = await kubectlJson<List<ScheduledPod>>('get', 'pods', '-n', 'default', '-l', 'app=requests');
    const nodes = await kubectlJson<List<Node>>('get', 'nodes');
    const zoneOf = new Map(
      nodes.items.map((n) => [n.metadata.name, n.metadata.labels?.['topology.kubernetes.io/zone']]),
    );
    const zones = pods.items.map((p) => zoneOf.get(p.spec?.nodeName ?? ''));
    expect(new Set(zones).size).toBe(Math.min(NODES, 3));
    await kubectl('delete', 'deployment', 'requests', '-n', 'default', '--wait=false');
  });

  it('does not schedule a pod that asks for more than a node has', async () => {
    await apply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'too-big', namespace: 'default' },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '8' } } }] },
      }),
    );
    const p = await eventually('too-big Unschedulable', async () => {
      const got = await kubectlJson<ScheduledPod>('get', 'pod', 'too-big', '-n', 'default');
      const c = got.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return c?.status === 'False' && c.reason === 'Unschedulable' ? c : undefined;
    });
    expect(p.message).toContain('Insufficient cpu');
    await kubectl('delete', 'pod', 'too-big', '-n', 'default', '--wait=false');
  });

  it("counts writes from the API server's audit log: a server-side apply is 1 write, a dry run 0", async () => {
    expect(info.auditLogPath).toBe(join(dir, 'kwok', 'clusters', name, 'logs', 'audit.log'));
    const ns = 'audit-count';
    await kubectl('create', 'namespace', ns);
    const cm = (value: string): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings', namespace: ns },
        data: { value },
      });
    const file = join(dir, 'audit-cm.json');
    const mark = auditMark(info.auditLogPath);
    writeFileSync(file, cm('1'));
    await kubectl('apply', '--server-side', '--field-manager', 'audit-test', '-f', file);
    writeFileSync(file, cm('2'));
    await kubectl('apply', '--server-side', '--field-manager', 'audit-test', '--dry-run=server', '-f', file);
    // Both requests reach the log (the dry run too, marked as such) before anything is counted. (Controllers also
    // write to a new namespace, its default ServiceAccount and kube-root-ca.crt ConfigMap: count by object.)
    const window = { ...mark, namespace: ns, resource: 'configmaps', name: 'settings' };
    const all = await waitForAuditWrites(info.auditLogPath, { ...window, includeDryRun: true }, (w) => w.length >= 2);
    expect(all.map((w) => [w.verb, w.key, w.dryRun])).toEqual([
      ['patch', `configmaps:${ns}/settings`, false],
      ['patch', `configmaps:${ns}/settings`, true],
    ]);
    const counts = countAuditWrites(info.auditLogPath, window);
    expect(counts.total).toBe(1);
    expect(counts.byObject).toEqual({ [`configmaps:${ns}/settings`]: 1 });
    expect(counts.writes[0]).toMatchObject({ verb: 'patch', code: 201, dryRun: false });
    expect(counts.writes[0]?.userAgent).toContain('kubectl');
    // The dry run changed nothing.
    const live = await kubectlJson<{ data: { value: string } }>('get', 'configmap', 'settings', '-n', ns);
    expect(live.data.value).toBe('1');
    // A time window that ends at the mark sees the namespace being set up, and not the ConfigMap.
    const before = countAuditWrites(info.auditLogPath, { namespace: ns, until: mark.since });
    expect(before.byObject).toMatchObject({ [`namespaces:${ns}`]: 1 });
    expect(before.byObject[`configmaps:${ns}/settings`]).toBeUndefined();
    // Everything in the namespace since the mark: the one apply, plus what controllers wrote on their own.
    const inNamespace = countAuditWrites(info.auditLogPath, { ...mark, namespace: ns });
    console.error(`[audit] writes in ${ns} since the mark: ${JSON.stringify(inNamespace.byObject)}`);
    expect(inNamespace.byObject[`configmaps:${ns}/settings`]).toBe(1);
  });

  it('runs a Deployment: 2 replicas become 2 Ready pods', async () => {
    await apply(
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
          },
        },
      }),
    );
    const t0 = Date.now();
    await eventually('2 ready replicas', async () => {
      const d = await kubectlJson<Deployment>('get', 'deployment', 'web', '-n', 'default');
      return d.status?.readyReplicas === 2 && d.status?.updatedReplicas === 2 ? d : undefined;
    });
    console.error(`[timing] deployment ready: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const pods = await kubectlJson<List<Pod>>('get', 'pods', '-n', 'default', '-l', 'app=web');
    expect(pods.items).toHaveLength(2);
    for (const p of pods.items) {
      expect(p.status?.phase).toBe('Running');
      expect(isReady(p)).toBe(true);
      expect(p.status?.podIP).toBeTruthy();
      expect(p.status?.containerStatuses?.[0]).toMatchObject({
        name: 'web',
        ready: true,
        started: true,
        restartCount: 0,
      });
      expect(p.status?.containerStatuses?.[0]?.state.running?.startedAt).toBeTruthy();
    }
  });

  it('simulates a crash-looping pod (chaos=crash)', async () => {
    await apply(pod('crasher', 'crash'));
    const p = await eventually('CrashLoopBackOff', async () => {
      const got = await kubectlJson<Pod>('get', 'pod', 'crasher', '-n', 'default');
      return got.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CrashLoopBackOff' ? got : undefined;
    });
    expect(p.status?.phase).toBe('Running');
    expect(isReady(p)).toBe(false);
    const cs = p.status?.containerStatuses?.[0];
    expect(cs?.ready).toBe(false);
    expect(cs?.restartCount).toBeGreaterThan(0);
    expect(cs?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(cs?.state.waiting?.message).toContain('back-off');
    // kubectl's own view, as a person would see it
    expect(await kubectl('get', 'pod', 'crasher', '-n', 'default')).toContain('CrashLoopBackOff');
  });

  it('simulates unready and slow pods (chaos=unready, chaos=slow)', async () => {
    await apply(pod('never-ready', 'unready'));
    await apply(pod('slowpoke', 'slow', { 'kube-workflows.dev/chaos-delay': '2s' }));
    const t0 = Date.now();
    const slow = await eventually('slow pod Ready', async () => {
      const got = await kubectlJson<Pod>('get', 'pod', 'slowpoke', '-n', 'default');
      return isReady(got) ? got : undefined;
    });
    expect((Date.now() - t0) / 1000).toBeGreaterThan(1);
    expect(slow.status?.containerStatuses?.[0]).toMatchObject({ ready: true, started: true });
    const unready = await kubectlJson<Pod>('get', 'pod', 'never-ready', '-n', 'default');
    expect(unready.status?.phase).toBe('Running');
    expect(isReady(unready)).toBe(false);
    expect(unready.status?.containerStatuses?.[0]).toMatchObject({ ready: false, started: true });
    expect(unready.status?.containerStatuses?.[0]?.state.running).toBeTruthy();
  });

  it('deletes pods', async () => {
    await kubectl('delete', 'pod', 'crasher', 'never-ready', 'slowpoke', '-n', 'default', '--wait=false');
    await eventually('pods gone', async () => {
      const pods = await kubectlJson<List<Pod>>('get', 'pods', '-n', 'default', '-l', 'kube-workflows.dev/chaos');
      return pods.items.length === 0 ? true : undefined;
    });
  });

  it('is idempotent: starting again returns the running stack', async () => {
    const t0 = Date.now();
    const again = await startStack({ dir, name, nodes: NODES });
    console.error(`[timing] startStack (already running): ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(again).toEqual(info);
    expect(await stackStatus({ dir })).toEqual(info);
  });

  it('stops everything it started', async () => {
    const state = readStackState(dir);
    expect(state?.phase).toBe('ready');
    const pids = stackPids(state!);
    // temporal + etcd, apiserver, controller-manager, scheduler, kwok for each cluster
    expect(pids.length).toBeGreaterThanOrEqual(1 + 5 * CLUSTERS);
    const t0 = Date.now();
    await stopStack({ dir });
    console.error(`[timing] stopStack: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const survivors = pids.filter(alive).map((pid) => `${pid}: ${describeProcess(pid)}`);
    expect(survivors).toEqual([]);
    const { stdout } = await run('ps', ['-eo', 'pid=,args=']);
    const ours = stdout.split('\n').filter((l) => l.includes(dir) && !l.includes('vitest'));
    expect(ours).toEqual([]);
    expect(findStackProcesses(dir)).toEqual([]);
    expect(await stackStatus({ dir })).toBeUndefined();
    expect(readStackState(dir)).toBeUndefined();
    await stopStack({ dir }); // safe twice
  }, 120_000);

  it('stops what it had started, on every cluster, when a start is aborted half-way', async () => {
    const abortDir = mkdtempSync(join(tmpdir(), 'kwf-stack-abort-'));
    try {
      const abort = new AbortController();
      const onProgress = (line: string): void => {
        // cluster 2 is up, cluster 1 and Temporal may still be starting
        if (/cluster \S+-2 created/.test(line)) abort.abort(new Error('aborted by the test'));
      };
      const start = startStack({
        dir: abortDir,
        name: `${name}-x`,
        nodes: 1,
        clusters: 2,
        signal: abort.signal,
        onProgress,
      });
      await expect(start).rejects.toThrow(/aborted by the test/);
      expect(findStackProcesses(abortDir)).toEqual([]);
      expect(readStackState(abortDir)).toBeUndefined();
    } finally {
      await stopStack({ dir: abortDir, purge: true });
      rmSync(abortDir, { recursive: true, force: true });
    }
  }, 120_000);
});
