/** The worker image runs with the process settings the monitor benchmark measures (src/worker/process-env.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WORKER_PROCESS_ENV } from '../../src/worker/index.js';

describe('WORKER_PROCESS_ENV', () => {
  it('is exactly the ENV of the Dockerfile besides NODE_ENV', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const env = Object.fromEntries(
      [...dockerfile.matchAll(/^ENV ([A-Z_]+)=(.*)$/gm)]
        .map((m) => [m[1] ?? '', (m[2] ?? '').trim()])
        .filter(([k]) => k !== 'NODE_ENV'),
    );
    expect(env).toEqual(WORKER_PROCESS_ENV);
  });
});
