import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  DEFAULT_AUTOSCALER_GRACE_SECONDS,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_UNSCHEDULABLE_AFTER_SECONDS,
  HealthStatus,
  MAX_PODS_DESCRIBED,
  MAX_RECHECK_INTERVAL_MS,
  MIN_RECHECK_DELAY_MS,
  assessHealth,
  currentPodsOf,
  describeBlockers,
  formatPending,
  healthRecheckAt,
  recheckDelayMs,
  summarizeHealth,
} from '../../src/domain/health.js';
import type { HealthAssessment, KubeLike, SubjectHealth } from '../../src/domain/health.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/health/', import.meta.url));
/** The clock every fixture was written against. */
const NOW = new Date('2025-09-15T10:15:00Z');

interface Fixture {
  /** The first document: the object under test. */
  obj: KubeLike;
  pods: KubeLike[];
  replicaSets: KubeLike[];
}

function load(name: string): Fixture {
  const docs = parseAllDocuments(readFileSync(`${FIXTURES}${name}`, 'utf8')).map((d) => d.toJS() as KubeLike);
  const [obj, ...rest] = docs;
  if (obj === undefined) throw new Error(`fixture ${name} is empty`);
  return {
    obj,
    pods: rest.filter((d) => d.kind === 'Pod'),
    replicaSets: rest.filter((d) => d.kind === 'ReplicaSet'),
  };
}

function assess(name: string, options: Parameters<typeof assessHealth>[2] = {}): HealthAssessment {
  const { obj, pods, replicaSets } = load(name);
  return assessHealth(obj, { pods, replicaSets }, { now: NOW, ...options });
}

function podNames(pods: readonly KubeLike[]): string[] {
  return pods.map((p) => p.metadata?.name ?? '').sort();
}

