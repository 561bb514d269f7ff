/**
 * Autoscaler awareness: who owns a workload's replica count, and what a deploy or a scale may write.
 *
 * Contract (pure, no I/O, safe in workflow code):
 * - {@link autoscalerOf} reads a HorizontalPodAutoscaler (`autoscaling/v1|v2`) or a KEDA `ScaledObject` into one
 *   {@link Autoscaler} shape (target, bounds); {@link autoscalerFor} finds the one targeting a workload.
 * - {@link planOwnership} decides, for one object about to be server-side applied, what the apply carries:
 *   - a Deployment/StatefulSet an autoscaler targets never carries `spec.replicas` (the autoscaler owns it). When our
 *     field manager still owns the field from an earlier deploy, a replicas-only object is applied first under
 *     {@link HANDOVER_FIELD_MANAGER} with the live count, as the Kubernetes server-side-apply documentation's
 *     "transferring ownership" section does with `handover-to-hpa`: the field then keeps its value when our apply
 *     drops it, instead of falling back to the default of 1, and the handover manager's claim disappears at the
 *     autoscaler's next write.
 *   - a count that `scale` set (a replica count, an autoscaler's bounds: the {@link SCALED_FIELDS}) is kept by a deploy
 *     of the same manifests: the applied object carries the live value (so the apply co-owns it instead of
 *     conflicting). Only when the manifests changed that field since the last deploy (recorded in the
 *     {@link DECLARED_ANNOTATION} annotation every deploy writes) does the deploy take it back (`takeBack`, applied
 *     with force once a forced dry-run proves that nothing else would be taken: see {@link stolenFields}). A
 *     `spec.replicas` last written by an autoscaler that no longer targets the workload is taken back too.
 *   Every decision comes with a note for the plan and the report.
 * - {@link decideAutoscaledScale} turns "scale this autoscaled workload to N" into new autoscaler bounds, a forced
 *   scale to zero, or a refusal naming the autoscaler.
 * @module
 */
import type { KubeObject } from '../schemas/kube-object.js';

/** The field manager of every deploy apply (`FIELD_MANAGER` of `kube/gateway`; the same string). */
export const DEPLOY_FIELD_MANAGER = 'kube-workflows';
/**
 * The field manager `scale` writes an autoscaler's bounds with (server-side apply, force). A separate name from the
 * deploy's, so a deploy can tell a count an operator set through `scale` from one its own manifests set; replica
 * counts written through the scale subresource appear as `kube-workflows` with operation `Update`.
 */
export const SCALE_FIELD_MANAGER = 'kube-workflows-scale';
/** The temporary field manager of the replicas handover (the Kubernetes docs call theirs `handover-to-hpa`). */
export const HANDOVER_FIELD_MANAGER = 'kube-workflows-handover';
/**
 * Annotation a deploy writes on objects whose manifests set a {@link SCALED_FIELDS} field: the values the manifests
 * declared, as JSON (`{"spec.replicas":3}`), so the next deploy can tell "the manifests changed the count" from
 * "an operator scaled it since".
 */
export const DECLARED_ANNOTATION = 'kube-workflows.dev/declared';

/** Fields an operator changes with `scale`, per kind (dotted paths). */
export const SCALED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec.replicas'],
  StatefulSet: ['spec.replicas'],
  HorizontalPodAutoscaler: ['spec.minReplicas', 'spec.maxReplicas'],
  ScaledObject: ['spec.minReplicaCount', 'spec.maxReplicaCount'],
};

/** Workload kinds whose `spec.replicas` an autoscaler may own. */
export const AUTOSCALED_KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet']);

/** How each autoscaler kind spells its bounds, with their defaults. */
const AUTOSCALER_SHAPES = {
  HorizontalPodAutoscaler: {
    group: 'autoscaling',
    min: 'minReplicas',
    max: 'maxReplicas',
    defaultMin: 1,
    defaultMax: undefined,
  },
  ScaledObject: { group: 'keda.sh', min: 'minReplicaCount', max: 'maxReplicaCount', defaultMin: 0, defaultMax: 100 },
} as const;

