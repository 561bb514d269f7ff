/**
 * Drift activities: `scanDrift` (read the app's inventory and live objects, server-side dry-run what moved since the
 * last scan, diff and attribute every drifted field) and `correctDrift` (take the drifted fields the policy corrects
 * back: a forced server-side apply under our field manager). Both read the desired objects inline or from the
 * workflow's start input, and never write anything but the correction.
 * @module
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { autoscalerFor, planOwnership, SCALED_FIELDS, type OwnershipPlan } from '../domain/autoscaler.js';
import { liveFingerprint } from '../domain/changes.js';
import {
  ABSENT,
  actionFor,
  correctionObject,
  prepareDesired,
  DriftClass,
  driftedFields,
  withoutSteps,
  type DriftPolicy,
} from '../domain/drift.js';
import { FailureType } from '../domain/failures.js';
import { formatProblems } from '../domain/manifests.js';
import type { Policy } from '../domain/policy.js';
import { isSecret, plaintextSecretsRefusal } from '../domain/secrets.js';
import { formatSubject } from '../domain/subject.js';
import { isKubeApiError, keyOf, type KubeGateway, type LiveObject } from '../kube/index.js';
import type { KubeObject } from '../schemas/kube-object.js';
import {
  CorrectDriftInput,
  DetectDriftInput,
  ScanDriftInput,
  type CorrectedObject,
  type DriftObjectReport,
  type ScanDriftResult,
} from '../schemas/drift.js';
import { assertPolicy, autoscalersOf, inventoryName, liveReader, parseInventory, withHandover } from './deploy.js';
import { classified, parseInput } from './failures.js';
import { DEFAULT_APPLY_CONCURRENCY, mapSettledLimit } from './pool.js';

/** What the drift activities need from the worker (a subset of the deploy activities' dependencies). */
export interface DriftActivityDeps {
  gateway(cluster: string): KubeGateway;
  policy: Policy;
  workflowInput?(ref: { workflowId: string; runId: string }): Promise<unknown>;
  applyConcurrency?: number;
  payloadsEncrypted?: boolean;
  allowPlaintextSecrets?: boolean;
}