describe('assessHealth: Deployment', () => {
  it('a fully rolled-out Deployment is Current', () => {
    expect(assess('deployment-available.yaml')).toEqual({
      status: 'Current',
      reason: 'Available',
      message: '3 of 3 available',
    });
  });

  it('a Deployment mid-rollout is InProgress, counting updated replicas', () => {
    const { obj } = load('deployment-rolling.yaml');
    expect(assessHealth(obj, {}, { now: NOW })).toEqual({
      status: 'InProgress',
      reason: 'ReplicasUpdating',
      message: '2 of 3 updated',
    });
  });

  it('a Deployment whose new pods are still starting stays InProgress when its pods are given', () => {
    expect(assess('deployment-rolling.yaml')).toMatchObject({ status: 'InProgress', reason: 'ReplicasUpdating' });
  });

  it('a Deployment whose old pods are still running is InProgress until they are gone', () => {
    expect(assess('deployment-old-replicas.yaml')).toEqual({
      status: 'InProgress',
      reason: 'ReplicasTerminating',
      message: '1 old replica pending termination',
    });
  });

  it('a Deployment whose latest generation is not observed yet is InProgress even though its old status looks done', () => {
    const result = assess('deployment-stale-generation.yaml');
    expect(result.status).toBe('InProgress');
    expect(result.reason).toBe('LatestGenerationNotObserved');
    expect(result.message).toContain('generation 5 (observed 4)');
  });

  it('a Deployment past its progress deadline is Failed with the controller message', () => {
    const { obj } = load('deployment-progress-deadline.yaml');
    expect(assessHealth(obj, {}, { now: NOW })).toEqual({
      status: 'Failed',
      reason: 'ProgressDeadlineExceeded',
      message: 'ReplicaSet "cart-6c8b9d7f4c" has timed out progressing.',
    });
  });

  it('a Deployment past its progress deadline also names the pod that kept it from progressing', () => {
    const result = assess('deployment-progress-deadline.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('ProgressDeadlineExceeded');
    expect(result.message).toContain('has timed out progressing.');
    expect(result.message).toContain(
      'pod shop/cart-6c8b9d7f4c-tq6xz container app: [CreateContainerConfigError] secret "cart-db" not found',
    );
  });

  it('a paused Deployment is reported as Paused with its progress, not waited on as an ordinary rollout', () => {
    const result = assess('deployment-paused.yaml');
    expect(result.status).toBe('InProgress');
    expect(result.reason).toBe('Paused');
    expect(result.message).toContain('paused');
    expect(result.message).toContain('1 of 3 updated');
  });

  it('a Deployment whose new pods crash-loop fails fast naming the pod and container', () => {
    const result = assess('deployment-crashloop.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('CrashLoopBackOff');
    expect(result.message).toMatch(
      /^pod shop\/cart-7d9f8c6b5d-x2k4q container app: \[CrashLoopBackOff\] back-off 2m40s restarting failed container=app /,
    );
    expect(result.message).toContain('last terminated: Error (exit code 1)');
  });

  it('a crash-looping Deployment stays InProgress when no pods are given, as in kstatus', () => {
    const { obj } = load('deployment-crashloop.yaml');
    expect(assessHealth(obj, {}, { now: NOW })).toMatchObject({ status: 'InProgress', reason: 'ReplicasUpdating' });
  });

  it('a crash-looping pod outside the newest ReplicaSet does not fail the Deployment', () => {
    const { obj, pods, replicaSets } = load('deployment-crashloop.yaml');
    // Point the Deployment at revision 1: the crash-looping pod now belongs to a ReplicaSet that is not current.
    const atRevision1 = structuredClone(obj) as KubeLike & { metadata: { annotations: Record<string, string> } };
    atRevision1.metadata.annotations['deployment.kubernetes.io/revision'] = '1';
    expect(assessHealth(atRevision1, { pods, replicaSets }, { now: NOW }).status).toBe('InProgress');
  });

  it('a Deployment whose new pods cannot pull their image fails with the pull error and counts the other failing pods', () => {
    const result = assess('deployment-imagepullbackoff.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('ImagePullBackOff');
    expect(result.message).toContain(
      'pod shop/checkout-9c7b5d8f6-dj5wl container app: [ImagePullBackOff] Back-off pulling image "registry.example.com/shop/checkout:2.0.1"',
    );
    expect(result.message).toMatch(/\(and 1 more failing pod\)$/);
  });

  it('a pod unschedulable for longer than the threshold fails its Deployment with the scheduler message', () => {
    const result = assess('deployment-unschedulable.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('Unschedulable');
    expect(result.message).toContain(
      'pod shop/search-6d4f8b7c9-v9gcm: [Unschedulable] 0/3 nodes are available: 3 Insufficient cpu.',
    );
    expect(result.message).toContain('(unschedulable for 180s)');
  });

  it('a pod unschedulable for less than the threshold leaves its Deployment InProgress', () => {
    const result = assess('deployment-unschedulable.yaml', { now: new Date('2025-09-15T10:12:45Z') });
    expect(result.status).toBe('InProgress');
    expect(DEFAULT_UNSCHEDULABLE_AFTER_SECONDS).toBe(60);
  });

  it('unschedulableAfterSeconds moves the threshold', () => {
    expect(assess('deployment-unschedulable.yaml', { unschedulableAfterSeconds: 300 }).status).toBe('InProgress');
  });

  it('a container restarting more than maxRestarts times fails its Deployment with the last termination', () => {
    const result = assess('deployment-oomkilled.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('TooManyRestarts');
    expect(result.message).toBe(
      `pod shop/recommender-5b9d7c6f8-k8f2d container app restarted 7 times (more than ${DEFAULT_MAX_RESTARTS}); last terminated: OOMKilled (exit code 137)`,
    );
  });

  it('maxRestarts raises the restart threshold', () => {
    expect(assess('deployment-oomkilled.yaml', { maxRestarts: 10 })).toMatchObject({
      status: 'InProgress',
      reason: 'ReplicasUpdating',
    });
  });

  it('a Deployment being deleted is Terminating, before any generation check, naming its finalizers', () => {
    const result = assess('deployment-deleting.yaml');
    expect(result.status).toBe('Terminating');
    expect(result.message).toBe(
      'deletion requested at 2025-09-15T10:14:30Z; waiting for finalizers: foregroundDeletion',
    );
  });
});

describe('currentPodsOf', () => {
  it("a Deployment's current pods are those of its newest ReplicaSet", () => {
    const { obj, pods, replicaSets } = load('deployment-crashloop.yaml');
    expect(podNames(currentPodsOf(obj, { pods, replicaSets }))).toEqual(['cart-7d9f8c6b5d-x2k4q']);
  });

  it('without a matching revision annotation the ReplicaSet with the highest revision is the newest', () => {
    const { obj, pods, replicaSets } = load('deployment-crashloop.yaml');
    const unannotated = structuredClone(obj) as KubeLike & { metadata: { annotations?: Record<string, string> } };
    delete unannotated.metadata.annotations;
    expect(podNames(currentPodsOf(unannotated, { pods, replicaSets }))).toEqual(['cart-7d9f8c6b5d-x2k4q']);
  });

  it('a Deployment has no current pods when its ReplicaSets are not given', () => {
    const { obj, pods } = load('deployment-crashloop.yaml');
    expect(currentPodsOf(obj, { pods })).toEqual([]);
  });

  it("a StatefulSet's current pods are those at its update revision", () => {
    const { obj, pods } = load('statefulset-rolling.yaml');
    expect(podNames(currentPodsOf(obj, { pods }))).toEqual(['db-2']);
  });

  it("a DaemonSet's current pods are those of its current template generation", () => {
    const { obj, pods } = load('daemonset-updating.yaml');
    expect(podNames(currentPodsOf(obj, { pods }))).toEqual(['node-exporter-w2bnv']);
  });

  it("a Job's current pods are the pods it owns", () => {
    const { obj, pods } = load('job-running.yaml');
    const strangers = load('deployment-crashloop.yaml').pods;
    expect(podNames(currentPodsOf(obj, { pods: [...strangers, ...pods] }))).toEqual(['backfill-5qz8d']);
  });
});

describe('assessHealth: ReplicaSet, StatefulSet, DaemonSet', () => {
  it('a ReplicaSet that cannot create its pods is InProgress with the ReplicaFailure message', () => {
    const result = assess('replicaset-quota-exceeded.yaml');
    expect(result.status).toBe('InProgress');
    expect(result.reason).toBe('ReplicaFailure');
    expect(result.message).toContain('exceeded quota: compute');
  });

  it('a StatefulSet with all replicas ready at the update revision is Current', () => {
    expect(assess('statefulset-ready.yaml')).toEqual({ status: 'Current', reason: 'Ready', message: '3 of 3 ready' });
  });

  it('a StatefulSet mid-rollout is InProgress, counting updated replicas and naming the target revision', () => {
    expect(assess('statefulset-rolling.yaml')).toEqual({
      status: 'InProgress',
      reason: 'ReplicasUpdating',
      message: '1 of 3 updated to revision db-6b7f9c8d4',
    });
  });

  it('restarts of a pod still at the old revision do not fail a StatefulSet rollout', () => {
    expect(assess('statefulset-rolling.yaml', { maxRestarts: 3 }).status).toBe('InProgress');
  });

  it('a StatefulSet with the OnDelete update strategy is Current', () => {
    const { obj } = load('statefulset-rolling.yaml');
    const onDelete = structuredClone(obj) as KubeLike & { spec: { updateStrategy: unknown } };
    onDelete.spec.updateStrategy = { type: 'OnDelete' };
    expect(assessHealth(onDelete).reason).toBe('OnDelete');
    expect(assessHealth(onDelete).status).toBe('Current');
  });

  it('a StatefulSet with a partition is Current once the replicas above the partition are updated', () => {
    const { obj } = load('statefulset-rolling.yaml');
    const partitioned = structuredClone(obj) as KubeLike & { spec: { updateStrategy: unknown } };
    partitioned.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
    expect(assessHealth(partitioned)).toMatchObject({ status: 'Current', reason: 'PartitionRolledOut' });
  });

  it('a DaemonSet available on every desired node is Current', () => {
    expect(assess('daemonset-ready.yaml')).toEqual({
      status: 'Current',
      reason: 'Available',
      message: '3 of 3 available',
    });
  });

  it('a DaemonSet mid-update is InProgress, counting updated nodes', () => {
    expect(assess('daemonset-updating.yaml')).toEqual({
      status: 'InProgress',
      reason: 'ReplicasUpdating',
      message: '1 of 3 updated',
    });
  });
});

describe('assessHealth: Job', () => {
  it('a complete Job is Current', () => {
    expect(assess('job-complete.yaml')).toEqual({
      status: 'Current',
      reason: 'Complete',
      message: 'Job completed: 1 of 1 succeeded',
    });
  });

  it('a failed Job is Failed with the controller reason', () => {
    expect(assess('job-failed.yaml')).toEqual({
      status: 'Failed',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit (3 failed pods)',
    });
  });

  it('a running Job is Current by default, as in kstatus', () => {
    expect(assess('job-running.yaml')).toMatchObject({ status: 'Current', reason: 'JobRunning' });
  });

  it('a running Job is InProgress when the caller waits for Jobs to complete', () => {
    const result = assess('job-running.yaml', { waitForJobs: true });
    expect(result.status).toBe('InProgress');
    expect(result.message).toBe('Job running: 0 of 1 succeeded, 1 active, 0 failed');
  });
});

describe('assessHealth: Pod', () => {
  it('a running and ready Pod is Current', () => {
    expect(assess('pod-ready.yaml')).toMatchObject({ status: 'Current', reason: 'Ready' });
  });

  it('a running Pod that is not ready yet is InProgress with the unready containers', () => {
    expect(assess('pod-not-ready.yaml')).toEqual({
      status: 'InProgress',
      reason: 'PodNotReady',
      message: 'pod is running but not ready: containers with unready status: [app]',
    });
  });

  it('a crash-looping Pod is Failed naming its container and last exit code', () => {
    const result = assess('pod-crashloop.yaml');
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('CrashLoopBackOff');
    expect(result.message).toMatch(/^pod shop\/toolbox container app: \[CrashLoopBackOff\] back-off 40s /);
    expect(result.message).toContain('last terminated: Error (exit code 2)');
  });
});

describe('assessHealth: PersistentVolumeClaim, Service, CustomResourceDefinition, Namespace, ConfigMap', () => {
  it('a bound PVC is Current', () => {
    expect(assess('pvc-bound.yaml')).toMatchObject({ status: 'Current', reason: 'Bound' });
  });

  it('a pending PVC is InProgress', () => {
    expect(assess('pvc-pending.yaml')).toEqual({
      status: 'InProgress',
      reason: 'NotBound',
      message: 'PVC is not Bound (phase Pending)',
    });
  });

  it('a LoadBalancer Service without a cluster IP is InProgress', () => {
    expect(assess('service-lb-no-cluster-ip.yaml')).toMatchObject({ status: 'InProgress', reason: 'NoClusterIP' });
  });

  it('a LoadBalancer Service whose load balancer has no address yet is InProgress (kstatus would say Current)', () => {
    expect(assess('service-lb-pending-ingress.yaml')).toEqual({
      status: 'InProgress',
      reason: 'NoLoadBalancerIngress',
      message: 'waiting for the load balancer to get an address (status.loadBalancer.ingress is empty)',
    });
  });

  it('a LoadBalancer Service is Current once its load balancer has an address, and names it', () => {
    expect(assess('service-lb-ingress.yaml')).toEqual({
      status: 'Current',
      reason: 'LoadBalancerReady',
      message: 'load balancer at 203.0.113.10',
    });
  });

  it('a PVC naming a StorageClass nobody provisions stays InProgress (a wait times out naming it)', () => {
    expect(assess('pvc-pending-no-class.yaml')).toMatchObject({ status: 'InProgress', reason: 'NotBound' });
  });

  it('a PVC whose volume is gone is Failed (Lost)', () => {
    expect(assess('pvc-lost.yaml')).toEqual({
      status: 'Failed',
      reason: 'Lost',
      message: 'the PersistentVolume bound to this claim no longer exists',
    });
  });

  it('an established CRD is Current', () => {
    expect(assess('crd-established.yaml')).toMatchObject({ status: 'Current', reason: 'Established' });
  });

  it('a CRD whose names are not accepted is Failed with the naming conflict', () => {
    expect(assess('crd-names-not-accepted.yaml')).toEqual({
      status: 'Failed',
      reason: 'ShortNamesConflict',
      message: '"wg" is already in use',
    });
  });

  it('an active Namespace is Current', () => {
    expect(assess('namespace-active.yaml')).toMatchObject({ status: 'Current', reason: 'Active' });
  });

  it('a terminating Namespace is Terminating and says what remains', () => {
    const result = assess('namespace-terminating.yaml');
    expect(result.status).toBe('Terminating');
    expect(result.message).toContain('Some resources are remaining: pods. has 1 resource instances');
  });

  it('a ConfigMap is always Current', () => {
    expect(assess('configmap.yaml')).toMatchObject({ status: 'Current', reason: 'AlwaysReady' });
  });
});

describe('assessHealth: HorizontalPodAutoscaler and APIService', () => {
  it('an HPA without metrics is InProgress within its grace, with the controller reason and message', () => {
    const result = assess('hpa-no-metrics.yaml');
    expect(result.status).toBe('InProgress');
    expect(result.reason).toBe('FailedGetResourceMetric');
    expect(result.message).toMatch(/^ScalingActive=False: the HPA was unable to compute the replica count/);
  });

  it('an HPA without metrics is Failed once it has been unable to scale for longer than the grace', () => {
    const later = new Date(Date.parse('2025-09-15T10:14:00Z') + DEFAULT_AUTOSCALER_GRACE_SECONDS * 1000 + 1);
    const result = assess('hpa-no-metrics.yaml', { now: later });
    expect(result.status).toBe('Failed');
    expect(result.reason).toBe('FailedGetResourceMetric');
    expect(result.message).toContain(`(for more than ${DEFAULT_AUTOSCALER_GRACE_SECONDS}s)`);
  });

  it('an HPA whose target does not exist is Failed after the grace (AbleToScale=False, reported first)', () => {
    expect(assess('hpa-target-missing.yaml')).toEqual({
      status: 'Failed',
      reason: 'FailedGetScale',
      message:
        'AbleToScale=False: the HPA controller was unable to get the target\'s current scale: deployments.apps "gone" ' +
        `not found (for more than ${DEFAULT_AUTOSCALER_GRACE_SECONDS}s)`,
    });
  });

  it('autoscalerGraceSeconds moves the verdict', () => {
    expect(assess('hpa-target-missing.yaml', { autoscalerGraceSeconds: 600 }).status).toBe('InProgress');
    expect(assess('hpa-no-metrics.yaml', { autoscalerGraceSeconds: 30 }).status).toBe('Failed');
  });

  it('an HPA whose target was scaled to zero on purpose is Current (ScalingDisabled)', () => {
    expect(assess('hpa-scaling-disabled.yaml')).toEqual({
      status: 'Current',
      reason: 'ScalingDisabled',
      message: 'scaling is disabled since the replica count of the target is zero',
    });
  });

  it('an HPA the controller has not observed yet is InProgress', () => {
    const { obj } = load('hpa-no-metrics.yaml');
    const fresh = { ...obj, status: {} };
    expect(assessHealth(fresh, {}, { now: NOW })).toMatchObject({ status: 'InProgress', reason: 'NotObserved' });
  });

  it('an APIService whose Service is missing is InProgress with the aggregator reason (like Argo CD)', () => {
    expect(assess('apiservice-service-not-found.yaml')).toEqual({
      status: 'InProgress',
      reason: 'ServiceNotFound',
      message: 'service/prometheus-adapter in "shop" is not present',
    });
  });

  it('a local APIService is Current', () => {
    expect(assess('apiservice-local.yaml')).toMatchObject({ status: 'Current', reason: 'Local' });
  });
});

describe('assessHealth: custom resources (generic rules)', () => {
  it('a custom resource with Ready=False is InProgress with the condition reason and message', () => {
    expect(assess('certificate-not-ready.yaml')).toEqual({
      status: 'InProgress',
      reason: 'DoesNotExist',
      message: 'Issuing certificate as Secret does not exist',
    });
  });

  it('a custom resource with Ready=True is Current', () => {
    expect(assess('certificate-ready.yaml')).toMatchObject({ status: 'Current', reason: 'Ready' });
  });

  it('a custom resource with Stalled=True is Failed, whatever its Ready condition says', () => {
    expect(assess('helmrelease-stalled.yaml')).toEqual({
      status: 'Failed',
      reason: 'RetriesExceeded',
      message: 'Failed to upgrade after 1 attempt(s)',
    });
  });

  it('a custom resource with Reconciling=True is InProgress', () => {
    expect(assess('kustomization-reconciling.yaml')).toMatchObject({
      status: 'InProgress',
      reason: 'ProgressingWithRetry',
    });
  });

  it('a custom resource without status is Current', () => {
    expect(assess('widget-no-status.yaml')).toMatchObject({ status: 'Current', reason: 'NoReadyCondition' });
  });

  it('a kind named like a built-in but from another API group follows the generic rules', () => {
    const lookalike: KubeLike = { apiVersion: 'example.com/v1', kind: 'Deployment', metadata: { name: 'x' } };
    expect(assessHealth(lookalike).status).toBe('Current');
  });
});

describe('assessHealth: defensive reading', () => {
  it('mistyped fields are treated as absent instead of throwing', () => {
    const garbage = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x', generation: 'two' },
      status: { replicas: 'three', conditions: 'none' },
    } as unknown as KubeLike;
    expect(assessHealth(garbage, { pods: [null as unknown as KubeLike], replicaSets: [] })).toMatchObject({
      status: 'InProgress',
      reason: 'ReplicasCreating',
    });
  });

  it('timestamps as Date objects (typed client models) are read like strings', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'shop' },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            lastTransitionTime: new Date('2025-09-15T10:00:00Z'),
          },
        ],
      },
    } as KubeLike;
    expect(assessHealth(pod, {}, { now: NOW })).toMatchObject({ status: 'Failed', reason: 'Unschedulable' });
  });
});