/** The autoscaler kinds we know. */
export type AutoscalerKind = keyof typeof AUTOSCALER_SHAPES;

/** An autoscaler as far as deploy and scale care: what it targets and between which bounds. */
export interface Autoscaler {
  apiVersion: string;
  kind: AutoscalerKind;
  namespace: string;
  name: string;
  /** The workload it scales (`scaleTargetRef`; a ScaledObject's kind defaults to Deployment). */
  target: { kind: string; name: string };
  minReplicas: number;
  maxReplicas: number;
}

/** The bound field names of an autoscaler kind (`minReplicas`/`maxReplicas`, `minReplicaCount`/…). */
export function boundFieldsOf(kind: AutoscalerKind): { min: string; max: string } {
  const shape = AUTOSCALER_SHAPES[kind];
  return { min: shape.min, max: shape.max };
}

type Dict = Readonly<Record<string, unknown>>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);
const dict = (v: unknown): Dict => (isDict(v) ? v : {});
const intOr = (v: unknown, fallback: number | undefined): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) ? v : fallback;

/**
 * The autoscaler an object is, or undefined: a HorizontalPodAutoscaler of the `autoscaling` group or a KEDA
 * ScaledObject (`keda.sh`) with a `scaleTargetRef.name` and a namespace.
 */
export function autoscalerOf(obj: unknown): Autoscaler | undefined {
  if (!isDict(obj)) return undefined;
  const kind = obj['kind'];
  const apiVersion = typeof obj['apiVersion'] === 'string' ? obj['apiVersion'] : '';
  if (kind !== 'HorizontalPodAutoscaler' && kind !== 'ScaledObject') return undefined;
  const shape = AUTOSCALER_SHAPES[kind];
  if (apiVersion.split('/')[0] !== shape.group) return undefined;
  const meta = dict(obj['metadata']);
  const spec = dict(obj['spec']);
  const ref = dict(spec['scaleTargetRef']);
  const name = meta['name'];
  const namespace = meta['namespace'];
  const targetName = ref['name'];
  if (typeof name !== 'string' || typeof namespace !== 'string' || typeof targetName !== 'string') return undefined;
  const targetKind = typeof ref['kind'] === 'string' ? ref['kind'] : 'Deployment';
  const minReplicas = intOr(spec[shape.min], shape.defaultMin) ?? shape.defaultMin;
  const maxReplicas = intOr(spec[shape.max], shape.defaultMax) ?? minReplicas;
  return {
    apiVersion,
    kind,
    namespace,
    name,
    target: { kind: targetKind, name: targetName },
    minReplicas,
    maxReplicas,
  };
}

/** An autoscaler without its target: what `scale` knows of it (`readScale`'s answer). */
export type AutoscalerBoundsOf = Pick<Autoscaler, 'kind' | 'namespace' | 'name' | 'minReplicas' | 'maxReplicas'>;

/** `HorizontalPodAutoscaler shop/web (2–10)`: how notes and messages name an autoscaler. */
export function describeAutoscaler(a: AutoscalerBoundsOf): string {
  return `${a.kind} ${a.namespace}/${a.name} (${a.minReplicas}–${a.maxReplicas})`;
}

/**
 * The autoscaler targeting a workload (same namespace, kind and name), or undefined. When several do (a
 * misconfiguration the HPA controller itself reports as `AmbiguousSelector`), the first by kind then name.
 */
export function autoscalerFor(
  workload: { kind: string; metadata: { name: string; namespace?: string | undefined } },
  autoscalers: readonly Autoscaler[],
): Autoscaler | undefined {
  if (!AUTOSCALED_KINDS.has(workload.kind)) return undefined;
  return autoscalers
    .filter(
      (a) =>
        a.namespace === workload.metadata.namespace &&
        a.target.kind === workload.kind &&
        a.target.name === workload.metadata.name,
    )
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name))[0];
}

/**
 * The autoscalers that count for a deploy: those among its own objects (what they will be) and the live ones not
 * replaced by one of them (same kind, namespace and name).
 */
