/**
 * Deploy activities: plan (policy + server-side dry-run + change detection), apply (server-side apply of what
 * drifted), wait for health (list+watch, fail fast) and delete (rollback of created objects). Each one is a
 * retryable, idempotent unit of I/O.
 * @module
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeObject } from '../schemas/kube-object.js';
import {
  autoscalerFor,
  autoscalerOf,
  AUTOSCALED_KINDS,
  HANDOVER_FIELD_MANAGER,
  mergeAutoscalers,
  planOwnership,
  SCALED_FIELDS,
  stolenFields,
  type Autoscaler,
  type OwnershipPlan,
} from '../domain/autoscaler.js';
import { changedPaths, changedValues, liveFingerprint } from '../domain/changes.js';
import { FailureType } from '../domain/failures.js';
import {
  assessHealth,
  describeBlockers,
  formatPending,
  healthRecheckAt,
  HealthStatus,
  POD_OWNING_KINDS,
  type HealthAssessment,
} from '../domain/health.js';
import { packJson, unpackJson } from '../domain/compression.js';
import { APP_LABEL, MANAGED_BY, MANAGED_BY_LABEL, prepareObjects } from '../domain/deploy-input.js';
import { formatProblems, stripServerFields } from '../domain/manifests.js';
import { deletionOrder } from '../domain/ordering.js';
import { DeployManifestsInput } from '../schemas/deploy.js';
import { checkPolicy, formatViolations, type Policy } from '../domain/policy.js';
import { formatSubject, subjectOf } from '../domain/subject.js';
import { plaintextSecretsRefusal } from '../domain/secrets.js';
import { isKubeApiError, keyOf, type KubeGateway, type LiveObject } from '../kube/index.js';
import { cacheKey, type WatchTarget } from '../kube/watch.js';
import { classified, parseInput, toApplicationFailure } from './failures.js';
import { HealthWatch } from './health-watch.js';
import { DEFAULT_APPLY_CONCURRENCY, mapSettledLimit } from './pool.js';
import { AssessmentMemo, assessmentSignature, relatedIndex } from './related.js';
import {
  ApplyObjectsInput,
  DeleteObjectsInput,
  PlanDeployInput,
  RecordInventoryInput,
  RestoreObjectsInput,
  WaitForHealthInput,
  type AppliedObject,
  type ApplyFailureDetails,
  type DeployPlan,
  type HealthResult,
  type InventoryResult,
  type ObjectHealth,
  type ObjectRefWithSubject,
  type ObjectSource,
  type PlanEntry,
} from '../schemas/activities.js';

/** What the deploy activities need from the worker. */
export interface DeployActivityDeps {
  /**
   * The decoded first argument of a workflow run (its start event), for manifests passed by reference. The
   * worker reads it from Temporal's history; the result is cached per run.
   */
  workflowInput?(ref: { workflowId: string; runId: string }): Promise<unknown>;
  /** The gateway of a configured cluster; throws for an unknown name. */
  gateway(cluster: string): KubeGateway;
  /** The worker's write policy. */
  policy: Policy;
  /** Concurrent API calls within a stage (default {@link DEFAULT_APPLY_CONCURRENCY}). */
  applyConcurrency?: number;
  /** Milliseconds between heartbeats while waiting (default 2000). */
  heartbeatIntervalMs?: number;
  /** Operational counters (exported at the worker's /metrics). */
  counters?: { inc(name: string, labels?: Record<string, string>, by?: number): void };
  /**
   * True when this worker encrypts payloads. Without it, `planDeploy` refuses (PolicyViolation) a deploy that
   * contains a Secret, unless {@link DeployActivityDeps.allowPlaintextSecrets}. Default false.
   */
  payloadsEncrypted?: boolean;
  /** Opt-out: let Secrets into unencrypted workflow history anyway. Default false. */
  allowPlaintextSecrets?: boolean;
}

/**
 * From this many objects of one kind in one namespace, planning LISTs the collection instead of GETting each
 * (cluster-scoped kinds: from more than {@link WATCH_BY_NAME_MAX}).
 */
export const LIST_INSTEAD_OF_GET_THRESHOLD = 10;

/**
 * Fails with a non-retryable PolicyViolation listing every refusal (nothing written) unless the worker's policy
 * allows writing every object; `scopes[i]` says whether object i is namespaced.
 */
