/**
 * Workloads for integration tests on the local stack: a Deployment object built from the few things tests vary (its
 * KWOK chaos label and delay among them), its replica counts as the cluster sees them, and an app (ConfigMap,
 * Deployment, Service) as manifests.
 * @module
 */
import type { KubeGateway } from '../../src/kube/index.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';

/** What {@link deploymentObject} varies. */
export interface DeploymentOptions {
  name: string;
  namespace: string;
  replicas: number;
  image: string;
  /** The container's name (default `app`). */
  container?: string | undefined;
  /** The Deployment's own labels (none by default). */
  labels?: Record<string, string> | undefined;
  /** The pods' `kube-workflows.dev/chaos` label: what KWOK makes of them (`crash`, `slow`, `unready`…). */
  chaos?: string | undefined;
  /** The pods' `kube-workflows.dev/chaos-delay` annotation (`20s`): how long `slow` pods take to be Ready. */
  chaosDelay?: string | undefined;
}

/** Deployment `name` with one container; its pods are labelled `app: <name>`, its selector. */
export function deploymentObject(o: DeploymentOptions): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: o.namespace, ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: {
          labels: { app: o.name, ...(o.chaos ? { 'kube-workflows.dev/chaos': o.chaos } : {}) },
          ...(o.chaosDelay ? { annotations: { 'kube-workflows.dev/chaos-delay': o.chaosDelay } } : {}),
        },
        spec: { containers: [{ name: o.container ?? 'app', image: o.image }] },
      },
    },
  };
}

/** `spec.replicas` of Deployment `name`, and its pods (labelled `app: <name>`) that are Ready and not being deleted. */
export async function replicaCounts(
  kube: KubeGateway,
  namespace: string,
  name: string,
): Promise<{ spec: number; ready: number }> {
  const d = await kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name });
  const pods = await kube.list('v1', 'Pod', { namespace, labelSelector: `app=${name}` });
  const ready = pods.items.filter(
    (p) =>
      !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp &&
      (p.status as { conditions?: { type: string; status: string }[] }).conditions?.some(
        (c) => c.type === 'Ready' && c.status === 'True',
      ),
  ).length;
  return { spec: (d as unknown as { spec: { replicas: number } }).spec.replicas, ready };
}

/** What {@link appManifests} varies. */
export interface AppOptions {
  /** The ConfigMap's data, as a YAML flow mapping (`{ GREETING: hello }`). */
  config: string;
  /** The container's name. */
  container: string;
  image: string;
  /** Default 2. */
  replicas?: number | undefined;
  /** The pods' `kube-workflows.dev/chaos` label. */
  chaos?: string | undefined;
  /** The pods' `kube-workflows.dev/chaos-delay` annotation. */
  chaosDelay?: string | undefined;
  /** The pods' service account (default: the namespace's default). */
  serviceAccount?: string | undefined;
}

/**
 * App `name` in namespace `ns` as manifests, each document after a `---`: ConfigMap `<name>-config`, Deployment
 * `<name>` whose one container reads it, and Service `<name>`, all selecting `app.kubernetes.io/name: <name>`.
 */
export function appManifests(ns: string, name: string, o: AppOptions): string {
  const podLabels = o.chaos ? `        kube-workflows.dev/chaos: ${o.chaos}\n` : '';
  const podAnnotations = o.chaosDelay
    ? `      annotations: { kube-workflows.dev/chaos-delay: "${o.chaosDelay}" }\n`
    : '';
  const serviceAccount = o.serviceAccount ? `      serviceAccountName: ${o.serviceAccount}\n` : '';
  return `---
apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}-config, namespace: ${ns} }
data: ${o.config}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns}, labels: { app.kubernetes.io/name: ${name} } }
spec:
  replicas: ${o.replicas ?? 2}
  selector: { matchLabels: { app.kubernetes.io/name: ${name} } }
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
${podLabels}${podAnnotations}    spec:
${serviceAccount}      containers:
        - name: ${o.container}
          image: ${o.image}
          envFrom: [{ configMapRef: { name: ${name}-config } }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { app.kubernetes.io/name: ${name} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
}
