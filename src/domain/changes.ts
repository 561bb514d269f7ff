/**
 * Change detection between a live object and the result of a server-side dry-run apply: which fields would
 * change, and from which value to which ({@link changedValues}, bounded, Secrets redacted). Fields the server manages
 * (resourceVersion, managedFields, generation, timestamps, status) are ignored, so re-applying the same manifest
 * reports `unchanged` and is not written. The leaf-by-leaf engine ({@link valueDifferences}) is shared with drift
 * detection (`domain/drift`).
 * @module
 */
import { isSecret } from './secrets.js';

/** Metadata fields that change on every write and say nothing about drift. */
const VOLATILE_METADATA = ['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid', 'selfLink'];

/** At most this many changed paths are listed per object. */
export const MAX_CHANGED_PATHS = 20;

/**
 * Field paths (`spec.template.spec.containers[0].image`) whose values differ between `live` and `desired`
 * (the dry-run result), ignoring volatile metadata and status. Empty when nothing would change.
 */
export function changedPaths(live: unknown, desired: unknown): string[] {
  const out: string[] = [];
  diff(normalize(live), normalize(desired), '', out);
  return out.length > MAX_CHANGED_PATHS
    ? [...out.slice(0, MAX_CHANGED_PATHS), `… ${out.length - MAX_CHANGED_PATHS} more`]
    : out;
}

function normalize(obj: unknown): unknown {
  if (!obj || typeof obj !== 'object') return obj;
  const copy = { ...(obj as Record<string, unknown>) };
  delete copy.status;
  const meta = copy.metadata;
  if (meta && typeof meta === 'object') {
    const m = { ...(meta as Record<string, unknown>) };
    for (const k of VOLATILE_METADATA) delete m[k];
    copy.metadata = m;
  }
  return copy;
}

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (a === b) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      out.push(path || '.');
      return;
    }
    a.forEach((x, i) => diff(x, b[i], `${path}[${i}]`, out));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
      diff(ao[k], bo[k], path ? `${path}.${k}` : k, out);
    }
    return;
  }
  out.push(path || '.');
}

/**
 * A short fingerprint of what a live object says, ignoring status and server bookkeeping (resourceVersion,
 * managedFields, generation): it changes when someone edits the object's spec, labels, annotations or data, not
 * when a controller updates its status. Used to tell whether the cluster moved between a plan and its approval.
 */
export function liveFingerprint(live: unknown): string {
  return fnv1a(stableJson(normalize(live)));
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * A short stable id of a plan (FNV-1a over each entry's subject, action and changed paths). An approval names
 * the plan it approves; when the cluster changed and the plan was recomputed, an old approval no longer matches.
 */
export function planId(
  entries: readonly { subject: string; action: string; changes?: readonly string[] | undefined }[],
): string {
  const text = entries.map((e) => `${e.subject}|${e.action}|${(e.changes ?? []).join(',')}`).join('\n');
  return `plan-${fnv1a(text)}-${entries.length}`;
}

/** Longest value shown in a plan, a drift report or an alert; longer ones end with `…`. */
export const MAX_VALUE_LENGTH = 80;
/** What a value that is not there shows as. */
export const ABSENT = '(absent)';
/** What a Secret's values show as in a plan. */
export const REDACTED_VALUE = '(redacted)';

/** One step of a field path: a map key, or a list item with its position and value. */
export type PathStep = { key: string } | { index: number; item: unknown };

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A path as people read it: `spec.template.spec.containers[0].image`. */
export function formatPath(steps: readonly PathStep[]): string {
  let out = '';
  for (const s of steps) out += 'key' in s ? (out ? `.${s.key}` : s.key) : `[${s.index}]`;
  return out || '.';
}

/** A value as a report shows it: scalars as they are, objects as JSON, at most `max` characters. */
export function formatValue(value: unknown, max = MAX_VALUE_LENGTH): string {
  if (value === undefined) return ABSENT;
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

/** One differing leaf between two objects, with both raw values. */
export interface ValueDifference {
  steps: PathStep[];
  /** The value in the first object (the live one for a plan; the desired one for drift). */
  a: unknown;
  /** The value in the second object. */
  b: unknown;
}

/**
 * Every leaf that differs between `a` and `b` (status and server bookkeeping ignored). Lists of different lengths
 * differ as a whole; items of lists of the same length are compared one by one. The item values in list steps are
 * taken from `a` (the live object, whose managedFields name the owners).
 */
export function valueDifferences(a: unknown, b: unknown): ValueDifference[] {
  const out: ValueDifference[] = [];
  walk(normalize(a), normalize(b), [], out);
  return out;
}

function walk(a: unknown, b: unknown, steps: PathStep[], out: ValueDifference[]): void {
  if (a === b) return;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => walk(x, b[i], [...steps, { index: i, item: x }], out));
    return;
  }
  if (isDict(a) && isDict(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], [...steps, { key: k }], out);
    return;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  out.push({ steps, a, b });
}

/** One changed field with its old and new value, as a plan shows it: `{ path, from, to }`. */
export interface ChangedValue {
  /** `spec.template.spec.containers[0].image`; a list that changed length is one entry. */
  path: string;
  /** Live value (shown truncated to {@link MAX_VALUE_LENGTH}; `(absent)` when not there; redacted for Secrets). */
  from: string;
  /** Value after the apply (same rules). */
  to: string;
}

/**
 * The changed fields between `live` and `desired` (the dry-run result) with old and new values, in the order and
 * under the bound of {@link changedPaths} (the last entry counts the rest). A Secret's values are never shown
 * (`(redacted)`; metadata is shown as for any object).
 */
export function changedValues(live: unknown, desired: unknown): ChangedValue[] {
  const secret = isSecretLike(desired) || isSecretLike(live);
  const show = (path: string, v: unknown): string =>
    secret && !path.startsWith('metadata') && v !== undefined ? REDACTED_VALUE : formatValue(v);
  const diffs = valueDifferences(live, desired);
  const out = diffs.slice(0, MAX_CHANGED_PATHS).map((d) => {
    const path = formatPath(d.steps);
    return { path, from: show(path, d.a), to: show(path, d.b) };
  });
  if (diffs.length > MAX_CHANGED_PATHS) {
    out.push({ path: `… ${diffs.length - MAX_CHANGED_PATHS} more`, from: '', to: '' });
  }
  return out;
}

function isSecretLike(obj: unknown): boolean {
  if (!isDict(obj) || typeof obj['kind'] !== 'string' || typeof obj['apiVersion'] !== 'string') return false;
  return isSecret({ kind: obj['kind'], apiVersion: obj['apiVersion'], metadata: { name: '' } });
}
