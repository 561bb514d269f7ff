/**
 * Drift detection, the pure part: which fields of a live object differ from what applying the app's manifests would
 * make of it, who set each of them (through `metadata.managedFields`), what the policy does about it, and how it
 * reads in a report or an alert.
 *
 * Contract (no I/O, safe in workflow code):
 * - {@link driftedFields} compares a live object with the result of a server-side dry-run apply of the desired
 *   object (our field manager). The dry-run merges our manifest into the live object, so fields the manifest does not
 *   set (defaults, fields a mutating webhook adds, status) come back as they are live and never count as drift: the
 *   false drift Argo CD and Flux users complain about. Each differing leaf becomes a {@link DriftField} with its old
 *   (desired) and new (live) value, truncated to {@link MAX_DRIFT_VALUE_LENGTH} characters, and redacted for Secrets.
 * - {@link fieldOwners} walks every managedFields entry's `fieldsV1` along the field's path (keys `f:`, list items
 *   `k:{…}` / `v:…` / `i:N`; an empty node owns the whole atomic value below it).
 * - {@link classifyManager} sorts a field manager into {@link DriftClass}: `us` (kube-workflows' own managers), a known
 *   `controller` ({@link CONTROLLER_MANAGERS}), a `human` tool ({@link HUMAN_MANAGERS}) or `unknown`; a field has the
 *   class of its most telling owner ({@link classOfOwners}: human, then controller, unknown, us).
 * - {@link actionFor} applies the per-class {@link DriftPolicy}; `correct` never applies to a field left to an
 *   autoscaler or to `scale` on purpose (the deploy itself would not write it).
 * - {@link driftDedupKey} is a stable key over the drift's content, so the same drift alerts under the same key.
 * @module
 */
import {
  ABSENT,
  formatPath,
  formatValue,
  liveFingerprint,
  MAX_VALUE_LENGTH,
  valueDifferences,
  type PathStep,
} from './changes.js';
import type { DeployManifestsOptions } from '../schemas/deploy.js';
import { prepareObjects } from './deploy-input.js';
import type { ParseResult } from './manifests.js';

export { ABSENT, formatValue, type PathStep };

/** Who set a drifted field. */
export const DriftClass = {
  /** kube-workflows itself (a deploy, `scale`, the replicas handover): the manifests changed since the last deploy. */
  Us: 'us',
  /** A controller that owns the field by design (the HPA controller, VPA, cert-manager, KEDA, …). */
  Controller: 'controller',
  /** A person through a tool: `kubectl edit`, `kubectl scale`, `kubectl patch`, client-side apply, … */
  Human: 'human',
  /** Nobody we recognise, or nobody at all (a field someone removed: no manager owns it any more). */
  Unknown: 'unknown',
} as const;
/** One of {@link DriftClass}. */
export type DriftClass = (typeof DriftClass)[keyof typeof DriftClass];

/** What a policy does about a class of drift. */
export type DriftAction = 'ignore' | 'alert' | 'correct';

/** The action per class. */
export type DriftPolicy = Readonly<Record<DriftClass, DriftAction>>;

/** Default policy: our own and controllers' writes are ignored, people's and strangers' are alerted. */
export const DEFAULT_DRIFT_POLICY: DriftPolicy = {
  us: 'ignore',
  controller: 'ignore',
  human: 'alert',
  unknown: 'alert',
};

/** Field managers of kube-workflows itself (`kube/gateway` FIELD_MANAGER and the `domain/autoscaler` ones). */
export const OUR_MANAGERS: ReadonlySet<string> = new Set([
  'kube-workflows',
  'kube-workflows-scale',
  'kube-workflows-handover',
]);

/**
 * Field managers of controllers, as the API server records them. On the local stack (kube-apiserver and
 * kube-controller-manager v1.34) the HPA controller writes `spec.replicas` through the scale subresource as
 * `kube-controller-manager` (operation Update, subresource `scale`); the Deployment and ReplicaSet controllers and
 * the scheduler appear as `kube-controller-manager` and `kube-scheduler`. The rest are the names those projects'
 * controllers set (their user agents).
 */
