/**
 * The RBAC of deploy/kubernetes against a real kube-apiserver (authorization mode Node,RBAC):
 * - renders the kustomization with kubectl, applies the worker's Namespace and ServiceAccount and the per-namespace
 *   Role + RoleBinding (retargeted to fresh namespaces), and server-side dry-runs the rest;
 * - asks the API server, with SubjectAccessReviews for the worker's ServiceAccount, about every verb a deploy
 *   needs (allowed in the managed namespace, denied in another one), Secrets and escalation paths (denied), and
 *   cluster-scoped writes (denied); discovery is allowed by the default `system:discovery` role;
 * - makes the worker's own gateway calls with a real token of that ServiceAccount;
 * - checks that the worker pod passes the `restricted` Pod Security Standard its namespace enforces.
 * Names are unique per run; everything created is deleted at the end.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AuthorizationV1Api, CoreV1Api, KubeConfig, type V1SubjectAccessReviewSpec } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resolveToolchain } from '../../src/dev/index.js';
import { createKubeGateway, isKubeApiError, type KubeGateway } from '../../src/kube/index.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { pollUntil } from '../support/poll.js';

const execFileP = promisify(execFile);
const deployDir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

// Fresh names for this run: the worker's namespace, a managed namespace and one the worker has no rights in.
const id = randomBytes(3).toString('hex');
const WORKER_NS = `kwf-rbac-${id}`;
const MANAGED_NS = `kwf-rbac-shop-${id}`;
const FORBIDDEN_NS = `kwf-rbac-other-${id}`;
const SA_NAME = 'kube-workflows-worker';
const USER = `system:serviceaccount:${WORKER_NS}:${SA_NAME}`;
const GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${WORKER_NS}`, 'system:authenticated'];

/** One question for the authorizer. `group` '' is the core group. */
interface ResourceRow {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
}
const label = (r: ResourceRow): string =>
  `${r.verb} ${r.group ? `${r.group}/` : ''}${r.resource}${r.subresource ? `/${r.subresource}` : ''}` +
  (r.namespace
    ? ` in ${r.namespace === MANAGED_NS ? 'managed' : r.namespace === FORBIDDEN_NS ? 'other' : r.namespace}`
    : ' cluster-wide');

/** Kinds a deploy manages: the verbs of server-side apply, planning, waiting, rollback and prune. */
const MANAGED_KINDS: [string, string][] = [
  ['', 'configmaps'],
  ['', 'services'],
  ['', 'serviceaccounts'],
  ['apps', 'deployments'],
  ['apps', 'statefulsets'],
  ['apps', 'daemonsets'],
  ['batch', 'jobs'],
  ['batch', 'cronjobs'],
  ['networking.k8s.io', 'ingresses'],
  ['networking.k8s.io', 'networkpolicies'],
  ['policy', 'poddisruptionbudgets'],
  ['autoscaling', 'horizontalpodautoscalers'],
];
const DEPLOY_VERBS = ['create', 'patch', 'get', 'list', 'watch', 'delete'];

const needed = (namespace: string): ResourceRow[] => [
  ...MANAGED_KINDS.flatMap(([group, resource]) => DEPLOY_VERBS.map((verb) => ({ verb, group, resource, namespace }))),
  // watched to fail fast, never written
  ...['get', 'list', 'watch'].flatMap((verb) => [
    { verb, group: '', resource: 'pods', namespace },
    { verb, group: 'apps', resource: 'replicasets', namespace },
  ]),
  // scaleWorkload: GET then merge-PATCH of the scale subresource
  ...['get', 'patch'].flatMap((verb) => [
    { verb, group: 'apps', resource: 'deployments', subresource: 'scale', namespace },
    { verb, group: 'apps', resource: 'statefulsets', subresource: 'scale', namespace },
  ]),
  // read-only: operation alerts (pod log tails, Events), monitors (PVC targets, CPU/memory from PodMetrics)
  { verb: 'get', group: '', resource: 'pods', subresource: 'log', namespace },
  ...['get', 'list', 'watch'].flatMap((verb) => [
    { verb, group: '', resource: 'events', namespace },
    { verb, group: '', resource: 'persistentvolumeclaims', namespace },
  ]),
  { verb: 'list', group: 'metrics.k8s.io', resource: 'pods', namespace },
];

