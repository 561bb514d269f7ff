/**
 * Replays every committed workflow history (test/fixtures/histories, recorded from the integration tests with
 * RECORD_HISTORIES=1) against the current workflow code. A change that adds, removes or reorders awaited
 * commands without `patched()` makes this fail, before it can break workflows running in production.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../../src/worker/workflow-code.js';

const dir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed
}

describe('replay of committed histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)('%s replays deterministically on the current workflow code', async (file) => {
    // The worker converts proto3 JSON (as `temporal workflow show -o json` prints it) itself.
    const history: unknown = JSON.parse(readFileSync(`${dir}${file}`, 'utf8'));
    await expect(Worker.runReplayHistory({ workflowsPath: workflowsPath() }, history, file)).resolves.toBeUndefined();
  });
});
