/**
 * Test fixtures too big for git, fetched once by `tools/fetch-fixtures.sh` into the cache outside the repository
 * (`scripts/test.sh` runs it; this runs it too when a test is started on its own, so a missing fixture is fetched,
 * never skipped).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of a fixture. */
export interface FixtureFile {
  name: string;
  text: string;
}

/**
 * The prometheus-operator CRD bundle (10 CustomResourceDefinitions, about 4.6 MB of YAML): a real install above
 * Temporal's 2 MB payload limit. Sorted by file name.
 */
export function prometheusOperatorCrds(): FixtureFile[] {
  const script = fileURLToPath(new URL('../../tools/fetch-fixtures.sh', import.meta.url));
  const dir = execFileSync(script, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }));
}