export const CONTROLLER_MANAGERS: readonly string[] = [
  'kube-controller-manager',
  'kube-scheduler',
  'kube-apiserver',
  'kubelet',
  'vpa-updater',
  'vpa-recommender',
  'vpa-admission-controller',
  'cert-manager',
  'cert-manager-cainjector',
  'cert-manager-controller',
  'cert-manager-certificates-issuing',
  'keda-operator',
  'keda',
  'argocd-controller',
  'argocd-application-controller',
  'kustomize-controller',
  'helm-controller',
  'cluster-autoscaler',
  'karpenter',
];

/**
 * Field managers of tools people run: kubectl records `kubectl-edit`, `kubectl-client-side-apply`, `kubectl-set`,
 * `kubectl-patch`, `kubectl-scale`, `kubectl-label`, `kubectl-annotate`, `kubectl-replace`, `kubectl-create`,
 * `kubectl-rollout`, `kubectl-autoscale` and `kubectl` (server-side apply); Helm 3/4 and k9s record their names.
 */
export const HUMAN_MANAGERS: readonly string[] = ['kubectl', 'helm', 'k9s', 'Lens', 'kubernetes-dashboard'];

/** Longest value shown in a report or an alert; longer ones end with `…` (the plan's limit). */
export const MAX_DRIFT_VALUE_LENGTH = MAX_VALUE_LENGTH;
/** At most this many drifted fields are listed per object; the rest are counted in the last entry. */
export const MAX_DRIFT_FIELDS = 30;
/** What a Secret's values show as. */
export const REDACTED = '(redacted)';

/** The class of one field manager. */
export function classifyManager(manager: string): DriftClass {
  if (OUR_MANAGERS.has(manager)) return DriftClass.Us;
  if (CONTROLLER_MANAGERS.includes(manager) || CONTROLLER_MANAGERS.some((c) => manager.startsWith(`${c}-`)))
    return DriftClass.Controller;
  if (HUMAN_MANAGERS.includes(manager) || HUMAN_MANAGERS.some((h) => manager.startsWith(`${h}-`)))
    return DriftClass.Human;
  return DriftClass.Unknown;
}

/** One managedFields entry owning a field. */
export interface FieldOwner {
  manager: string;
  operation: string;
  subresource?: string | undefined;
  /** When it last wrote (the entry's `time`). */
  time?: string | undefined;
}