function item(subject: string, status: HealthStatus, message = '', reason = 'Because'): SubjectHealth {
  return { subject, assessment: { status, reason, message } };
}

describe('summarizeHealth', () => {
  it('a set with any Failed object is Failed', () => {
    expect(
      summarizeHealth([
        item('A/a', HealthStatus.Unknown),
        item('B/b', HealthStatus.Failed),
        item('C/c', HealthStatus.Current),
      ]),
    ).toBe('Failed');
  });

  it('a set with an Unknown object and no Failed one is Unknown', () => {
    expect(summarizeHealth([item('A/a', HealthStatus.InProgress), item('B/b', HealthStatus.Unknown)])).toBe('Unknown');
  });

  it('a set whose objects are all Current is Current', () => {
    expect(summarizeHealth([item('A/a', HealthStatus.Current), item('B/b', HealthStatus.Current)])).toBe('Current');
  });

  it('a set with Terminating or NotFound objects is InProgress', () => {
    expect(summarizeHealth([item('A/a', HealthStatus.Current), item('B/b', HealthStatus.Terminating)])).toBe(
      'InProgress',
    );
    expect(summarizeHealth([item('A/a', HealthStatus.NotFound)])).toBe('InProgress');
  });
});

describe('formatPending', () => {
  it('lists every object that is not Current with its status and message, in one line', () => {
    const items = [
      item('Deployment/shop/cart', HealthStatus.InProgress, '2 of 3 updated'),
      item('ConfigMap/shop/cart-config', HealthStatus.Current, 'ConfigMap has no rollout to wait for'),
      item('StatefulSet/shop/db', HealthStatus.InProgress, '1 of 3 updated to revision db-6b7f9c8d4'),
      item('Namespace/staging', HealthStatus.Terminating, '', 'Terminating'),
    ];
    expect(formatPending(items, 120)).toBe(
      'timeout after 120s waiting for: Deployment/shop/cart InProgress (2 of 3 updated), ' +
        'StatefulSet/shop/db InProgress (1 of 3 updated to revision db-6b7f9c8d4), Namespace/staging Terminating (Terminating)',
    );
  });

  it('lists what blocks each pending object after its assessment', () => {
    const items: SubjectHealth[] = [
      {
        ...item('Deployment/ns/web', HealthStatus.InProgress, '0 of 1 available'),
        details: [
          "pod ns/web-abc Pending: PodScheduled=False Unschedulable: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector",
        ],
      },
      { ...item('ConfigMap/ns/web', HealthStatus.Current, 'ConfigMap has no rollout to wait for'), details: [] },
      {
        ...item('StatefulSet/ns/db', HealthStatus.InProgress, '0 of 1 ready'),
        details: ['pod ns/db-0 a', 'pod ns/db-1 b'],
      },
    ];
    expect(formatPending(items, 600)).toBe(
      'timeout after 600s waiting for: Deployment/ns/web InProgress (0 of 1 available): ' +
        "pod ns/web-abc Pending: PodScheduled=False Unschedulable: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, " +
        'StatefulSet/ns/db InProgress (0 of 1 ready): pod ns/db-0 a; pod ns/db-1 b',
    );
  });

  it('formats assessments of real fixtures', () => {
    const items: SubjectHealth[] = [
      { subject: 'Deployment/shop/cart', assessment: assess('deployment-rolling.yaml') },
      { subject: 'Deployment/shop/cart', assessment: assess('deployment-available.yaml') },
    ];
    expect(formatPending(items, 300)).toBe(
      'timeout after 300s waiting for: Deployment/shop/cart InProgress (2 of 3 updated)',
    );
  });
});

