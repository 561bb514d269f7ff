/**
 * Secrets safe by default, against the real local stack with the default configuration (no encryption): a deploy
 * holding a Secret is refused by the client (and the CLI, exit 2) before anything starts; one started around the
 * client, straight through the Temporal client as the Web UI or the `temporal` CLI would, fails in `planDeploy`
 * with a non-retryable PolicyViolation, and the canary value is nowhere in its history except the start input its
 * starter sent: no activity input, result, failure or rollback snapshot holds it. A worker and a client that both
 * opt out deploy it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type proto from '@temporalio/proto';
import { describe, expect, inject, it } from 'vitest';
import { InvalidInputError } from '../../src/client/index.js';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import { canaryNeedles, newCanary } from '../support/canary.js';
import { runCli } from '../support/cli.js';
import { historyPayloads } from '../support/history.js';
import { useHarness } from './harness.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const h = useHarness('secrets');
const optedOut = useHarness('secrets-optout', { env: { KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS: 'true' } });
const dir = mkdtempSync(join(tmpdir(), 'kwf-secrets-'));

const secretYaml = (namespace: string, value: string, name = 'db'): string => `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
stringData: { password: ${value} }
`;

/**
 * Where the canary shows in `events` (numbered from `first`): in payload bytes, plainly or inside base64 text, or
 * in any other field (failure messages, details).
 */
function leaks(events: HistoryEvent[], canary: string, first = 1): string[] {
  const needles = canaryNeedles(canary);
  const found: string[] = [];
  events.forEach((event, i) => {
    const where = `event ${first + i}`;
    if (historyPayloads(event).some((data) => needles.some((n) => Buffer.from(data).includes(n))))
      found.push(`${where}: payload`);
    if (textFields(event).some((t) => needles.some((n) => t.includes(n)))) found.push(`${where}: field`);
  });
  return found;
}

/** Every string anywhere in `node` (failure messages, details…); payload bytes are checked separately. */
function textFields(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') out.push(node);
  else if (node && typeof node === 'object' && !(node instanceof Uint8Array))
    for (const v of Object.values(node)) textFields(v, out);
  return out;
}

async function resultError(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('a Secret without encryption (default configuration)', () => {
  it('is refused by the client before anything starts, with a message saying how to enable encryption', async () => {
    const canary = newCanary();
    const error = await resultError(h.client.deploy({ manifests: secretYaml(h.namespace, canary), app: 'vault' }));
    expect(error).toBeInstanceOf(InvalidInputError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^refusing to deploy Secret/${h.namespace}/db without encryption`));
    expect(message).toContain('KUBE_WORKFLOWS_ENCRYPTION_KEYS=<id>:<base64 of 32 bytes>');
    expect(message).toContain('KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS=true');
    expect(message).not.toContain(canary);
    const notStarted = await resultError(
      h.client.temporal.workflow.getHandle(`deploy/local/${h.namespace}/vault`).describe(),
    );
    expect(notStarted).toBeInstanceOf(WorkflowNotFoundError);
  });

  it('is refused by the CLI with exit 2, before anything ran', async () => {
    const path = join(dir, 'secret.yaml');
    writeFileSync(path, secretYaml(h.namespace, newCanary()));
    const r = await runCli(['deploy', '-f', path, '--app', 'vault-cli'], h.taskQueue);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `rejected before anything ran: refusing to deploy Secret/${h.namespace}/db without encryption`,
    );
    expect(r.stderr).toContain('--allow-plaintext-secrets');
    expect(r.stdout).toBe('');
  });

  it('started around the client, fails in planDeploy (PolicyViolation); only the start input holds the value', async () => {
    const canary = newCanary();
    const handle = await h.client.temporal.workflow.start('deployManifests', {
      taskQueue: h.taskQueue,
      workflowId: `raw-secret-${h.namespace}`,
      args: [{ manifests: secretYaml(h.namespace, canary), app: 'vault-raw' }],
    });
    const error = await resultError(handle.result());
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(error)).toBe('PolicyViolation');
    expect(messageOf(error)).toMatch(/this worker has no payload encryption configured/);
    expect(messageOf(error)).toContain('KUBE_WORKFLOWS_ENCRYPTION_KEYS');
    // nothing written
    expect(await h.kube.get({ apiVersion: 'v1', kind: 'Secret', namespace: h.namespace, name: 'db' })).toBeUndefined();

    const events = (await handle.fetchHistory()).events ?? [];
    expect(events[0]?.workflowExecutionStartedEventAttributes).toBeTruthy();
    // The start event holds what its starter sent (accepted); nothing the workflow or worker wrote holds it.
    expect(leaks(events.slice(0, 1), canary)).toEqual(['event 1: payload']);
    expect(events.some((e) => e.activityTaskScheduledEventAttributes)).toBe(true);
    expect(events.some((e) => e.activityTaskFailedEventAttributes)).toBe(true);
    expect(leaks(events.slice(1), canary, 2)).toEqual([]);
  });

  it('does not snapshot the live Secret for rollback: its value is nowhere in the history', async () => {
    const live = newCanary();
    const next = newCanary();
    await h.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'live', namespace: h.namespace },
      data: { password: Buffer.from(live).toString('base64') },
    });
    const handle = await h.client.temporal.workflow.start('deployManifests', {
      taskQueue: h.taskQueue,
      workflowId: `raw-secret-update-${h.namespace}`,
      args: [{ manifests: secretYaml(h.namespace, next, 'live'), app: 'vault-live' }],
    });
    expect(failureTypeOf(await resultError(handle.result()))).toBe('PolicyViolation');
    const events = (await handle.fetchHistory()).events ?? [];
    expect(leaks(events, live)).toEqual([]);
    expect(leaks(events.slice(1), next, 2)).toEqual([]);
    const secret = await h.kube.get({ apiVersion: 'v1', kind: 'Secret', namespace: h.namespace, name: 'live' });
    expect((secret as unknown as { data: { password: string } }).data.password).toBe(
      Buffer.from(live).toString('base64'),
    );
  });
});

describe('the explicit opt-out', () => {
  it('deploys a Secret when both the worker and the client allow plaintext Secrets', async () => {
    const { createKubeWorkflowsClient } = await import('../../src/client/index.js');
    const stack = inject('stack');
    const client = await createKubeWorkflowsClient({
      address: stack.temporalAddress,
      namespace: stack.temporalNamespace,
      taskQueue: optedOut.taskQueue,
      encryption: false,
      allowPlaintextSecrets: true,
    });
    try {
      const handle = await client.deploy({ manifests: secretYaml(optedOut.namespace, newCanary()), app: 'plain' });
      expect((await handle.result()).outcome).toBe('succeeded');
      expect(
        await optedOut.kube.get({ apiVersion: 'v1', kind: 'Secret', namespace: optedOut.namespace, name: 'db' }),
      ).toBeDefined();
    } finally {
      await client.close();
    }
  });
});