/** Builds the drift activities. */
export function createDriftActivities(deps: DriftActivityDeps) {
  const concurrency = deps.applyConcurrency ?? DEFAULT_APPLY_CONCURRENCY;

  /** The desired objects, labelled with the app as a deploy labels them. */
  async function desiredObjects(source: ScanDriftInput['source'], app: string): Promise<KubeObject[]> {
    let objects: KubeObject[];
    if ('objects' in source) {
      objects = source.objects as KubeObject[];
    } else {
      const readInput = deps.workflowInput?.bind(deps);
      if (!readInput) throw new Error('this worker cannot read workflow inputs (no Temporal client configured)');
      const input = DetectDriftInput.parse(await readInput(source.workflowInput));
      const prepared = prepareDesired({ ...input, app });
      if (!prepared.ok)
        throw ApplicationFailure.nonRetryable(formatProblems(prepared.problems), FailureType.InvalidInput);
      objects = prepared.objects;
    }
    const plaintext = plaintextSecretsRefusal({ ...deps, objects, side: 'worker' });
    if (plaintext) throw ApplicationFailure.nonRetryable(plaintext, FailureType.PolicyViolation);
    return objects;
  }

  /** What one object drifts from: the ownership plan, and the dry-run's result (conflicts noted). */
  async function dryRun(
    gw: KubeGateway,
    obj: KubeObject,
    live: LiveObject,
    own: OwnershipPlan,
  ): Promise<{ wouldBe: LiveObject; conflict?: string; requests: number }> {
    try {
      const dry = await gw.apply(own.object, { dryRun: true, force: false });
      return { wouldBe: own.handover ? withHandover(dry, live) : dry, requests: 1 };
    } catch (err) {
      // 409: fields the manifest sets are owned by someone else now. The message names them and their managers;
      // a forced dry-run shows what taking them back would make of the object.
      if (!isKubeApiError(err) || err.status !== 409) throw err;
      const forced = await gw.apply(own.object, { dryRun: true, force: true });
      return {
        wouldBe: own.handover ? withHandover(forced, live) : forced,
        conflict: err.message.replace(`${formatSubject(keyOf(obj))}: `, ''),
        requests: 2,
      };
    }
  }

  return {
    /**
     * Scans an app's objects for drift: one read per object (or one LIST per kind and namespace for many), a
     * server-side dry-run only for objects whose live resourceVersion or manifest changed since `previous`, and
     * every drifted field attributed through managedFields. Writes nothing.
     */
    async scanDrift(rawInput: ScanDriftInput): Promise<ScanDriftResult> {
      const input = parseInput(ScanDriftInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const objects = await desiredObjects(input.source, input.app);
        const policy: DriftPolicy = input.policy;
        const inventoryKey = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: input.namespace,
          name: inventoryName(input.app),
        };
        const inventory = parseInventory(await gw.get(inventoryKey)).map((e) => e.subject);
        const desiredSubjects = new Set(objects.map((o) => formatSubject(keyOf(o))));
        const previous = new Map((input.previous?.objects ?? []).map((o) => [o.subject, o]));
        const readLive = liveReader(gw, objects);
        const autoscalers = autoscalersOf(gw, objects);
        autoscalers.catch(() => undefined); // awaited per object
        let dryRuns = 0;
        let done = 0;
        const settled = await mapSettledLimit(objects, concurrency, async (obj): Promise<DriftObjectReport> => {
          const key = keyOf(obj);
          const subject = formatSubject(key);
          const ref = { subject, apiVersion: obj.apiVersion, kind: obj.kind, namespace: key.namespace, name: key.name };
          const desiredHash = liveFingerprint(obj);
          heartbeat({ scanned: done++, total: objects.length });
          const live = await readLive(key);
          if (!live) {
            const field = { path: '.', from: '(present)', to: ABSENT, owners: [], class: DriftClass.Unknown };
            return {
              ...ref,
              state: 'missing',
              desiredHash,
              scanned: false,
              fields: [{ ...field, action: actionFor(field, policy) }],
            };
          }
          const resourceVersion = live.metadata.resourceVersion;
          const before = previous.get(subject);
          if (
            before &&
            before.resourceVersion === resourceVersion &&
            before.desiredHash === desiredHash &&
            before.state !== 'error'
          ) {
            // Nothing moved since the last scan: its findings stand (the policy may have changed: actions again).
            const fields = before.fields
              .filter((f) => !f.corrected)
              .map((f) => ({ ...f, action: actionFor(f, policy) }));
            const state = before.state === 'drifted' && !fields.length ? 'inSync' : before.state;
            return {
              ...ref,
              state,
              resourceVersion,
              desiredHash,
              scanned: false,
              fields,
              ...(before.conflict ? { conflict: before.conflict } : {}),
            };
          }
          const autoscaler = autoscalerFor(obj, await autoscalers);
          const own = planOwnership(obj, live, autoscaler);
          try {
            const { wouldBe, conflict, requests } = await dryRun(gw, obj, live, own);
            dryRuns += requests;
            const fields = driftedFields(live, wouldBe, {
              redact: isSecret(obj),
              policy,
              leftToOthers: leftToOthers(obj, own, autoscaler !== undefined),
            }).map(withoutSteps);
            return {
              ...ref,
              state: fields.length ? 'drifted' : 'inSync',
              resourceVersion,
              desiredHash,
              scanned: true,
              fields,
              ...(conflict ? { conflict } : {}),
            };
          } catch (err) {
            // An object the API server refuses (422, 403, …) is reported; anything retryable fails the attempt.
            if (!isKubeApiError(err) || err.status < 400 || err.status >= 500 || err.status === 429) throw err;
            return {
              ...ref,
              state: 'error',
              resourceVersion,
              desiredHash,
              scanned: true,
              fields: [],
              message: err.message,
            };
          }
        });
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        return {
          cluster: gw.cluster,
          objects: settled.map((r) => (r as PromiseFulfilledResult<DriftObjectReport>).value),
          dryRuns,
          notInManifests: inventory.filter((s) => !desiredSubjects.has(s)),
          notInInventory: [...desiredSubjects].filter((s) => inventory.length > 0 && !inventory.includes(s)),
        };
      });
    },

    /**
     * Takes back the drifted fields the policy corrects, object by object: reads it and dry-runs again (so only what
     * still drifts is taken, whatever happened while an approval was awaited), then server-side applies with force
     * the desired object with every field NOT to be corrected set to its live value (shared with its owner,
     * unchanged). Fields left to an autoscaler or `scale` are never carried. Missing objects are created.
     */
    async correctDrift(rawInput: CorrectDriftInput): Promise<CorrectedObject[]> {
      const input = parseInput(CorrectDriftInput, rawInput);
      return classified(async () => {
        const gw = deps.gateway(input.cluster);
        const wanted = new Set(input.subjects);
        const objects = (await desiredObjects(input.source, input.app)).filter((o) =>
          wanted.has(formatSubject(keyOf(o))),
        );
        await guard(gw, deps.policy, objects);
        const autoscalers = autoscalersOf(gw, objects);
        autoscalers.catch(() => undefined);
        const policy: DriftPolicy = input.policy;
        const settled = await mapSettledLimit(objects, concurrency, async (obj): Promise<CorrectedObject> => {
          const subject = formatSubject(keyOf(obj));
          const live = await gw.get(keyOf(obj));
          const own = planOwnership(obj, live, autoscalerFor(obj, await autoscalers));
          if (!live) {
            const created = await gw.apply(own.object, { force: true });
            heartbeat({ corrected: subject });
            return { subject, result: 'corrected', fields: ['.'], resourceVersion: created.metadata.resourceVersion };
          }
          const forced = await gw.apply(own.object, { dryRun: true, force: true });
          const wouldBe = own.handover ? withHandover(forced, live) : forced;
          const fields = driftedFields(live, wouldBe, { redact: isSecret(obj), policy });
          const take = fields.filter((f) => f.action === 'correct');
          if (!take.length)
            return { subject, result: 'skipped', fields: [], message: 'nothing to correct drifts any more' };
          const keep = fields
            .filter((f) => f.action !== 'correct')
            .map((f) => ({ steps: f.steps, live: valueAt(live, f.steps) }));
          const object = correctionObject(own.object, keep);
          if (!object) {
            return {
              subject,
              result: 'skipped',
              fields: [],
              message: `not corrected: ${keep.length} drifted field(s) inside lists are not to be corrected and cannot be kept apart`,
            };
          }
          const applied = await gw.apply(object, { force: true });
          heartbeat({ corrected: subject });
          return {
            subject,
            result: 'corrected',
            fields: take.map((f) => f.path),
            resourceVersion: applied.metadata.resourceVersion,
          };
        });
        return settled.map((r, i) => {
          if (r.status === 'fulfilled') return r.value;
          const err: unknown = r.reason;
          if (!isKubeApiError(err) || err.status >= 500 || err.status === 429 || err.status === 0) throw err;
          const subject = formatSubject(keyOf(objects[i] as KubeObject));
          return { subject, result: 'failed' as const, fields: [], message: err.message };
        });
      });
    },
  };
}