export function assertPolicy(policy: Policy, objects: readonly KubeObject[], scopes: readonly boolean[]): void {
  const violations = checkPolicy(
    policy,
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
}

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
    assertPolicy(deps.policy, objects, scopes);
    return scopes;
  }

  /**
   * Objects prepared from workflow start inputs, by run: a run's input never changes, and a large deploy's plan,
   * apply stages and rollback all read it, so each worker fetches and parses it once (parsing 4.6 MB of CRD YAML
   * takes about 0.6 s). The few most recent runs are kept.
   */
  const preparedByRun = new Map<string, Promise<KubeObject[]>>();
  const PREPARED_RUNS_KEPT = 4;

  async function preparedFromInput(ref: { workflowId: string; runId: string }): Promise<KubeObject[]> {
    const key = `${ref.workflowId}\n${ref.runId}`;
    let prepared = preparedByRun.get(key);
    if (!prepared) {
      const readInput = deps.workflowInput?.bind(deps);
      if (!readInput) throw new Error('this worker cannot read workflow inputs (no Temporal client configured)');
      prepared = (async () => {
        const input = DeployManifestsInput.parse(await readInput(ref));
        const result = prepareObjects(input, input.app);
        if (!result.ok)
          throw ApplicationFailure.nonRetryable(formatProblems(result.problems), FailureType.InvalidInput);
        return result.objects;
      })();
      prepared.catch(() => preparedByRun.delete(key)); // a failed read is retried, not remembered
      preparedByRun.set(key, prepared);
      while (preparedByRun.size > PREPARED_RUNS_KEPT) preparedByRun.delete(preparedByRun.keys().next().value as string);
    }
    return prepared;
  }

  /** The objects an activity works on, inline or from the workflow's start input. */
  async function resolveObjects(source: ObjectSource): Promise<KubeObject[]> {
    if ('objects' in source) return source.objects;
    const all = await preparedFromInput(source.workflowInput);
    if (!source.indexes) return all;
    return source.indexes.map((i) => {
      const obj = all[i];
      if (!obj) throw ApplicationFailure.nonRetryable(`object index ${i} out of range`, FailureType.InvalidInput);
      return obj;
    });
  }

  return {
    /**
     * Checks policy, then server-side dry-runs every object and compares it with the live one. Writes nothing.
     * Every object rejected by the API server is listed in ONE KubeInvalid failure.
     */
    async planDeploy(rawInput: PlanDeployInput): Promise<DeployPlan> {
      const input = parseInput(PlanDeployInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const objects = await resolveObjects(input.source);
        const plaintext = plaintextSecretsRefusal({ ...deps, objects, side: 'worker' });
        if (plaintext) throw ApplicationFailure.nonRetryable(plaintext, FailureType.PolicyViolation);
        const newNamespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
        const pendingKinds = crdKinds(objects);
        const scopes = await guard(gw, objects, pendingKinds);
        const previous: KubeObject[] = [];
        // Many objects of one kind in one namespace: one LIST instead of a GET each (500 objects: 2 requests, not 500).
        const readLive = liveReader(gw, objects);
        const autoscalers = autoscalersOf(gw, objects);
        autoscalers.catch(() => undefined); // awaited per object; a failure fails those objects' entries
        let planned = 0;
        const settled = await mapSettledLimit(objects, concurrency, async (obj, i): Promise<PlanEntry> => {
          heartbeat({ planned: planned++, total: objects.length });
          const key = keyOf(obj);
          const base = { ...key, subject: formatSubject(key), namespaced: scopes[i] ?? true };
          const createdByThisDeploy =
            pendingKinds.has(`${obj.apiVersion}|${obj.kind}`) ||
            (obj.metadata.namespace !== undefined && newNamespaces.has(obj.metadata.namespace));
          let live: LiveObject | undefined;
          try {
            live = await readLive(key);
          } catch (err) {
            if (createdByThisDeploy && isKubeApiError(err) && err.status === 404)
              return { ...base, action: 'created', validatedLater: true };
            throw err;
          }
          const own = planOwnership(obj, live, autoscalerFor(obj, await autoscalers));
          const notes = own.notes.length ? { notes: own.notes } : {};
          let dry: LiveObject;
          try {
            dry = await applyOwned(gw, own, live, { dryRun: true, force: input.force });
          } catch (err) {
            if (createdByThisDeploy && !live && isKubeApiError(err) && err.status === 404) {
              return { ...base, action: 'created', validatedLater: true, ...notes };
            }
            throw err;
          }
          if (!live) return { ...base, action: 'created', ...notes };
          const fingerprint = liveFingerprint(live);
          const after = own.handover ? withHandover(dry, live) : dry;
          const changes = changedPaths(live, after);
          if (!changes.length) return { ...base, action: 'unchanged', fingerprint, ...notes };
          previous.push(stripServerFields(live));
          const changedFields = changedValues(live, after); // old → new per field, bounded, Secrets redacted
          return { ...base, action: 'configured', changes, changedFields, fingerprint, ...notes };
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (failures.length) throw combineFailures('the API server rejected', failures, '; nothing was written');
        return {
          cluster: gw.cluster,
          entries: settled.map((r) => (r as PromiseFulfilledResult<PlanEntry>).value),
          ...(previous.length ? { rollbackState: packJson(previous) } : {}),
        };
      });
    },

    /**
     * Server-side applies the objects (one field manager, bounded concurrency). Idempotent: re-applying an
     * unchanged object does not write. Heartbeats progress; the policy is checked again before writing.
     */
    async applyObjects(rawInput: ApplyObjectsInput): Promise<AppliedObject[]> {
      const input = parseInput(ApplyObjectsInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const objects = await resolveObjects(input.source);
        await guard(gw, objects, crdKinds(objects));
        // A retried attempt skips what an earlier attempt confirmed (positions in `objects`, from its heartbeats):
        // those writes reached the API server, and writing them again would only add load and audit noise.
        const confirmed = new Set((activityInfo().heartbeatDetails as ApplyProgress | undefined)?.confirmed ?? []);
        const retried = activityInfo().attempt > 1;
        const autoscalers = autoscalersOf(gw, objects);
        autoscalers.catch(() => undefined); // awaited per object
        const readCurrent = liveReader(
          gw,
          objects.filter((o) => SCALED_FIELDS[o.kind]),
        );
        const settled = await mapSettledLimit(objects, concurrency, async (obj, i) => {
          const subject = formatSubject(keyOf(obj));
          if (confirmed.has(i)) return { subject };
          // Who owns the counts now (managedFields) decides what the apply carries (domain/autoscaler).
          const current = SCALED_FIELDS[obj.kind] ? await readCurrent(keyOf(obj)) : undefined;
          const own = planOwnership(obj, current, autoscalerFor(obj, await autoscalers));
          // A write the dead attempt sent after its last heartbeat may have landed: a dry-run tells, for the cost of
          // a read, and nothing is written twice.
          if (retried && (await alreadyApplied(gw, own.object, input.force))) {
            confirmed.add(i);
            return { subject };
          }
          if (own.handover) await handOver(gw, own.handover);
          const live = await applyOwned(gw, own, current, { force: input.force });
          confirmed.add(i);
          heartbeat({ confirmed: [...confirmed], total: objects.length } satisfies ApplyProgress);
          return { subject, uid: live.metadata.uid, generation: live.metadata.generation };
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        deps.counters?.inc(
          'kube_workflows_objects_applied_total',
          { cluster: gw.cluster },
          objects.length - failures.length,
        );
        if (failures.length) {
          // Tell the saga exactly which writes happened and which the API server refused (a 4xx: not written).
          const outcome: ApplyFailureDetails = { applied: [], refused: [], uncertain: [] };
          settled.forEach((r, i) => {
            const subject = formatSubject(keyOf(objects[i] as KubeObject));
            if (r.status === 'fulfilled') outcome.applied.push(subject);
            else if (isDefinitiveRefusal(r.reason)) outcome.refused.push(subject);
            else outcome.uncertain.push(subject);
          });
          throw combineFailures('applying failed for', failures, '', outcome);
        }
        return settled.map((r) => (r as PromiseFulfilledResult<AppliedObject>).value);
      });
    },

    /**
     * Rollback of configured objects: re-applies their captured pre-deploy state, taking back every field
     * (force), so the live objects match what they were before the deploy.
     */
    async restoreObjects(rawInput: RestoreObjectsInput): Promise<AppliedObject[]> {
      const input = parseInput(RestoreObjectsInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const wanted = new Set(input.subjects);
        const objects = unpackJson<KubeObject[]>(input.rollbackState).filter((o) => wanted.has(subjectOf(o)));
        await guard(gw, objects, new Set());
        const autoscalers = autoscalersOf(gw, objects);
        autoscalers.catch(() => undefined); // awaited per object
        const settled = await mapSettledLimit(objects, concurrency, async (snapshot) => {
          // The count of an autoscaled workload stays the autoscaler's, also when the deploy is undone.
          const autoscaler = autoscalerFor(snapshot, await autoscalers);
          const current = autoscaler ? await gw.get(keyOf(snapshot)) : undefined;
          const { object: obj, handover } = planOwnership(snapshot, current, autoscaler, 'restore');
          if (handover) await handOver(gw, handover);
          const live = await gw.apply(obj, { force: true });
          heartbeat({ restored: subjectOf(obj) });
          return { subject: subjectOf(obj), uid: live.metadata.uid, generation: live.metadata.generation };
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        deps.counters?.inc(
          'kube_workflows_rollbacks_total',
          { cluster: gw.cluster, action: 'restore' },
          objects.length - failures.length,
        );
        if (failures.length) throw combineFailures('restoring failed for', failures);
        return settled.map((r) => (r as PromiseFulfilledResult<AppliedObject>).value);
      });
    },

    /**
     * Records the app's inventory (a ConfigMap listing every object of the set) and, with `prune`, deletes the
     * objects of the previous inventory that left the set: only those still labelled with this app, only where
     * the policy allows, workloads before what they use.
     */
    async recordInventory(rawInput: RecordInventoryInput): Promise<InventoryResult> {
      const input = parseInput(RecordInventoryInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const name = inventoryName(input.app);
        const key = { apiVersion: 'v1', kind: 'ConfigMap', namespace: input.namespace, name };
        const existing = await gw.get(key);
        const oldEntries = parseInventory(existing);
        const current = new Set(input.objects.map((o) => o.subject));
        const stale = oldEntries.filter((e) => !current.has(e.subject));
        // A retried attempt carries on from the deletions an earlier one confirmed (heartbeat details), so the
        // report lists every object this deploy pruned, not only the ones the last attempt happened to delete.
        const pruned: string[] = [
          ...((activityInfo().heartbeatDetails as { pruned?: string[] } | undefined)?.pruned ?? []),
        ];
        const skipped: string[] = [];
        let keepStale: ObjectRefWithSubject[] = [];
        if (input.prune && stale.length) {
          const ordered = deletionOrder(
            stale.map((e) => ({ ...e, metadata: { name: e.name, namespace: e.namespace } })),
          );
          const scopes = await Promise.all(
            ordered.map(async (e) => (await gw.resolve(e.apiVersion, e.kind)).namespaced),
          );
          const violations = checkPolicy(
            deps.policy,
            ordered.map((e, i) => ({
              kind: e.kind,
              name: e.name,
              namespace: e.namespace,
              namespaced: scopes[i] ?? true,
            })),
          );
          const forbidden = new Set(violations.map((v) => v.subject));
          for (const e of ordered) {
            if (pruned.includes(e.subject)) continue;
            if (forbidden.has(e.subject)) {
              skipped.push(e.subject);
              continue;
            }
            const live = await gw.get(e);
            // Gone already, or taken over by someone else (label changed): not ours to delete.
            if (!live || live.metadata.labels?.[APP_LABEL] !== input.app) {
              skipped.push(e.subject);
              continue;
            }
            await gw.delete(e);
            pruned.push(e.subject);
            heartbeat({ pruned });
          }
          keepStale = stale.filter((e) => forbidden.has(e.subject));
        }
        // Without prune, stale objects stay listed so a later prune can remove them; with prune, only those the
        // policy kept us from deleting stay.
        const keep = input.prune ? keepStale : stale;
        const entries = [
          ...input.objects.map(({ apiVersion, kind, namespace, name: n, subject }) => ({
            apiVersion,
            kind,
            namespace,
            name: n,
            subject,
          })),
          ...keep,
        ];
        await gw.apply(
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name,
              namespace: input.namespace,
              labels: { [APP_LABEL]: input.app, [MANAGED_BY_LABEL]: MANAGED_BY, [INVENTORY_LABEL]: 'true' },
            },
            data: { app: input.app, objects: JSON.stringify(entries) },
          },
          { force: true },
        );
        return { pruned, skipped };
      });
    },

    /** Deletes objects (rollback of objects a deploy created). Already-gone objects count as deleted. */
    async deleteObjects(rawInput: DeleteObjectsInput): Promise<string[]> {
      const input = parseInput(DeleteObjectsInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const settled = await mapSettledLimit(input.objects, concurrency, async (ref) => {
          await gw.delete(ref);
          heartbeat({ deleted: ref.subject });
          return ref.subject;
        });
        const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        deps.counters?.inc(
          'kube_workflows_rollbacks_total',
          { cluster: gw.cluster, action: 'delete' },
          input.objects.length - failures.length,
        );
        if (failures.length) throw combineFailures('deleting failed for', failures);
        return input.objects.map((o) => o.subject);
      });
    },

    /**
     * Waits until every object is Current, using one list+watch per (kind, namespace) plus the namespace's
     * ReplicaSets and Pods for workloads, so crash-looping or unschedulable pods fail the wait at once. Returns
     * (does not throw) Failed or TimedOut with a message naming every object concerned.
     */
    async waitForHealth(rawInput: WaitForHealthInput): Promise<HealthResult> {
      const input = parseInput(WaitForHealthInput, rawInput);
      const gateway = deps.gateway(input.cluster);
      // Objects no controller writes a status for are Current once they exist: one read, no watch, unless that read
      // finds one missing or not Current yet (then it is watched with the rest).
      const readOnce = await readOnceHealth(gateway, input.objects);
      const watched = input.objects.filter((o) => !readOnce.has(o.subject));
      const merge = (health: readonly ObjectHealth[]): ObjectHealth[] => {
        const bySubject = new Map(health.map((h) => [h.subject, h]));
        return input.objects.map((o) => readOnce.get(o.subject) ?? bySubject.get(o.subject) ?? notObserved(o));
      };
      let latest: ObjectHealth[] = merge([]);
      if (!watched.length) return { outcome: 'Current', objects: latest, message: `${latest.length} objects Current` };
      /** The watch cache once every collection is listed (the watches update it in place). */
      let synced: Map<string, LiveObject> | undefined;
      const watch = new HealthWatch<HealthResult>({
        heartbeat: () => summarize(latest),
        heartbeatIntervalMs: deps.heartbeatIntervalMs ?? 2_000,
        cancelledMessage: 'cancelled while waiting for health',
      });
      watch.settleAfter(Math.max(0, input.deadlineMs - Date.now()), () => {
        // Assessed afresh, with what blocks each object, so the one message says why down to the pods.
        const final = synced ? assessObjects(watched, synced, new Date(), true) : undefined;
        const objects = final ? merge(final.health) : latest;
        return {
          outcome: 'TimedOut',
          objects,
          message: formatPending(
            objects.map((h) => ({ subject: h.subject, assessment: h, details: final?.details.get(h.subject) })),
            input.timeoutSeconds,
          ),
        };
      });
      // Only what a watch event touched is assessed again (plus what a timer made due): see AssessmentMemo.
      const memo = new AssessmentMemo<RememberedHealth>();
      return watch.run({
        gateway,
        targets: watchTargets(watched),
        assess(state, now) {
          synced = state;
          const assessed = assessObjects(watched, state, now, false, memo);
          latest = merge(assessed.health);
          const failed = latest.filter((h) => h.status === HealthStatus.Failed);
          if (failed.length) {
            watch.settle({
              outcome: 'Failed',
              objects: latest,
              message: failed.map((f) => `${f.subject}: ${f.message}`).join('; '),
            });
          } else if (latest.every((h) => h.status === HealthStatus.Current)) {
            watch.settle({ outcome: 'Current', objects: latest, message: `${latest.length} objects Current` });
          }
          return assessed.recheckAt;
        },
      });
    },
  };
}

