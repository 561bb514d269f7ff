/**
 * Reads `-f` arguments: files, folders (their *.yaml, *.yml, *.json files, sorted, not recursive) and `-` (stdin).
 * @module
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';

/** One manifest text and where it came from. */
export interface LoadedSource {
  name: string;
  text: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Loads every `-f` path in order. Throws with the path when one cannot be read. */
export async function loadManifestSources(
  paths: readonly string[],
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<LoadedSource[]> {
  const out: LoadedSource[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ name: '<stdin>', text: await text(stdin) });
      continue;
    }
    let info;
    try {
      info = await stat(p);
    } catch {
      throw new Error(`-f ${p}: no such file or folder`);
    }
    if (info.isDirectory()) {
      const names = (await readdir(p)).filter((n) => MANIFEST_FILE.test(n)).sort();
      if (!names.length) throw new Error(`-f ${p}: the folder holds no .yaml, .yml or .json file`);
      for (const n of names) out.push({ name: join(p, n), text: await readFile(join(p, n), 'utf8') });
    } else {
      out.push({ name: p, text: await readFile(p, 'utf8') });
    }
  }
  return out;
}
