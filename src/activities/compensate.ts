/**
 * The undo half of the deploy saga: `compensateObjects` puts configured objects back to their state before the
 * deploy (the plan's snapshot) and deletes objects the deploy created. It writes only where something needs
 * undoing, so it can run on objects whose write may never have reached the API server (an interrupted stage):
 * - a configured object is first dry-run with its snapshot; when nothing would change it is `untouched`;
 * - a created object that does not exist, or that kube-workflows never wrote (no field of ours in
 *   `managedFields`), is `untouched` and left alone.
 * Per-object results are returned, never thrown: a failed undo is reported (`failed`, with the reason) so the
 * workflow can say exactly what is left. Transient errors (API server unavailable) are retried by Temporal; the
 * results already reached travel in heartbeat details, so a retried attempt keeps them instead of re-reading a
 * state it has itself changed.
 * @module
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { ApplicationFailure } from '@temporalio/common';
import type { KubeObject } from '../schemas/kube-object.js';
import { changedPaths } from '../domain/changes.js';
import { unpackJson } from '../domain/compression.js';
import { CompensationResult, type ObjectCompensation } from '../domain/saga.js';
import { subjectOf } from '../domain/subject.js';
import { FIELD_MANAGER, isKubeApiError, keyOf, type KubeGateway } from '../kube/index.js';
import { CompensateObjectsInput } from '../schemas/activities.js';
import { parseInput, toApplicationFailure } from './failures.js';
import { mapSettledLimit, DEFAULT_APPLY_CONCURRENCY } from './pool.js';

export type { CompensateObjectsInput };

/** What the compensation activities need. */
export interface CompensationDeps {
  gateway(cluster: string): KubeGateway;
  applyConcurrency?: number;
  counters?: { inc(name: string, labels?: Record<string, string>, by?: number): void };
}

/** Heartbeat details of `compensateObjects`: results already reached, by subject. */
interface CompensationProgress {
  results: ObjectCompensation[];
}

/** Builds the compensation activity. */
export function createCompensationActivities(deps: CompensationDeps) {
  const concurrency = deps.applyConcurrency ?? DEFAULT_APPLY_CONCURRENCY;
  return {
    /** Undoes one stage: restores configured objects, deletes created ones; one result per object. */
    async compensateObjects(rawInput: CompensateObjectsInput): Promise<ObjectCompensation[]> {
      const input = parseInput(CompensateObjectsInput, rawInput);
      const gw = deps.gateway(input.cluster);
      const previous = (activityInfo().heartbeatDetails as CompensationProgress | undefined)?.results ?? [];
      const done = new Map(previous.map((r) => [r.subject, r]));
      const record = (r: ObjectCompensation): ObjectCompensation => {
        done.set(r.subject, r);
        heartbeat({ results: [...done.values()] } satisfies CompensationProgress);
        return r;
      };
      let transient: ApplicationFailure | undefined;
      const attempt = async (subject: string, undo: () => Promise<ObjectCompensation>): Promise<void> => {
        const reached = done.get(subject);
        if (reached && reached.result !== CompensationResult.Failed) return;
        try {
          record(await undo());
        } catch (err) {
          const failure = toApplicationFailure(err);
          if (!failure.nonRetryable) {
            transient ??= failure; // retry the activity; what was reached is in the heartbeat
            return;
          }
          record({ subject, result: CompensationResult.Failed, message: failure.message });
        }
      };

      const snapshots = new Map(
        (input.rollbackState ? unpackJson<KubeObject[]>(input.rollbackState) : []).map((o) => [subjectOf(o), o]),
      );
      await mapSettledLimit(input.restore, concurrency, (subject) =>
        attempt(subject, async () => {
          const snapshot = snapshots.get(subject);
          if (!snapshot) return { subject, result: CompensationResult.Failed, message: 'no snapshot to restore from' };
          const live = await gw.get(keyOf(snapshot));
          if (!live) {
            // It existed at plan time: someone deleted it since. Re-create it as it was.
            await gw.apply(snapshot, { force: true });
            return { subject, result: CompensationResult.Restored, message: 're-created from the snapshot' };
          }
          const dry = await gw.apply(snapshot, { force: true, dryRun: true });
          if (!changedPaths(live, dry).length) return { subject, result: CompensationResult.Untouched };
          await gw.apply(snapshot, { force: true });
          return { subject, result: CompensationResult.Restored };
        }),
      );
      // Deletions one after another, in the order given (workloads before what they use).
      for (const ref of input.remove) {
        await attempt(ref.subject, async () => {
          const live = await gw.get(ref);
          if (!live) return { subject: ref.subject, result: CompensationResult.Untouched, message: 'not found' };
          if (!writtenByUs(live)) {
            return {
              subject: ref.subject,
              result: CompensationResult.Untouched,
              message: `exists but was not written by ${FIELD_MANAGER}; left alone`,
            };
          }
          await gw.delete(ref).catch((err: unknown) => {
            if (!(isKubeApiError(err) && err.status === 404)) throw err;
          });
          return { subject: ref.subject, result: CompensationResult.Deleted };
        });
      }
      if (transient) throw transient;
      const results = [...input.restore, ...input.remove.map((r) => r.subject)].map(
        (s) => done.get(s) ?? { subject: s, result: CompensationResult.Failed, message: 'not attempted' },
      );
      const n = (r: CompensationResult): number => results.filter((x) => x.result === r).length;
      deps.counters?.inc('kube_workflows_rollbacks_total', { cluster: gw.cluster, action: 'restore' }, n('restored'));
      deps.counters?.inc('kube_workflows_rollbacks_total', { cluster: gw.cluster, action: 'delete' }, n('deleted'));
      return results;
    },
  };
}

/** True when kube-workflows' field manager owns any field of the object. */
function writtenByUs(obj: { metadata: object }): boolean {
  const managed = (obj.metadata as { managedFields?: { manager?: string }[] }).managedFields;
  // Without managedFields (an API server that strips them) we cannot tell: assume ours, as the ledger says.
  if (!Array.isArray(managed)) return true;
  return managed.some((m) => m.manager === FIELD_MANAGER);
}