/** Label marking inventory ConfigMaps. */
export const INVENTORY_LABEL = 'kube-workflows.dev/inventory';

/** Name of an app's inventory ConfigMap. */
export function inventoryName(app: string): string {
  return `kube-workflows-inventory.${app}`.slice(0, 253);
}

/** The objects an inventory ConfigMap lists (none when absent or unreadable). */
export function parseInventory(cm: LiveObject | undefined): ObjectRefWithSubject[] {
  const raw = (cm as { data?: { objects?: string } } | undefined)?.data?.objects;
  if (!raw) return [];
  try {
    const list = JSON.parse(raw) as ObjectRefWithSubject[];
    return Array.isArray(list) ? list.filter((e) => e && typeof e.subject === 'string') : [];
  } catch {
    return [];
  }
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

/**
 * Up to this many awaited cluster-scoped objects of one kind are watched by name, each on its own: a cluster's
 * collection of CRDs (or ClusterRoles…) holds every other tool's too, and one LIST of hundreds of CRDs is hundreds
 * of megabytes where ten by name are the ten we wrote.
 */
export const WATCH_BY_NAME_MAX = 25;

/**
 * One list+watch per (kind, namespace); Pods and ReplicaSets too where workloads are awaited. A few cluster-scoped
 * objects of a kind are watched by name ({@link WATCH_BY_NAME_MAX}).
 */
function watchTargets(objects: readonly ObjectRefWithSubject[]): WatchTarget[] {
  const seen = new Map<string, WatchTarget>();
  const add = (t: WatchTarget): void => {
    seen.set(`${t.apiVersion}|${t.kind}|${t.namespace ?? ''}|${t.fieldSelector ?? ''}`, t);
  };
  const clusterScoped = new Map<string, number>();
  for (const o of objects) {
    if (o.namespace === undefined) clusterScoped.set(o.kind, (clusterScoped.get(o.kind) ?? 0) + 1);
  }
  for (const o of objects) {
    const byName = o.namespace === undefined && (clusterScoped.get(o.kind) ?? 0) <= WATCH_BY_NAME_MAX;
    add({
      apiVersion: o.apiVersion,
      kind: o.kind,
      namespace: o.namespace,
      ...(byName ? { fieldSelector: `metadata.name=${o.name}` } : {}),
    });
    if (POD_OWNING_KINDS.has(o.kind)) {
      add({ apiVersion: 'v1', kind: 'Pod', namespace: o.namespace });
      if (o.kind === 'Deployment') add({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: o.namespace });
    }
  }
  return [...seen.values()];
}

/**
 * Kinds whose health is settled by one read: no controller writes their status (or, for a Service, only a
 * LoadBalancer's address, which the read shows as InProgress until it is there), so an object of one that exists
 * and is Current stays Current until someone changes it. Waiting on them needs no watch.
 */
export const READ_ONCE_KINDS: ReadonlySet<string> = new Set([
  'ConfigMap',
  'Secret',
  'ServiceAccount',
  'Service',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'LimitRange',
  'PriorityClass',
  'IngressClass',
  'StorageClass',
]);

/** The placeholder health of an object no read or watch has shown yet. */
function notObserved(o: ObjectRefWithSubject): ObjectHealth {
  return { subject: o.subject, status: HealthStatus.Unknown, reason: 'NotObserved', message: 'not observed yet' };
}

/**
 * Reads the awaited objects of {@link READ_ONCE_KINDS} once (a GET each, or one LIST per kind and namespace for
 * many) and returns the health of those that exist and are Current, by subject. Anything else — missing, not
 * Current, or a read that failed — is left out, to be watched like every other object.
 */
async function readOnceHealth(
  gw: KubeGateway,
  refs: readonly ObjectRefWithSubject[],
): Promise<Map<string, ObjectHealth>> {
  const out = new Map<string, ObjectHealth>();
  const candidates = refs.filter((r) => READ_ONCE_KINDS.has(r.kind));
  if (!candidates.length) return out;
  const asObject = (r: ObjectRefWithSubject): KubeObject => ({
    apiVersion: r.apiVersion,
    kind: r.kind,
    metadata: { name: r.name, ...(r.namespace === undefined ? {} : { namespace: r.namespace }) },
  });
  const objects = candidates.map(asObject);
  const read = liveReader(gw, objects);
  const now = new Date();
  await mapSettledLimit(candidates, DEFAULT_APPLY_CONCURRENCY, async (ref, i) => {
    const live = await read(keyOf(objects[i] as KubeObject));
    if (!live) return;
    const a = assessHealth(live, {}, { now });
    if (a.status === HealthStatus.Current) out.set(ref.subject, { subject: ref.subject, ...a });
  });
  return out;
}

/** What {@link assessObjects} remembers per awaited object between passes (see {@link AssessmentMemo}). */
interface RememberedHealth {
  assessment: HealthAssessment;
  /** When a rule with a duration is next due for this object (epoch ms), if it is neither Current nor Failed. */
  dueAt: number | undefined;
}

/**
 * Assesses every awaited object from the watch cache at `now`: its health, when a rule with a duration is next
 * due among them, and (with `withDetails`, for the timeout message) what blocks each one. With a `memo`, an object
 * whose own resourceVersion and related objects' are unchanged since its last pass, and whose due time has not come,
 * keeps its last result instead of being assessed again.
 */
function assessObjects(
  refs: readonly ObjectRefWithSubject[],
  state: Map<string, LiveObject>,
  now: Date,
  withDetails = false,
  memo?: AssessmentMemo<RememberedHealth>,
): { health: ObjectHealth[]; recheckAt: Date | undefined; details: Map<string, string[]> } {
  const related = relatedIndex(state.values());
  const cache = withDetails ? undefined : memo; // the timeout message is always assessed afresh
  const nowMs = now.getTime();
  let recheckMs: number | undefined;
  const details = new Map<string, string[]>();
  const health = refs.map((ref): ObjectHealth => {
    const obj = state.get(cacheKey(ref.apiVersion, ref.kind, ref.namespace, ref.name));
    if (!obj) return { subject: ref.subject, status: HealthStatus.NotFound, reason: 'NotFound', message: 'not found' };
    const objRelated = related(obj);
    const signature = cache ? assessmentSignature(obj, objRelated) : '';
    let remembered = cache?.lookup(ref.subject, signature, nowMs);
    if (!remembered) {
      const a: HealthAssessment = assessHealth(obj, objRelated, { now });
      const pending = a.status !== HealthStatus.Current && a.status !== HealthStatus.Failed;
      remembered = { assessment: a, dueAt: pending ? healthRecheckAt(obj, objRelated, { now })?.getTime() : undefined };
      if (withDetails && pending) details.set(ref.subject, describeBlockers(obj, objRelated, { now }));
      cache?.remember(ref.subject, signature, remembered, nowMs, remembered.dueAt);
    }
    const dueAt = remembered.dueAt;
    if (dueAt !== undefined && (recheckMs === undefined || dueAt < recheckMs)) recheckMs = dueAt;
    return { subject: ref.subject, ...remembered.assessment };
  });
  return { health, recheckAt: recheckMs === undefined ? undefined : new Date(recheckMs), details };
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
function combineFailures(
  what: string,
  errors: readonly unknown[],
  note = '',
  details?: ApplyFailureDetails,
): ApplicationFailure {
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
    ...(details ? { details: [details] } : {}),
  });
}