/** The fields a deploy leaves to others (dropped or kept at the live value by planOwnership), with its note. */
function leftToOthers(
  obj: KubeObject,
  own: OwnershipPlan,
  autoscaled: boolean,
): Map<string, { wanted: unknown; why: string; class: DriftClass }> {
  const out = new Map<string, { wanted: unknown; why: string; class: DriftClass }>();
  for (const path of SCALED_FIELDS[obj.kind] ?? []) {
    const wanted = get(obj, path.split('.'));
    if (wanted === undefined || JSON.stringify(get(own.object, path.split('.'))) === JSON.stringify(wanted)) continue;
    const name = path.split('.').pop() ?? path;
    const byDesign = autoscaled && path === 'spec.replicas' ? DriftClass.Controller : DriftClass.Us;
    out.set(path, {
      wanted,
      why: own.notes.find((n) => n.startsWith(name)) ?? `${name} left to its owner`,
      class: byDesign,
    });
  }
  return out;
}

function get(obj: unknown, keys: readonly string[]): unknown {
  let cur = obj;
  for (const k of keys) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

function valueAt(obj: unknown, steps: readonly ({ key: string } | { index: number })[]): unknown {
  let cur = obj;
  for (const s of steps) {
    if ('key' in s) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[s.key] : undefined;
    else cur = Array.isArray(cur) ? (cur[s.index] as unknown) : undefined;
  }
  return cur;
}

/** Fails with PolicyViolation (nothing written) unless the worker's policy allows writing every object. */
async function guard(gw: KubeGateway, policy: Policy, objects: readonly KubeObject[]): Promise<void> {
  const scopes = await Promise.all(objects.map(async (o) => (await gw.resolve(o.apiVersion, o.kind)).namespaced));
  assertPolicy(policy, objects, scopes);
}
