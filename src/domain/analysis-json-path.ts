/**
 * The small JSON path of the HTTP analysis provider: where the result sits in a JSON answer. Forms: an optional
 * leading `$` (and optional surrounding `{}` as kubectl writes it), then `.name`, `['name']` / `["name"]`, `[2]`
 * (negative counts from the end), and `[*]` (every element of an array or value of an object; the rest of the path
 * applies to each, and the matches form an array). A leading name needs no dot: `data.items[0].value`.
 *
 * Pure: unit-tested with fixtures; the activity applies it.
 * @module
 */

/** One step of a path. */
export type JsonPathSegment = { key: string } | { index: number } | { wildcard: true };

/** What {@link parseJsonPath} returns. */
export type ParseJsonPathResult = { ok: true; segments: JsonPathSegment[] } | { ok: false; error: string };

/** What {@link selectJsonPath} found: nothing (`found: false`), or a value. */
export type JsonPathMatch = { found: false } | { found: true; value: unknown };

/** Parses a path; the error names the column. */
export function parseJsonPath(text: string): ParseJsonPathResult {
  let s = text.trim();
  let offset = text.indexOf(s);
  if (s.startsWith('{') && s.endsWith('}')) {
    s = s.slice(1, -1);
    offset += 1;
  }
  const segments: JsonPathSegment[] = [];
  let i = 0;
  if (s.startsWith('$')) i = 1;
  const bad = (why: string): ParseJsonPathResult => ({
    ok: false,
    error: `invalid JSON path "${text}": ${why} at column ${offset + i + 1}`,
  });
  const name = /^[A-Za-z_][-A-Za-z0-9_]*/;
  if (i === 0 && s.length && s[0] !== '.' && s[0] !== '[') {
    const m = name.exec(s);
    if (!m) return bad('expected a field name');
    segments.push({ key: m[0] });
    i = m[0].length;
  }
  while (i < s.length) {
    const c = s[i];
    if (c === '.') {
      const m = name.exec(s.slice(i + 1));
      if (!m) return ((i += 1), bad('expected a field name after "."'));
      segments.push({ key: m[0] });
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = s.slice(i);
      const m = /^\[\s*(?:(\*)|(-?\d+)|'([^']*)'|"([^"]*)")\s*\]/.exec(rest);
      if (!m) return bad('expected [n], [*], [\'name\'] or ["name"]');
      if (m[1]) segments.push({ wildcard: true });
      else if (m[2] !== undefined) segments.push({ index: Number(m[2]) });
      else segments.push({ key: (m[3] ?? m[4]) as string });
      i += m[0].length;
    } else {
      return bad(`unexpected "${c}"`);
    }
  }
  return { ok: true, segments };
}

/** Applies parsed segments to a JSON value. A missing field or index is `found: false` (no data), never an error. */
export function selectJsonPath(value: unknown, segments: readonly JsonPathSegment[]): JsonPathMatch {
  let current: unknown[] = [value];
  let spread = false;
  for (const seg of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if ('wildcard' in seg) {
        if (Array.isArray(v)) next.push(...(v as unknown[]));
        else if (v !== null && typeof v === 'object') next.push(...Object.values(v as Record<string, unknown>));
      } else if ('index' in seg) {
        if (Array.isArray(v)) {
          const at = seg.index < 0 ? v.length + seg.index : seg.index;
          if (at >= 0 && at < v.length) next.push(v[at]);
        }
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, seg.key)) {
        next.push((v as Record<string, unknown>)[seg.key]);
      }
    }
    if ('wildcard' in seg) spread = true;
    current = next;
  }
  if (spread) return current.length ? { found: true, value: current } : { found: false };
  return current.length ? { found: true, value: current[0] } : { found: false };
}