/** Heartbeat details of `applyObjects`: positions (in the activity's object list) whose write was confirmed. */
interface ApplyProgress {
  confirmed: number[];
  total: number;
}

/** True when applying `obj` would change nothing: the live object already holds what it says. */
async function alreadyApplied(gw: KubeGateway, obj: KubeObject, force: boolean): Promise<boolean> {
  const live = await gw.get(keyOf(obj));
  if (!live) return false;
  const dry = await gw.apply(obj, { dryRun: true, force });
  return changedPaths(live, dry).length === 0;
}

/** True for an API answer that proves the write did not happen (4xx other than 408/429). */
function isDefinitiveRefusal(err: unknown): boolean {
  return isKubeApiError(err) && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

/**
 * The autoscalers that count for a set of objects: HorizontalPodAutoscalers and KEDA ScaledObjects among the objects,
 * and the live ones in the namespaces of its Deployments and StatefulSets (one LIST per namespace; ScaledObjects
 * only where the API server serves them and the worker may list them). Empty, without a request, when the set has
 * no such workload.
 */
export async function autoscalersOf(gw: KubeGateway, objects: readonly KubeObject[]): Promise<Autoscaler[]> {
  const namespaces = new Set(
    objects.filter((o) => AUTOSCALED_KINDS.has(o.kind) && o.metadata.namespace).map((o) => o.metadata.namespace),
  );
  const declared = objects.map(autoscalerOf).filter((a): a is Autoscaler => a !== undefined);
  if (namespaces.size === 0) return declared;
  const live: Autoscaler[] = [];
  const kinds: { apiVersion: string; kind: string; optional: boolean }[] = [
    { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', optional: false },
    { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', optional: true },
  ];
  await Promise.all(
    kinds.flatMap(({ apiVersion, kind, optional }) =>
      [...namespaces].map(async (namespace) => {
        try {
          const { items } = await gw.list(apiVersion, kind, { namespace });
          for (const item of items) {
            const a = autoscalerOf(item);
            if (a) live.push(a);
          }
        } catch (err) {
          // KEDA not installed (404) or not ours to read (403): no ScaledObjects to respect.
          if (optional && isKubeApiError(err) && (err.status === 404 || err.status === 403)) return;
          throw err;
        }
      }),
    ),
  );
  return mergeAutoscalers(declared, live);
}

/**
 * The handover of the Kubernetes server-side-apply docs: the live count applied alone under a temporary field
 * manager, so the field keeps its value when our apply stops carrying it. A conflict means the autoscaler claimed the
 * field already: nothing to hand over.
 */
async function handOver(gw: KubeGateway, replicasOnly: KubeObject): Promise<void> {
  try {
    await gw.apply(replicasOnly, { fieldManager: HANDOVER_FIELD_MANAGER });
  } catch (err) {
    if (isKubeApiError(err) && err.status === 409) return;
    throw err;
  }
}

/**
 * Applies (or dry-runs) an object as {@link planOwnership} decided. When it takes fields back from `scale` or a
 * departed autoscaler, a forced dry-run first shows what force would take: only when that is nothing but those
 * fields is the apply forced; otherwise it goes as asked and meets its conflicts as any apply does.
 */
async function applyOwned(
  gw: KubeGateway,
  own: OwnershipPlan,
  live: LiveObject | undefined,
  options: { dryRun?: boolean; force: boolean },
): Promise<LiveObject> {
  if (own.takeBack.length && !options.force && live) {
    const forced = await gw.apply(own.object, { dryRun: true, force: true });
    const allowed = new Set(own.takeBack);
    if (stolenFields(live, forced).every((f) => allowed.has(f))) {
      return options.dryRun ? forced : gw.apply(own.object, { force: true });
    }
  }
  return gw.apply(own.object, options);
}

/** A dry-run result as it will be after the handover: the live count, which the handover keeps. */
export function withHandover(dry: LiveObject, live: LiveObject): LiveObject {
  const replicas = (live as { spec?: { replicas?: unknown } }).spec?.replicas;
  const spec = (dry as { spec?: Record<string, unknown> }).spec;
  return { ...dry, spec: { ...spec, replicas } };
}

/**
 * Reads live objects for an activity: a GET each, or one LIST per (kind, namespace) from
 * {@link LIST_INSTEAD_OF_GET_THRESHOLD} objects of that kind in that namespace on (planning and applying), so 250
 * Deployments costs 1 request, not 250.
 */
export function liveReader(
  gw: KubeGateway,
  objects: readonly KubeObject[],
): (key: ReturnType<typeof keyOf>) => Promise<LiveObject | undefined> {
  const group = (k: { apiVersion: string; kind: string; namespace?: string | undefined }): string =>
    `${k.apiVersion}|${k.kind}|${k.namespace ?? ''}`;
  const sizes = new Map<string, number>();
  for (const o of objects) {
    const g = group(keyOf(o));
    sizes.set(g, (sizes.get(g) ?? 0) + 1);
  }
  const lists = new Map<string, Promise<Map<string, LiveObject>>>();
  return async (key) => {
    const g = group(key);
    // A cluster-scoped collection holds every other tool's objects too (all the CRDs of the cluster): GET a few.
    const threshold = key.namespace === undefined ? WATCH_BY_NAME_MAX + 1 : LIST_INSTEAD_OF_GET_THRESHOLD;
    if ((sizes.get(g) ?? 0) < threshold) return gw.get(key);
    let list = lists.get(g);
    if (!list) {
      list = gw
        .list(key.apiVersion, key.kind, { namespace: key.namespace })
        .then((r) => new Map(r.items.map((item) => [item.metadata.name, item])));
      lists.set(g, list);
    }
    return (await list).get(key.name);
  };
}
