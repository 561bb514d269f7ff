/**
 * Static checks of deploy/kubernetes (no cluster needed): least-privilege RBAC, a hardened worker pod, and a
 * worker configuration the worker itself accepts. test/integration/rbac.test.ts checks the same manifests
 * against a real API server (SubjectAccessReviews, the worker's calls with a real ServiceAccount token).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkerConfig, WORKER_ENV_VARS } from '../../src/worker/config.js';

const dir = new URL('../../deploy/kubernetes/', import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'kube-workflows-manifests-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are free-form; expect() checks shapes
type Obj = Record<string, any>;

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]?.message}`);
    return d.toJS() as Obj;
  });
}

const kustomization = load('kustomization.yaml')[0] as Obj;
const resources = (kustomization.resources as string[]).flatMap(load);
const rbac = load('namespace-role.yaml');
const all = [...resources, ...rbac];
const find = (kind: string, name?: string): Obj => {
  const o = all.find((x) => x.kind === kind && (!name || x.metadata?.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ''} in deploy/kubernetes`);
  return o;
};
const role = find('Role');
const binding = find('RoleBinding');
const sa = find('ServiceAccount');
const deployment = find('Deployment');
const pod = deployment.spec.template.spec as Obj;
const container = (pod.containers as Obj[])[0] as Obj;
const envConfigMap = find('ConfigMap', 'kube-workflows-worker-env');
const fileConfigMap = find('ConfigMap', 'kube-workflows-worker-config');

/** Verbs the worker's gateway uses (src/kube/gateway.ts): GET, LIST, WATCH, PATCH (apply; create when new), DELETE. */
const DEPLOY_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

