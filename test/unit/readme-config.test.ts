/**
 * The README's configuration reference is checked against the zod schemas and the worker's list of environment
 * variables, so a new setting cannot ship undocumented.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WORKER_ENV_VARS, WorkerConfigFile } from '../../src/worker/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const configSection = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operations'));

/** Every key path of an object schema, e.g. `policy.scale.maxReplicas`. */
function keyPaths(schema: z.ZodType, prefix = ''): string[] {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable)
    s = s.unwrap() as z.ZodType;
  if (!(s instanceof z.ZodObject)) return [];
  return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => [
    `${prefix}${k}`,
    ...keyPaths(v, `${prefix}${k}.`),
  ]);
}

describe('README configuration reference', () => {
  it.each([...WORKER_ENV_VARS])('documents the environment variable %s in the table', (name) => {
    expect(configSection).toMatch(new RegExp(`^\\| \`${name}\``, 'm'));
  });

  it.each(keyPaths(WorkerConfigFile).filter((p) => !p.startsWith('clusters.entries')))(
    'documents the file key %s',
    (path) => {
      const last = path.split('.').at(-1) ?? path;
      expect(configSection).toMatch(new RegExp(`\\b${last}:`));
    },
  );
});
