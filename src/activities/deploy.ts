/**
 * Deploy activities: plan (policy + server-side dry-run + change detection), apply (server-side apply of what
 * drifted), wait for health (list+watch, fail fast) and delete (rollback of created objects). Each one is a
 * retryable, idempotent unit of I/O.
 * @module
 */
import { heartbeat, cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeObject } from '../schemas/kube-object.js';
import { changedPaths } from '../domain/changes.js';
import { FailureType } from '../domain/failures.js';
import { assessHealth, currentPodsOf, formatPending, HealthStatus, type HealthAssessment } from '../domain/health.js';
import { stripServerFields } from '../domain/manifests.js';
import { checkPolicy, formatViolations, type Policy } from '../domain/policy.js';
import { formatSubject } from '../domain/subject.js';
import { isKubeApiError, keyOf, type KubeGateway, type LiveObject } from '../kube/index.js';
import { cacheKey, watchKinds, type WatchTarget } from '../kube/watch.js';
import { classified, toApplicationFailure } from './failures.js';
import { DEFAULT_APPLY_CONCURRENCY, mapSettledLimit } from './pool.js';
import type {
  AppliedObject,
  ApplyObjectsInput,
  DeleteObjectsInput,
  DeployPlan,
  HealthResult,
  ObjectHealth,
  ObjectRefWithSubject,
  PlanDeployInput,
  PlanEntry,
  WaitForHealthInput,
} from './types.js';

/** What the deploy activities need from the worker. */
export interface DeployActivityDeps {
  /** The gateway of a configured cluster; throws for an unknown name. */
  gateway(cluster: string): KubeGateway;
  /** The worker's write policy. */
  policy: Policy;
  /** Concurrent API calls within a stage (default {@link DEFAULT_APPLY_CONCURRENCY}). */
  applyConcurrency?: number;
  /** Milliseconds between heartbeats while waiting (default 2000). */
  heartbeatIntervalMs?: number;
}