const neverInNamespace = (namespace: string): ResourceRow[] => [
  // list/watch on Secrets reveals them: no verb at all
  ...['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'].map((verb) => ({
    verb,
    group: '',
    resource: 'secrets',
    namespace,
  })),
  // the worker never PUTs or deletes collections
  ...MANAGED_KINDS.map(([group, resource]) => ({ verb: 'update', group, resource, namespace })),
  { verb: 'deletecollection', group: '', resource: 'configmaps', namespace },
  { verb: 'deletecollection', group: 'apps', resource: 'deployments', namespace },
  { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', namespace },
  // controllers own Pods and ReplicaSets; exec / port-forward / tokens are escalation paths
  { verb: 'create', group: '', resource: 'pods', namespace },
  { verb: 'delete', group: '', resource: 'pods', namespace },
  { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace },
  { verb: 'create', group: '', resource: 'pods', subresource: 'portforward', namespace },
  { verb: 'patch', group: '', resource: 'pods', subresource: 'ephemeralcontainers', namespace },
  { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace },
  { verb: 'create', group: 'apps', resource: 'replicasets', namespace },
  { verb: 'patch', group: 'apps', resource: 'replicasets', namespace },
  { verb: 'delete', group: 'apps', resource: 'replicasets', namespace },
  // no RBAC writes, no escalate / bind / impersonate
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
  { verb: 'patch', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace },
  { verb: 'patch', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace },
  { verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace },
  // kinds not in the Role
  { verb: 'create', group: '', resource: 'persistentvolumeclaims', namespace },
  { verb: 'create', group: '', resource: 'resourcequotas', namespace },
];

const clusterWideDenied: ResourceRow[] = [
  { verb: 'create', group: '', resource: 'namespaces' },
  { verb: 'delete', group: '', resource: 'namespaces' },
  { verb: 'patch', group: '', resource: 'namespaces' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'impersonate', group: '', resource: 'users' },
  { verb: 'impersonate', group: '', resource: 'groups' },
  { verb: 'impersonate', group: '', resource: 'serviceaccounts' },
  { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  { verb: 'create', group: 'certificates.k8s.io', resource: 'certificatesigningrequests' },
  { verb: 'create', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations' },
  // every namespace at once: the worker only lists and watches per namespace
  { verb: 'list', group: '', resource: 'secrets' },
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'watch', group: 'apps', resource: 'deployments' },
];

/** Discovery paths the gateway GETs to map kinds to resources (src/kube/gateway.ts `resolve`). */
const DISCOVERY_PATHS = ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/apis/networking.k8s.io/v1', '/apis/batch/v1'];

const ALLOWED = needed(MANAGED_NS);
const DENIED = [...neverInNamespace(MANAGED_NS), ...needed(FORBIDDEN_NS), ...neverInNamespace(FORBIDDEN_NS)];

let admin: KubeGateway;
let authz: AuthorizationV1Api;
let core: CoreV1Api;
let rendered: KubeObject[];
const tmp = mkdtempSync(join(tmpdir(), 'kwf-rbac-'));

async function review(spec: Omit<V1SubjectAccessReviewSpec, 'user' | 'groups'>): Promise<boolean> {
  const res = await authz.createSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { ...spec, user: USER, groups: GROUPS },
    },
  });
  return res.status?.allowed === true && res.status.denied !== true;
}
const canI = (r: ResourceRow): Promise<boolean> =>
  review({
    resourceAttributes: {
      verb: r.verb,
      group: r.group,
      resource: r.resource,
      ...(r.subresource ? { subresource: r.subresource } : {}),
      ...(r.namespace ? { namespace: r.namespace } : {}),
    },
  });

