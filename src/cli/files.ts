/**
 * Reads `-f` arguments as kubectl does: files, folders (their *.yaml, *.yml, *.json files, sorted; `-R` /
 * `recursive` descends), glob patterns (`k8s/*.yaml`, `overlays/**\/*.yml`, `?` for one character; quoted so the
 * shell leaves them alone) and `-` (stdin).
 * @module
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { text } from 'node:stream/consumers';

/** One manifest text and where it came from. */
export interface LoadedSource {
  name: string;
  text: string;
}

/** Options of {@link loadManifestSources}. */
export interface LoadOptions {
  /** Descend into sub-folders of folder arguments (kubectl's `-R`). Default false. */
  readonly recursive?: boolean;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;
const GLOB_CHARS = /[*?[]/;

/** Loads every `-f` path in order. Throws with the path when one cannot be read or a pattern matches nothing. */
export async function loadManifestSources(
  paths: readonly string[],
  stdin: NodeJS.ReadableStream = process.stdin,
  options: LoadOptions = {},
): Promise<LoadedSource[]> {
  const out: LoadedSource[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ name: '<stdin>', text: await text(stdin) });
      continue;
    }
    if (GLOB_CHARS.test(p)) {
      const files = (await expandGlob(p)).filter((f) => MANIFEST_FILE.test(f));
      if (!files.length) throw new Error(`-f ${p}: the pattern matches no .yaml, .yml or .json file`);
      for (const f of files) out.push({ name: f, text: await readFile(f, 'utf8') });
      continue;
    }
    let info;
    try {
      info = await stat(p);
    } catch {
      throw new Error(`-f ${p}: no such file or folder`);
    }
    if (info.isDirectory()) {
      const files = await manifestFilesIn(p, options.recursive ?? false);
      if (!files.length) throw new Error(`-f ${p}: the folder holds no .yaml, .yml or .json file`);
      for (const f of files) out.push({ name: f, text: await readFile(f, 'utf8') });
    } else {
      out.push({ name: p, text: await readFile(p, 'utf8') });
    }
  }
  return out;
}

async function manifestFilesIn(dir: string, recursive: boolean): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...(await manifestFilesIn(path, true)));
    } else if (MANIFEST_FILE.test(e.name)) out.push(path);
  }
  return out;
}

/**
 * Expands a glob pattern against the file system: `*` and `?` within one path segment, `**` for any number of
 * segments, `[abc]` character classes. Results are sorted; hidden files match only when the pattern names the dot.
 */
export async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  const start = absolute ? '/' : '.';
  const found = new Set<string>();
  await walk(absolute ? '/' : '', absolute ? segments.slice(1) : segments, found, start);
  return [...found].sort();
}

async function walk(prefix: string, rest: readonly string[], found: Set<string>, base: string): Promise<void> {
  const dir = prefix === '' ? base : prefix;
  if (rest.length === 0) {
    found.add(prefix);
    return;
  }
  const [segment, ...tail] = rest as [string, ...string[]];
  const joinTo = (name: string): string =>
    prefix === '' ? name : prefix.endsWith(sep) ? prefix + name : `${prefix}/${name}`;
  if (segment === '**') {
    await walk(prefix, tail, found, base); // zero segments
    for (const e of await entriesOf(dir)) {
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(joinTo(e.name), rest, found, base);
    }
    return;
  }
  if (!GLOB_CHARS.test(segment)) {
    const next = joinTo(segment);
    if (tail.length === 0) {
      if (await isFile(next)) found.add(next);
    } else await walk(next, tail, found, base);
    return;
  }
  const matcher = segmentMatcher(segment);
  for (const e of await entriesOf(dir)) {
    if (!matcher.test(e.name) || (e.name.startsWith('.') && !segment.startsWith('.'))) continue;
    if (tail.length === 0) {
      if (e.isFile()) found.add(joinTo(e.name));
    } else if (e.isDirectory()) await walk(joinTo(e.name), tail, found, base);
  }
}

function segmentMatcher(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function entriesOf(dir: string) {
  try {
    return (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return [];
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