describe('healthRecheckAt: when time alone can change an assessment', () => {
  /** deployment-unschedulable.yaml: the pod has been Unschedulable since 10:12:00. */
  const SINCE = Date.parse('2025-09-15T10:12:00Z');
  const recheck = (name: string, options: Parameters<typeof healthRecheckAt>[2]): Date | undefined => {
    const { obj, pods, replicaSets } = load(name);
    return healthRecheckAt(obj, { pods, replicaSets }, options);
  };

  it('a Deployment with a pod unschedulable for less than the threshold is due when the threshold is crossed', () => {
    const at = recheck('deployment-unschedulable.yaml', { now: new Date('2025-09-15T10:12:45Z') });
    expect(at?.getTime()).toBe(SINCE + DEFAULT_UNSCHEDULABLE_AFTER_SECONDS * 1000 + 1);
  });

  it('the assessment flips from InProgress to Failed exactly at that instant, with no change to any object', () => {
    const { obj, pods, replicaSets } = load('deployment-unschedulable.yaml');
    const at = healthRecheckAt(obj, { pods, replicaSets }, { now: new Date('2025-09-15T10:12:45Z') });
    if (at === undefined) throw new Error('expected a recheck instant');
    const before = assessHealth(obj, { pods, replicaSets }, { now: new Date(at.getTime() - 1) });
    const after = assessHealth(obj, { pods, replicaSets }, { now: at });
    expect(before.status).toBe('InProgress');
    expect(after).toMatchObject({ status: 'Failed', reason: 'Unschedulable' });
    expect(after.message).toContain('(unschedulable for 60s)');
  });

  it('unschedulableAfterSeconds moves the instant', () => {
    const at = recheck('deployment-unschedulable.yaml', { now: NOW, unschedulableAfterSeconds: 300 });
    expect(at?.getTime()).toBe(SINCE + 300_000 + 1);
  });

  it('once the threshold is crossed nothing more is due: the Deployment is Failed already', () => {
    expect(recheck('deployment-unschedulable.yaml', { now: NOW })).toBeUndefined();
  });

  it('a bare unschedulable Pod is due at its own threshold', () => {
    const [pod] = load('deployment-unschedulable.yaml').pods;
    if (pod === undefined) throw new Error('fixture has no pod');
    const at = healthRecheckAt(pod, {}, { now: new Date('2025-09-15T10:12:10Z'), unschedulableAfterSeconds: 15 });
    expect(at?.getTime()).toBe(SINCE + 15_000 + 1);
  });

  it('a Deployment whose pods are scheduled, or whose pods are not given, has nothing due', () => {
    expect(recheck('deployment-rolling.yaml', { now: NOW })).toBeUndefined();
    const { obj } = load('deployment-unschedulable.yaml');
    expect(healthRecheckAt(obj, {}, { now: new Date('2025-09-15T10:12:45Z') })).toBeUndefined();
  });

  it('an HPA that cannot scale is due when its grace ends, and flips to Failed then', () => {
    const { obj } = load('hpa-no-metrics.yaml');
    const at = healthRecheckAt(obj, {}, { now: NOW });
    expect(at?.getTime()).toBe(Date.parse('2025-09-15T10:14:00Z') + DEFAULT_AUTOSCALER_GRACE_SECONDS * 1000 + 1);
    if (at === undefined) throw new Error('expected a recheck instant');
    expect(assessHealth(obj, {}, { now: new Date(at.getTime() - 1) }).status).toBe('InProgress');
    expect(assessHealth(obj, {}, { now: at }).status).toBe('Failed');
  });

  it('an HPA that is Failed already, or scaling, has nothing due', () => {
    expect(recheck('hpa-target-missing.yaml', { now: NOW })).toBeUndefined();
    expect(recheck('hpa-scaling-disabled.yaml', { now: NOW })).toBeUndefined();
  });

  it('kinds without pods have nothing due', () => {
    expect(recheck('configmap.yaml', { now: NOW })).toBeUndefined();
    expect(recheck('pvc-pending.yaml', { now: NOW })).toBeUndefined();
  });
});