export function mergeAutoscalers(fromManifests: readonly Autoscaler[], live: readonly Autoscaler[]): Autoscaler[] {
  const key = (a: Autoscaler): string => `${a.kind}/${a.namespace}/${a.name}`;
  const declared = new Set(fromManifests.map(key));
  return [...fromManifests, ...live.filter((a) => !declared.has(key(a)))];
}

// ---------------------------------------------------------------------------------------------------------------
// managedFields
// ---------------------------------------------------------------------------------------------------------------

/** One `metadata.managedFields` entry with its fields as dotted paths (`spec.replicas`, `spec.template.…`). */
export interface ManagedFieldsEntry {
  manager: string;
  operation: string;
  subresource: string | undefined;
  fields: ReadonlySet<string>;
}

/** The object's `metadata.managedFields`, each entry's `fieldsV1` flattened to the dotted paths of its leaves. */
export function managedFieldsOf(obj: unknown): ManagedFieldsEntry[] {
  const entries = dict(dict(obj)['metadata'])['managedFields'];
  if (!Array.isArray(entries)) return [];
  return entries.filter(isDict).map((e) => {
    const fields = new Set<string>();
    flatten(e['fieldsV1'], '', fields);
    return {
      manager: typeof e['manager'] === 'string' ? e['manager'] : '',
      operation: typeof e['operation'] === 'string' ? e['operation'] : '',
      subresource: typeof e['subresource'] === 'string' && e['subresource'] !== '' ? e['subresource'] : undefined,
      fields,
    };
  });
}

/** fieldsV1 keys: `f:name` (a field), `k:{…}` / `v:…` / `i:N` (list items), `.` (the node itself). */
function flatten(node: unknown, prefix: string, out: Set<string>): void {
  if (!isDict(node)) return;
  const keys = Object.keys(node).filter((k) => k !== '.');
  if (keys.length === 0 || '.' in node) {
    if (prefix) out.add(prefix);
  }
  for (const key of keys) {
    const part = key.startsWith('f:') ? key.slice(2) : key;
    flatten(node[key], prefix ? `${prefix}.${part}` : part, out);
  }
}

/** The entries owning a field (dotted path). */
export function ownersOf(obj: unknown, path: string): ManagedFieldsEntry[] {
  return managedFieldsOf(obj).filter((e) => e.fields.has(path));
}

/** `kube-workflows` with operation `Apply`: a deploy's own claim. */
export function isDeployOwner(e: ManagedFieldsEntry): boolean {
  return e.manager === DEPLOY_FIELD_MANAGER && e.operation === 'Apply';
}

/** A write of `scale`: {@link SCALE_FIELD_MANAGER}, or `kube-workflows` through an Update (the scale subresource). */
export function isScaleOwner(e: ManagedFieldsEntry): boolean {
  return e.manager === SCALE_FIELD_MANAGER || (e.manager === DEPLOY_FIELD_MANAGER && e.operation === 'Update');
}

/** The autoscaler's writes: the HPA controller (kube-controller-manager) or KEDA, through the scale subresource. */
function isAutoscalerOwner(e: ManagedFieldsEntry): boolean {
  return e.subresource === 'scale' && e.manager !== DEPLOY_FIELD_MANAGER;
}

/**
 * Fields that applying with force would take from other field managers: those some entry of `live` owns (other than
 * our deploy's own) that the same entry no longer owns in `forced` (the result of a forced dry-run). Entries are
 * matched by manager, operation and subresource. Sorted dotted paths.
 */
