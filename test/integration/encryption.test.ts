/**
 * Payload encryption against the real local stack: worker and client share an AES-256-GCM key. A canary string
 * travels in a manifest (a ConfigMap standing in for a Secret) and in failure messages; the Temporal server's copy of
 * each history — read raw with the `temporal` CLI and over gRPC — must not contain it in any form, while the cluster
 * object (written by the worker after decrypting) and the codec server's answers do.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { failureTypeOf } from '../../src/cli/exit-codes.js';
import { AesGcmPayloadCodec, startCodecServer, type CodecServer } from '../../src/codec/index.js';
import { resolveToolchain } from '../../src/dev/index.js';
import { INLINE_OBJECTS_LIMIT } from '../../src/workflows/deploy.js';
import { canaryNeedles, newCanary } from '../support/canary.js';
import { startReceiver } from '../support/http-receiver.js';
import { useHarness } from './harness.js';

const execFileP = promisify(execFile);
const { temporal } = proto;

const encryption = { keys: [{ id: 'it-key-1', key: randomBytes(32).toString('base64') }], encryptWith: 'it-key-1' };
const h = useHarness('encrypt', { encryption });
const canary = newCanary();

const needles = canaryNeedles(canary);

/** Every place in `value` (JSON text or decoded proto object) where the canary shows, base64 strings decoded too. */
function leaks(value: unknown, path = '$'): string[] {
  if (typeof value === 'string') {
    const found = needles.some((n) => value.includes(n)) ? [path] : [];
    if (value.length >= 8 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
      found.push(...leaks(Buffer.from(value, 'base64'), `${path}(base64)`));
    }
    return found;
  }
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return needles.some((n) => bytes.includes(n)) ? [path] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => leaks(v, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(needles.some((n) => k.includes(n)) ? [`${path}.${k}(key)`] : []),
      ...leaks(v, `${path}.${k}`),
    ]);
  }
  return [];
}