describe('recheckDelayMs', () => {
  const now = new Date('2025-09-15T10:12:45Z');

  it('sleeps until the instant that is due', () => {
    expect(recheckDelayMs(new Date('2025-09-15T10:12:47Z'), now)).toBe(2_000);
  });

  it('never sleeps longer than the fallback interval, with or without anything due', () => {
    expect(recheckDelayMs(new Date('2025-09-15T10:13:00.001Z'), now)).toBe(MAX_RECHECK_INTERVAL_MS);
    expect(recheckDelayMs(undefined, now)).toBe(MAX_RECHECK_INTERVAL_MS);
    expect(MAX_RECHECK_INTERVAL_MS).toBe(5_000);
  });

  it('never spins: an instant already past waits the minimum delay', () => {
    expect(recheckDelayMs(new Date('2025-09-15T10:12:44Z'), now)).toBe(MIN_RECHECK_DELAY_MS);
  });
});

describe('describeBlockers', () => {
  const blockers = (name: string, options: Parameters<typeof describeBlockers>[2] = {}): string[] => {
    const { obj, pods, replicaSets } = load(name);
    return describeBlockers(obj, { pods, replicaSets }, { now: NOW, ...options });
  };

  it('names an unschedulable pod with its PodScheduled condition and the scheduler message', () => {
    expect(blockers('deployment-unschedulable.yaml', { now: new Date('2025-09-15T10:12:45Z') })).toEqual([
      'pod shop/search-6d4f8b7c9-v9gcm Pending: PodScheduled=False Unschedulable: 0/3 nodes are available: ' +
        '3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
    ]);
  });

  it('names a pod past the unschedulable threshold as its assessment does', () => {
    expect(blockers('deployment-unschedulable.yaml')).toEqual([
      expect.stringMatching(/^pod shop\/search-6d4f8b7c9-v9gcm: \[Unschedulable\] .* \(unschedulable for 180s\)$/),
    ]);
  });

  it('names only the current pods that are not ready: a starting pod by its waiting container', () => {
    expect(blockers('deployment-rolling.yaml')).toEqual([
      'pod shop/cart-7d9f8c6b5d-p8mzc Pending: container app waiting: ContainerCreating',
    ]);
  });

  it('names a crash-looping pod by its container error', () => {
    expect(blockers('deployment-crashloop.yaml')[0]).toMatch(
      /^pod shop\/cart-7d9f8c6b5d-x2k4q container app: \[CrashLoopBackOff\]/,
    );
  });

  it('names no pod of a StatefulSet still at the old revision: those are replaced, not awaited', () => {
    expect(blockers('statefulset-rolling.yaml')).toEqual([]);
  });

  it("names a Deployment's newest ReplicaSet that cannot create pods", () => {
    const { obj: rs } = load('replicaset-quota-exceeded.yaml');
    const deployment: KubeLike = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'worker',
        namespace: 'shop',
        uid: 'e1b3f9a2-6c4d-4f7e-9a8b-2d5c7e9f1a3b',
        annotations: { 'deployment.kubernetes.io/revision': '2' },
      } as KubeLike['metadata'],
      spec: { replicas: 3 },
      status: { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
    };
    expect(describeBlockers(deployment, { pods: [], replicaSets: [rs] }, { now: NOW })).toEqual([
      expect.stringMatching(/^ReplicaSet shop\/worker-6f7c8d9b5: ReplicaFailure=True FailedCreate: .*exceeded quota/),
    ]);
  });

  it(`names at most ${MAX_PODS_DESCRIBED} pods and counts the rest`, () => {
    const { obj, pods, replicaSets } = load('deployment-rolling.yaml');
    const starting = pods.find((p) => p.metadata?.name === 'cart-7d9f8c6b5d-p8mzc');
    if (starting === undefined) throw new Error('fixture changed');
    const many = Array.from({ length: MAX_PODS_DESCRIBED + 2 }, (_, i) => ({
      ...starting,
      metadata: { ...starting.metadata, name: `cart-7d9f8c6b5d-n${i}` },
    }));
    const lines = describeBlockers(obj, { pods: many, replicaSets }, { now: NOW });
    expect(lines).toHaveLength(MAX_PODS_DESCRIBED + 1);
    expect(lines.at(-1)).toBe('and 2 more pods not ready');
  });

  it('a bare Pod and kinds without pods have no blockers beyond their own assessment', () => {
    expect(blockers('pod-not-ready.yaml')).toEqual([]);
    expect(blockers('configmap.yaml')).toEqual([]);
  });
});