/** The class of a field from its owners: a person beats a controller beats a stranger beats us; nobody → unknown. */
export function classOfOwners(owners: readonly FieldOwner[]): DriftClass {
  const classes = new Set(owners.map((o) => classifyManager(o.manager)));
  for (const c of [DriftClass.Human, DriftClass.Controller, DriftClass.Unknown, DriftClass.Us]) {
    if (classes.has(c)) return c;
  }
  return DriftClass.Unknown;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The managedFields entries whose `fieldsV1` owns the field at `steps` (or an atomic value holding it). */
export function fieldOwners(live: unknown, steps: readonly PathStep[]): FieldOwner[] {
  const meta = isDict(live) && isDict(live['metadata']) ? live['metadata'] : {};
  const entries = Array.isArray(meta['managedFields']) ? meta['managedFields'].filter(isDict) : [];
  return entries
    .filter((e) => ownsPath(e['fieldsV1'], steps))
    .map((e) => ({
      manager: typeof e['manager'] === 'string' ? e['manager'] : '',
      operation: typeof e['operation'] === 'string' ? e['operation'] : '',
      ...(typeof e['subresource'] === 'string' && e['subresource'] ? { subresource: e['subresource'] } : {}),
      ...(typeof e['time'] === 'string' ? { time: e['time'] } : {}),
    }));
}

function ownsPath(fieldsV1: unknown, steps: readonly PathStep[]): boolean {
  let node: unknown = fieldsV1;
  for (const step of steps) {
    if (!isDict(node)) return false;
    const keys = Object.keys(node).filter((k) => k !== '.');
    if (keys.length === 0) return true; // an atomic value (a leaf above the path): its owner owns everything in it
    const child = 'key' in step ? node[`f:${step.key}`] : node[listItemKey(node, step)];
    if (child === undefined) return false;
    node = child;
  }
  return isDict(node);
}

/** The fieldsV1 key of a list item: `k:{…}` whose keys all match it, `v:<json>` equal to it, or `i:<index>`. */
function listItemKey(node: Dict, step: { index: number; item: unknown }): string {
  for (const key of Object.keys(node)) {
    if (key.startsWith('k:')) {
      const wanted = parseJson(key.slice(2));
      if (isDict(wanted) && isDict(step.item) && Object.entries(wanted).every(([k, v]) => sameJson(step.item, k, v)))
        return key;
    } else if (key.startsWith('v:')) {
      if (JSON.stringify(parseJson(key.slice(2))) === JSON.stringify(step.item)) return key;
    }
  }
  return `i:${step.index}`;
}

const sameJson = (item: unknown, k: string, v: unknown): boolean =>
  isDict(item) && JSON.stringify(item[k]) === JSON.stringify(v);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** One drifted field, as reports and alerts show it. */
export interface DriftField {
  /** `spec.replicas`, `spec.template.spec.containers[0].image`. */
  path: string;
  /** What applying the manifests makes of it (the value we set), shown truncated; `(absent)` when not there. */
  from: string;
  /** What it is live, shown truncated. */
  to: string;
  /** Who owns the live value (managedFields entries), most recent first. */
  owners: FieldOwner[];
  /** Who set it, from its owners. */
  class: DriftClass;
  /** What the policy does about it. */
  action: DriftAction;
  /**
   * Why it is never corrected although the policy says so: left to an autoscaler or to `scale` by design, as a
   * deploy leaves it.
   */
  leftTo?: string | undefined;
}

/** Options of {@link driftedFields}. */
export interface DriftFieldsOptions {
  /** The object is a Secret: values are never shown. */
  redact?: boolean;
  policy?: DriftPolicy;
  /**
   * Fields a deploy leaves to others (`domain/autoscaler` planOwnership drops or keeps them): dotted path → the
   * manifest's value, why, and whose it is by design (`controller` for an autoscaler, `us` for `scale`). They are
   * compared with the manifest's value and never corrected. Their class comes from managedFields when an entry owns
   * them, else from that design: the API server does not always record the owner of a count written through the
   * scale subresource (seen on the local stack: the HPA controller's write left no managedFields entry).
   */
  leftToOthers?: ReadonlyMap<string, { wanted: unknown; why: string; class: DriftClass }>;
}

/**
 * The drifted fields of one object: every leaf where the live object differs from `wouldBe` (what the server-side
 * dry-run of the desired object returned), plus the fields left to others whose live value differs from the
 * manifest's. At most {@link MAX_DRIFT_FIELDS}.
 */
export function driftedFields(
  live: unknown,
  wouldBe: unknown,
  options: DriftFieldsOptions = {},
): (DriftField & { steps: PathStep[] })[] {
  const policy = options.policy ?? DEFAULT_DRIFT_POLICY;
  const show = (v: unknown): string => (options.redact && v !== undefined ? REDACTED : formatValue(v));
  const fields = valueDifferences(wouldBe, live).map((d): DriftField & { steps: PathStep[] } => {
    const steps = stepsOn(live, d.steps);
    const owners = byRecency(fieldOwners(live, steps));
    const cls = classOfOwners(owners);
    const action = policy[cls];
    return { path: formatPath(d.steps), from: show(d.a), to: show(d.b), owners, class: cls, action, steps };
  });
  for (const [path, { wanted, why, class: byDesign }] of options.leftToOthers ?? []) {
    const steps = path.split('.').map((key) => ({ key }));
    const liveValue = getSteps(live, steps);
    if (wanted === undefined || JSON.stringify(liveValue) === JSON.stringify(wanted)) continue;
    if (fields.some((f) => f.path === path)) continue;
    const owners = byRecency(fieldOwners(live, steps));
    const cls = owners.length ? classOfOwners(owners) : byDesign;
    const action = policy[cls] === 'correct' ? 'alert' : policy[cls];
    fields.push({ path, from: show(wanted), to: show(liveValue), owners, class: cls, action, leftTo: why, steps });
  }
  return fields.slice(0, MAX_DRIFT_FIELDS);
}

/** The same path with list items taken from `obj` (the live object), for matching managedFields keys. */
function stepsOn(obj: unknown, steps: readonly PathStep[]): PathStep[] {
  const out: PathStep[] = [];
  let cur: unknown = obj;
  for (const s of steps) {
    if ('key' in s) {
      out.push(s);
      cur = isDict(cur) ? cur[s.key] : undefined;
    } else {
      const item = Array.isArray(cur) ? (cur[s.index] as unknown) : s.item;
      out.push({ index: s.index, item });
      cur = item;
    }
  }
  return out;
}

function getSteps(obj: unknown, steps: readonly PathStep[]): unknown {
  let cur = obj;
  for (const s of steps) {
    if ('key' in s) cur = isDict(cur) ? cur[s.key] : undefined;
    else cur = Array.isArray(cur) ? (cur[s.index] as unknown) : undefined;
  }
  return cur;
}

function byRecency(owners: FieldOwner[]): FieldOwner[] {
  return [...owners].sort((x, y) => (y.time ?? '').localeCompare(x.time ?? ''));
}

/** The action for a field under `policy` (a field left to others is alerted at most, never corrected). */
export function actionFor(field: Pick<DriftField, 'class' | 'leftTo'>, policy: DriftPolicy): DriftAction {
  const action = policy[field.class];
  return field.leftTo && action === 'correct' ? 'alert' : action;
}

/** A drifted field in one line: `spec.replicas: 3 → 5 (kubectl-edit, human)`. */
export function describeField(f: Pick<DriftField, 'path' | 'from' | 'to' | 'owners' | 'class'>): string {
  const by = f.owners[0]?.manager;
  return `${f.path}: ${f.from} → ${f.to} (${by ? `${by}, ` : ''}${f.class})`;
}

/**
 * A stable alert key for a set of drifted fields: `drift/<cluster>/<namespace>/<app>/<hash>`, the hash over each
 * field's subject, path, live value and class, so the same drift gives the same key, and any change a new one. At
 * most 255 characters (PagerDuty's limit).
 */
export function driftDedupKey(
  scope: { cluster: string; namespace: string; app: string },
  items: readonly { subject: string; path: string; to: string; class: string }[],
): string {
  const content = items.map((i) => `${i.subject}|${i.path}|${i.to}|${i.class}`).sort();
  return `drift/${scope.cluster}/${scope.namespace}/${scope.app}/${liveFingerprint(content)}`.slice(0, 255);
}

/**
 * What a correction applies for an object: the desired object with each drifted field that is not to be corrected
 * set to its live value (absent: left out), so the forced apply takes back only the corrected fields and shares the
 * others with their owners without changing them. A field inside a list cannot be kept alone (list positions in
 * the merged result need not be the manifest's): then `undefined`, the object is not corrected and the report says
 * why.
 */
export function correctionObject<T extends object>(
  desired: T,
  keep: readonly { steps: readonly PathStep[]; live: unknown }[],
): T | undefined {
  if (keep.some((k) => k.steps.some((s) => !('key' in s)))) return undefined;
  const copy = structuredClone(desired) as Dict;
  for (const { steps, live } of keep) {
    const keys = steps.map((s) => ('key' in s ? s.key : ''));
    let cur: Dict = copy;
    for (const key of keys.slice(0, -1)) {
      if (!isDict(cur[key])) cur[key] = {};
      cur = cur[key] as Dict;
    }
    const last = keys[keys.length - 1] as string;
    if (live === undefined) delete cur[last];
    else cur[last] = structuredClone(live);
  }
  return copy as T;
}

/** A drifted field without its internal path steps (what reports carry). */
export function withoutSteps(f: DriftField & { steps?: PathStep[] }): DriftField {
  const { steps: _steps, ...rest } = f;
  return rest;
}

/** The manifest fields a drift input shares with a deploy input. */
export type DesiredManifests = Pick<DeployManifestsOptions, 'manifests' | 'sources' | 'objects' | 'compressed'> & {
  namespace?: string | undefined;
  app: string;
};

/**
 * The desired objects of a drift scan, parsed, validated and labelled with the app exactly as a deploy of the same
 * manifests prepares them (`domain/deploy-input`), so the dry-run compares what a deploy would apply.
 */
export function prepareDesired(input: DesiredManifests): ParseResult {
  // prepareObjects reads only the manifest fields and the namespace of a deploy input.
  return prepareObjects(input as DeployManifestsOptions, input.app);
}

/** Workflow id of a drift scan: `drift/<cluster>/<namespace>/<app>` (one scan of an app at a time). */
export function driftWorkflowId(parts: { cluster: string; namespace: string; app: string }): string {
  return `drift/${parts.cluster}/${parts.namespace}/${parts.app}`;
}
