/**
 * Whether `dist/` is older than `src/`: the tests' global set-up and the monitor benchmark both run the compiled CLI
 * as worker processes and rebuild it first when a source file is newer.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The newest modification time (ms) of any file below `dir`. */
export function newestMtime(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newestMtime(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}

/** True when `file` exists and is at least as new as every file of `<root>/src`. */
export function builtFromCurrentSources(root: string, file: string): boolean {
  return existsSync(file) && statSync(file).mtimeMs >= newestMtime(join(root, 'src'));
}