/** The history as the `temporal` CLI prints it (proto JSON), without any codec. */
async function historyFromCli(workflowId: string, extra: string[] = []): Promise<string> {
  const stack = inject('stack');
  const { stdout } = await execFileP(
    resolveToolchain().temporal,
    [
      'workflow',
      'show',
      '-w',
      workflowId,
      '-o',
      'json',
      '--address',
      stack.temporalAddress,
      '--namespace',
      stack.temporalNamespace,
      '--disable-config-file',
      '--disable-config-env',
      ...extra,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** Every page of the history over gRPC: the decoded responses and their protobuf bytes. */
async function historyFromGrpc(
  workflowId: string,
): Promise<{ events: proto.temporal.api.history.v1.IHistoryEvent[]; bytes: Buffer }> {
  const service = h.client.temporal.workflowService;
  const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
  const pages: Uint8Array[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const res = await service.getWorkflowExecutionHistory({
      namespace: h.client.temporal.options.namespace,
      execution: { workflowId },
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    pages.push(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(res).finish());
    events.push(...(res.history?.events ?? []));
    nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
  } while (nextPageToken);
  return { events, bytes: Buffer.concat(pages) };
}

/** Asserts that neither the CLI's nor gRPC's copy of the history holds the canary in any form. */
async function expectNoCanaryInHistory(workflowId: string): Promise<proto.temporal.api.history.v1.IHistoryEvent[]> {
  const cliText = await historyFromCli(workflowId);
  expect(JSON.parse(cliText)).toBeTruthy();
  expect(leaks(cliText)).toEqual([]);
  expect(leaks(JSON.parse(cliText))).toEqual([]);
  const { events, bytes } = await historyFromGrpc(workflowId);
  expect(events.length).toBeGreaterThan(2);
  expect(leaks(bytes)).toEqual([]);
  expect(leaks(events)).toEqual([]);
  return events;
}

function toProtocol(payloads: Payload[]): { payloads: { metadata: Record<string, string>; data: string }[] } {
  const b64 = (bytes: Uint8Array | null | undefined): string =>
    Buffer.from(bytes ?? new Uint8Array()).toString('base64');
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
      data: b64(p.data),
    })),
  };
}

let codecServer: CodecServer;
beforeAll(async () => {
  codecServer = await startCodecServer({
    port: 0,
    codec: new AesGcmPayloadCodec(encryption),
    allowedOrigins: [inject('stack').temporalUiUrl],
  });
});
afterAll(async () => {
  await codecServer?.close();
});

/** POSTs payloads to the codec server's /decode and returns the decoded data as text. */
async function decodeWithCodecServer(payloads: Payload[]): Promise<string[]> {
  const res = await fetch(`${codecServer.url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': inject('stack').temporalNamespace },
    body: JSON.stringify(toProtocol(payloads)),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { payloads: { data: string }[] };
  return body.payloads.map((p) => Buffer.from(p.data, 'base64').toString('utf8'));
}

function encodingOf(payload: Payload | null | undefined): string {
  return new TextDecoder().decode(payload?.metadata?.encoding ?? new Uint8Array());
}

/** The messages along an error's cause chain. */
function failureMessages(err: unknown): string[] {
  const messages: string[] = [];
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) messages.push((e as Error).message);
  return messages;
}

describe('payload encryption', () => {
  let deployId = '';

  it('deploys a ConfigMap holding a secret value: the cluster has it, the server only ever saw ciphertext', async () => {
    const manifests = `
apiVersion: v1
kind: ConfigMap
metadata: { name: app-secrets, namespace: ${h.namespace} }
data: { DATABASE_PASSWORD: ${canary} }
`;
    const handle = await h.client.deploy({ manifests, app: 'vault', timeoutSeconds: 60 });
    deployId = handle.workflowId;
    const report = await handle.result();
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.map((o) => [o.subject, o.action, o.status])).toEqual([
      [`ConfigMap/${h.namespace}/app-secrets`, 'created', 'Current'],
    ]);
    // the worker decrypted the input and wrote the real value
    const cm = await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'app-secrets' });
    expect((cm as unknown as { data: Record<string, string> }).data.DATABASE_PASSWORD).toBe(canary);

    const events = await expectNoCanaryInHistory(handle.workflowId);
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(input.map(encodingOf)).toEqual(['binary/encrypted']);
    const completed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
    expect(completed?.workflowExecutionCompletedEventAttributes?.result?.payloads?.map(encodingOf)).toEqual([
      'binary/encrypted',
    ]);
  });

  it('lets the codec server decode what the server stores back to the plaintext', async () => {
    const { events } = await historyFromGrpc(deployId);
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const [decoded] = await decodeWithCodecServer(input);
    expect(decoded).toContain(canary);
    expect(JSON.parse(decoded ?? '')).toMatchObject({ app: 'vault' });
  });

  it('serves the temporal CLI: `workflow show --codec-endpoint` prints the decrypted input', async () => {
    const decrypted = JSON.parse(await historyFromCli(deployId, ['--codec-endpoint', codecServer.url])) as {
      events: {
        workflowExecutionStartedEventAttributes?: {
          input: { payloads: { metadata: { encoding: string }; data: string }[] };
        };
      }[];
    };
    const [input] = decrypted.events[0]?.workflowExecutionStartedEventAttributes?.input.payloads ?? [];
    expect(Buffer.from(input?.metadata.encoding ?? '', 'base64').toString()).toBe('json/plain');
    expect(Buffer.from(input?.data ?? '', 'base64').toString()).toContain(canary);
  });

  it('deploys manifests above the inline limit: activities read the encrypted start input and decrypt it', async () => {
    // Above INLINE_OBJECTS_LIMIT the workflow passes activities a reference to its start input, which the worker
    // reads from history through its own client: that client must decrypt too.
    const filler = 'x'.repeat(2_000);
    const docs = Array.from(
      { length: 70 },
      (_, i) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bulk-${i}, namespace: ${h.namespace} }\ndata: { blob: "${filler}", token: ${canary}-${i} }\n`,
    );
    const manifests = docs.join('---\n');
    expect(manifests.length).toBeGreaterThan(INLINE_OBJECTS_LIMIT);
    const handle = await h.client.deploy({ manifests, app: 'bulk', timeoutSeconds: 90 });
    const report = await handle.result();
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.filter((o) => o.action === 'created')).toHaveLength(70);
    const cm = await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'bulk-69' });
    expect((cm as unknown as { data: Record<string, string> }).data.token).toBe(`${canary}-69`);
    const events = await expectNoCanaryInHistory(handle.workflowId);
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
    const [activityInput] = await decodeWithCodecServer(scheduled?.input?.payloads ?? []);
    expect(JSON.parse(activityInput ?? '{}')).toMatchObject({
      source: { workflowInput: { workflowId: handle.workflowId } },
    });
  });

  it('stores the message of a failure raised in an activity (policy violation) only encrypted', async () => {
    const manifests = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: reader-${canary} }
rules: [{ apiGroups: [''], resources: [configmaps], verbs: [get] }]
`;
    const handle = await h.client.deploy({ manifests, app: 'rbac', namespace: h.namespace, timeoutSeconds: 60 });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    // the client decrypts the failure: a person still reads which object the policy forbids
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(error)).toBe('PolicyViolation');
    expect(failureMessages(error).join('\n')).toContain(`ClusterRole/reader-${canary}`);

    const events = await expectNoCanaryInHistory(handle.workflowId);
    const activityFailure = events.find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes
      ?.failure;
    expect(activityFailure?.message).toBe('Encoded failure');
    expect(activityFailure?.stackTrace ?? '').toBe('');
    expect(encodingOf(activityFailure?.encodedAttributes)).toBe('binary/encrypted');
    expect(activityFailure?.applicationFailureInfo?.type).toBe('PolicyViolation');

    const [attributes] = await decodeWithCodecServer(
      activityFailure?.encodedAttributes ? [activityFailure.encodedAttributes] : [],
    );
    expect(attributes).toContain(`ClusterRole/reader-${canary}`);
  });

  it('stores the message of a failure raised in workflow code (invalid input) only encrypted', async () => {
    // Duplicate objects: the client would refuse them before starting, so start the workflow directly.
    const manifests = [1, 2]
      .map(() => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: dup-${canary}, namespace: ${h.namespace} }\n`)
      .join('---\n');
    const handle = await h.client.temporal.workflow.start('deployManifests', {
      taskQueue: h.taskQueue,
      workflowId: `encryption-invalid-${randomBytes(3).toString('hex')}`,
      args: [{ manifests, app: 'dup' }],
    });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    expect(cause?.message).toContain(`ConfigMap/${h.namespace}/dup-${canary}`);

    const events = await expectNoCanaryInHistory(handle.workflowId);
    const failed = events.find((e) => e.workflowExecutionFailedEventAttributes)?.workflowExecutionFailedEventAttributes
      ?.failure;
    expect(failed?.message).toBe('Encoded failure');
    expect(encodingOf(failed?.encodedAttributes)).toBe('binary/encrypted');
    expect(failed?.applicationFailureInfo?.type).toBe('InvalidInput');
  });

  it('runs a monitor: the observation signals its workflow through the codec, and the history holds only ciphertext', async () => {
    const site = await startReceiver(() => ({ status: 503 }));
    try {
      // the canary is a token in the probed URL: part of the monitor's input and of every observation restart
      const m = await h.client.monitor({
        name: `enc-${h.namespace}`,
        targets: [{ type: 'http', id: 'site', url: `${site.url}/healthz?token=${canary}` }],
        channels: [],
        forSeconds: 60,
        probeIntervalSeconds: 1,
      });
      // the state only reaches the workflow as an `observations` signal, which the workflow must decrypt
      await expect
        .poll(async () => (await m.status()).targets.find((t) => t.key === 'http:site')?.message, { timeout: 60_000 })
        .toBe('HTTP 503, expected 200');
      await m.stop();
      await m.raw.result().catch(() => undefined);
      const events = await expectNoCanaryInHistory(m.workflowId);
      const signals = events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'observations');
      expect(signals.length).toBeGreaterThanOrEqual(1);
      for (const e of signals)
        expect(e.workflowExecutionSignaledEventAttributes?.input?.payloads?.map(encodingOf)).toEqual([
          'binary/encrypted',
        ]);
    } finally {
      await site.close();
    }
  });
});