/** Workload kinds whose pods are read to fail fast. */
const POD_OWNING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/** Builds the deploy activities over the given dependencies. */
export function createDeployActivities(deps: DeployActivityDeps) {
  const concurrency = deps.applyConcurrency ?? DEFAULT_APPLY_CONCURRENCY;

  /** Fails with PolicyViolation (nothing written) unless every object may be written. Returns scopes. */
  async function guard(gw: KubeGateway, objects: readonly KubeObject[], pendingKinds: Set<string>): Promise<boolean[]> {
    const scopes = await Promise.all(
      objects.map(async (o) => {
        try {
          return (await gw.resolve(o.apiVersion, o.kind)).namespaced;
        } catch (err) {
          // A custom resource whose CRD is part of this deploy: not served yet. Its scope follows the manifest.
          if (isKubeApiError(err) && err.status === 404 && pendingKinds.has(`${o.apiVersion}|${o.kind}`)) {
            return o.metadata.namespace !== undefined;
          }
          throw err;
        }
      }),
    );
    const violations = checkPolicy(
      deps.policy,
      objects.map((o, i) => ({
        kind: o.kind,
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        namespaced: scopes[i] ?? true,
      })),
    );
    if (violations.length) {
      throw ApplicationFailure.create({
        message: formatViolations(violations),
        type: FailureType.PolicyViolation,
        nonRetryable: true,
        details: [violations],
      });
    }
    return scopes;
  }

  return {
    /**
     * Checks policy, then server-side dry-runs every object and compares it with the live one. Writes nothing.
     * Every object rejected by the API server is listed in ONE KubeInvalid failure.
     */
    async planDeploy(input: PlanDeployInput): Promise<DeployPlan> {
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const newNamespaces = new Set(input.objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
        const pendingKinds = crdKinds(input.objects);
        const scopes = await guard(gw, input.objects, pendingKinds);
        const settled = await mapSettledLimit(input.objects, concurrency, async (obj, i): Promise<PlanEntry> => {
          const key = keyOf(obj);
          const base = { ...key, subject: formatSubject(key), namespaced: scopes[i] ?? true };
          const createdByThisDeploy =
            pendingKinds.has(`${obj.apiVersion}|${obj.kind}`) ||
            (obj.metadata.namespace !== undefined && newNamespaces.has(obj.metadata.namespace));
          let live: LiveObject | undefined;
          try {
            live = await gw.get(key);
          } catch (err) {
            if (createdByThisDeploy && isKubeApiError(err) && err.status === 404)
              return { ...base, action: 'created', validatedLater: true };
            throw err;
          }
          let dry: LiveObject;
          try {
            dry = await gw.apply(obj, { dryRun: true, force: input.force });
          } catch (err) {
            if (createdByThisDeploy && !live && isKubeApiError(err) && err.status === 404) {
              return { ...base, action: 'created', validatedLater: true };
            }
            throw err;
          }
          if (!live) return { ...base, action: 'created' };
          const changes = changedPaths(live, dry);
          if (!changes.length) return { ...base, action: 'unchanged' };
          return { ...base, action: 'configured', changes, previous: stripServerFields(live) };
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (failures.length) throw combineFailures('the API server rejected', failures, '; nothing was written');
        return { cluster: input.cluster, entries: settled.map((r) => (r as PromiseFulfilledResult<PlanEntry>).value) };
      });
    },

    /**
     * Server-side applies the objects (one field manager, bounded concurrency). Idempotent: re-applying an
     * unchanged object does not write. Heartbeats progress; the policy is checked again before writing.
     */
    async applyObjects(input: ApplyObjectsInput): Promise<AppliedObject[]> {
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        await guard(gw, input.objects, crdKinds(input.objects));
        let done = 0;
        const settled = await mapSettledLimit(input.objects, concurrency, async (obj) => {
          const live = await gw.apply(obj, { force: input.force });
          done++;
          heartbeat({ applied: done, total: input.objects.length });
          return { subject: formatSubject(keyOf(obj)), uid: live.metadata.uid, generation: live.metadata.generation };
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (failures.length) throw combineFailures('applying failed for', failures);
        return settled.map((r) => (r as PromiseFulfilledResult<AppliedObject>).value);
      });
    },

    /** Deletes objects (rollback of objects a deploy created). Already-gone objects count as deleted. */
    async deleteObjects(input: DeleteObjectsInput): Promise<string[]> {
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const settled = await mapSettledLimit(input.objects, concurrency, async (ref) => {
          await gw.delete(ref);
          return ref.subject;
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (failures.length) throw combineFailures('deleting failed for', failures);
        return input.objects.map((o) => o.subject);
      });
    },

    /**
     * Waits until every object is Current, using one list+watch per (kind, namespace) plus the namespace's
     * ReplicaSets and Pods for workloads, so crash-looping or unschedulable pods fail the wait at once. Returns
     * (does not throw) Failed or TimedOut with a message naming every object concerned.
     */
    async waitForHealth(input: WaitForHealthInput): Promise<HealthResult> {
      const gw = deps.gateway(input.cluster);
      const targets = watchTargets(input.objects);
      const abort = new AbortController();
      const activitySignal = cancellationSignal();
      const onCancel = (): void => abort.abort();
      activitySignal.addEventListener('abort', onCancel);
      let latest: ObjectHealth[] = input.objects.map((o) => ({
        subject: o.subject,
        status: HealthStatus.Unknown,
        reason: 'NotObserved',
        message: 'not observed yet',
      }));
      let settle: (r: HealthResult) => void = () => undefined;
      const done = new Promise<HealthResult>((resolve) => (settle = resolve));

      const evaluate = (state: Map<string, LiveObject>): void => {
        const pods = [...state.values()].filter((o) => o.kind === 'Pod');
        const replicaSets = [...state.values()].filter((o) => o.kind === 'ReplicaSet');
        latest = input.objects.map((ref) => {
          const obj = state.get(cacheKey(ref.apiVersion, ref.kind, ref.namespace, ref.name));
          let a: HealthAssessment;
          if (!obj) a = { status: HealthStatus.NotFound, reason: 'NotFound', message: 'not found' };
          else {
            const nsPods = pods.filter((p) => p.metadata.namespace === ref.namespace);
            const related = { pods: currentPodsOf(obj, { pods: nsPods, replicaSets }), replicaSets };
            a = assessHealth(obj, related, { now: new Date() });
          }
          return { subject: ref.subject, ...a };
        });
        const failed = latest.filter((h) => h.status === HealthStatus.Failed);
        if (failed.length) {
          settle({
            outcome: 'Failed',
            objects: latest,
            message: failed.map((f) => `${f.subject}: ${f.message}`).join('; '),
          });
        } else if (latest.every((h) => h.status === HealthStatus.Current)) {
          settle({ outcome: 'Current', objects: latest, message: `${latest.length} objects Current` });
        }
      };

      const beat = setInterval(() => heartbeat(summarize(latest)), deps.heartbeatIntervalMs ?? 2_000);
      const remaining = Math.max(0, input.deadlineMs - Date.now());
      const timer = setTimeout(() => {
        settle({
          outcome: 'TimedOut',
          objects: latest,
          message: formatPending(
            latest.map((h) => ({ subject: h.subject, assessment: h })),
            input.timeoutSeconds,
          ),
        });
      }, remaining);
      const watching = watchKinds(gw, targets, evaluate, abort.signal).catch((err: unknown) => {
        throw toApplicationFailure(err);
      });
      try {
        const result = await Promise.race([done, watching.then(() => undefined)]);
        if (activitySignal.aborted) throw toApplicationFailure(new Error('cancelled'));
        if (!result) throw ApplicationFailure.retryable('watch ended unexpectedly', FailureType.KubeUnavailable);
        return result;
      } finally {
        clearInterval(beat);
        clearTimeout(timer);
        abort.abort();
        activitySignal.removeEventListener('abort', onCancel);
        await watching.catch(() => undefined);
      }
    },
  };
}

/** Kinds defined by CRDs in this set, as `apiVersion|Kind` for every served version. */
function crdKinds(objects: readonly KubeObject[]): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    if (o.kind !== 'CustomResourceDefinition') continue;
    const spec = (o as { spec?: { group?: string; names?: { kind?: string }; versions?: { name?: string }[] } }).spec;
    for (const v of spec?.versions ?? []) out.add(`${spec?.group}/${v.name}|${spec?.names?.kind}`);
  }
  return out;
}