describe('real snapshots: a release that cannot be scheduled, and one that never becomes ready', () => {
  /** deployment-node-selector-unschedulable.yaml: the scheduler gave up on the pod at 20:56:48. */
  const SINCE = Date.parse('2026-11-28T20:56:48Z');
  const lost = load('deployment-node-selector-unschedulable.yaml');
  const related = { pods: lost.pods, replicaSets: lost.replicaSets };
  const scheduler =
    "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. no new claims to deallocate, " +
    'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';

  it('before the threshold the release is InProgress, due for a recheck exactly when the threshold is crossed', () => {
    const now = new Date(SINCE + 30_000);
    expect(assessHealth(lost.obj, related, { now }).status).toBe('InProgress');
    expect(healthRecheckAt(lost.obj, related, { now })?.getTime()).toBe(SINCE + 60_001);
  });

  it('at the recheck instant the release is Failed, naming the pod and the scheduler message', () => {
    expect(assessHealth(lost.obj, related, { now: new Date(SINCE + 60_001) })).toEqual({
      status: 'Failed',
      reason: 'Unschedulable',
      message: `pod shop/lost-79d94fb55f-48w4n: [Unschedulable] ${scheduler} (unschedulable for 60s)`,
    });
  });

  it('a timeout before the threshold names the pod, its PodScheduled condition and why', () => {
    const now = new Date(SINCE + 30_000);
    const item: SubjectHealth = {
      subject: 'Deployment/shop/lost',
      assessment: assessHealth(lost.obj, related, { now }),
      details: describeBlockers(lost.obj, related, { now }),
    };
    expect(formatPending([item], 20)).toBe(
      'timeout after 20s waiting for: Deployment/shop/lost InProgress (0 of 1 updated available): ' +
        `pod shop/lost-79d94fb55f-48w4n Pending: PodScheduled=False Unschedulable: ${scheduler}`,
    );
  });

  it('a Deployment whose pods run but never become Ready names each pod with its Ready condition', () => {
    const { obj, pods, replicaSets } = load('deployment-unready.yaml');
    const now = new Date('2026-11-28T21:01:08Z');
    expect(healthRecheckAt(obj, { pods, replicaSets }, { now })).toBeUndefined();
    expect(describeBlockers(obj, { pods, replicaSets }, { now })).toEqual([
      'pod shop/stuck-web-57b67fdc6-m4vpw Running: Ready=False ContainersNotReady: containers with unready status: [web]',
      'pod shop/stuck-web-57b67fdc6-pj8cr Running: Ready=False ContainersNotReady: containers with unready status: [web]',
    ]);
  });

  it('a StatefulSet whose first pod never becomes Ready names that pod', () => {
    const { obj, pods } = load('statefulset-unready.yaml');
    const now = new Date('2026-11-28T21:01:08Z');
    expect(assessHealth(obj, { pods }, { now })).toMatchObject({ status: 'InProgress' });
    expect(describeBlockers(obj, { pods }, { now })).toEqual([
      'pod shop/stuck-db-0 Running: Ready=False ContainersNotReady: containers with unready status: [db]',
    ]);
  });
});