export function stolenFields(live: unknown, forced: unknown): string[] {
  const id = (e: ManagedFieldsEntry): string => `${e.manager}\n${e.operation}\n${e.subresource ?? ''}`;
  const after = new Map(managedFieldsOf(forced).map((e) => [id(e), e.fields]));
  const out = new Set<string>();
  for (const e of managedFieldsOf(live)) {
    if (isDeployOwner(e)) continue;
    const kept = after.get(id(e)) ?? new Set<string>();
    for (const f of e.fields) if (!kept.has(f)) out.add(f);
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Deploy: what an apply carries
// ---------------------------------------------------------------------------------------------------------------

/** What to server-side apply for one object, and what to do around it. */
export interface OwnershipPlan {
  /** The object to apply: `spec.replicas` dropped, kept counts substituted, {@link DECLARED_ANNOTATION} set. */
  object: KubeObject;
  /**
   * A replicas-only copy to apply first under {@link HANDOVER_FIELD_MANAGER} (no force; a conflict means the
   * autoscaler claimed the field already, which is the goal), or undefined when no handover is needed.
   */
  handover?: KubeObject | undefined;
  /** Dotted paths the apply may take from `scale` or from a departed autoscaler (with force, once proven). */
  takeBack: string[];
  /** One line per decision, for the plan and the report. */
  notes: string[];
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) cur = dict(cur)[part];
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (!isDict(next)) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

/** The values the last deploy declared, from the live object's {@link DECLARED_ANNOTATION}. */
export function declaredValues(live: unknown): Readonly<Record<string, unknown>> | undefined {
  const raw = dict(dict(dict(live)['metadata'])['annotations'])[DECLARED_ANNOTATION];
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isDict(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** A field value in a note: numbers as they are, anything else as JSON. */
const show = (v: unknown): string => (typeof v === 'number' || typeof v === 'string' ? String(v) : JSON.stringify(v));

/** The field's short name for notes: `replicas`, `minReplicas`, … */
const shortName = (path: string): string => path.split('.').pop() ?? path;

/**
 * Decides what applying `obj` carries (see the module contract), from the live object (absent: it is created) and
 * the autoscaler targeting it (from {@link autoscalerFor}), if any. `obj` is not modified. Mode `restore` (a
 * rollback re-applying a snapshot of the object) only leaves `spec.replicas` to an autoscaler.
 */
export function planOwnership(
  obj: KubeObject,
  live: unknown,
  autoscaler: Autoscaler | undefined,
  mode: 'deploy' | 'restore' = 'deploy',
): OwnershipPlan {
  const fields = SCALED_FIELDS[obj.kind] ?? [];
  if (fields.length === 0 || (mode === 'restore' && autoscaler === undefined)) {
    return { object: obj, takeBack: [], notes: [] };
  }
  const object = structuredClone(obj) as KubeObject & Record<string, unknown>;
  const notes: string[] = [];
  const takeBack: string[] = [];
  let handover: KubeObject | undefined;

  const declared: Record<string, unknown> = {};
  for (const f of fields) {
    const v = getPath(obj, f);
    if (v !== undefined) declared[f] = v;
  }
  // A restore re-applies a snapshot of the live object, annotation included: only the autoscaler rule applies.
  if (mode === 'deploy' && Object.keys(declared).length > 0) {
    object.metadata = {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [DECLARED_ANNOTATION]: JSON.stringify(declared) },
    };
  }

  const previous = declaredValues(live);
  for (const f of fields) {
    const wanted = getPath(obj, f);
    const liveValue = live === undefined ? undefined : getPath(live, f);
    const owners = live === undefined ? [] : ownersOf(live, f);

    if (f === 'spec.replicas' && autoscaler !== undefined) {
      setPath(object, f, undefined);
      const by = describeAutoscaler(autoscaler);
      if (owners.some(isDeployOwner) && typeof liveValue === 'number') {
        handover = {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          metadata: {
            name: obj.metadata.name,
            ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          },
          spec: { replicas: liveValue },
        };
        notes.push(`replicas left to ${by}; handed over at ${liveValue} so dropping the field does not reset it`);
      } else if (wanted !== undefined && liveValue !== undefined && wanted !== liveValue) {
        notes.push(`replicas left to ${by}: it holds ${show(liveValue)}, the manifests say ${show(wanted)}`);
      } else {
        notes.push(`replicas left to ${by}`);
      }
      continue;
    }

    if (mode === 'restore' || wanted === undefined || liveValue === undefined || wanted === liveValue) continue;
    if (owners.some(isDeployOwner)) continue; // our own last apply: an ordinary change
    const scaled = owners.some(isScaleOwner);
    const leftByAutoscaler = f === 'spec.replicas' && owners.some(isAutoscalerOwner);
    if (!scaled && !leftByAutoscaler) continue; // another tool's change: the apply reports its conflict as ever
    const name = shortName(f);
    if (scaled && (previous === undefined || previous[f] === undefined || previous[f] === wanted)) {
      setPath(object, f, liveValue);
      const still = previous?.[f] === undefined ? '' : ' still';
      notes.push(`${name} kept at ${show(liveValue)} (set by scale; the manifests${still} say ${show(wanted)})`);
      continue;
    }
    takeBack.push(f);
    notes.push(
      scaled
        ? `${name} ${show(liveValue)} → ${show(wanted)}: the manifests changed it (was ${show(previous?.[f])}), ` +
            'taking it back from scale'
        : `${name} ${show(liveValue)} → ${show(wanted)}: taken back from an autoscaler that no longer targets it`,
    );
  }
  return { object, ...(handover ? { handover } : {}), takeBack, notes };
}

// ---------------------------------------------------------------------------------------------------------------
// Scale: what `scale` does to an autoscaled workload
// ---------------------------------------------------------------------------------------------------------------

/**
 * How `scale` treats a workload an autoscaler targets: `adjust` (default) changes the autoscaler's bounds,
 * `refuse` fails naming the autoscaler.
 */
export type AutoscalerScalePolicy = 'adjust' | 'refuse';

/** What `scale` does to an autoscaled workload. */
export type AutoscaledScale =
  /** Write the autoscaler's bounds (unchanged when both equal the current ones). */
  | { action: 'bounds'; minReplicas: number; maxReplicas: number; unchanged: boolean; message: string }
  /** Forced to zero: the workload's own count through the scale subresource (the autoscaler stops at 0). */
  | { action: 'replicas'; replicas: number; message: string }
  /** Refused, nothing written. */
  | { action: 'refuse'; message: string };

/**
 * Decides `scale <workload> to target` when `autoscaler` targets the workload:
 * - target 0: refused unless `force` (an HPA stops at 0 replicas — `ScalingActive=False ScalingDisabled` — and never
 *   scales the workload up again, silently); with `force`, the workload is scaled to 0 and the autoscaler is left
 *   as it is (scaling back up later re-enables it);
 * - policy `refuse`: refused, naming the autoscaler and how to proceed;
 * - otherwise the autoscaler's floor moves to the target: `minReplicas = target`, `maxReplicas = max(current max,
 *   target)`. The autoscaler then keeps scaling between them on its metrics: the workload runs at least `target`
 *   replicas, more under load.
 */
export function decideAutoscaledScale(input: {
  subject: string;
  autoscaler: AutoscalerBoundsOf;
  target: number;
  policy: AutoscalerScalePolicy;
  force: boolean;
}): AutoscaledScale {
  const { subject, autoscaler, target, policy, force } = input;
  const by = describeAutoscaler(autoscaler);
  if (target === 0) {
    if (!force) {
      return {
        action: 'refuse',
        message:
          `${subject} is autoscaled by ${by}: scaling it to 0 would switch the autoscaler off silently (it stops ` +
          'at 0 replicas and never scales up again); nothing was written. Scale with force to do it anyway, or ' +
          `delete the ${autoscaler.kind} first`,
      };
    }
    return {
      action: 'replicas',
      replicas: 0,
      message: `${subject} scaled to 0 (forced): ${by} is switched off until the workload is scaled up again`,
    };
  }
  if (policy === 'refuse') {
    return {
      action: 'refuse',
      message:
        `${subject} is autoscaled by ${by}: its replica count belongs to the ${autoscaler.kind}; nothing was ` +
        `written. Scale with hpa: 'adjust' (CLI --hpa adjust) to move the ${autoscaler.kind}'s bounds instead`,
    };
  }
  const minReplicas = target;
  const maxReplicas = Math.max(autoscaler.maxReplicas, target);
  const unchanged = minReplicas === autoscaler.minReplicas && maxReplicas === autoscaler.maxReplicas;
  const range = `${autoscaler.minReplicas}–${autoscaler.maxReplicas} → ${minReplicas}–${maxReplicas}`;
  return {
    action: 'bounds',
    minReplicas,
    maxReplicas,
    unchanged,
    message: `${subject} is autoscaled: ${autoscaler.kind} ${autoscaler.namespace}/${autoscaler.name} bounds ${range}`,
  };
}