/** One list+watch per (kind, namespace); Pods and ReplicaSets too where workloads are awaited. */
function watchTargets(objects: readonly ObjectRefWithSubject[]): WatchTarget[] {
  const seen = new Map<string, WatchTarget>();
  const add = (t: WatchTarget): void => {
    seen.set(`${t.apiVersion}|${t.kind}|${t.namespace ?? ''}`, t);
  };
  for (const o of objects) {
    add({ apiVersion: o.apiVersion, kind: o.kind, namespace: o.namespace });
    if (POD_OWNING_KINDS.has(o.kind)) {
      add({ apiVersion: 'v1', kind: 'Pod', namespace: o.namespace });
      if (o.kind === 'Deployment') add({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: o.namespace });
    }
  }
  return [...seen.values()];
}

function summarize(health: readonly ObjectHealth[]): { current: number; total: number; pending: string[] } {
  const pending = health.filter((h) => h.status !== HealthStatus.Current);
  return {
    current: health.length - pending.length,
    total: health.length,
    pending: pending.slice(0, 10).map((h) => `${h.subject} ${h.status} (${h.message})`),
  };
}

/** One failure for many objects: non-retryable only when every cause is. `note` ends the first line. */
function combineFailures(what: string, errors: readonly unknown[], note = ''): ApplicationFailure {
  const failures = errors.map(toApplicationFailure);
  const nonRetryable = failures.every((f) => f.nonRetryable);
  const type = nonRetryable ? (failures[0]?.type ?? FailureType.KubeInvalid) : FailureType.KubeUnavailable;
  const lines = failures.slice(0, 50).map((f) => `  ${f.message}`);
  if (failures.length > 50) lines.push(`  … and ${failures.length - 50} more`);
  const plural = failures.length === 1 ? '' : 's';
  return ApplicationFailure.create({
    message: `${what} ${failures.length} object${plural}${note}:\n${lines.join('\n')}`,
    type,
    nonRetryable,
  });
}
