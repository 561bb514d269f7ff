/** What a watch cache keeps of an object (src/kube/compact.ts): what health reads, not the bulk. */
import { describe, expect, it } from 'vitest';
import { compactForCache } from '../../src/kube/compact.js';
import type { LiveObject } from '../../src/kube/gateway.js';
import { assessHealth } from '../../src/domain/health.js';

const container = {
  name: 'app',
  image: 'registry.example/app:2',
  resources: { requests: { cpu: '200m' }, limits: { memory: '256Mi' } },
  env: [{ name: 'TOKEN', value: 'x'.repeat(500) }],
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
  readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
  terminationMessagePath: '/dev/termination-log',
};
const podSpec = {
  containers: [container],
  initContainers: [{ ...container, name: 'migrate', restartPolicy: 'Always' }],
  nodeName: 'node-1',
  restartPolicy: 'Always',
  volumes: [{ name: 'data', emptyDir: {} }],
  tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
  affinity: { nodeAffinity: {} },
  serviceAccountName: 'default',
};
const kept = {
  containers: [{ name: 'app', image: 'registry.example/app:2', resources: container.resources }],
  initContainers: [
    { name: 'migrate', image: 'registry.example/app:2', resources: container.resources, restartPolicy: 'Always' },
  ],
  nodeName: 'node-1',
  restartPolicy: 'Always',
};
const meta = (name: string) => ({
  name,
  namespace: 'shop',
  uid: 'u-1',
  resourceVersion: '7',
  generation: 3,
  labels: { app: name },
  annotations: {
    'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}',
    'deployment.kubernetes.io/revision': '2',
  },
  ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-abc`, uid: 'u-0', controller: true }],
  managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
});

describe('compactForCache', () => {
  it('a Pod keeps its status, labels, owners and the containers health and thresholds read; drops the bulk', () => {
    const status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [] };
    const pod = compactForCache({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: meta('web-1'),
      spec: podSpec,
      status,
    });
    expect(pod.spec).toEqual(kept);
    expect(pod.status).toEqual(status);
    expect(pod.metadata).toEqual({
      ...meta('web-1'),
      managedFields: undefined,
      annotations: { 'deployment.kubernetes.io/revision': '2' },
    });
    expect('managedFields' in pod.metadata).toBe(false);
  });

  it('a Deployment keeps replicas, selector, strategy and template labels; its pod template is compacted', () => {
    const spec = {
      replicas: 3,
      paused: false,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } },
      template: { metadata: { labels: { app: 'web' } }, spec: podSpec },
    };
    const status = {
      observedGeneration: 3,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        { type: 'Available', status: 'True' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    };
    const whole = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('web'), spec, status };
    const before = assessHealth(structuredClone(whole));
    const d = compactForCache(structuredClone(whole));
    expect(d.spec).toEqual({ ...spec, template: { metadata: { labels: { app: 'web' } }, spec: kept } });
    // health judges the compact copy exactly as the whole object
    expect(assessHealth(d)).toEqual(before);
  });

  it("a CronJob's job template is compacted; kinds without a pod template are left as they are", () => {
    const cron = compactForCache({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: meta('nightly'),
      spec: {
        schedule: '0 1 * * *',
        suspend: false,
        jobTemplate: { spec: { backoffLimit: 2, template: { spec: podSpec } } },
      },
    });
    expect(cron.spec).toEqual({
      schedule: '0 1 * * *',
      suspend: false,
      jobTemplate: { spec: { backoffLimit: 2, template: { spec: kept } } },
    });
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: { type: 'ClusterIP', clusterIP: '10.0.0.1' },
    };
    expect(compactForCache(structuredClone(svc) as LiveObject)).toEqual(svc);
  });
});