describe('deploy/kubernetes', () => {
  it('every object has apiVersion, kind and a name; namespaced ones sit in kube-workflows or shop', () => {
    for (const o of all) {
      expect(o.apiVersion, JSON.stringify(o)).toBeTruthy();
      expect(o.kind).toMatch(/^[A-Z]/);
      expect(o.metadata?.name).toBeTruthy();
      if (o.kind !== 'Namespace') expect(['kube-workflows', 'shop']).toContain(o.metadata.namespace);
    }
    expect(kustomization.resources).not.toContain('namespace-role.yaml');
  });

  it('has no ClusterRole or ClusterRoleBinding: discovery comes from the default system:discovery role', () => {
    expect(all.filter((o) => /^Cluster/.test(o.kind as string))).toEqual([]);
  });

  it('the Role has no wildcard, no escalation verb, nothing on Secrets or RBAC, and only the verbs the worker uses', () => {
    for (const rule of role.rules as Obj[]) {
      for (const field of ['apiGroups', 'resources', 'verbs']) expect(rule[field]).not.toContain('*');
      expect(rule.resourceNames).toBeUndefined();
      expect(rule.nonResourceURLs).toBeUndefined();
      for (const verb of rule.verbs as string[]) expect(DEPLOY_VERBS).toContain(verb);
      for (const bad of ['escalate', 'bind', 'impersonate', 'update', 'deletecollection'])
        expect(rule.verbs).not.toContain(bad);
      for (const bad of ['secrets', 'roles', 'rolebindings', 'serviceaccounts/token', 'pods/exec'])
        expect(rule.resources).not.toContain(bad);
      expect(rule.apiGroups).not.toContain('rbac.authorization.k8s.io');
    }
  });

  it('grants exactly: the deploy verbs on managed kinds, read-only Pods/ReplicaSets, get+patch on scale, the reads of alerts and monitors', () => {
    const grants = new Map<string, string[]>();
    for (const rule of role.rules as Obj[])
      for (const g of rule.apiGroups as string[])
        for (const r of rule.resources as string[])
          grants.set(`${g || 'core'}/${r}`, [
            ...(grants.get(`${g || 'core'}/${r}`) ?? []),
            ...(rule.verbs as string[]),
          ]);
    const expected: Record<string, string[]> = {};
    for (const r of [
      'core/configmaps',
      'core/services',
      'core/serviceaccounts',
      'apps/deployments',
      'apps/statefulsets',
      'apps/daemonsets',
      'batch/jobs',
      'batch/cronjobs',
      'networking.k8s.io/ingresses',
      'networking.k8s.io/networkpolicies',
      'policy/poddisruptionbudgets',
      'autoscaling/horizontalpodautoscalers',
    ])
      expected[r] = DEPLOY_VERBS;
    expected['core/pods'] = ['get', 'list', 'watch'];
    expected['apps/replicasets'] = ['get', 'list', 'watch'];
    expected['apps/deployments/scale'] = ['get', 'patch'];
    expected['apps/statefulsets/scale'] = ['get', 'patch'];
    // read-only, for operation alerts (pod log tails, Events) and monitors (PVC targets, PodMetrics)
    expected['core/pods/log'] = ['get'];
    expected['core/events'] = ['get', 'list', 'watch'];
    expected['core/persistentvolumeclaims'] = ['get', 'list', 'watch'];
    expected['metrics.k8s.io/pods'] = ['get', 'list'];
    const sorted = (m: Iterable<[string, string[]]>): Record<string, string[]> =>
      Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]));
    expect(sorted(grants)).toEqual(sorted(Object.entries(expected)));
  });

  it('binds the Role, in its own namespace, to the worker ServiceAccount only', () => {
    expect(binding.metadata.namespace).toBe(role.metadata.namespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
  });

  it('runs the worker as that ServiceAccount, as `kube-workflows worker`, from a pinned image', () => {
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(deployment.metadata.namespace).toBe(sa.metadata.namespace);
    expect(container.args).toEqual(['worker']);
    expect(container.image).toMatch(/:[\w][\w.-]*$/);
    expect(container.image).not.toMatch(/:latest$/);
    const images = kustomization.images as Obj[];
    expect(images.map((i) => String(i.name))).toContain((container.image as string).split(':')[0]);
    for (const i of images) expect(i.newTag).not.toBe('latest');
  });

  it('hardens the pod: non-root (numeric uid), read-only root filesystem, no privilege escalation, no capabilities', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toBeTruthy();
    const ns = find('Namespace', 'kube-workflows');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // the Dockerfile's user is the same numeric uid (a user name cannot be checked against runAsNonRoot)
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^USER ${String(pod.securityContext.runAsUser)}(:\\d+)?$`, 'm'));
  });

  it('passes only documented environment variables, and mounts the configuration file it names', () => {
    expect(container.envFrom).toEqual([{ configMapRef: { name: envConfigMap.metadata.name } }]);
    for (const key of Object.keys(envConfigMap.data as object)) expect(WORKER_ENV_VARS).toContain(key);
    const path = envConfigMap.data.KUBE_WORKFLOWS_CONFIG as string;
    const mount = (container.volumeMounts as Obj[]).find((m) => path.startsWith(`${m.mountPath as string}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = (pod.volumes as Obj[]).find((v) => v.name === mount?.name);
    expect(volume?.configMap?.name).toBe(fileConfigMap.metadata.name);
    expect(Object.keys(fileConfigMap.data as object)).toContain(path.slice((mount?.mountPath as string).length + 1));
  });

  it('the configuration file is accepted by the worker: in-cluster credentials, the Role namespaces only', () => {
    const text = fileConfigMap.data['config.yaml'] as string;
    const path = join(tmp, 'config.yaml');
    writeFileSync(path, text);
    const config = loadWorkerConfig({ ...(envConfigMap.data as Record<string, string>), KUBE_WORKFLOWS_CONFIG: path });
    expect(config.clusters).toEqual({
      default: 'in-cluster',
      entries: { 'in-cluster': { inCluster: true, labels: {} } },
    });
    expect(config.temporal.taskQueue).toBe('kube-workflows');
    expect(config.policy.namespaces).toEqual(
      rbac.filter((o) => o.kind === 'Role').map((o) => String(o.metadata.namespace)),
    );
    expect(config.policy.allowClusterScoped).toBe(false);
    expect(config.policy.deniedKinds).toContain('Secret');
    // the kubelet must wait longer than the worker's graceful shutdown
    const grace = Number(/^(\d+)s$/.exec(config.worker.shutdownGraceTime)?.[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(grace);
  });
});