/** Moves an object of deploy/kubernetes to this run's namespaces. */
function retarget(obj: KubeObject): KubeObject {
  const ns = (n: string | undefined): string | undefined =>
    n === 'kube-workflows' ? WORKER_NS : n === 'shop' ? MANAGED_NS : n;
  const out = structuredClone(obj) as KubeObject & { subjects?: { namespace?: string }[] };
  if (out.kind === 'Namespace') out.metadata.name = ns(out.metadata.name) as string;
  if (out.metadata.namespace) out.metadata.namespace = ns(out.metadata.namespace);
  for (const s of out.subjects ?? []) if (s.namespace) s.namespace = ns(s.namespace) as string;
  return out;
}

function loadYaml(text: string, what: string): KubeObject[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`${what}: ${d.errors[0]?.message}`);
    return d.toJS() as KubeObject;
  });
}

async function expectForbidden(call: Promise<unknown>): Promise<void> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKubeApiError(err) ? err.status : err, String(err)).toBe(403);
}

beforeAll(async () => {
  const { kubeconfig } = inject('stack');
  admin = await createKubeGateway('local', { kubeconfig });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  authz = kc.makeApiClient(AuthorizationV1Api);
  core = kc.makeApiClient(CoreV1Api);

  // kubectl's built-in kustomize renders exactly what `kubectl apply -k deploy/kubernetes` would send.
  const { stdout } = await execFileP(resolveToolchain().kubectl, ['kustomize', deployDir]);
  rendered = loadYaml(stdout, 'kubectl kustomize').map(retarget);
  const role = loadYaml(readFileSync(join(deployDir, 'namespace-role.yaml'), 'utf8'), 'namespace-role.yaml').map(
    retarget,
  );

  const namespace = rendered.find((o) => o.kind === 'Namespace');
  expect(namespace?.metadata.name).toBe(WORKER_NS);
  await admin.apply(namespace as KubeObject);
  for (const name of [MANAGED_NS, FORBIDDEN_NS]) {
    await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  for (const obj of [...rendered.filter((o) => o.kind === 'ServiceAccount'), ...role]) await admin.apply(obj);

  // The RBAC authorizer reads bindings from a watch cache: wait until the new binding is seen.
  await pollUntil(
    () => canI({ verb: 'get', group: '', resource: 'configmaps', namespace: MANAGED_NS }),
    (allowed) => allowed,
    30_000,
  );
});

afterAll(async () => {
  if (admin) {
    for (const name of [WORKER_NS, MANAGED_NS, FORBIDDEN_NS]) {
      await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => undefined);
    }
    admin.close();
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('deploy/kubernetes RBAC (SubjectAccessReview for the worker ServiceAccount)', () => {
  it('the rendered kustomization passes server-side validation (dry run)', async () => {
    const kinds = rendered.map((o) => o.kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'Namespace', 'ServiceAccount']);
    for (const obj of rendered.filter((o) => o.kind === 'ConfigMap' || o.kind === 'Deployment')) {
      await admin.apply(obj, { dryRun: true });
    }
  });

  it.each(ALLOWED.map((r) => [label(r), r] as const))('allows %s', async (_name, row) => {
    expect(await canI(row)).toBe(true);
  });

  it.each(DENIED.map((r) => [label(r), r] as const))('denies %s', async (_name, row) => {
    expect(await canI(row)).toBe(false);
  });

  it.each(clusterWideDenied.map((r) => [label(r), r] as const))('denies %s', async (_name, row) => {
    expect(await canI(row)).toBe(false);
  });

  it.each(DISCOVERY_PATHS)('allows discovery GET %s without any ClusterRole of ours', async (path) => {
    expect(await review({ nonResourceAttributes: { verb: 'get', path } })).toBe(true);
  });
});

describe('the worker gateway with a real token of the ServiceAccount', () => {
  let worker: KubeGateway;

  beforeAll(async () => {
    const tr = await core.createNamespacedServiceAccountToken({
      name: SA_NAME,
      namespace: WORKER_NS,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [], expirationSeconds: 600 },
      },
    });
    const token = tr.status?.token;
    expect(token).toBeTruthy();
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(inject('stack').kubeconfig);
    const cluster = adminKc.getCurrentCluster();
    if (!cluster) throw new Error('the stack kubeconfig has no current cluster');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'worker', token }],
      contexts: [{ name: 'worker', cluster: cluster.name, user: 'worker' }],
      currentContext: 'worker',
    });
    const path = join(tmp, 'worker-kubeconfig.yaml');
    writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
    worker = await createKubeGateway('worker', { kubeconfig: path });
  });

  afterAll(() => worker?.close());

  const configMap = (namespace: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `kube-workflows-inventory.rbac-${id}`, namespace },
    data: { objects: '[]' },
  });
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web-${id}`, namespace: MANAGED_NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: `web-${id}` } },
      template: {
        metadata: { labels: { app: `web-${id}` } },
        spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.0.0' }] },
      },
    },
  };

  it('plans, applies (create, then patch), lists, watches, scales and deletes in the managed namespace', async () => {
    const cm = configMap(MANAGED_NS);
    const key = { apiVersion: 'v1', kind: 'ConfigMap', namespace: MANAGED_NS, name: cm.metadata.name };
    expect(await worker.get(key)).toBeUndefined();
    await worker.apply(cm, { dryRun: true }); // planning: server-side dry run of a new object
    await worker.apply(cm); // server-side apply creates it
    await worker.apply({ ...cm, data: { objects: '["x"]' } }, { force: true }); // and patches it
    expect((await worker.get(key))?.metadata.name).toBe(cm.metadata.name);
    const listed = await worker.list('v1', 'ConfigMap', { namespace: MANAGED_NS });
    expect(listed.items.map((i) => i.metadata.name)).toContain(cm.metadata.name);
    const events: string[] = [];
    await worker.watch(
      'v1',
      'ConfigMap',
      { namespace: MANAGED_NS, resourceVersion: listed.resourceVersion, timeoutSeconds: 1 },
      (e) => events.push(e.type),
      new AbortController().signal,
    );

    await worker.apply(deployment);
    const dKey = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: MANAGED_NS, name: deployment.metadata.name };
    expect(await worker.scale(dKey, 2)).toEqual({ previous: 1 });
    await worker.list('v1', 'Pod', { namespace: MANAGED_NS });
    await worker.list('apps/v1', 'ReplicaSet', { namespace: MANAGED_NS });
    expect(await worker.delete(dKey)).toBe(true);
    expect(await worker.delete(key)).toBe(true);
  });

  it('is refused (403) in another namespace, on Secrets, and for cluster-scoped writes', async () => {
    await expectForbidden(worker.apply(configMap(FORBIDDEN_NS)));
    await expectForbidden(worker.list('v1', 'Pod', { namespace: FORBIDDEN_NS }));
    await expectForbidden(worker.get({ apiVersion: 'v1', kind: 'Secret', namespace: MANAGED_NS, name: 'any' }));
    await expectForbidden(worker.list('v1', 'Secret', { namespace: MANAGED_NS }));
    await expectForbidden(
      worker.apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `s-${id}`, namespace: MANAGED_NS },
        stringData: { a: 'b' },
      }),
    );
    await expectForbidden(worker.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `kwf-new-${id}` } }));
  });
});

describe('the worker pod and Pod Security', () => {
  /** The Deployment's pod template as a Pod, for a dry-run create in the worker namespace. */
  function workerPod(): KubeObject & { spec: Record<string, unknown> } {
    const d = rendered.find((o) => o.kind === 'Deployment') as KubeObject & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `worker-${id}`, namespace: WORKER_NS },
      spec: structuredClone(d.spec.template.spec),
    };
  }

  it('the worker namespace enforces the restricted standard, and the worker pod meets it', async () => {
    await admin.apply(workerPod(), { dryRun: true });
  });

  it('control: a pod that breaks the standard is refused there', async () => {
    const pod = workerPod();
    const containers = pod.spec.containers as { securityContext: Record<string, unknown> }[];
    (containers[0] as { securityContext: Record<string, unknown> }).securityContext = { privileged: true };
    await expectForbidden(admin.apply(pod, { dryRun: true }));
  });
});
