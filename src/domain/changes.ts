/**
 * Change detection between a live object and the result of a server-side dry-run apply: which fields would
 * change. Fields the server manages (resourceVersion, managedFields, generation, timestamps, status) are
 * ignored, so re-applying the same manifest reports `unchanged` and is not written.
 * @module
 */

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
